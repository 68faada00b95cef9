"""Modules written in Python: ``PythonModule`` and its ``export`` decorator."""

from ._module import PythonModule, PythonModuleState

__all__ = ["PythonModule", "PythonModuleState"]
