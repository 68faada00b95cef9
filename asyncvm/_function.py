"""``program["add"]``: a program's function as a Python callable.

A :class:`ProgramFunction` is what ``program["name"]`` (or ``program.name``)
returns: calling it gives the awaitable that ``program.invoke`` gives, so
``await program["add"](a, b)`` returns the same tuple as ``await
program.invoke("add", a, b)`` (keyword ``timeout=`` too), for one Python
call's cost more. It carries the function's ``name``, ``calling_convention``,
reflection ``attributes`` and parsed :class:`~asyncvm._signature.
FunctionSignature` (``signature``), and sets ``__signature__`` and
``__doc__`` so ``inspect.signature``, ``help()`` and notebooks show what it
takes. :meth:`ProgramFunction.call_sync` calls it from synchronous code.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Awaitable

from ._signature import FunctionSignature, function_signature
from ._synchronous import run_sync
from .vm import Function

if TYPE_CHECKING:
    from ._program import Program


class ProgramFunction:
    """A function of a loaded program, bound to it; see the module docstring.

    ``await f(*arguments, timeout=None)`` calls it (a tuple of results);
    ``f.call_sync(*arguments, timeout=None)`` does the same from code that is
    not async. Obtain one with ``program["name"]``; they are cached per name.
    """

    def __init__(self, program: "Program", function: Function) -> None:
        self.program = program
        self.function = function
        self.name = function.name
        self.full_name = function.full_name
        self.calling_convention = function.calling_convention
        self.attributes = dict(function.attributes)
        self.signature: FunctionSignature = function_signature(
            function.name, function.calling_convention, function.attributes)
        self._invoke = program.invoke
        self.__name__ = self.__qualname__ = function.name
        self.__signature__ = self.signature.to_inspect()
        self.__doc__ = _document(self)
        _mark_coroutine_function(self)

    def __call__(self, *arguments: Any, timeout: float | None = None) -> Awaitable[tuple]:
        """The awaitable of one call: ``program.invoke``'s, unwrapped."""
        return self._invoke(self.function, *arguments, timeout=timeout)

    def call_sync(self, *arguments: Any, timeout: float | None = None) -> tuple:
        """Calls the function from synchronous code and returns its results.

        Outside an event loop it runs on a fresh asyncio loop in this thread;
        inside a running one (Jupyter, or a coroutine of asyncio or trio) on
        a worker thread with its own loop, blocking this thread until done.
        A program serves one event-loop thread at a time: called while async
        calls of the same program are in flight, it raises VMError
        FAILED_PRECONDITION rather than wait for them.
        """
        return run_sync(self._invoke, self.function, *arguments, timeout=timeout)

    def __get__(self, instance: Any, owner: type | None = None) -> "ProgramFunction":
        # A descriptor like a function's, so that pydoc documents it as a
        # routine (its signature line and docstring); binds to nothing.
        return self

    def __repr__(self) -> str:
        return f"<asyncvm function {self.function.module.name}.{self.signature}>"


def _document(function: ProgramFunction) -> str:
    signature = function.signature
    lines = [f"Function {function.full_name} of a loaded asyncvm program."]
    if signature.declaration:
        lines += ["", "Declared as:", f"    {signature.declaration}"]
    width = max((len(str(p.name)) + len(str(p.type)) + 2
                 for p in signature.arguments + signature.results), default=0)
    if signature.arguments:
        lines += ["", "Arguments:"]
        lines += [f"    {f'{p.name}: {p.type}':<{width}}  {p.type.describe()}"
                  for p in signature.arguments]
    if signature.results:
        lines += ["", f"Returns a tuple of {len(signature.results)}:"]
        lines += [f"    {f'{p.name}: {p.type}':<{width}}  {p.type.describe()}"
                  for p in signature.results]
    else:
        lines += ["", "Returns an empty tuple."]
    if signature.source != "declaration":
        lines += ["", f"(types from the {signature.source}: the program has no parsable "
                  "iree.abi.declaration)"]
    others = {key: value for key, value in function.attributes.items()
              if key != "iree.abi.declaration"}
    if others:
        lines += ["", "Reflection attributes:"]
        lines += [f"    {key} = {value}" for key, value in sorted(others.items())]
    lines += ["", f"Calling convention {function.calling_convention}. Call it with "
              f"`await {function.name}(...)` (keyword timeout= in seconds) or "
              f"`{function.name}.call_sync(...)` from synchronous code."]
    return "\n".join(lines)


def _mark_coroutine_function(function: ProgramFunction) -> None:
    """Makes ``inspect.iscoroutinefunction`` true for it (Python 3.12+), so
    frameworks that look know to await it."""
    mark = getattr(inspect, "markcoroutinefunction", None)
    if mark is not None:
        mark(function)
