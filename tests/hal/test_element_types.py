"""Element types beyond the byte-aligned basics: the packed sub-byte integers
(i4, i2, packed i1), i1 as IREE passes it (one byte each), bf16 and the f8
family. Sizing, packing and numpy conversion of buffer views; the check
module on them; and compiled programs on VMVX and llvm-cpu, both drivers,
compared bit for bit with IREE's runtime."""

from __future__ import annotations

import ml_dtypes
import numpy
import pytest

import asyncvm
from _iree_reference import iree_tensor_results
from asyncvm.hal import Buffer, BufferView, ElementType
from asyncvm.modules.check import create_check_module
from asyncvm.modules.check._module import expect_almost_eq, expect_eq
from asyncvm.tools import main
from asyncvm.vm import ALLOCATION_ALIGNMENT, StatusCode, VMError, aligned_array

RANDOM = numpy.random.default_rng(11)


def element(name: str) -> ElementType:
    return ElementType.parse(name)


# -- the table ---------------------------------------------------------------------------------

# IREE 3.13's values (runtime/src/iree/hal/buffer_view.h), names (string_util.c) and
# numpy dtypes (runtime/bindings/python/iree/runtime/dtypes.py for bf16 and f8).
@pytest.mark.parametrize("name, value, dtype", [
    ("i4", 0x10000004, ml_dtypes.int4), ("si4", 0x11000004, ml_dtypes.int4),
    ("ui4", 0x12000004, ml_dtypes.uint4), ("i2", 0x10000002, ml_dtypes.int2),
    ("si2", 0x11000002, ml_dtypes.int2), ("ui2", 0x12000002, ml_dtypes.uint2),
    ("i1", 0x13000008, numpy.bool_),
    ("bf16", 0x22000010, ml_dtypes.bfloat16),
    ("f8E5M2", 0x24000008, ml_dtypes.float8_e5m2),
    ("f8E4M3FN", 0x25000008, ml_dtypes.float8_e4m3fn),
    ("f8E5M2FNUZ", 0x26000008, ml_dtypes.float8_e5m2fnuz),
    ("f8E4M3FNUZ", 0x27000008, ml_dtypes.float8_e4m3fnuz),
    ("f8E8M0FNU", 0x28000008, ml_dtypes.float8_e8m0fnu),
])
def test_names_values_and_dtypes_are_irees(name, value, dtype):
    parsed = element(name)
    assert int(parsed) == value and parsed.name == name
    assert parsed.dtype == numpy.dtype(dtype)
    if name not in ("si4", "si2"):  # a dtype maps to the first type listed for it
        assert ElementType.from_dtype(dtype) == value
        assert ElementType.from_dtype(numpy.dtype(dtype)) == value


def test_packed_i1_prints_as_i1_but_i1_parses_as_the_byte_boolean():
    packed = ElementType(0x10000001)
    assert packed.name == "i1" and packed.dtype == numpy.bool_ and not packed.is_byte_aligned
    assert element("i1") == 0x13000008 and element("i1").is_byte_aligned
    assert ElementType.from_dtype(numpy.bool_) == 0x13000008


def test_types_without_a_table_entry_print_as_iree_spells_them():
    assert ElementType(0x10000003).name == "i3"
    assert ElementType(0x12000006).name == "ui6"
    assert ElementType(0x21000007).name == "f7"
    assert ElementType(0x20000008).name == "element_type(0x20000008)"
    with pytest.raises(VMError) as caught:
        ElementType(0x10000003).dtype
    assert caught.value.status == StatusCode.UNIMPLEMENTED and "i3" in str(caught.value)


# int1 arrived in ml_dtypes 0.6 (tritonclient, in the test extra, holds it at 0.5.4).
@pytest.mark.parametrize("dtype", [getattr(ml_dtypes, name) for name in (
    "float8_e4m3", "float8_e3m4", "float4_e2m1fn", "int1") if hasattr(ml_dtypes, name)])
def test_ml_dtypes_iree_has_no_element_type_for_are_invalid_argument(dtype):
    with pytest.raises(VMError) as caught:
        BufferView.from_array(numpy.zeros(4, dtype))
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "no element type" in str(caught.value)


