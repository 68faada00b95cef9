"""TVM Relax VM's conveniences on a program: stateful calls (``set_input``,
``invoke_stateful``, ``get_outputs`` and the synchronous
``invoke_stateful_sync``) and ``time_evaluator`` with its
``BenchmarkResult``. Results are compared with direct ``program.invoke``
calls and with IREE's runtime; timings are only checked for consistency."""

from __future__ import annotations

import statistics
import time

import anyio
import numpy
import pytest

import asyncvm
from _program_fixtures import (assert_same_arrays, program, quickstart_vmfb,  # noqa: F401
                              tensor_vmfb, watchdog)
from _iree_reference import iree_tensor_results
from asyncvm._time_evaluator import TimeEvaluator
from asyncvm.modules.python import PythonModule
from asyncvm.vm import StatusCode, VMError

RANDOM = numpy.random.default_rng(23)


def f32(*shape):
    return RANDOM.standard_normal(shape).astype(numpy.float32)


def status_of(call) -> StatusCode:
    with pytest.raises(VMError) as caught:
        call()
    return caught.value.status


async def async_status_of(make_awaitable) -> tuple[StatusCode, str]:
    with pytest.raises(VMError) as caught:
        await make_awaitable()
    return caught.value.status, caught.value.message


def gated_program():
    """A Python-module program whose ``first``/``second`` exports suspend
    until their gate (an anyio Event per call, taken from a queue) is set;
    ``count`` counts its calls; ``slow`` sleeps 2 ms per call."""
    state = {"gates": [], "entered": [], "calls": 0}
    host = PythonModule("host")

    async def gated(x):
        gate = anyio.Event()
        state["gates"].append(gate)
        state["entered"].append(x)
        await gate.wait()
        return x

    host.export("0i_i", name="first", **{
        "iree.abi.declaration": "sync func @first(%value: i32) -> (%result: i32)"})(gated)
    host.export("0i_i", name="second")(gated)

    @host.export("0ii_i")
    def count(a, b):
        state["calls"] += 1
        return a + b

    @host.export("0i_i")
    def slow(x):
        time.sleep(0.002)
        return x

    @host.export("0v_i")
    def seven():
        return 7

    return asyncvm.load(host), state


async def wait_until(condition, seconds=30):
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.001)


# -- set_input, invoke_stateful, get_outputs ---------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("name, arguments", [
    ("add", [f32(4), f32(4)]),
    ("matmul", [f32(4, 8), f32(8, 16)]),
    ("small_ints", [numpy.array([1, -2, 100, -128], numpy.int8),
                    numpy.array([3, -300, 200, 7], numpy.int16)]),
    ("branchy", [f32(4), 1]),
])
async def test_positional_inputs_give_the_results_of_invoke_and_iree(program, tensor_vmfb,
                                                                       name, arguments):
    expected = iree_tensor_results(tensor_vmfb, name, arguments)
    assert program.set_input(name, *arguments) is None
    results = await program.invoke_stateful(name)
    assert isinstance(results, tuple)
    assert program.get_outputs(name) is results  # the stored tuple, returned as it is
    assert_same_arrays(results, expected)
    assert_same_arrays(program.get_outputs(name), await program.invoke(name, *arguments))


@pytest.mark.anyio
async def test_inputs_by_name_one_by_one_and_mixed(program, tensor_vmfb):
    a, b, c = f32(4), f32(4), f32(4)
    program.set_input("add", input0=a, input1=b)
    await program.invoke_stateful("add")
    assert_same_arrays(program.get_outputs("add"), iree_tensor_results(tensor_vmfb, "add", [a, b]))

    program.set_input("add", input0=c)  # keywords only: input1 keeps b
    await program.invoke_stateful("add")
    assert_same_arrays(program.get_outputs("add"), await program.invoke("add", c, b))

    program.set_input("add", c, input1=a)  # positional form, completed by name
    await program.invoke_stateful("add")
    assert_same_arrays(program.get_outputs("add"), await program.invoke("add", c, a))

    flag = program["branchy"].signature.arguments[1].name
    program.set_input("branchy", a, **{flag: 0})
    await program.invoke_stateful("branchy")
    assert_same_arrays(program.get_outputs("branchy"),
                       iree_tensor_results(tensor_vmfb, "branchy", [a, 0]))


@pytest.mark.anyio
async def test_one_by_one_until_complete(program, tensor_vmfb):
    a, b = f32(4), f32(4)
    program.set_input("add", input1=b)
    status, message = await async_status_of(lambda: program.invoke_stateful("add"))
    assert status == StatusCode.FAILED_PRECONDITION
    assert "input0" in message and "input1" not in message.split("no value for")[1]
    program.set_input("add", input0=a)
    results = await program.invoke_stateful("add")
    assert_same_arrays(results, iree_tensor_results(tensor_vmfb, "add", [a, b]))


