"""Fences: a set of semaphore timepoints, all of which must be reached.

A fence holds at most one timepoint per semaphore (the highest value asked
for). ``signal()`` signals every timepoint, ``fail(error)`` fails every
semaphore, ``await wait(timeout)`` suspends until all are reached, a
semaphore fails (its error is raised), or the timeout passes
(DEADLINE_EXCEEDED). ``join`` merges fences. Thread-safety follows the
semaphores'.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Awaitable

from asyncvm.vm import StatusCode, VMError

from ._semaphore import Semaphore


class Fence:
    """A set of (semaphore, value) timepoints.

    The timepoints are a tuple of pairs, one per semaphore: most fences have
    one, and a tuple holds it in a third of a dictionary's memory (a call
    suspended on a fence keeps a few of them alive).
    """

    __slots__ = ("_timepoints", "__weakref__")

    def __init__(self, timepoints: dict[Semaphore, int] | None = None) -> None:
        self._timepoints: tuple[tuple[Semaphore, int], ...] = \
            tuple(timepoints.items()) if timepoints else ()

    @classmethod
    def at(cls, semaphore: Semaphore, value: int) -> "Fence":
        fence = cls.__new__(cls)
        fence._timepoints = ((semaphore, value),)
        return fence

    @classmethod
    def join(cls, fences) -> "Fence":
        """A fence reached when all of ``fences`` (None entries skipped) are."""
        joined = cls()
        for fence in fences:
            if fence is not None:
                for semaphore, value in fence._timepoints:
                    joined.insert(semaphore, value)
        return joined

    def insert(self, semaphore: Semaphore, value: int) -> None:
        """Adds a timepoint, or raises the one of ``semaphore`` to ``value``."""
        timepoints = self._timepoints
        for index, (existing, current) in enumerate(timepoints):
            if existing is semaphore:
                if value > current:
                    self._timepoints = (timepoints[:index] + ((semaphore, value),)
                                        + timepoints[index + 1:])
                return
        self._timepoints = timepoints + ((semaphore, value),)

    @property
    def timepoints(self) -> list[tuple[Semaphore, int]]:
        return list(self._timepoints)

    def __len__(self) -> int:
        return len(self._timepoints)

    def query(self) -> StatusCode:
        """OK when reached, DEFERRED while pending, or the failure's status."""
        for semaphore, value in self._timepoints:
            failure = semaphore.failure
            if failure is not None:
                return failure.status
            if semaphore.value < value:
                return StatusCode.DEFERRED
        return StatusCode.OK

    def quietly_reached(self) -> bool:
        """True when every timepoint is reached; False while one is pending
        or has failed (the failure then travels the general way)."""
        for semaphore, value in self._timepoints:
            if semaphore._failure is not None or semaphore._value < value:
                return False
        return True

    def reached(self) -> bool:
        """True when every timepoint is reached; raises a failed semaphore's error."""
        for semaphore, value in self._timepoints:
            if not semaphore.reached(value):
                return False
        return True

    def signal(self) -> None:
        """Signals every timepoint (values already passed are left alone)."""
        for semaphore, value in self._timepoints:
            semaphore.advance(value)

    def notify_when_reached(self, callback) -> None:
        """Calls ``callback(None)`` once every timepoint is reached, or
        ``callback(failure)`` on the first failure; exactly once, from
        whichever thread completes the fence."""
        timepoints = self._timepoints
        if not timepoints:
            callback(None)
            return
        if len(timepoints) == 1:  # the common case needs no counting
            semaphore, value = timepoints[0]
            semaphore.notify_when_reached(value, callback)
            return
        remaining = [len(timepoints)]
        done = [False]
        lock = threading.Lock()

        def arrived(failure) -> None:
            with lock:
                if done[0]:
                    return
                remaining[0] -= 1
                finished = failure is not None or remaining[0] == 0
                if finished:
                    done[0] = True
            if finished:
                callback(failure)

        for semaphore, value in timepoints:
            semaphore.notify_when_reached(value, arrived)

    def fail(self, error: BaseException) -> None:
        for semaphore, _ in self._timepoints:
            semaphore.fail(error)

    def outcome_when_reached(self, result: object) -> Awaitable:
        """An awaitable of ``result`` once every timepoint is reached (raising
        a failed semaphore's error), with no deadline. A fence of one
        timepoint waits on that semaphore's wakeup itself (on asyncio a bare
        future: no coroutine frame for a suspended call to keep); giving up
        the wait leaves the wakeup registered until the semaphore signals or
        fails."""
        if len(self._timepoints) == 1:
            ((semaphore, value),) = self._timepoints
            wakeup = semaphore.register_wakeup(value)
            if wakeup is not None:
                return wakeup.outcome(result)
        return self._wait_then(result)

    async def _wait_then(self, result: object) -> object:
        await self.wait()
        return result

    def wait(self, timeout: float = math.inf) -> Awaitable[None]:
        """Suspends until every timepoint is reached (seconds of ``timeout``).
        A fence of one timepoint is that semaphore's own wait (one coroutine
        less per waiter)."""
        if len(self._timepoints) == 1:
            ((semaphore, value),) = self._timepoints
            return semaphore.wait(value, timeout)
        return self._wait_all(timeout)

    async def _wait_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for semaphore, value in self._timepoints:
            remaining = deadline - time.monotonic() if timeout != math.inf else math.inf
            if remaining <= 0 and not semaphore.reached(value):
                raise VMError(StatusCode.DEADLINE_EXCEEDED,
                              f"timed out waiting for a fence ({len(self)} timepoints)")
            await semaphore.wait(value, remaining)

    def __repr__(self) -> str:
        return f"<hal.fence {len(self._timepoints)} timepoints>"
