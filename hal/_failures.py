"""Failures that travel through semaphores and fences to their waiters.

A semaphore's failure is one VMError; each waiter raises a fresh copy of it
(:func:`reraise`), so waiters never share, and extend, one exception object
(an invocation attaches its own VM backtrace to what it raises).
"""

from __future__ import annotations

from asyncvm.vm import StatusCode, VMError


def as_failure(error: BaseException) -> VMError:
    """The failure to keep for ``error``: a VMError of its own, with no
    Python traceback or context. A kept traceback would keep every frame it
    passed through alive, and with them the buffers those frames held (in a
    reference cycle, until the garbage collector finds it), for as long as
    the semaphore lives."""
    if isinstance(error, VMError):
        return VMError(error.status, error.message, backtrace=error.backtrace)
    return VMError(StatusCode.ABORTED, f"{type(error).__name__}: {error}")


def reraise(failure: VMError) -> VMError:
    """A fresh error for one waiter, so waiters never share (and extend) one
    exception object: the status and message, with where the work failed
    folded into the message."""
    message = failure.message
    if failure.backtrace:
        message += f" (at {failure.backtrace[0]})"
    return VMError(failure.status, message)
