"""Cancellation at every suspension point of an invocation.

An invocation suspends only at the scheduling quantum, at ``vm.yield``,
while awaiting an async import, while awaiting a fence (``hal.fence.await``
on queue work in flight) and — for the first call of a context — inside a
module initializer. Each is cancelled here three ways: a cancel scope
cancelled from outside, ``invoke(..., timeout=)``, and (asyncio) a task
that is cancelled. Every time: the frames are unwound (no VM generator
frame stays alive), the device's allocations return to where they were
(nothing leaked; work still in flight keeps its buffers until it is done),
and the same context answers the next call correctly.
"""

from __future__ import annotations

import gc
import threading
import types

import anyio
import numpy
import pytest

import asyncvm
from asyncvm.vm import StatusCode, VMError
from asyncvm.vm._invocation import describe_code_frame
from asyncvm.hal import Device, HalModule
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.python import PythonModule

from _batch_model import LLVM_CPU
from _iree_reference import iree_tensor_results
from conftest import SERVING_BACKENDS

pytestmark = pytest.mark.anyio


@pytest.fixture(params=SERVING_BACKENDS)
def anyio_backend(request):
    return request.param

STYLES = ["cancel_scope", "timeout", "asyncio_task"]


def live_vm_frames() -> int:
    """Generator frames of translated bytecode functions that are still suspended."""
    gc.collect()
    return sum(1 for item in gc.get_objects()
               if isinstance(item, types.GeneratorType) and item.gi_frame is not None
               and describe_code_frame(item.gi_code, item.gi_frame.f_lineno) is not None)


class GatedDevice(Device):
    """local-task, but every dispatch waits for ``release`` once it has started
    (so a test knows a kernel is in flight and for how long)."""

    def __init__(self) -> None:
        super().__init__("local-task")
        self.inline_limit = 0  # every execution on a worker, through the gate
        self.started = threading.Event()
        self.release = threading.Event()

    def for_each(self, count, body):
        self.started.set()
        if not self.release.wait(60):
            raise VMError(StatusCode.DEADLINE_EXCEEDED, "test gate never released")
        super().for_each(count, body)


class Scenario:
    """One suspension point: how to start a call that reaches it, how to tell
    it is there, and what to check after it was cancelled."""

    function: str = ""
    arguments: tuple = ()

    def __init__(self, compile_mlir) -> None:
        self.compile_mlir = compile_mlir

    async def reached(self) -> None:
        await anyio.sleep(0.02)

    async def after_cancel(self) -> None:
        pass

    async def still_usable(self) -> None:
        raise NotImplementedError


class AtQuantum(Scenario):
    function, arguments = "spin", (2**31 - 1,)

    def program(self):
        self.loaded = asyncvm.load(self.compile_mlir("vm_quantum.mlir", mode="vm"))
        return self.loaded

    async def still_usable(self) -> None:
        assert await self.loaded.invoke("spread", 30, 7) == (210,)


class AtYield(Scenario):
    function, arguments = "yield_sum", (10**9,)

    def program(self):
        self.loaded = asyncvm.load(self.compile_mlir("vm_yield.mlir", mode="vm"))
        return self.loaded

    async def still_usable(self) -> None:
        assert await self.loaded.invoke("yield_sum", 100) == (4950, 100)


class AtAsyncImport(Scenario):
    function, arguments = "fetch_sum", (3,)

    def program(self):
        host = PythonModule("host")
        self.entered = anyio.Event()
        self.unwound = False
        self.blocking = True

        @host.export("0i_i")
        async def fetch(key):
            if not self.blocking:
                return key * 10
            self.entered.set()
            try:
                await anyio.sleep_forever()
            finally:
                self.unwound = True

        library = BytecodeModule.load(self.compile_mlir("ctx_library.mlir", mode="vm"))
        user = BytecodeModule.load(self.compile_mlir("ctx_user.mlir", mode="vm"))
        self.loaded = asyncvm.load(user, modules=[library, host])
        return self.loaded

    async def reached(self) -> None:
        await self.entered.wait()

    async def after_cancel(self) -> None:
        assert self.unwound, "the async import was not cancelled"

    async def still_usable(self) -> None:
        self.blocking = False
        assert await self.loaded.invoke("fetch_sum", 4) == (60,)


