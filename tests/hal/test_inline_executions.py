"""Short executions run inline on local-task (hal/_device.py).

On a program compiled by iree-compile (VMVX and llvm-cpu) whose one
dispatch iterates each element as many times as an input says, with a
static shape so that its command buffer is memoized, on a ``local-task``
device, under both event loops:

* the first execution goes to a queue worker; once one took at most the
  device's ``inline_limit`` of processor time, the next ones run on the
  calling thread; every answer is bit for bit IREE's;
* ``inline_limit = 0`` keeps every execution on the workers;
* given a long job, the execution that starts inline runs under its time
  slice as on local-sync (other tasks on the loop run while it is paused),
  and the next one goes to a worker; once a short job has been measured
  there, executions come back inline;
* a deadline stops a long job that started inline; the call after it
  answers right;
* ``Device.for_each`` counts its helpers' processor time for the execution
  that called it, so a split dispatch is measured at its whole cost;
* ``inline_limit`` refuses what is not a number of seconds, not negative.
"""

from __future__ import annotations

import math
import threading
import time

import anyio
import numpy
import pytest

import asyncvm
from asyncvm.hal import DEFAULT_INLINE_LIMIT, CommandBuffer, Device
from asyncvm.vm import StatusCode, VMError

from _batch_model import LLVM_CPU
from _spin_program import spin_program

BUILDS = {
    # backend: (flags, elements, iterations of a long job: tens of milliseconds)
    "vmvx": ((), 64, 3000),
    "llvm-cpu": (LLVM_CPU, 1024, 50_000),
}


LIMIT = 0.002
"""The inline limit the tests set: far above a short job's execution (tens
of microseconds) and far below a long one's, so where each runs does not
depend on the machine's speed."""


@pytest.fixture(scope="module", params=sorted(BUILDS))
def build(request):
    return request.param


@pytest.fixture(scope="module")
def vmfb(build, compile_mlir, tmp_path_factory):
    flags, elements, _ = BUILDS[build]
    source = tmp_path_factory.mktemp("inline") / f"spin{elements}.mlir"
    source.write_text(spin_program(elements))
    return compile_mlir(source, *flags)


def job(build: str, iterations: int) -> list[numpy.ndarray]:
    _, elements, _ = BUILDS[build]
    random = numpy.random.default_rng(iterations)
    return [random.uniform(-4, 4, elements).astype(numpy.float32),
            numpy.full(elements, iterations, dtype=numpy.int32)]


@pytest.fixture(scope="module")
def iree_answer(vmfb):
    """``iree_answer(arguments)``: IREE's result of ``spin``, memoized."""
    pytest.importorskip("iree.runtime", reason="iree.runtime (iree-base-runtime) is not installed")
    from _iree_reference import iree_tensor_results

    memo = {}

    def answer(arguments):
        key = tuple(argument.tobytes() for argument in arguments)
        if key not in memo:
            memo[key] = numpy.array(iree_tensor_results(vmfb, "spin", arguments)[0], copy=True)
        return memo[key]

    return answer


@pytest.fixture
def execution_threads(monkeypatch) -> list:
    """The thread of every command buffer execution, in order."""
    threads = []
    execute = CommandBuffer.execute

    def recording_execute(self, *arguments, **keywords):
        threads.append(threading.get_ident())
        return execute(self, *arguments, **keywords)

    monkeypatch.setattr(CommandBuffer, "execute", recording_execute)
    return threads


def local_task(vmfb, limit: float = LIMIT) -> asyncvm.Program:
    program = asyncvm.load(vmfb, device="local-task")
    assert program.device.inline_limit == DEFAULT_INLINE_LIMIT
    program.device.inline_limit = limit
    return program


async def call(program, arguments, iree_answer, **keywords) -> None:
    (result,) = await program.invoke("spin", *arguments, **keywords)
    expected = iree_answer(arguments)
    assert result.dtype == expected.dtype and result.tobytes() == expected.tobytes()


def places(threads: list, loop_thread: int) -> list[str]:
    return ["inline" if thread == loop_thread else "worker" for thread in threads]


MOST_CALLS_BEFORE_INLINE = 3
"""The first execution goes to a worker; so may the second, when the first
included one-time work (a VMVX kernel's first run) past the limit."""


async def run_inline(program, arguments, iree_answer, threads: list) -> None:
    """Calls until an execution runs inline; then forgets where they ran."""
    for _ in range(MOST_CALLS_BEFORE_INLINE + 1):
        await call(program, arguments, iree_answer)
        if threads[-1] == threading.get_ident():
            threads.clear()
            return
    raise AssertionError(f"not inline after {MOST_CALLS_BEFORE_INLINE + 1} calls")


