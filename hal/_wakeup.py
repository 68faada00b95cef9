"""A one-shot wakeup that any thread may trigger for a coroutine waiting on
its event loop.

``Wakeup()`` must be created inside a running event loop (asyncio or trio);
``wake()`` may then be called from any thread, any number of times (only the
first counts) and never blocks: from the loop's own thread it sets the event
directly, from another thread it asks the loop to (``call_soon_threadsafe`` /
``run_sync_soon``). ``await wait()`` suspends until woken; it is
cancellable. :func:`loop_scheduler` gives the running loop's "call soon"
for work the HAL continues in later slices of that loop. This is the one
place where the HAL touches the event loop.
"""

from __future__ import annotations

import asyncio
import threading

import trio

from ._failures import reraise


class Wakeup:
    """See the module docstring. On asyncio the waiter waits on one future,
    made when somebody waits; on trio the waiting task is parked with
    ``trio.lowlevel.wait_task_rescheduled`` and rescheduled when woken (no
    Event and parking lot per wakeup)."""

    __slots__ = ("_thread", "_woken", "_future", "_loop", "_task", "_trio_token", "_failure",
                 "_result")

    def __init__(self) -> None:
        # A suspended call keeps its wakeup: every field here is shared or
        # small (the thread id is one int object per thread, the loop and
        # the trio token the run's own; no bound method is made until a
        # wake from another thread needs one).
        ident = threading.get_ident()
        self._thread = _THREAD_IDS.get(ident) or _THREAD_IDS.setdefault(ident, ident)
        self._woken = False
        self._future = None  # asyncio: the future a waiter awaits
        self._task = None  # trio: the parked task
        self._failure = None  # set by a semaphore that failed instead of reaching its value
        self._result = None  # what outcome() gives once woken without a failure
        self._loop = asyncio._get_running_loop()
        self._trio_token = trio.lowlevel.current_trio_token() if self._loop is None else None

    def wake(self) -> None:
        """Wakes the waiter; safe from any thread; idempotent; never blocks."""
        if self._woken:
            return
        self._woken = True
        if threading.get_ident() == self._thread:
            self._set()
        else:
            try:
                if self._loop is not None:
                    self._loop.call_soon_threadsafe(self._set)
                else:
                    self._trio_token.run_sync_soon(self._set)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                pass

    def _set(self) -> None:
        """On the loop's thread: completes the wait."""
        if self._loop is None:
            task, self._task = self._task, None
            if task is not None:
                trio.lowlevel.reschedule(task)
        elif self._future is not None and not self._future.done():
            if self._failure is not None:
                self._future.set_exception(reraise(self._failure))
            else:
                self._future.set_result(self._result)

    def wake_with(self, failure: BaseException | None = None) -> None:
        """:meth:`wake`, in the shape of a semaphore callback: a failure given
        is what :meth:`outcome` raises."""
        if failure is not None and not self._woken:
            self._failure = failure
        self.wake()

    __call__ = wake_with
    """A wakeup is itself a semaphore callback: a waiter list holds it, not
    a bound method made for each wait."""

    @property
    def woken(self) -> bool:
        return self._woken

    def outcome(self, result: object):
        """An awaitable of ``result`` once woken, or of the failure the wake
        carried (raised). On asyncio it is a bare future, the smallest thing
        a suspended call can wait on; on trio one coroutine. Cancelling the
        wait cancels only this waiter. One waiter per wakeup."""
        self._result = result
        if self._loop is None:
            return self._trio_outcome()
        future = self._future = self._loop.create_future()
        if self._woken:  # woken before anybody waited
            self._set()
        return future

    async def _trio_outcome(self):
        await self._trio_park()
        if self._failure is not None:
            raise reraise(self._failure)
        return self._result

    def _trio_park(self):
        """The awaitable that parks the current trio task until woken (a
        checkpoint if already woken); cancellable. trio's own coroutine,
        awaited directly: a parked task keeps no frame of ours for it."""
        if self._woken:
            return trio.lowlevel.checkpoint()
        self._task = trio.lowlevel.current_task()
        return trio.lowlevel.wait_task_rescheduled(self._abort)

    def _abort(self, _raise_cancel) -> trio.lowlevel.Abort:
        """A cancelled trio park: forget the task (a later wake does nothing)."""
        self._task = None
        return trio.lowlevel.Abort.SUCCEEDED

    async def wait(self) -> None:
        """Suspends until :meth:`wake`; returns at once if already woken.
        One waiter per wakeup; cancellable."""
        if self._loop is None:
            await self._trio_park()
            return
        if self._woken:
            return
        self._future = self._loop.create_future()
        try:
            await self._future
        finally:
            self._future = None


_THREAD_IDS: dict[int, int] = {}
"""Thread id -> one int object for it, shared by the wakeups made there."""


def loop_scheduler():
    """``schedule(callback)`` running ``callback()`` soon on the event loop
    running on this thread (asyncio's ``call_soon``, trio's
    ``run_sync_soon``), after the tasks ready now; None when no loop runs on
    this thread. Does not suspend."""
    loop = asyncio._get_running_loop()
    if loop is not None:
        return loop.call_soon
    try:
        return trio.lowlevel.current_trio_token().run_sync_soon
    except RuntimeError:  # no trio run on this thread either
        return None
