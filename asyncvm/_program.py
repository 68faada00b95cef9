"""``asyncvm.load``: a compiled program ready to call from async code.

A :class:`Program` is one context holding a program's modules; when they
import ``hal.*`` the HAL module comes first, over a ``local-sync`` device,
and when they import ``io_parameters.*`` (globals kept in parameter files)
the ``io_parameters`` module follows it, over the ``parameters=`` given
(see :func:`parameter_index`).
Loading is synchronous (parse, verify, translate); calls are coroutines that
run under asyncio or trio. numpy arrays passed for tensor arguments become
buffer views without copying (when C-contiguous), and tensor results come
back as numpy arrays viewing the result buffers. Failures are VMError.

Beyond ``invoke``, a program reads like a collection of functions:
``program["add"]`` (or ``program.add`` when the name is an identifier that
is not one of Program's own attributes) is a :class:`ProgramFunction`,
awaitable and documented with the signature the compiler recorded;
``"add" in program`` and ``list(program)`` see the public functions of the
main module. ``invoke_sync``/``call_sync`` serve synchronous code (scripts,
notebooks), and ``async with asyncvm.load(path) as program:`` closes the
program at the end of the block. As in TVM's Relax VM, ``set_input``,
``invoke_stateful`` and ``get_outputs`` make stateful calls (see
:mod:`asyncvm._stateful`) and ``time_evaluator`` times a function (see
:mod:`asyncvm._time_evaluator`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Awaitable, Iterable, Iterator, Union

import numpy
from ._devices import create_device
from ._instrument import install_instrument
from ._function import ProgramFunction
from ._module_sources import Source, main_module, modules_from, modules_from_all
from ._stateful import StatefulCalls
from ._synchronous import run_sync
from ._time_evaluator import TimeEvaluator
from .hal import BufferView, Device, HalModule
from .hal._allocator_statistics import check_limit
from .hal._buffer_view import protected_input as _protected_input
from .modules.io_parameters import IoParametersModule, ParameterIndex
from .vm import (DEFAULT_MAX_DEPTH, DEFAULT_QUANTUM, DEFAULT_TIME_SLICE, Context, Function, Instance,
                 Module, StatusCode, VMError)

Path = Union[str, os.PathLike]
Parameters = Union[ParameterIndex, Path, Sequence[Path],
                   Mapping[str, Union[Path, Iterable[Path]]]]
"""What ``load(parameters=...)`` takes (see :func:`parameter_index`)."""


class Program:
    """A context with a main bytecode module (the last one registered).

    ``await program.invoke(name, *args)`` or ``await program[name](*args)``
    calls a function; ``program.invoke_sync``/``program[name].call_sync``
    do it from synchronous code; ``async with`` closes the program.
    """

    def __init__(self, context: Context, main: Module) -> None:
        self.context = context
        self.main = main
        self._functions: dict[str, Function] = {}
        self._bound: dict[str, ProgramFunction] = {}
        self._stateful = StatefulCalls(self)

    @property
    def export_names(self) -> list[str]:
        """Public exports of the main module (IREE's internal ``__init`` etc. left out)."""
        return [d.name for d in self.main.exports if not d.name.startswith("__")]

    @property
    def parameters(self) -> ParameterIndex | None:
        """The parameter index of the program's ``io_parameters`` module
        (None without one)."""
        for module in self.context.modules:
            if isinstance(module, IoParametersModule):
                return module.index
        return None

    @property
    def device(self) -> Device | None:
        """The first device of the program's HAL module (None without one):
        its ``statistics`` tell what is allocated and still alive."""
        for module in self.context.modules:
            if isinstance(module, HalModule) and module.devices:
                return module.devices[0]
        return None

    def lookup(self, name: str | Function | ProgramFunction) -> Function:
        """A function of the main module, or ``module.function`` from any module.

        ``name`` is first the full name of a main-module function (dots and
        all: ``"i32i32.i32"``, ``"regression_issue_12546.mlir"``), then, if
        it has a dot, ``module.function`` (see
        :meth:`asyncvm.vm.Context.lookup_function`). NOT_FOUND (naming the
        main module's functions) if there is none.
        """
        if not isinstance(name, str):
            if isinstance(name, Function):
                return name
            if isinstance(name, ProgramFunction):
                return name.function
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"a function is named by a str, got {type(name).__name__}")
        function = self._functions.get(name)
        if function is None:
            function = self._find(name)
            if function is None:
                raise VMError(StatusCode.NOT_FOUND, self._not_found(name))
            self._functions[name] = function
        return function

    def _find(self, name: str) -> Function | None:
        attempts = [{"module": self.main.name}] + ([{}] if "." in name else [])
        for where in attempts:
            try:
                return self.context.lookup_function(name, **where)
            except VMError as error:
                if error.status != StatusCode.NOT_FOUND:
                    raise
        return None

    def _not_found(self, name: str) -> str:
        names = ", ".join(self.export_names) or "none"
        modules = ", ".join(module.name for module in self.context.modules)
        return (f"function {name!r} not found: module {self.main.name!r} exports {names} "
                f"(modules in the program: {modules})")

    # -- functions as objects -----------------------------------------------------------

    def __getitem__(self, name: str) -> ProgramFunction:
        """``program["add"]``: the function as an awaitable callable (cached).
        ``"module.function"`` names a function of any module of the program.
        Raises VMError NOT_FOUND (listing the available names)."""
        bound = self._bound.get(name)
        if bound is None:
            if not isinstance(name, str):
                raise TypeError(f"function names are str, not {type(name).__name__}")
            function = self.lookup(name)
            bound = self._bound.get(function.full_name)
            if bound is None:
                bound = self._bound[function.full_name] = ProgramFunction(self, function)
            self._bound[name] = bound
        return bound

    def __getattr__(self, name: str) -> ProgramFunction:
        # Only reached when ``name`` is not an attribute of the program, so
        # Program's own attributes always win; private names never resolve
        # to functions (protocols probe them: copy, pickle, IPython).
        if not name.startswith("_"):
            bound = self.__dict__.get("_bound", {}).get(name)
            if bound is not None:
                return bound
        main = self.__dict__.get("main")
        if name.startswith("_") or main is None or main.find_export(name) is None:
            known = ", ".join(self._attribute_functions()) if main is not None else ""
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}"
                                 + (f" (its functions: {known})" if known else ""))
        return self[name]

    def _attribute_functions(self) -> list[str]:
        return [name for name in self.export_names
                if name.isidentifier() and not name.startswith("_")
                and not hasattr(type(self), name) and name not in self.__dict__]

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._attribute_functions()))

    def __contains__(self, name: object) -> bool:
        """``"add" in program``: a public function of the main module (or a
        resolvable ``"module.function"``)."""
        if not isinstance(name, str):
            return False
        if "." not in name:
            return name in self.export_names
        try:
            self.lookup(name)
        except VMError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        """The names of the main module's public functions, in export order."""
        return iter(self.export_names)

    @property
    def functions(self) -> dict[str, ProgramFunction]:
        """Every public function of the main module, by name."""
        return {name: self[name] for name in self.export_names}

    def __repr__(self) -> str:
        return f"<asyncvm.Program {self.main.name}: {', '.join(self.export_names)}>"

    # -- calls --------------------------------------------------------------------------

    def invoke(self, name: str | Function | ProgramFunction, *arguments: Any,
               timeout: float | None = None) -> Awaitable[tuple]:
        """Calls a function: the awaitable of its tuple of results. Suspends;
        raises VMError (DEADLINE_EXCEEDED past ``timeout`` seconds, if given).
        The function lookup (NOT_FOUND) and the conversion of numpy
        arguments happen when the awaitable is made; the argument checks
        against the calling convention when it is awaited (a plain method
        returning the context's coroutine: no frame of its own while the call
        is suspended).

        numpy arrays are passed as buffer views over their memory, protected:
        a kernel that writes an argument in place works on a private copy, so
        the caller's arrays never change (pass a ``BufferView`` to let the
        program use and update memory in place). Buffer-view results are
        returned as numpy arrays viewing the result buffers.
        """
        function = self._functions.get(name) if name.__class__ is str else None
        if function is None:
            function = name if name.__class__ is Function else self.lookup(name)
        return self.context.invoke(
            function, *[_protected_input(value) if value.__class__ is numpy.ndarray
                        or isinstance(value, numpy.ndarray) else value for value in arguments],
            timeout=timeout, convert=_as_arrays)

    def invoke_sync(self, name: str | Function | ProgramFunction, *arguments: Any,
                    timeout: float | None = None) -> tuple:
        """:meth:`invoke` from synchronous code (scripts, notebooks): returns
        the results.

        Outside an event loop it runs on a fresh asyncio loop in this thread;
        inside a running one (Jupyter, a coroutine under asyncio or trio) on
        a worker thread with its own loop, blocking this thread until done.
        A program serves one event-loop thread at a time: called while async
        calls of this program are in flight, it raises VMError
        FAILED_PRECONDITION instead of waiting for them.
        """
        return run_sync(self.invoke, name, *arguments, timeout=timeout)

    # -- stateful calls and timing, as TVM's Relax VM ----------------------------------

    def set_input(self, name: str | Function | ProgramFunction, /, *arguments: Any,
                  **named: Any) -> None:
        """Stores inputs for :meth:`invoke_stateful` of function ``name``.

        With positional arguments (or none at all) it is the complete list,
        replacing the stored one: ``arguments`` fill the leading parameters,
        keywords (the signature's parameter names, ``input0``...) the rest.
        With keywords only it sets those and keeps the inputs stored earlier,
        so ``set_input("f", input1=y)`` changes one input. The program keeps
        references to the values (not copies) until they are replaced.
        Does not suspend. Raises VMError: NOT_FOUND for an unknown function;
        INVALID_ARGUMENT for an unknown parameter name, a parameter given
        twice or a wrong count; then nothing is stored.
        """
        self._stateful.set_input(name, arguments, named)

    def invoke_stateful(self, name: str | Function | ProgramFunction, *,
                        timeout: float | None = None) -> Awaitable[tuple]:
        """Calls function ``name`` with the inputs :meth:`set_input` stored
        and stores its results for :meth:`get_outputs`; the awaitable also
        gives them. Suspends (as :meth:`invoke`). The inputs are taken when
        this is called; raises VMError NOT_FOUND, or FAILED_PRECONDITION
        naming the inputs missing, at once, and what :meth:`invoke` raises
        (DEADLINE_EXCEEDED past ``timeout`` seconds) when awaited. Calls of
        the same function may overlap: each stores its results when it
        finishes, so the last to finish wins; a failed call stores nothing.
        """
        return self._stateful.invoke(name, timeout)

    def invoke_stateful_sync(self, name: str | Function | ProgramFunction, *,
                             timeout: float | None = None) -> tuple:
        """:meth:`invoke_stateful` from synchronous code, as
        :meth:`invoke_sync` runs: stores and returns the results."""
        return run_sync(self.invoke_stateful, name, timeout=timeout)

    def get_outputs(self, name: str | Function | ProgramFunction) -> tuple:
        """The results the last finished :meth:`invoke_stateful` of ``name``
        stored (the same tuple each time, kept until the next one replaces
        it). Does not suspend. Raises VMError NOT_FOUND for an unknown
        function, FAILED_PRECONDITION before any stateful call finished.
        """
        return self._stateful.outputs(name)

    def time_evaluator(self, name: str | Function | ProgramFunction, number: int = 10,
                       repeat: int = 1, min_repeat_ms: float = 0,
                       cooldown_interval_ms: float = 0,
                       repeats_to_cooldown: int = 1) -> TimeEvaluator:
        """A :class:`~asyncvm._time_evaluator.TimeEvaluator` of function
        ``name``, as TVM's: ``await evaluator(*arguments)`` (or
        ``evaluator.sync(*arguments)``) warms up with one call, then runs
        ``repeat`` repeats of ``number`` calls (more when a repeat is under
        ``min_repeat_ms``) and returns an :class:`asyncvm.BenchmarkResult`
        of seconds per call. Does not suspend; raises VMError NOT_FOUND for
        an unknown function, INVALID_ARGUMENT for a setting out of range.
        """
        return TimeEvaluator(self, name, number, repeat, min_repeat_ms, cooldown_interval_ms,
                             repeats_to_cooldown)

    def set_instrument(self, callback) -> None:
        """Runs ``callback(event)`` before and after every function, import
        and dispatch of this program, as TVM's ``set_instrument``; None
        removes it (see :mod:`asyncvm._instrument`). VMError
        INVALID_ARGUMENT if it is not callable. Does not suspend."""
        install_instrument(self, callback)

    async def close(self) -> None:
        """Runs the modules' deinitializers; later calls are FAILED_PRECONDITION."""
        await self.context.close()

    def close_sync(self) -> None:
        """:meth:`close` from synchronous code (as :meth:`invoke_sync` runs)."""
        run_sync(self.close)

    async def __aenter__(self) -> "Program":
        return self

    async def __aexit__(self, kind, error, traceback) -> None:
        await self.close()