# -- sizing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, shape, size", [
    ("i4", (4,), 2), ("i4", (3,), 2), ("i4", (1,), 1), ("i4", (), 1), ("i4", (0,), 0),
    ("i4", (2, 3), 3), ("i4", (7,), 4), ("ui4", (5,), 3),
    ("i2", (4,), 1), ("i2", (5,), 2), ("i2", (8,), 2), ("si2", (3, 3), 3),
    ("i1", (9,), 9), ("bf16", (2, 3), 12), ("f8E4M3FN", (5,), 5), ("f8E8M0FNU", (), 1),
])
def test_views_are_sized_as_iree_sizes_them(name, shape, size):
    # iree_hal_buffer_compute_view_size: iree_hal_element_packed_byte_count.
    view = BufferView(Buffer.allocate(size), shape, element(name))
    assert view.byte_length == size
    if size:
        with pytest.raises(VMError) as caught:
            BufferView(Buffer.allocate(size - 1), shape, element(name))
        assert caught.value.status == StatusCode.OUT_OF_RANGE


def test_packed_i1_and_odd_widths_round_up():
    assert BufferView(Buffer.allocate(2), (9,), 0x10000001).byte_length == 2
    assert BufferView(Buffer.allocate(3), (7,), 0x10000003).byte_length == 3  # 21 bits
    assert element("i4").packed_byte_count(3) == 2 and element("i4").byte_size == 1


def test_too_small_buffer_names_the_view_and_both_sizes():
    with pytest.raises(VMError) as caught:
        BufferView(Buffer.allocate(1), (4,), element("i4"))
    assert caught.value.status == StatusCode.OUT_OF_RANGE
    assert str(caught.value).endswith("a 4xi4 view needs 2 bytes; the buffer has 1")
    with pytest.raises(VMError) as caught:
        BufferView(Buffer.allocate(0), (), element("bf16"))
    assert "a bf16 view needs 2 bytes; the buffer has 0" in str(caught.value)


def test_negative_dimensions_are_invalid_argument():
    with pytest.raises(VMError) as caught:
        BufferView(Buffer.allocate(4), (-2,), element("i4"))
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("array", [numpy.array([1.5, 2.0], numpy.float32),
                                   numpy.array([1, 2], ml_dtypes.bfloat16),
                                   numpy.array(["a", "b"])])
def test_arrays_that_are_not_integers_cannot_be_stored_packed(array):
    with pytest.raises(VMError) as caught:
        BufferView.from_array(array, element("i4"))
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "cannot be stored as i4" in str(caught.value)


# -- packing -----------------------------------------------------------------------------------

def test_i4_packs_two_to_a_byte_low_nibble_first():
    view = BufferView.from_array(numpy.array([1, 2, 3, -8, 7], ml_dtypes.int4))
    assert view.element_type.name == "i4" and view.shape == (5,)
    assert view.raw_bytes().tolist() == [0x21, 0x83, 0x07]  # padding bits are zero
    assert view.buffer.bytes_view().ctypes.data % ALLOCATION_ALIGNMENT == 0
    result = view.to_array()
    assert result.dtype == ml_dtypes.int4 and result.tolist() == [1, 2, 3, -8, 7]


def test_i2_and_packed_i1_layouts():
    i2 = BufferView.from_array(numpy.array([1, -2, -1, 0, 1], ml_dtypes.int2))
    assert i2.raw_bytes().tolist() == [0b00111001, 0b01]
    flags = BufferView.from_array(numpy.array([1, 0, 1, 1, 0, 0, 0, 0, 1], bool), 0x10000001)
    assert flags.raw_bytes().tolist() == [0b1101, 0b1]
    assert flags.to_array().tolist() == [True, False, True, True, False, False, False, False, True]


def test_plain_integer_arrays_keep_their_low_bits_when_packed():
    view = BufferView.from_array(numpy.array([[1, 17], [-1, 8]], numpy.int32), element("i4"))
    assert view.shape == (2, 2) and view.to_array().tolist() == [[1, 1], [-1, -8]]
    unsigned = BufferView.from_array(numpy.array([15, 16, -1], numpy.int64), element("ui4"))
    assert unsigned.to_array().dtype == ml_dtypes.uint4
    assert unsigned.to_array().tolist() == [15, 0, 15]


