"""Modules written in Python.

    host = PythonModule("host", version=1)

    @host.export("0ii_i")
    def add(a, b):
        return a + b

    @host.export("0i_i")
    async def fetch(key):          # an async export is a suspension point
        await anyio.sleep(0.01)
        return key * 2

An export receives one Python value per calling-convention argument (a span
is a list) and returns its results: a tuple, or for a single result the bare
value, or ``None`` for none. An ``async def`` export is awaited by the
invocation driver, so a bytecode caller suspends there without blocking the
event loop. Raise VMError to fail with a status; any other exception becomes
INTERNAL with the VM backtrace of the caller.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from asyncvm.vm import (Dependency, FunctionDescriptor, ImportDescriptor, Module, ModuleState,
                        ResolvedImport, StatusCode, VMError, parse_calling_convention)


def _normalize(result: Any, count: int) -> tuple:
    if result.__class__ is tuple:
        return result
    if result is None and count == 0:
        return ()
    if count == 1:
        return (result,)
    return tuple(result)


def _adapt(function: Callable, calling_convention: str) -> Callable:
    """Wraps an export so it always produces a tuple (or an awaitable of one)."""
    count = len(parse_calling_convention(calling_convention).results)
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def call_async(*arguments: Any) -> tuple:
            return _normalize(await function(*arguments), count)
        return call_async

    @functools.wraps(function)
    def call(*arguments: Any) -> tuple:
        return _normalize(function(*arguments), count)
    return call


class PythonModule(Module):
    """A module whose exports are Python callables. Immutable once registered."""

    def __init__(self, name: str, version: int = 0, *,
                 dependencies: list[Dependency] | None = None,
                 imports: list[ImportDescriptor] | None = None,
                 ref_types: dict[str, type] | None = None) -> None:
        self.name = name
        self.version = version
        self._dependencies = list(dependencies or [])
        self._imports = list(imports or [])
        self._ref_types = dict(ref_types or {})
        self._functions: dict[str, tuple[FunctionDescriptor, Callable]] = {}

    def export(self, calling_convention: str, name: str | None = None,
               **attributes: str) -> Callable[[Callable], Callable]:
        """Decorator registering ``function`` as an export with that convention."""
        parse_calling_convention(calling_convention)

        def register(function: Callable) -> Callable:
            export_name = name or function.__name__
            if export_name in self._functions:
                raise VMError(StatusCode.ALREADY_EXISTS,
                              f"module {self.name!r} already exports {export_name!r}")
            descriptor = FunctionDescriptor(export_name, calling_convention, dict(attributes))
            self._functions[export_name] = (descriptor, _adapt(function, calling_convention))
            return function
        return register

    @property
    def dependencies(self) -> list[Dependency]:
        return list(self._dependencies)

    @property
    def exports(self) -> list[FunctionDescriptor]:
        return [descriptor for descriptor, _ in self._functions.values()]

    @property
    def imports(self) -> list[ImportDescriptor]:
        return list(self._imports)

    @property
    def provided_ref_types(self) -> dict[str, type]:
        return dict(self._ref_types)

    def create_state(self, context: Any, imports: list[ResolvedImport]) -> "PythonModuleState":
        return PythonModuleState(self, imports)


class PythonModuleState(ModuleState):
    """The per-context state: the adapted exports and the resolved imports."""

    def __init__(self, module: PythonModule, imports: list[ResolvedImport]) -> None:
        self.module = module
        self.imports = {resolved.descriptor.full_name: resolved.function for resolved in imports}

    def lookup_function(self, name: str):
        entry = self.module._functions.get(name)
        return entry[1] if entry else None
