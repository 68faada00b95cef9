"""HAL buffers: byte ranges of host memory backed by numpy.

A :class:`Buffer` is a window (``offset``, ``length``) onto an allocation, a
numpy ``uint8`` array that subspans share. Mapping gives numpy views, never
copies, so results reach callers without copying. Ranges are checked with
exact integer arithmetic (OUT_OF_RANGE). Buffers are plain data: they may be
read and written from worker threads; ordering is the job of the queue's
semaphores. Nothing here suspends.

Access follows IREE's ``iree_hal_memory_access_t``: a buffer has
``allowed_access`` bits (all of them unless it was imported, see
``hal.allocator.import``), and the HAL's host-side writes -- fill, copy and
update targets, ``buffer.store`` -- need ``DISCARD_WRITE``; without it they
are PERMISSION_DENIED naming the operation, as IREE's
``iree_hal_buffer_validate_access`` reports them.

Memory that must never change -- module rodata, a read-only numpy array -- is
never written, whatever the access bits allow: the first write into such an
allocation, or the first dispatch that binds it (a kernel may write any
binding, as in IREE), gives the allocation a private copy first, which all of
its subspans then share (copy-on-write, once per allocation).
"""

from __future__ import annotations

import threading

import numpy

from asyncvm.vm import StatusCode, VMError, aligned_block, allocate_storage

# iree_hal_memory_access_t (runtime/src/iree/hal/buffer.h).
MEMORY_ACCESS_READ = 1 << 0
MEMORY_ACCESS_WRITE = 1 << 1
MEMORY_ACCESS_DISCARD = 1 << 2
MEMORY_ACCESS_DISCARD_WRITE = MEMORY_ACCESS_WRITE | MEMORY_ACCESS_DISCARD
MEMORY_ACCESS_ALL = MEMORY_ACCESS_READ | MEMORY_ACCESS_WRITE | MEMORY_ACCESS_DISCARD
# iree_hal_memory_access_format's table: combined names first.
_ACCESS_NAMES = ((MEMORY_ACCESS_ALL, "ALL"), (MEMORY_ACCESS_DISCARD_WRITE, "DISCARD_WRITE"),
                 (MEMORY_ACCESS_READ, "READ"), (MEMORY_ACCESS_WRITE, "WRITE"),
                 (MEMORY_ACCESS_DISCARD, "DISCARD"), (1 << 3, "MAY_ALIAS"), (1 << 4, "UNALIGNED"),
                 (1 << 5, "ANY"))

_PRIVATE_COPY_LOCK = threading.Lock()  # dispatches on several workers may bind one allocation


def format_access(bits: int) -> str:
    """Memory access bits as IREE prints them (``READ``, ``READ|WRITE``, ``ALL``)."""
    names = []
    for value, name in _ACCESS_NAMES:
        if bits & value == value:
            names.append(name)
            bits &= ~value
    if bits:
        names.append(f"0x{bits:X}")
    return "|".join(names) or "NONE"


WHOLE_BUFFER = (1 << 64) - 1
"""IREE_HAL_WHOLE_BUFFER: a length of all ones (-1 as an i64) means "to the
end of the buffer"."""

_FILL_TYPES = {1: numpy.dtype(numpy.uint8), 2: numpy.dtype("<u2"), 4: numpy.dtype("<u4"),
               8: numpy.dtype("<u8")}
"""The element type of a fill pattern of each width (its bytes, little-endian)."""


class Allocation:
    """The memory a buffer and its subspans share. ``owners`` counts the
    co-owners ``hal.buffer.allocation.*`` track; ``immutable`` is true while
    ``storage`` is memory that must not be written (see the module docstring)."""

    __slots__ = ("storage", "owners", "immutable")

    def __init__(self, storage: numpy.ndarray) -> None:
        self.storage = storage
        self.owners = 1
        self.immutable = not storage.flags.writeable

    def make_private(self) -> None:
        """Replaces immutable storage by a private, writable, 64-byte-aligned
        copy of it (once; later calls do nothing)."""
        with _PRIVATE_COPY_LOCK:
            if self.immutable:
                copy = allocate_storage(self.storage.shape[0], zeroed=False)
                copy[:] = self.storage
                self.storage = copy
                self.immutable = False


