"""Reading ``--input`` values and printing results in iree-run-module's format.

Scalars: ``5``, ``-2.5``, or typed ``i32=5``, ``f32=2.5``; an untyped scalar
takes the kind of the function's argument. Tensors (ref arguments):
``2x3xf32=1,2,3,4,5,6``, ``2x2xf32=[1 2][3 4]``, one value splatted, none for
zeros, ``f32=2.5`` for rank 0, ``@file.npy`` for a numpy file, and hex bytes
for ``i1`` and (one per packed byte, as IREE reads them) for ``i4``/``i2``.
Results print as ``result[N]: i32=5``; buffer views as
``result[N]: hal.buffer_view`` and ``2x3xf32=[1 2 3][4 5 6]`` with ``%G``
floats (bf16 and f8 widened to f32 first) and IREE's elision after 1024
elements; i1 as hex bytes. ``i4``/``i2`` results print one decimal value per
element (``4xi4=1 2 3 4``): IREE 3.13's tools cannot print them (OUT_OF_RANGE
while "printing results"). Errors are VMError naming the input.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy

from asyncvm.vm import Span, StatusCode, ValueKind, VMBuffer, VMError, VMList, allocate_storage
from asyncvm.hal import Buffer, BufferView, ElementType
from asyncvm.hal._element_type import NUMERICAL_INTEGER_SIGNED, NUMERICAL_INTEGER_UNSIGNED

_TYPED = {"i8": ValueKind.I32, "i16": ValueKind.I32, "i32": ValueKind.I32, "i64": ValueKind.I64,
          "si32": ValueKind.I32, "ui32": ValueKind.I32, "si64": ValueKind.I64,
          "ui64": ValueKind.I64, "f16": ValueKind.F32, "f32": ValueKind.F32,
          "f64": ValueKind.F64}
_SEPARATORS = re.compile(r"[\s,\[\]]+")
MAX_ELEMENTS = 1024


def parse_input(text: str, slot: Any, index: int) -> Any:
    """Parses one ``--input`` for an argument of ``slot`` kind."""
    what = f"input {index} ({text!r})"
    if isinstance(slot, Span):
        raise VMError(StatusCode.UNIMPLEMENTED, f"{what}: variadic arguments are not supported")
    if slot is ValueKind.REF:
        return parse_tensor(text, what)
    body = text
    if "=" in text:
        prefix, body = text.split("=", 1)
        kind = _TYPED.get(prefix)
        if kind is None:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{what}: {prefix!r} is not a scalar type")
        if not ((kind.is_integer and slot.is_integer) or (kind.is_float and slot.is_float)):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{what}: a {prefix} value for a {slot.name.lower()} argument")
    try:
        return int(body, 0) if slot.is_integer else float(body)
    except ValueError:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{what}: not a {slot.name.lower()} value") from None


def parse_tensor(text: str, what: str) -> BufferView:
    """A tensor argument: ``SHAPExTYPE=VALUES``, ``TYPE=VALUE`` or ``@file.npy``.

    Values are read as IREE's ``iree_hal_parse_buffer_elements`` reads them:
    no values means zeros, one value is splatted, otherwise one per element.
    Integers are decimal (or ``0x``/``0o``/``0b``); floats go through f32 and
    are rounded to f16, bf16 and the f8 types with IREE's own conversion
    (``iree_math_f32_to_*``). ``i1`` takes one hex byte per element, stored as
    given. A packed sub-byte type (``i4``, ``i2``...) takes, as in IREE, one
    hex byte per byte of packed storage (``4xi4=21 43`` is 1 2 3 4, low
    nibble first; one byte is splatted over all of them); asyncvm also takes
    one decimal value per element when there are as many values as elements
    (and that is not the byte count: with a single element, a hex byte).
    """
    if text.startswith(("@", "+")):
        try:
            array = numpy.load(text[1:], allow_pickle=False)
        except (OSError, ValueError) as error:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"{what}: cannot read: {error}") from None
        return BufferView.from_array(array)
    spec, _, values = text.partition("=")
    if not spec:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{what}: invalid tensor specification, requires at least a shape/type "
                      "(`4x2xf32=...`)")
    *dimensions, type_name = spec.split("x")
    try:
        shape = tuple(int(d) for d in dimensions)
    except ValueError:
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{what}: bad shape {spec!r}") from None
    if any(dimension < 0 for dimension in shape):
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{what}: negative dimension in {spec!r}")
    try:
        element = ElementType.parse(type_name)
    except VMError as error:
        raise VMError(error.status, f"{what}: {error.message}") from None
    count = 1
    for dimension in shape:
        count *= dimension
    tokens = [t for t in _SEPARATORS.split(values) if t]
    if not element.is_byte_aligned and not element.is_boolean:
        return _parse_packed(tokens, element, shape, count, what)
    splat = len(tokens) == 1 and count > 1
    if tokens and not splat and len(tokens) != count:
        raise VMError(StatusCode.OUT_OF_RANGE,
                      f"{what}: {len(tokens)} values for {count} elements")
    dtype = element.dtype
    try:
        if element.is_boolean:
            array = numpy.array([_hex_byte(t) for t in tokens], dtype=numpy.uint8).view(dtype)
        elif element.is_float and dtype.itemsize < 4:
            bits = [_narrow_float_bits(_f32(t), element) for t in tokens]
            storage = numpy.uint8 if dtype.itemsize == 1 else numpy.uint16
            array = numpy.array(bits, dtype=storage).view(dtype)
        else:
            parsed = [float(t) if dtype.kind in "fc" else int(t, 0) for t in tokens]
            array = numpy.array(parsed, dtype=dtype)
    except (ValueError, OverflowError) as error:
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{what}: {error}") from None
    if not tokens:
        array = numpy.zeros(count, dtype=dtype)
    elif splat:
        array = numpy.broadcast_to(array, (count,))
    return BufferView.from_array(array.reshape(shape), element)


def _hex_byte(token: str) -> int:
    """One byte written as one or two hex digits (IREE's binary form)."""
    if not 1 <= len(token) <= 2 or token.strip("0123456789abcdefABCDEF"):
        raise ValueError(f"{token!r} is not a hex byte (two hex digits)")
    return int(token, 16)


def _parse_packed(tokens: list[str], element: ElementType, shape: tuple[int, ...], count: int,
                  what: str) -> BufferView:
    """A sub-byte type: IREE's hex bytes of packed storage, or (asyncvm's
    addition) one integer per element."""
    size = element.packed_byte_count(count)
    bits = element.bit_count
    if tokens and len(tokens) == count and count != size and count != 1:
        signed = element.numerical_type != NUMERICAL_INTEGER_UNSIGNED
        unsigned = element.numerical_type != NUMERICAL_INTEGER_SIGNED
        low = -(1 << (bits - 1)) if signed else 0
        high = (1 << bits) - 1 if unsigned else (1 << (bits - 1)) - 1
        try:
            parsed = [int(t, 0) for t in tokens]
        except ValueError as error:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"{what}: {error}") from None
        for value in parsed:
            if not low <= value <= high:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{what}: {value} is out of range for {element.name} "
                              f"[{low}, {high}]")
        return BufferView.from_array(numpy.array(parsed, numpy.int64).reshape(shape), element)
    splat = len(tokens) == 1 and size > 1
    if tokens and not splat and len(tokens) != size:
        raise VMError(StatusCode.OUT_OF_RANGE,
                      f"{what}: {len(tokens)} values for {count} {element.name} elements, "
                      f"which take {size} packed byte{'s' if size != 1 else ''} (give one hex "
                      f"byte per packed byte, or one value per element)")
    try:
        data = numpy.array([_hex_byte(t) for t in tokens], dtype=numpy.uint8)
    except ValueError as error:
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{what}: {error}") from None
    storage = allocate_storage(size, zeroed=True)
    if tokens:
        storage[:] = data
    return BufferView(Buffer(storage), shape, element)


