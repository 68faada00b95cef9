"""A program that only passes tensors through imports nothing from ``hal``,
yet its types name ``!hal.buffer_view``: loading it must bring the HAL's ref
types, as IREE's runtime does."""

from __future__ import annotations

import numpy
import pytest

import asyncvm
from _iree_reference import iree_tensor_results
from asyncvm.modules.bytecode import BytecodeModule


@pytest.fixture(scope="module")
def vmfb(compile_mlir):
    return compile_mlir("pass_through.mlir")


def test_the_program_imports_nothing_from_hal(vmfb):
    module = BytecodeModule.load(vmfb)
    assert not [d for d in module.imports if d.module_name == "hal"]
    assert "!hal.buffer_view" in module.definition.type_names


@pytest.mark.anyio
@pytest.mark.parametrize("device", ["local-sync", "local-task"])
async def test_pass_through_functions_match_iree(vmfb, device):
    program = asyncvm.load(vmfb, device=device)
    x = numpy.array([1.5, -2.0, 0.0, 7.25], numpy.float32)
    (y,) = await program.identity(x)
    numpy.testing.assert_array_equal(y, iree_tensor_results(vmfb, "identity", [x])[0])
    a, b = numpy.arange(2, dtype=numpy.int32), numpy.arange(3, dtype=numpy.int32) + 10
    results = await program.swap(a, b)
    expected = iree_tensor_results(vmfb, "swap", [a, b])
    assert len(results) == len(expected) == 2
    for actual, wanted in zip(results, expected):
        numpy.testing.assert_array_equal(actual, wanted)
