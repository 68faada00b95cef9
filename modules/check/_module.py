"""The ``check`` module: the assertions of IREE's check tests.

``expect_true``/``expect_false`` test an i32; ``expect_all_true`` every
element of a buffer view; ``expect_eq`` element types, shapes and contents;
``expect_almost_eq`` the same with IREE's (numpy ``isclose``) tolerance rule:
equal, both NaN, or ``|actual - expected| <= atol + rtol * |expected|`` with
a finite expected value.

Every element type with a numpy equivalent is compared by value: bf16 and
the f8 types (``ml_dtypes`` arrays) are widened exactly to float32 first, as
IREE's check module loads them into ``float``, and the tolerance arithmetic
is float64 as IREE's ``iree_math_fuzzy_compare_f64``; the packed sub-byte
integers (``i4``, ``i2``) are compared unpacked, element by element (IREE
compares their packed bytes, which differs only in padding bits).

Every export is a module-level function listed once, in
:data:`CHECK_EXPORTS`, sorted by name, with the names and calling
conventions the compiler imports (IREE 3.13's ``check.imports.mlir``). The
``device`` argument of the buffer-view exports is accepted and unused.

Errors: a failed expectation is FAILED_PRECONDITION with both values
printed — it ends the test function (IREE's records the failure and goes
on); an operand that is not a buffer view is INVALID_ARGUMENT naming it.
No export suspends.
"""

from __future__ import annotations

from typing import Callable

import ml_dtypes
import numpy

from asyncvm.vm import Export, NativeModule, StatusCode, VMError, export_table
from asyncvm.hal import BufferView


def _failure(message: str) -> VMError:
    return VMError(StatusCode.FAILED_PRECONDITION, message)


def _values(view: BufferView) -> numpy.ndarray:
    """The view's elements as a plain numpy array: narrow ``ml_dtypes``
    floats (bf16, f8) widened exactly to float32, sub-byte integers unpacked
    into int8/uint8; every other type viewed as it is."""
    array = view.to_array()
    if array.dtype.kind == "V":  # an ml_dtypes type
        if view.element_type.is_float:
            return array.astype(numpy.float32)
        signed = ml_dtypes.iinfo(array.dtype).min < 0
        return array.astype(numpy.int8 if signed else numpy.uint8)
    return array


def _describe(view: BufferView) -> str:
    """``2x2xi32=[1 2 3 4]``: shape, element type and values (elided past 32)."""
    shape = "x".join(str(dimension) for dimension in view.shape)
    try:
        values = numpy.array2string(view.to_array().reshape(-1), threshold=32, separator=" ")
    except VMError as error:  # a type numpy has no equivalent for
        values = f"<{error.message}>"
    return f"{shape + 'x' if shape else ''}{view.element_type.name}={values}"


def _view(value, operand: str) -> BufferView:
    """``value`` if it is a buffer view, else INVALID_ARGUMENT naming ``operand``."""
    if not isinstance(value, BufferView):
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{operand} is not a buffer view")
    return value


def almost_equal(actual: numpy.ndarray, expected: numpy.ndarray, atol: float,
                 rtol: float) -> numpy.ndarray:
    """IREE's element-wise tolerance rule (asymmetric in ``expected``)."""
    actual = actual.astype(numpy.float64)
    expected = expected.astype(numpy.float64)
    with numpy.errstate(invalid="ignore", over="ignore"):
        close = numpy.abs(actual - expected) <= atol + rtol * numpy.abs(expected)
    return ((actual == expected) | (numpy.isnan(actual) & numpy.isnan(expected))
            | (numpy.isfinite(expected) & close))


def _exactly_equal(actual: numpy.ndarray, expected: numpy.ndarray) -> numpy.ndarray:
    """Element-wise equality, NaN equal to NaN."""
    return (actual == expected) | ((actual != actual) & (expected != expected))


def _expect_equal(lhs, rhs, equal: Callable[[numpy.ndarray, numpy.ndarray], numpy.ndarray]) -> None:
    """FAILED_PRECONDITION unless both views have one element type, one shape
    and contents ``equal`` everywhere; INVALID_ARGUMENT if one is not a view."""
    lhs, rhs = _view(lhs, "lhs"), _view(rhs, "rhs")
    problems = []
    if lhs.element_type != rhs.element_type:
        problems.append(f"element types differ ({lhs.element_type.name} vs "
                        f"{rhs.element_type.name})")
    if lhs.shape != rhs.shape:
        problems.append(f"shapes differ ({lhs.shape} vs {rhs.shape})")
    if not problems:
        matches = equal(_values(lhs), _values(rhs))
        if not matches.all():
            index = int(numpy.argmin(matches.reshape(-1)))
            problems.append(f"contents differ; the first difference is at index {index}")
    if problems:
        raise _failure("Expected equality of these values. " + "; ".join(problems)
                       + f".\n  lhs: {_describe(lhs)}\n  rhs: {_describe(rhs)}")


# -- exports --------------------------------------------------------------------------------

def expect_all_true(device, operand) -> None:
    """``check.expect_all_true`` (``0rr_v``): FAILED_PRECONDITION unless every
    element of the buffer view ``operand`` is nonzero; INVALID_ARGUMENT if it
    is not a buffer view. Does not suspend."""
    view = _view(operand, "operand")
    if not _values(view).all():
        raise _failure(f"Expected all true: {_describe(view)}")


def expect_almost_eq(device, lhs, rhs, atol, rtol) -> None:
    """``check.expect_almost_eq`` (``0rrrff_v``): FAILED_PRECONDITION unless
    the buffer views have one element type, one shape and contents equal
    within :func:`almost_equal` (``atol``, ``rtol``); INVALID_ARGUMENT if one
    is not a buffer view. Does not suspend."""
    _expect_equal(lhs, rhs, lambda actual, expected: almost_equal(actual, expected, atol, rtol))


def expect_eq(device, lhs, rhs) -> None:
    """``check.expect_eq`` (``0rrr_v``): FAILED_PRECONDITION unless the buffer
    views have one element type, one shape and equal contents (NaN equals
    NaN); INVALID_ARGUMENT if one is not a buffer view. Does not suspend."""
    _expect_equal(lhs, rhs, _exactly_equal)


def expect_false(operand) -> None:
    """``check.expect_false`` (``0i_v``): FAILED_PRECONDITION unless the i32
    ``operand`` is zero. Does not suspend."""
    if operand:
        raise _failure(f"Expected {operand} to be zero.")


def expect_true(operand) -> None:
    """``check.expect_true`` (``0i_v``): FAILED_PRECONDITION unless the i32
    ``operand`` is nonzero. Does not suspend."""
    if not operand:
        raise _failure(f"Expected {operand} to be nonzero.")


# -- the table ------------------------------------------------------------------------------

CHECK_EXPORTS = export_table("check", [
    Export("expect_all_true", "0rr_v", expect_all_true),
    Export("expect_almost_eq", "0rrrff_v", expect_almost_eq),
    Export("expect_eq", "0rrr_v", expect_eq),
    Export("expect_false", "0i_v", expect_false),
    Export("expect_true", "0i_v", expect_true),
])
"""Every export of the ``check`` module, sorted by name (checked at import)."""


def create_check_module() -> NativeModule:
    """The ``check`` module (version 0) over :data:`CHECK_EXPORTS`. Stateless:
    contexts may share one. Does not suspend."""
    return NativeModule("check", 0, exports=CHECK_EXPORTS)
