"""HAL element types: IREE's numbering, names and numpy dtypes.

An element type value is ``(numerical_type << 24) | bit_count``, as in
``iree_hal_element_type_t``. ``ElementType.parse`` accepts the names IREE's
tools use (``f32``, ``i32``, ``si8``, ``ui16``, ``i1``, ``i4``, ``bf16``,
``f8E4M3FN``...); ``from_dtype`` maps a numpy dtype. Unknown names or types
are INVALID_ARGUMENT.

Types narrower than a byte (``i4``, ``i2`` and their signed and unsigned
forms) are stored packed, as IREE stores them: element ``k`` occupies bits
``k * bits`` up of the buffer, least significant bits first, so a ``4xi4``
view needs 2 bytes and an odd count rounds up (:meth:`ElementType.packed_byte_count`,
IREE's ``iree_hal_element_packed_byte_count``). Their numpy dtypes, and
those of ``bf16`` and the ``f8`` family, come from ``ml_dtypes`` (as in IREE's
Python bindings, which map bf16 and f8 the same way but have no mapping for
the sub-byte integers). ``i1`` tensors cross the ABI as one byte each
(``IREE_HAL_ELEMENT_TYPE_BOOL_8``, numpy ``bool``); a 1-bit integer type
(``0x10000001``, packed eight to a byte) is also understood, as booleans.
"""

from __future__ import annotations

import ml_dtypes
import numpy

from asyncvm.vm import StatusCode, VMError

NUMERICAL_UNKNOWN = 0x00
NUMERICAL_INTEGER = 0x10
NUMERICAL_INTEGER_SIGNED = 0x11
NUMERICAL_INTEGER_UNSIGNED = 0x12
NUMERICAL_BOOLEAN = 0x13
NUMERICAL_FLOAT_IEEE = 0x21
NUMERICAL_FLOAT_BRAIN = 0x22
NUMERICAL_FLOAT_COMPLEX = 0x23
NUMERICAL_FLOAT_8_E5M2 = 0x24
NUMERICAL_FLOAT_8_E4M3FN = 0x25
NUMERICAL_FLOAT_8_E5M2_FNUZ = 0x26
NUMERICAL_FLOAT_8_E4M3_FNUZ = 0x27
NUMERICAL_FLOAT_8_E8M0_FNU = 0x28

ENCODING_OPAQUE = 0
ENCODING_DENSE_ROW_MAJOR = 1

_INTEGERS = (NUMERICAL_INTEGER, NUMERICAL_INTEGER_SIGNED, NUMERICAL_INTEGER_UNSIGNED)
# Real floating-point kinds: IEEE, brain and the 8-bit families (not complex).
_FLOATS = (NUMERICAL_FLOAT_IEEE, NUMERICAL_FLOAT_BRAIN, NUMERICAL_FLOAT_8_E5M2,
           NUMERICAL_FLOAT_8_E4M3FN, NUMERICAL_FLOAT_8_E5M2_FNUZ,
           NUMERICAL_FLOAT_8_E4M3_FNUZ, NUMERICAL_FLOAT_8_E8M0_FNU)
# iree_hal_format_element_type's prefixes for the types without a table name.
_PREFIXES = {NUMERICAL_INTEGER: "i", NUMERICAL_INTEGER_SIGNED: "si",
             NUMERICAL_INTEGER_UNSIGNED: "ui", NUMERICAL_FLOAT_IEEE: "f",
             NUMERICAL_FLOAT_BRAIN: "bf", NUMERICAL_FLOAT_COMPLEX: "cf"}


def element_type_value(numerical_type: int, bit_count: int) -> int:
    return (numerical_type << 24) | bit_count


