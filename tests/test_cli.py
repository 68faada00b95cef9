"""The asyncvm command: run/check/dump, compared with IREE's tools where they exist."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

from asyncvm.tools import main


def iree_tool(name: str) -> str | None:
    candidate = pathlib.Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def run_cli(capsys, *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def program(compile_mlir) -> pathlib.Path:
    return compile_mlir("fuzz_target.mlir")


@pytest.mark.parametrize("function, inputs", [
    ("mix", ["10", "2.0"]),
    ("mix", ["0", "-1.5"]),
    ("listy", ["25"]),
    ("tick", ["-3"]),
])
def test_run_output_matches_iree_run_module(capsys, program, function, inputs):
    tool = iree_tool("iree-run-module")
    if tool is None:
        pytest.skip("iree-run-module is not installed")
    flags = [f"--module={program}", f"--function={function}"] + [f"--input={i}" for i in inputs]
    code, out, err = run_cli(capsys, "run", *flags)
    assert code == 0, err
    expected = subprocess.run([tool, *flags], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == expected.splitlines()


def test_run_accepts_typed_scalars(capsys, program):
    code, out, err = run_cli(capsys, "run", f"--module={program}", "--function=mix",
                             "--input=i32=3", "--input=f32=-1.5")
    assert code == 0, err
    assert out.splitlines() == ["EXEC @mix", "result[0]: i32=9", "result[1]: f32=-6.75",
                                "result[2]: i64=81"]


def test_run_reports_unknown_function(capsys, program):
    code, out, err = run_cli(capsys, "run", f"--module={program}", "--function=nope")
    assert code == 1
    assert "NOT_FOUND" in err and "nope" in err


def test_run_reports_bad_input(capsys, program):
    code, out, err = run_cli(capsys, "run", f"--module={program}", "--function=listy",
                             "--input=twelve")
    assert code == 1
    assert "INVALID_ARGUMENT" in err and "twelve" in err


def test_run_reports_wrong_input_count(capsys, program):
    code, out, err = run_cli(capsys, "run", f"--module={program}", "--function=mix",
                             "--input=1")
    assert code == 1
    assert "takes 2 input(s)" in err


def test_run_reports_malformed_module(capsys, tmp_path):
    broken = tmp_path / "broken.vmfb"
    broken.write_bytes(b"PK\x03\x04" + b"\xff" * 40)
    code, out, err = run_cli(capsys, "run", f"--module={broken}", "--function=f")
    assert code == 1
    assert "INVALID_ARGUMENT" in err


def test_check_counts_passes_and_failures(capsys, compile_mlir):
    tests = compile_mlir("cli_checks.mlir", mode="vm")
    code, out, err = run_cli(capsys, "check", f"--module={tests}")
    lines = out.splitlines()
    assert lines[-1] == "3 passed, 1 failed"
    assert code == 1
    assert any("[       OK ] passes" in line for line in lines)
    assert any("[       OK ] fail_expected" in line for line in lines)
    assert any("[  FAILED  ] fails" in line and "FAILED_PRECONDITION" in line for line in lines)


def test_dump_lists_metadata_and_disassembly(capsys, compile_mlir):
    tests = compile_mlir("cli_checks.mlir", mode="vm")
    code, out, err = run_cli(capsys, "dump", str(tests))
    assert code == 0
    assert "// module @cli_checks" in out
    assert "Exported functions:" in out
    assert "vm.func @fails" in out
    assert "vm.fail" in out and "'boom'" in out


def test_console_script_entry_point(program):
    completed = subprocess.run([sys.executable, "-m", "asyncvm", "run", f"--module={program}",
                                "--function=listy", "--input=4"],
                               capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["EXEC @listy", "result[0]: i32=6"]