# -- IREE's float conversions (runtime/src/iree/base/internal/math.h) ------------------------

# (exponent bits, mantissa bits, has infinity, has NaN, bias tweak, NaN is -0)
_NARROW_FLOATS = {
    "f16": (5, 10, True, True, 0, False),
    "bf16": (8, 7, True, True, 0, False),
    "f8E5M2": (5, 2, True, True, 0, False),
    "f8E4M3FN": (4, 3, False, True, 0, False),
    "f8E5M2FNUZ": (5, 2, False, True, 1, True),
    "f8E4M3FNUZ": (4, 3, False, True, 1, True),
}


def _f32(token: str) -> numpy.float32:
    """A decimal float rounded to f32 (overflow is infinity, as strtof)."""
    value = float(token)
    with numpy.errstate(over="ignore"):
        return numpy.float32(value)


def _nearest_even(value: int, shift: int) -> int:
    even_bit = 1 << shift
    odd_bit = even_bit >> 1
    return value + (odd_bit if value & even_bit else odd_bit - 1)


def _narrow_float_bits(value: numpy.float32, element: ElementType) -> int:
    """The bits of ``value`` (an f32) in the narrow float type ``element``,
    rounded exactly as IREE's ``iree_math_f32_to_<type>`` rounds (nearest even;
    an f32 subnormal, and an underflow past the shift IREE handles, is zero)."""
    if element.name == "f8E8M0FNU":
        return _f32_to_e8m0(value)
    exp_bits, mantissa_bits, have_inf, have_nan, bias_tweak, nan_as_neg_zero = \
        _NARROW_FLOATS[element.name]
    sign_shift = exp_bits + mantissa_bits
    sign_mask = 1 << sign_shift
    mantissa_mask = (1 << mantissa_bits) - 1
    exp_mask = sign_mask - (1 << mantissa_bits)
    bias = bias_tweak + (1 << (exp_bits - 1)) - 1
    u = int(numpy.float32(value).view(numpy.uint32))
    sign = (u & 0x80000000) >> (31 - sign_shift)
    f32_exp = u & 0x7F800000
    f32_mantissa = u & 0x007FFFFF
    exp = mantissa = 0
    nan = inf = False
    if f32_exp == 0x7F800000:
        exp = exp_mask
        nan, inf = bool(f32_mantissa), not f32_mantissa
    elif f32_exp == 0:
        if exp_bits == 8:  # bf16 keeps f32 subnormals
            shift = 23 - mantissa_bits
            mantissa = _nearest_even(f32_mantissa, shift) >> shift
    else:
        arithmetic_exp = (f32_exp >> 23) - 127
        if arithmetic_exp > (1 << (exp_bits - 1)) - have_inf:
            inf = True
        elif arithmetic_exp + bias <= 0:
            shift = 23 - mantissa_bits - arithmetic_exp + (1 - bias)
            if 0 <= shift <= 23:
                mantissa = _nearest_even((1 << 23) + f32_mantissa, shift) >> shift
        else:
            shift = 23 - mantissa_bits
            biased = _nearest_even(f32_mantissa, shift)
            if biased > 0x007FFFFF:
                biased = 0
                arithmetic_exp += 1
            exp = (arithmetic_exp + bias) << mantissa_bits
            mantissa = biased >> shift
            if not have_inf and exp > exp_mask:
                nan = True
    if inf:
        if have_inf:
            return sign | exp_mask
        if not have_nan:
            return sign | exp_mask | mantissa_mask
        nan = True
    if nan:
        if not have_nan:
            return 0
        return sign_mask if nan_as_neg_zero else sign | exp_mask | mantissa_mask
    if nan_as_neg_zero and exp == 0 and mantissa == 0:
        return 0
    return (sign | exp | mantissa) & ((sign_mask << 1) - 1)


