"""Value conversion at the boundary of a Python export, built once per export.

:func:`adapt_export` turns a user's callable into a VM function (see
:mod:`asyncvm.vm._module`). From the calling convention it builds, once:

* an argument converter, only when there are ref arguments and the export
  is not ``raw``: a ``hal.BufferView`` argument becomes the numpy array that
  views its buffer (no copy);
* a result converter: the result count must match the convention, and each
  value is checked and converted for its slot, as IREE's shims would store
  it — ``i``/``I`` take an integer (``bool`` and numpy integers included) in
  the signed or unsigned range of the width, wrapped to signed; ``f``/``F``
  take an ``int``, ``float`` or numpy number (``f`` rounded to single
  precision); ``r`` takes ``None`` or a ref of a type registered in the
  context, and (unless ``raw``) a numpy array, which becomes a
  ``hal.BufferView`` viewing it. Anything else is INVALID_ARGUMENT naming
  ``module.function`` and the result.

Each slot's check starts with an exact-class test for the common case, so a
call pays a few comparisons per value. Nothing here suspends.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

import numpy

from asyncvm.hal import BufferView
from asyncvm.vm import (CallingConvention, RefTypeRegistry, Span, StatusCode, ValueKind, VMError,
                        adapt_export as adapt_vm_function, round_f32)

_INT_RANGES = {ValueKind.I32: 32, ValueKind.I64: 64}


def _invalid(message: str) -> VMError:
    return VMError(StatusCode.INVALID_ARGUMENT, message)


class KnownRefs:
    """Which objects are refs the VM knows: instances of the classes in a
    context's ref-type registry. Classes seen once are remembered (the
    registry only grows), so the usual test is one set lookup."""

    def __init__(self, registry: RefTypeRegistry | None) -> None:
        self.registry = registry
        self.classes: set[type] = set()

    def knows(self, value: Any) -> bool:
        registry = self.registry
        if registry is None:  # outside a context: nothing to check against
            return True
        for name in registry.names():
            cls = registry.lookup(name)
            if cls is not None and isinstance(value, cls):
                self.classes.add(value.__class__)
                return True
        return False


# -- results ------------------------------------------------------------------------


def _integer_converter(kind: ValueKind, what: str) -> Callable[[Any], int]:
    bits = _INT_RANGES[kind]
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    modulus, half = 1 << bits, 1 << (bits - 1)
    label = kind.name.lower()

    def slow(value: Any) -> int:
        if isinstance(value, (float, complex, str, bytes, numpy.floating)):
            raise _invalid(f"{what}: expected an integer ({label}), got {type(value).__name__}")
        try:
            number = int(value) if isinstance(value, numpy.bool_) else operator.index(value)
        except TypeError:
            raise _invalid(f"{what}: expected an integer ({label}), "
                           f"got {type(value).__name__}") from None
        if not low <= number < modulus:
            raise _invalid(f"{what}: {number} does not fit in {label}")
        return ((number + half) % modulus) - half

    def convert(value: Any) -> int:
        if value.__class__ is int and low <= value <= high:
            return value
        return slow(value)
    return convert


def _float_converter(kind: ValueKind, what: str) -> Callable[[Any], float]:
    label = kind.name.lower()
    single = kind is ValueKind.F32

    def slow(value: Any) -> float:
        if not isinstance(value, (int, float, numpy.integer, numpy.floating, numpy.bool_)):
            raise _invalid(f"{what}: expected a number ({label}), got {type(value).__name__}")
        number = float(value)
        return round_f32(number) if single else number

    if single:
        def convert(value: Any) -> float:
            if value.__class__ is float:
                return round_f32(value)
            return slow(value)
    else:
        def convert(value: Any) -> float:
            if value.__class__ is float:
                return value
            return slow(value)
    return convert


def _ref_converter(what: str, raw: bool, known: KnownRefs) -> Callable[[Any], Any]:
    classes = known.classes

    def slow(value: Any) -> Any:
        if not raw and isinstance(value, numpy.ndarray):
            return BufferView.from_array(value)
        if known.knows(value):
            return value
        hint = " (return a hal.BufferView from a raw export)" \
            if isinstance(value, numpy.ndarray) else ""
        raise _invalid(f"{what}: expected a ref or None, got {type(value).__name__}, "
                       f"which is not a registered ref type{hint}")

    def convert(value: Any) -> Any:
        if value is None or value.__class__ in classes:
            return value
        return slow(value)
    return convert


def _slot_converter(slot: Any, what: str, raw: bool, known: KnownRefs) -> Callable[[Any], Any]:
    if isinstance(slot, Span):
        return _passthrough  # IREE has no variadic results; nothing to check
    if slot is ValueKind.REF:
        return _ref_converter(what, raw, known)
    if slot.is_integer:
        return _integer_converter(slot, what)
    return _float_converter(slot, what)


def _passthrough(value: Any) -> Any:
    return value


def result_converter(where: str, signature: CallingConvention, raw: bool,
                     known: KnownRefs) -> Callable[[Any], tuple]:
    """The function turning an export's return value into its result tuple."""
    slots = signature.results
    count = len(slots)
    convention = str(signature)

    def wrong_count(result: Any) -> VMError:
        got = "None" if result is None else \
            f"{len(result)} values" if isinstance(result, (tuple, list)) else \
            f"one {type(result).__name__}"
        return _invalid(f"{where} returned {got}; its calling convention {convention} "
                        f"has {count} result(s)")

    if count == 0:
        def convert(result: Any) -> tuple:
            if result is None or (result.__class__ in (tuple, list) and not result):
                return ()
            raise wrong_count(result)
        return convert

    converters = tuple(_slot_converter(slot, f"{where} result {index}", raw, known)
                       for index, slot in enumerate(slots))
    if count == 1:
        (only,) = converters

        def convert(result: Any) -> tuple:
            if result.__class__ is tuple:
                if len(result) != 1:
                    raise wrong_count(result)
                result = result[0]
            return (only(result),)
        return convert

    def convert(result: Any) -> tuple:
        if result.__class__ is not tuple:
            if result is None or isinstance(result, (str, bytes, numpy.ndarray)):
                raise wrong_count(result)
            try:
                result = tuple(result)
            except TypeError:
                raise wrong_count(result) from None
        if len(result) != count:
            raise wrong_count(result)
        return tuple([converter(value) for converter, value in zip(converters, result)])
    return convert


