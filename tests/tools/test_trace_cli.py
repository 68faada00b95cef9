"""``--trace_execution[=FILE]`` and ``--print_statistics`` on ``asyncvm run`` and
``asyncvm check`` (run as ``python -m asyncvm``, in a subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.bytecode._disassembler import disassemble_function

_TRACE_LINE = re.compile(r"\[(\d+)\] (\S+)@(\d+)  (.*?)(?:  ; (.*))?")


def asyncvm_command(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asyncvm", *arguments],
                          capture_output=True, text=True, timeout=300)


def instructions(path, function: str) -> list[tuple[str, int, str]]:
    """(``module.function``, pc, text) of each instruction of ``function``,
    from its disassembly, in order."""
    module = BytecodeModule.load(path)
    listing = disassemble_function(module, module.function_names.index(function))
    found = []
    for line in listing[1:]:
        match = re.fullmatch(r"  (\d{6})  (.*?)(?:  // .*)?", line)
        if match:
            found.append((f"{module.name}.{function}", int(match[1]), match[2]))
    return found


def trace_lines(text: str) -> list[tuple[str, int, str]]:
    lines = []
    for line in text.splitlines():
        match = _TRACE_LINE.fullmatch(line)
        if match:
            lines.append((match[2], int(match[3]), match[4]))
    return lines


def statistic(text: str, label: str) -> int:
    match = re.search(rf"^\s*{re.escape(label)}\s+(\d+)$", text, re.MULTILINE)
    assert match, f"no {label!r} in:\n{text}"
    return int(match[1])


@pytest.fixture(scope="module")
def trace_program(compile_mlir):
    return compile_mlir("trace_program.mlir", mode="vm")


def test_run_traces_to_stderr(trace_program):
    plain = asyncvm_command("run", f"--module={trace_program}", "--function=straight",
                            "--input=5", "--input=7")
    traced = asyncvm_command("run", f"--module={trace_program}", "--function=straight",
                             "--input=5", "--input=7", "--trace_execution")
    assert plain.returncode == traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout == "EXEC @straight\nresult[0]: i32=33\n"
    assert plain.stderr == ""
    assert trace_lines(traced.stderr) == instructions(trace_program, "straight")
    assert traced.stderr.splitlines()[1] == (
        "[1] trace_program.straight@8  %i1 = vm.add.i32 %i0 %i1  ; %i0=5 %i1=7")


def test_run_traces_to_a_file(trace_program, tmp_path):
    path = tmp_path / "trace.txt"
    result = asyncvm_command("run", f"--module={trace_program}", "--function=square_twice",
                             "--input=3", f"--trace_execution={path}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "EXEC @square_twice\nresult[0]: i32=101\n"
    assert result.stderr == ""
    caller = instructions(trace_program, "square_twice")
    callee = instructions(trace_program, "__function_2")
    assert trace_lines(path.read_text()) == \
        [caller[0]] + callee + [caller[1]] + callee + [caller[2]]


def test_run_trace_of_a_failure_ends_at_the_failure(trace_program):
    result = asyncvm_command("run", f"--module={trace_program}", "--function=check_positive",
                             "--input=-1", "--trace_execution")
    assert result.returncode == 1
    traced = trace_lines(result.stderr)
    assert traced[-1][2].startswith("vm.fail")
    assert "error: FAILED_PRECONDITION: x must be non-negative" in result.stderr
    # The trace comes first, then the error.
    assert result.stderr.index("vm.fail") < result.stderr.index("error:")


def test_run_trace_file_that_cannot_be_opened(trace_program, tmp_path):
    result = asyncvm_command("run", f"--module={trace_program}", "--function=straight",
                             "--input=1", "--input=2",
                             f"--trace_execution={tmp_path / 'missing' / 'trace.txt'}")
    assert result.returncode == 1
    assert "error: NOT_FOUND" in result.stderr


@pytest.mark.parametrize("iterations", [0, 10])
def test_run_prints_statistics(trace_program, iterations):
    result = asyncvm_command("run", f"--module={trace_program}", "--function=sum_to",
                             f"--input={iterations}", "--print_statistics")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"EXEC @sum_to\nresult[0]: i32={sum(range(iterations))}\n"
    # entry 3, header 2 (once more than the body), body 3, exit 1
    assert statistic(result.stderr, "instructions executed") == 3 + 2 * (iterations + 1) \
        + 3 * iterations + 1
    assert statistic(result.stderr, "import calls executed") == 0
    assert "[[ device allocations ]]" in result.stderr


def test_run_statistics_of_a_tensor_program(compile_mlir):
    program = compile_mlir("tensor_basic.mlir")
    result = asyncvm_command("run", f"--module={program}", "--function=add",
                             "--input=4xf32=1,2,3,4", "--input=4xf32=1,1,1,1",
                             "--print_statistics", "--trace_execution")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "4xf32=2 3 4 5"
    traced = trace_lines(result.stderr)
    assert statistic(result.stderr, "instructions executed") == len(traced)
    creates = sum(1 for _, _, text in traced if "@hal.buffer_view.create " in text)
    assert creates >= 1
    assert statistic(result.stderr, "hal.buffer_view.create") == creates
    assert statistic(result.stderr, "import calls executed") >= creates
    allocations = re.search(r"^\s*local-sync\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+-$", result.stderr,
                            re.MULTILINE)
    assert allocations, result.stderr
    count, allocated, peak, live = map(int, allocations.groups())
    assert count >= 1 and peak >= 16 and allocated >= peak >= live
    # The statistics come after the trace.
    assert result.stderr.index("[[ execution statistics ]]") > result.stderr.rindex("] module.")


def test_check_statistics_and_trace_cover_every_test(compile_mlir, tmp_path):
    tests = compile_mlir("cli_checks.mlir", mode="vm")
    path = tmp_path / "trace.txt"
    result = asyncvm_command("check", f"--module={tests}", "--print_statistics",
                             f"--trace_execution={path}")
    assert result.returncode == 1  # one test fails, as the program means
    assert "3 passed, 1 failed" in result.stdout
    names = ["passes", "also_passes", "fails", "fail_expected"]
    expected = [line for name in names for line in instructions(tests, name)]
    assert trace_lines(path.read_text()) == expected
    assert statistic(result.stderr, "instructions executed") == len(expected)
    assert statistic(result.stderr, "import calls executed") == 0


def test_check_without_flags_prints_no_statistics(compile_mlir):
    tests = compile_mlir("cli_checks.mlir", mode="vm")
    result = asyncvm_command("check", f"--module={tests}")
    assert "3 passed, 1 failed" in result.stdout
    assert "statistics" not in result.stderr and "] cli_checks." not in result.stderr


def test_the_flags_can_be_added_twice():
    """``benchmark`` takes ``run``'s flags, these included, and may add them
    again with :func:`add_execution_arguments`."""
    import argparse

    from asyncvm.tools._execution_flags import add_execution_arguments

    parser = argparse.ArgumentParser()
    add_execution_arguments(parser)
    add_execution_arguments(parser)
    assert vars(parser.parse_args([])) == {"trace_execution": None, "print_statistics": False}
    assert vars(parser.parse_args(["--trace_execution", "--print_statistics"])) == \
        {"trace_execution": "-", "print_statistics": True}
    assert parser.parse_args(["--trace_execution=out.txt"]).trace_execution == "out.txt"


def test_benchmark_statistics_and_trace(trace_program, tmp_path):
    """benchmark observes the warm-up and every timed call: the instruction
    count is a whole multiple of one call's, and the trace file has as many
    calls' worth of lines."""
    trace = tmp_path / "trace.txt"
    completed = asyncvm_command("benchmark", f"--module={trace_program}", "--function=straight",
                                "--input=5", "--input=7", "--duration=0.2",
                                f"--trace_execution={trace}", "--print_statistics")
    assert completed.returncode == 0, completed.stderr
    calls = int(re.search(r"calls: (\d+)", completed.stdout).group(1)) + 1  # with the warm-up
    per_call = len(instructions(trace_program, "straight"))
    assert statistic(completed.stderr, "instructions executed") == calls * per_call
    assert len(trace.read_text().splitlines()) == calls * per_call
