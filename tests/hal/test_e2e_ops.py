"""The ops of IREE's own e2e check tests (tests/e2e/stablehlo_ops, tosa_ops,
linalg_ext_ops, linalg and tensor_ops in iree-org/iree), as small programs of
our own in tests/programs/e2e_*.mlir, compiled for VMVX and for llvm-cpu, run
in asyncvm on local-sync and local-task, every result compared with IREE's
runtime running the same .vmfb on the same driver.

Every function takes its data as arguments (fixed, seeded numpy inputs in
INPUTS) so nothing constant-folds. Results must agree bit for bit (same dtype
and shape; NaN equals NaN) except where APPROXIMATE says otherwise. Where IREE
fails a call, asyncvm must fail it with the same status. Inputs must come back
unchanged.

The full matrix (build x function x driver) runs under asyncio; under trio
each build runs all its functions at once on one program (one driver per
build). Known failures are strict xfails (KNOWN_FAILURES), so a fix shows up
as an XPASS failure and the mark can go.

bench/conformance.py imports this module (the programs, INPUTS, compare(),
tolerance(), known_failure(), load()...) to time the same calls.
"""

from __future__ import annotations

import concurrent.futures
import re
import sys
from pathlib import Path

import numpy
import pytest

pytestmark = pytest.mark.anyio
pytest.importorskip("iree.runtime", reason="iree.runtime (iree-base-runtime) is not installed")
ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes (an iree-base-runtime "
                                "dependency) is not installed")

PROGRAMS_DIR = Path(__file__).resolve().parents[1] / "programs"

# --------------------------------------------------------------------------
# Programs and builds
# --------------------------------------------------------------------------

# Added to conftest's HOST_FLAGS (local device, VMVX) for each backend: VMVX
# bytecode kernels; or native kernels for a generic x86-64 in the compiler's
# default embedded ELF (as tests/hal/test_tensor_programs.py builds them: the
# second backends flag adds llvm-cpu, so the .vmfb carries both variants and
# the runtime prefers the ELF one; asyncvm's device for these builds loads
# native formats only, so the ELF kernels are what runs).
BACKENDS = {
    "vmvx": (),
    "llvm-cpu": ("--iree-hal-local-target-device-backends=llvm-cpu",
                 "--iree-llvmcpu-target-cpu=generic"),
}

# program -> (source in tests/programs, extra flags, backends). StableHLO and
# TOSA would be detected by iree-compile 3.13 (--iree-input-type=auto); naming
# the input type keeps a mixed-up file from compiling by accident.
# e2e_llvm_cpu.mlir holds ops VMVX cannot compile; it names its own target
# (llvm-cpu) in the module, which overrides the command line's backends.
PROGRAMS = {
    "stablehlo": ("e2e_stablehlo.mlir", ("--iree-input-type=stablehlo",), ("vmvx", "llvm-cpu")),
    "tosa": ("e2e_tosa.mlir", ("--iree-input-type=tosa",), ("vmvx", "llvm-cpu")),
    "linalg_ext": ("e2e_linalg_ext.mlir", (), ("vmvx", "llvm-cpu")),
    "tensor": ("e2e_tensor.mlir", (), ("vmvx", "llvm-cpu")),
    "llvm_cpu": ("e2e_llvm_cpu.mlir", (), ("llvm-cpu",)),
}

DRIVERS = ("local-sync", "local-task")


def build_flags(program: str, backend: str) -> tuple:
    """Flags after HOST_FLAGS for one build (the llvm_cpu module names its own target)."""
    source, flags, _ = PROGRAMS[program]
    return flags + (() if program == "llvm_cpu" else BACKENDS[backend])


def builds() -> list:
    """(program, backend) pairs, in the order the tests run them."""
    return [(program, backend) for program, (_, _, backends) in PROGRAMS.items()
            for backend in backends]


def function_name(case: str) -> str:
    """INPUTS keys are function names, or "name#variant" for another call of it."""
    return case.split("#")[0]


# --------------------------------------------------------------------------
# Inputs (seeded, so every run and IREE see the same arguments)
# --------------------------------------------------------------------------

