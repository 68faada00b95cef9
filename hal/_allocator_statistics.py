"""What a device's allocator has handed out and what is still alive.

Like IREE's ``iree_hal_allocator_statistics_t``: bytes and allocations made
and freed, and the peak. An allocation counts as freed when its memory is
released — when the last numpy view of it (a buffer, a subspan, a result
array handed to the caller, a queue operation still using it) is gone — so
``live_bytes`` returning to where it was shows that nothing leaked. Updated
from any thread; reading is a snapshot. Nothing here suspends.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy


@dataclass(frozen=True)
class AllocatorSnapshot:
    allocations: int
    frees: int
    bytes_allocated: int
    bytes_freed: int
    peak_bytes: int

    @property
    def live_allocations(self) -> int:
        return self.allocations - self.frees

    @property
    def live_bytes(self) -> int:
        return self.bytes_allocated - self.bytes_freed


class _Watch(weakref.ref):
    """A weak reference to an allocation's memory that knows its length."""

    __slots__ = ("length",)


class AllocatorStatistics:
    """Thread-safe counters of one device's allocations.

    Each allocation is watched by a weak reference with a callback (kept in
    a dictionary by id until it fires), not ``weakref.finalize``, whose
    registry costs three times as much on every allocation.
    """

    __slots__ = ("_lock", "_allocations", "_frees", "_bytes_allocated", "_bytes_freed", "_peak",
                 "_watched")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._allocations = self._frees = 0
        self._bytes_allocated = self._bytes_freed = self._peak = 0
        self._watched: dict[int, _Watch] = {}

    def track(self, storage: numpy.ndarray, length: int) -> None:
        """Counts ``length`` bytes as allocated until ``storage``'s memory is released."""
        owner = storage.base if storage.base is not None else storage
        watch = _Watch(owner, self._freed)
        watch.length = length
        with self._lock:
            self._watched[id(watch)] = watch
            self._allocations += 1
            self._bytes_allocated += length
            live = self._bytes_allocated - self._bytes_freed
            if live > self._peak:
                self._peak = live

    def _freed(self, watch: "_Watch") -> None:
        with self._lock:
            del self._watched[id(watch)]
            self._frees += 1
            self._bytes_freed += watch.length

    def snapshot(self) -> AllocatorSnapshot:
        with self._lock:
            return AllocatorSnapshot(self._allocations, self._frees, self._bytes_allocated,
                                     self._bytes_freed, self._peak)
