"""Devices and their queues.

A :class:`Device` answers the queries compiled programs make, allocates
buffers and runs queue operations. Every queue operation carries a wait
fence and a signal fence: the work starts once the waits are reached and
the signal fence is signalled when it is done — or failed with the work's
error, which then reaches whoever waits on it and nobody else.

``local-sync`` runs the work inline, on the thread that submits it or that
signals its last wait; on an event loop's thread, work still running after
the device's ``time_slice`` pauses and goes on in later slices of that loop
(:class:`_Slices`), so a long dispatch never freezes the loop.
``local-task`` runs it on a pool of worker threads (``workers`` of them,
one per core by default); the worker that finishes
signals the fence, which wakes waiting coroutines on their own event loops.
A dispatch's workgroups are split across a second pool only while some queue
worker is idle: when every worker already runs a queue operation the cores
are busy, and splitting would only add hand-offs. Operations with no work to
do (alloca, dealloca, an execute without a command buffer) whose wait is
already reached signal inline, on the submitting thread, instead of costing a
trip through the pool; with a wait still pending they go to a worker like any
other operation. So does a short execution: a command buffer whose latest
execution took at most the device's ``inline_limit`` of processor time (50
µs by default), submitted with its wait reached, runs inline as on
``local-sync`` — a trip to a worker and back to the waiting event loop
costs more than the work. The first execution of a command buffer goes to
a worker (its cost is not known yet), and so does the next one after an
execution that took longer.

Work submitted by an invocation carries its cancellation token
(:func:`asyncvm.vm.current_cancellation`): once the invocation is cancelled
or passes its deadline, its dispatches stop at their next check and the
operation's signal fence fails with the token's error; an operation not
started yet does not start.

A device may be given a ``memory_limit``: the most bytes of its allocations
(:meth:`Device.allocate`, and so ``queue_alloca``) alive at once, as its
:attr:`Device.statistics` count them. An allocation past it fails with
VMError RESOURCE_EXHAUSTED naming the numbers; nothing else is affected, and
the memory is available again once the buffers holding it are released.
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import itertools
import math
import numbers
import os
import threading
import time
from typing import Callable, Iterator

import numpy

from asyncvm.vm import (DEFAULT_TIME_SLICE, Budget, CancellationToken, StatusCode, VMError,
                        active_tracer, address_of, current_cancellation)

from ._allocator_statistics import AllocatorSnapshot, AllocatorStatistics
from ._buffer import Buffer
from ._command_buffer import CommandBuffer
from ._executable import ExecutableLoaders, run_in_order
from ._fence import Fence
from ._native_library import workgroup_team
from ._native_loaders import native_loaders
from ._queue_workers import QueueWorkers
from ._wakeup import loop_scheduler

DRIVERS = ("local-sync", "local-task")

SLICES_PER_WORKER = 4
"""How finely ``Device.for_each`` cuts a parallel dispatch, per worker."""

DEFAULT_INLINE_LIMIT = 50e-6
"""``Device.inline_limit`` of a new ``local-task`` device, in seconds: below
what handing an operation to a worker and waking its event loop afterwards
costs on common machines (tens of microseconds each way)."""


class Device:
    """A local CPU device: ``local-sync`` or ``local-task``.

    ``loaders`` are the executable formats it can load; by default the HAL's
    own native formats (:func:`~asyncvm.hal.native_loaders`). The device
    owns the table it is given. ``memory_limit`` (a positive int of bytes,
    None for no limit) bounds the live bytes of its allocations (see
    :meth:`allocate`). Raises VMError NOT_FOUND for an unknown driver,
    INVALID_ARGUMENT for a bad limit.
    """

    def __init__(self, driver: str = "local-sync", *, workers: int | None = None,
                 loaders: ExecutableLoaders | None = None,
                 memory_limit: int | None = None) -> None:
        if driver not in DRIVERS:
            raise VMError(StatusCode.NOT_FOUND,
                          f"unknown HAL driver {driver!r} (available: {', '.join(DRIVERS)})")
        statistics = AllocatorStatistics(memory_limit, f"device {driver}")
        self.driver = driver
        self.identifier = driver
        self.loaders = loaders if loaders is not None else native_loaders()
        self.workers = 1
        self._queue_pool = self._workgroup_pool = self._team = None
        self._running = 0  # queue operations running on local-task workers now
        self._running_lock = threading.Lock()
        self._helped = _HelperTime()
        self._allocator_statistics = statistics
        # How long local-sync work runs on an event loop's thread before it
        # lets the loop run (see _Slices).
        self.time_slice = DEFAULT_TIME_SLICE
        # Called as dispatch_hook(executable, ordinal, state) in place of each
        # dispatch of the command buffers this device executes (see
        # CommandBuffer.execute); None runs them directly. Set by instruments.
        self.dispatch_hook: Callable | None = None
        self._inline_limit = 0.0  # see inline_limit
        if driver == "local-task":
            self._inline_limit = DEFAULT_INLINE_LIMIT
            self.workers = workers or os.cpu_count() or 1
            # Queue work and workgroups use separate pools, so a queue operation
            # waiting for its workgroups can never starve them of threads.
            self._queue_pool = QueueWorkers(self.workers, "asyncvm-queue")
            self._workgroup_pool = concurrent.futures.ThreadPoolExecutor(
                self.workers, thread_name_prefix="asyncvm-workgroup")
            # Native threads for llvm-cpu dispatches (None without the C extension).
            self._team = workgroup_team(self.workers - 1) if self.workers > 1 else None
        # Replay plans run their dispatches in C, past for_each: not for a
        # subclass that overrides for_each to see every dispatch.
        self._plans_spread = type(self).for_each is Device.for_each

    def for_each(self, count: int, body: Callable[[int, int], None]) -> None:
        """Runs ``body(first, end)`` over slices of ``range(count)``, in parallel
        on local-task while a queue worker is idle (on this thread alone
        otherwise); returns when all are done, raising the first failure.

        In parallel, the range is cut into up to ``SLICES_PER_WORKER`` slices
        per worker, and this thread and the helpers it wakes each claim the
        next unclaimed slice until none is left: a thread that the system
        delays (two cores shared with other work) then holds up only its
        current slice, not a fixed half of the dispatch. A ``body`` with a
        ``spread_on`` that is not None (a native dispatch's, see
        hal/_native_library.py) runs instead as ``spread_on(team)`` on the
        device's native workgroup team when it has one: the workgroups one
        by one on this thread and the team's, with no Python thread woken.
        """
        if self._workgroup_pool is None or count < 2 or self.workers < 2 \
                or self._running >= self.workers:
            if count:
                body(0, count)
            return
        if self._team is not None:
            spread_on = getattr(body, "spread_on", None)
            if spread_on is not None:
                self._helped.seconds += spread_on(self._team)
                return
        slices = min(self.workers * SLICES_PER_WORKER, count)
        bounds = [count * i // slices for i in range(slices + 1)]
        claim = itertools.count().__next__  # atomic under the GIL
        failures: list[BaseException] = []
        helper_seconds: list[float] = []

        def work() -> None:
            while not failures:
                index = claim()
                if index >= slices:
                    return
                try:
                    body(bounds[index], bounds[index + 1])
                except BaseException as error:  # the first failure is raised below
                    failures.append(error)

        def helped() -> None:
            began = time.thread_time()
            work()
            helper_seconds.append(time.thread_time() - began)

        helpers = [self._workgroup_pool.submit(helped)
                   for _ in range(min(self.workers, slices) - 1)]
        work()
        for helper in helpers:
            helper.result()
        # The helpers' processor time belongs to the execution that called
        # this (see _Execution): with its own, what it would cost inline.
        self._helped.seconds += sum(helper_seconds)
        if failures:
            error = failures[0]
            failures.clear()  # no cycle: this frame -> the list -> the error -> its traceback
            try:
                raise error
            finally:
                del error

    @property
    def inline_limit(self) -> float:
        """On ``local-task``: an execution whose command buffer's latest
        execution took at most this many seconds of processor time runs
        inline, on the submitting thread, when its wait is already reached
        (see the module's docstring). 0 sends every execution to a worker;
        ``DEFAULT_INLINE_LIMIT`` on a new local-task device. Setting it is
        VMError INVALID_ARGUMENT unless it is a real number, not negative.
        No effect on ``local-sync``, which runs everything inline."""
        return self._inline_limit

    @inline_limit.setter
    def inline_limit(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) \
                or not seconds >= 0:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"inline_limit must be a number of seconds, not negative "
                          f"(got {seconds!r})")
        self._inline_limit = float(seconds)

    # -- queries ---------------------------------------------------------------------

    def query_i64(self, category: str, key: str) -> tuple[bool, int]:
        """(found, value) for a device query, as ``hal.device.query.i64`` asks."""
        if category == "hal.device.id":
            return True, int(fnmatch.fnmatchcase(self.identifier, key))
        if category == "hal.executable.format":
            return True, int(key in self.loaders)
        if category == "hal.device" and key == "concurrency":
            return True, 1
        if category == "hal.dispatch" and key == "concurrency":
            return True, 1
        return False, 0

    # -- resources ---------------------------------------------------------------------

    def allocate(self, length: int, memory_type: int = 0, usage: int = 0) -> Buffer:
        """A new buffer (uninitialized, as in IREE), owned by the caller and
        counted in :attr:`statistics` until its memory is released. Does not
        suspend. VMError RESOURCE_EXHAUSTED if it would hold more than the
        device's memory limit (nothing is allocated then) or the host cannot
        provide it.

        This is the one path that counts: ``hal.allocator.allocate``,
        ``hal.device.queue.alloca`` and the parameter loads that copy go
        through it. Memory the device does not allocate is not counted nor
        limited: imported memory (``hal.allocator.import``: module rodata,
        ``vm.buffer``), numpy inputs and the host copies made of them
        (unaligned, packed or protected arrays, and the private copy a
        dispatch binding a protected input makes), ``vm.buffer.alloc`` and
        the temporaries of queue updates.
        """
        block, start = self._allocator_statistics.allocate(length)
        return Buffer.over_block(block, start, length, memory_type, usage)

    @property
    def memory_limit(self) -> int | None:
        """The most bytes of allocations alive at once (None: no limit)."""
        return self._allocator_statistics.limit

    @property
    def statistics(self) -> AllocatorSnapshot:
        """A snapshot of what this device allocated and what is still alive."""
        return self._allocator_statistics.snapshot()

    def create_executable(self, format_name: str, data: bytes, constants=()):
        return self.loaders.load(format_name, data, tuple(constants))

    # -- queue ----------------------------------------------------------------------------

    def submit(self, wait: Fence | None, signal: Fence | None,
               work: Callable[[], None] | None) -> None:
        """Runs ``work`` once ``wait`` is reached, then signals ``signal``.

        A failed wait or failing work fails ``signal`` (the error is not
        raised here: it travels through the fence). ``work`` None means there
        is nothing to do but order the fences.
        """
        tracer = active_tracer()
        if tracer is None and (wait is None or wait.quietly_reached()) and (
                self._queue_pool is None or work is None
                or (work.__class__ is _Execution and work.runs_inline())):
            # Waits met, on local-sync, or on local-task with nothing to run
            # or a short execution: the work runs now, with no operation
            # object and no callback registered on the wait's semaphores.
            _run_and_signal(work, signal, None)
            return
        if tracer is not None:
            tracer.instant("queue.submit", "queue", device=self.identifier)
        operation = _QueueOperation(self, signal, work, tracer)
        if wait is None:
            operation.ready(None)
        else:
            wait.notify_when_reached(operation.ready)
        operation.registering = False

    def queue_alloca(self, wait, signal, length: int, memory_type: int, usage: int) -> Buffer:
        """A new buffer (see :meth:`allocate`), allocated at once; ``signal``
        is signalled once ``wait`` is reached. An allocation that fails
        (RESOURCE_EXHAUSTED past the memory limit) fails ``signal`` with that
        error at once, so its waiters see it, and raises it, as IREE's
        queue_alloca returns an allocation failure: there is no buffer to
        return."""
        try:
            buffer = self.allocate(length, memory_type, usage)
        except VMError as error:
            if signal is not None:  # its own copy: the raised error gets a backtrace
                signal.fail(VMError(error.status, error.message))
            raise
        self.submit(wait, signal, None)
        return buffer

    def queue_dealloca(self, wait, signal, buffer: Buffer) -> None:
        self.submit(wait, signal, None)

    def queue_execute(self, wait, signal, command_buffer: CommandBuffer | None,
                      binding_table=None) -> None:
        if command_buffer is None:
            self.submit(wait, signal, None)
            return
        if not command_buffer.finalized:
            raise VMError(StatusCode.FAILED_PRECONDITION,
                          "command buffer must be finalized before it is executed")
        self.submit(wait, signal,
                    _Execution(command_buffer, binding_table, self, current_cancellation()))

    def __repr__(self) -> str:
        return f"<hal.device {self.identifier}>"


def _run_and_signal(work: Callable[[], None] | None, signal: Fence | None, failure) -> None:
    """Runs ``work`` (unless ``failure``: the wait failed), then signals
    ``signal``, or fails it with the failure or the work's error. Work that
    ran past its time slice and returned its rest (see :class:`_Execution`)
    goes on in later slices of this thread's event loop (see
    :class:`_Slices`), which signal when it ends."""
    if failure is None and work is not None:
        try:
            rest = work()
        except Exception as error:  # the work's failure belongs to its fence
            failure = _as_failure(error)
        else:
            if rest is not None:
                rest.continue_then_signal(signal)
                return
    if signal is not None:
        if failure is None:
            signal.signal()
        else:
            signal.fail(failure)


def _as_failure(error: Exception) -> VMError:
    """The work's error as its fence's failure: a new VMError without the
    Python traceback, which would keep the work's frames -- and the buffers
    they held -- alive in a reference cycle."""
    if isinstance(error, VMError):
        return VMError(error.status, error.message, backtrace=error.backtrace)
    return VMError(StatusCode.INTERNAL, f"{type(error).__name__}: {error}")


class _HelperTime(threading.local):
    """Per thread: the processor time that helpers spent for the thread's
    dispatches, since the thread last set it to 0 (a queue worker does,
    before each execution it runs): ``seconds`` from ``Device.for_each``,
    and ``nanoseconds[0]`` from replay plans spread over the workgroup team
    in C, which add to it at ``address``."""

    seconds = 0.0

    def __init__(self) -> None:
        self.nanoseconds = numpy.zeros(1, numpy.uint64)
        self.address = address_of(self.nanoseconds)


class _Execution:
    """The work of ``queue_execute``: a command buffer replayed with a binding
    table on a device, for an invocation (``token``: its cancellation, None
    outside one). A slotted object: smaller than a closure over the same.
    The device's ``dispatch_hook`` is read when it runs.

    Calling it runs the commands. On a local-task worker they run to the
    end, stopping only if the token is cancelled. On local-sync, and inline
    on local-task (see :meth:`runs_inline`), they run under a
    :class:`~asyncvm.vm.Budget` of one ``time_slice``: what is left when it
    passes comes back as a :class:`_Slices` for the caller to go on with;
    None means everything ran. On local-task the command buffer's
    ``run_seconds`` records how long it took."""

    __slots__ = ("command_buffer", "binding_table", "device", "token", "inline")

    def __init__(self, command_buffer: CommandBuffer, binding_table, device: Device,
                 token: CancellationToken | None) -> None:
        self.command_buffer = command_buffer
        self.binding_table = binding_table
        self.device = device
        self.token = token
        self.inline = False

    def runs_inline(self) -> bool:
        """On local-task: whether its command buffer's latest execution took
        at most the device's ``inline_limit`` (then, its wait reached, the
        caller runs it now, on its own thread); marks it so when it does."""
        self.inline = self.command_buffer.run_seconds <= self.device._inline_limit
        return self.inline

    def __call__(self) -> "_Slices | None":
        device = self.device
        token = self.token
        command_buffer = self.command_buffer
        if token is not None and token.error is not None:
            # Cancelled while it waited its turn: none of it runs.
            token.check()
        if device._queue_pool is not None and not self.inline:
            # A worker thread: never pauses. Measured in processor time (this
            # thread's and its workgroup helpers'), which leaves out the time
            # spent waiting for the interpreter lock or preempted: what it
            # would cost on the submitting thread.
            helped = device._helped
            helped.seconds = 0.0
            helped.nanoseconds[0] = 0
            # A replay plan spreads over the team while some queue worker is
            # idle (as for_each does), else runs on this thread alone. With
            # several workers but no team (its extension missing), for_each's
            # Python threads spread the dispatches instead.
            spread = None
            if device._plans_spread and (device._team is not None or device.workers < 2):
                spread = (device._team if device._running < device.workers else None,
                          helped.address)
            began = time.thread_time()
            command_buffer.execute(self.binding_table, device.for_each, device.dispatch_hook,
                                   None if token is None else Budget(token), spread)
            command_buffer.run_seconds = (time.thread_time() - began + helped.seconds
                                          + int(helped.nanoseconds[0]) / 1e9)
            return None
        inline = self.inline
        if inline:
            began = time.thread_time()
        budget = Budget(token, time.perf_counter() + device.time_slice)
        # Every dispatch's workgroups run in order on this thread.
        rest = command_buffer.execute(self.binding_table, run_in_order,
                                      device.dispatch_hook, budget)
        if rest is not None:
            try:
                # A dispatch may hand back its rest before it ran at all
                # (VMVX): the first slice is still this one's.
                next(rest)
            except StopIteration:
                rest = None
        if inline:
            # This thread's processor time, as on a worker. Paused: it did
            # not end in one time slice, so the next goes to a worker (which
            # measures it again).
            command_buffer.run_seconds = (time.thread_time() - began if rest is None
                                          else math.inf)
        if rest is None:
            return None
        return _Slices(rest, budget, device.time_slice)


class _Slices:
    """The rest of a local-sync queue operation that ran past its time slice.

    ``continue_then_signal(signal)`` goes on with it in later slices, one
    callback on this thread's event loop each (``time_slice`` seconds or
    one workgroup more), so the loop's other tasks — timers, I/O, the
    invocation's own deadline — run in between; when it ends, ``signal`` is
    signalled, or failed with its error. Once the invocation's token is
    cancelled the next slice drops the rest and fails ``signal`` with the
    token's error. Without an event loop on this thread there is nobody to
    return to: the rest runs at once. A callback never raises.
    """

    __slots__ = ("rest", "budget", "time_slice", "signal", "schedule")

    def __init__(self, rest: Iterator[None], budget: Budget, time_slice: float) -> None:
        self.rest = rest
        self.budget = budget
        self.time_slice = time_slice
        self.signal: Fence | None = None
        self.schedule = None

    def continue_then_signal(self, signal: Fence | None) -> None:
        self.signal = signal
        self.schedule = loop_scheduler()
        if self.schedule is None:
            self.budget.end = math.inf
            self.step()
            return
        try:
            self.schedule(self.step)  # the loop runs first: this slice is spent
        except RuntimeError:  # the loop is closing
            self._end(VMError(StatusCode.CANCELLED,
                              "the event loop closed while a queue operation was running"))

    def step(self) -> None:
        """Runs one slice, then schedules the next or signals."""
        rest, budget = self.rest, self.budget
        try:
            if self.schedule is not None:
                budget.end = time.perf_counter() + self.time_slice
            while True:
                next(rest)  # a dispatch raises its token's error itself on resuming
                if self.schedule is not None:
                    break
            budget.check()  # in case the rest does not check: it stops here
        except StopIteration:
            self._end(None)
            return
        except Exception as error:  # the work's failure belongs to its fence
            self._end(_as_failure(error))
            return
        try:
            self.schedule(self.step)
        except RuntimeError:  # the loop is closing: nobody is left to go on
            self._end(VMError(StatusCode.CANCELLED,
                              "the event loop closed while a queue operation was running"))

    def _end(self, failure: VMError | None) -> None:
        rest, self.rest = self.rest, None
        try:
            rest.close()  # releases what a paused dispatch held
        except Exception:  # a dispatch that fails while closing has nothing left to report
            pass
        signal, self.signal = self.signal, None
        if signal is None:
            return
        try:
            if failure is None:
                signal.signal()
            else:
                signal.fail(failure)
        except VMError:  # failed meanwhile by somebody else: that failure stands
            pass


class _QueueOperation:
    """One queue operation between its submission and its signal.

    ``ready(failure)`` is called once its wait is reached (or failed), on
    whichever thread did that. ``local-sync`` runs it there; ``local-task``
    hands it to a queue worker, except an operation with no work whose wait
    was reached while it was being submitted, which signals at once. A small
    object rather than closures: a suspended invocation's pending operations
    are part of what it costs.
    """

    __slots__ = ("device", "signal", "work", "tracer", "registering", "failure")

    def __init__(self, device: Device, signal: Fence | None, work: Callable[[], None] | None,
                 tracer) -> None:
        self.device = device
        self.signal = signal
        self.work = work
        self.tracer = tracer
        self.registering = True  # while notify_when_reached may call back at once
        self.failure = None  # the wait's failure, for the worker

    def ready(self, failure) -> None:
        device = self.device
        if device._queue_pool is None or (self.work is None and self.registering):
            self.run(failure)
        else:
            # The plain function and the operation itself: a queued
            # operation makes no bound method.
            self.failure = failure
            device._queue_pool.submit(_QueueOperation.run_counted, self)

    def run_counted(self) -> None:
        """:meth:`run` on a queue worker, counted as a running operation."""
        device = self.device
        lock = device._running_lock
        lock.acquire()  # not ``with``: once per operation, and half the cost
        try:
            device._running += 1
        finally:
            lock.release()
        try:
            failure, self.failure = self.failure, None
            self.run(failure)
        finally:
            lock.acquire()
            try:
                device._running -= 1
            finally:
                lock.release()

    def run(self, failure) -> None:
        """Does the work (unless the wait failed), then signals or fails ``signal``."""
        work, tracer = self.work, self.tracer
        self.work = None  # what the work holds is released as soon as it is done
        if tracer is not None and work is not None and failure is None:
            work = _TracedWork(work, tracer, self.device.identifier)
        _run_and_signal(work, self.signal, failure)


class _TracedWork:
    """Queue work that records itself in a trace (``queue.work``)."""

    __slots__ = ("work", "tracer", "device")

    def __init__(self, work: Callable[[], None], tracer, device: str) -> None:
        self.work, self.tracer, self.device = work, tracer, device

    def __call__(self):
        began = self.tracer.now()
        failed = True
        try:
            rest = self.work()
            failed = False
            return rest
        finally:
            self.tracer.complete("queue.work", "queue", began, device=self.device, failed=failed)
