"""Python module files: ``--module=host.py``.

A file that defines :class:`~asyncvm.modules.python.PythonModule` objects
(or any other :class:`~asyncvm.vm.Module`) at its top level is a source of
modules, as a ``.vmfb`` is:

    # host.py
    from asyncvm import PythonModule
    host = PythonModule("host")

    @host.export("0r_r")
    def scale(x):
        return x * 2

Loading runs the file once, as Python runs a script (trusted code, with
the process's rights), and returns the module objects its top level holds
when it finishes, in the order their names were first bound.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import traceback

from asyncvm.vm import Module, StatusCode, VMError

_COUNTER = itertools.count()


def load_python_file(path: str | os.PathLike) -> list[Module]:
    """The modules a Python file defines, in definition order.

    Raises VMError: NOT_FOUND for a missing file; INVALID_ARGUMENT for a
    file that does not parse, raises while it runs (the message names the
    exception and the file's line), or defines no module. Does not suspend.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VMError(StatusCode.NOT_FOUND, f"{path}: no such file")
    stem = os.path.basename(path).split(".")[0]
    unique = f"_asyncvm_module_file_{next(_COUNTER)}_{''.join(c if c.isalnum() else '_' for c in stem)}"
    specification = importlib.util.spec_from_file_location(unique, path)
    if specification is None or specification.loader is None:
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{path}: not a Python file")
    namespace = importlib.util.module_from_spec(specification)
    sys.modules[unique] = namespace  # dataclasses and pickling look a module up by name
    try:
        specification.loader.exec_module(namespace)
    except SyntaxError as error:
        del sys.modules[unique]
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{path}:{error.lineno}: syntax error: {error.msg}") from None
    except VMError as error:
        del sys.modules[unique]
        raise VMError(error.status, f"{path}{_line_in(path, error)}: {error.message}") from error
    except Exception as error:
        del sys.modules[unique]
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{path}{_line_in(path, error)}: raised {type(error).__name__}: {error}") \
            from error
    found: list[Module] = []
    for value in vars(namespace).values():
        if isinstance(value, Module) and not any(value is seen for seen in found):
            found.append(value)
    if not found:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{path}: defines no module (create an asyncvm.PythonModule at its top level)")
    return found


def _line_in(path: str, error: BaseException) -> str:
    """``:LINE`` of the deepest frame of ``error`` that runs in ``path``."""
    line = ""
    real = os.path.realpath(path)
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.realpath(frame.filename) == real:
            line = f":{frame.lineno}"
    return line
