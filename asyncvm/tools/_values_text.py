"""Reading ``--input`` values and printing results in iree-run-module's format.

Scalars: ``5``, ``-2.5``, or typed ``i32=5``, ``f32=2.5``; an untyped scalar
takes the kind of the function's argument. Tensors (ref arguments):
``2x3xf32=1,2,3,4,5,6``, ``2x2xf32=[1 2][3 4]``, one value splatted, none for
zeros, ``f32=2.5`` for rank 0, ``@file.npy`` for a numpy file, and hex bytes
for ``i1``. Results print as ``result[N]: i32=5``; buffer views as
``result[N]: hal.buffer_view`` and ``2x3xf32=[1 2 3][4 5 6]`` with ``%G``
floats and IREE's elision after 1024 elements. Errors are VMError naming
the input.
"""

from __future__ import annotations

import re
from typing import Any

import numpy

from asyncvm.vm import Span, StatusCode, ValueKind, VMBuffer, VMError, VMList
from asyncvm.hal import BufferView, ElementType

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
    """A tensor argument: ``SHAPExTYPE=VALUES``, ``TYPE=VALUE`` or ``@file.npy``."""
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
    element = ElementType.parse(type_name)
    count = int(numpy.prod(shape, dtype=numpy.int64))
    tokens = [t for t in _SEPARATORS.split(values) if t]
    if element.dtype == numpy.bool_:
        parsed = [int(t, 16) != 0 for t in tokens]
    else:
        try:
            parsed = [float(t) if element.dtype.kind in "fc" else int(t, 0) for t in tokens]
        except ValueError as error:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"{what}: {error}") from None
    if len(parsed) == 1 and count != 1:
        parsed = parsed * count
    if not parsed:
        parsed = [0] * count
    if len(parsed) != count:
        raise VMError(StatusCode.OUT_OF_RANGE,
                      f"{what}: {len(parsed)} values for {count} elements")
    try:
        array = numpy.array(parsed, dtype=element.dtype).reshape(shape)
    except OverflowError as error:
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{what}: {error}") from None
    return BufferView(BufferView.from_array(array).buffer, shape, element)


def _element_text(value: Any, element: ElementType) -> str:
    kind = element.dtype.kind
    if kind == "f":
        return "%G" % value
    if kind in "iu":
        return str(int(value))
    return numpy.asarray(value).tobytes().hex().upper()


def format_buffer_view(view: BufferView, limit: int = MAX_ELEMENTS) -> str:
    """``2x3xf32=[1 2 3][4 5 6]`` with IREE's element budget and elision."""
    array = view.to_array()
    element = view.element_type
    shape_text = "x".join(str(d) for d in view.shape)
    prefix = f"{shape_text}x{element.name}=" if view.shape else f"{element.name}="
    if not view.shape:
        return prefix + _element_text(array[()], element)
    budget = [limit]

    def render(values: numpy.ndarray, depth: int) -> str:
        if depth == len(view.shape) - 1:
            if budget[0] <= 0:
                return "..."
            shown = min(budget[0], values.shape[0])
            budget[0] -= shown
            text = " ".join(_element_text(v, element) for v in values[:shown])
            return text + ("..." if shown < values.shape[0] else "")
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
