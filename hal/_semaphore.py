"""Timeline semaphores: a monotonically increasing 64-bit value, or a failure.

``signal(value)`` raises the value and wakes every waiter whose target it
reaches; ``fail(error)`` makes the semaphore fail for good — every current
and future waiter gets that error. Both may be called from any thread (the
HAL's worker threads signal as work completes). ``await wait(value,
timeout)`` suspends the calling coroutine only, never the event loop, and
costs no thread: a waiter is a :class:`~hal._wakeup.Wakeup` in a list.

Errors: signalling a value not above the current one is INVALID_ARGUMENT;
signalling a failed semaphore is the semaphore's failure; a wait past its
timeout is DEADLINE_EXCEEDED; a wait on a failed semaphore raises a VMError
with the failure's status (ABORTED if the failure was not a VMError).
"""

from __future__ import annotations

import math
import threading
from typing import Callable

import anyio

from asyncvm.vm import StatusCode, VMError

from ._failures import as_failure, reraise
from ._wakeup import Wakeup

MAX_VALUE = (1 << 64) - 1
"""IREE's failure sentinel value; a semaphore never reaches it by signalling."""


_LOCK_STRIPES = tuple(threading.RLock() for _ in range(64))
"""The locks semaphores share, picked by identity: a program makes two
semaphores per call, and a lock each (88 bytes, and an allocation) would be
most of what a pending fence costs. A semaphore holds its stripe only
around its own few statements and calls nothing under it, so two never
wait on each other; reentrant, in case a garbage collection run under one
frees something whose callback signals another semaphore of the same stripe."""


class Semaphore:
    """A timeline semaphore. Thread-safe."""

    __slots__ = ("_value", "_failure", "_waiters", "_lock", "__weakref__")

    def __init__(self, initial_value: int = 0) -> None:
        if not 0 <= initial_value < MAX_VALUE:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"semaphore initial value {initial_value} out of range")
        self._value = initial_value
        self._failure: VMError | None = None
        # (target value, callback taking the failure or None); None until
        # the first waiter registers (most semaphores never get one).
        self._waiters: list[tuple[int, Callable[[VMError | None], None]]] | None = None
        self._lock = _LOCK_STRIPES[(id(self) >> 4) & 63]

    # -- state --------------------------------------------------------------------

    @property
    def value(self) -> int:
        """The current payload value (MAX_VALUE once failed)."""
        return MAX_VALUE if self._failure is not None else self._value

    @property
    def failure(self) -> VMError | None:
        return self._failure

    def query(self) -> tuple[StatusCode, int]:
        """(OK or the failure's status, current value)."""
        failure = self._failure
        if failure is not None:
            return failure.status, MAX_VALUE
        return StatusCode.OK, self._value

    def reached(self, value: int) -> bool:
        """True if the timeline is at or past ``value``; raises if failed."""
        failure = self._failure
        if failure is not None:
            raise reraise(failure)
        return self._value >= value

    # -- signalling (any thread) -----------------------------------------------------

    def signal(self, value: int) -> None:
        """Advances the timeline to ``value`` and wakes the waiters it satisfies."""
        lock = self._lock
        lock.acquire()  # not ``with``: this is on every call's path, and half the cost
        try:
            if self._failure is not None:
                raise reraise(self._failure)
            if value <= self._value or value >= MAX_VALUE:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"semaphore signal to {value} must be above the current "
                              f"value {self._value}")
            self._value = value
            if not self._waiters:  # the usual case: nobody registered a callback
                return
            ready = self._take_ready(value)
        finally:
            lock.release()
        for callback in ready:
            callback(None)

    def advance(self, value: int) -> None:
        """Signals ``value`` unless the timeline is there already or the
        semaphore has failed (then nothing happens): how a fence signals its
        timepoints. INVALID_ARGUMENT for a value no signal can reach."""
        lock = self._lock
        lock.acquire()
        try:
            if self._failure is not None or value <= self._value:
                return
            if value >= MAX_VALUE:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"semaphore signal to {value} must be below {MAX_VALUE}")
            self._value = value
            if not self._waiters:
                return
            ready = self._take_ready(value)
        finally:
            lock.release()
        for callback in ready:
            callback(None)

    def _take_ready(self, value: int) -> list:
        """Under the lock: removes the waiters ``value`` reaches and returns
        their callbacks (called once the lock is released)."""
        waiters = self._waiters
        ready = [callback for target, callback in waiters if target <= value]
        if ready:
            self._waiters = [(t, c) for t, c in waiters if t > value] or None
        return ready

    def fail(self, error: BaseException) -> None:
        """Fails the semaphore (the first failure sticks) and wakes every waiter."""
        with self._lock:
            if self._failure is None:
                self._failure = as_failure(error)
            waiters, self._waiters = self._waiters, None
            failure = self._failure
        for _, callback in waiters or ():
            callback(failure)

    def notify_when_reached(self, value: int,
                            callback: Callable[[VMError | None], None]) -> None:
        """Calls ``callback(None)`` once the timeline reaches ``value``, or
        ``callback(failure)`` if it fails; at once if either already happened.
        The callback runs on the signalling thread and must not block."""
        with self._lock:
            failure = self._failure
            if failure is None and self._value < value:
                self._add_waiter(value, callback)
                return
        callback(failure)

    # -- waiting (event-loop thread) ---------------------------------------------------

    def register_wakeup(self, value: int) -> Wakeup | None:
        """A wakeup woken once the timeline reaches ``value`` (or fails, the
        failure passed to it), or None if it is already reached; raises the
        failure if the semaphore has failed. Event-loop thread only. The
        wakeup stays registered until the semaphore reaches the value or
        fails, even if its waiter gives up (see :meth:`wait` for a wait
        that unregisters)."""
        with self._lock:
            if self._failure is not None:
                raise reraise(self._failure)
            if self._value >= value:
                return None
            wakeup = Wakeup()
            self._add_waiter(value, wakeup)
            return wakeup

    def _add_waiter(self, value: int, callback) -> None:
        """Registers ``callback`` for ``value`` (the lock held)."""
        if self._waiters is None:
            self._waiters = [(value, callback)]
        else:
            self._waiters.append((value, callback))

    def _unregister(self, wakeup: Wakeup) -> None:
        with self._lock:
            if self._waiters is not None:
                self._waiters = [(t, c) for t, c in self._waiters if c is not wakeup] or None

    async def wait(self, value: int, timeout: float = math.inf) -> None:
        """Suspends until the timeline reaches ``value`` (seconds of ``timeout``).

        Returns without suspending if already reached. A zero timeout polls.
        """
        wakeup = self.register_wakeup(value)
        if wakeup is None:
            return
        try:
            if timeout <= 0:
                raise VMError(StatusCode.DEADLINE_EXCEEDED,
                              f"semaphore has not reached {value} (now {self._value})")
            if timeout == math.inf:  # no deadline: no cancel scope to enter and leave
                await wakeup.wait()
            else:
                with anyio.move_on_after(timeout) as scope:
                    await wakeup.wait()
                if scope.cancelled_caught and not wakeup.woken:
                    raise VMError(StatusCode.DEADLINE_EXCEEDED,
                                  f"timed out after {timeout} s waiting for semaphore value "
                                  f"{value} (now {self._value})")
        finally:
            if not wakeup.woken:
                self._unregister(wakeup)
        if self._failure is not None:
            raise reraise(self._failure)

    @property
    def waiter_count(self) -> int:
        return len(self._waiters or ())

    def __repr__(self) -> str:
        state = f"failed {self._failure.status.name}" if self._failure else str(self._value)
        return f"<hal.semaphore {state}>"