def _as_arrays(results: tuple) -> tuple:
    """Buffer-view results as numpy arrays viewing their buffers."""
    return tuple([value.to_array() if value.__class__ is BufferView else value
                  for value in results])


def load_module(source: Source) -> Module:
    """The one module a source gives (a path, VMFB bytes or a Module; see
    :mod:`asyncvm._module_sources`). INVALID_ARGUMENT for a Python file that
    defines several (use :func:`load_modules`)."""
    loaded = modules_from(source)
    if len(loaded) != 1:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{source} defines {len(loaded)} modules "
                      f"({', '.join(module.name for module in loaded)}); use load_modules")
    return loaded[0]


def load_modules(source: Source) -> list[Module]:
    """Every module a source gives, in order: one for a ``.vmfb``, a
    library or a Module; those a ``.py`` file defines."""
    return modules_from(source)


def load(source: Source, *, modules: Iterable[Source] = (),
         instance: Instance | None = None, device: str = "local-sync",
         parameters: Parameters | None = None, memory_limit: int | None = None,
         quantum: int = DEFAULT_QUANTUM, time_slice: float = DEFAULT_TIME_SLICE,
         max_depth: int = DEFAULT_MAX_DEPTH) -> Program:
    """Loads a program: ``modules`` are registered first, in order, then ``source``.

    Each source is a ``.vmfb`` path or VMFB bytes, a ``.py`` file (the
    modules it defines), a tvm-ffi shared library (``.so``; ``NAME=PATH``
    names it) or a Module object (see :mod:`asyncvm._module_sources`). As in
    IREE's tools, each module resolves its imports from those registered
    before it, and the program (whose functions ``invoke`` calls by bare
    name) is the last bytecode module.

    If any of them imports ``hal.*`` or names a ``!hal.*`` type (a function
    that only passes a tensor through) and no HAL module is given, one is
    registered first over a ``device`` (``local-sync``), which holds at
    most ``memory_limit`` bytes of allocations alive at once when one is
    given (a positive int; see :func:`create_device`): an allocation past it
    fails that invocation alone with VMError RESOURCE_EXHAUSTED, and
    ``program.device.statistics`` shows the limit and the peak. If any imports
    ``io_parameters.*`` and no such module is given, an
    :class:`~asyncvm.modules.io_parameters.IoParametersModule` is registered
    right after the HAL, over ``parameters`` (see :func:`parameter_index`;
    none gives an empty index, whose loads fail NOT_FOUND naming the
    parameter). ``quantum``, ``time_slice`` and ``max_depth`` are the
    context's scheduling settings (see :class:`asyncvm.vm.Context`). Raises
    VMError if a file is unreadable, malformed, or an import does not
    resolve, or a setting is out of range; INVALID_ARGUMENT for
    ``parameters`` given along with an ``io_parameters`` module, for a
    ``memory_limit`` that is not a positive int, or given along with a HAL
    module (whose devices have their own). Does not
    suspend; module initializers (which load the parameters) run on the
    first call.
    """
    memory_limit = check_limit(memory_limit)
    everything = modules_from_all(modules) + modules_from(source)
    main = main_module(everything)
    index = parameter_index(parameters) if parameters is not None else None
    has_hal = any(module.name == "hal" for module in everything)
    if memory_limit is not None and has_hal:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      "memory_limit= cannot be given along with a hal module (give its devices "
                      "their own: create_device(memory_limit=...))")
    needs_hal = any(_uses_hal(module) for module in everything)
    if needs_hal and not has_hal:
        everything.insert(0, HalModule([create_device(device, memory_limit=memory_limit)]))
    if any(module.name == "io_parameters" for module in everything):
        if index is not None:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          "parameters= cannot be given along with an io_parameters module "
                          "(that module has its own parameters)")
    elif any(_imports_module(module, "io_parameters") for module in everything):
        position = next((position + 1 for position, module in enumerate(everything)
                         if module.name == "hal"), 0)
        everything.insert(position, IoParametersModule(index))
    context = Context(instance, everything, max_depth=max_depth, quantum=quantum,
                      time_slice=time_slice)
    return Program(context, main)


