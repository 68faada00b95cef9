"""Modules whose exports are Python callables (the HAL module, user modules).

``NativeModule.export(calling_convention)`` registers a callable. It gets one
Python value per argument (a span is a list: of values if the span has one
kind, of tuples otherwise) and returns a tuple, a bare value for a single
result, or ``None`` for none; an ``async def`` export, or one that returns an
awaitable, is awaited by the invocation driver (a suspension point). VMError keeps its status; any other
exception becomes INTERNAL with the caller's VM backtrace.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from ._calling_convention import parse_calling_convention
from ._module import (Dependency, FunctionDescriptor, ImportDescriptor, Module, ModuleState,
                      ResolvedImport)
from ._status import StatusCode, VMError


def _normalize(result: Any, count: int) -> tuple:
    if result.__class__ is tuple:
        return result
    if result is None and count == 0:
        return ()
    if count == 1:
        return (result,)
    return tuple(result)


_PLAIN_RESULTS = frozenset((type(None), tuple, int, float))
"""Result types that are never awaitable: the common case skips the slower
``inspect.isawaitable`` check."""


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
        result = function(*arguments)
        if result.__class__ in _PLAIN_RESULTS:
            return _normalize(result, count)
        if inspect.isawaitable(result):
            # A synchronous export may still decide to suspend by returning
            # an awaitable (hal.fence.await does when its fences are pending).
            return _finish(result, count)
        return _normalize(result, count)
    return call


async def _finish(awaitable: Any, count: int) -> tuple:
    return _normalize(await awaitable, count)


class NativeModule(Module):
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

    def implementation(self, name: str) -> Callable | None:
        """The adapted callable of export ``name`` (VM function protocol)."""
        entry = self._functions.get(name)
        return entry[1] if entry else None

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

    def create_state(self, context: Any, imports: list[ResolvedImport]) -> "NativeModuleState":
        return NativeModuleState(self, context, imports)


class NativeModuleState(ModuleState):
    """The per-context state: the adapted exports and the resolved imports.

    Subclass it (and override ``NativeModule.create_state``) to keep
    per-context data such as the HAL's devices.
    """

    def __init__(self, module: NativeModule, context: Any, imports: list[ResolvedImport]) -> None:
        self.module = module
        self.context = context
        self.imports = {resolved.descriptor.full_name: resolved.function for resolved in imports}

    def lookup_function(self, name: str):
        return self.module.implementation(name)
