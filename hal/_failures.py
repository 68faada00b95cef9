"""Failures that travel through semaphores and fences to their waiters.

A semaphore's failure is one VMError; each waiter raises a fresh copy of it
(:func:`reraise`), so waiters never share, and extend, one exception object
(an invocation attaches its own VM backtrace to what it raises).
"""

from __future__ import annotations

from asyncvm.vm import StatusCode, VMError


def as_failure(error: BaseException) -> VMError:
    if isinstance(error, VMError):
        return error
    return VMError(StatusCode.ABORTED, f"{type(error).__name__}: {error}")


def reraise(failure: VMError) -> VMError:
    """A fresh error for one waiter, so waiters never share (and extend) one
    exception object: the status and message, with where the work failed
    folded into the message."""
    message = failure.message
    if failure.backtrace:
        message += f" (at {failure.backtrace[0]})"
    return VMError(failure.status, message)