_rng = numpy.random.default_rng(20261016)


def f32(*shape, scale=1.0):
    return (_rng.standard_normal(shape) * scale).astype(numpy.float32)


def uniform(low, high, *shape):
    return _rng.uniform(low, high, shape).astype(numpy.float32)


def ints(low, high, *shape, dtype=numpy.int32):
    """Integers in [low, high)."""
    return _rng.integers(low, high, shape).astype(dtype)


def nonzero(low, high, *shape, dtype=numpy.int32):
    values = ints(low, high, *shape, dtype=dtype)
    values[values == 0] = 1
    return values


def whole(low, high, *shape):
    """Integer-valued f32: sums of a few are exact in any order (scatter-add
    with repeated indices), and ties are plentiful (sort, argmax)."""
    return ints(low, high, *shape).astype(numpy.float32)


def scalar(value, dtype=numpy.int32):
    return numpy.array(value, dtype)


def array(values, dtype):
    return numpy.array(values, dtype)


NAN = float("nan")

INPUTS = {
    "stablehlo": {
        "arith_f32": [f32(3, 4), f32(3, 4)],
        "arith_i32": [ints(-1000, 1000, 8), nonzero(-9, 10, 8)],
        "power_f32": [array([0.5, 2.0, 3.7, -2.0, -1.5, 10.0], numpy.float32),
                      array([2.0, -1.5, 0.3, 3.0, 2.0, -3.0], numpy.float32)],
        "power_i32": [array([2, -3, 0, 1, -1, 5], numpy.int32),
                      array([10, 3, 4, -1, -3, 0], numpy.int32)],
        "compare_select": [array([1.0, NAN, -2.0, 3.0, 0.0, -0.0, 5.5, -7.0], numpy.float32),
                           array([1.0, 1.0, NAN, -3.0, -0.0, 0.0, 5.0, 7.0], numpy.float32),
                           array([0, -1, 5, -7, 2**31 - 1, -2**31, 3, 3], numpy.int32),
                           array([0, 1, -5, 7, -2**31, 2**31 - 1, 4, 3], numpy.int32)],
        "clamp": [scalar(-0.5, numpy.float32), f32(2, 5), scalar(0.75, numpy.float32),
                  ints(-20, 0, 2, 5), ints(-30, 30, 2, 5), ints(0, 20, 2, 5)],
        "convert": [array([-100.75, -2.5, -0.5, 0.0, 0.99, 2.5, 77.3, 126.9], numpy.float32),
                    array([300, -129, 2**31 - 1, -2**31, 16777217, 5, -5, 255], numpy.int32),
                    array([-128, -1, 0, 1, 127, 64, -64, 3], numpy.int8)],
        "dot_f32": [f32(4, 8), f32(8, 5), f32(8)],
        "dot_i32": [ints(-50, 50, 3, 6), ints(-50, 50, 6, 2)],
        "dot_general_f32": [f32(2, 3, 4), f32(2, 4, 5)],
        "dot_general_i8": [ints(-128, 128, 2, 3, 16, dtype=numpy.int8),
                           ints(-128, 128, 2, 5, 16, dtype=numpy.int8)],
        "convolution": [f32(1, 6, 6, 2), f32(3, 3, 2, 3)],
        "convolution_strided_padded": [f32(1, 2, 7, 7), f32(4, 2, 3, 3)],
        "reduce": [f32(4, 6), ints(-10**6, 10**6, 4, 6)],
        "reduce_window": [f32(1, 4, 6, 1)],
        "shapes": [f32(3), ints(-100, 100, 2, 3, 4), f32(2, 3), f32(2, 2)],
        "dynamic_slice": [f32(5, 6), scalar(3), scalar(5)],      # 5 is clamped to 3
        "dynamic_slice#negative": [f32(5, 6), scalar(-1), scalar(2)],  # -1 is clamped to 0
        "dynamic_update_slice": [ints(-9, 9, 5, 6), ints(100, 200, 2, 3),
                                 scalar(4), scalar(-2)],          # clamped to 3 and 0
        "pad": [f32(2, 3), scalar(-9.0, numpy.float32), ints(0, 100, 5)],
        "gather": [f32(5, 3), array([4, 0, 2, 4], numpy.int32)],
        "gather_2d": [ints(-50, 50, 4, 5), array([[0, 0], [2, 3], [1, 1]], numpy.int32)],
        "scatter_add": [whole(-10, 10, 5, 3), array([[1], [3], [1], [0]], numpy.int32),
                        whole(-10, 10, 4, 3)],
        "scatter_replace": [ints(0, 9, 8), array([[6], [0], [3]], numpy.int32),
                            array([-1, -2, -3], numpy.int32)],
        "scatter_into_constant": [array([[2], [0]], numpy.int32), array([50, 60], numpy.int32)],
        "sort": [whole(-3, 3, 3, 8), numpy.arange(24, dtype=numpy.int32).reshape(3, 8)],
        "sort_i32_descending": [ints(-5, 5, 10)],
        "iota_reverse": [ints(-5, 5, 3, 4), f32(3, 4)],
        "transcendental": [f32(16, scale=3.0), uniform(0.01, 10.0, 16)],
        "bits": [array([1.0, -0.0, NAN, float("inf"), -float("inf"), 1e-45, -3.5, 0.0], numpy.float32),
                 array([1, -1, 2**31 - 1, -2**31, 0x12345678, -77, 5, 96], numpy.int32),
                 array([0, 1, 31, 4, 32, 33, -1, 5], numpy.int32)],      # 32, 33, -1: oversized
        "batch_norm_inference": [f32(2, 3, 4), f32(4), f32(4), f32(4), uniform(0.1, 2.0, 4)],
        "rfft": [f32(2, 8)],
        "rounding": [array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -3.7, 3.2, -0.0,
                            8388609.0, 7.5], numpy.float32)],
        "while_loop": [uniform(0.1, 1.0, 4), scalar(50.0, numpy.float32)],
        "case": [scalar(1), f32(4)],
        "case#default": [scalar(7), f32(4)],                      # out of range: last branch
    },
    "tosa": {
        "arith_f32": [f32(3, 4), f32(3, 4), f32(1, 4)],
        "arith_i32": [ints(-10**5, 10**5, 8), ints(-1000, 1000, 8), ints(0, 32, 8)],
        "unary_f32": [f32(12, scale=2.0), uniform(0.01, 10.0, 12)],
        "matmul": [f32(2, 4, 8), f32(2, 8, 5)],
        "matmul_i8": [ints(-128, 128, 1, 3, 16, dtype=numpy.int8),
                      ints(-128, 128, 1, 16, 4, dtype=numpy.int8)],
        "conv2d": [f32(1, 6, 6, 3), f32(4, 3, 3, 3), f32(4)],
        "depthwise_conv2d": [f32(1, 5, 5, 2), f32(3, 3, 2, 2), f32(4)],
        "pools": [f32(1, 4, 6, 2), ints(-128, 128, 1, 5, 5, 1, dtype=numpy.int8)],
        "reductions": [f32(3, 5), ints(-10**6, 10**6, 3, 5),
                       ints(-2, 2, 3, 5, dtype=numpy.int8)],          # ties: first index wins
        "clamp": [f32(10), ints(-128, 128, 10, dtype=numpy.int8)],
        "rescale": [ints(-2**31, 2**31, 10, dtype=numpy.int64).astype(numpy.int32),
                    ints(-128, 128, 10, dtype=numpy.int8)],
        "table": [array([-128, -127, -1, 0, 1, 2, 63, 64, 100, 126, 127, -64, -65, 5, -5, 33],
                        numpy.int8)],
        "table_i16": [array([-32768, -32767, -1, 0, 1, 127, 128, 32767], numpy.int16),
                      (numpy.arange(513) * 131 - 30000).astype(numpy.int16)],
        "shapes": [f32(2, 3, 4), ints(-9, 9, 2, 3), ints(-9, 9, 1, 3)],
        "pad": [f32(2, 3), ints(-128, 128, 3, dtype=numpy.int8)],
        "gather": [f32(2, 5, 3), array([[4, 0, 0, 2], [1, 3, 4, 4]], numpy.int32)],
        "compare_select": [array([1.0, NAN, -2.0, 3.0, 0.0, -0.0, 5.5, -7.0], numpy.float32),
                           array([1.0, 1.0, NAN, -3.0, -0.0, 0.0, 5.0, 7.0], numpy.float32),
                           array([0, -1, 5, -7, 2**31 - 1, -2**31, 3, 3], numpy.int32),
                           array([0, 1, -5, 7, -2**31, 2**31 - 1, 4, 3], numpy.int32)],
        "cast": [array([-300.5, -128.5, -2.5, -0.5, 0.5, 1.5, 2.5, 127.5, 1e10, 99.99], numpy.float32),
                 array([300, -129, 2**31 - 1, -2**31, 16777217, 5, -5, 255, 128, -128], numpy.int32),
                 array([-128, -1, 0, 1, 127, 64, -64, 3, 9, -9], numpy.int8)],
        "cond_if": [numpy.array(True), f32(4)],
        "cond_if#false": [numpy.array(False), f32(4)],
    },
    "linalg_ext": {
        "sort_1d": [ints(-20, 20, 17)],
        "sort_pairs": [whole(-3, 3, 3, 9), numpy.arange(27, dtype=numpy.int32).reshape(3, 9)],
        "scatter_set": [ints(-9, 9, 4, 5), ints(100, 200, 3, 5), array([[3], [0], [2]], numpy.int32)],
        "scatter_add_2d": [whole(-9, 9, 3, 4), whole(-9, 9, 5),
                           array([[0, 0], [3, 2], [0, 0], [1, 1], [3, 2]], numpy.int32)],
        "gather": [f32(6, 4), array([5, 0, 3, 3, 1], numpy.int32)],
        "topk": [f32(2, 10)],
        "topk_min_i32": [ints(-6, 6, 12), numpy.arange(0, 120, 10, dtype=numpy.int32)],
        "arg_compare": [whole(-4, 4, 3, 7)],
        "scan": [ints(-100, 100, 2, 6), uniform(0.5, 2.0, 7)],
        "attention": [f32(2, 4, 8), f32(2, 6, 8), f32(2, 6, 5)],
        "map_store_transpose": [ints(-100, 100, 3, 5)],
        "softmax": [f32(3, 7, scale=3.0)],
        "pack_unpack": [ints(-100, 100, 7, 10), f32(3, 2, 4, 2)],
        "argmax_generic": [whole(-3, 3, 4, 9)],
        "conv_2d_nchw": [f32(1, 2, 6, 6), f32(3, 2, 3, 3)],
        "matmul_i8_i32": [ints(-128, 128, 5, 12, dtype=numpy.int8),
                          ints(-128, 128, 12, 6, dtype=numpy.int8), ints(-1000, 1000, 5, 6)],
        "i1_mask": [f32(8), f32(8), ints(0, 2, 8).astype(bool)],
        "i4_dequantize": [ints(-8, 8, 4, 8).astype(ml_dtypes.int4), uniform(0.1, 2.0, 4)],
        "to_i4_i2": [array([-8.9, -8.0, -7.5, -2.5, -0.5, 0.0, 0.5, 1.0, 2.5, 3.99, 5.5, 6.5, 7.0,
                            7.9, -1.0, 4.0], numpy.float32),
                     ints(-128, 128, 16, dtype=numpy.int8)],
        "f8": [array([0.0, -0.0, 1.0, 0.3, -448.0, 500.0, 1e-3, -17.5], numpy.float32),
               array([0.0, 1.5, -2.0, 57344.0, -0.25, 1e-5, 3.0, -96.0], ml_dtypes.float8_e5m2)],
        "sort_unfoldable_constant": [ints(-9, 9, 6)],
        "scatter_into_unfoldable_constant": [ints(100, 200, 2, 3), array([[3], [1]], numpy.int32)],
    },
    "tensor": {
        "extract_slice": [f32(6, 8), array([2**40, -1, 2**63 - 1, -2**63, 7], numpy.int64)],
        "extract_slice_dynamic": [f32(8, 6), scalar(4)],
        "insert_slice": [ints(-9, 9, 5, 6), ints(100, 200, 2, 3), ints(-128, 128, 4, dtype=numpy.int8),
                         ints(-128, 128, 2, dtype=numpy.int8)],
        "insert_slice_into_constant": [ints(100, 200, 2, 2)],
        "pad": [f32(2, 3), scalar(-0.0, numpy.float32), ints(-9, 9, 3)],
        "pad_i64": [array([1, -2**62, 2**33], numpy.int64)],
        "reshapes": [f32(2, 3, 4), ints(-9, 9, 12)],
        "concat": [f32(2, 3), f32(2, 1), f32(2, 2), ints(-128, 128, 3, dtype=numpy.int8),
                   ints(-128, 128, 2, dtype=numpy.int8)],
        "concat_dynamic": [f32(3), f32(5)],
        "concat_dynamic#empty": [f32(0), f32(2)],
        "gather_extract": [ints(-99, 99, 4, 5), array([3, 0, 3], numpy.int32)],
        "cast": [f32(3, 4)],
        "elements": [f32(3, 3), scalar(2.5, numpy.float32)],
        # IREE itself fails this one (PERMISSION_DENIED: the dispatch binds the
        # constant's read-only buffer for writing); asyncvm must fail it alike.
        "insert_slice_into_unfoldable_constant": [array([-7, -8], numpy.int32)],
    },
    "llvm_cpu": {
        "winograd": [f32(1, 10, 10, 2), f32(3, 3, 2, 2)],
        "f16_arith": [f32(8).astype(numpy.float16), f32(8).astype(numpy.float16),
                      array([1e-8, 65504.0, 70000.0, -0.1, 3.14159, 2049.0, -2051.0, 0.5], numpy.float32)],
        "f16_matmul": [f32(4, 8).astype(numpy.float16), f32(8, 4).astype(numpy.float16)],
        "bf16_arith": [f32(8).astype(ml_dtypes.bfloat16), f32(8).astype(ml_dtypes.bfloat16), f32(8)],
    },
}