@pytest.mark.parametrize("name", ["i4", "si4", "ui4", "i2", "si2", "ui2"])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 2, 4), ()])
def test_sub_byte_values_round_trip(name, shape):
    parsed = element(name)
    info = ml_dtypes.iinfo(parsed.dtype)
    values = RANDOM.integers(int(info.min), int(info.max) + 1, size=shape)
    view = BufferView.from_array(values.astype(parsed.dtype), parsed)
    assert view.element_type == parsed and view.shape == shape
    result = view.to_array()
    assert result.dtype == parsed.dtype and result.shape == shape
    assert result.astype(numpy.int64).tolist() == values.tolist()
    # Unpacking copies; the buffer keeps the packed bytes.
    assert not numpy.shares_memory(result, view.raw_bytes())


def test_unknown_sub_byte_widths_unpack_too():
    from asyncvm.hal._buffer_view import pack_bits, unpack_bits
    values = numpy.arange(11) % 8
    packed = pack_bits(values, 3)
    assert packed.shape == (5,)
    assert unpack_bits(packed, 3, 11).tolist() == values.tolist()
    # Unaligned types wider than a byte are not packed at all.
    with pytest.raises(VMError) as caught:
        BufferView.from_array(numpy.arange(4), 0x1000000C)
    assert caught.value.status == StatusCode.UNIMPLEMENTED and "i12" in str(caught.value)
    with pytest.raises(VMError) as caught:
        BufferView(Buffer.allocate(6), (4,), 0x1000000C).to_array()
    assert caught.value.status == StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn,
                                   ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fnuz,
                                   ml_dtypes.float8_e5m2fnuz, ml_dtypes.float8_e8m0fnu])
def test_narrow_floats_are_viewed_without_copies(dtype):
    array = aligned_array(numpy.array([[0.5, 1.0, 2.0], [4.0, 8.0, 0.25]], numpy.float32)
                          .astype(dtype))
    view = BufferView.from_array(array)
    assert view.element_type.dtype == numpy.dtype(dtype) and view.byte_length == array.nbytes
    back = view.to_array()
    assert back.dtype == numpy.dtype(dtype)
    assert numpy.shares_memory(back, array) and numpy.shares_memory(view.raw_bytes(), array)
    assert back.astype(numpy.float32).tolist() == array.astype(numpy.float32).tolist()


# -- the check module --------------------------------------------------------------------------

def view_of(values, dtype) -> BufferView:
    return BufferView.from_array(numpy.array(values, numpy.float64).astype(dtype))


@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn,
                                   ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fnuz,
                                   ml_dtypes.float8_e5m2fnuz])
def test_check_compares_narrow_floats_by_value(dtype):
    lhs = view_of([1.0, 2.0, numpy.nan, -0.0], dtype)
    expect_eq(None, lhs, view_of([1.0, 2.0, numpy.nan, 0.0], dtype))
    expect_almost_eq(None, lhs, view_of([1.0, 2.0, numpy.nan, -0.0], dtype), 0.0, 0.0)
    with pytest.raises(VMError) as caught:
        expect_eq(None, lhs, view_of([1.0, 2.5, numpy.nan, 0.0], dtype))
    assert caught.value.status == StatusCode.FAILED_PRECONDITION
    assert "first difference is at index 1" in str(caught.value)


def test_almost_eq_on_bf16_uses_the_widened_values():
    # bf16(0.1) is 0.10009765625: within 1e-3 of 0.1 only as a widened value.
    actual = view_of([0.1, 1.0], ml_dtypes.bfloat16)
    expected = view_of([0.1001, 1.0], ml_dtypes.bfloat16)
    expect_almost_eq(None, actual, expected, 1e-3, 0.0)
    with pytest.raises(VMError):
        expect_almost_eq(None, view_of([0.1, 1.0], ml_dtypes.bfloat16),
                         view_of([0.11, 1.0], ml_dtypes.bfloat16), 1e-3, 0.0)
    # An infinite expected value matches only itself; NaN matches NaN.
    expect_almost_eq(None, view_of([numpy.inf, numpy.nan], ml_dtypes.float8_e5m2),
                     view_of([numpy.inf, numpy.nan], ml_dtypes.float8_e5m2), 1.0, 1.0)
    with pytest.raises(VMError):
        expect_almost_eq(None, view_of([1e4], ml_dtypes.float8_e5m2),
                         view_of([numpy.inf], ml_dtypes.float8_e5m2), 1e9, 1.0)


