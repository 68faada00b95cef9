"""What a device's allocator has handed out and what is still alive.

Like IREE's ``iree_hal_allocator_statistics_t``: bytes and allocations made
and freed, and the peak. An allocation counts as freed when its memory is
released — when the last numpy view of it (a buffer, a subspan, a result
array handed to the caller, a queue operation still using it) is gone — so
``live_bytes`` returning to where it was shows that nothing leaked. Updated
from any thread; reading is a snapshot. Nothing here suspends.

An optional ``limit`` bounds the live bytes: :meth:`AllocatorStatistics.allocate`
refuses, with VMError RESOURCE_EXHAUSTED, an allocation that would hold more,
so ``peak_bytes`` never exceeds it. Only what is counted here is bounded (see
:meth:`asyncvm.hal.Device.allocate` for which memory that is).
"""

from __future__ import annotations

import operator
import threading
import weakref
from dataclasses import dataclass

import numpy

from asyncvm.vm import MAX_ALLOCATION_BYTES, BlockCounters, StatusCode, VMError, aligned_block


@dataclass(frozen=True)
class AllocatorSnapshot:
    allocations: int
    frees: int
    bytes_allocated: int
    bytes_freed: int
    peak_bytes: int
    limit: int | None = None
    """The most live bytes allowed at once (None: unbounded)."""

    @property
    def live_allocations(self) -> int:
        return self.allocations - self.frees

    @property
    def live_bytes(self) -> int:
        return self.bytes_allocated - self.bytes_freed


def check_limit(limit) -> int | None:
    """``limit`` (bytes) as an int, or None for none: a positive int or
    numpy integer; VMError INVALID_ARGUMENT otherwise (0, negative, a bool,
    a float, a str...)."""
    if limit is None:
        return None
    try:
        value = operator.index(limit)  # an int or a numpy integer; no floats, no strings
    except TypeError:
        value = 0
    if value <= 0 or isinstance(limit, bool):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"a memory limit is a positive number of bytes, not {limit!r}")
    return value


class AllocatorStatistics:
    """Thread-safe counters of one device's allocations, bounded by ``limit``
    live bytes when one is given (a positive int; INVALID_ARGUMENT
    otherwise). ``name`` names the owner in limit errors.

    The counting is native when the C helper was built
    (:data:`asyncvm.vm.BlockCounters`: the block's own release counts the
    free, with no Python call), else :class:`_WatchedBlocks` does the same in
    Python.
    """

    __slots__ = ("_counters", "_limit", "name")

    def __init__(self, limit: int | None = None, name: str = "allocator") -> None:
        self._limit = check_limit(limit)
        self.name = name
        self._counters = (_WatchedBlocks(self._limit) if BlockCounters is None
                          else BlockCounters(self._limit or 0))

    @property
    def limit(self) -> int | None:
        return self._limit

    def allocate(self, length: int, zeroed: bool = False) -> tuple[numpy.ndarray, int]:
        """A new block and the offset of its ``length`` aligned bytes (as
        :func:`asyncvm.vm.aligned_block`), counted as allocated and live
        until the block's memory is released. Owned by the caller; does not
        suspend.

        VMError RESOURCE_EXHAUSTED, counting nothing, if that would hold more
        than the limit, or for a length that cannot be allocated. The limit
        is checked only when the live bytes would pass the peak (the peak
        never exceeds the limit), so while under the peak, or with no limit,
        this costs nothing more than counting.
        """
        if length < 0 or length > MAX_ALLOCATION_BYTES:
            raise VMError(StatusCode.RESOURCE_EXHAUSTED, f"cannot allocate {length} bytes")
        try:
            made = self._counters.block(length, zeroed)
        except MemoryError:
            raise VMError(StatusCode.RESOURCE_EXHAUSTED,
                          f"out of memory allocating {length} bytes") from None
        if made.__class__ is tuple:
            return made
        raise VMError(StatusCode.RESOURCE_EXHAUSTED,
                      f"{self.name}: allocating {length} bytes would hold {made} of "
                      f"its {self._limit}-byte limit ({made - length} bytes live)")

    def snapshot(self) -> AllocatorSnapshot:
        return AllocatorSnapshot(*self._counters.values(), self._limit)


class _Watch(weakref.ref):
    """A weak reference to a block that knows its length."""

    __slots__ = ("length",)


class _WatchedBlocks:
    """The counting without the C helper: each block is watched by a weak
    reference with a callback (kept in a dictionary by id until it fires),
    not ``weakref.finalize``, whose registry costs three times as much.
    The same contract as the native ``Counters``: ``block(length, zeroed)``
    gives (block, start), or the live bytes it would hold past ``limit``
    (None: no limit), counting nothing; ``values()`` the five counts."""

    __slots__ = ("_lock", "_allocations", "_frees", "_bytes_allocated", "_bytes_freed", "_peak",
                 "_watched", "_limit", "_on_freed")

    def __init__(self, limit: int | None) -> None:
        # Reentrant: the garbage collector may free a watched block -- and
        # so call _freed -- on this very thread while it holds the lock
        # (any allocation can start a collection).
        self._lock = threading.RLock()
        self._allocations = self._frees = 0
        self._bytes_allocated = self._bytes_freed = self._peak = 0
        self._watched: dict[int, _Watch] = {}
        self._limit = limit
        self._on_freed = self._freed  # bound once: every watch shares it

    def block(self, length: int, zeroed: bool) -> tuple[numpy.ndarray, int] | int:
        lock = self._lock
        lock.acquire()  # not ``with``: every allocation comes here, and it costs half
        try:
            live = self._bytes_allocated - self._bytes_freed + length
            limit = self._limit
            if live > self._peak and limit is not None and live > limit:
                return live
            previous_peak = self._peak
            if live > previous_peak:
                self._peak = live
            self._allocations += 1
            self._bytes_allocated += length
        finally:
            lock.release()
        try:
            made = aligned_block(length, zeroed)
        except BaseException:
            with self._lock:
                self._allocations -= 1
                self._bytes_allocated -= length
                if self._peak == live:
                    self._peak = previous_peak
            raise
        watch = _Watch(made[0], self._on_freed)
        watch.length = length
        self._watched[id(watch)] = watch  # one dict store: atomic, no lock needed
        return made

    def _freed(self, watch: _Watch) -> None:
        lock = self._lock
        lock.acquire()
        try:
            del self._watched[id(watch)]
            self._frees += 1
            self._bytes_freed += watch.length
        finally:
            lock.release()

    def values(self) -> tuple[int, int, int, int, int]:
        with self._lock:
            return (self._allocations, self._frees, self._bytes_allocated, self._bytes_freed,
                    self._peak)
