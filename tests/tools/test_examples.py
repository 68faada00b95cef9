"""The examples run as the README says and print the right answers."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytest.importorskip("iree.compiler")


@pytest.mark.parametrize("flags", [[], ["--trio"]])
def test_quickstart(flags):
    completed = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"), *flags],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert "collatz_steps(837799) = 524" in lines
    assert "gcd(1071, 462) = 21" in lines
    assert "affine(x, w, b) = [[3.5, 2.5], [12.5, 11.5]] (numpy: [[3.5, 2.5], [12.5, 11.5]] )" \
        in lines
    assert "gcd(84, 36) = 12" in lines  # the blocking call after the loop
    assert ("<asyncvm function module.affine(input0: tensor<2x3xf32>, input1: tensor<3x2xf32>, "
            "input2: tensor<2xf32>) -> (output0: tensor<2x2xf32>)>") in lines


@pytest.mark.parametrize("flags", [[], ["--trio"]])
def test_native_module(flags):
    pytest.importorskip("tvm_ffi", reason="apache-tvm-ffi is not installed")
    completed = subprocess.run([sys.executable, str(ROOT / "examples" / "native_module.py"),
                                *flags], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert "classified 46 rows in 16 concurrent calls" in lines
    assert "first row: 0.2283 0.4662 0.3056" in lines
    assert lines[-1].startswith("largest difference from numpy: ")
    assert float(lines[-1].rsplit(" ", 1)[1]) <= 1e-5


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_serve(device):
    pytest.importorskip("tritonclient.http", reason="tritonclient[http] is not installed")
    pytest.importorskip("iree.runtime")
    completed = subprocess.run([sys.executable, str(ROOT / "examples" / "serve.py"),
                                f"--device={device}"], capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert ("model: classify inputs [{'name': 'input0', 'datatype': 'FP32', 'shape': [-1, 16]}] "
            "outputs [{'name': 'output0', 'datatype': 'FP32', 'shape': [-1, 4]}]") in lines
    summary = next(line for line in lines if line.startswith("64 concurrent requests: "))
    assert "answers match iree.runtime" in summary
    calls = int(summary.split("made ")[1].split()[0])
    assert 1 <= calls <= 65
    assert lines[-1] == "server exited with 0"


@pytest.mark.parametrize("flags", [[], ["--trio"], ["--device", "local-task"],
                                   ["--device", "local-task", "--trio"]])
def test_deadlines(flags):
    completed = subprocess.run([sys.executable, str(ROOT / "examples" / "deadlines.py"), *flags],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("runaway stopped: DEADLINE_EXCEEDED after ")
    assert lines[1].startswith("heartbeats meanwhile: yes")
    assert "device memory back where it was" in lines
    assert "spin(x, [0, 1, 5, 30]) = [-3.0, 0.625, 1.0, 1.0]" in lines
    assert "same answer as before: True" in lines