def test_check_compares_sub_byte_integers_unpacked():
    lhs = BufferView.from_array(numpy.array([1, -2, 3], ml_dtypes.int4))
    expect_eq(None, lhs, BufferView.from_array(numpy.array([1, -2, 3], ml_dtypes.int4)))
    with pytest.raises(VMError) as caught:
        expect_eq(None, lhs, BufferView.from_array(numpy.array([1, -2, 4], ml_dtypes.int4)))
    assert "3xi4=[1 -2 3]" in str(caught.value) and "index 2" in str(caught.value)
    with pytest.raises(VMError) as caught:
        expect_eq(None, lhs, BufferView.from_array(numpy.array([1, 14, 3], ml_dtypes.uint4)))
    assert "element types differ (i4 vs ui4)" in str(caught.value)


# -- compiled programs against IREE's runtime --------------------------------------------------

LLVM_CPU = ("--iree-hal-local-target-device-backends=llvm-cpu", "--iree-llvmcpu-target-cpu=generic")
BUILDS = {"vmvx": (), "llvm-cpu": LLVM_CPU}


def i4(*values):
    return numpy.array(values, ml_dtypes.int4)


def i2(*values):
    return numpy.array(values, ml_dtypes.int2)


def f32(*values):
    return numpy.array(values, numpy.float32)


FLOAT_SAMPLES = f32(0.3, -2.5, 1000.0, 1e-6, 448.0, -0.0)
SUB_BYTE_CASES = {
    "add_i4": [i4(1, 2, 3, -8), i4(1, 7, -4, -1)],
    "mul_i4": [i4(1, 2, 3, -4, 5, -6, 7, -8).reshape(2, 4), i4(3, 3, -3, 2, 2, 1, -1, 7).reshape(2, 4)],
    "extsi_i4": [i4(0, 1, 2, 7, -8, -1, 5, -3)],
    "extui_i4": [i4(0, 1, 2, 7, -8, -1, 5, -3)],
    "trunc_i4": [numpy.array([0, 1, 7, 8, 15, 16, -1, -9], numpy.int32)],
    "sitofp_i4": [i4(0, 1, 2, 7, -8, -1, 5, -3).reshape(2, 4)],
    "add_i4_widened": [i4(7, 2, -8, 4), i4(1, -3, -1, 4)],
    "id_si4": [numpy.array([0, 5, -1, -8], ml_dtypes.int4)],
    "id_ui4": [numpy.array([0, 5, 15, 8], ml_dtypes.uint4)],
    "add_i2": [i2(1, -1, 0, 1, -2, 1, 1, 0), i2(1, 1, -2, 0, -2, -1, 1, -1)],
    "extsi_i2": [i2(0, 1, -2, -1, 1, 0, -2, 1)],
    "trunc_i2": [numpy.array([0, 1, 2, 3, 4, -1, -2, -5], numpy.int32).reshape(2, 4)],
    "not_i1": [numpy.array([True, False, True, True])],
    "less_i1": [numpy.array([1, 5, 3, 0, -2], numpy.int32), numpy.array([2, 4, 3, 1, -3], numpy.int32)],
    "select_i1": [numpy.array([True, False, False, True]), f32(1, 2, 3, 4), f32(5, 6, 7, 8)],
    "id_i1": [numpy.array([[True, False, True], [False, False, True]])],
    "id_i4": [i4(1, 2, 3, 4, -5, -6, -7, -8).reshape(2, 4)],
}


def f8(dtype, *values):
    return numpy.array(values, numpy.float32).astype(dtype)


