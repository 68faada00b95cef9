"""``asyncvm.load``: a compiled program ready to call from async code.

A :class:`Program` is one context holding a program's modules. Loading is
synchronous (parse, verify, translate); calls are coroutines that run under
asyncio or trio. Failures are VMError.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from asyncvm.vm import Context, Function, Instance, Module
from modules.bytecode import BytecodeModule

Source = str | os.PathLike | bytes | bytearray | memoryview


class Program:
    """A context with a main bytecode module (the last one registered)."""

    def __init__(self, context: Context, main: Module) -> None:
        self.context = context
        self.main = main

    @property
    def export_names(self) -> list[str]:
        """Public exports of the main module (IREE's internal ``__init`` etc. left out)."""
        return [d.name for d in self.main.exports if not d.name.startswith("__")]

    def lookup(self, name: str) -> Function:
        """A function of the main module, or ``module.function`` from any module."""
        if "." not in name:
            name = f"{self.main.name}.{name}"
        return self.context.lookup_function(name)

    async def invoke(self, name: str | Function, *arguments: Any) -> tuple:
        """Calls a function; returns a tuple of results. Suspends; raises VMError."""
        function = self.lookup(name) if isinstance(name, str) else name
        return await self.context.invoke(function, *arguments)

    async def close(self) -> None:
        await self.context.close()


def load_module(source: Source | Module) -> Module:
    """A module from a path, VMFB bytes, or an existing module object."""
    if isinstance(source, Module):
        return source
    return BytecodeModule.load(source)


def load(source: Source | Module, *, modules: Iterable[Source | Module] = (),
         instance: Instance | None = None) -> Program:
    """Loads a program: ``modules`` are registered first, then ``source``.

    Raises VMError if a file is unreadable, malformed, or an import does not
    resolve. Does not suspend; module initializers run on the first call.
    """
    loaded = [load_module(item) for item in modules]
    main = load_module(source)
    context = Context(instance, loaded + [main])
    return Program(context, main)
