"""Execution traces and counts (``asyncvm.vm.trace_execution`` / ``count_execution``).

The trace of a call must be its function's disassembly (as ``asyncvm dump``
prints it) along the path the call takes, with the operand values each
instruction reads; counts must be exact. Observation must leave the normal
translation, and the answers, exactly as they are.

Programs: tests/programs/trace_program.mlir (VM dialect: straight-line
code, a counted loop, calls, a yielding loop, a failure) and, for imports,
tests/programs/tensor_basic.mlir and control.mlir.
"""

from __future__ import annotations

import io
import re

import anyio
import anyio.lowlevel
import pytest

import asyncvm
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.bytecode._disassembler import disassemble_function
from asyncvm.vm import (ExecutionCounts, ExecutionTrace, StatusCode, VMError, count_execution,
                        describe_value, observe_execution, trace_execution)

pytestmark = pytest.mark.anyio

_LINE = re.compile(r"\[(\d+)\] (\S+)@(\d+)  (.*?)(?:  ; (.*))?")
_OPERAND = re.compile(r"(%[ir]\d+)=(.*?)(?= %[ir]\d+=|$)")
_IMPORT_CALL = re.compile(r"vm\.call[\w.]* @(hal\.[\w.]+)")


@pytest.fixture(scope="module")
def trace_program(compile_mlir):
    return compile_mlir("trace_program.mlir", mode="vm")


@pytest.fixture(scope="module")
def tensor_program(compile_mlir):
    return compile_mlir("tensor_basic.mlir")


# -- helpers --------------------------------------------------------------------------------

def listing(module: BytecodeModule, function: str) -> list[list[tuple[str, int, str]]]:
    """The blocks of ``function`` as ``asyncvm dump`` lists them: per block,
    (``module.function``, pc, text) of each instruction (locations left out)."""
    ordinal = module.function_names.index(function)
    blocks: list[list[tuple[str, int, str]]] = []
    for line in disassemble_function(module, ordinal)[1:]:
        if line.startswith("^bb"):
            blocks.append([])
            continue
        match = re.fullmatch(r"  (\d{6})  (.*?)(?:  // .*)?", line)
        assert match, line
        blocks[-1].append((f"{module.name}.{function}", int(match[1]), match[2]))
    return blocks


class Line:
    def __init__(self, text: str) -> None:
        match = _LINE.fullmatch(text)
        assert match, f"not a trace line: {text!r}"
        self.invocation = int(match[1])
        self.function = match[2]
        self.pc = int(match[3])
        self.text = match[4]
        self.operands = dict(_OPERAND.findall(match[5] or ""))

    @property
    def instruction(self) -> tuple[str, int, str]:
        return self.function, self.pc, self.text


def parse(output: str) -> list[Line]:
    return [Line(text) for text in output.splitlines()]


def loop_path(blocks, iterations: int) -> list[tuple[str, int, str]]:
    """entry, (header, body) x iterations, header, exit."""
    assert len(blocks) == 4, "expected entry, header, body and exit blocks"
    entry, header, body, exit_ = blocks
    return entry + (header + body) * iterations + header + exit_


# -- traces ---------------------------------------------------------------------------------

async def test_straight_line_trace_is_the_disassembly_in_order(trace_program):
    program = asyncvm.load(trace_program)
    stream = io.StringIO()
    with trace_execution(program, stream) as trace:
        assert await program.invoke("straight", 5, 7) == (((5 + 7) * 3) ^ 5,)
    lines = parse(stream.getvalue())
    (block,) = listing(program.main, "straight")
    assert [line.instruction for line in lines] == block
    assert {line.invocation for line in lines} == {1}
    assert trace.lines == len(lines)
    # The operands' values before each instruction runs.
    assert lines[0].operands == {}
    assert lines[1].operands == {"%i0": "5", "%i1": "7"}
    assert lines[2].operands == {"%i1": "12", "%i2": "3"}
    assert lines[3].operands == {"%i2": "36", "%i0": "5"}
    assert lines[4].operands == {"%i0": str(36 ^ 5)}
    assert stream.getvalue().splitlines()[1] == (
        "[1] trace_program.straight@8  %i1 = vm.add.i32 %i0 %i1  ; %i0=5 %i1=7")


