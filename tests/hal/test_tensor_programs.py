"""Tensor programs through the HAL and VMVX kernels, compared with IREE's
runtime on the same .vmfb (local-sync)."""

from __future__ import annotations

import numpy
import pytest

import asyncvm
from _iree_reference import iree_tensor_results
from asyncvm.vm import StatusCode, VMError

pytestmark = pytest.mark.anyio
runtime = pytest.importorskip("iree.runtime")

RANDOM = numpy.random.default_rng(7)


def f32(*shape):
    return RANDOM.standard_normal(shape).astype(numpy.float32)


CASES = {
    "add": [f32(4), f32(4)],
    "scale_rows": [f32(3, 4), f32(4)],
    "matmul": [f32(4, 8), f32(8, 16)],
    "row_sums": [f32(3, 5)],
    "transpose": [numpy.arange(6, dtype=numpy.int32).reshape(2, 3)],
    "concat": [numpy.array([1, 2], numpy.int64), numpy.array([3, -4, 2**40], numpy.int64)],
    "small_ints": [numpy.array([1, -2, 100, -128], numpy.int8),
                   numpy.array([3, -300, 200, 7], numpy.int16)],
    "with_constant": [numpy.array([1, 2, 3, 4], numpy.int32)],
    "dynamic": [f32(7), f32(7)],
    "branchy": [f32(4), 1],
    "dynamic_matmul": [f32(5, 7), f32(7, 3)],
    "int8_matmul": [RANDOM.integers(-128, 128, (4, 8), dtype=numpy.int8),
                    RANDOM.integers(-128, 128, (8, 4), dtype=numpy.int8)],
}
# With data tiling and dynamic shapes IREE picks matmul tiles for this CPU
# (and may fuse multiply-adds); the numpy microkernels use the generic tiles,
# so sums are rounded in another order.
APPROXIMATE = {"dynamic_matmul"}
# Builds: VMVX by default (kernels are plain bytecode), VMVX with microkernels
# and data tiling (kernels call the numpy vmvx module), and llvm-cpu.
# llvm-cpu-system: native kernels as a shared library loaded with ctypes;
# llvm-cpu-embedded: the compiler's default self-contained ELF, loaded by
# asyncvm's own ELF loader.
BUILDS = {"bytecode": (), "microkernels": ("--iree-vmvx-enable-microkernels",
                                           "--iree-opt-data-tiling"),
          "llvm-cpu-system": ("--iree-hal-local-target-device-backends=llvm-cpu",
                              "--iree-llvmcpu-link-embedded=false",
                              "--iree-llvmcpu-target-cpu=generic"),
          "llvm-cpu-embedded": ("--iree-hal-local-target-device-backends=llvm-cpu",
                                "--iree-llvmcpu-target-cpu=generic")}


def iree_results(vmfb, function, arguments):
    return iree_tensor_results(vmfb, function, arguments)


@pytest.fixture(scope="module", params=sorted(BUILDS))
def build(request):
    return request.param


@pytest.fixture(scope="module")
def tensor_program(build, compile_mlir):
    return compile_mlir("tensor_basic.mlir", *BUILDS[build])


@pytest.fixture(params=["local-sync", "local-task"])
def driver(request):
    return request.param


@pytest.mark.parametrize("function", sorted(CASES))
async def test_tensor_results_match_iree(driver, build, tensor_program, function):
    arguments = CASES[function]
    program = asyncvm.load(tensor_program, device=driver)
    try:
        expected = iree_results(tensor_program, function, arguments)
    except Exception as error:  # IREE fails this dispatch: so must we, the same way
        status = next(code for code in StatusCode if f"{code.name};" in str(error))
        with pytest.raises(VMError) as caught:
            await program.invoke(function, *arguments)
        assert caught.value.status == status
        return
    results = await program.invoke(function, *arguments)
    assert len(results) == len(expected)
    for actual, wanted in zip(results, expected):
        assert actual.dtype == wanted.dtype and actual.shape == wanted.shape
        if function in APPROXIMATE and build == "microkernels":
            numpy.testing.assert_allclose(actual, wanted, rtol=1e-5, atol=1e-6)
        else:
            assert numpy.array_equal(actual, wanted)


async def test_control_flow_around_dispatches(driver, tensor_program):
    program = asyncvm.load(tensor_program, device=driver)
    values = numpy.array([1, -2, 3, -4], numpy.float32)
    (doubled,) = await program.invoke("branchy", values, 1)
    (negated,) = await program.invoke("branchy", values, 0)
    assert doubled.tolist() == [2, -4, 6, -8] and negated.tolist() == [-1, 2, -3, 4]


async def test_dynamic_shapes_follow_the_input(driver, tensor_program):
    program = asyncvm.load(tensor_program, device=driver)
    for length in (0, 1, 33):
        a, b = f32(length), f32(length)
        (result,) = await program.invoke("dynamic", a, b)
        assert result.shape == (length,) and numpy.array_equal(result, a - b)


async def test_inputs_are_not_copied_and_stay_unchanged(driver, tensor_program):
    program = asyncvm.load(tensor_program, device=driver)
    a, b = f32(4), f32(4)
    before = a.copy()
    (result,) = await program.invoke("add", a, b)
    assert numpy.array_equal(a, before)
    assert not numpy.shares_memory(result, a)


@pytest.mark.parametrize("arguments, fragment", [
    ([f32(5), f32(4)], "input0 shape dimension 0 mismatch; expected 4 but have 5"),
    ([f32(4), f32(2, 2)], "input1 rank mismatch"),
    ([numpy.zeros(4, numpy.int32), f32(4)], "input0 element type mismatch"),
])
async def test_wrong_input_is_invalid_argument_naming_it(driver, tensor_program, arguments, fragment):
    program = asyncvm.load(tensor_program, device=driver)
    with pytest.raises(VMError) as caught:
        await program.invoke("add", *arguments)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert fragment in str(caught.value)
    (result,) = await program.invoke("add", f32(4), f32(4))
    assert result.shape == (4,)


async def test_wrong_input_matches_iree_status(driver, tensor_program):
    with pytest.raises(Exception) as caught:
        iree_results(tensor_program, "add", [f32(5), f32(4)])
    assert "INVALID_ARGUMENT" in str(caught.value)


async def test_failing_dispatch_reaches_only_its_caller(driver, compile_mlir):
    # IREE 3.13 miscompiles this transpose with microkernels: the dispatch
    # reads past its binding and fails (in IREE's runtime too).
    vmfb = compile_mlir("tensor_basic.mlir", *BUILDS["microkernels"])
    program = asyncvm.load(vmfb, device=driver)
    outcomes = {}

    async def failing():
        try:
            await program.invoke("transpose", numpy.arange(6, dtype=numpy.int32).reshape(2, 3))
        except VMError as error:
            outcomes["transpose"] = error

    async def healthy():
        outcomes["add"] = await program.invoke("add", f32(4), f32(4))

    import anyio
    async with anyio.create_task_group() as group:
        group.start_soon(failing)
        group.start_soon(healthy)
    error = outcomes["transpose"]
    assert error.status == StatusCode.OUT_OF_RANGE
    assert "transpose_dispatch_0" in str(error)
    assert error.backtrace and error.backtrace[-1].function == "transpose"
    assert outcomes["add"][0].shape == (4,)
    # The program stays usable.
    (again,) = await program.invoke("add", numpy.ones(4, numpy.float32),
                                    numpy.ones(4, numpy.float32))
    assert again.tolist() == [2, 2, 2, 2]
