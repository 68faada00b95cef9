"""The VM under trio, said in trio's own terms (pytest-trio).

The test's ``nursery`` fixture, trio cancel scopes (shielded ones too) and
trio's ``mock_clock`` state directly what the portable anyio tests can only
approximate: invocations started side by side take turns on the one event
loop thread, a plain trio cancel scope or a shield governs an invocation
like any other trio code, and an invocation's deadline is measured on the
event loop's clock, not the wall clock.
"""

from __future__ import annotations

import math
import threading
import time

import pytest
import trio

import asyncvm
from asyncvm.vm import StatusCode, VMError

pytestmark = pytest.mark.trio


@pytest.fixture(scope="module")
def yield_vmfb(compile_mlir):
    return compile_mlir("vm_yield.mlir", mode="vm")


@pytest.fixture(scope="module")
def quantum_vmfb(compile_mlir):
    return compile_mlir("vm_quantum.mlir", mode="vm")


def triangle(n: int) -> int:
    return n * (n - 1) // 2


async def test_invocations_in_the_nursery_take_turns_on_one_thread(nursery, yield_vmfb):
    """Started in the test's nursery, longest first: each ``vm.yield`` is one
    turn, so they finish in order of their work, on the loop's thread, with
    the right answers; the watcher saw the tickers tick while it waited."""
    program = asyncvm.load(yield_vmfb)
    send, receive = trio.open_memory_channel(math.inf)

    async def call(tag, function, *arguments):
        result = await program.invoke(function, *arguments)
        send.send_nowait((tag, result, threading.get_ident()))

    calls = [("ticker 320", "ticker", 320), ("sum 250", "yield_sum", 250),
             ("ticker 160", "ticker", 160), ("watcher 100", "watcher", 100),
             ("ticker 80", "ticker", 80), ("ticker 40", "ticker", 40)]
    for tag, function, argument in calls:
        nursery.start_soon(call, tag, function, argument)

    finished, results = [], {}
    with trio.fail_after(60):
        for _ in calls:
            tag, result, thread = await receive.receive()
            assert thread == threading.get_ident(), f"{tag} ran on another thread"
            finished.append(tag)
            results[tag] = result

    assert finished == ["ticker 40", "ticker 80", "watcher 100", "ticker 160", "sum 250",
                        "ticker 320"]
    for n in (40, 80, 160, 320):
        assert results[f"ticker {n}"] == (n,)
    assert results["sum 250"] == (triangle(250), 250)
    ticked_meanwhile, ticks_then = results["watcher 100"]
    assert ticked_meanwhile >= 100 and ticks_then >= ticked_meanwhile
    assert await program.invoke("get_ticks") == (40 + 80 + 160 + 320,)


@pytest.mark.parametrize("long_call, check", [
    (("yield_sum", 10**9), (("yield_sum", 100), (triangle(100), 100))),  # cancelled at vm.yield
    (("spin", 2**31 - 1), (("spread", 30, 7), (210,))),  # at the quantum: no vm.yield
], ids=["at-yield", "at-quantum"])
async def test_cancel_scope_from_another_task_leaves_the_program_usable(
        nursery, yield_vmfb, quantum_vmfb, long_call, check):
    program = asyncvm.load(yield_vmfb if long_call[0] == "yield_sum" else quantum_vmfb)
    scope = trio.CancelScope()
    running = trio.Event()

    async def cancel_soon():
        await running.wait()
        await trio.sleep(0.02)
        scope.cancel()

    nursery.start_soon(cancel_soon)
    with trio.fail_after(30):  # the cancellation must get in
        with scope:
            running.set()
            await program.invoke(*long_call)
            pytest.fail("the invocation finished instead of being cancelled")
    assert scope.cancelled_caught
    (function, *arguments), expected = check
    assert await program.invoke(function, *arguments) == expected


async def test_shielded_invocation_finishes_in_a_cancelled_scope(yield_vmfb):
    """Every ``vm.yield`` is a trio checkpoint; behind a shield none of the
    thousand raises, and the first checkpoint after it does."""
    program = asyncvm.load(yield_vmfb)
    with trio.CancelScope() as outer:
        outer.cancel()
        with trio.CancelScope(shield=True):
            result = await program.invoke("yield_sum", 1000)
        await trio.lowlevel.checkpoint()
        pytest.fail("the cancelled scope let a checkpoint pass")
    assert outer.cancelled_caught
    assert result == (triangle(1000), 1000)


async def test_deadline_is_on_the_event_loop_clock(mock_clock, nursery, yield_vmfb):
    """An hour's deadline, on trio's mock clock: jumping the clock past it
    ends the invocation with DEADLINE_EXCEEDED at once; then the program
    answers again."""
    program = asyncvm.load(yield_vmfb)
    send, receive = trio.open_memory_channel(1)

    async def hour_long_call():
        try:
            await program.invoke("yield_sum", 10**9, timeout=3600)
        except VMError as error:
            send.send_nowait(error)
        else:
            send.send_nowait(None)

    started = time.perf_counter()
    nursery.start_soon(hour_long_call)
    for _ in range(20):  # let it run a few turns (no deadline reached: the clock stands still)
        await trio.lowlevel.checkpoint()
    assert receive.statistics().current_buffer_used == 0
    mock_clock.jump(3601)
    error = await receive.receive()
    assert isinstance(error, VMError) and error.status == StatusCode.DEADLINE_EXCEEDED
    assert "yield_sum" in str(error)
    assert time.perf_counter() - started < 30  # an hour of trio time, not of ours
    assert await program.invoke("yield_sum", 10, timeout=3600) == (triangle(10), 10)