# -- arguments ----------------------------------------------------------------------


def _as_array(value: Any, what: str) -> Any:
    if value.__class__ is not BufferView:
        return value
    try:
        return value.to_array()
    except VMError as error:
        raise VMError(error.status, f"{what}: {error.message} (a raw=True export gets the "
                                    "hal.BufferView itself)") from error


def argument_converter(where: str, signature: CallingConvention,
                       offset: int) -> Callable[[tuple], tuple] | None:
    """The function presenting buffer-view arguments as numpy arrays, or None
    when the convention has no ref argument (the arguments pass unchanged).
    ``offset`` counts leading arguments that are not the convention's (the
    module state)."""
    plans: list[tuple[int, Any]] = []
    for index, slot in enumerate(signature.arguments):
        if slot is ValueKind.REF:
            plans.append((index + offset, None))
        elif isinstance(slot, Span) and ValueKind.REF in slot.kinds:
            plans.append((index + offset, slot))
    if not plans:
        return None

    def convert(arguments: tuple) -> tuple:
        values = list(arguments)
        for index, span in plans:
            what = f"{where} argument {index - offset}"
            if span is None:
                values[index] = _as_array(values[index], what)
            elif len(span.kinds) == 1:
                values[index] = [_as_array(item, what) for item in values[index]]
            else:
                kinds = span.kinds
                values[index] = [tuple(_as_array(field, what) if kind is ValueKind.REF else field
                                       for kind, field in zip(kinds, item))
                                 for item in values[index]]
        return tuple(values)
    return convert


# -- the adapter --------------------------------------------------------------------


def adapt_export(function: Callable, where: str, signature: CallingConvention, *,
                 raw: bool, known: KnownRefs, offset: int = 0) -> Callable:
    """Wraps ``function`` in the VM function protocol with the conversions above.

    An exception other than VMError becomes INTERNAL naming ``where`` (see
    :func:`asyncvm.vm.export_failure`); a VMError keeps its status.
    """
    convert_results = result_converter(where, signature, raw, known)
    convert_arguments = None if raw else argument_converter(where, signature, offset)
    return adapt_vm_function(function, where, convert_results, convert_arguments)