# Results compared with a tolerance instead of bit for bit, on VMVX builds
# only: VMVX kernels compute transcendentals (vm.tanh.f32, vm.pow.f32, ...)
# where asyncvm evaluates them in double precision with Python's math module
# and rounds to f32, while IREE calls libm's float functions (tanhf, powf...);
# those are not correctly rounded, so the last bit may differ (seen: tanh, e.g.
# tanh(0.25532395f) is 0.24991667 in IREE, 0.24991669 in asyncvm), and softmax
# and attention carry such exp() bits along. Native (llvm-cpu) kernels are the
# same machine code in both runtimes and must agree exactly.
# (program, case) -> (rtol, atol).
TRANSCENDENTAL_TOLERANCE = (1e-6, 0.0)
APPROXIMATE = {
    ("stablehlo", "transcendental"): TRANSCENDENTAL_TOLERANCE,
    ("stablehlo", "power_f32"): TRANSCENDENTAL_TOLERANCE,
    ("tosa", "unary_f32"): TRANSCENDENTAL_TOLERANCE,
    ("linalg_ext", "softmax"): TRANSCENDENTAL_TOLERANCE,
    ("linalg_ext", "attention"): TRANSCENDENTAL_TOLERANCE,
}


def tolerance(program: str, backend: str, case: str):
    return APPROXIMATE.get((program, case)) if backend == "vmvx" else None