# (name, numerical type, bits, numpy dtype); the first name for a value is the
# one printed, the first entry for a dtype the one ``from_dtype`` picks, and the
# first entry for a name the one ``parse`` picks.
_TABLE = [
    ("i8", NUMERICAL_INTEGER, 8, numpy.int8),
    ("si8", NUMERICAL_INTEGER_SIGNED, 8, numpy.int8),
    ("ui8", NUMERICAL_INTEGER_UNSIGNED, 8, numpy.uint8),
    ("i16", NUMERICAL_INTEGER, 16, numpy.int16),
    ("si16", NUMERICAL_INTEGER_SIGNED, 16, numpy.int16),
    ("ui16", NUMERICAL_INTEGER_UNSIGNED, 16, numpy.uint16),
    ("i32", NUMERICAL_INTEGER, 32, numpy.int32),
    ("si32", NUMERICAL_INTEGER_SIGNED, 32, numpy.int32),
    ("ui32", NUMERICAL_INTEGER_UNSIGNED, 32, numpy.uint32),
    ("i64", NUMERICAL_INTEGER, 64, numpy.int64),
    ("si64", NUMERICAL_INTEGER_SIGNED, 64, numpy.int64),
    ("ui64", NUMERICAL_INTEGER_UNSIGNED, 64, numpy.uint64),
    ("f16", NUMERICAL_FLOAT_IEEE, 16, numpy.float16),
    ("f32", NUMERICAL_FLOAT_IEEE, 32, numpy.float32),
    ("f64", NUMERICAL_FLOAT_IEEE, 64, numpy.float64),
    ("i1", NUMERICAL_BOOLEAN, 8, numpy.bool_),
    ("complex<f32>", NUMERICAL_FLOAT_COMPLEX, 64, numpy.complex64),
    ("complex<f64>", NUMERICAL_FLOAT_COMPLEX, 128, numpy.complex128),
    # Packed sub-byte integers (unpacked into ml_dtypes arrays).
    ("i4", NUMERICAL_INTEGER, 4, ml_dtypes.int4),
    ("si4", NUMERICAL_INTEGER_SIGNED, 4, ml_dtypes.int4),
    ("ui4", NUMERICAL_INTEGER_UNSIGNED, 4, ml_dtypes.uint4),
    ("i2", NUMERICAL_INTEGER, 2, ml_dtypes.int2),
    ("si2", NUMERICAL_INTEGER_SIGNED, 2, ml_dtypes.int2),
    ("ui2", NUMERICAL_INTEGER_UNSIGNED, 2, ml_dtypes.uint2),
    # Packed i1 (eight to a byte); "i1" still parses as the one-byte boolean.
    ("i1", NUMERICAL_INTEGER, 1, numpy.bool_),
    # bf16 and the 8-bit floats IREE 3.13 numbers (runtime/src/iree/hal/buffer_view.h).
    ("bf16", NUMERICAL_FLOAT_BRAIN, 16, ml_dtypes.bfloat16),
    ("f8E5M2", NUMERICAL_FLOAT_8_E5M2, 8, ml_dtypes.float8_e5m2),
    ("f8E4M3FN", NUMERICAL_FLOAT_8_E4M3FN, 8, ml_dtypes.float8_e4m3fn),
    ("f8E5M2FNUZ", NUMERICAL_FLOAT_8_E5M2_FNUZ, 8, ml_dtypes.float8_e5m2fnuz),
    ("f8E4M3FNUZ", NUMERICAL_FLOAT_8_E4M3_FNUZ, 8, ml_dtypes.float8_e4m3fnuz),
    ("f8E8M0FNU", NUMERICAL_FLOAT_8_E8M0_FNU, 8, ml_dtypes.float8_e8m0fnu),
]


