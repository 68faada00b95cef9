"""``--module`` takes .so (tvm-ffi) and .py files beside .vmfb files, in
order, in run, benchmark, check and dump."""

from __future__ import annotations

import pytest

from _command_line import run_cli
from _native_library import HOST_FILE, build_library

CHECKS = """
func.func private @native.add(i64, i64) -> i64
func.func @adds_up() {
  %a = arith.constant 40 : i64
  %b = arith.constant 2 : i64
  %sum = call @native.add(%a, %b) : (i64, i64) -> i64
  %tensor = tensor.from_elements %sum : tensor<1xi64>
  check.expect_eq_const(%tensor, dense<42> : tensor<1xi64>) : tensor<1xi64>
  return
}
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return str(build_library(tmp_path_factory.mktemp("native")))


@pytest.fixture(scope="module")
def host_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("host") / "host.py"
    path.write_text(HOST_FILE)
    return str(path)


@pytest.fixture(scope="module")
def program(compile_mlir):
    return str(compile_mlir("native_imports.mlir"))


@pytest.mark.parametrize("source", ["library", "host_file"])
def test_run_with_a_module_file(capsys, request, program, source):
    module = request.getfixturevalue(source)
    code, out, err = run_cli(capsys, "run", f"--module={module}", f"--module={program}",
                             "--function=scale_plus", "--input=4xf32=1,2,3,4", "--input=f32=2")
    assert code == 0, err
    assert out.splitlines()[-1] == "4xf32=3 6 9 12"
    code, out, err = run_cli(capsys, "run", f"--module={module}", f"--module={program}",
                             "--function=add_times_three", "--input=5", "--input=6")
    assert code == 0, err
    assert out.splitlines()[-1] == "result[0]: i64=33"


def test_run_names_a_library(capsys, program, library):
    code, out, err = run_cli(capsys, "run", f"--module=native={library}", f"--module={program}",
                             "--function=half", "--input=f32=5")
    assert code == 0, err
    assert out.splitlines()[-1] == "result[0]: f32=2.5"


def test_run_reports_a_library_error_with_the_backtrace(capsys, program, library):
    code, out, err = run_cli(capsys, "run", f"--module={library}", f"--module={program}",
                             "--function=fail", "--input=3")
    assert code == 1
    assert "INVALID_ARGUMENT" in err and "the library refuses 3" in err and "fail" in err


def test_run_without_the_module_is_not_found(capsys, program):
    code, out, err = run_cli(capsys, "run", f"--module={program}", "--function=half",
                             "--input=f32=5")
    assert code == 1 and "NOT_FOUND" in err and "native" in err


def test_benchmark_with_a_library(capsys, program, library):
    code, out, err = run_cli(capsys, "benchmark", f"--module={library}", f"--module={program}",
                             "--function=add_times_three", "--input=1", "--input=2",
                             "--concurrency=4", "--duration=0.2")
    assert code == 0, err
    assert "throughput:" in out.splitlines()[-1]


def test_check_with_a_python_file(capsys, tmp_path, compile_mlir, host_file):
    source = tmp_path / "native_checks.mlir"
    source.write_text(CHECKS)
    tests = compile_mlir(source)
    code, out, err = run_cli(capsys, "check", f"--module={host_file}", f"--module={tests}")
    assert code == 0, out + err
    assert "[       OK ] adds_up" in out and "1 passed, 0 failed" in out


def test_dump_lists_a_library_and_a_python_file(capsys, library, host_file):
    code, out, err = run_cli(capsys, "dump", library)
    assert code == 0, err
    assert "// module @native" in out
    assert "scale  0rF_r  (DLTensor*, float) -> (ffi.Tensor)" in out
    assert "split  0I_IF  (int) -> (int, float)" in out
    code, out, err = run_cli(capsys, "dump", host_file)
    assert code == 0, err
    assert "(PythonModule)" in out and "add  0II_I" in out and "doc: adds" in out


def test_dump_of_a_file_that_is_no_library(capsys, tmp_path):
    fake = tmp_path / "fake.so"
    fake.write_text("nothing")
    code, out, err = run_cli(capsys, "dump", str(fake))
    assert code == 1 and "INVALID_ARGUMENT" in err