class Buffer:
    """A range of a host allocation, with IREE's memory type, usage and access bits."""

    __slots__ = ("allocation", "offset", "length", "memory_type", "allowed_usage",
                 "allowed_access", "__weakref__")

    def __init__(self, storage: numpy.ndarray, offset: int = 0, length: int | None = None, *,
                 memory_type: int = 0, allowed_usage: int = 0,
                 allowed_access: int = MEMORY_ACCESS_ALL) -> None:
        if storage.dtype != numpy.uint8 or storage.ndim != 1:
            storage = storage.reshape(-1).view(numpy.uint8)
        if length is None:
            length = storage.shape[0] - offset
        if offset < 0 or length < 0 or offset + length > storage.shape[0]:
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"buffer range [{offset}, {offset + length}) outside an allocation "
                          f"of {storage.shape[0]} bytes")
        self.allocation = Allocation(storage)
        self.offset = offset
        self.length = length
        self.memory_type = memory_type
        self.allowed_usage = allowed_usage
        self.allowed_access = allowed_access

    @classmethod
    def allocate(cls, length: int, *, zeroed: bool = True, memory_type: int = 0,
                 allowed_usage: int = 0) -> "Buffer":
        """A buffer over ``length`` new aligned bytes (see ``allocate_storage``):
        the aligned range of a new block (see ``aligned_block``)."""
        block, start = aligned_block(length, zeroed)
        return cls.over_block(block, start, length, memory_type, allowed_usage)

    @classmethod
    def over_storage(cls, storage: numpy.ndarray, memory_type: int = 0,
                     allowed_usage: int = 0) -> "Buffer":
        """A buffer over all of ``storage``, a new writable 1-D ``uint8``
        array the caller hands over (as ``allocate_storage`` makes)."""
        return cls.over_block(storage, 0, storage.shape[0], memory_type, allowed_usage)

    @classmethod
    def over_block(cls, block: numpy.ndarray, offset: int, length: int, memory_type: int = 0,
                   allowed_usage: int = 0) -> "Buffer":
        """A buffer over bytes [``offset``, ``offset + length``) of ``block``,
        a new writable 1-D ``uint8`` array the caller hands over (as
        ``aligned_block`` makes) and that holds the range: the constructor
        without the checks such an array needs none of."""
        allocation = Allocation.__new__(Allocation)
        allocation.storage = block
        allocation.owners = 1
        allocation.immutable = False
        buffer = cls.__new__(cls)
        buffer.allocation = allocation
        buffer.offset = offset
        buffer.length = length
        buffer.memory_type = memory_type
        buffer.allowed_usage = allowed_usage
        buffer.allowed_access = MEMORY_ACCESS_ALL
        return buffer

    @classmethod
    def wrap(cls, array: numpy.ndarray, **properties: int) -> "Buffer":
        """Views the bytes of a C-contiguous array without copying (a read-only
        array is copied the first time something writes it)."""
        if not array.flags.c_contiguous:
            raise VMError(StatusCode.INVALID_ARGUMENT, "only C-contiguous arrays can be wrapped")
        return cls(array.reshape(-1).view(numpy.uint8), **properties)

    @property
    def storage(self) -> numpy.ndarray:
        """The whole allocation's bytes (its private copy once it has one):
        this buffer's are ``length`` bytes from ``offset`` in it, and the
        allocation may hold more (a device allocation is the aligned range of
        a slightly larger block)."""
        return self.allocation.storage

    def check_range(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.length:
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"range [{offset}, {offset + length}) is outside the "
                          f"{self.length}-byte buffer")

    def resolve_length(self, offset: int, length: int) -> int:
        """IREE's convention: a length of -1 (``IREE_HAL_WHOLE_BUFFER``) means to the end."""
        if length == -1 or length == WHOLE_BUFFER:
            length = self.length - offset
        self.check_range(offset, length)
        return length

    def subspan(self, offset: int, length: int) -> "Buffer":
        """The range [``offset``, ``offset + length``) as a buffer sharing
        this one's allocation; the whole range is this buffer itself, as
        ``iree_hal_buffer_subspan`` returns it. OUT_OF_RANGE outside it."""
        if offset == 0 and (length == self.length or length == -1 or length == WHOLE_BUFFER):
            return self  # the usual case (a view of a whole result buffer)
        length = self.resolve_length(offset, length)
        if offset == 0 and length == self.length:
            return self
        span = Buffer.__new__(Buffer)
        span.allocation = self.allocation
        span.offset = self.offset + offset
        span.length = length
        span.memory_type = self.memory_type
        span.allowed_usage = self.allowed_usage
        span.allowed_access = self.allowed_access
        return span

    def bytes_view(self, offset: int = 0, length: int = -1) -> numpy.ndarray:
        """A ``uint8`` view of a range (no copy); read-only while the memory
        is (use :meth:`writable_view` to write)."""
        length = self.resolve_length(offset, length)
        start = self.offset + offset
        return self.allocation.storage[start:start + length]

    def array(self, dtype, shape, offset: int = 0) -> numpy.ndarray:
        """A typed view of the bytes at ``offset`` with ``shape`` (no copy)."""
        dtype = numpy.dtype(dtype)
        count = 1
        for dimension in shape:
            count *= dimension
        view = self.bytes_view(offset, count * dtype.itemsize)
        return view.view(dtype).reshape(shape)

    # -- writes ------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        """Whether the access bits allow the HAL's host writes (``DISCARD_WRITE``)."""
        return self.allowed_access & MEMORY_ACCESS_DISCARD_WRITE == MEMORY_ACCESS_DISCARD_WRITE

    def require_writable(self, operation: str) -> None:
        """PERMISSION_DENIED naming ``operation`` unless :attr:`writable`."""
        if self.allowed_access & MEMORY_ACCESS_DISCARD_WRITE != MEMORY_ACCESS_DISCARD_WRITE:
            raise VMError(StatusCode.PERMISSION_DENIED,
                          f"{operation}: buffer does not support the requested access type; "
                          f"buffer allows {format_access(self.allowed_access)}, operation "
                          "requires DISCARD_WRITE")

    def writable_view(self, offset: int, length: int, operation: str) -> numpy.ndarray:
        """A writable view of a range for ``operation``: PERMISSION_DENIED
        unless :attr:`writable`; immutable memory is first given a private copy."""
        self.require_writable(operation)
        length = self.resolve_length(offset, length)
        allocation = self.allocation
        if allocation.immutable:
            allocation.make_private()
        start = self.offset + offset
        return allocation.storage[start:start + length]

    def prepare_binding(self) -> None:
        """Before a dispatch binds this buffer: kernels may write any binding
        (IREE checks no access for dispatches), so immutable memory is first
        given a private copy."""
        allocation = self.allocation
        if allocation.immutable:
            allocation.make_private()

    def fill(self, offset: int, length: int, pattern: bytes, operation: str = "fill") -> None:
        length = self.resolve_length(offset, length)
        if len(pattern) not in (1, 2, 4, 8) or length % len(pattern):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"fill pattern of {len(pattern)} bytes does not divide {length} bytes")
        target = self.writable_view(offset, length, operation)
        if not length:
            return
        # One pass: the pattern as one element of its width, written by
        # fill() (numpy.tile built a whole temporary array and copied it).
        # numpy handles an offset that is not a multiple of the width.
        width = len(pattern)
        element = _FILL_TYPES[width]
        target.view(element).fill(numpy.frombuffer(pattern, dtype=element)[0])

    def copy_to(self, source_offset: int, target: "Buffer", target_offset: int, length: int,
                operation: str = "copy") -> None:
        length = self.resolve_length(source_offset, length)
        target.check_range(target_offset, length)
        target.writable_view(target_offset, length, operation)[:] = \
            self.bytes_view(source_offset, length)

    def write(self, offset: int, data: bytes, operation: str = "update") -> None:
        """Writes ``data`` at ``offset``."""
        self.check_range(offset, len(data))
        self.writable_view(offset, len(data), operation)[:] = numpy.frombuffer(data, numpy.uint8)

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"<hal.buffer {self.length} bytes>"
