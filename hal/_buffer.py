"""HAL buffers: byte ranges of host memory backed by numpy.

A :class:`Buffer` is a window (``offset``, ``length``) onto an allocation, a
numpy ``uint8`` array that subspans share. Mapping gives numpy views, never
copies, so results reach callers without copying. Ranges are checked with
exact integer arithmetic (OUT_OF_RANGE). Buffers are plain data: they may be
read and written from worker threads; ordering is the job of the queue's
semaphores. Nothing here suspends.
"""

from __future__ import annotations

import numpy

from asyncvm.vm import ALLOCATION_ALIGNMENT, StatusCode, VMError, allocate_storage

class Buffer:
    """A range of a host allocation, with IREE's memory type and usage bits."""

    __slots__ = ("storage", "offset", "length", "memory_type", "allowed_usage",
                 "allowed_access", "owners", "__weakref__")

    def __init__(self, storage: numpy.ndarray, offset: int = 0, length: int | None = None, *,
                 memory_type: int = 0, allowed_usage: int = 0, allowed_access: int = 0) -> None:
        if storage.dtype != numpy.uint8 or storage.ndim != 1:
            storage = storage.reshape(-1).view(numpy.uint8)
        if length is None:
            length = storage.shape[0] - offset
        if offset < 0 or length < 0 or offset + length > storage.shape[0]:
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"buffer range [{offset}, {offset + length}) outside an allocation "
                          f"of {storage.shape[0]} bytes")
        self.storage = storage
        self.offset = offset
        self.length = length
        self.memory_type = memory_type
        self.allowed_usage = allowed_usage
        self.allowed_access = allowed_access
        # Co-owners of the allocation (hal.buffer.allocation.*), shared by subspans.
        self.owners = [1]

    @classmethod
    def allocate(cls, length: int, *, zeroed: bool = True, **properties: int) -> "Buffer":
        return cls(allocate_storage(length, zeroed), 0, length, **properties)

    @classmethod
    def wrap(cls, array: numpy.ndarray, **properties: int) -> "Buffer":
        """Views the bytes of a C-contiguous array without copying."""
        if not array.flags.c_contiguous:
            raise VMError(StatusCode.INVALID_ARGUMENT, "only C-contiguous arrays can be wrapped")
        return cls(array.reshape(-1).view(numpy.uint8), **properties)

    def check_range(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.length:
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"range [{offset}, {offset + length}) is outside the "
                          f"{self.length}-byte buffer")

    def resolve_length(self, offset: int, length: int) -> int:
        """IREE's convention: a length of -1 (``IREE_HAL_WHOLE_BUFFER``) means to the end."""
        if length == -1 or length == (1 << 64) - 1:
            length = self.length - offset
        self.check_range(offset, length)
        return length

    def subspan(self, offset: int, length: int) -> "Buffer":
        length = self.resolve_length(offset, length)
        span = Buffer(self.storage, self.offset + offset, length, memory_type=self.memory_type,
                      allowed_usage=self.allowed_usage, allowed_access=self.allowed_access)
        span.owners = self.owners
        return span

    def bytes_view(self, offset: int = 0, length: int = -1) -> numpy.ndarray:
        """A writable ``uint8`` view of a range (no copy)."""
        length = self.resolve_length(offset, length)
        start = self.offset + offset
        return self.storage[start:start + length]

    def array(self, dtype, shape, offset: int = 0) -> numpy.ndarray:
        """A typed view of the bytes at ``offset`` with ``shape`` (no copy)."""
        dtype = numpy.dtype(dtype)
        count = 1
        for dimension in shape:
            count *= dimension
        view = self.bytes_view(offset, count * dtype.itemsize)
        return view.view(dtype).reshape(shape)

    def fill(self, offset: int, length: int, pattern: bytes) -> None:
        length = self.resolve_length(offset, length)
        if len(pattern) not in (1, 2, 4, 8) or length % len(pattern):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"fill pattern of {len(pattern)} bytes does not divide {length} bytes")
        target = self.bytes_view(offset, length)
        target[:] = numpy.tile(numpy.frombuffer(pattern, dtype=numpy.uint8), length // len(pattern))

    def copy_to(self, source_offset: int, target: "Buffer", target_offset: int, length: int) -> None:
        length = self.resolve_length(source_offset, length)
        target.check_range(target_offset, length)
        target.bytes_view(target_offset, length)[:] = self.bytes_view(source_offset, length)

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"<hal.buffer {self.length} bytes>"