FLOAT_CASES = {
    "trunc_bf16": [f32(1.00390625, 3.14159, -1e-40, 3e38, numpy.inf, numpy.nan)],
    "ext_bf16": [numpy.array([1.5, -0.0, numpy.inf, 1e-39, -3e38, numpy.nan], ml_dtypes.bfloat16)],
    "double_bf16": [numpy.array([[1.5, -2.25, 3e38], [0.1, 7.0, -1e-3]], ml_dtypes.bfloat16)],
    "matmul_bf16": [numpy.array([[1, 2, 3], [4, 5, 6]], ml_dtypes.bfloat16),
                    numpy.array([[1, 2], [3, 4], [5, 6.5]], ml_dtypes.bfloat16)],
    "scalar_bf16": [numpy.array(2.5, ml_dtypes.bfloat16)],
    **{f"trunc_{name}": [FLOAT_SAMPLES] for name in
       ("f8E4M3FN", "f8E5M2", "f8E4M3FNUZ", "f8E5M2FNUZ", "f8E8M0FNU")},
    "ext_f8E4M3FN": [f8(ml_dtypes.float8_e4m3fn, 0.3, 448, -1, 0.001953125, numpy.nan, -0.0)],
    "ext_f8E5M2": [f8(ml_dtypes.float8_e5m2, 0.3, 57344, -numpy.inf, 1.5e-5, numpy.nan, -0.0)],
    "ext_f8E4M3FNUZ": [f8(ml_dtypes.float8_e4m3fnuz, 0.3, 240, -1, 0.0009765625, numpy.nan, 0.0)],
    "ext_f8E5M2FNUZ": [f8(ml_dtypes.float8_e5m2fnuz, 0.3, 57344, -1, 7.62939453125e-06, numpy.nan, 2)],
    "ext_f8E8M0FNU": [f8(ml_dtypes.float8_e8m0fnu, 0.25, 1, 2.0 ** 100, 2.0 ** -127, numpy.nan, 3)],
    "add_f8E4M3FN": [f8(ml_dtypes.float8_e4m3fn, 1, 2, 3, 400, -0.0, 0.01),
                     f8(ml_dtypes.float8_e4m3fn, 0.125, 0.5, -3, 100, 0.0, 0.02)],
    "mul_f8E5M2": [f8(ml_dtypes.float8_e5m2, 1, 2, 3, 40000, -0.0, 1e-4),
                   f8(ml_dtypes.float8_e5m2, 0.125, 0.5, -3, 100, 5, 1e-4)],
}
BF16_ARITH_CASES = {
    "add_bf16": [numpy.array([1, 2.5, -3, 1e10], ml_dtypes.bfloat16),
                 numpy.array([0.1, 0.2, 0.3, 1], ml_dtypes.bfloat16)],
    "mul_bf16": [numpy.array([[1.5, -2], [3e38, 0.1]], ml_dtypes.bfloat16),
                 numpy.array([[1.5, 2], [10, 0.1]], ml_dtypes.bfloat16)],
}
PROGRAM_CASES = {"types_subbyte.mlir": SUB_BYTE_CASES, "types_float.mlir": FLOAT_CASES}


@pytest.fixture(params=["local-sync", "local-task"])
def driver(request):
    return request.param


def assert_same_results(actual, expected):
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected):
        assert (mine.dtype, mine.shape) == (theirs.dtype, theirs.shape)
        # Bit for bit: NaN payloads and signed zeros included.
        assert mine.tobytes() == theirs.tobytes(), f"{mine!r} != {theirs!r}"


_EXPECTED: dict = {}


def iree_answer(vmfb, function, arguments):
    key = (str(vmfb), function)  # IREE's answer does not depend on our driver or event loop
    if key not in _EXPECTED:
        _EXPECTED[key] = iree_tensor_results(vmfb, function, arguments)
    return _EXPECTED[key]


async def compare_with_iree(vmfb, cases: dict, driver: str) -> None:
    """Calls every function of ``cases`` in one loaded program and in IREE's
    runtime; fails naming each function whose results differ."""
    program = asyncvm.load(vmfb, device=driver)
    differences = []
    try:
        for function, arguments in cases.items():
            expected = iree_answer(vmfb, function, arguments)
            actual = await program.invoke(function, *arguments)
            try:
                assert_same_results(actual, expected)
            except AssertionError as error:
                differences.append(f"{function}: {error}")
    finally:
        await program.close()
    assert not differences, "\n".join(differences)


