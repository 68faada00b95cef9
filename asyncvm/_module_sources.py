"""Module sources: what ``--module`` and ``load(modules=...)`` take.

A source is one of:

* a :class:`~asyncvm.vm.Module` object, used as it is;
* VMFB bytes, or a path to a ``.vmfb`` (any path that is not one of the
  below): a bytecode module;
* a path to a ``.py`` file: the modules that file defines, in order
  (:func:`asyncvm.modules.python.load_python_file`);
* a path to a shared library (``.so``, ``.so.N``, ``.dylib``): a tvm-ffi
  native module named after the file
  (:class:`asyncvm.modules.native.NativeLibraryModule`), or ``NAME=PATH``
  to name it.

As in IREE's tools, sources are registered in the order given and each
module resolves its imports from those before it.
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Union

from .modules.bytecode import BytecodeModule
from .vm import Module, StatusCode, VMError

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, Module]
"""What a module source may be (see the module docstring)."""

_LIBRARY = re.compile(r"\.(so(\.\d+)*|dylib)$")
_NAMED = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)=(.+)$")


def is_library_path(path: str) -> bool:
    """Whether ``path`` names a shared library (by its suffix)."""
    return bool(_LIBRARY.search(path))


def modules_from(source: Source) -> list[Module]:
    """The modules one source gives, in order. Raises what the module kinds
    raise (VMError: NOT_FOUND, INVALID_ARGUMENT, ...). Does not suspend."""
    if isinstance(source, Module):
        return [source]
    if isinstance(source, (bytes, bytearray, memoryview)):
        return [BytecodeModule.load(source)]
    if not isinstance(source, (str, os.PathLike)):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"a module source is a path, VMFB bytes or a Module, "
                      f"not {type(source).__name__}")
    path = os.fspath(source)
    name = None
    named = _NAMED.match(path)
    if named and not os.path.exists(path) and is_library_path(named.group(2)):
        name, path = named.group(1), named.group(2)
    if path.endswith(".py"):
        from .modules.python import load_python_file
        return load_python_file(path)
    if is_library_path(path):
        from .modules.native import NativeLibraryModule
        return [NativeLibraryModule(path, name)]
    return [BytecodeModule.load(path)]


def modules_from_all(sources: Iterable[Source]) -> list[Module]:
    """Every source's modules, in order."""
    if isinstance(sources, (str, bytes, os.PathLike, Module)):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      "modules= takes a list of sources, not a single one")
    return [module for source in sources for module in modules_from(source)]


def main_module(modules: list[Module]) -> Module:
    """The program among ``modules``: the last bytecode module, or the last
    module when there is none. INVALID_ARGUMENT for an empty list."""
    if not modules:
        raise VMError(StatusCode.INVALID_ARGUMENT, "no module to run")
    for module in reversed(modules):
        if isinstance(module, BytecodeModule):
            return module
    return modules[-1]