@pytest.mark.parametrize("iterations", [0, 1, 4])
async def test_loop_trace_repeats_the_body(trace_program, iterations):
    program = asyncvm.load(trace_program)
    stream = io.StringIO()
    with trace_execution(program, stream):
        assert await program.invoke("sum_to", iterations) == (sum(range(iterations)),)
    lines = parse(stream.getvalue())
    blocks = listing(program.main, "sum_to")
    assert [line.instruction for line in lines] == loop_path(blocks, iterations)
    compares = [line for line in lines if "vm.cmp.lt.i32.s" in line.text]
    assert [line.operands["%i1"] for line in compares] == [str(i) for i in range(iterations + 1)]
    assert {line.operands["%i0"] for line in compares} == {str(iterations)}


async def test_calls_trace_the_callee_between_the_calls(trace_program):
    program = asyncvm.load(trace_program)
    stream = io.StringIO()
    with trace_execution(program, stream):
        assert await program.invoke("square_twice", 3) == (101,)
    lines = parse(stream.getvalue())
    (caller,) = listing(program.main, "square_twice")
    (callee,) = listing(program.main, "__function_2")
    first_call, second_call, ret = caller
    assert "vm.call @__function_2" in first_call[2]
    assert [line.instruction for line in lines] == \
        [first_call] + callee + [second_call] + callee + [ret]
    assert lines[0].operands == {"%i0": "3"}
    assert lines[1 + len(callee)].operands == {"%i0": "10"}
    assert lines[-1].operands == {"%i0": "101"}
    assert {line.invocation for line in lines} == {1}


async def test_imports_and_refs_appear(tensor_program):
    numpy = pytest.importorskip("numpy")
    program = asyncvm.load(tensor_program)
    stream = io.StringIO()
    a = numpy.arange(4, dtype=numpy.float32)
    with trace_execution(program, stream):
        (result,) = await program.invoke("add", a, a)
    assert result.tolist() == (a + a).tolist()
    lines = parse(stream.getvalue())
    calls = [line for line in lines if _IMPORT_CALL.search(line.text)]
    assert calls, "no import calls traced"
    assert any(_IMPORT_CALL.search(line.text)[1] == "hal.buffer_view.create" for line in calls)
    values = [value for line in lines for value in line.operands.values()]
    assert "!hal.buffer_view<4xf32>" in values
    assert "null" in values
    # __init (and the functions it calls) runs on the first call, then add:
    # two invocations, one after the other.
    numbers = [line.invocation for line in lines]
    assert numbers == sorted(numbers) and set(numbers) == {1, 2}
    first = next(line for line in lines if line.invocation == 1)
    second = next(line for line in lines if line.invocation == 2)
    assert (first.function, second.function) == ("module.__init", "module.add")
    assert all(line.invocation == 2 for line in lines if line.function == "module.add")


async def test_nothing_is_traced_after_the_block(trace_program, capsys):
    program = asyncvm.load(trace_program)
    before = await program.invoke("sum_to", 10)
    with trace_execution(program):  # to sys.stderr
        during = await program.invoke("sum_to", 10)
    traced = capsys.readouterr().err
    assert len(parse(traced)) == len(loop_path(listing(program.main, "sum_to"), 10))
    after = await program.invoke("sum_to", 10)
    assert before == during == after == (45,)
    assert capsys.readouterr().err == ""


async def test_frames_still_running_after_the_block_report_nothing(trace_program):
    program = asyncvm.load(trace_program)
    stream = io.StringIO()
    results = []

    async def call() -> None:
        results.append(await program.invoke("yield_sum", 50))

    async with anyio.create_task_group() as group:
        with trace_execution(program, stream) as trace:
            group.start_soon(call)
            while trace.lines < 20:
                await anyio.lowlevel.checkpoint()
        written = stream.getvalue()
    assert results == [(sum(range(50)),)]
    assert stream.getvalue() == written
    assert 20 <= len(parse(written)) < len(loop_path(listing(program.main, "yield_sum"), 50))


async def test_concurrent_invocations_are_told_apart(trace_program):
    program = asyncvm.load(trace_program)
    stream = io.StringIO()
    results = {}

    async def call(iterations: int) -> None:
        results[iterations] = await program.invoke("yield_sum", iterations)

    with trace_execution(program, stream):
        async with anyio.create_task_group() as group:
            group.start_soon(call, 3)
            group.start_soon(call, 5)
    assert results == {3: (3,), 5: (10,)}
    lines = parse(stream.getvalue())
    by_invocation: dict[int, list[Line]] = {}
    for line in lines:
        by_invocation.setdefault(line.invocation, []).append(line)
    assert sorted(by_invocation) == [1, 2]
    blocks = listing(program.main, "yield_sum")
    seen = set()
    for own in by_invocation.values():
        iterations = int(next(line.operands["%i0"] for line in own if "%i0" in line.operands))
        seen.add(iterations)
        assert [line.instruction for line in own] == loop_path(blocks, iterations)
        returned = own[-1]
        assert returned.operands == {"%i3": str(sum(range(iterations)))}
    assert seen == {3, 5}
    # They really interleaved: the invocation changes from line to line more than once.
    switches = sum(1 for before, after in zip(lines, lines[1:])
                   if before.invocation != after.invocation)
    assert switches >= 4