@pytest.mark.anyio
@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("source", sorted(PROGRAM_CASES))
async def test_programs_match_iree(compile_mlir, build, driver, source):
    pytest.importorskip("iree.runtime")
    vmfb = compile_mlir(source, *BUILDS[build])
    await compare_with_iree(vmfb, PROGRAM_CASES[source], driver)


@pytest.fixture(scope="module")
def llvm_cpu_only(compile_mlir, tmp_path_factory):
    """types_bf16_arith.mlir for llvm-cpu alone: compile_mlir's builds always
    list the VMVX backend too (HOST_FLAGS; a second
    ``--iree-hal-local-target-device-backends`` adds to the list), and VMVX
    cannot compile bf16 arithmetic."""
    import pathlib
    import subprocess

    source = pathlib.Path(__file__).parents[1] / "programs" / "types_bf16_arith.mlir"
    output = tmp_path_factory.mktemp("llvm-cpu-only") / "types_bf16_arith.vmfb"
    subprocess.run([compile_mlir.exe, "--iree-hal-target-device=local", *LLVM_CPU,
                    str(source), "-o", str(output)],
                   check=True, capture_output=True, timeout=180)
    return output


@pytest.mark.anyio
async def test_bf16_arithmetic_matches_iree_on_llvm_cpu(llvm_cpu_only, driver):
    pytest.importorskip("iree.runtime")
    await compare_with_iree(llvm_cpu_only, BF16_ARITH_CASES, driver)


def test_bf16_arithmetic_does_not_compile_for_vmvx(compile_mlir):
    # IREE 3.13: "'vm.add.f32' op operand #0 must be 32-bit float, but got 'i32'".
    with pytest.raises(RuntimeError, match="vm.add.f32"):
        compile_mlir("types_bf16_arith.mlir")


@pytest.mark.anyio
@pytest.mark.parametrize("build", sorted(BUILDS))
async def test_sub_byte_results_are_unpacked_numpy_arrays(compile_mlir, build, driver):
    vmfb = compile_mlir("types_subbyte.mlir", *BUILDS[build])
    program = asyncvm.load(vmfb, device=driver)
    a, b = i4(7, 2, -8, 4), i4(1, -3, -1, 4)
    (packed,) = await program.invoke("add_i4", a, b)
    (widened,) = await program.invoke("add_i4_widened", a, b)
    assert packed.dtype == ml_dtypes.int4 and packed.tolist() == [-8, -1, 7, -8]
    assert widened.tolist() == packed.astype(numpy.int32).tolist()
    # Plain integer arrays are not accepted for i4 parameters: their element type differs.
    with pytest.raises(VMError) as caught:
        await program.invoke("add_i4", numpy.array([1, 2, 3, 4], numpy.int8), b)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "element type mismatch" in str(caught.value)
    await program.close()


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_check_tests_on_these_types(capsys, compile_mlir, build):
    tests = compile_mlir("types_checks.mlir", *BUILDS[build])
    code = main(["check", f"--module={tests}"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "17 passed, 0 failed" and code == 0
    expected_failures = [line for line in lines if "failed as expected" in line]
    assert len(expected_failures) == 4
    assert all("FAILED_PRECONDITION" in line for line in expected_failures)


@pytest.mark.anyio
async def test_check_failures_print_the_values(compile_mlir):
    program = asyncvm.load(compile_mlir("types_checks.mlir"), modules=[create_check_module()])
    with pytest.raises(VMError) as caught:
        await program.invoke("fail_i4_wrong_value")
    assert "lhs: 4xi4=[2 4 6 -8]" in str(caught.value)
    assert "rhs: 4xi4=[2 4 6 7]" in str(caught.value)
    with pytest.raises(VMError) as caught:
        await program.invoke("fail_bf16_not_close")
    assert "2xbf16=[1 2.5]" in str(caught.value)
    await program.close()
