"""The scheduling quantum: an invocation with no natural suspension point
still yields to the event loop, so it never starves the other invocations
or tasks on the loop.

A bytecode frame checks the clock every ``quantum`` instructions and every
CALLS_PER_CHECK calls; the invocation yields once it has run ``time_slice``
seconds. With ``time_slice=0`` every check yields, which makes the number of
yields a function of the instruction count alone: the tests below count
turns of another task, never time.
"""

from __future__ import annotations

import math
import sys

import anyio
import numpy
import pytest

import asyncvm
from asyncvm.vm import CALLS_PER_CHECK, Context, StatusCode, VMError

from conftest import SERVING_BACKENDS

pytestmark = pytest.mark.anyio


@pytest.fixture(params=SERVING_BACKENDS)
def anyio_backend(request):
    return request.param


def spin_expected(n: int) -> int:
    total = sum(i * i for i in range(n)) & 0xFFFFFFFF
    return total - (1 << 32) if total & 0x80000000 else total


@pytest.fixture(scope="module")
def quantum_vmfb(compile_mlir):
    return compile_mlir("vm_quantum.mlir", mode="vm")


async def count_turns_while(invocation) -> tuple[tuple, int]:
    """Runs ``invocation()`` beside a task that counts its own turns."""
    done = anyio.Event()
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while not done.is_set():
            await anyio.sleep(0)
            turns += 1

    async with anyio.create_task_group() as group:
        group.start_soon(other_task)
        try:
            result = await invocation()
        finally:
            done.set()
    return result, turns


@pytest.mark.parametrize("setting, value", [
    ("quantum", 0), ("quantum", -5), ("quantum", 1.5), ("quantum", 1 << 31),
    ("time_slice", -0.001), ("time_slice", math.nan), ("time_slice", "2ms"),
    ("max_depth", 0),
])
def test_settings_out_of_range_are_invalid_argument(quantum_vmfb, setting, value):
    with pytest.raises(VMError) as caught:
        Context(**{setting: value})
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert setting in str(caught.value)
    with pytest.raises(VMError) as caught:
        asyncvm.load(quantum_vmfb, **{setting: value})
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


def test_settings_reach_the_context(quantum_vmfb):
    program = asyncvm.load(quantum_vmfb, quantum=123, time_slice=0.5, max_depth=64)
    assert (program.context.quantum, program.context.time_slice,
            program.context.max_depth) == (123, 0.5, 64)


async def test_instruction_budget_yields_in_a_long_loop(quantum_vmfb):
    program = asyncvm.load(quantum_vmfb, quantum=100, time_slice=0)
    n = 20_000
    result, turns = await count_turns_while(lambda: program.invoke("spin", n))
    assert result == (spin_expected(n),)
    # About 6 instructions per iteration: over a thousand budgets of 100.
    assert turns >= 500


async def test_no_checks_means_no_turns(quantum_vmfb):
    program = asyncvm.load(quantum_vmfb, quantum=1 << 30, time_slice=math.inf)
    result, turns = await count_turns_while(lambda: program.invoke("spin", 20_000))
    assert result == (spin_expected(20_000),)
    assert turns == 0


async def test_work_spread_over_short_calls_is_sliced(quantum_vmfb):
    # Each call's own loop is far under the budget, and the caller's loop
    # is too: only the calls themselves are counted.
    program = asyncvm.load(quantum_vmfb, quantum=1_000_000, time_slice=0)
    calls = 3_200
    result, turns = await count_turns_while(lambda: program.invoke("spread", calls, 20))
    assert result == (calls * 20,)
    assert turns >= calls // (CALLS_PER_CHECK + 1) // 2


async def test_long_loop_does_not_starve_other_invocations(quantum_vmfb):
    """A loop that would run for minutes, with the default settings: short
    invocations of the same context and a Python task keep completing
    while it runs; then it is cancelled, and the context still works."""
    program = asyncvm.load(quantum_vmfb)
    finished_long = False
    short_results = []

    async def long_call() -> None:
        nonlocal finished_long
        await program.invoke("spin", 2**31 - 1)
        finished_long = True

    async with anyio.create_task_group() as group:
        group.start_soon(long_call)
        await anyio.sleep(0)
        for n in range(1, 21):
            short_results.append(await program.invoke("spin", n * 10))
        for _ in range(10):
            await anyio.sleep(0.001)
        group.cancel_scope.cancel()

    assert not finished_long
    assert short_results == [(spin_expected(n * 10),) for n in range(1, 21)]
    assert await program.invoke("spread", 10, 10) == (100,)


