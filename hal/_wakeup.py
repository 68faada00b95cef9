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
    __slots__ = ("_event", "_thread", "_schedule", "_woken")

    def __init__(self) -> None:
        self._thread = threading.get_ident()
        self._woken = False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio: trio
            self._event = trio.Event()
            self._schedule = trio.lowlevel.current_trio_token().run_sync_soon
        else:
            self._event = asyncio.Event()
            self._schedule = loop.call_soon_threadsafe

    def wake(self) -> None:
        """Wakes the waiter; safe from any thread; idempotent; never blocks."""
        if self._woken:
            return
        self._woken = True
        if threading.get_ident() == self._thread:
            self._event.set()
        else:
            try:
                self._schedule(self._event.set)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                pass

    def wake_with(self, _failure: object = None) -> None:
        """:meth:`wake`, in the shape of a semaphore callback."""
        self.wake()

    @property
    def woken(self) -> bool:
        return self._woken

    async def wait(self) -> None:
        """Suspends until :meth:`wake`; returns at once if already woken."""
        await self._event.wait()
