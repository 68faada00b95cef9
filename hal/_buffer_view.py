"""Buffer views: a buffer with a shape, an element type and an encoding.

``BufferView.from_array`` imports a numpy array without copying when it is
C-contiguous and 64-byte aligned (otherwise one copy); ``to_array`` views the
bytes as an array of the view's shape and dtype without copying. bf16 and the
f8 types are ``ml_dtypes`` arrays, viewed and imported like any other.

Sub-byte types (``i4``, ``i2``, packed ``i1``) are stored packed, as IREE
stores them (element ``k`` at bit ``k * bits``, least significant first; an
odd count rounds the byte count up). They cannot be viewed in place:
``from_array`` packs (one copy) and ``to_array`` returns an unpacked copy
(``ml_dtypes.int4``/``uint4``/``int2``/``uint2`` arrays, booleans for packed
``i1``), so writing to that copy does not change the buffer. IREE's own
Python API maps neither way for these types.

A buffer too small for the shape is OUT_OF_RANGE naming both sizes; a
negative dimension, or an array that does not fit the element type asked for,
is INVALID_ARGUMENT. Nothing here suspends.
"""

from __future__ import annotations

import ml_dtypes
import numpy

from asyncvm.vm import (ALLOCATION_ALIGNMENT, StatusCode, VMError, address_of, aligned_array,
                        aligned_copy, allocate_storage)

from ._buffer import Buffer
from ._element_type import ENCODING_DENSE_ROW_MAJOR, ElementType, byte_aligned_dtypes


def _element_count(shape: tuple[int, ...]) -> int:
    count = 1
    for dimension in shape:
        count *= dimension
    return count


EAGER_COPY_BYTES = 64 * 1024
"""Protected arrays up to this size are copied at once rather than viewed."""


def _shape_and_count(shape) -> tuple[tuple[int, ...], int]:
    """A view's shape as a tuple of ints, and its element count;
    INVALID_ARGUMENT for a negative dimension. The usual shape (a tuple of
    ints) costs one pass."""
    if shape.__class__ is not tuple:
        shape = tuple(shape)
    count = 1
    for dimension in shape:
        if dimension.__class__ is not int:
            return _shape_and_count(tuple(int(each) for each in shape))  # numpy integers
        if dimension < 0:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"negative dimension in shape {shape}")
        count *= dimension
    return shape, count


_ELEMENT_TYPES: dict[int, ElementType] = {}
"""Element types seen so far, by value: one ElementType object per value."""


def _intern_element_type(value: int) -> ElementType:
    element = ElementType(value)
    if len(_ELEMENT_TYPES) < 4096:  # values come from programs: bound the table
        _ELEMENT_TYPES[int(value)] = element
    return element


def _byte_size(element_type: ElementType, shape: tuple[int, ...]) -> int:
    """IREE's ``iree_hal_buffer_compute_view_size`` for a dense row-major view:
    the packed byte count of all the elements."""
    return element_type.packed_byte_count(_element_count(shape))


def _describe(element_type: ElementType, shape: tuple[int, ...]) -> str:
    """``4xi4`` (``i4`` for a scalar), as IREE's tools spell a view's type."""
    return "x".join([*map(str, shape), element_type.name])


def unpack_bits(packed: numpy.ndarray, bits: int, count: int) -> numpy.ndarray:
    """The ``count`` unsigned ``bits``-wide fields of ``packed`` (uint8), least
    significant bits first, as a new ``uint8`` (``bits`` <= 8) array."""
    if bits in (1, 2, 4):
        shifts = numpy.arange(0, 8, bits, dtype=numpy.uint8)
        fields = (packed[:, None] >> shifts) & numpy.uint8((1 << bits) - 1)
        return fields.reshape(-1)[:count]
    stream = numpy.unpackbits(packed, bitorder="little")[:count * bits].reshape(count, bits)
    weights = (1 << numpy.arange(bits, dtype=numpy.uint16)).astype(numpy.uint16)
    return (stream.astype(numpy.uint16) @ weights).astype(numpy.uint8)


