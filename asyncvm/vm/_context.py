"""Contexts: an ordered set of module states with imports resolved.

Modules are registered in order. Each import ``module.function`` resolves
against the exports of the modules registered *before* it, newest first;
the calling conventions must match. The module of a qualified name is the
registered module whose name, followed by a dot, begins it (the longest
such name): function names may contain dots (``hal.devices.count``,
``module.i32i32.i32``). A missing required import is NOT_FOUND
naming the import, and so is a dependency older than required (as in IREE);
a calling convention that differs from the export's is INCOMPATIBLE; an
optional import may stay unresolved (``vm.import.resolved`` then gives 0).

Registration is synchronous. Module initializers (bytecode ``__init``) run
asynchronously, once, in registration order: on the first invocation or on
``await context.initialize()``.

Concurrency: one context may serve many concurrent invocations on its event
loop thread. Module state (globals) is shared by them, as in IREE; each
invocation has its own stack and registers, and runs without interruption
between its suspension points, so no other invocation sees a global
half-updated between two of them. While invocations run on one thread, an
invocation from another thread is FAILED_PRECONDITION: a context is used by
one event-loop thread at a time (any thread once it is idle).

Scheduling: a bytecode frame checks the clock every ``quantum`` instructions
and the invocation yields to the event loop once it has run ``time_slice``
seconds without suspending (``time_slice=0`` yields at every check: a pure
instruction budget). docs/serving.md gives the checkpoint rules.

Cancellation: each invocation carries a :class:`CancellationToken`, current
while it runs. When the invocation is cancelled or passes its ``timeout``,
the token is cancelled too, so the dispatches it submitted stop (see
:mod:`asyncvm.vm._cancellation`).

Instruments: :meth:`Context.set_instrumentation` installs an object that
runs every invocation in place of the plain call (``asyncvm._instrument``
builds it, and wraps imports and dispatches itself). Without one, an
invocation of an initialized context takes its fast path after a single
flag check.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

import anyio

from ._calling_convention import CallingConvention, Span, parse_calling_convention
from ._cancellation import (CancellationToken, cancellation_error, reset_current_cancellation,
                            set_current_cancellation)
from . import _tracing
from ._instance import Instance
from ._invocation import DEFAULT_MAX_DEPTH, DEFAULT_QUANTUM, DEFAULT_TIME_SLICE, invoke_callable
from ._module import Module, ModuleState, ResolvedImport, resolve_qualified_name
from ._status import StatusCode, VMError
from ._values import ValueKind, coerce_argument, round_f32


@dataclass(frozen=True)
class Function:
    """An export resolved in a context, ready to invoke."""

    module: Module
    name: str
    calling_convention: str
    callable: Callable[..., Any]
    attributes: dict

    @property
    def full_name(self) -> str:
        return f"{self.module.name}.{self.name}"

    @property
    def signature(self) -> CallingConvention:
        return parse_calling_convention(self.calling_convention)

    def __repr__(self) -> str:
        return f"<Function {self.full_name} {self.calling_convention}>"


class Context:
    """An ordered set of module states sharing one instance."""

    def __init__(self, instance: Instance | None = None, modules: Iterable[Module] = (),
                 *, max_depth: int = DEFAULT_MAX_DEPTH, quantum: int = DEFAULT_QUANTUM,
                 time_slice: float = DEFAULT_TIME_SLICE) -> None:
        """Raises INVALID_ARGUMENT for a scheduling setting out of range, and
        what :meth:`register_modules` raises."""
        if not isinstance(max_depth, int) or max_depth < 1:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"max_depth must be >= 1, got {max_depth!r}")
        if not isinstance(quantum, int) or not 1 <= quantum <= 1 << 30:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"quantum must be an instruction count in [1, 2**30], got {quantum!r}")
        if not isinstance(time_slice, (int, float)) or not time_slice >= 0:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"time_slice must be >= 0 seconds, got {time_slice!r}")
        self.instance = instance if instance is not None else Instance()
        self.max_depth = max_depth
        self.quantum = quantum
        self.time_slice = float(time_slice)
        self._modules: list[Module] = []
        self._states: list[ModuleState] = []
        self._initialized = False
        self._initializing: anyio.Event | None = None
        self._initialize_error: BaseException | None = None
        self._closed = False
        self._thread_lock = threading.Lock()
        self._thread: int | None = None
        self._running = 0
        self.instrumentation = None
        # Initialized without error and not instrumented: what lets invoke
        # take its fast path with one attribute check.
        self._direct = False
        self.register_modules(modules)

    # -- registration ------------------------------------------------------------

    @property
    def modules(self) -> list[Module]:
        return list(self._modules)

    def state_of(self, module_name: str) -> ModuleState:
        for module, state in zip(reversed(self._modules), reversed(self._states)):
            if module.name == module_name:
                return state
        raise VMError(StatusCode.NOT_FOUND, f"module {module_name!r} is not in the context")

    def register_modules(self, modules: Iterable[Module]) -> None:
        """Registers modules in order, resolving each one's imports.

        Raises NOT_FOUND (missing module or import), INCOMPATIBLE (too old a
        dependency, mismatched calling convention) or FAILED_PRECONDITION
        (after initialization has begun).
        """
        for module in modules:
            if self._initialized or self._initializing is not None:
                raise VMError(StatusCode.FAILED_PRECONDITION,
                              "modules cannot be registered after the context initialized")
            self._check_dependencies(module)
            for name, cls in module.provided_ref_types.items():
                self.instance.ref_types.register(name, cls)
            resolved = [self._resolve_import(module, descriptor) for descriptor in module.imports]
            state = module.create_state(self, resolved)
            self._modules.append(module)
            self._states.append(state)

    def _find_module(self, name: str) -> tuple[Module, ModuleState] | None:
        for module, state in zip(reversed(self._modules), reversed(self._states)):
            if module.name == name:
                return module, state
        return None

    def _check_dependencies(self, module: Module) -> None:
        for dependency in module.dependencies:
            found = self._find_module(dependency.name)
            if found is None:
                if dependency.optional:
                    continue
                raise VMError(StatusCode.NOT_FOUND,
                              f"module {module.name!r} depends on module {dependency.name!r} "
                              f"(version >= {dependency.minimum_version}), which is not registered")
            if found[0].version < dependency.minimum_version:
                raise VMError(StatusCode.NOT_FOUND,
                              f"module {module.name!r} needs {dependency.name!r} version >= "
                              f"{dependency.minimum_version}, found version {found[0].version}")

    def _resolve_import(self, module: Module, descriptor) -> ResolvedImport:
        # As IREE: the module is named by the import (``hal.devices.count`` is
        # module ``hal``); a function name may have dots, and so may a module's.
        split = resolve_qualified_name(descriptor.full_name, (m.name for m in self._modules))
        found = self._find_module(split[0]) if split else None
        export = found[0].export_for_import(split[1], descriptor.calling_convention) \
            if found else None
        if export is None:
            if descriptor.optional:
                return ResolvedImport(descriptor, None)
            raise VMError(StatusCode.NOT_FOUND,
                          f"module {module.name!r} imports {descriptor.full_name!r} "
                          f"({descriptor.calling_convention}), which no registered module exports"
                          + (_exports_hint(found[0]) if found else ""))
        if not _conventions_compatible(descriptor.calling_convention, export.calling_convention):
            raise VMError(StatusCode.INCOMPATIBLE,
                          f"module {module.name!r} imports {descriptor.full_name!r} as "
                          f"{descriptor.calling_convention}, but it is exported as "
                          f"{export.calling_convention}")
        function = found[1].lookup_export(export)
        return ResolvedImport(descriptor, function, found[0].name)

    # -- lookup and invocation ------------------------------------------------------

    def lookup_function(self, name: str, *, module: str | None = None) -> Function:
        """Finds an export by ``module.function`` or by bare name (no dot).

        A function's own name may contain dots, and so may a module's: the
        module is the registered one whose name, followed by a dot, begins
        ``name`` (the longest such name wins) and the rest is the function
        name, as in import resolution (see :func:`resolve_qualified_name`):
        ``hal.devices.count`` is the HAL's ``devices.count`` and
        ``module.i32i32.i32`` is ``module``'s ``i32i32.i32``. A name without
        a dot is searched in the newest module first. With ``module``,
        ``name`` is the full text of a function of that module. Internal
        ``__`` functions are not found. NOT_FOUND naming ``name`` if absent.
        """
        if module is not None:
            found = self._lookup_in(module, name)
        elif "." not in name:
            found = None
            for candidate in reversed(self._modules):
                found = self._lookup_in(candidate.name, name)
                if found is not None:
                    break
        else:
            split = resolve_qualified_name(name, (m.name for m in self._modules))
            found = self._lookup_in(*split) if split else None
        if found is None:
            where = f" in module {module!r}" if module is not None else ""
            raise VMError(StatusCode.NOT_FOUND, f"function {name!r} not found{where} in the "
                          f"context (modules: {', '.join(m.name for m in self._modules)})")
        return found

    def _lookup_in(self, module_name: str, function_name: str) -> Function | None:
        """Export ``function_name`` of the newest module named ``module_name``
        (None if there is none, or it is internal)."""
        found = self._find_module(module_name)
        if found is None or function_name.startswith("__"):
            return None
        module, state = found
        descriptor = module.find_export(function_name)
        if descriptor is None:
            return None
        return Function(module, descriptor.name, descriptor.calling_convention,
                        state.lookup_function(descriptor.name), descriptor.attributes)

    async def initialize(self) -> None:
        """Runs module initializers once, in registration order. Suspends.

        Concurrent callers wait for the one running them. A failure is kept and
        raised again to every later caller; a cancelled initialization is
        retried by the next caller, and so is one that failed with an error
        whose ``retry_initialization`` attribute is true (an instrument's
        stop or failure, see :mod:`asyncvm._instrument`: the program's own
        initializers did not fail).
        """
        while not self._initialized:
            if self._initializing is not None:
                await self._initializing.wait()
                continue
            event = self._initializing = anyio.Event()
            try:
                for state in self._states:
                    await state.initialize(self)
            except Exception as error:
                if getattr(error, "retry_initialization", False):
                    raise
                self._initialize_error = error
                self._initialized = True
            else:
                self._initialized = True
                self._direct = self.instrumentation is None
            finally:
                self._initializing = None
                event.set()
        if self._initialize_error is not None:
            raise self._initialize_error

    async def close(self) -> None:
        """Runs module deinitializers in reverse registration order. Suspends."""
        if self._closed:
            return
        self._closed = True
        if not self._initialized or self._initialize_error is not None:
            return
        for state in reversed(self._states):
            await state.deinitialize(self)

    def invoke(self, function: Function | str, *arguments: Any,
               timeout: float | None = None,
               convert: Callable[[tuple], tuple] | None = None) -> Awaitable[tuple]:
        """Invokes an export with Python arguments: the awaitable of its
        results as a tuple (passed through ``convert`` first, when given).

        Everything happens when the awaitable is awaited: arguments are
        checked against the calling convention (INVALID_ARGUMENT names the
        argument), and the first call runs the module initializers.
        Suspends at the invocation's suspension points. Raises VMError with a
        VM backtrace on failure. With ``timeout`` (seconds, covering the
        initializers too), an invocation still running then is cancelled at
        its next suspension point — its frames unwound, the context left
        usable — and raises DEADLINE_EXCEEDED.

        The usual call (initialized, no timeout, no tracer or instrument) is
        the driver's coroutine itself, the context's part of it running in
        that one frame (see :class:`_Invocation`): a suspended call keeps no
        coroutine of the context's.
        """
        if timeout is None and self._direct and _tracing._active is None:
            return invoke_callable(None, max_depth=self.max_depth, time_slice=self.time_slice,
                                   session=_Invocation(self, function, arguments, convert))
        return self._invoke_general(function, arguments, timeout, convert)

    async def _invoke_general(self, function: Function | str, arguments: tuple,
                              timeout: float | None,
                              convert: Callable[[tuple], tuple] | None) -> tuple:
        """:meth:`invoke` with initialization, a timeout, a tracer or an
        instrument: the same bookkeeping (:class:`_Invocation`) around a
        coroutine of its own. Errors before the call starts (closed context,
        unknown function, bad arguments) are raised when awaited, as there."""
        session = _Invocation(self, function, arguments, convert)
        try:
            _, values = session.begin()
            function = session.function
            tracer = _tracing._active
            if tracer is not None:
                identifier = tracer.new_id()
                tracer.begin_async(function.full_name, "invocation", identifier)
                try:
                    results = await self._invoke(function, values, timeout, session.token)
                finally:
                    tracer.end_async(function.full_name, "invocation", identifier)
            else:
                results = await self._invoke(function, values, timeout, session.token)
            return results if convert is None else convert(results)
        except BaseException as error:
            if not isinstance(error, Exception):
                # Cancelled (or interrupted): what the invocation started
                # and left running -- dispatches on workers, sliced work on
                # this loop -- stops with it.
                # (A deadline of the caller's own cancel scopes is a
                # cancellation here: only ``timeout=`` is this invocation's
                # deadline, and _invoke reports that one.)
                session.interrupted()
            raise
        finally:
            session.end()

    def _enter_thread(self) -> None:
        """Counts an invocation in; FAILED_PRECONDITION if invocations of this
        context are running on another thread (its event loop owns it until
        they are done)."""
        me = threading.get_ident()
        lock = self._thread_lock
        lock.acquire()  # not ``with``: on every call, and half the cost
        try:
            if self._running and self._thread != me:
                raise VMError(StatusCode.FAILED_PRECONDITION,
                              "the context has invocations running on another thread; a "
                              "context serves one event-loop thread at a time (use one "
                              "context per thread)")
            self._thread = me
            self._running += 1
        finally:
            lock.release()

    async def _invoke(self, function: Function, values: list, timeout: float | None,
                      token: CancellationToken) -> tuple:
        if timeout is None:
            return await self._initialize_and_run(function, values)
        with anyio.move_on_after(timeout) as scope:
            return await self._initialize_and_run(function, values)
        if scope.cancelled_caught:
            token.cancel(cancellation_error(function.full_name, True))
            raise VMError(StatusCode.DEADLINE_EXCEEDED,
                          f"{function.full_name} did not finish within {timeout} s")
        raise VMError(StatusCode.INTERNAL, f"{function.full_name} ended without results")

    def set_instrumentation(self, instrumentation: Any) -> None:
        """Installs (None removes) the object whose ``invoke_function(function,
        values, run)`` runs every invocation in place of the plain call (see
        :mod:`asyncvm._instrument`, which also wraps imports and dispatches).
        Invocations that start afterwards see it. Does not suspend."""
        self.instrumentation = instrumentation
        self._direct = (instrumentation is None and self._initialized
                        and self._initialize_error is None)

    async def _initialize_and_run(self, function: Function, values: list) -> tuple:
        instrumentation = self.instrumentation
        if instrumentation is not None:
            return await instrumentation.invoke_function(function, values, self._run)
        return await self._run(function, values)

    async def _run(self, function: Function, values: list) -> tuple:
        if not self._initialized or self._initialize_error is not None:
            await self.initialize()
        results = await invoke_callable(function.callable, values, max_depth=self.max_depth,
                                        time_slice=self.time_slice)
        return unmarshal_results(function, results)


class _Invocation:
    """The context's part of one invocation on :meth:`Context.invoke`'s
    usual path, run by the driver in its own coroutine (an
    :class:`~asyncvm.vm._invocation.InvocationSession`), and around the
    general path's coroutine: ``begin`` checks
    the context is open, looks the function up, checks the arguments,
    counts the invocation in on this thread and makes its
    :class:`CancellationToken` current; ``finish`` normalizes and converts
    the results; ``interrupted`` cancels the token (the invocation was
    cancelled: what it left running stops too); ``end`` undoes ``begin``.
    Holds no argument once begun."""

    __slots__ = ("context", "function", "arguments", "convert", "token", "previous")

    def __init__(self, context: Context, function: Function | str, arguments: tuple,
                 convert: Callable[[tuple], tuple] | None) -> None:
        self.context = context
        self.function = function
        self.arguments = arguments
        self.convert = convert
        self.token: CancellationToken | None = None
        self.previous = None

    def begin(self) -> tuple[Callable[..., Any], Any]:
        context = self.context
        if context._closed:
            raise VMError(StatusCode.FAILED_PRECONDITION, "the context is closed")
        function = self.function
        if function.__class__ is not Function:
            function = self.function = context.lookup_function(function) \
                if isinstance(function, str) else function
        values = marshal_arguments(function, self.arguments)
        self.arguments = None
        context._enter_thread()
        token = self.token = CancellationToken()
        self.previous = set_current_cancellation(token)
        return function.callable, values

    def finish(self, results: tuple) -> tuple:
        results = unmarshal_results(self.function, results)
        return results if self.convert is None else self.convert(results)

    def interrupted(self) -> None:
        if self.token is not None:
            self.token.cancel(cancellation_error(self.function.full_name, False))

    def end(self) -> None:
        if self.token is not None:
            reset_current_cancellation(self.previous)
            context = self.context
            lock = context._thread_lock
            lock.acquire()
            try:
                context._running -= 1
            finally:
                lock.release()


def _exports_hint(module: Module, limit: int = 12) -> str:
    names = sorted(descriptor.name for descriptor in module.exports)
    if not names:
        return f" (module {module.name!r} exports nothing)"
    shown = ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
    return f" (module {module.name!r} exports {shown})"


def _conventions_compatible(imported: str, exported: str) -> bool:
    if imported == exported:
        return True
    try:
        return parse_calling_convention(imported) == parse_calling_convention(exported)
    except VMError:
        return False


def marshal_arguments(function: Function, arguments: tuple) -> list:
    """Checks caller arguments against ``function``'s convention and converts
    them. Refs and in-range Python ints and floats (the usual arguments) pass
    with one class test each; anything else goes through
    :func:`~asyncvm.vm._values.coerce_argument`, and errors name the argument."""
    slots = _argument_slots(function.calling_convention)
    if len(arguments) != len(slots):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{function.full_name} takes {len(slots)} argument(s) "
                      f"({function.calling_convention}), got {len(arguments)}")
    if slots.__class__ is _AllRefs:
        return arguments  # refs pass as they are (any object or None)
    values = list(arguments)
    for index, (slot, quick) in enumerate(slots):
        if slot is ValueKind.REF:
            continue  # any object or None
        value = values[index]
        if quick is None or value.__class__ is not quick:
            values[index] = _marshal_slot(function, index, slot, value)
        elif slot is ValueKind.I32:
            if not -0x80000000 <= value <= 0x7FFFFFFF:
                values[index] = _marshal_slot(function, index, slot, value)
        elif slot is ValueKind.I64:
            if not -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
                values[index] = _marshal_slot(function, index, slot, value)
        elif slot is ValueKind.F32:
            values[index] = round_f32(value)
    return values


_QUICK_CLASSES = {ValueKind.I32: int, ValueKind.I64: int, ValueKind.F32: float,
                  ValueKind.F64: float}


class _AllRefs(tuple):
    """The argument slots of a convention that takes refs only (tensor
    functions): nothing to convert."""

    __slots__ = ()


@lru_cache(maxsize=4096)
def _argument_slots(calling_convention: str) -> tuple:
    """Per argument slot: (slot, the Python class that needs no conversion
    beyond a range check, or None); an :class:`_AllRefs` when every slot is
    a ref."""
    slots = tuple((slot, None if isinstance(slot, Span) else _QUICK_CLASSES.get(slot, None))
                  for slot in parse_calling_convention(calling_convention).arguments)
    if all(slot is ValueKind.REF for slot, _ in slots):
        return _AllRefs(slots)
    return slots


@lru_cache(maxsize=4096)
def _float_results(calling_convention: str) -> tuple[int, bool]:
    """The number of results of a convention, and whether any is a float
    (converted to ``float`` on the way out)."""
    results = parse_calling_convention(calling_convention).results
    return len(results), any(slot is ValueKind.F32 or slot is ValueKind.F64 for slot in results)


def _marshal_slot(function: Function, index: int, slot: Any, value: Any) -> Any:
    what = f"{function.full_name} argument {index}"
    if isinstance(slot, Span):
        return _marshal_span(slot, value, what)
    return coerce_argument(slot, value, what)


def _marshal_span(slot: Span, value: Any, what: str) -> list:
    try:
        items = list(value)
    except TypeError:
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{what}: expected a sequence") from None
    if len(slot.kinds) == 1:
        return [coerce_argument(slot.kinds[0], item, what) for item in items]
    converted = []
    for item in items:
        fields = tuple(item)
        if len(fields) != len(slot.kinds):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{what}: span elements have {len(slot.kinds)} values")
        converted.append(tuple(coerce_argument(kind, field, what)
                               for kind, field in zip(slot.kinds, fields)))
    return converted


def unmarshal_results(function: Function, results: tuple) -> tuple:
    """Normalizes result values by kind (floats as float, integers as int)."""
    count, floats = _float_results(function.calling_convention)
    if len(results) != count:
        raise VMError(StatusCode.INTERNAL,
                      f"{function.full_name} returned {len(results)} value(s), "
                      f"its convention {function.calling_convention} says {count}")
    if not floats:
        return results if results.__class__ is tuple else tuple(results)
    slots = function.signature.results
    converted = []
    for slot, value in zip(slots, results):
        if slot is ValueKind.F32 or slot is ValueKind.F64:
            converted.append(float(value))
        else:
            converted.append(value)
    return tuple(converted)