@pytest.mark.anyio
async def test_scalar_functions_match_iree(quickstart_vmfb, iree_reference):
    program = asyncvm.load(quickstart_vmfb)
    for name, arguments in [("gcd", (84, 36)), ("gcd", (17, 5)), ("collatz_steps", (27,))]:
        program.set_input(name, *arguments)
        expected = iree_reference(quickstart_vmfb, name, *arguments)
        assert await program.invoke_stateful(name) == expected
        assert program.get_outputs(name) == expected == await program.invoke(name, *arguments)


@pytest.mark.anyio
async def test_names_of_one_function_share_its_state(program):
    a, b = f32(4), f32(4)
    program.set_input("module.add", a, b)
    await program.invoke_stateful(program["add"])
    assert program.get_outputs("add") is program.get_outputs("module.add")
    assert program.get_outputs(program.add) is program.get_outputs(program.add.function)
    numpy.testing.assert_array_equal(program.get_outputs("add")[0], a + b)


@pytest.mark.anyio
async def test_inputs_are_kept_by_reference_and_never_changed(program):
    a, b = f32(4), f32(4)
    a_before, b_before = a.copy(), b.copy()
    program.set_input("add", a, b)
    (first,) = await program.invoke_stateful("add")
    a += 1  # the stored input is the caller's array: the change is seen
    (second,) = await program.invoke_stateful("add")
    numpy.testing.assert_array_equal(first, a_before + b_before)
    numpy.testing.assert_array_equal(second, a + b)
    numpy.testing.assert_array_equal(b, b_before)
    assert program.get_outputs("add")[0] is second


@pytest.mark.anyio
async def test_functions_without_parameters_need_no_inputs():
    program, _ = gated_program()
    assert await program.invoke_stateful("seven") == (7,)
    program.set_input("seven")
    assert await program.invoke_stateful("seven") == (7,) == program.get_outputs("seven")


# -- errors ------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_unknown_functions_are_not_found(program):
    assert status_of(lambda: program.set_input("nope", f32(4))) == StatusCode.NOT_FOUND
    assert status_of(lambda: program.get_outputs("nope")) == StatusCode.NOT_FOUND
    assert status_of(lambda: program.time_evaluator("nope")) == StatusCode.NOT_FOUND
    status, message = await async_status_of(lambda: program.invoke_stateful("nope"))
    assert status == StatusCode.NOT_FOUND and "'nope'" in message and "add" in message
    assert status_of(lambda: program.set_input(3, f32(4))) == StatusCode.INVALID_ARGUMENT


@pytest.mark.anyio
async def test_bad_inputs_are_rejected_and_nothing_is_stored(program):
    a, b = f32(4), f32(4)
    program.set_input("add", a, b)
    with pytest.raises(VMError) as caught:
        program.set_input("add", input0=a, weights=b)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "'weights'" in caught.value.message and "input0, input1" in caught.value.message
    # Wrong counts, as for invoke; a parameter given twice.
    assert status_of(lambda: program.set_input("add", a)) == StatusCode.INVALID_ARGUMENT
    assert status_of(lambda: program.set_input("add", a, b, a)) == StatusCode.INVALID_ARGUMENT
    assert status_of(lambda: program.set_input("add")) == StatusCode.INVALID_ARGUMENT
    assert status_of(lambda: program.set_input("add", a, b, input0=a)) \
        == StatusCode.INVALID_ARGUMENT
    (result,) = await program.invoke_stateful("add")  # the first inputs are still there
    numpy.testing.assert_array_equal(result, a + b)


@pytest.mark.anyio
async def test_missing_inputs_and_outputs_are_failed_preconditions(program):
    status, message = await async_status_of(lambda: program.invoke_stateful("add"))
    assert status == StatusCode.FAILED_PRECONDITION and "set_input" in message
    status, message = await async_status_of(lambda: program.invoke_stateful_sync("add"))
    assert status == StatusCode.FAILED_PRECONDITION
    with pytest.raises(VMError) as caught:
        program.get_outputs("add")
    assert caught.value.status == StatusCode.FAILED_PRECONDITION
    assert "invoke_stateful" in caught.value.message
    program.set_input("add", f32(4), f32(4))
    assert status_of(lambda: program.get_outputs("add")) == StatusCode.FAILED_PRECONDITION