async def test_a_failing_call_is_traced_up_to_the_failure(trace_program):
    program = asyncvm.load(trace_program)
    stream = io.StringIO()
    with trace_execution(program, stream):
        with pytest.raises(VMError) as info:
            await program.invoke("check_positive", -4)
    assert info.value.status == StatusCode.FAILED_PRECONDITION
    # The observed code names its frames like the normal code.
    assert str(info.value.backtrace[0]).startswith("trace_program.check_positive@")
    lines = parse(stream.getvalue())
    entry, good, bad = listing(program.main, "check_positive")
    assert [line.instruction for line in lines] == entry + bad
    assert lines[-1].text.startswith("vm.fail %i1 'x must be non-negative'")
    assert lines[-1].operands == {"%i1": "9"}
    assert info.value.backtrace[0].pc == lines[-1].pc
    # The context stays usable, traced or not.
    assert await program.invoke("check_positive", 4) == (8,)


async def test_trace_to_a_path(trace_program, tmp_path):
    program = asyncvm.load(trace_program)
    path = tmp_path / "trace.txt"
    with trace_execution(program, path):
        await program.invoke("straight", 1, 2)
    (block,) = listing(program.main, "straight")
    assert [line.instruction for line in parse(path.read_text())] == block


# -- counts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("iterations", [0, 1, 7, 1000])
async def test_instruction_counts_are_exact(trace_program, iterations):
    program = asyncvm.load(trace_program)
    entry, header, body, exit_ = listing(program.main, "sum_to")
    with count_execution(program) as counts:
        assert await program.invoke("sum_to", iterations) == (sum(range(iterations)) & 0xFFFFFFFF,)
    assert counts.instructions == (len(entry) + (iterations + 1) * len(header)
                                   + iterations * len(body) + len(exit_))
    assert counts.import_calls == {}
    # Nothing is counted after the block.
    await program.invoke("sum_to", iterations)
    assert counts.instructions == (len(entry) + (iterations + 1) * len(header)
                                   + iterations * len(body) + len(exit_))


async def test_calls_are_counted_with_their_callees(trace_program):
    program = asyncvm.load(trace_program)
    (caller,) = listing(program.main, "square_twice")
    (callee,) = listing(program.main, "__function_2")
    with count_execution(program) as counts:
        await program.invoke("square_twice", 2)
    assert counts.instructions == len(caller) + 2 * len(callee)


async def test_import_calls_are_counted_by_name(tensor_program):
    numpy = pytest.importorskip("numpy")
    program = asyncvm.load(tensor_program)
    a = numpy.ones(4, dtype=numpy.float32)
    counts = ExecutionCounts()
    stream = io.StringIO()
    with ExecutionTrace(stream) as trace, observe_execution(program, counts, trace):
        await program.invoke("add", a, a)
        await program.invoke("add", a, a)
    lines = parse(stream.getvalue())
    assert counts.instructions == len(lines) == trace.lines
    expected: dict[str, int] = {}
    for line in lines:
        match = _IMPORT_CALL.search(line.text)
        if match:
            expected[match[1]] = expected.get(match[1], 0) + 1
    assert counts.import_calls == expected
    assert counts.import_call_count == sum(expected.values())
    assert expected.get("hal.buffer_view.create") == 2  # one result per call
    assert expected.get("hal.devices.count") == 1       # __init, once


# -- the normal translation ---------------------------------------------------------------

async def test_the_normal_translation_is_untouched(trace_program):
    program = asyncvm.load(trace_program)
    module = program.main
    state = program.context.state_of(module.name)
    source = module.translated.source
    codes = [function.__code__ for function in state.functions]
    with trace_execution(program, io.StringIO()):
        assert [function.__code__ for function in state.functions] != codes
        await program.invoke("square_twice", 3)
    with count_execution(program):
        await program.invoke("sum_to", 3)
    assert [function.__code__ for function in state.functions] == codes
    assert all(function.__kwdefaults__ is None for function in state.functions)
    fresh = BytecodeModule.load(trace_program)
    assert module.translated.source == source == fresh.translated.source
    assert not re.search(r"\b_o\b", source)
    observed = module.observed_translations.translated("observed").source
    assert "_o(" in observed and "_o=None" in observed
    counted = module.observed_translations.translated("counted").source
    assert "_o[" in counted and "_o(" not in counted


