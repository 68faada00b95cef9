"""The check module and `asyncvm check` on compiled check tests."""

from __future__ import annotations

import math

import numpy
import pytest

from asyncvm.hal import BufferView
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.check import CHECK_EXPORTS, almost_equal, create_check_module
from asyncvm.modules.check._module import (expect_all_true, expect_almost_eq, expect_eq,
                                           expect_false, expect_true)
from asyncvm.tools import main
from asyncvm.vm import (Export, NativeModule, StatusCode, VMError, export_table,
                        parse_calling_convention)


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_compiled_check_tests(capsys, compile_mlir, device):
    tests = compile_mlir("check_tests.mlir")
    code = main(["check", f"--module={tests}", f"--device={device}"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "5 passed, 1 failed"
    assert code == 1
    passed = {line.split()[3] for line in lines if line.startswith("[       OK ]")}
    assert passed == {"add_matches", "integers_equal", "scalar_true", "fail_wrong_value",
                      "fail_not_close"}
    failure = next(line for line in lines if line.startswith("[  FAILED  ]"))
    assert "wrongly_failing" in failure and "FAILED_PRECONDITION" in failure


def test_tolerance_rule_is_irees_asymmetric_isclose():
    actual = numpy.array([1.0, 1.1, math.nan, math.inf, 100.0, 0.0])
    expected = numpy.array([1.0, 1.0, math.nan, math.inf, 101.0, 1e-9])
    result = almost_equal(actual, expected, atol=0.0, rtol=0.01)
    assert result.tolist() == [True, False, True, True, True, False]
    # rtol scales with the expected operand only.
    assert almost_equal(numpy.array([100.0]), numpy.array([99.0]), 0.0, 0.01).tolist() == [False]
    assert not almost_equal(numpy.array([math.inf]), numpy.array([-math.inf]), 1.0, 1.0).any()


# -- the export table ------------------------------------------------------------------------

IREE_CHECK_EXPORTS = {"expect_true", "expect_false", "expect_all_true", "expect_eq",
                      "expect_almost_eq"}

ALL_TRUE_PROGRAM = """
func.func @all_true() {
  %a = util.unfoldable_constant dense<[1, 2, 3]> : tensor<3xi32>
  check.expect_all_true(%a) : tensor<3xi32>
  return
}
"""


def test_check_table_is_sorted_and_its_conventions_parse():
    names = [row.name for row in CHECK_EXPORTS]
    assert names == sorted(set(names))
    for row in CHECK_EXPORTS:
        parse_calling_convention(row.calling_convention)
    module = create_check_module()
    assert (module.name, module.version) == ("check", 0)
    assert [(d.name, d.calling_convention) for d in module.exports] == \
        [(row.name, row.calling_convention) for row in CHECK_EXPORTS]


def test_check_table_holds_irees_exports_as_compiled_programs_import_them(compile_mlir, tmp_path):
    assert {row.name for row in CHECK_EXPORTS} == IREE_CHECK_EXPORTS
    source = tmp_path / "check_all_true.mlir"
    source.write_text(ALL_TRUE_PROGRAM)
    conventions = {f"check.{row.name}": row.calling_convention for row in CHECK_EXPORTS}
    imported = {}
    for program in (compile_mlir("check_tests.mlir"), compile_mlir(source)):
        imported.update((descriptor.full_name, descriptor.calling_convention)
                        for descriptor in BytecodeModule.load(program).imports
                        if descriptor.module_name == "check")
    assert set(imported) == set(conventions)  # the two programs import all five
    assert imported == conventions


def test_check_exports_fail_with_their_documented_status():
    view = BufferView.from_array(numpy.array([1, 0], numpy.int32))
    same = BufferView.from_array(numpy.array([1, 0], numpy.int32))
    other = BufferView.from_array(numpy.array([1, 0], numpy.float32))
    # Passing expectations return nothing.
    assert expect_true(1) is None and expect_false(0) is None
    assert expect_eq(None, view, same) is None
    close = BufferView.from_array(numpy.array([1.001, 0], numpy.float32))
    assert expect_almost_eq(None, close, other, 0.0, 0.01) is None
    failing = [lambda: expect_true(0), lambda: expect_false(3),
               lambda: expect_all_true(None, view), lambda: expect_eq(None, view, other),
               lambda: expect_almost_eq(None, other, view, 1.0, 1.0)]
    for call in failing:
        with pytest.raises(VMError) as caught:
            call()
        assert caught.value.status == StatusCode.FAILED_PRECONDITION
    with pytest.raises(VMError) as caught:
        expect_eq(None, view, 7)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT and "rhs" in caught.value.message


@pytest.mark.parametrize("rows", [
    [Export("expect_true", "0i_v", expect_true), Export("expect_false", "0i_v", expect_false)],
    [Export("expect_false", "0i_v", expect_false), Export("expect_false", "0i_v", expect_false)],
    [Export("expect_true", "0q_v", expect_true)],
], ids=["unsorted", "duplicate", "bad-convention"])
def test_malformed_table_is_invalid_argument(rows):
    with pytest.raises(VMError) as caught:
        export_table("check", rows)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    with pytest.raises(VMError) as caught:
        NativeModule("check", 0, exports=rows)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
