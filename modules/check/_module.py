"""The ``check`` module: the assertions of IREE's check tests.

``expect_true``/``expect_false`` test an i32; ``expect_all_true`` every
element of a buffer view; ``expect_eq`` element types, shapes and contents;
``expect_almost_eq`` the same with IREE's (numpy ``isclose``) tolerance rule:
equal, both NaN, or ``|actual - expected| <= atol + rtol * |expected|`` with
a finite expected value. A failed expectation raises FAILED_PRECONDITION
with both values printed — it ends the test function (IREE's records the
failure and goes on).
"""

from __future__ import annotations

import numpy

from asyncvm.vm import NativeModule, StatusCode, VMError
from asyncvm.hal import BufferView


def _failure(message: str) -> VMError:
    return VMError(StatusCode.FAILED_PRECONDITION, message)


def _describe(view: BufferView) -> str:
    shape = "x".join(str(d) for d in view.shape)
    values = numpy.array2string(view.to_array().reshape(-1), threshold=32, separator=" ")
    return f"{shape + 'x' if shape else ''}{view.element_type.name}={values}"


def _view(value, what: str) -> BufferView:
    if not isinstance(value, BufferView):
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{what} is not a buffer view")
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


def create_check_module() -> NativeModule:
    check = NativeModule("check", 0)

    @check.export("0i_v")
    def expect_true(operand):
        if not operand:
            raise _failure(f"Expected {operand} to be nonzero.")

    @check.export("0i_v")
    def expect_false(operand):
        if operand:
            raise _failure(f"Expected {operand} to be zero.")

    @check.export("0rr_v")
    def expect_all_true(device, operand):
        view = _view(operand, "operand")
        if not view.to_array().all():
            raise _failure(f"Expected all true: {_describe(view)}")

    def compare(lhs, rhs, equal) -> None:
        lhs, rhs = _view(lhs, "lhs"), _view(rhs, "rhs")
        problems = []
        if lhs.element_type != rhs.element_type:
            problems.append(f"element types differ ({lhs.element_type.name} vs "
                            f"{rhs.element_type.name})")
        if lhs.shape != rhs.shape:
            problems.append(f"shapes differ ({lhs.shape} vs {rhs.shape})")
        if not problems:
            matches = equal(lhs.to_array(), rhs.to_array())
            if not matches.all():
                index = int(numpy.argmin(matches.reshape(-1)))
                problems.append(f"contents differ; the first difference is at index {index}")
        if problems:
            raise _failure("Expected equality of these values. " + "; ".join(problems)
                           + f".\n  lhs: {_describe(lhs)}\n  rhs: {_describe(rhs)}")

    @check.export("0rrr_v")
    def expect_eq(device, lhs, rhs):
        compare(lhs, rhs, lambda a, b: (a == b) | ((a != a) & (b != b)))

    @check.export("0rrrff_v")
    def expect_almost_eq(device, lhs, rhs, atol, rtol):
        compare(lhs, rhs, lambda a, b: almost_equal(a, b, atol, rtol))

    return check
