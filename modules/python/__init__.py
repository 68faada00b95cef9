"""Modules written in Python: ``PythonModule`` and its ``export`` decorator,
and Python files that define them (``load_python_file``)."""

from ._convert import KnownRefs, result_converter
from ._file import load_python_file
from ._module import PythonModule, PythonModuleState

__all__ = ["KnownRefs", "PythonModule", "PythonModuleState", "load_python_file",
           "result_converter"]