async def test_short_call_overtakes_a_long_one(quantum_vmfb):
    program = asyncvm.load(quantum_vmfb)
    order = []

    async def call(tag, n):
        assert await program.invoke("spin", n) == (spin_expected(n),)
        order.append(tag)

    async with anyio.create_task_group() as group:
        group.start_soon(call, "long", 400_000)
        await anyio.sleep(0)
        group.start_soon(call, "short", 1_000)
    assert order == ["short", "long"]


async def test_same_answers_with_any_budget(quantum_vmfb):
    expected = (spin_expected(5_000),)
    for quantum, time_slice in [(1, 0), (7, 0), (1 << 30, math.inf), (50, 0.0001)]:
        program = asyncvm.load(quantum_vmfb, quantum=quantum, time_slice=time_slice)
        assert await program.invoke("spin", 5_000) == expected
        assert await program.invoke("spread", 40, 33) == (40 * 33,)


async def test_a_loop_of_calls_that_never_suspend_still_yields(quantum_vmfb):
    """Each spin(50) finishes without reaching a check; a tight loop of them
    still lets the loop run once per time slice (here 0: after every call)."""
    for time_slice, expect_turns in [(0.0, True), (math.inf, False)]:
        program = asyncvm.load(quantum_vmfb, time_slice=time_slice)

        async def many_calls():
            for _ in range(200):
                assert await program.invoke("spin", 50) == (spin_expected(50),)
            return ()

        _, turns = await count_turns_while(many_calls)
        if expect_turns:
            assert turns >= 150
        else:
            assert turns == 0


async def test_a_loop_of_calls_that_fail_without_suspending_still_yields(compile_mlir):
    """Each call fails at once (its two inputs differ in length: OUT_OF_RANGE
    in the dispatch); a tight loop of them lets the loop run once per time
    slice all the same. Before, the failure path skipped that: a task
    retrying a failing call starved every timer on the loop, including the
    ones that would have ended what made it fail."""
    x, n = numpy.zeros(4, numpy.float32), numpy.zeros(3, numpy.int32)
    vmfb = compile_mlir("runaway.mlir")
    for time_slice, expect_turns in [(0.0, True), (math.inf, False)]:
        program = asyncvm.load(vmfb, time_slice=time_slice)

        async def failing_calls():
            for _ in range(200):
                with pytest.raises(VMError) as caught:
                    await program.invoke("spin", x, n)
                assert caught.value.status == StatusCode.OUT_OF_RANGE
            return ()

        _, turns = await count_turns_while(failing_calls)
        if expect_turns:
            assert turns >= 150
        else:
            assert turns == 0


async def test_context_serves_one_thread_at_a_time(quantum_vmfb, anyio_backend_name,
                                                   anyio_backend_options):
    """While invocations run on this loop's thread, a call from another
    thread (its own event loop) is FAILED_PRECONDITION; once they are done,
    any thread may use the context."""
    program = asyncvm.load(quantum_vmfb)

    def call_from_another_thread():
        try:
            return anyio.run(program.invoke, "spin", 10, backend=anyio_backend_name,
                             backend_options=anyio_backend_options)
        except VMError as error:
            return error

    # The spin holds the GIL between the loop's turns: the other thread would
    # wait a whole switch interval (5 ms) for each of the thousands of times
    # its event loop's start needs the GIL (seconds, up to a minute here).
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(program.invoke, "spin", 2**31 - 1)
            await anyio.sleep(0.01)
            outcome = await anyio.to_thread.run_sync(call_from_another_thread)
            group.cancel_scope.cancel()
    finally:
        sys.setswitchinterval(interval)
    assert isinstance(outcome, VMError)
    assert outcome.status == StatusCode.FAILED_PRECONDITION
    assert "another thread" in str(outcome)

    assert await anyio.to_thread.run_sync(call_from_another_thread) == (spin_expected(10),)
    assert await program.invoke("spin", 10) == (spin_expected(10),)
