"""``asyncvm.load``: a compiled program ready to call from async code.

A :class:`Program` is one context holding a program's modules; when they
import ``hal.*`` the HAL module comes first, over a ``local-sync`` device.
Loading is synchronous (parse, verify, translate); calls are coroutines that
run under asyncio or trio. numpy arrays passed for tensor arguments become
buffer views without copying (when C-contiguous), and tensor results come
back as numpy arrays viewing the result buffers. Failures are VMError.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

import numpy
from ._devices import create_device
from .hal import BufferView, Device, HalModule
from .modules.bytecode import BytecodeModule
from .vm import (DEFAULT_MAX_DEPTH, DEFAULT_QUANTUM, DEFAULT_TIME_SLICE, Context, Function, Instance,
                 Module)

Source = str | os.PathLike | bytes | bytearray | memoryview


class Program:
    """A context with a main bytecode module (the last one registered)."""

    def __init__(self, context: Context, main: Module) -> None:
        self.context = context
        self.main = main
        self._functions: dict[str, Function] = {}

    @property
    def export_names(self) -> list[str]:
        """Public exports of the main module (IREE's internal ``__init`` etc. left out)."""
        return [d.name for d in self.main.exports if not d.name.startswith("__")]

    @property
    def device(self) -> Device | None:
        """The first device of the program's HAL module (None without one):
        its ``statistics`` tell what is allocated and still alive."""
        for module in self.context.modules:
            if isinstance(module, HalModule) and module.devices:
                return module.devices[0]
        return None

    def lookup(self, name: str) -> Function:
        """A function of the main module, or ``module.function`` from any module."""
        function = self._functions.get(name)
        if function is None:
            qualified = name if "." in name else f"{self.main.name}.{name}"
            function = self._functions[name] = self.context.lookup_function(qualified)
        return function

    async def invoke(self, name: str | Function, *arguments: Any,
                     timeout: float | None = None) -> tuple:
        """Calls a function; returns a tuple of results. Suspends; raises VMError
        (DEADLINE_EXCEEDED past ``timeout`` seconds, if given).

        numpy arrays are passed as buffer views; buffer-view results are
        returned as numpy arrays.
        """
        function = self.lookup(name) if isinstance(name, str) else name
        arguments = tuple(BufferView.from_array(value) if isinstance(value, numpy.ndarray)
                          else value for value in arguments)
        results = await self.context.invoke(function, *arguments, timeout=timeout)
        return tuple(value.to_array() if isinstance(value, BufferView) else value
                     for value in results)

    async def close(self) -> None:
        await self.context.close()


def load_module(source: Source | Module) -> Module:
    """A module from a path, VMFB bytes, or an existing module object."""
    if isinstance(source, Module):
        return source
    return BytecodeModule.load(source)


def load(source: Source | Module, *, modules: Iterable[Source | Module] = (),
         instance: Instance | None = None, device: str = "local-sync",
         quantum: int = DEFAULT_QUANTUM, time_slice: float = DEFAULT_TIME_SLICE,
         max_depth: int = DEFAULT_MAX_DEPTH) -> Program:
    """Loads a program: ``modules`` are registered first, then ``source``.

    If any of them imports ``hal.*`` and no HAL module is given, one is
    registered first over a ``device`` (``local-sync``). ``quantum``,
    ``time_slice`` and ``max_depth`` are the context's scheduling settings
    (see :class:`asyncvm.vm.Context`). Raises VMError if a file is
    unreadable, malformed, or an import does not resolve, or a setting is out
    of range. Does not suspend; module initializers run on the first call.
    """
    loaded = [load_module(item) for item in modules]
    main = load_module(source)
    everything = loaded + [main]
    needs_hal = any(descriptor.module_name == "hal"
                    for module in everything for descriptor in module.imports)
    if needs_hal and not any(module.name == "hal" for module in everything):
        everything.insert(0, HalModule([create_device(device)]))
    context = Context(instance, everything, max_depth=max_depth, quantum=quantum,
                      time_slice=time_slice)
    return Program(context, main)