# Known failures: (program, case) -> (backends it fails on, reason). Each is a
# strict xfail: when the fix lands the test XPASSes, fails, and the entry goes.
# The reason names the bug class before its first colon.
BOTH = ("vmvx", "llvm-cpu")
KNOWN_FAILURES: dict = {}


def known_failure(program: str, backend: str, case: str):
    backends, reason = KNOWN_FAILURES.get((program, case), ((), None))
    return reason if backend in backends else None


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------


def _as_float64(values):
    """ml_dtypes arrays (bfloat16, float8, int4, int2: numpy kind "V") as f64."""
    return values.astype(numpy.float64)


def _floats_equal(got, want, tolerance) -> bool:
    if tolerance is not None:
        rtol, atol = tolerance
        return bool(numpy.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))
    nan = numpy.isnan(want)
    if not numpy.array_equal(numpy.isnan(got), nan):
        return False
    got, want = got[~nan], want[~nan]
    return bool(numpy.array_equal(got, want)
                and numpy.array_equal(numpy.signbit(got), numpy.signbit(want)))


def compare(actual, expected, tolerance=None) -> "str | None":
    """None if the result lists agree, else a description of the first
    difference. Floats agree bit for bit (0.0 != -0.0, NaN == NaN), or within
    ``tolerance`` = (rtol, atol) when given."""
    if len(actual) != len(expected):
        return f"{len(actual)} results, IREE gave {len(expected)}"
    for index, (got, want) in enumerate(zip(actual, expected)):
        got, want = numpy.asarray(got), numpy.asarray(want)
        if got.dtype != want.dtype or got.shape != want.shape:
            return (f"result {index}: {got.dtype}{list(got.shape)}, "
                    f"IREE {want.dtype}{list(want.shape)}")
        if want.dtype.kind in "iub":
            same = numpy.array_equal(got, want)
        elif want.dtype.kind == "f":
            same = _floats_equal(got, want, tolerance)
        else:
            same = _floats_equal(_as_float64(got), _as_float64(want), None)
        if not same:
            return f"result {index}:\n  asyncvm {got!r}\n  IREE    {want!r}"
    return None


