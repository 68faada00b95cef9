"""Deadlines and cancellation reach into dispatches.

tests/programs/runaway.mlir iterates each element as many times as an input
says, inside the kernel. Given a huge count, a VMVX build spins in one
workgroup for hours; an llvm-cpu build over a large input is a native
dispatch of many workgroups that would run for a minute. Either is stopped
by ``timeout=`` or a cancel scope on both drivers, while another task on the
loop keeps ticking; the dispatch itself ends with DEADLINE_EXCEEDED or
CANCELLED; afterwards no worker is busy, no buffer is left alive, and the
program answers a normal call as IREE's runtime does.
"""

from __future__ import annotations

import gc
import time

import anyio
import numpy
import pytest

import asyncvm
from asyncvm.hal import _native_library
from asyncvm.vm import StatusCode, VMError

from _batch_model import LLVM_CPU

pytestmark = pytest.mark.anyio

BUILDS = {"vmvx": (), "llvm-cpu": LLVM_CPU}
DRIVERS = ["local-sync", "local-task"]
FOREVER = 2**31 - 1
# llvm-cpu: 2**20 elements of 2**16 iterations each, about a minute of work
# spread over many workgroups.
NATIVE_ELEMENTS = 1 << 20
NATIVE_ITERATIONS = 1 << 16
TIMEOUT = 0.3
TICK = 0.01


@pytest.fixture(scope="module", params=list(BUILDS))
def build(request):
    return request.param


@pytest.fixture(scope="module")
def vmfb(compile_mlir, build):
    return compile_mlir("runaway.mlir", *BUILDS[build])


@pytest.fixture(scope="module")
def expected(vmfb):
    """IREE's answer to the small call."""
    pytest.importorskip("iree.runtime", reason="iree.runtime (iree-base-runtime) is not installed")
    from _iree_reference import iree_tensor_results

    return numpy.array(iree_tensor_results(vmfb, "spin", SMALL)[0], copy=True)


@pytest.fixture(params=DRIVERS)
def driver(request):
    return request.param


def runaway_inputs(build: str) -> tuple[numpy.ndarray, numpy.ndarray]:
    if build == "vmvx":
        return numpy.linspace(-1, 1, 4, dtype=numpy.float32), numpy.full(4, FOREVER, numpy.int32)
    x = numpy.linspace(-1, 1, NATIVE_ELEMENTS, dtype=numpy.float32)
    return x, numpy.full(NATIVE_ELEMENTS, NATIVE_ITERATIONS, numpy.int32)


SMALL = (numpy.array([-3.0, 0.25, 1.0, 40.0], numpy.float32),
         numpy.array([0, 1, 5, 30], numpy.int32))


