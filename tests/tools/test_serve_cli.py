"""``asyncvm serve`` refuses bad settings and unloadable programs before it
listens: a usage error exits 2 naming every bad flag, a program that cannot
be loaded exits 1 with ``error: STATUS: message``."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")


def _serve(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asyncvm", "serve", *flags],
                          capture_output=True, text=True, timeout=120)


def test_bad_settings_exit_2_naming_each():
    completed = _serve("--module=unused.vmfb", "--workers=0", "--max-wait=-1",
                       "--max-batch-size=-3", "--request-timeout=0", "--max-body-bytes=0")
    assert completed.returncode == 2
    for flag in ("--workers", "--max-wait", "--max-batch-size", "--request-timeout",
                 "--max-body-bytes"):
        assert flag in completed.stderr


def test_missing_program_exits_1_before_listening(tmp_path):
    completed = _serve(f"--module={tmp_path / 'absent.vmfb'}", "--port=0")
    assert completed.returncode == 1
    assert completed.stderr.startswith("error: NOT_FOUND: cannot read module")
    assert "Uvicorn running" not in completed.stderr


def test_not_a_program_exits_1(tmp_path):
    path = tmp_path / "garbage.vmfb"
    path.write_bytes(b"not a flatbuffer at all" * 10)
    completed = _serve(f"--module={path}", "--port=0")
    assert completed.returncode == 1
    assert completed.stderr.startswith("error: INVALID_ARGUMENT: ")


def test_help_names_the_protocol():
    completed = _serve("--help")
    assert completed.returncode == 0
    assert "--max-batch-size" in completed.stdout and "--request-timeout" in completed.stdout


def test_ray_replicas_and_autoscale_exclude_each_other():
    completed = _serve("--module=unused.vmfb", "--ray", "--replicas=2", "--autoscale=1,4")
    assert completed.returncode == 2
    assert "--replicas and --autoscale exclude each other" in completed.stderr
    completed = _serve("--module=unused.vmfb", "--ray", "--autoscale=4,1")
    assert completed.returncode == 2 and "--autoscale must be MIN,MAX" in completed.stderr
