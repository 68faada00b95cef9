"""Fixtures the Program API tests share (tests/serving/test_program_api.py
and test_stateful_api.py import them): the programs they load and a
watchdog that turns a deadlock into a failure. A module of its own, not a
conftest.py: the tests import names from the root conftest by module name."""

from __future__ import annotations

import faulthandler
from pathlib import Path

import numpy
import pytest

import asyncvm

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.mlir"


@pytest.fixture(scope="module")
def tensor_vmfb(compile_mlir):
    return compile_mlir("tensor_basic.mlir")


@pytest.fixture(scope="module")
def quickstart_vmfb(compile_mlir):
    return compile_mlir(QUICKSTART)


@pytest.fixture
def program(tensor_vmfb):
    return asyncvm.load(tensor_vmfb)


@pytest.fixture
def watchdog():
    """Turns a deadlock into a failure: dumps every thread's stack and ends
    the run if the test blocks for minutes."""
    faulthandler.dump_traceback_later(240, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def assert_same_arrays(actual, expected):
    """The same number of arrays, each of the same dtype, shape and values."""
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.dtype == want.dtype and got.shape == want.shape
        numpy.testing.assert_array_equal(got, want)
