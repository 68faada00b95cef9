"""Modules written in Python: ``PythonModule`` and its ``export`` decorator,
and Python files that define them (``load_python_file``)."""

from ._file import load_python_file
from ._module import PythonModule, PythonModuleState

__all__ = ["PythonModule", "PythonModuleState", "load_python_file"]
