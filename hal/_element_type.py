"""HAL element types: IREE's numbering, names and numpy dtypes.

An element type value is ``(numerical_type << 24) | bit_count``, as in
``iree_hal_element_type_t``. ``ElementType.parse`` accepts the names IREE's
tools use (``f32``, ``i32``, ``si8``, ``ui16``, ``i1``...); ``from_dtype``
maps a numpy dtype. Unknown names or types are INVALID_ARGUMENT.
"""

from __future__ import annotations

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

ENCODING_OPAQUE = 0
ENCODING_DENSE_ROW_MAJOR = 1


def element_type_value(numerical_type: int, bit_count: int) -> int:
    return (numerical_type << 24) | bit_count


# (name, numerical type, bits, numpy dtype); the first name for a value is the
# one printed.
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
]


class ElementType(int):
    """An ``iree_hal_element_type_t`` value with its name and numpy dtype."""

    _by_value: dict[int, tuple[str, numpy.dtype]] = {}
    _by_name: dict[str, int] = {}

    @property
    def name(self) -> str:
        entry = self._by_value.get(int(self))
        return entry[0] if entry else f"element_type(0x{int(self):08X})"

    @property
    def dtype(self) -> numpy.dtype:
        entry = self._by_value.get(int(self))
        if entry is None:
            raise VMError(StatusCode.UNIMPLEMENTED,
                          f"element type 0x{int(self):08X} has no numpy equivalent")
        return entry[1]

    @property
    def bit_count(self) -> int:
        return int(self) & 0xFF

    @property
    def byte_size(self) -> int:
        return (self.bit_count + 7) // 8

    @property
    def numerical_type(self) -> int:
        return (int(self) >> 24) & 0xFF

    def compatible_with(self, expected: "ElementType") -> bool:
        """Equal, or integers of the same width whatever their signedness (as
        IREE's buffer view checks allow)."""
        if int(self) == int(expected):
            return True
        integers = (NUMERICAL_INTEGER, NUMERICAL_INTEGER_SIGNED, NUMERICAL_INTEGER_UNSIGNED)
        return (self.numerical_type in integers and expected.numerical_type in integers
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
            dtype = numpy.dtype(dtype)
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
    ElementType._by_name[_name] = _value
ElementType._by_name["bool"] = element_type_value(NUMERICAL_BOOLEAN, 8)

# numpy dtype -> the element type it maps to (the first listed for that dtype).
_BY_DTYPE: dict = {}
for _value, (_name, _dtype) in ElementType._by_value.items():
    _BY_DTYPE.setdefault(_dtype, ElementType(_value))
