"""Builds the tvm-ffi test library (tests/native/tensor_library.cc) with the
system compiler, through ``tvm_ffi.cpp.build``: once with type metadata,
once without. The builds are cached beside the compiled programs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

HOST_FILE = '''
"""A Python file standing in for the native library (tests/native/tensor_library.cc)."""
import numpy
from asyncvm import PythonModule

native = PythonModule("native")


@native.export("0rf_r")
def scale(x, factor):
    return x * numpy.float32(factor)


@native.export("0II_I", doc="adds")
def add(a, b):
    return a + b


@native.export("0f_f")
def half(value):
    return value / 2


@native.export("0I_I")
def sleep_ms(milliseconds):
    return milliseconds


@native.export("0I_I")
def fail(value):
    raise ValueError(f"the library refuses {value}")
'''
"""The source of a Python module file with the imports of
tests/programs/native_imports.mlir (``sleep_ms`` returns at once)."""

SOURCE = Path(__file__).resolve().parent / "native" / "tensor_library.cc"
METADATA_FLAGS = ["-DTVM_FFI_DLL_EXPORT_INCLUDE_METADATA=1"]


def build_library(build_root: Path, *, metadata: bool = True, file_name: str = "native.so") -> Path:
    """The library built from SOURCE into ``build_root`` and copied to a file
    named ``file_name`` (the module is named after it)."""
    tvm_cpp = pytest.importorskip("tvm_ffi.cpp", reason="apache-tvm-ffi is not installed")
    variant = "metadata" if metadata else "plain"
    build_directory = build_root / f"tensor_library-{variant}"
    built = Path(tvm_cpp.build(f"tensor_library_{variant}", sources=[str(SOURCE)],
                               build_directory=str(build_directory),
                               extra_cflags=METADATA_FLAGS if metadata else None))
    target = build_root / variant / file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.stat().st_mtime < built.stat().st_mtime:
        shutil.copyfile(built, target)
    return target
