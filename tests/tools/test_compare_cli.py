"""``asyncvm compare``: one function on two builds or two devices, down to the
first dispatch whose outputs differ.

tests/programs/compare_a.mlir and compare_b.mlir are one chain of three
elementwise dispatches (``x * y``, ``+ x``, ``- y``, kept apart by
optimization barriers) except for the second step, which compare_b turns
into ``- x``: dispatch 1 is the first that differs.
"""

from __future__ import annotations

import numpy
import pytest
from _command_line import run_cli

from asyncvm.tools._compare import element_dtype

BUILDS = {"vmvx": (),
          "llvm-cpu": ("--iree-hal-local-target-device-backends=llvm-cpu",
                       "--iree-llvmcpu-target-cpu=generic")}


@pytest.fixture(scope="module", params=sorted(BUILDS))
def builds(request, compile_mlir):
    flags = BUILDS[request.param]
    return compile_mlir("compare_a.mlir", *flags), compile_mlir("compare_b.mlir", *flags)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare-inputs")
    x = numpy.arange(64, dtype=numpy.float32) - 20
    numpy.save(folder / "x.npy", x)
    return [f"--input=@{folder / 'x.npy'}", "--input=64xf32=1.5"], x, numpy.float32(1.5)


def test_two_builds_differ_at_the_changed_dispatch(capsys, builds, inputs):
    first, second = builds
    flags, x, y = inputs
    code, out, err = run_cli(capsys, "compare", f"--module={first}", f"--module2={second}",
                             "--function=chain", *flags)
    assert code == 1, err
    lines = out.splitlines()
    assert "3 dispatch(es)" in lines[1] and "3 dispatch(es)" in lines[2]
    report = next(line for line in lines if line.startswith("dispatch "))
    assert report.startswith("dispatch 1 differs: A chain_dispatch_1_")
    assert ", B chain_dispatch_1_" in report
    detail = lines[lines.index(report) + 1]
    # Step 2 is x*y + x on A and x*y - x on B: they differ by 2|x|, except where x = 0.
    largest = float(numpy.abs(2 * x).max())
    differing = int(numpy.count_nonzero(x))
    first_index = int(numpy.flatnonzero(x)[0])
    assert f"{differing} of 64 element(s) differ" in detail
    assert f"max abs difference {largest:g}" in detail
    a_value, b_value = x[first_index] * y + x[first_index], x[first_index] * y - x[first_index]
    assert f"first at element {first_index}: A {a_value:g} B {b_value:g}" in detail
    assert "float32" in detail


def test_one_build_on_two_devices_matches(capsys, builds, inputs):
    first, _ = builds
    flags, _, _ = inputs
    code, out, err = run_cli(capsys, "compare", f"--module={first}", "--device=local-sync",
                             "--device2=local-task", "--function=chain", *flags)
    assert code == 0, err
    assert "local-sync" in out and "local-task" in out
    assert out.splitlines()[-1] == "all 3 dispatch(es) and 1 result(s) match"


def test_a_tolerance_can_absorb_a_difference(capsys, builds, inputs):
    first, second = builds
    flags, x, _ = inputs
    largest = float(numpy.abs(2 * x).max())
    code, out, err = run_cli(capsys, "compare", f"--module={first}", f"--module2={second}",
                             "--function=chain", f"--atol={largest}", *flags)
    assert code == 0, err
    assert out.splitlines()[-1].startswith("all 3 dispatch(es) and 1 result(s) match (atol")
    code, out, err = run_cli(capsys, "compare", f"--module={first}", f"--module2={second}",
                             "--function=chain", f"--atol={largest / 2}", *flags)
    assert code == 1 and "dispatch 1 differs" in out


def test_bad_flags_and_inputs_are_errors(capsys, builds, inputs):
    first, second = builds
    flags, _, _ = inputs
    code, out, err = run_cli(capsys, "compare", f"--module={first}", "--function=chain",
                             "--atol=-1", *flags)
    assert code == 1 and "INVALID_ARGUMENT" in err and "--atol" in err
    code, out, err = run_cli(capsys, "compare", f"--module={first}", "--function=chain",
                             "--element-type=nope", *flags)
    assert code == 1 and "INVALID_ARGUMENT" in err
    code, out, err = run_cli(capsys, "compare", f"--module={first}", f"--module2={second}",
                             "--function=chain", "--input=4xf32=1", "--input=64xf32=1")
    assert code == 1 and "side A" in err
    code, out, err = run_cli(capsys, "compare", f"--module={first}", "--function=chain",
                             "--input=64xf32=1")
    assert code == 1 and "takes 2 input(s)" in err


def test_element_types_come_from_dispatch_names():
    assert element_dtype("chain_dispatch_1_elementwise_64_f32") == numpy.float32
    assert element_dtype("main_dispatch_0_matmul_4x16x8_i8xi8xi32") == numpy.int32
    assert element_dtype("main_dispatch_3_reduction_16x16_f16") == numpy.float16
    assert element_dtype("__builtin_splat_i64") == numpy.int64
    assert element_dtype("no_type_here") is None
