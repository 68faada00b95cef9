"""Buffer views: a buffer with a shape, an element type and an encoding.

``BufferView.from_array`` imports a numpy array without copying when it is
C-contiguous and 64-byte aligned (otherwise one copy); ``to_array`` views the bytes as an array
of the view's shape and dtype without copying. A buffer too small for the
shape is OUT_OF_RANGE. Nothing here suspends.
"""

from __future__ import annotations

import numpy

from asyncvm.vm import ALLOCATION_ALIGNMENT, StatusCode, VMError, aligned_array

from ._buffer import Buffer
from ._element_type import ENCODING_DENSE_ROW_MAJOR, ElementType


def _byte_size(element_type: ElementType, shape: tuple[int, ...]) -> int:
    size = element_type.byte_size
    for dimension in shape:
        size *= dimension
    return size


class BufferView:
    __slots__ = ("buffer", "shape", "element_type", "encoding_type", "__weakref__")

    def __init__(self, buffer: Buffer, shape, element_type: int,
                 encoding_type: int = ENCODING_DENSE_ROW_MAJOR) -> None:
        shape = tuple(int(dimension) for dimension in shape)
        if any(dimension < 0 for dimension in shape):
            raise VMError(StatusCode.INVALID_ARGUMENT, f"negative dimension in shape {shape}")
        element_type = ElementType(element_type)
        size = _byte_size(element_type, shape)
        if size > buffer.length:
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"a {'x'.join(map(str, shape)) or 'scalar'} {element_type.name} view "
                          f"needs {size} bytes; the buffer has {buffer.length}")
        self.buffer = buffer
        self.shape = shape
        self.element_type = element_type
        self.encoding_type = encoding_type

    @classmethod
    def from_array(cls, array, element_type: int | None = None) -> "BufferView":
        """Views a C-contiguous, 64-byte-aligned array without copying; any
        other array is copied once into an aligned allocation (compiled
        kernels may assume the HAL's 64-byte buffer alignment)."""
        array = numpy.asarray(array)
        if element_type is None:
            element_type = ElementType.from_dtype(array.dtype)
        aligned = array.__array_interface__["data"][0] % ALLOCATION_ALIGNMENT == 0
        if not (array.flags.c_contiguous and aligned):
            array = aligned_array(array)
        return cls(Buffer.wrap(array), array.shape, element_type)

    @property
    def byte_length(self) -> int:
        return _byte_size(self.element_type, self.shape)

    def to_array(self) -> numpy.ndarray:
        return self.buffer.array(self.element_type.dtype, self.shape)

    def __repr__(self) -> str:
        return f"<hal.buffer_view {'x'.join(map(str, self.shape))}x{self.element_type.name}>"