@pytest.mark.anyio
async def test_a_failed_call_keeps_the_earlier_outputs(program):
    a, b = f32(4), f32(4)
    program.set_input("add", a, b)
    stored = await program.invoke_stateful("add")
    program.set_input("add", f32(5), f32(4))  # set_input does not check shapes; the call does
    status, _ = await async_status_of(lambda: program.invoke_stateful("add"))
    assert status == StatusCode.INVALID_ARGUMENT
    assert program.get_outputs("add") is stored


@pytest.mark.anyio
async def test_timeout_applies_and_the_program_carries_on(watchdog):
    program, state = gated_program()
    program.set_input("first", value=3)
    status, _ = await async_status_of(lambda: program.invoke_stateful("first", timeout=0.05))
    assert status == StatusCode.DEADLINE_EXCEEDED
    assert status_of(lambda: program.get_outputs("first")) == StatusCode.FAILED_PRECONDITION
    state["gates"].clear()
    async with anyio.create_task_group() as group:
        group.start_soon(program.invoke_stateful, "first")
        await wait_until(lambda: state["gates"])
        state["gates"][0].set()
    assert program.get_outputs("first") == (3,)


# -- concurrency -------------------------------------------------------------------------

@pytest.mark.anyio
async def test_two_functions_used_statefully_at_once_keep_their_own_outputs(watchdog):
    program, state = gated_program()
    program.set_input("first", 1)
    program.set_input("second", arg0=2)
    async with anyio.create_task_group() as group:
        group.start_soon(program.invoke_stateful, "first")
        group.start_soon(program.invoke_stateful, "second")
        await wait_until(lambda: len(state["gates"]) == 2)
        assert sorted(state["entered"]) == [1, 2]
        # The second finishes first, whichever started first.
        order = [state["entered"].index(2), state["entered"].index(1)]
        state["gates"][order[0]].set()
        await wait_until(lambda: _has_outputs(program, "second"))
        assert status_of(lambda: program.get_outputs("first")) == StatusCode.FAILED_PRECONDITION
        state["gates"][order[1]].set()
    assert program.get_outputs("first") == (1,) and program.get_outputs("second") == (2,)


def _has_outputs(program, name) -> bool:
    try:
        program.get_outputs(name)
    except VMError:
        return False
    return True


@pytest.mark.anyio
async def test_compiled_functions_used_statefully_at_once(program, tensor_vmfb, watchdog):
    add_inputs, matmul_inputs = [f32(4), f32(4)], [f32(4, 8), f32(8, 16)]
    program.set_input("add", *add_inputs)
    program.set_input("matmul", *matmul_inputs)
    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(program.invoke_stateful, "add")
            group.start_soon(program.invoke_stateful, "matmul")
    assert_same_arrays(program.get_outputs("add"),
                       iree_tensor_results(tensor_vmfb, "add", add_inputs))
    assert_same_arrays(program.get_outputs("matmul"),
                       iree_tensor_results(tensor_vmfb, "matmul", matmul_inputs))


@pytest.mark.anyio
async def test_calls_of_one_function_take_their_inputs_when_made_and_the_last_to_finish_wins(
        watchdog):
    program, state = gated_program()
    returned = {}

    async def call(label):
        returned[label] = await program.invoke_stateful("first")

    async with anyio.create_task_group() as group:
        program.set_input("first", 10)
        group.start_soon(call, "early")
        await wait_until(lambda: len(state["gates"]) == 1)
        program.set_input("first", 20)  # does not change the call in flight
        group.start_soon(call, "late")
        await wait_until(lambda: len(state["gates"]) == 2)
        assert state["entered"] == [10, 20]
        state["gates"][1].set()
        await wait_until(lambda: "late" in returned)
        assert program.get_outputs("first") == (20,)
        state["gates"][0].set()
    assert returned == {"early": (10,), "late": (20,)}
    assert program.get_outputs("first") == (10,)  # the last to finish


# -- synchronous code --------------------------------------------------------------------

def test_invoke_stateful_sync_from_plain_code(program, tensor_vmfb):
    a, b = f32(4), f32(4)
    expected = iree_tensor_results(tensor_vmfb, "add", [a, b])
    program.set_input("add", a, b)
    results = program.invoke_stateful_sync("add", timeout=60)
    assert_same_arrays(results, expected)
    assert program.get_outputs("add") is results
    assert status_of(lambda: program.invoke_stateful_sync("matmul")) \
        == StatusCode.FAILED_PRECONDITION
    result = program.time_evaluator("add", number=2, repeat=2).sync(a, b)
    assert len(result.results) == 2 and result.calls_per_repeat == (2, 2)


