"""Helpers that translated bytecode calls for the less common semantics.

Names here are what the instruction table's templates refer to (``_div_s32``,
``_r32``, ...). Each reproduces IREE's C runtime exactly, including its
x86-64 behaviour where C leaves a result undefined (documented per helper).
Failures raise VMError with a status code; the invocation driver adds the
location. None of them suspends.
"""

from __future__ import annotations

import math
import struct
import warnings

import numpy

from asyncvm.vm import QUANTUM_CHECK, StatusCode, TypeInfo, ValueKind, VMBuffer, VMError, VMList
from asyncvm.vm._values import (bits_to_f32, bits_to_f64, f32_to_bits, f64_to_bits, round_f32,
                                wrap_i32, wrap_i64)

_I32 = ValueKind.I32
_I64 = ValueKind.I64
_F32 = ValueKind.F32
_F64 = ValueKind.F64
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
_INT64_MIN = -(1 << 63)
_r32 = round_f32
# x86-64 answers an invalid operation (0/0, sqrt(-1), log(-1)) with the
# "default NaN": quiet, sign bit set. Python's libm paths give a positive NaN.
_DEFAULT_NAN = -math.nan


# -- integer division ----------------------------------------------------------

def _division_by_zero() -> VMError:
    return VMError(StatusCode.INVALID_ARGUMENT, "integer division by zero")


def _div_trunc(left: int, right: int) -> int:
    quotient = abs(left) // abs(right)
    return quotient if (left < 0) == (right < 0) else -quotient


def _div_s32(left: int, right: int) -> int:
    """Signed division rounding toward zero; INT_MIN / -1 wraps to INT_MIN."""
    if right == 0:
        raise _division_by_zero()
    return wrap_i32(_div_trunc(left, right))