@pytest.mark.parametrize("function, arguments", [
    ("fib", (30,)), ("fib64", (80,)), ("gcd", (1071, -462)), ("collatz", (27,)),
    ("sum_squares", (300,)), ("harmonic", (40,)), ("sign_abs", (-5,)), ("divmod", (-7, 2)),
    ("call_twice", (5,)), ("chain", (5,)), ("stats", (3, -4, 9)),
])
async def test_observation_gives_the_same_answers(compile_mlir, function, arguments):
    program = asyncvm.load(compile_mlir("control.mlir"))
    expected = await program.invoke(function, *arguments)
    stream = io.StringIO()
    with count_execution(program) as counted:  # the counted translation
        assert await program.invoke(function, *arguments) == expected
    with count_execution(program) as observed, trace_execution(program, stream):
        assert await program.invoke(function, *arguments) == expected  # the observed one
    assert await program.invoke(function, *arguments) == expected
    assert counted.instructions == observed.instructions == len(parse(stream.getvalue())) > 0


async def test_counting_and_tracing_take_turns(trace_program):
    program = asyncvm.load(trace_program)
    (block,) = listing(program.main, "straight")
    stream = io.StringIO()
    with count_execution(program) as counts:
        await program.invoke("straight", 1, 1)        # counted
        with trace_execution(program, stream):
            await program.invoke("straight", 2, 2)    # observed (and counted)
        await program.invoke("straight", 3, 3)        # counted again
    await program.invoke("straight", 4, 4)            # normal
    assert counts.instructions == 3 * len(block)
    lines = parse(stream.getvalue())
    assert [line.instruction for line in lines] == block
    assert lines[1].operands == {"%i0": "2", "%i1": "2"}


# -- contract ---------------------------------------------------------------------------------

def test_bad_targets_and_files_are_vm_errors(trace_program, tmp_path):
    program = asyncvm.load(trace_program)
    with pytest.raises(VMError) as info:
        with trace_execution(object()):
            pass
    assert info.value.status == StatusCode.INVALID_ARGUMENT
    with pytest.raises(VMError) as info:
        with trace_execution(program, tmp_path / "missing" / "trace.txt"):
            pass
    assert info.value.status == StatusCode.NOT_FOUND
    with pytest.raises(VMError) as info:
        with observe_execution(program, object()):
            pass
    assert info.value.status == StatusCode.INVALID_ARGUMENT
    counts = ExecutionCounts()
    with observe_execution(program, counts):
        with pytest.raises(VMError) as info:
            with observe_execution(program.context, counts):
                pass
        assert info.value.status == StatusCode.ALREADY_EXISTS
    # The failed attempt left the first observation in place, and its end
    # restored the normal code.
    state = program.context.state_of(program.main.name)
    assert state.functions[0].__kwdefaults__ is None


async def test_nested_observers_see_their_own_blocks(trace_program):
    program = asyncvm.load(trace_program)
    with count_execution(program) as outer:
        await program.invoke("straight", 1, 1)
        with count_execution(program) as inner:
            await program.invoke("straight", 1, 1)
        await program.invoke("straight", 1, 1)
    (block,) = listing(program.main, "straight")
    assert inner.instructions == len(block)
    assert outer.instructions == 3 * len(block)


def test_counts_reported_one_instruction_at_a_time():
    """The path for module kinds that report each instruction."""
    from asyncvm.vm import InstructionSite

    counts = ExecutionCounts()
    plain = InstructionSite("m", "f", 0, "%i0 = vm.const.i32 1")
    call = InstructionSite("m", "f", 7, "vm.call @hal.devices.count ()",
                           callee="hal.devices.count", imported=True)
    for site in (plain, call, call):
        counts.observe_instruction(site, ())
    assert counts.instructions == 3
    assert counts.import_calls == {"hal.devices.count": 2}
    counts.close()
    counts.observe_instruction(plain, ())
    assert counts.instructions == 3


def test_describe_value():
    from asyncvm.vm import VMBuffer, VMList, TypeInfo, ValueKind

    assert describe_value(None) == "null"
    assert describe_value(-3) == "-3"
    assert describe_value(2.5) == "2.5"
    assert describe_value(VMBuffer(16)) == "!vm.buffer<16 bytes>"
    assert describe_value(VMList(TypeInfo("i32", ValueKind.I32), 4)) == "!vm.list<i32>[0]"
    assert describe_value(object()) == "!object"
