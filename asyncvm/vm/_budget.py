"""The budget a piece of synchronous work runs under.

Kernels (a dispatch's workgroups, a VMVX kernel's frames) run as plain
synchronous code. A :class:`Budget` bounds them two ways:

* its ``token`` (a :class:`CancellationToken`, or None): once cancelled,
  the work raises the token's error at its next check;
* its ``end`` (a :func:`time.perf_counter` time): once it passes, work that
  can pause (it runs as an iterator; see :func:`run_frames_sliced`) yields,
  and whoever drives it resumes it later — on ``local-sync`` a callback on
  the event loop, so other tasks run in between. ``math.inf`` (the default)
  never pauses: work on a worker thread only checks for cancellation.

The driver sets ``end`` afresh before each resumption. Reading a budget
never suspends and never blocks.
"""

from __future__ import annotations

import math
import time

from ._cancellation import CancellationToken


class Budget:
    """``token`` to stop at, ``end`` to pause at (see the module docstring)."""

    __slots__ = ("token", "end")

    def __init__(self, token: CancellationToken | None = None, end: float = math.inf) -> None:
        self.token = token
        self.end = end

    @property
    def can_pause(self) -> bool:
        return self.end != math.inf

    def check(self) -> None:
        """Raises the token's error if the work's invocation was cancelled."""
        token = self.token
        if token is not None and token.error is not None:
            token.check()

    def remaining_ns(self) -> int:
        """Nanoseconds left before ``end`` (0 when past; 0 also means "no
        limit" to native code, so a pausable budget past its end gives 1)."""
        if self.end == math.inf:
            return 0
        return max(1, int((self.end - time.perf_counter()) * 1e9))