def parameter_index(parameters: Parameters) -> ParameterIndex:
    """The :class:`~asyncvm.modules.io_parameters.ParameterIndex` that
    ``parameters`` describes:

    * a ``ParameterIndex`` (filled by the caller from files or numpy arrays)
      is used as it is;
    * a path (``.irpa``, ``.safetensors``, ``.gguf``) gives its parameters
      the empty scope ``""``, the default; a list of paths, all of theirs;
    * a mapping ``{"scope": path}`` or ``{"scope": [path, ...]}`` gives each
      scope the parameters of its files (``""`` is the empty scope).

    Files are mapped, not read. Raises VMError: INVALID_ARGUMENT for
    anything else, and what the file readers raise (NOT_FOUND for a missing
    file, ALREADY_EXISTS for a key twice in one scope, ...).
    """
    if isinstance(parameters, ParameterIndex):
        return parameters
    index = ParameterIndex()
    if isinstance(parameters, (str, os.PathLike)):
        _add_files(index, "", [parameters])
    elif isinstance(parameters, Mapping):
        for scope, paths in parameters.items():
            if not isinstance(scope, str):
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"parameter scopes are str, not {type(scope).__name__} ({scope!r})")
            _add_files(index, scope, [paths] if isinstance(paths, (str, os.PathLike)) else paths)
    elif isinstance(parameters, (list, tuple)):
        _add_files(index, "", parameters)
    else:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      "parameters= takes a ParameterIndex, a path, a list of paths or a "
                      f"{{scope: path or paths}} mapping, not {type(parameters).__name__}")
    return index


def _add_files(index: ParameterIndex, scope: str, paths: Iterable[Path]) -> None:
    if isinstance(paths, (bytes, bytearray)) or not isinstance(paths, Iterable):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"parameter scope {scope!r}: expected a path or a list of paths, "
                      f"not {type(paths).__name__}")
    for path in paths:
        if not isinstance(path, (str, os.PathLike)):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"parameter scope {scope!r}: {path!r} is not a path")
        index.add_file(os.fspath(path), scope=scope)


def _imports_module(module: Module, name: str) -> bool:
    return any(descriptor.module_name == name for descriptor in module.imports)


def _uses_hal(module: Module) -> bool:
    """Whether ``module`` needs the HAL's ref types: it imports ``hal.*``, or
    a bytecode module's type table names ``!hal.*`` types."""
    if _imports_module(module, "hal"):
        return True
    definition = getattr(module, "definition", None)
    return definition is not None and any(
        name.startswith("!hal.") for name in definition.type_names)
