"""HAL conformance: queue operations wait on fences, run in order, signal,
and carry failures to their signal fences only."""

from __future__ import annotations

import threading
import time

import anyio
import numpy
import pytest

import asyncvm

from asyncvm.vm import StatusCode, VMError
from asyncvm.hal import Buffer, CommandBuffer, Device, Fence, Semaphore
from asyncvm.hal._command_buffer import BufferReference
from asyncvm.hal import native_loaders

pytestmark = pytest.mark.anyio


def fence() -> Fence:
    return Fence.at(Semaphore(), 1)


@pytest.fixture(params=["local-sync", "local-task"])
def device(request):
    return Device(request.param, workers=2)


async def test_work_waits_for_its_fence_and_then_signals(device):
    wait, signal = fence(), fence()
    target = Buffer.allocate(8)
    commands = CommandBuffer()
    commands.fill(BufferReference(target, 0, 0, 8), b"\x07")
    commands.finalize()
    device.queue_execute(wait, signal, commands)
    await anyio.sleep(0.01)
    assert not target.bytes_view().any() and signal.query() == StatusCode.DEFERRED

    async def release():
        await anyio.sleep(0.01)
        wait.signal()

    async with anyio.create_task_group() as group:
        group.start_soon(release)
        await signal.wait()
    assert target.bytes_view().tolist() == [7] * 8


async def test_chained_submissions_run_in_fence_order(device):
    first_wait, middle, last = fence(), fence(), fence()
    buffer = Buffer.allocate(4)
    order = []
    device.submit(middle, last, lambda: order.append("second"))
    device.submit(first_wait, middle, lambda: order.append("first"))
    first_wait.signal()
    await last.wait()
    assert order == ["first", "second"]
    assert len(buffer) == 4


async def test_failed_work_fails_only_its_signal_fence(device):
    bad_signal, good_signal = fence(), fence()

    def broken():
        raise VMError(StatusCode.OUT_OF_RANGE, "kernel read past its binding")

    device.submit(None, bad_signal, broken)
    device.submit(None, good_signal, lambda: None)
    await good_signal.wait()
    with pytest.raises(VMError) as caught:
        await bad_signal.wait()
    assert caught.value.status == StatusCode.OUT_OF_RANGE
    # Work waiting on the failed fence is not run and its fence fails too.
    ran = []
    downstream = fence()
    device.submit(bad_signal, downstream, lambda: ran.append(True))
    with pytest.raises(VMError):
        await downstream.wait()
    assert ran == []


def test_indirect_bindings_come_from_the_table():
    source = Buffer.wrap(numpy.arange(8, dtype=numpy.uint8))
    target = Buffer.allocate(8)
    commands = CommandBuffer()
    commands.copy(BufferReference(None, 0, 2, 4), BufferReference(None, 1, 0, 4), 4)
    commands.finalize()
    commands.execute([(source, 0, 8), (target, 0, 8)])
    assert target.bytes_view()[:4].tolist() == [2, 3, 4, 5]
    with pytest.raises(VMError) as caught:
        commands.execute([(source, 0, 8)])
    assert caught.value.status == StatusCode.OUT_OF_RANGE
    with pytest.raises(VMError) as caught:
        commands.fill(BufferReference(target, 0, 0, 8), b"\0")
    assert caught.value.status == StatusCode.FAILED_PRECONDITION


def test_unknown_executable_format_is_named():
    with pytest.raises(VMError) as caught:
        native_loaders().load("embedded-elf-riscv", b"")
    assert caught.value.status == StatusCode.NOT_FOUND
    assert "embedded-elf-riscv" in str(caught.value)


def test_local_task_spreads_workgroups_over_workers():
    device = Device("local-task", workers=2)
    seen = set()
    lock = threading.Lock()

    def body(first, end):
        with lock:
            seen.add(threading.get_ident())
        time.sleep(0.005)  # slices are claimed as threads come free: keep this one busy

    device.for_each(64, body)
    assert len(seen) == 2
    covered = []

    def record(first, end):
        with lock:
            covered.extend(range(first, end))

    device.for_each(37, record)
    assert sorted(covered) == list(range(37))  # every workgroup once

    def failing(first, end):
        if first > 0:
            raise VMError(StatusCode.INTERNAL, "workgroup failed")

    with pytest.raises(VMError) as caught:
        device.for_each(8, failing)
    assert "workgroup failed" in str(caught.value)


