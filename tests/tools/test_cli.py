"""The asyncvm command: run/check/dump, compared with IREE's tools where they exist."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from _command_line import iree_tool, run_cli



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


@pytest.mark.parametrize("function, inputs", [
    ("scale_rows", ["3x4xf32=[1 2 3 4][5 6 7 8][9 10 11 12]", "4xf32=1,0.5,-2,1e10"]),
    ("transpose", ["2x3xi32=1 2 3 4 5 6"]),
    ("concat", ["2xi64=1 -2", "3xi64=9223372036854775807,0,4"]),
    ("small_ints", ["4xi8=1 -2 100 -128", "4xi16=3"]),
    ("dynamic", ["5xf32=inf -inf 0.1 -0 3", "5xf32=1"]),
    ("with_constant", ["4xi32"]),
    ("branchy", ["4xf32=1 2 3 4", "0"]),
])
@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_run_tensors_matches_iree_run_module(capsys, compile_mlir, function, inputs, device):
    tool = iree_tool("iree-run-module")
    if tool is None:
        pytest.skip("iree-run-module is not installed")
    program = compile_mlir("tensor_basic.mlir")
    flags = [f"--module={program}", f"--function={function}"] + [f"--input={i}" for i in inputs]
    code, out, err = run_cli(capsys, "run", *flags, f"--device={device}")
    assert code == 0, err
    expected = subprocess.run([tool, *flags, f"--device={device}"], capture_output=True,
                              text=True, check=True).stdout
    assert out.splitlines() == expected.splitlines()


def test_run_reads_npy_inputs_and_elides_long_outputs(capsys, compile_mlir, tmp_path):
    import numpy
    program = compile_mlir("tensor_basic.mlir")
    numpy.save(tmp_path / "a.npy", numpy.arange(3000, dtype=numpy.float32))
    numpy.save(tmp_path / "b.npy", numpy.ones(3000, dtype=numpy.float32))
    code, out, err = run_cli(capsys, "run", f"--module={program}", "--function=dynamic",
                             f"--input=@{tmp_path / 'a.npy'}", f"--input=@{tmp_path / 'b.npy'}")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == "result[0]: hal.buffer_view"
    values = lines[2].split("=", 1)[1].split(" ")
    assert lines[2].startswith("3000xf32=-1 0 1 2") and len(values) == 1024
    assert values[-1] == "1022..."


def test_run_reports_wrong_tensor_shape(capsys, compile_mlir):
    program = compile_mlir("tensor_basic.mlir")
    code, out, err = run_cli(capsys, "run", f"--module={program}", "--function=add",
                             "--input=5xf32=1", "--input=4xf32=1")
    assert code == 1
    assert "INVALID_ARGUMENT" in err and "input0" in err


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_benchmark_reports_percentiles_and_throughput(capsys, compile_mlir, device):
    program = compile_mlir("tensor_basic.mlir")
    code, out, err = run_cli(capsys, "benchmark", f"--module={program}", "--function=add",
                             "--input=4xf32=1", "--input=4xf32=2", "--duration=0.3",
                             "--concurrency=4", f"--device={device}")
    assert code == 0, err
    lines = out.splitlines()
    assert any(line.startswith("latency p50: ") for line in lines)
    assert any(line.startswith("latency p99: ") for line in lines)
    calls = int(next(line for line in lines if line.startswith("calls: ")).split()[1])
    assert calls > 4
    assert lines[-1].startswith("throughput: ") and lines[-1].endswith(" calls/s")
    assert float(lines[-1].split()[1]) > 0


def test_benchmark_rejects_bad_concurrency(capsys, compile_mlir):
    program = compile_mlir("tensor_basic.mlir")
    code, out, err = run_cli(capsys, "benchmark", f"--module={program}", "--function=add",
                             "--input=4xf32=1", "--input=4xf32=2", "--concurrency=0")
    assert code == 1 and "concurrency" in err


@pytest.mark.parametrize("command", ["run", "benchmark"])
def test_trace_shows_invocations_suspensions_queue_work_and_kernels(capsys, compile_mlir,
                                                                    tmp_path, command):
    import json
    # A 32x32 matmul in a VMVX kernel keeps a local-task worker busy for tens
    # of milliseconds of interpreted kernel, so the invocation always reaches
    # hal.fence.await before the work is done. (A 4-element add can finish
    # first: queue operations with nothing to do signal inline, so only the
    # dispatch itself goes to a worker.)
    program = compile_mlir("tensor_basic.mlir")
    trace = tmp_path / "trace.json"
    extra = ["--duration=0.2", "--concurrency=2"] if command == "benchmark" else []
    code, out, err = run_cli(capsys, command, f"--module={program}", "--function=dynamic_matmul",
                             "--input=32x32xf32=1", "--input=32x32xf32=2", "--device=local-task",
                             f"--trace={trace}", *extra)
    assert code == 0, err
    events = json.loads(trace.read_text())["traceEvents"]
    by_category = {}
    for event in events:
        by_category.setdefault(event["cat"], []).append(event)
    invocations = by_category["invocation"]
    assert {e["name"] for e in invocations} == {"module.dynamic_matmul"}
    assert sorted({e["ph"] for e in invocations}) == ["b", "e"]
    # On local-task the invocation waits for the worker: a real suspension.
    assert any(e["args"].get("reason") == "await import" for e in by_category["suspension"])
    assert any(e["name"] == "queue.work" for e in by_category["queue"])
    assert any(e["name"].startswith("dynamic_matmul_dispatch_0") for e in by_category["dispatch"])
    assert all(e["ts"] >= 0 for e in events)
