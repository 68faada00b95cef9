"""Thousands of invocations waiting on fences at once, under asyncio and trio.

Each invocation of a tensor program on ``local-task`` submits its work and
suspends in ``hal.fence.await``. The device's kernels are held at a gate
until every invocation is waiting, so all of them are suspended together;
then the workers run the work and wake each waiting coroutine from their
own threads. Checked: no thread is started per waiter, and every
invocation gets the answer for its own input (the right coroutine was
woken with the right buffers).
"""

from __future__ import annotations

import threading

import anyio
import numpy
import pytest

import asyncvm
from asyncvm.hal import Device, HalModule

from _batch_model import LLVM_CPU, WEIGHTS
from conftest import SERVING_BACKENDS

pytestmark = pytest.mark.anyio


@pytest.fixture(params=SERVING_BACKENDS)
def anyio_backend(request):
    return request.param

WAITERS = 2000


class GatedDevice(Device):
    """local-task whose kernels wait at a gate until the test opens it."""

    def __init__(self) -> None:
        super().__init__("local-task")
        self.inline_limit = 0  # every execution on a worker, through the gate
        self.gate = threading.Event()
        self.dispatches = 0

    def for_each(self, count, body):
        self.dispatches += 1
        self.gate.wait(120)
        super().for_each(count, body)


def exact_input(index: int) -> numpy.ndarray:
    # Small integers: every product and sum is exact in float32, so the
    # reference does not depend on the order of accumulation.
    return (numpy.arange(16, dtype=numpy.float32).reshape(2, 8) % 7 - 3 + index % 11)


async def test_thousands_of_invocations_wait_without_a_thread_each(compile_mlir):
    device = GatedDevice()
    program = asyncvm.load(compile_mlir("batch_model.mlir", *LLVM_CPU),
                           modules=[HalModule([device])])
    device.gate.set()
    await program.invoke("predict", exact_input(0))  # initialize, start the workers
    device.gate.clear()
    threads_before = threading.active_count()
    results: dict[int, tuple] = {}
    waiting = 0
    all_waiting = anyio.Event()

    async def call(index: int) -> None:
        nonlocal waiting
        waiting += 1
        if waiting == WAITERS:
            all_waiting.set()
        results[index] = await program.invoke("predict", exact_input(index))

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            for index in range(WAITERS):
                group.start_soon(call, index)
            await all_waiting.wait()
            for _ in range(10):
                await anyio.sleep(0)
            assert not results, "an invocation finished while the kernels were held"
            # Every invocation is suspended; the pools have not grown.
            assert threading.active_count() <= threads_before + 2 * device.workers
            device.gate.set()

    assert threading.active_count() <= threads_before + 2 * device.workers
    for index in range(WAITERS):
        x = exact_input(index)
        y, s = results[index]
        numpy.testing.assert_array_equal(y, numpy.maximum(x @ WEIGHTS, 0))
        numpy.testing.assert_array_equal(s, x.sum(axis=1))
