"""A one-shot wakeup that any thread may trigger for a coroutine waiting on
its event loop.

``Wakeup()`` must be created inside a running event loop (asyncio or trio);
``wake()`` may then be called from any thread, any number of times (only the
first counts) and never blocks: from the loop's own thread it sets the event
directly, from another thread it asks the loop to (``call_soon_threadsafe`` /
``run_sync_soon``). ``await wait()`` suspends until woken; it is
cancellable. This is the one place where the HAL touches the event loop.
"""

from __future__ import annotations

import asyncio
import threading

import trio


class Wakeup:
    __slots__ = ("_thread", "_woken", "_future", "_loop", "_event", "_schedule")

    def __init__(self) -> None:
        self._thread = threading.get_ident()
        self._woken = False
        self._future = None
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio: trio
            self._loop = None
            self._event = trio.Event()
            self._schedule = trio.lowlevel.current_trio_token().run_sync_soon
        else:  # one future, made when somebody waits (no Event, no deque of waiters)
            self._event = None
            self._schedule = self._loop.call_soon_threadsafe

    def wake(self) -> None:
        """Wakes the waiter; safe from any thread; idempotent; never blocks."""
        if self._woken:
            return
        self._woken = True
        if threading.get_ident() == self._thread:
            self._set()
        else:
            try:
                self._schedule(self._set)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                pass

    def _set(self) -> None:
        """On the loop's thread: completes the wait."""
        if self._event is not None:
            self._event.set()
        elif self._future is not None and not self._future.done():
            self._future.set_result(None)

    def wake_with(self, _failure: object = None) -> None:
        """:meth:`wake`, in the shape of a semaphore callback."""
        self.wake()

    __call__ = wake_with
    """A wakeup is itself a semaphore callback: a waiter list holds it, not
    a bound method made for each wait."""

    @property
    def woken(self) -> bool:
        return self._woken

    async def wait(self) -> None:
        """Suspends until :meth:`wake`; returns at once if already woken.
        One waiter per wakeup; cancellable."""
        if self._event is not None:
            await self._event.wait()
            return
        if self._woken:
            return
        self._future = self._loop.create_future()
        try:
            await self._future
        finally:
            self._future = None