class ElementType(int):
    """An ``iree_hal_element_type_t`` value with its name and numpy dtype."""

    _by_value: dict[int, tuple[str, numpy.dtype]] = {}
    _by_name: dict[str, int] = {}

    @property
    def name(self) -> str:
        """The table name, else IREE's spelling (``i3``, ``f7``) for a known
        numerical kind, else ``element_type(0x...)``."""
        entry = self._by_value.get(int(self))
        if entry:
            return entry[0]
        prefix = _PREFIXES.get(self.numerical_type)
        if prefix is not None and int(self) >> 8 & 0xFFFF == 0:
            return f"{prefix}{self.bit_count}"
        return f"element_type(0x{int(self):08X})"

    @property
    def dtype(self) -> numpy.dtype:
        """The numpy dtype of one (unpacked) element; UNIMPLEMENTED for a type
        numpy has no equivalent for."""
        entry = self._by_value.get(int(self))
        if entry is None:
            raise VMError(StatusCode.UNIMPLEMENTED,
                          f"element type {self.name} (0x{int(self):08X}) has no numpy equivalent")
        return entry[1]

    @property
    def bit_count(self) -> int:
        return int(self) & 0xFF

    @property
    def byte_size(self) -> int:
        """Bytes one element takes when not packed (IREE's
        ``iree_hal_element_dense_byte_count``: 1 for a sub-byte type)."""
        return (self.bit_count + 7) // 8

    @property
    def is_byte_aligned(self) -> bool:
        """False for the packed sub-byte types (``i4``, ``i2``, packed ``i1``)."""
        return self.bit_count % 8 == 0

    def packed_byte_count(self, element_count: int) -> int:
        """Bytes ``element_count`` densely packed elements take (IREE's
        ``iree_hal_element_packed_byte_count``): 2 for four ``i4``, 2 for three."""
        return (element_count * self.bit_count + 7) // 8

    @property
    def numerical_type(self) -> int:
        return (int(self) >> 24) & 0xFF

    @property
    def is_integer(self) -> bool:
        """A signless, signed or unsigned integer of any width (not i1's boolean)."""
        return self.numerical_type in _INTEGERS

    @property
    def is_float(self) -> bool:
        """A real floating-point type: f16/f32/f64, bf16 or one of the f8 types."""
        return self.numerical_type in _FLOATS

    @property
    def is_boolean(self) -> bool:
        return self.numerical_type == NUMERICAL_BOOLEAN

    def compatible_with(self, expected: "ElementType") -> bool:
        """Equal, or integers of the same width whatever their signedness (as
        IREE's buffer view checks allow)."""
        if int(self) == int(expected):
            return True
        return (self.numerical_type in _INTEGERS and expected.numerical_type in _INTEGERS
                and self.bit_count == expected.bit_count)

    @classmethod
    def parse(cls, name: str) -> "ElementType":
        value = cls._by_name.get(name)
        if value is None:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"unknown element type {name!r}")
        return cls(value)

    @classmethod
    def from_dtype(cls, dtype) -> "ElementType":
        element = _BY_DTYPE.get(dtype)
        if element is None:
            try:
                dtype = numpy.dtype(dtype)
            except TypeError:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"no element type for {dtype!r}") from None
            element = _BY_DTYPE.get(dtype)
            if element is None:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"no element type for numpy dtype {dtype}")
        return element

    def __repr__(self) -> str:
        return self.name


for _name, _numerical, _bits, _dtype in _TABLE:
    _value = element_type_value(_numerical, _bits)
    ElementType._by_value.setdefault(_value, (_name, numpy.dtype(_dtype)))
    ElementType._by_name.setdefault(_name, _value)
ElementType._by_name["bool"] = element_type_value(NUMERICAL_BOOLEAN, 8)

# numpy dtype -> the element type it maps to (the first listed for that dtype).
_BY_DTYPE: dict = {}
for _value, (_name, _dtype) in ElementType._by_value.items():
    _BY_DTYPE.setdefault(_dtype, ElementType(_value))


def byte_aligned_dtypes() -> dict[ElementType, numpy.dtype]:
    """Each byte-aligned element type that a numpy dtype of its own size
    stands for (the first listed for that dtype), with that dtype: the
    types buffer views map to and from numpy arrays without a conversion."""
    return {element: dtype for dtype, element in _BY_DTYPE.items()
            if element.is_byte_aligned and dtype.itemsize * 8 == element.bit_count}