# --------------------------------------------------------------------------
# Fixtures: compilation (in the background, two at a time) and IREE's results
# --------------------------------------------------------------------------


def _params() -> list:
    params = []
    for program, backend in builds():
        for case in INPUTS[program]:
            for driver in DRIVERS:
                reason = known_failure(program, backend, case)
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                params.append(pytest.param(f"{program}-{backend}", case, driver, marks=marks,
                                           id=f"{program}-{backend}-{driver}-{case}"))
    return params


@pytest.fixture(scope="module")
def compiled(request, compile_mlir):
    """build name -> future of its .vmfb path. Compiles the builds the
    selected tests need, two at a time in the background, in test order (so
    the first tests start while later builds compile)."""
    module = sys.modules[__name__]
    wanted = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is module and callspec and "build" in callspec.params:
            if callspec.params["build"] not in wanted:
                wanted.append(callspec.params["build"])
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="e2e-compile")
    futures = {}
    for build in wanted:
        program, backend = build.split("-", 1)
        source = PROGRAMS[program][0]
        futures[build] = pool.submit(compile_mlir, source, *build_flags(program, backend))
    yield futures
    for future in futures.values():
        future.cancel()
    pool.shutdown(wait=True)


_IREE_RESULTS: dict = {}


def iree_results(vmfb: Path, case: str, arguments, driver: str):
    """IREE's results for one call (a list of arrays) or the exception it raised."""
    key = (str(vmfb), case, driver)
    if key not in _IREE_RESULTS:
        from _iree_reference import iree_tensor_results

        try:
            _IREE_RESULTS[key] = iree_tensor_results(vmfb, function_name(case), arguments,
                                                     driver=driver)
        except Exception as error:  # IREE fails the call: asyncvm must fail it the same way
            _IREE_RESULTS[key] = error
    return _IREE_RESULTS[key]


