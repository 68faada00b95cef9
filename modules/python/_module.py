"""Modules written in Python.

    host = PythonModule("host", version=1)

    @host.export("0ii_i")
    def add(a, b):
        return a + b

    @host.export("0i_i")
    async def fetch(key):          # an async export is a suspension point
        await anyio.sleep(0.01)
        return key * 2

    @host.export("0r_r")
    def double(x):                 # x: a numpy array viewing the buffer view
        return x * 2               # an array result becomes a buffer view

    @host.export("0r_r", raw=True)
    def shape_of(view):            # raw: the hal.BufferView itself, and a ref back
        return view

An export receives one Python value per calling-convention argument (a span
is a list) and returns its results: a tuple, or for a single result the bare
value, or ``None`` for none. A ``hal.BufferView`` argument arrives as the
numpy array that views its buffer (no copy: writing to it writes the
buffer), and a numpy array result becomes a buffer view (no copy when it is
C-contiguous and 64-byte aligned). ``raw=True`` turns that off: the export
gets and returns refs as the VM holds them.

Results are checked against the calling convention: a wrong count, an
``i``/``I`` result that is not an integer (``bool`` and numpy integers are),
an ``f``/``F`` result that is not a number, an ``r`` result that is neither
``None`` nor a ref of a type registered in the context (nor, unless raw, a
numpy array) is INVALID_ARGUMENT naming ``module.function``. Integers are
kept as IREE's shims would: the signed or unsigned range of the width,
wrapped to signed; ``f`` results are rounded to single precision.

An ``async def`` export is awaited by the invocation driver, so a bytecode
caller suspends there without blocking the event loop. Raise VMError to fail
with a status; any other exception becomes INTERNAL naming the export and
the exception, with the VM backtrace of the caller.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from asyncvm.vm import (FunctionDescriptor, NativeModule, NativeModuleState, ResolvedImport,
                        parse_calling_convention)

from ._convert import KnownRefs, adapt_export


class PythonModule(NativeModule):
    """A user module of Python callables; see the module docstring.

    Takes the arguments of :class:`~asyncvm.vm.NativeModule` (``exports=``
    table rows are adapted like decorated exports, not raw).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sources: dict[str, tuple[Callable, bool]] = {}
        super().__init__(*args, **kwargs)

    def export(self, calling_convention: str, name: str | None = None, *, raw: bool = False,
               **attributes: str) -> Callable[[Callable], Callable]:
        """Decorator registering ``function`` as an export with that convention.

        ``name`` defaults to the function's (it may contain dots, as in
        ``devices.count``). ``raw=True``: buffer views arrive and must be
        returned as ``hal.BufferView`` objects instead of numpy arrays.
        ``attributes`` are reflection attributes.
        """
        parse_calling_convention(calling_convention)

        def register(function: Callable) -> Callable:
            self._add(FunctionDescriptor(name or function.__name__, calling_convention,
                                         dict(attributes)), function, raw)
            return function
        return register

    def _add(self, descriptor: FunctionDescriptor, function: Callable, raw: bool = False, *,
             direct: bool | None = None) -> None:
        # ``direct`` (table rows) does not apply: a Python export is always
        # adapted with its value checks.
        if descriptor.name not in self._sources:  # a duplicate fails in NativeModule._add
            self._sources[descriptor.name] = (function, raw)
        super()._add(descriptor, function)

    def _adapt_export(self, descriptor: FunctionDescriptor, function: Callable,
                      direct: bool | None = None) -> Callable:
        # Outside a context there is no ref-type registry: refs are converted
        # but not checked. Each context's state adapts its own (see below).
        return self._adapt_with(descriptor, KnownRefs(None))

    def _adapt_with(self, descriptor: FunctionDescriptor, known: KnownRefs) -> Callable:
        """The VM callable of export ``descriptor``, checking refs with ``known``."""
        function, raw = self._sources[descriptor.name]
        return adapt_export(function, f"{self.name}.{descriptor.name}", descriptor.signature,
                            raw=raw, known=known, offset=1 if self.state_argument else 0)

    def create_state(self, context: Any, imports: list[ResolvedImport]) -> "PythonModuleState":
        return PythonModuleState(self, context, imports)


class PythonModuleState(NativeModuleState):
    """One context's instance of a :class:`PythonModule`: its exports adapted
    to check ref results against the context's registered ref types."""

    def __init__(self, module: PythonModule, context: Any,
                 imports: list[ResolvedImport]) -> None:
        super().__init__(module, context, imports)
        instance = getattr(context, "instance", None)
        self._known = KnownRefs(getattr(instance, "ref_types", None))

    def lookup_function(self, name: str):
        bound = self._bound.get(name)
        if bound is not None:
            return bound
        descriptor = self.module.find_export(name)
        if descriptor is None:
            return None
        bound = self.module._adapt_with(descriptor, self._known)
        if self.module.state_argument:
            bound = functools.partial(bound, self)
        self._bound[name] = bound
        return bound
