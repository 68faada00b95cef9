"""The check module and `asyncvm check` on compiled check tests."""

from __future__ import annotations

import math

import numpy
import pytest

from asyncvm.tools import main
from asyncvm.modules.check import almost_equal


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
