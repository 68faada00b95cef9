"""Running a coroutine to completion from synchronous code.

:func:`run_sync` serves scripts and notebooks. From a thread with no event
loop running it runs the coroutine function on a fresh asyncio loop in the
calling thread (closing it afterwards). From inside a running event loop (asyncio, as in Jupyter,
or trio), where blocking on a loop of its own is impossible, it runs it on a
new worker thread with its own asyncio loop and blocks the calling thread —
and so its loop — until the worker is done; the result or exception is
passed back. A fresh thread per call (not a pool) means a synchronous call
made from inside another one's invocation can never wait for a busy worker.

The caller's loop is blocked meanwhile: nothing else runs on it, so the
coroutine must not need anything from it. For asyncvm this matters in one
way: a context serves one event-loop thread at a time, so a synchronous
call of a program while async calls of the same program are in flight on
the caller's loop fails at once with FAILED_PRECONDITION (it does not wait).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any, Awaitable, Callable


def in_event_loop() -> bool:
    """Whether an asyncio or trio event loop is running in this thread."""
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
            return True
        except RuntimeError:
            pass
    return False


def run_sync(function: Callable[..., Awaitable[Any]], *arguments: Any, **keywords: Any) -> Any:
    """``await function(*arguments, **keywords)`` from synchronous code; see
    the module docstring. Returns its result or raises its exception."""
    if not in_event_loop():
        return run_on_new_loop(function, arguments, keywords)
    outcome: list = []

    def work() -> None:
        try:
            outcome.append((True, run_on_new_loop(function, arguments, keywords)))
        except BaseException as error:  # handed to the caller's thread
            outcome.append((False, error))

    worker = threading.Thread(target=work, name="asyncvm-sync-call", daemon=True)
    worker.start()
    worker.join()
    succeeded, value = outcome[0]
    if succeeded:
        return value
    try:
        raise value
    finally:
        del value, outcome  # no reference cycle through the traceback


async def _call(function: Callable[..., Awaitable[Any]], arguments: tuple,
                keywords: dict) -> Any:
    return await function(*arguments, **keywords)


def run_on_new_loop(function: Callable[..., Awaitable[Any]], arguments: tuple,
                    keywords: dict) -> Any:
    """Runs the call as a task of a new asyncio loop in this thread, then
    closes the loop. Like ``asyncio.run`` but lighter per call (no signal
    handlers, no wait for the default executor's threads): a
    KeyboardInterrupt cancels the task and lets it unwind before it
    propagates, and tasks the call left behind are cancelled likewise."""
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(_call(function, arguments, keywords))
        try:
            return loop.run_until_complete(task)
        except BaseException:
            if not task.done():
                task.cancel()
                try:
                    loop.run_until_complete(task)
                except BaseException:  # the interrupt is what propagates
                    pass
            raise
    finally:
        try:
            leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
