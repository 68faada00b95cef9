"""Builds the small executable libraries the HAL tests load (C sources that
include tests/hal/native/library_abi.h) with the system C compiler."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NATIVE_SOURCES = Path(__file__).parent / "hal" / "native"


def compile_library(directory: Path, name: str, source: str) -> bytes:
    """The shared library built from C ``source`` in ``directory``; skips
    the test when there is no C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the test library")
    (directory / f"{name}.c").write_text(source)
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", f"-I{NATIVE_SOURCES}",
                    str(directory / f"{name}.c"), "-o", str(directory / f"{name}.so")],
                   check=True)
    return (directory / f"{name}.so").read_bytes()
