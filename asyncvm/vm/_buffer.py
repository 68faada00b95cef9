"""``vm.buffer``: a byte buffer with checked element access.

A :class:`VMBuffer` owns (or views) contiguous bytes. Offsets and lengths of
the typed accessors are in elements of the accessed width, as in IREE's
``vm.buffer.load.i32 %buffer[%element_offset]``. Every access is range
checked with exact integer arithmetic, so negative or huge offsets are
OUT_OF_RANGE, and writes to a read-only view (rodata) are PERMISSION_DENIED.
Nothing here suspends.
"""

from __future__ import annotations

import zlib

import numpy

from ._status import StatusCode, VMError

_LAZY_ZEROS = 1 << 20
"""Buffers at least this long are allocated zeroed by the system (calloc),
not written with zeros here."""

_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
_SIGNED_FORMATS = {1: "b", 2: "h", 4: "i", 8: "q"}


class VMBuffer:
    """Bytes with checked access.

    ``VMBuffer(length)`` allocates zeroed writable bytes; ``VMBuffer.wrap``
    views existing memory (a ``bytes`` object or read-only memoryview gives a
    read-only buffer). The buffer keeps a reference to the memory it views.
    """

    __slots__ = ("_data", "_memory", "readonly", "_views", "__weakref__")

    def __init__(self, length: int = 0, *, alignment: int = 16) -> None:
        if length < 0 or length > (1 << 40):
            raise VMError(StatusCode.RESOURCE_EXHAUSTED, f"buffer length {length} out of range")
        if length < _LAZY_ZEROS:
            self._data = bytearray(length)
        else:
            # Large: memory the system zeroes page by page as it is first
            # touched, so asking for gigabytes costs nothing until used.
            try:
                self._data = numpy.zeros(length, numpy.uint8)
            except MemoryError:
                raise VMError(StatusCode.RESOURCE_EXHAUSTED,
                              f"buffer length {length} cannot be allocated") from None
        self._memory = memoryview(self._data)
        self.readonly = False
        self._views: dict[str, memoryview] = {}

    @classmethod
    def wrap(cls, memory: bytes | bytearray | memoryview, *, readonly: bool | None = None) -> "VMBuffer":
        """Views ``memory`` without copying; read-only if the memory is or if asked."""
        buffer = cls.__new__(cls)
        view = memoryview(memory).cast("B") if not isinstance(memory, bytearray) else memoryview(memory)
        if readonly and not view.readonly:
            view = view.toreadonly()
        buffer._data = memory
        buffer._memory = view
        buffer.readonly = view.readonly
        buffer._views = {}
        return buffer

    # -- plain accessors ----------------------------------------------------

    def __len__(self) -> int:
        return len(self._memory)

    @property
    def length(self) -> int:
        return len(self._memory)

    @property
    def memory(self) -> memoryview:
        """The bytes as a memoryview (read-only if the buffer is)."""
        return self._memory

    def tobytes(self) -> bytes:
        return self._memory.tobytes()

    def __repr__(self) -> str:
        return f"<vm.buffer {len(self._memory)} bytes{' ro' if self.readonly else ''}>"

    # -- checks ----------------------------------------------------------------

    def _view(self, code: str, width: int) -> memoryview:
        view = self._views.get(code)
        if view is None:
            count = len(self._memory) // width
            view = self._memory[:count * width].cast(code)
            self._views[code] = view
        return view

    def check_range(self, byte_offset: int, byte_length: int) -> None:
        """Raises OUT_OF_RANGE unless ``[byte_offset, byte_offset + byte_length)`` fits."""
        if byte_offset < 0 or byte_length < 0 or byte_offset + byte_length > len(self._memory):
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"buffer range [{byte_offset}, {byte_offset + byte_length}) "
                          f"out of bounds of {len(self._memory)} bytes")

    def check_writable(self) -> None:
        if self.readonly:
            raise VMError(StatusCode.PERMISSION_DENIED, "buffer is read-only")

    # -- typed element access ----------------------------------------------------

    def load(self, width: int, element_offset: int, signed: bool = False) -> int:
        """Loads one integer element of ``width`` bytes at ``element_offset``."""
        view = self._view((_SIGNED_FORMATS if signed else _FORMATS)[width], width)
        if 0 <= element_offset < len(view):
            return view[element_offset]
        raise self._element_error(width, element_offset, 1)

    def store(self, width: int, element_offset: int, value: int) -> None:
        """Stores the low ``width`` bytes of ``value`` at ``element_offset``."""
        if self.readonly:
            raise VMError(StatusCode.PERMISSION_DENIED, "buffer is read-only")
        view = self._view(_FORMATS[width], width)
        if 0 <= element_offset < len(view):
            view[element_offset] = value & ((1 << (8 * width)) - 1)
            return
        raise self._element_error(width, element_offset, 1)

    def load_float(self, width: int, element_offset: int) -> float:
        view = self._view("f" if width == 4 else "d", width)
        if 0 <= element_offset < len(view):
            return view[element_offset]
        raise self._element_error(width, element_offset, 1)

    def store_float(self, width: int, element_offset: int, value: float) -> None:
        if self.readonly:
            raise VMError(StatusCode.PERMISSION_DENIED, "buffer is read-only")
        view = self._view("f" if width == 4 else "d", width)
        if 0 <= element_offset < len(view):
            view[element_offset] = value
            return
        raise self._element_error(width, element_offset, 1)

    def fill(self, width: int, element_offset: int, element_length: int, pattern: bytes) -> None:
        """Repeats the ``width``-byte ``pattern`` over a range of elements."""
        self.check_writable()
        byte_offset, byte_length = element_offset * width, element_length * width
        self.check_range(byte_offset, byte_length)
        self._memory[byte_offset:byte_offset + byte_length] = pattern * element_length

    def _element_error(self, width: int, element_offset: int, count: int) -> VMError:
        return VMError(StatusCode.OUT_OF_RANGE,
                       f"buffer element {element_offset} (of {width} bytes) out of bounds "
                       f"of {len(self._memory)} bytes")

    # -- byte ranges ------------------------------------------------------------

    def copy_to(self, source_offset: int, target: "VMBuffer", target_offset: int, length: int) -> None:
        """Copies ``length`` bytes to ``target`` (ranges may overlap)."""
        target.check_writable()
        self.check_range(source_offset, length)
        target.check_range(target_offset, length)
        target._memory[target_offset:target_offset + length] = \
            self._memory[source_offset:source_offset + length].tobytes()

    def compare(self, offset: int, other: "VMBuffer", other_offset: int, length: int) -> bool:
        self.check_range(offset, length)
        other.check_range(other_offset, length)
        return self._memory[offset:offset + length] == other._memory[other_offset:other_offset + length]

    def clone(self, offset: int, length: int) -> "VMBuffer":
        """A new writable buffer holding a copy of ``length`` bytes at ``offset``."""
        self.check_range(offset, length)
        buffer = VMBuffer(0)
        buffer._data = bytearray(self._memory[offset:offset + length])
        buffer._memory = memoryview(buffer._data)
        return buffer

    def slice_bytes(self, offset: int, length: int) -> memoryview:
        self.check_range(offset, length)
        return self._memory[offset:offset + length]

    def crc32(self, offset: int, length: int) -> int:
        self.check_range(offset, length)
        return zlib.crc32(self._memory[offset:offset + length])
