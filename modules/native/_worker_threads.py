"""The worker threads native calls run on.

A native call is handed to a process-wide pool of threads and the calling
invocation suspends on a :class:`~asyncvm.hal.Wakeup` that the worker
triggers when the call returns: one queue put and one thread-safe loop
wake-up per call, less than a general to-thread helper spends.
tvm-ffi releases the GIL while the library runs, so calls on different
workers really run at once.

The pool (a ``ThreadPoolExecutor``) holds up to ``max(4, 2 x CPU count)``
threads, made as calls need them; more calls at once wait in its queue. A waiter that is cancelled
stops waiting at once; its call runs to its end on the worker (native code
cannot be interrupted) and the result is dropped.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from asyncvm.hal import Wakeup

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=max(4, 2 * (os.cpu_count() or 1)),
                                           thread_name_prefix="asyncvm-native")
    return _pool


class _Call:
    __slots__ = ("function", "arguments", "result", "error", "wakeup")

    def __init__(self, function: Callable, arguments: tuple) -> None:
        self.function = function
        self.arguments = arguments
        self.result: Any = None
        self.error: BaseException | None = None
        self.wakeup = Wakeup()

    def run(self) -> None:  # on a worker thread
        try:
            self.result = self.function(*self.arguments)
        except BaseException as error:  # handed to the waiter, raised there
            self.error = error
        self.wakeup.wake()


async def call_on_worker(function: Callable, arguments: tuple) -> Any:
    """``function(*arguments)`` on a worker thread; suspends until it returns
    and returns its result or raises its exception. Cancellable (see the
    module docstring)."""
    call = _Call(function, arguments)
    _executor().submit(call.run)
    await call.wakeup.wait()
    if call.error is not None:
        raise call.error
    return call.result