@pytest.mark.anyio
async def test_sync_flavours_inside_the_running_loop(program, tensor_vmfb, watchdog):
    a, b = f32(4), f32(4)
    program.set_input("add", a, b)
    assert_same_arrays(program.invoke_stateful_sync("add"),
                       iree_tensor_results(tensor_vmfb, "add", [a, b]))
    result = program.time_evaluator("add", number=1, repeat=2).sync()
    assert len(result.results) == 2
    assert_same_arrays(await program.invoke_stateful("add"), program.get_outputs("add"))


# -- time_evaluator ----------------------------------------------------------------------

@pytest.mark.anyio
async def test_time_evaluator_runs_number_calls_repeat_times(watchdog):
    program, state = gated_program()
    evaluator = program.time_evaluator("count", number=5, repeat=3)
    assert isinstance(evaluator, TimeEvaluator) and "host.count" in repr(evaluator)
    result = await evaluator(2, 3)
    assert isinstance(result, asyncvm.BenchmarkResult)
    assert state["calls"] == 1 + 5 * 3  # one warm-up call, then number x repeat
    assert len(result.results) == 3 and result.calls_per_repeat == (5, 5, 5)
    assert all(seconds >= 0 for seconds in result.results)


@pytest.mark.anyio
async def test_time_evaluator_statistics_are_consistent(program):
    result = await program.time_evaluator("add", number=3, repeat=5)(f32(4), f32(4))
    results = result.results
    assert len(results) == 5 and all(isinstance(value, float) and value > 0 for value in results)
    assert result.mean == pytest.approx(statistics.fmean(results))
    assert result.median == pytest.approx(statistics.median(results))
    assert result.std == pytest.approx(float(numpy.std(results)))
    assert result.min == min(results) and result.max == max(results)
    assert result.min <= result.median <= result.max and result.min <= result.mean <= result.max


@pytest.mark.anyio
async def test_min_repeat_ms_grows_number(watchdog):
    program, _ = gated_program()
    result = await program.time_evaluator("slow", number=1, repeat=2, min_repeat_ms=20)(1)
    first, second = result.calls_per_repeat
    assert first > 1 and second >= first  # grown, and the grown number carries on
    for seconds_per_call, calls in zip(result.results, result.calls_per_repeat):
        assert seconds_per_call * calls >= 0.020 * (1 - 1e-9)  # each repeat lasted long enough


@pytest.mark.anyio
async def test_time_evaluator_cooldown_and_stored_inputs(program):
    a, b = f32(4), f32(4)
    program.set_input("add", a, b)
    evaluator = program.time_evaluator("add", number=1, repeat=3, cooldown_interval_ms=1,
                                       repeats_to_cooldown=2)
    result = await evaluator()  # no arguments: the stored inputs
    assert len(result.results) == 3
    assert status_of(lambda: program.get_outputs("add")) == StatusCode.FAILED_PRECONDITION
    status, _ = await async_status_of(lambda: program.time_evaluator("matmul")())
    assert status == StatusCode.FAILED_PRECONDITION


@pytest.mark.anyio
async def test_time_evaluator_errors(program):
    for settings in [{"number": 0}, {"repeat": 0}, {"number": 1.5}, {"min_repeat_ms": -1},
                     {"cooldown_interval_ms": "1"}, {"repeats_to_cooldown": 0}]:
        assert status_of(lambda: program.time_evaluator("add", **settings)) \
            == StatusCode.INVALID_ARGUMENT, settings
    status, _ = await async_status_of(lambda: program.time_evaluator("add", number=1)(f32(4)))
    assert status == StatusCode.INVALID_ARGUMENT  # a call's own error


def test_benchmark_result_prints_as_tvm():
    result = asyncvm.BenchmarkResult([0.001, 0.003, 0.002])
    assert (result.mean, result.median, result.min, result.max) == pytest.approx(
        (0.002, 0.002, 0.001, 0.003))
    assert result.std == pytest.approx(float(numpy.std([0.001, 0.003, 0.002])))
    lines = str(result).splitlines()
    assert lines[0] == "Execution time summary:"
    assert [h.strip() for h in _columns(lines[1])] == [
        "mean (ms)", "median (ms)", "max (ms)", "min (ms)", "std (ms)"]
    assert [float(v) for v in lines[2].split()] == pytest.approx(
        [2.0, 2.0, 3.0, 1.0, round(result.std * 1000, 4)])
    assert "BenchmarkResult(min=0.001" in repr(result)
    assert status_of(lambda: asyncvm.BenchmarkResult([])) == StatusCode.INVALID_ARGUMENT


def _columns(line: str) -> list[str]:
    return [line[start:start + 12] for start in range(0, len(line), 13)]
