"""The worker threads of a ``local-task`` queue.

A first-in, first-out list of ``(function, argument)`` pairs and a fixed set
of daemon threads that run them. Unlike ``concurrent.futures``, a pending
item is one small tuple (no future, no condition variable per item): a
queue operation waiting for its turn costs almost nothing, and so does a
suspended invocation whose work is queued. The functions report their own
outcome (through fences); an exception escaping one is dropped so the
worker survives. ``submit`` may be called from any thread and never blocks.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable


class QueueWorkers:
    """``count`` threads, started on first use, running submitted work in order."""

    __slots__ = ("count", "name", "_items", "_start_lock", "_threads")

    def __init__(self, count: int, name: str) -> None:
        self.count = count
        self.name = name
        # C-level handoff: a put wakes one waiting worker without the
        # Python-level bookkeeping of threading.Condition.notify, which was
        # most of the submitting thread's cost per operation.
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._start_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def submit(self, function: Callable[[Any], None], argument: Any) -> None:
        """Queues ``function(argument)`` to run on a worker."""
        if not self._threads:
            self._start()
        self._items.put((function, argument))

    def _start(self) -> None:
        with self._start_lock:
            if self._threads:
                return
            for index in range(self.count):
                thread = threading.Thread(target=self._work, name=f"{self.name}-{index}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        get = self._items.get
        while True:
            function, argument = get()
            try:
                function(argument)
            except BaseException:  # the work reports through its fences; keep the worker
                pass
            # Drop the finished work now: it may hold buffers that must be freed.
            function = argument = None