def load(vmfb: Path, backend: str, driver: str):
    """asyncvm's program for a build: llvm-cpu builds on a device that loads
    native formats only (never the VMVX variant the .vmfb also carries)."""
    import asyncvm

    if backend == "vmvx":
        return asyncvm.load(vmfb, device=driver)
    device = asyncvm.hal.Device(driver, loaders=asyncvm.hal.native_loaders())
    return asyncvm.load(vmfb, modules=[asyncvm.hal.HalModule([device])])


_STATUS = re.compile(r"\b([A-Z_]+);")


def iree_status(error: Exception):
    """The StatusCode IREE's message names ("...: PERMISSION_DENIED; ...")."""
    from asyncvm import StatusCode

    for name in _STATUS.findall(str(error)):
        if name in StatusCode.__members__:
            return StatusCode[name]
    return None


async def check_case(program, backend, case, vmfb, asyncvm_program, driver) -> "str | None":
    """Runs one case in asyncvm and IREE; None if they agree, else what differs.

    asyncvm gets its own 64-byte-aligned copies of the inputs (it passes such
    arrays to the program without copying them) and they must come back
    unchanged, as the caller's arrays do with IREE's Python API (it copies
    every argument into a device buffer)."""
    import asyncvm

    arguments = INPUTS[program][case]
    ours = [asyncvm.aligned_array(argument) for argument in arguments]
    expected = iree_results(vmfb, case, arguments, driver)
    try:
        actual = await asyncvm_program.invoke(function_name(case), *ours)
    except asyncvm.VMError as error:
        if not isinstance(expected, Exception):
            return f"asyncvm failed: {error!r}"
        if error.status != iree_status(expected):
            return f"asyncvm failed with {error!r}; IREE with {str(expected)[:300]}"
        return None
    if isinstance(expected, Exception):
        return f"asyncvm returned {actual!r}; IREE failed: {str(expected)[:300]}"
    difference = compare(actual, expected, tolerance(program, backend, case))
    if difference is None:
        for index, (argument, copy) in enumerate(zip(arguments, ours)):
            if numpy.asarray(argument).tobytes() != copy.tobytes():
                return f"input {index} was modified: now {copy!r}, was {argument!r}"
    return difference