class Ticker:
    """A task that counts its wakeups while something else runs on the loop."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            await anyio.sleep(TICK)
            self.ticks += 1


def live_bytes(program) -> int:
    """The device's live bytes once garbage from earlier calls is collected
    (numpy's test helpers can leave a result in a reference cycle)."""
    gc.collect()
    return program.device.statistics.live_bytes


async def settle(program, baseline: int) -> None:
    """Waits (up to 10 s) until no queue worker runs and the device holds
    ``baseline`` live bytes again; fails the test otherwise."""
    device = program.device
    deadline = time.monotonic() + 10
    while True:
        gc.collect()
        if device._running == 0 and device.statistics.live_bytes == baseline:
            return
        pool = device._queue_pool
        assert time.monotonic() < deadline, (
            f"not settled after 10 s: {device._running} operations running, "
            f"{len(pool._items) if pool else 0} queued, {device.statistics.live_bytes} live "
            f"bytes (baseline {baseline})")
        await anyio.sleep(0.01)


async def answers_like_iree(program, expected) -> None:
    (result,) = await program.invoke("spin", *SMALL)
    numpy.testing.assert_array_equal(result, expected)


def dispatch_errors(program, workgroups: list | None = None) -> list:
    """Installs an instrument recording how each dispatch ended: None, or
    the (status, message) of its error (not the error: its traceback would
    keep the dispatch's buffers alive); and into ``workgroups`` how many
    workgroups each had."""
    ended = []

    def record(event):
        if event.kind == "dispatch" and not event.before:
            error = event.error
            ended.append(None if error is None else (error.status, error.message))
            if workgroups is not None:
                x, y, z = event.workgroup_count
                workgroups.append(x * y * z)

    program.set_instrument(record)
    return ended


async def test_timeout_stops_a_runaway_dispatch(vmfb, build, driver, expected):
    program = asyncvm.load(vmfb, device=driver)
    await answers_like_iree(program, expected)
    baseline = live_bytes(program)
    ticker = Ticker()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(ticker.run)
            began = time.perf_counter()
            with pytest.raises(VMError) as caught:
                await program.invoke("spin", *runaway_inputs(build), timeout=TIMEOUT)
            elapsed = time.perf_counter() - began
            ticks = ticker.ticks
            group.cancel_scope.cancel()
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
    assert "module.spin" in str(caught.value)
    assert elapsed < 10
    # The loop kept running other tasks while the kernel was stopped piecewise.
    assert ticks >= 5, f"the event loop ran {ticks} ticks in {elapsed:.2f} s"
    await settle(program, baseline)
    await answers_like_iree(program, expected)


async def test_dispatch_fails_with_the_invocations_status(vmfb, build, driver):
    program = asyncvm.load(vmfb, device=driver)
    workgroups = []
    ended = dispatch_errors(program, workgroups)
    await program.invoke("spin", *SMALL)
    assert ended == [None]
    with pytest.raises(VMError) as caught:
        await program.invoke("spin", *runaway_inputs(build), timeout=TIMEOUT)
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
    with anyio.fail_after(10):
        while len(ended) < 2:
            await anyio.sleep(0.01)
    status, message = ended[1]
    assert status == StatusCode.DEADLINE_EXCEEDED
    assert "stopped" in message and "passed its deadline" in message
    if build == "llvm-cpu":  # stopped between workgroups of a very large count
        assert workgroups[1] >= 1000, workgroups


async def test_cancel_scope_stops_a_runaway_dispatch(vmfb, build, driver, expected):
    program = asyncvm.load(vmfb, device=driver)
    ended = dispatch_errors(program)
    await answers_like_iree(program, expected)
    baseline = live_bytes(program)
    ticker = Ticker()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(ticker.run)
            with anyio.CancelScope() as scope:

                async def cancel_later() -> None:
                    await anyio.sleep(TIMEOUT)
                    scope.cancel()

                group.start_soon(cancel_later)
                await program.invoke("spin", *runaway_inputs(build))
            ticks = ticker.ticks
            group.cancel_scope.cancel()
    assert scope.cancelled_caught
    assert ticks >= 5
    await settle(program, baseline)
    assert len(ended) == 2 and ended[0] is None
    status, message = ended[1]
    assert status == StatusCode.CANCELLED and "was cancelled" in message
    await answers_like_iree(program, expected)


async def test_other_calls_finish_beside_a_runaway(vmfb, build, driver, expected):
    """Calls made while a runaway kernel is being sliced all finish, with
    IREE's answers, before the runaway's deadline."""
    program = asyncvm.load(vmfb, device=driver)
    results = []
    failure = []

    async def runaway() -> None:
        try:
            await program.invoke("spin", *runaway_inputs(build), timeout=3)
        except VMError as error:
            failure.append(error)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(runaway)
            await anyio.sleep(0.05)
            for _ in range(10):
                results.append((await program.invoke("spin", *SMALL))[0])
            assert not failure, "the runaway ended before the other calls did"
    assert [error.status for error in failure] == [StatusCode.DEADLINE_EXCEEDED]
    for result in results:
        numpy.testing.assert_array_equal(result, expected)


async def test_python_workgroup_loop_stops_too(compile_mlir, monkeypatch, driver):
    """Without the C workgroup loop, the Python one stops between workgroups."""
    monkeypatch.setattr(_native_library, "NATIVE_WORKGROUP_LOOP", False)
    program = asyncvm.load(compile_mlir("runaway.mlir", *LLVM_CPU), device=driver)
    baseline = live_bytes(program)
    with anyio.fail_after(30):
        with pytest.raises(VMError) as caught:
            await program.invoke("spin", *runaway_inputs("llvm-cpu"), timeout=TIMEOUT)
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
    await settle(program, baseline)


def test_invoke_sync_timeout_stops_a_runaway_dispatch(compile_mlir):
    program = asyncvm.load(compile_mlir("runaway.mlir"))
    began = time.perf_counter()
    with pytest.raises(VMError) as caught:
        program.invoke_sync("spin", *runaway_inputs("vmvx"), timeout=TIMEOUT)
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
    assert time.perf_counter() - began < 10
    (result,) = program.invoke_sync("spin", *SMALL)
    assert result[0] == numpy.float32(-3.0)


async def test_stopped_dispatch_frees_its_buffers_without_the_collector(vmfb, build, driver):
    """A stopped dispatch's failure is kept by its fence without a Python
    traceback, so nothing of the dispatch (its buffers) waits for the cycle
    collector: with the collector off, live bytes return to where they were."""
    program = asyncvm.load(vmfb, device=driver)
    await program.invoke("spin", *SMALL)
    baseline = live_bytes(program)
    gc.disable()
    try:
        for _ in range(3):
            try:
                await program.invoke("spin", *runaway_inputs(build), timeout=0.05)
            except VMError as error:
                assert error.status == StatusCode.DEADLINE_EXCEEDED
            else:
                raise AssertionError("the runaway finished")
        with anyio.fail_after(10):
            while program.device.statistics.live_bytes != baseline:
                await anyio.sleep(0.01)
    finally:
        gc.enable()