def _f32_to_e8m0(value: numpy.float32) -> int:
    """IREE's ``iree_math_f32_to_f8e8m0fnu``: the nearest power of two's biased
    exponent (rounding by the mantissa against 0.75), 0xFF for NaN/inf."""
    value = float(value)
    if not math.isfinite(value):
        return 0xFF
    if value <= 0.0:
        return 0
    normalized, exponent = math.frexp(value)
    biased = exponent - (normalized < 0.75) + 127
    return min(max(biased, 0), 0xFF)


# -- printing -------------------------------------------------------------------------------

def _float_text(value: float, narrow: bool) -> str:
    """``%G`` as IREE prints floats; NaN keeps its sign only for f32/f64
    (IREE widens the narrow types with a positive NaN)."""
    if value != value:
        return "-NAN" if not narrow and math.copysign(1.0, value) < 0 else "NAN"
    return "%G" % value


def _element_printer(view: BufferView):
    """(array, function): the values to walk in row-major order and how one
    prints. Floats print ``%G``; integers (packed ones unpacked) in decimal;
    i1 and any other type as the hex of each element's bytes, as IREE does."""
    element = view.element_type
    if element.is_float:
        narrow = element.bit_count < 32
        return view.to_array(), lambda value: _float_text(float(value), narrow)
    if element.is_integer and element.bit_count > 1:
        return view.to_array(), lambda value: str(int(value))
    if not element.is_byte_aligned:  # packed i1
        return view.to_array(), lambda value: "01" if value else "00"
    raw = view.buffer.array(numpy.uint8, view.shape + (element.byte_size,))
    return raw, lambda value: value.tobytes().hex().upper()