class AtFence(Scenario):
    function = "predict"

    def program(self):
        self.vmfb = self.compile_mlir("batch_model.mlir", *LLVM_CPU)
        self.device = GatedDevice()
        self.x = numpy.linspace(-3, 3, 40, dtype=numpy.float32).reshape(5, 8)
        self.arguments = (self.x,)
        self.loaded = asyncvm.load(self.vmfb, modules=[HalModule([self.device])])
        self.baseline = self.device.statistics.live_bytes
        return self.loaded

    async def reached(self) -> None:
        with anyio.fail_after(30):
            while not self.device.started.is_set():
                await anyio.sleep(0.001)

    async def after_cancel(self) -> None:
        # The kernel is still running: its buffers must still be alive.
        assert self.device.statistics.live_bytes > self.baseline
        self.device.release.set()
        with anyio.fail_after(30):
            while True:
                gc.collect()
                if self.device.statistics.live_bytes == self.baseline:
                    break
                await anyio.sleep(0.005)

    async def still_usable(self) -> None:
        self.device.release.set()
        y, s = await self.loaded.invoke("predict", self.x)
        want_y, want_s = iree_tensor_results(self.vmfb, "predict", [self.x])
        numpy.testing.assert_array_equal(y, want_y)
        numpy.testing.assert_array_equal(s, want_s)


class AtInitializer(Scenario):
    function = "configured"

    def program(self):
        host = PythonModule("host")
        self.entered = anyio.Event()
        self.calls = 0

        @host.export("0i_i")
        async def configure(key):
            self.calls += 1
            if self.calls == 1:
                self.entered.set()
                await anyio.sleep_forever()
            return key * 6

        module = BytecodeModule.load(self.compile_mlir("ctx_init_waits.mlir", mode="vm"))
        self.loaded = asyncvm.load(module, modules=[host])
        return self.loaded

    async def reached(self) -> None:
        await self.entered.wait()

    async def still_usable(self) -> None:
        # The cancelled initialization is retried by the next call.
        assert await self.loaded.invoke("configured") == (42,)
        assert self.calls == 2


SCENARIOS = {"quantum": AtQuantum, "vm.yield": AtYield, "async_import": AtAsyncImport,
             "fence": AtFence, "initializer": AtInitializer}


async def cancel_at(scenario: Scenario, style: str, backend_name: str) -> None:
    program = scenario.program()
    finished = False

    if style == "cancel_scope":
        scope = anyio.CancelScope()

        async def run() -> None:
            nonlocal finished
            with scope:
                await program.invoke(scenario.function, *scenario.arguments)
                finished = True

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await scenario.reached()
            scope.cancel()
        assert scope.cancelled_caught
    elif style == "timeout":
        outcome: list = []

        async def run() -> None:
            try:
                await program.invoke(scenario.function, *scenario.arguments, timeout=0.3)
            except VMError as error:
                outcome.append(error)

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await scenario.reached()
        assert len(outcome) == 1 and outcome[0].status == StatusCode.DEADLINE_EXCEEDED
    else:
        if backend_name != "asyncio":
            pytest.skip("asyncio task cancellation")
        import asyncio

        task = asyncio.get_running_loop().create_task(
            program.invoke(scenario.function, *scenario.arguments))
        await scenario.reached()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not finished


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("point", sorted(SCENARIOS))
async def test_cancel_at_every_suspension_point(point, style, compile_mlir, anyio_backend_name):
    frames_before = live_vm_frames()
    scenario = SCENARIOS[point](compile_mlir)
    await cancel_at(scenario, style, anyio_backend_name)
    await scenario.after_cancel()
    assert live_vm_frames() == frames_before, "cancelled frames are still alive"
    await scenario.still_usable()
    assert live_vm_frames() == frames_before


async def test_cancelled_invocation_does_not_disturb_its_neighbours(compile_mlir):
    """Cancel one of several interleaved invocations of one context: the
    others finish with the right answers."""
    program = asyncvm.load(compile_mlir("vm_yield.mlir", mode="vm"))
    results = {}

    async def run(tag, n):
        results[tag] = await program.invoke("yield_sum", n)

    async with anyio.create_task_group() as group:
        for n in (50, 500, 5000):
            group.start_soon(run, n, n)
        with anyio.move_on_after(0.01) as scope:
            await program.invoke("yield_sum", 10**9)
        assert scope.cancelled_caught
    assert results == {n: (n * (n - 1) // 2, n) for n in (50, 500, 5000)}