def pack_bits(fields: numpy.ndarray, bits: int) -> numpy.ndarray:
    """Packs the low ``bits`` of each value of ``fields`` (any integer array),
    least significant first, into a new 64-byte-aligned ``uint8`` array of
    ``ceil(len * bits / 8)`` bytes; padding bits are zero."""
    fields = (fields.reshape(-1).astype(numpy.int64) & ((1 << bits) - 1)).astype(numpy.uint8)
    count = fields.shape[0]
    storage = allocate_storage((count * bits + 7) // 8, zeroed=True)
    if bits in (1, 2, 4):
        per_byte = 8 // bits
        padded = numpy.zeros(storage.shape[0] * per_byte, dtype=numpy.uint8)
        padded[:count] = fields
        shifts = numpy.arange(0, 8, bits, dtype=numpy.uint8)
        storage[:] = numpy.bitwise_or.reduce(padded.reshape(-1, per_byte) << shifts, axis=1)
        return storage
    stream = ((fields[:, None] >> numpy.arange(bits, dtype=numpy.uint8)) & 1).reshape(-1)
    storage[:] = numpy.packbits(stream, bitorder="little")
    return storage


# The ml_dtypes integer types narrower than a byte, and which are signed.
_SUB_BYTE_DTYPES = {numpy.dtype(ml_dtypes.int4): True, numpy.dtype(ml_dtypes.int2): True,
                    numpy.dtype(ml_dtypes.uint4): False, numpy.dtype(ml_dtypes.uint2): False}


def _sub_byte_fields(array: numpy.ndarray, element_type: ElementType) -> numpy.ndarray:
    """The integer values of ``array`` for a packed element type: booleans,
    numpy integers or ``ml_dtypes`` sub-byte integers (only their low bits are
    stored, two's complement, as a narrowing ``astype`` keeps them);
    INVALID_ARGUMENT for anything else."""
    dtype = array.dtype
    if dtype == numpy.bool_ or dtype.kind in "iu":
        return array
    if dtype in _SUB_BYTE_DTYPES:
        return array.astype(numpy.int8)
    raise VMError(StatusCode.INVALID_ARGUMENT,
                  f"a {dtype} array cannot be stored as {element_type.name} elements")


def _check_packable(element_type: ElementType) -> None:
    """UNIMPLEMENTED for unaligned types wider than a byte (``i12``...)."""
    if element_type.bit_count > 8:
        raise VMError(StatusCode.UNIMPLEMENTED,
                      f"packed {element_type.bit_count}-bit elements ({element_type.name}) "
                      "are not supported")


class BufferView:
    __slots__ = ("buffer", "shape", "element_type", "encoding_type", "__weakref__")

    def __init__(self, buffer: Buffer, shape, element_type: int,
                 encoding_type: int = ENCODING_DENSE_ROW_MAJOR) -> None:
        shape, count = _shape_and_count(shape)
        element_type = _ELEMENT_TYPES.get(element_type) or _intern_element_type(element_type)
        size = (count * (element_type & 0xFF) + 7) // 8  # iree_hal_element_packed_byte_count
        if size > buffer.length:
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"a {_describe(element_type, shape)} view needs {size} "
                          f"byte{'s' if size != 1 else ''}; the buffer has {buffer.length}")
        self.buffer = buffer
        self.shape = shape
        self.element_type = element_type
        self.encoding_type = encoding_type

    @classmethod
    def from_array(cls, array, element_type: int | None = None, *,
                   protect: bool = False) -> "BufferView":
        """Views a C-contiguous, 64-byte-aligned array without copying; any
        other array is copied once into an aligned allocation (compiled
        kernels may assume the HAL's 64-byte buffer alignment). Arrays for a
        packed sub-byte type (``ml_dtypes.int4`` etc., or integers with an
        explicit ``element_type``) are packed into a new buffer.

        With ``protect``, the caller's memory is viewed read-only: the
        compiler may reuse an argument's buffer for a result (a sort or a
        scatter in place), and a protected array then gets a private copy the
        first time a dispatch binds it or a write reaches it, so the caller's
        array never changes (IREE's Python API copies every input instead).
        A protected array of at most ``EAGER_COPY_BYTES`` is copied at once."""
        if array.__class__ is not numpy.ndarray:
            array = numpy.asarray(array)
        elif protect and element_type is None and array.nbytes <= EAGER_COPY_BYTES:
            view = _small_input(array)
            if view is not None:
                return view
        if element_type is None:
            element_type = ElementType.from_dtype(array.dtype)
        else:
            element_type = ElementType(element_type)
        if protect and array.nbytes <= EAGER_COPY_BYTES and element_type.is_byte_aligned:
            # A small protected array: our own copy, made now (cheaper than
            # protecting it and copying when a dispatch binds it, which with
            # no per-binding read-only flag it would), straight into the
            # buffer's aligned bytes.
            storage = allocate_storage(array.nbytes, zeroed=False)
            numpy.copyto(numpy.ndarray(array.shape, array.dtype, storage), array)
            return cls(Buffer(storage), array.shape, element_type)
        if not element_type.is_byte_aligned:
            _check_packable(element_type)
            fields = _sub_byte_fields(array, element_type)
            packed = pack_bits(fields, element_type.bit_count)
            return cls(Buffer(packed), array.shape, element_type)
        if not (array.flags.c_contiguous and address_of(array) % ALLOCATION_ALIGNMENT == 0):
            array = aligned_array(array)  # our own copy: nothing to protect
        elif protect and array.flags.writeable:
            array = array.view()
            array.flags.writeable = False
        return cls(Buffer.wrap(array), array.shape, element_type)

    @classmethod
    def _over(cls, buffer: Buffer, shape: tuple[int, ...],
              element_type: ElementType) -> "BufferView":
        """A view made without checks, for callers that built ``shape`` (a
        tuple of ints) and ``buffer`` to fit: the fast paths below."""
        view = cls.__new__(cls)
        view.buffer = buffer
        view.shape = shape
        view.element_type = element_type
        view.encoding_type = ENCODING_DENSE_ROW_MAJOR
        return view

    @property
    def byte_length(self) -> int:
        return _byte_size(self.element_type, self.shape)

    @property
    def element_count(self) -> int:
        return _element_count(self.shape)

    def raw_bytes(self) -> numpy.ndarray:
        """The view's ``byte_length`` bytes as a ``uint8`` view of the buffer (no copy)."""
        return self.buffer.bytes_view(0, self.byte_length)

    def to_array(self) -> numpy.ndarray:
        """The elements as a numpy array: a view of the buffer (no copy), or
        for a packed sub-byte type an unpacked copy. UNIMPLEMENTED for a type
        numpy has no equivalent for."""
        element = self.element_type
        dtype = _ALIGNED_DTYPES.get(element)
        if dtype is not None:
            # The constructor checked the buffer holds the shape: one numpy
            # call makes the typed view (read-only while the memory is).
            buffer = self.buffer
            return numpy.ndarray(self.shape, dtype, buffer.allocation.storage, buffer.offset)
        dtype = element.dtype
        if element.is_byte_aligned:
            return self.buffer.array(dtype, self.shape)
        _check_packable(element)
        count = self.element_count
        fields = unpack_bits(self.raw_bytes(), element.bit_count, count)
        if dtype == numpy.bool_:
            return (fields != 0).reshape(self.shape)
        if _SUB_BYTE_DTYPES.get(dtype):  # signed: extend the sign bit
            sign = numpy.uint8(1 << (element.bit_count - 1))
            fields = fields.astype(numpy.int8) - ((fields & sign).astype(numpy.int8) << 1)
        return fields.astype(dtype).reshape(self.shape)

    def __repr__(self) -> str:
        return f"<hal.buffer_view {'x'.join(map(str, self.shape))}x{self.element_type.name}>"


