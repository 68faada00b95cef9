"""Modules whose exports are Python callables (the HAL module, user modules).

A module's exports come from a declarative table (``exports=``, see
:mod:`asyncvm.vm._export_table`), or one at a time from the
``NativeModule.export(calling_convention)`` decorator. It gets one
Python value per argument (a span is a list: of values if the span has one
kind, of tuples otherwise) and returns a tuple, a bare value for a single
result, or ``None`` for none; an ``async def`` export, or one that returns an
awaitable, is awaited by the invocation driver (a suspension point). VMError
keeps its status; any other exception becomes INTERNAL (RESOURCE_EXHAUSTED for
RecursionError and MemoryError) naming the export (``module.function``) and
the exception, with the caller's VM backtrace. Results are normalized, not
checked against the calling convention: native modules are trusted code on
the hot path. :class:`~asyncvm.modules.python.PythonModule` checks them.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from ._calling_convention import parse_calling_convention
from ._export_table import Export, export_table
from ._module import (Dependency, FunctionDescriptor, ImportDescriptor, Module, ModuleState,
                      ResolvedImport)
from ._status import StatusCode, VMError, export_failure

try:
    from ._bound_exports import BoundExport as _NativeBoundExport
except ImportError:  # built without a C compiler: the Python maker below does it
    _NativeBoundExport = None


_PLAIN_RESULTS = frozenset((type(None), tuple, int, float))
"""Result types that are never awaitable: the common case skips the slower
``inspect.isawaitable`` check."""


def adapt_export(function: Callable, where: str, convert_results: Callable[[Any], tuple],
                 convert_arguments: Callable[[tuple], tuple] | None = None) -> Callable:
    """Wraps an export in the VM function protocol: it returns a tuple (or an
    awaitable of one) made by ``convert_results`` from what ``function``
    returned, after ``convert_arguments`` (if given) mapped the arguments.

    ``where`` (``module.function``) names the export in the VMError an
    unexpected exception becomes (:func:`~asyncvm.vm.export_failure`); a
    VMError keeps its status. A ``try`` costs nothing until something raises,
    so trusted native exports pay only for the result conversion.
    """
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def call_async(*arguments: Any) -> tuple:
            if convert_arguments is not None:
                arguments = convert_arguments(arguments)
            try:
                result = await function(*arguments)
            except VMError:
                raise
            except Exception as error:
                raise export_failure(where, error) from error
            return convert_results(result)
        return call_async

    @functools.wraps(function)
    def call(*arguments: Any) -> tuple:
        if convert_arguments is not None:
            arguments = convert_arguments(arguments)
        try:
            result = function(*arguments)
        except VMError:
            raise
        except Exception as error:
            raise export_failure(where, error) from error
        if result.__class__ in _PLAIN_RESULTS or not inspect.isawaitable(result):
            return convert_results(result)
        # A synchronous export may still decide to suspend by returning an
        # awaitable (hal.fence.await does when its fences are pending).
        return _finish(result, where, convert_results)
    return call


async def _finish(awaitable: Any, where: str, convert_results: Callable[[Any], tuple]) -> tuple:
    try:
        result = await awaitable
    except VMError:
        raise
    except Exception as error:
        raise export_failure(where, error) from error
    return convert_results(result)


def yielding_export(function: Callable, where: str, calling_convention: str) -> Callable:
    """The VM callable of a trusted export that may suspend (a table row
    with ``yields``): its plain results are normalized as usual; an
    awaitable it returns goes to the invocation driver as it is, and must
    resolve to the result tuple (no wrapping coroutine: a suspended call
    keeps one frame less). An exception other than VMError raised by the
    call, or by the look at its result, becomes INTERNAL naming ``where``."""
    normalize = result_normalizer(calling_convention)

    def call(*arguments: Any) -> Any:
        try:
            result = function(*arguments)
            if result.__class__ in _PLAIN_RESULTS or not inspect.isawaitable(result):
                return normalize(result)
        except VMError:
            raise
        except Exception as error:
            raise export_failure(where, error) from error
        return result
    return functools.wraps(function)(call)


def direct_export(function: Callable, where: str, calling_convention: str) -> Callable:
    """The VM callable of a trusted export that never suspends (a table row
    without ``yields``): one frame around ``function``, specialised for the
    number of results, with no awaitable test and no normalizing pass.

    ``function`` returns None for no result, the bare value for one, and a
    sequence for several (a tuple passes as it is; values are unchecked). An
    exception other than VMError becomes INTERNAL naming ``where``, as in
    :func:`adapt_export`.
    """
    count = len(parse_calling_convention(calling_convention).results)
    if count == 0:
        def call_none(*arguments: Any) -> tuple:
            try:
                function(*arguments)
            except VMError:
                raise
            except Exception as error:
                raise export_failure(where, error) from error
            return ()
        return functools.wraps(function)(call_none)
    if count == 1:
        def call_one(*arguments: Any) -> tuple:
            try:
                return (function(*arguments),)
            except VMError:
                raise
            except Exception as error:
                raise export_failure(where, error) from error
        return functools.wraps(function)(call_one)

    def call_many(*arguments: Any) -> tuple:
        try:
            result = function(*arguments)
            return result if result.__class__ is tuple else tuple(result)
        except VMError:
            raise
        except Exception as error:
            raise export_failure(where, error) from error
    return functools.wraps(function)(call_many)


_BOUND_TEMPLATE = """\
def bind(function, state, where, VMError, export_failure):
    def call({parameters}):
        try:
{body}
        except VMError:
            raise
        except Exception as error:
            raise export_failure(where, error) from error
    return call