def format_buffer_view(view: BufferView, limit: int = MAX_ELEMENTS) -> str:
    """``2x3xf32=[1 2 3][4 5 6]`` with IREE's element budget and elision."""
    array, text = _element_printer(view)
    element = view.element_type
    shape_text = "x".join(str(d) for d in view.shape)
    prefix = f"{shape_text}x{element.name}=" if view.shape else f"{element.name}="
    if not view.shape:
        return prefix + text(array[()])
    budget = [limit]

    def render(values: numpy.ndarray, depth: int) -> str:
        if depth == len(view.shape) - 1:
            if budget[0] <= 0:
                return "..."
            shown = min(budget[0], values.shape[0])
            budget[0] -= shown
            parts = " ".join(text(v) for v in values[:shown])
            return parts + ("..." if shown < values.shape[0] else "")
        parts = []
        for row in values:
            if budget[0] <= 0:
                parts.append("[...]")
            else:
                parts.append("[" + render(row, depth + 1) + "]")
        return "".join(parts)

    return prefix + render(array, 0)


def format_value(value: Any, kind: Any) -> str:
    """One result as iree-run-module prints it (after ``result[N]: ``)."""
    if kind is ValueKind.I32:
        return f"i32={value}"
    if kind is ValueKind.I64:
        return f"i64={value}"
    if kind is ValueKind.F32:
        return f"f32={value:g}"
    if kind is ValueKind.F64:
        return f"f64={value:g}"
    if isinstance(value, BufferView):
        return "hal.buffer_view\n" + format_buffer_view(value)
    if isinstance(value, VMList):
        items = ", ".join(format_list_item(item) for item in value)
        element = value.element_type.name if value.element_type else "?"
        return f"!vm.list<{element}>[{items}]"
    if isinstance(value, VMBuffer):
        return f"!vm.buffer[{len(value)} bytes]"
    if value is None:
        return "(null)"
    return "(no printer)"


def format_list_item(item: Any) -> str:
    if isinstance(item, bool):
        return str(int(item))
    if isinstance(item, float):
        return f"{item:g}"
    if isinstance(item, int):
        return str(item)
    return format_value(item, None)