_ALIGNED_DTYPES: dict[int, numpy.dtype] = byte_aligned_dtypes()
"""The types ``to_array`` views with one numpy call, and their dtypes."""

_INPUT_TYPES: dict[numpy.dtype, ElementType] = {
    dtype: element for element, dtype in _ALIGNED_DTYPES.items()}
"""The same, by dtype: the inputs ``from_array`` copies on its fast path."""


def protected_input(array: numpy.ndarray) -> BufferView:
    """``BufferView.from_array(array, protect=True)``, the conversion of a
    call's numpy argument: a small array of a plain dtype (the usual input)
    goes straight to its copy. Same results and errors; does not suspend."""
    if array.__class__ is numpy.ndarray and array.nbytes <= EAGER_COPY_BYTES:
        view = _small_input(array)
        if view is not None:
            return view
    return BufferView.from_array(array, protect=True)


def _small_input(array: numpy.ndarray) -> BufferView | None:
    """``from_array(array, protect=True)`` for a small array of a plain
    dtype (the usual input of a call): the copy into a new aligned buffer
    (``aligned_copy``: one native call when the C helper was built), with
    no checks it does not need (the shape and size come from the array).
    None for anything else, which takes the general path;
    RESOURCE_EXHAUSTED, as there, when the memory cannot be had."""
    element_type = _INPUT_TYPES.get(array.dtype)
    if element_type is None:
        return None
    block, start = aligned_copy(array)
    return BufferView._over(Buffer.over_block(block, start, array.nbytes), array.shape,
                            element_type)