async def test_operations_without_work_signal_once_their_wait_is_reached(device):
    # alloca, dealloca and barrier have nothing to run: with the wait reached
    # (or none) they signal before returning, on local-task too.
    signal = fence()
    buffer = device.queue_alloca(None, signal, 16, 0, 0)
    assert len(buffer) == 16 and signal.query() == StatusCode.OK
    after = fence()
    device.queue_dealloca(signal, after, buffer)
    assert after.query() == StatusCode.OK
    # A pending wait still orders them: nothing is signalled before it.
    wait, barrier = fence(), fence()
    device.queue_execute(wait, barrier, None)
    await anyio.sleep(0.01)
    assert barrier.query() == StatusCode.DEFERRED
    wait.signal()
    with anyio.fail_after(10):
        await barrier.wait()
    # A failed wait fails them, at once or later.
    failed, downstream, later_wait, later = fence(), fence(), fence(), fence()
    failed.fail(VMError(StatusCode.ABORTED, "upstream work failed"))
    device.queue_execute(failed, downstream, None)
    device.queue_dealloca(later_wait, later, buffer)
    later_wait.fail(VMError(StatusCode.ABORTED, "upstream work failed later"))
    for what in (downstream, later):
        with anyio.fail_after(10), pytest.raises(VMError) as caught:
            await what.wait()
        assert caught.value.status == StatusCode.ABORTED


def run_on_local_task(device, works):
    """Submits each of ``works`` as a queue operation; waits until all are done."""
    done = threading.Semaphore(0)
    for work in works:
        signal = fence()
        device.submit(None, signal, work)
        signal.notify_when_reached(lambda failure: done.release())
    for _ in works:
        assert done.acquire(timeout=30)


def test_workgroups_split_only_while_a_queue_worker_is_idle():
    device = Device("local-task", workers=2)
    lock = threading.Lock()

    def dispatch(threads: set):
        def body(first, end):
            with lock:
                threads.add(threading.get_ident())
            time.sleep(0.002)  # slices go to threads as they come free: stay busy a while
        device.for_each(64, body)

    # One operation running: the other worker is idle, so the dispatch splits.
    alone = set()
    run_on_local_task(device, [lambda: dispatch(alone)])
    assert len(alone) == 2
    # Both workers running operations: each dispatch stays on its own thread.
    both_running = threading.Barrier(2, timeout=30)
    both_dispatched = threading.Barrier(2, timeout=30)
    first, second = set(), set()

    def busy(threads):
        both_running.wait()
        dispatch(threads)
        threads.add(threading.get_ident())  # the queue worker itself
        both_dispatched.wait()  # neither finishes while the other dispatches

    run_on_local_task(device, [lambda: busy(first), lambda: busy(second)])
    assert len(first) == 1 and len(second) == 1 and first != second


def test_device_queries():
    device = asyncvm.create_device()
    assert device.query_i64("hal.device.id", "local*") == (True, 1)
    assert device.query_i64("hal.device.id", "cuda*") == (True, 0)
    assert device.query_i64("hal.executable.format", "vmvx-bytecode-fb") == (True, 1)
    assert device.query_i64("hal.executable.format", "embedded-elf-x86_64") == (True, 1)
    assert device.query_i64("hal.executable.format", "spirv-fb") == (True, 0)
    assert device.query_i64("nope", "nothing") == (False, 0)
    with pytest.raises(VMError) as caught:
        Device("vulkan")
    assert caught.value.status == StatusCode.NOT_FOUND


def test_the_hal_alone_loads_only_its_native_formats():
    """VMVX is a higher floor: a bare HAL device does not know it until the
    assembler of the floors registers it."""
    assert Device().query_i64("hal.executable.format", "vmvx-bytecode-fb") == (True, 0)
    assert Device().loaders.formats() == ["embedded-elf-x86_64", "system-elf-x86_64"]


def test_indirect_dispatch_reads_its_workgroup_count_when_executed():
    class Recorder:
        format = "test"
        function_names = ["kernel"]

        def __init__(self):
            self.counts = []

        def dispatch(self, ordinal, state):
            self.counts.append(state.workgroup_count)

    executable = Recorder()
    counts = Buffer.wrap(numpy.array([2, 3, 1], dtype=numpy.uint32))
    commands = CommandBuffer()
    commands.dispatch(executable, 0, BufferReference(None, 0, 0, 12), (), [])
    commands.finalize()
    commands.execute([(counts, 0, 12)])
    counts.array("<u4", (3,))[0] = 5
    commands.execute([(counts, 0, 12)])
    assert executable.counts == [(2, 3, 1), (5, 3, 1)]