@pytest.mark.anyio
async def test_short_executions_run_inline_after_the_first(vmfb, build, iree_answer,
                                                           execution_threads):
    program = local_task(vmfb)
    for _ in range(6):
        await call(program, job(build, 1), iree_answer)
    where = places(execution_threads, threading.get_ident())
    on_workers = where.index("inline")
    assert 1 <= on_workers <= MOST_CALLS_BEFORE_INLINE
    assert where == ["worker"] * on_workers + ["inline"] * (6 - on_workers)


@pytest.mark.anyio
async def test_a_zero_limit_keeps_executions_on_the_workers(vmfb, build, iree_answer,
                                                            execution_threads):
    program = local_task(vmfb, limit=0)
    for _ in range(4):
        await call(program, job(build, 1), iree_answer)
    assert places(execution_threads, threading.get_ident()) == ["worker"] * 4


class Ticker:
    """A task that counts its turns on the event loop."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            await anyio.sleep(0)
            self.ticks += 1


@pytest.mark.anyio
async def test_a_long_job_sends_the_next_execution_to_a_worker(vmfb, build, iree_answer,
                                                               execution_threads):
    program = local_task(vmfb)
    short, long = job(build, 1), job(build, BUILDS[build][2])
    await run_inline(program, short, iree_answer, execution_threads)
    ticker = Ticker()
    async with anyio.create_task_group() as group:
        group.start_soon(ticker.run)
        await call(program, long, iree_answer)  # starts inline: the latest was short
        ticks = ticker.ticks
        group.cancel_scope.cancel()
    # It ran in time slices, the loop's other tasks between them.
    assert ticks >= 2
    for arguments in (long, short, short):
        await call(program, arguments, iree_answer)
    assert places(execution_threads, threading.get_ident()) == [
        "inline", "worker", "worker", "inline"]


@pytest.mark.anyio
async def test_a_deadline_stops_a_long_job_that_started_inline(vmfb, build, iree_answer,
                                                               execution_threads):
    program = local_task(vmfb)
    short = job(build, 1)
    await run_inline(program, short, iree_answer, execution_threads)
    began = time.perf_counter()
    with anyio.fail_after(60), pytest.raises(VMError) as caught:
        # A hundred times the long job: seconds, in workgroups of under one.
        await program.invoke("spin", *job(build, 100 * BUILDS[build][2]), timeout=0.2)
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
    assert time.perf_counter() - began < 30
    await call(program, short, iree_answer)  # on a worker: the latest never ended
    await call(program, short, iree_answer)
    assert places(execution_threads, threading.get_ident()) == ["inline", "worker", "inline"]


def burn(seconds: float) -> None:
    """Keeps this thread's processor busy for ``seconds``."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_for_each_counts_its_helpers_processor_time():
    device = Device("local-task", workers=2)
    calling_thread = threading.get_ident()
    helper_slices = []

    def body(first, end):
        burn(0.002)
        if threading.get_ident() != calling_thread:
            helper_slices.append((first, end))

    # On a thread of its own, as a queue worker runs it.
    counted = []

    def dispatch():
        nonlocal calling_thread
        calling_thread = threading.get_ident()
        device._helped.seconds = 0.0
        device.for_each(16, body)
        counted.append(device._helped.seconds)

    worker = threading.Thread(target=dispatch)
    worker.start()
    worker.join(60)
    # Each slice a helper ran burned 2 ms of its processor time; what the
    # calling thread counted covers them all.
    assert helper_slices, "no helper ran a slice"
    assert counted[0] >= 0.002 * len(helper_slices)
    # Another thread's count is its own.
    assert device._helped.seconds == 0.0


@pytest.mark.parametrize("value", [-1, -1e-9, math.nan, "0.001", None, True, [1]])
def test_inline_limit_refuses_what_is_not_seconds(value):
    device = Device("local-task")
    with pytest.raises(VMError) as caught:
        device.inline_limit = value
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "inline_limit" in str(caught.value)
    assert device.inline_limit == DEFAULT_INLINE_LIMIT


def test_inline_limit_takes_numbers_of_seconds():
    device = Device("local-task")
    for value in (0, 0.5, numpy.float32(0.25), math.inf):
        device.inline_limit = value
        assert device.inline_limit == float(value)
    assert Device("local-sync").inline_limit == 0.0