"""

_BOUND_BODIES = {
    0: "            function({arguments})\n            return ()",
    1: "            return (function({arguments}),)",
    2: "            result = function({arguments})\n"
       "            return result if result.__class__ is tuple else tuple(result)",
}
"""The body of a bound export by result count (0, 1, several): the
results normalized as :func:`direct_export` does."""

_bound_makers: dict[tuple[int, int], Callable] = {}


def bound_direct_export(function: Callable, state: Any, where: str,
                        calling_convention: str) -> Callable:
    """:func:`direct_export` of ``function`` with the module state bound
    as its first argument. Errors as in :func:`direct_export`. Made once per
    state and export, when the export is looked up (at link time for
    imports).

    With the C helper built (``asyncvm.vm._bound_exports``) it is a
    vectorcall object and no frame at all; otherwise one Python frame with
    exactly the convention's parameters (a span is one list parameter): no
    ``functools.partial`` layer and no packing of ``*arguments``."""
    signature = parse_calling_convention(calling_convention)
    results = min(len(signature.results), 2)
    if _NativeBoundExport is not None:
        call = _NativeBoundExport(function, state, results, where, VMError, export_failure)
        _describe_as(call, function)
        return call
    key = (len(signature.arguments), results)
    maker = _bound_makers.get(key)
    if maker is None:
        parameters = [f"a{index}" for index in range(key[0])]
        source = _BOUND_TEMPLATE.format(
            parameters=", ".join(parameters),
            body=_BOUND_BODIES[key[1]].format(arguments=", ".join(["state", *parameters])))
        namespace: dict = {}
        exec(compile(source, f"<asyncvm bound export {key}>", "exec"), namespace)
        maker = _bound_makers.setdefault(key, namespace["bind"])
    call = maker(function, state, where, VMError, export_failure)
    _describe_as(call, function)
    return call


def bound_yielding_export(function: Callable, state: Any, where: str,
                          calling_convention: str) -> Callable | None:
    """:func:`yielding_export` of ``function`` with the module state bound as
    its first argument, as the C helper's vectorcall object (no frame; the
    same results and errors); None when the helper was not built (the
    caller binds the Python adapter instead)."""
    if _NativeBoundExport is None:
        return None
    results = min(len(parse_calling_convention(calling_convention).results), 2)
    call = _NativeBoundExport(function, state, results, where, VMError, export_failure,
                              inspect.isawaitable)
    _describe_as(call, function)
    return call


def _describe_as(call: Any, function: Callable) -> None:
    """Gives ``call`` the name, docstring and ``__wrapped__`` of ``function``."""
    call.__name__ = getattr(function, "__name__", "export")
    call.__qualname__ = getattr(function, "__qualname__", call.__name__)
    call.__doc__ = getattr(function, "__doc__", None)
    call.__wrapped__ = function


def result_normalizer(calling_convention: str) -> Callable[[Any], tuple]:
    """Results as a tuple, unchecked (a bare value for one result, None for
    none): the conversion of trusted native exports."""
    count = len(parse_calling_convention(calling_convention).results)

    def normalize(result: Any) -> tuple:
        if result.__class__ is tuple:
            return result
        if result is None and count == 0:
            return ()
        if count == 1:
            return (result,)
        return tuple(result)
    return normalize


class NativeModule(Module):
    """A module whose exports are Python callables. Immutable once registered.

    ``exports`` is a table of :class:`~asyncvm.vm.Export` rows (checked by
    :func:`~asyncvm.vm.export_table`). With ``state_argument=True`` every
    export takes the module's per-context state as its first argument; the
    state binds it once, when the module is registered in a context, so a
    call costs no lookup.
    """

    def __init__(self, name: str, version: int = 0, *,
                 dependencies: list[Dependency] | None = None,
                 imports: list[ImportDescriptor] | None = None,
                 ref_types: dict[str, type] | None = None,
                 exports: tuple[Export, ...] | list[Export] = (),
                 state_argument: bool = False) -> None:
        self.name = name
        self.version = version
        self.state_argument = state_argument
        self._dependencies = list(dependencies or [])
        self._imports = list(imports or [])
        self._ref_types = dict(ref_types or {})
        self._functions: dict[str, tuple[FunctionDescriptor, Callable]] = {}
        # Table rows adapted by direct_export or yielding_export: name ->
        # (function, where, yields); a state binds these itself
        # (bound_direct_export, bound_yielding_export).
        self._table_rows: dict[str, tuple[Callable, str, bool]] = {}
        for row in export_table(name, exports):
            descriptor = FunctionDescriptor(row.name, row.calling_convention,
                                            dict(row.attributes))
            self._add(descriptor, row.function, direct=not row.yields)

    def _add(self, descriptor: FunctionDescriptor, function: Callable, *,
             direct: bool | None = None) -> None:
        if descriptor.name in self._functions:
            raise VMError(StatusCode.ALREADY_EXISTS,
                          f"module {self.name!r} already exports {descriptor.name!r}")
        self._functions[descriptor.name] = (descriptor,
                                            self._adapt_export(descriptor, function, direct))

    def _adapt_export(self, descriptor: FunctionDescriptor, function: Callable,
                      direct: bool | None = None) -> Callable:
        """The VM function protocol callable for ``function``: for a table
        row (``direct`` not None) that is no coroutine function, the
        :func:`direct_export` of one that does not yield or the
        :func:`yielding_export` of one that does; else (decorated exports,
        coroutine functions) the general :func:`adapt_export`.
        Subclasses that convert values override this."""
        where = f"{self.name}.{descriptor.name}"
        if direct is not None and not inspect.iscoroutinefunction(function):
            self._table_rows[descriptor.name] = (function, where, not direct)
            if direct:
                return direct_export(function, where, descriptor.calling_convention)
            return yielding_export(function, where, descriptor.calling_convention)
        return adapt_export(function, where, result_normalizer(descriptor.calling_convention))

    def export(self, calling_convention: str, name: str | None = None,
               **attributes: str) -> Callable[[Callable], Callable]:
        """Decorator registering ``function`` as an export with that convention."""
        parse_calling_convention(calling_convention)

        def register(function: Callable) -> Callable:
            self._add(FunctionDescriptor(name or function.__name__, calling_convention,
                                         dict(attributes)), function)
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
        self._bound: dict[str, Callable] = {}

    def lookup_function(self, name: str):
        """The export ``name`` as a VM function (bound to this state when the
        module takes a state argument), or None."""
        implementation = self.module.implementation(name)
        if implementation is None or not self.module.state_argument:
            return implementation
        bound = self._bound.get(name)
        if bound is None:
            row = self.module._table_rows.get(name)
            calling_convention = self.module._functions[name][0].calling_convention
            if row is None:
                bound = functools.partial(implementation, self)
            elif row[2]:
                bound = bound_yielding_export(row[0], self, row[1], calling_convention) \
                    or functools.partial(implementation, self)
            else:
                bound = bound_direct_export(row[0], self, row[1], calling_convention)
            self._bound[name] = bound
        return bound
