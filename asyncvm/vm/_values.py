"""Value kinds of the VM and their Python representations.

Registers hold plain Python objects: i32 and i64 values are ``int`` kept in
their signed range, f32 and f64 values are ``float`` (an f32 is always a
float exactly representable in single precision), refs are objects or
``None``. The helpers here convert between those and raw bits; none of them
suspends.
"""

from __future__ import annotations

import enum
import struct

from ._status import StatusCode, VMError


class ValueKind(enum.Enum):
    """The kinds a register or calling-convention slot can hold."""

    I32 = "i"
    I64 = "I"
    F32 = "f"
    F64 = "F"
    REF = "r"

    @property
    def is_integer(self) -> bool:
        return self in (ValueKind.I32, ValueKind.I64)

    @property
    def is_float(self) -> bool:
        return self in (ValueKind.F32, ValueKind.F64)

    @property
    def slot_count(self) -> int:
        """How many 32-bit register slots the value occupies (refs: one ref slot)."""
        return 2 if self in (ValueKind.I64, ValueKind.F64) else 1


_F32 = struct.Struct("<f")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")


def wrap_i32(value: int) -> int:
    """Wraps an integer into the signed 32-bit range."""
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def wrap_i64(value: int) -> int:
    """Wraps an integer into the signed 64-bit range."""
    return ((value + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000


def round_f32(value: float) -> float:
    """Rounds a Python float to the nearest single-precision value.

    Overflow gives an infinity of the right sign, as an IEEE f32 store would.
    """
    try:
        return _F32.unpack(_F32.pack(value))[0]
    except OverflowError:
        return value * float("inf") if value == value else value


def f32_to_bits(value: float) -> int:
    """The signed i32 whose bits are the f32 ``value``."""
    return _I32.unpack(_F32.pack(value))[0]


def bits_to_f32(bits: int) -> float:
    """The f32 whose bits are the (any-signedness) 32-bit integer ``bits``."""
    return _F32.unpack(_U32.pack(bits & 0xFFFFFFFF))[0]


def f64_to_bits(value: float) -> int:
    """The signed i64 whose bits are the f64 ``value``."""
    return _I64.unpack(_F64.pack(value))[0]


def bits_to_f64(bits: int) -> float:
    """The f64 whose bits are the (any-signedness) 64-bit integer ``bits``."""
    return _F64.unpack(_U64.pack(bits & 0xFFFFFFFFFFFFFFFF))[0]


def coerce_argument(kind: ValueKind, value: object, what: str) -> object:
    """Checks and converts one caller-supplied value for a slot of ``kind``.

    Integers must fit the signed or unsigned range of their width (unsigned
    values are reinterpreted as signed); floats accept ints and floats; refs
    accept any object or ``None``. Raises INVALID_ARGUMENT naming ``what``.
    """
    if kind is ValueKind.I32 or kind is ValueKind.I64:
        if isinstance(value, bool) or not isinstance(value, int):
            if hasattr(value, "__index__") and not isinstance(value, (float, bool)):
                value = value.__index__()
            else:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{what}: expected an integer ({kind.name.lower()}), "
                              f"got {type(value).__name__}")
        bits = 32 if kind is ValueKind.I32 else 64
        if not -(1 << (bits - 1)) <= value < (1 << bits):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{what}: {value} does not fit in {kind.name.lower()}")
        return wrap_i32(value) if bits == 32 else wrap_i64(value)
    if kind is ValueKind.F32 or kind is ValueKind.F64:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)  # numpy scalars and the like
            except (TypeError, ValueError):
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{what}: expected a number ({kind.name.lower()}), "
                              f"got {type(value).__name__}") from None
        value = float(value)
        return round_f32(value) if kind is ValueKind.F32 else value
    return value