def _div_u32(left: int, right: int) -> int:
    if right == 0:
        raise _division_by_zero()
    return wrap_i32((left & _MASK32) // (right & _MASK32))


def _rem_s32(left: int, right: int) -> int:
    """Remainder with the sign of the dividend (C's %); INT_MIN % -1 is 0."""
    if right == 0:
        raise _division_by_zero()
    return wrap_i32(left - _div_trunc(left, right) * right)


def _rem_u32(left: int, right: int) -> int:
    if right == 0:
        raise _division_by_zero()
    return wrap_i32((left & _MASK32) % (right & _MASK32))


def _div_s64(left: int, right: int) -> int:
    if right == 0:
        raise _division_by_zero()
    return wrap_i64(_div_trunc(left, right))


def _div_u64(left: int, right: int) -> int:
    if right == 0:
        raise _division_by_zero()
    return wrap_i64((left & _MASK64) // (right & _MASK64))


def _rem_s64(left: int, right: int) -> int:
    if right == 0:
        raise _division_by_zero()
    return wrap_i64(left - _div_trunc(left, right) * right)


def _rem_u64(left: int, right: int) -> int:
    if right == 0:
        raise _division_by_zero()
    return wrap_i64((left & _MASK64) % (right & _MASK64))


# -- floating point ---------------------------------------------------------------

def _fdiv(left: float, right: float) -> float:
    """IEEE division: x/0 is ±inf, 0/0 and nan are nan."""
    try:
        return left / right
    except ZeroDivisionError:
        if left != left:
            return left
        if left == 0.0:
            return _DEFAULT_NAN
        return math.copysign(math.inf, left) * math.copysign(1.0, right)


def _frem(left: float, right: float) -> float:
    """IEEE ``remainder`` (quotient rounded to nearest even), as IREE uses."""
    try:
        return math.remainder(left, right)
    except ValueError:
        return _DEFAULT_NAN


def _fma32(first: float, second: float, third: float) -> float:
    """``a * b + c`` in f32 without fusion: IREE's portable build rounds the
    product to f32 before adding."""
    return round_f32(round_f32(first * second) + third)


def _fabs(value: float) -> float:
    return math.fabs(value)


def _ceil(value: float) -> float:
    if value != value or value in (math.inf, -math.inf):
        return value
    return math.copysign(float(math.ceil(value)), value)


def _floor(value: float) -> float:
    if value != value or value in (math.inf, -math.inf):
        return value
    return math.copysign(float(math.floor(value)), value)


def _round_half_away(value: float) -> int:
    """Rounds a finite float to the nearest integer, halves away from zero."""
    whole = math.trunc(value)
    fraction = value - whole
    if fraction >= 0.5:
        whole += 1
    elif fraction <= -0.5:
        whole -= 1
    return whole


def _round(value: float) -> float:
    """C ``round``: halves away from zero; keeps the sign of zero."""
    if value != value or value in (math.inf, -math.inf):
        return value
    return math.copysign(float(_round_half_away(value)), value)


def _round_even(value: float) -> float:
    """IREE's portable round-half-to-even: ``round`` then fix odd halves.

    Reproduced step by step, so that like IREE ``round_even(-0.5)`` is +0.0.
    """
    rounded = _round(value)
    if value != value or value in (math.inf, -math.inf):
        return rounded
    if abs(value - rounded) == 0.5 and math.fmod(rounded, 2.0) != 0.0:
        rounded = rounded - 1.0 if rounded > 0.0 else rounded + 1.0
    return rounded


def _fmin(left: float, right: float) -> float:
    """``right < left ? right : left`` — a NaN on the right yields ``left``."""
    return right if right < left else left


def _fmax(left: float, right: float) -> float:
    """``left < right ? right : left``."""
    return right if left < right else left


def _numpy_unary(name: str, value: float) -> float:
    with warnings.catch_warnings(), numpy.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result = float(getattr(numpy, name)(numpy.float64(value)))
    return _DEFAULT_NAN if result != result and value == value else result


_MATH = {"cos": math.cos, "sin": math.sin, "exp": math.exp, "exp2": lambda x: 2.0 ** x,
         "expm1": math.expm1, "log": math.log, "log10": math.log10, "log1p": math.log1p,
         "log2": math.log2, "sqrt": math.sqrt}


def _unary(name: str, value: float) -> float:
    """A libm function with C semantics at the edges (inf, nan, domain errors)."""
    try:
        return _MATH[name](value)
    except (ValueError, OverflowError):
        return _numpy_unary(name, value)


def _pow(base: float, exponent: float) -> float:
    try:
        return math.pow(base, exponent)
    except (ValueError, OverflowError, ZeroDivisionError):
        with warnings.catch_warnings(), numpy.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = float(numpy.power(numpy.float64(base), numpy.float64(exponent)))
        invalid = result != result and base == base and exponent == exponent
        return _DEFAULT_NAN if invalid else result


def _rsqrt(value: float) -> float:
    return _fdiv(1.0, _unary("sqrt", value))


def _rsqrt32(value: float) -> float:
    """``1.0f / sqrtf(x)``: the root is rounded to f32 before dividing."""
    return round_f32(_fdiv(1.0, round_f32(_unary("sqrt", value))))


# Float-to-integer casts. IREE rounds with lround/llround (halves away from
# zero). Where C leaves the result undefined (NaN, out of range) x86-64
# produces the "integer indefinite" value 0x8000000000000000, which the
# 32-bit casts then truncate to 0.

def _llround(value: float) -> int:
    if value != value or not -9.223372036854776e18 <= value < 9.223372036854776e18:
        return _INT64_MIN
    return _round_half_away(value)


def _to_si32(value: float) -> int:
    return wrap_i32(_llround(value))


def _to_ui32(value: float) -> int:
    return wrap_i32(_llround(value))


def _to_si64(value: float) -> int:
    return _llround(value)


def _to_ui64(value: float) -> int:
    """``(uint64_t)round(x)`` as x86-64 compiles it (values past 2^63 are folded)."""
    if value != value or value in (math.inf, -math.inf):
        return _INT64_MIN
    rounded = _round_half_away(value)
    if -(1 << 63) <= rounded < (1 << 64):
        return wrap_i64(rounded)
    return _INT64_MIN


def _f64_to_si32(value: float) -> int:
    """IREE's f64->i32 casts go through ``lroundf``: the double is narrowed first."""
    return _to_si32(round_f32(value))


# -- refs, lists, buffers --------------------------------------------------------

def _null(what: str) -> VMError:
    return VMError(StatusCode.INVALID_ARGUMENT, f"{what} is null")


def _list(value: object) -> VMList:
    if value.__class__ is VMList or isinstance(value, VMList):
        return value
    if value is None:
        raise _null("list")
    raise VMError(StatusCode.INVALID_ARGUMENT, f"expected a list, got {type(value).__name__}")


def _buffer(value: object) -> VMBuffer:
    if value.__class__ is VMBuffer or isinstance(value, VMBuffer):
        return value
    if value is None:
        raise _null("buffer")
    raise VMError(StatusCode.INVALID_ARGUMENT, f"expected a buffer, got {type(value).__name__}")


_VARIANT_ELEMENT_NAMES = ("?", "!vm.opaque", "!vm.ref<?>")


def _new_list(element_type: TypeInfo, capacity: int) -> VMList:
    """``list.alloc``: the capacity is unsigned, so a negative one is huge."""
    variant = element_type.kind is ValueKind.REF and element_type.name in _VARIANT_ELEMENT_NAMES
    return VMList(None if variant else element_type, capacity & 0xFFFFFFFF)


def _buffer_alloc(length: int, alignment: int) -> VMBuffer:
    """``buffer.alloc``: zeroed bytes; the length is unsigned (negative is huge)."""
    if alignment & (alignment - 1):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"alignments must be powers of two (got {alignment})")
    if length < 0:
        raise VMError(StatusCode.RESOURCE_EXHAUSTED,
                      f"buffer length {length & 0xFFFFFFFFFFFFFFFF} cannot be allocated")
    return VMBuffer(length)


def _cast_ref(value: object, type_info: TypeInfo) -> object:
    if value is None or type_info.accepts(value):
        return value
    raise VMError(StatusCode.INVALID_ARGUMENT,
                  f"ref of type {type(value).__name__} cannot be cast to {type_info.name}")


def _pattern(width: int, value: int) -> bytes:
    return (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")


def _float_pattern(width: int, value: float) -> bytes:
    return struct.pack("<f" if width == 4 else "<d", value)


def _rotate(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK64


def _siphash_2_4(data: bytes) -> int:
    """SipHash-2-4 with key 00 01 ... 0f, as ``vm.buffer.hash`` computes it."""
    v0 = 0x736F6D6570736575 ^ 0x0706050403020100
    v1 = 0x646F72616E646F6D ^ 0x0F0E0D0C0B0A0908
    v2 = 0x6C7967656E657261 ^ 0x0706050403020100
    v3 = 0x7465646279746573 ^ 0x0F0E0D0C0B0A0908

    def rounds(count: int) -> None:
        nonlocal v0, v1, v2, v3
        for _ in range(count):
            v0 = (v0 + v1) & _MASK64; v1 = _rotate(v1, 13); v1 ^= v0; v0 = _rotate(v0, 32)
            v2 = (v2 + v3) & _MASK64; v3 = _rotate(v3, 16); v3 ^= v2
            v0 = (v0 + v3) & _MASK64; v3 = _rotate(v3, 21); v3 ^= v0
            v2 = (v2 + v1) & _MASK64; v1 = _rotate(v1, 17); v1 ^= v2; v2 = _rotate(v2, 32)

    length = len(data)
    whole = length - length % 8
    for offset in range(0, whole, 8):
        word = int.from_bytes(data[offset:offset + 8], "little")
        v3 ^= word
        rounds(2)
        v0 ^= word
    last = ((length & 0xFF) << 56) | int.from_bytes(data[whole:], "little")
    v3 ^= last
    rounds(2)
    v0 ^= last
    v2 ^= 0xFF
    rounds(4)
    return wrap_i64(v0 ^ v1 ^ v2 ^ v3)


def _buffer_hash(buffer: VMBuffer, offset: int, length: int) -> int:
    return _siphash_2_4(bytes(buffer.slice_bytes(offset, length)))


def _fail(status: int, message: str) -> VMError:
    """``vm.fail``: like IREE, only the low 5 bits of the code are kept."""
    return VMError(StatusCode.from_value(status & 0x1F), message or "vm.fail")


def _unresolved_import(name: str):
    def call(*arguments):
        raise VMError(StatusCode.NOT_FOUND, f"optional import {name!r} is not resolved")
    return call


def _fell_off() -> VMError:
    return VMError(StatusCode.INVALID_ARGUMENT,
                   "execution ran past the last block of a function (damaged bytecode)")


def _print(event: str, values: tuple) -> None:
    print(f"{event}: " + " ".join(str(value) for value in values))


SUPPORT = {name: value for name, value in globals().items()
           if name.startswith("_") and not name.startswith("__")}
SUPPORT.update({
    "_math": math, "_bits_to_f32": bits_to_f32, "_f32_to_bits": f32_to_bits,
    "_bits_to_f64": bits_to_f64, "_f64_to_bits": f64_to_bits, "_VMList": VMList,
    "_VMBuffer": VMBuffer, "_CHECK": QUANTUM_CHECK,
})
