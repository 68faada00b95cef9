"""Reading ``--input`` values and printing results in iree-run-module's format.

Scalars: ``5``, ``-2.5``, or typed ``i32=5``, ``f32=2.5``; an untyped scalar
takes the kind of the function's argument. Results print as
``result[N]: i32=5``, floats with ``%g`` as IREE does. Tensor inputs arrive
with the HAL. Errors are VMError(INVALID_ARGUMENT) naming the input.
"""

from __future__ import annotations

from typing import Any

from asyncvm.vm import Span, StatusCode, ValueKind, VMBuffer, VMError, VMList

_TYPED = {"i8": ValueKind.I32, "i16": ValueKind.I32, "i32": ValueKind.I32, "i64": ValueKind.I64,
          "si32": ValueKind.I32, "ui32": ValueKind.I32, "si64": ValueKind.I64,
          "ui64": ValueKind.I64, "f16": ValueKind.F32, "f32": ValueKind.F32,
          "f64": ValueKind.F64}


def parse_input(text: str, slot: Any, index: int) -> Any:
    """Parses one ``--input`` for an argument of ``slot`` kind."""
    what = f"input {index} ({text!r})"
    if isinstance(slot, Span):
        raise VMError(StatusCode.UNIMPLEMENTED, f"{what}: variadic arguments are not supported")
    body = text
    kind = slot
    if "=" in text:
        prefix, body = text.split("=", 1)
        if prefix in _TYPED:
            kind = _TYPED[prefix]
        else:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{what}: {prefix!r} is not a scalar type (tensors need the HAL)")
        if kind is not slot and not (kind.is_integer and slot.is_integer) \
                and not (kind.is_float and slot.is_float):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{what}: a {prefix} value for a {slot.name.lower()} argument")
        kind = slot
    if kind is ValueKind.REF:
        raise VMError(StatusCode.UNIMPLEMENTED, f"{what}: ref arguments need the HAL")
    try:
        if kind.is_integer:
            return int(body, 0)
        return float(body)
    except ValueError:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{what}: not a {kind.name.lower()} value") from None


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
    if isinstance(value, VMList):
        items = ", ".join(format_list_item(item) for item in value)
        element = value.element_type.name if value.element_type else "?"
        return f"!vm.list<{element}>[{items}]"
    if isinstance(value, VMBuffer):
        return f"!vm.buffer[{len(value)} bytes]"
    if value is None:
        return "(null)"
    return repr(value)


def format_list_item(item: Any) -> str:
    if isinstance(item, bool):
        return str(int(item))
    if isinstance(item, float):
        return f"{item:g}"
    if isinstance(item, (int, VMList, VMBuffer)) or item is None:
        return format_value(item, None) if not isinstance(item, int) else str(item)
    return repr(item)