class Programs:
    """Loaded asyncvm programs, one per (build, driver), shared by the tests
    (loading translates every kernel). One that failed a check is dropped, so
    the next test starts from a fresh one."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.loaded = {}

    def get(self, build: str, driver: str):
        program, backend = build.split("-", 1)
        vmfb = self.compiled[build].result()
        if (build, driver) not in self.loaded:
            self.loaded[build, driver] = load(vmfb, backend, driver)
        return vmfb, self.loaded[build, driver]

    def drop(self, build: str, driver: str) -> None:
        self.loaded.pop((build, driver), None)


@pytest.fixture(scope="module")
def programs(compiled):
    return Programs(compiled)


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("build, case, driver", _params())
async def test_matches_iree(programs, build, case, driver):
    program, backend = build.split("-", 1)
    vmfb, loaded = programs.get(build, driver)
    try:
        difference = await check_case(program, backend, case, vmfb, loaded, driver)
    except BaseException:
        programs.drop(build, driver)
        raise
    if difference is not None:
        programs.drop(build, driver)
    assert difference is None, f"{program} {backend} {driver} {case}: {difference}"


def _trio_params() -> list:
    """One driver per build, alternating so each driver sees every program
    and every backend somewhere."""
    params = []
    for index, (program, backend) in enumerate(builds()):
        driver = DRIVERS[(index + list(PROGRAMS).index(program)) % 2]
        params.append(pytest.param(f"{program}-{backend}", driver,
                                   id=f"{program}-{backend}-{driver}"))
    return params


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.parametrize("build, driver", _trio_params())
async def test_all_at_once_under_trio(compiled, build, driver):
    """Every function of a build (the known failures aside), called
    concurrently on one freshly loaded program, under trio."""
    import anyio

    program, backend = build.split("-", 1)
    vmfb = compiled[build].result()
    loaded = load(vmfb, backend, driver)
    cases = [case for case in INPUTS[program] if not known_failure(program, backend, case)]
    differences = {}

    async def run(case):
        differences[case] = await check_case(program, backend, case, vmfb, loaded, driver)

    async with anyio.create_task_group() as group:
        for case in cases:
            group.start_soon(run, case)
    failed = {case: difference for case, difference in differences.items() if difference}
    assert not failed, "\n".join(f"{case}: {difference}" for case, difference in failed.items())
