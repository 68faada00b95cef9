"""Instruments: a callback run before and after every call of a program.

As TVM's Relax VM ``set_instrument``: ``install_instrument(program,
callback)`` (``program.set_instrument(callback)``) makes ``callback(event)``
run around

* every **function** invocation (``Context.invoke``: what ``program.invoke``
  calls), named ``module.function``;
* every **import** a bytecode module of the program calls (``hal.*``,
  another module's exports...), named by the import (``hal.fence.await``);
* every **dispatch** a command buffer of the program's devices executes,
  named by the executable export (``main_dispatch_0_elementwise_4_f32``),
  with its workgroup count, push constants and bound buffer ranges.

Each call produces two :class:`InstrumentEvent` objects: one with ``before``
True and the arguments, one with ``before`` False and the results (or the
error) and the seconds the call took. Before the call, the callback decides
(:class:`InstrumentDecision`): ``None``/``CONTINUE`` runs it;
``InstrumentDecision.skip(results)`` does not run it and uses ``results``
instead (a dispatch has none: the callback may write its output bindings
itself, see :class:`DispatchBinding`); ``InstrumentDecision.stop(reason)``
fails the invocation with VMError ABORTED (or the status given) naming the
instrument. After the call, ``stop`` still fails the invocation; ``skip``
there is INVALID_ARGUMENT. A callback that raises fails the invocation with
VMError INTERNAL naming the callback (a VMError it raises keeps its status).
These errors are :class:`InstrumentError` (a VMError); when one ends the
modules' initializers (they run inside the first call), the next call runs
them again instead of failing for good. Nothing here suspends; callbacks
are synchronous.

For example, to keep every intermediate tensor of a call and replace what
one dispatch computes::

    tensors = []

    def instrument(event):
        if event.kind == "dispatch" and event.after:
            tensors.append([binding.array(numpy.float32).copy()
                            for binding in event.bindings])
        elif event.kind == "dispatch" and "_dispatch_1_" in event.name:
            event.bindings[-1].write(numpy.zeros(64, numpy.float32))
            return InstrumentDecision.skip()

    program.set_instrument(instrument)   # install_instrument(program, instrument)

Threads: function and import events come from the event-loop thread that
runs the invocation; dispatch events come from whichever thread executes the
command buffer: the submitting thread on ``local-sync``, a queue worker on
``local-task``, so a callback that records dispatches must be thread-safe.

Cost: with no instrument installed nothing here is on the hot path. The
context takes its usual fast path (one flag), bytecode modules call their
imports directly, and a command buffer's execution reads the device's
``dispatch_hook`` once (None). Installing one makes the context take its
slow path, wraps each import a bytecode module calls (the bound functions
read imports through the closure cells ``_imp<ordinal>`` that
``modules.bytecode``'s generated ``_bind`` creates; the wrappers go into
those cells, so functions already looked up are instrumented too, and are
taken out again on removal) and sets the hook on every device of the
program's HAL module. An import that does not finish synchronously is then
one more frame on the invocation's stack (counted against ``max_depth``).
A device shared by several programs reports its dispatches to the
instrument installed last. Imports called by native (Python, tvm-ffi)
modules, and the kernels' own imports inside VMVX executables, are not
reported.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, ClassVar, Iterable

import numpy

from .vm import StatusCode, VMError, parse_calling_convention
from .vm._status import export_failure


class InstrumentKind(str, enum.Enum):
    """What an :class:`InstrumentEvent` reports (compares equal to its value)."""

    FUNCTION = "function"
    IMPORT = "import"
    DISPATCH = "dispatch"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class DispatchBinding:
    """One buffer range bound to a dispatch: ``buffer`` (a HAL buffer),
    ``offset`` and ``length`` in bytes. The views it gives share the
    buffer's memory: valid while the callback runs (the program may reuse
    the memory afterwards; copy what you keep)."""

    index: int
    buffer: Any
    offset: int
    length: int

    def bytes(self) -> numpy.ndarray:
        """The range as a ``uint8`` array (a view, writable before a dispatch)."""
        return self.buffer.bytes_view(self.offset, self.length)

    def array(self, dtype: Any, shape: Iterable[int] | None = None) -> numpy.ndarray:
        """The range viewed as ``dtype`` (flat, or ``shape``). INVALID_ARGUMENT
        if the range does not hold a whole number of elements (or ``shape``)."""
        dtype = numpy.dtype(dtype)
        if self.length % dtype.itemsize:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"binding {self.index} holds {self.length} bytes, not a whole "
                          f"number of {dtype} elements")
        flat = self.bytes().view(dtype)
        if shape is None:
            return flat
        shape = tuple(shape)
        if int(numpy.prod(shape, dtype=numpy.int64)) != flat.size:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"binding {self.index} holds {flat.size} {dtype} elements, "
                          f"not shape {shape}")
        return flat.reshape(shape)

    def write(self, values: Any) -> None:
        """Copies the bytes of ``values`` (an array or bytes) over the whole
        range. INVALID_ARGUMENT if their size differs from the range's."""
        data = numpy.ascontiguousarray(values).reshape(-1).view(numpy.uint8) \
            if not isinstance(values, (bytes, bytearray, memoryview)) \
            else numpy.frombuffer(values, numpy.uint8)
        if data.size != self.length:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"binding {self.index} holds {self.length} bytes, "
                          f"{data.size} given")
        self.bytes()[:] = data

    def __repr__(self) -> str:
        return f"<binding {self.index}: {self.length} bytes at {self.offset}>"


@dataclass(frozen=True, slots=True, eq=False)
class InstrumentEvent:
    """One side of one call, as an instrument sees it.

    ``kind`` and ``name`` say what is called; ``before`` which side this is.
    ``arguments`` are the VM values passed (buffer views for tensors; for a
    dispatch, its bindings). After the call: ``results`` (a tuple, or None
    if it failed), ``error`` (the exception it raised, or None), ``elapsed``
    (seconds, callbacks excluded) and ``skipped`` (an instrument skipped
    it). Dispatches also carry ``workgroup_count``, ``constants``,
    ``bindings`` and ``executable_format``.
    """

    kind: InstrumentKind
    name: str
    before: bool
    arguments: tuple = ()
    results: tuple | None = None
    error: BaseException | None = None
    elapsed: float | None = None
    skipped: bool = False
    workgroup_count: tuple[int, int, int] | None = None
    constants: tuple[int, ...] = ()
    bindings: tuple[DispatchBinding, ...] = ()
    executable_format: str | None = None

    @property
    def after(self) -> bool:
        return not self.before

    @property
    def bytes_bound(self) -> int:
        """Bytes of every binding of a dispatch (0 for other kinds)."""
        return sum(binding.length for binding in self.bindings)

    def __repr__(self) -> str:
        side = "before" if self.before else "after"
        extra = f" workgroups={self.workgroup_count}" if self.workgroup_count else ""
        return f"<InstrumentEvent {self.kind.value} {self.name} {side}{extra}>"


class InstrumentDecision:
    """What a callback returns before a call: :attr:`CONTINUE` (or None),
    :meth:`skip` or :meth:`stop`."""

    __slots__ = ("action", "results", "reason", "status")
    CONTINUE: ClassVar["InstrumentDecision"]

    def __init__(self, action: str, results: tuple = (), reason: str = "",
                 status: StatusCode = StatusCode.ABORTED) -> None:
        if action not in ("continue", "skip", "stop"):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"instrument decisions are continue, skip or stop, not {action!r}")
        self.action = action
        self.results = results
        self.reason = reason
        self.status = status

    @classmethod
    def skip(cls, results: Iterable[Any] = ()) -> "InstrumentDecision":
        """Do not run the call; ``results`` stand for its results (as many
        as its calling convention says; none for a dispatch)."""
        return cls("skip", tuple(results))

    @classmethod
    def stop(cls, reason: str = "", status: StatusCode | int = StatusCode.ABORTED
             ) -> "InstrumentDecision":
        """Fail the invocation: VMError ``status`` (ABORTED unless given; OK
        is not a failure and becomes ABORTED) naming the instrument and
        ``reason``."""
        status = StatusCode.from_value(int(status))
        return cls("stop", (), str(reason), status if status != StatusCode.OK
                   else StatusCode.ABORTED)

    def __repr__(self) -> str:
        if self.action == "skip":
            return f"InstrumentDecision.skip({self.results!r})"
        if self.action == "stop":
            return f"InstrumentDecision.stop({self.reason!r}, {self.status.name})"
        return "InstrumentDecision.CONTINUE"


InstrumentDecision.CONTINUE = InstrumentDecision("continue")

Callback = Callable[[InstrumentEvent], Any]


class InstrumentError(VMError):
    """A VMError an instrument caused (a stop, a callback that failed or
    answered nonsense). Module initializers that fail with one are run
    again by the next call (``retry_initialization``), as after a
    cancellation: the program itself did not fail."""

    retry_initialization = True


def _instrument_error(status: StatusCode | int, message: str,
                      cause: BaseException | None = None) -> InstrumentError:
    error = InstrumentError(status, message)
    error.__cause__ = cause
    return error


def callback_name(callback: Callable) -> str:
    """How messages name a callback: its module-qualified name."""
    name = getattr(callback, "__qualname__", None) or type(callback).__qualname__
    module = getattr(callback, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else name


# -- the instrumentation of one context ---------------------------------------------------------


class Instrumentation:
    """The callbacks installed on one context and the hooks that call them.

    ``install_instrument`` keeps the user's instrument under the key
    ``"instrument"``; profiles (:mod:`asyncvm._profile`) add their own
    observers under other keys. Callbacks run in installation order; the
    first one that decides anything but CONTINUE before a call decides for
    it (the later ones still see the event). Hooks are installed with the
    first callback and removed with the last.
    """

    def __init__(self, context: Any) -> None:
        self.context = context
        self._callbacks: dict[str, Callback] = {}
        self._ordered: tuple[tuple[str, Callback], ...] = ()
        self._lock = threading.Lock()
        self._import_cells: list[tuple[Any, Any]] = []  # (cell, original callable)
        self._devices: list[Any] = []

    @property
    def callbacks(self) -> dict[str, Callback]:
        return dict(self._callbacks)

    def set_callback(self, key: str, callback: Callback | None) -> None:
        """Adds, replaces or (None) removes the callback under ``key``."""
        with self._lock:
            if callback is None:
                self._callbacks.pop(key, None)
            else:
                self._callbacks[key] = callback
            self._ordered = tuple(self._callbacks.items())

    def __bool__(self) -> bool:
        return bool(self._ordered)

    # -- calling the callbacks ----------------------------------------------------------

    def before(self, event: InstrumentEvent, result_count: int) -> InstrumentDecision:
        """Runs every callback on ``event``; the decision (CONTINUE, or skip
        with ``result_count`` results). A stop, a skip with another number
        of results and a failing callback raise their InstrumentError here."""
        decision = InstrumentDecision.CONTINUE
        decider = None
        for _, callback in self._ordered:
            answer = _call(callback, event)
            if answer is None or answer is InstrumentDecision.CONTINUE:
                continue
            if not isinstance(answer, InstrumentDecision):
                raise _instrument_error(
                    StatusCode.INVALID_ARGUMENT,
                    f"instrument {callback_name(callback)} returned {type(answer).__name__} "
                    f"before {event.kind.value} {event.name}; expected None or an "
                    "InstrumentDecision")
            if decider is None and answer.action != "continue":
                decision, decider = answer, callback
        if decision.action == "stop":
            raise _stopped(decider, decision, event)
        if decision.action == "skip" and len(decision.results) != result_count:
            raise _instrument_error(
                StatusCode.INVALID_ARGUMENT,
                f"instrument {callback_name(decider)} skipped {event.kind.value} {event.name} "
                f"with {len(decision.results)} result(s); it has {result_count}")
        return decision

    def after(self, event: InstrumentEvent) -> None:
        """Runs every callback on the after-event; a stop (or an answer that
        means nothing after a call) raises its InstrumentError."""
        for _, callback in self._ordered:
            answer = _call(callback, event)
            if answer is None or answer is InstrumentDecision.CONTINUE:
                continue
            if isinstance(answer, InstrumentDecision) and answer.action == "stop":
                raise _stopped(callback, answer, event)
            raise _instrument_error(
                StatusCode.INVALID_ARGUMENT,
                f"instrument {callback_name(callback)} returned {answer!r} after "
                f"{event.kind.value} {event.name}; after a call only None, CONTINUE or stop "
                "mean anything")

    # -- functions --------------------------------------------------------------------

    async def invoke_function(self, function: Any, values: list, run: Callable) -> tuple:
        """``await run(function, values)`` (initializers, the call, results
        unmarshalled) between a before- and an after-event. Suspends."""
        event = InstrumentEvent(InstrumentKind.FUNCTION, function.full_name, True, tuple(values))
        decision = self.before(event, len(function.signature.results))
        if decision.action == "skip":
            self.after(replace(event, before=False, results=decision.results, elapsed=0.0,
                               skipped=True))
            return decision.results
        clock = time.perf_counter
        began = clock()
        try:
            results = await run(function, values)
        except Exception as error:
            self._after_failure(event, error, clock() - began)
            raise
        elapsed = clock() - began
        self.after(replace(event, before=False, results=results, elapsed=elapsed))
        return results

    def _after_failure(self, event: InstrumentEvent, error: Exception, elapsed: float) -> None:
        """Tells the callbacks a call failed; a callback failing too is
        chained onto the original error, which is what propagates."""
        try:
            self.after(replace(event, before=False, error=error, elapsed=elapsed))
        except VMError as secondary:
            error.__context__ = secondary

    # -- imports ------------------------------------------------------------------------

    def wrap_import(self, name: str, calling_convention: str, original: Callable) -> Callable:
        """An import callable (VM function protocol) that reports its calls."""
        try:
            result_count = len(parse_calling_convention(calling_convention).results)
        except VMError:  # the context checked it when it resolved the import
            result_count = -1
        before, after, failure = self.before, self.after, self._after_failure
        clock = time.perf_counter

        def instrumented_import(*arguments):
            event = InstrumentEvent(InstrumentKind.IMPORT, name, True, arguments)
            decision = before(event, result_count)
            if decision.action == "skip":
                after(replace(event, before=False, results=decision.results, elapsed=0.0,
                              skipped=True))
                return decision.results
            began = clock()
            try:
                result = original(*arguments)
            except Exception as error:
                failure(event, error, clock() - began)
                raise
            if result.__class__ is tuple:
                after(replace(event, before=False, results=result, elapsed=clock() - began))
                return result
            return _finish_import(event, result, began)

        def _finish_import(event, request, began):
            # A frame for the driver: runs the callee's frame or awaits its
            # awaitable, then reports the results.
            try:
                results = yield request
            except Exception as error:
                failure(event, error, clock() - began)
                raise
            after(replace(event, before=False, results=results, elapsed=clock() - began))
            return results

        instrumented_import.__qualname__ = f"instrumented_import[{name}]"
        instrumented_import.__wrapped__ = original
        return instrumented_import

    # -- dispatches --------------------------------------------------------------------

    def dispatch(self, executable: Any, ordinal: int, state: Any):
        """The devices' ``dispatch_hook``: runs ``executable.dispatch(ordinal,
        state)`` between a before- and an after-event, on the thread that
        executes the command buffer. Raises VMError. Returns None, or the
        rest of a paused dispatch (see ``hal.DispatchState``), which emits
        the after-event when it ends."""
        bindings = tuple(DispatchBinding(index, buffer, offset, length)
                         for index, (buffer, offset, length) in enumerate(state.bindings))
        event = InstrumentEvent(InstrumentKind.DISPATCH, executable.function_names[ordinal],
                                True, bindings, workgroup_count=tuple(state.workgroup_count),
                                constants=tuple(state.constants), bindings=bindings,
                                executable_format=getattr(executable, "format", None))
        decision = self.before(event, 0)
        if decision.action == "skip":
            self.after(replace(event, before=False, results=(), elapsed=0.0, skipped=True))
            return
        clock = time.perf_counter
        began = clock()
        try:
            rest = executable.dispatch(ordinal, state)
        except Exception as error:
            self._after_failure(event, error, clock() - began)
            raise
        if rest is not None:  # paused (see hal.DispatchState): after-event at its end
            return self._dispatch_rest(rest, event, began)
        self.after(replace(event, before=False, results=(), elapsed=clock() - began))
        return None

    def _dispatch_rest(self, rest: Any, event: InstrumentEvent, began: float):
        """The rest of a paused dispatch, then its after-event."""
        clock = time.perf_counter
        try:
            yield from rest
        except Exception as error:
            self._after_failure(event, error, clock() - began)
            raise
        self.after(replace(event, before=False, results=(), elapsed=clock() - began))

    # -- hooks ------------------------------------------------------------------------

    def attach(self) -> None:
        """Wraps the imports of the context's bytecode modules and sets the
        dispatch hook of its devices (once)."""
        if self._import_cells or self._devices:
            return
        context = self.context
        for module, state in zip(context._modules, context._states):
            descriptors = list(getattr(module, "imports", ()))
            for ordinal, cell in _import_cells(state).items():
                if ordinal >= len(descriptors):
                    continue
                descriptor = descriptors[ordinal]
                original = cell.cell_contents
                cell.cell_contents = self.wrap_import(descriptor.full_name,
                                                      descriptor.calling_convention, original)
                self._import_cells.append((cell, original))
        for device in _devices_of(context):
            device.dispatch_hook = self.dispatch
            self._devices.append(device)

    def detach(self) -> None:
        """Puts the original imports back and clears the dispatch hooks."""
        for cell, original in self._import_cells:
            cell.cell_contents = original
        self._import_cells = []
        for device in self._devices:
            if getattr(device, "dispatch_hook", None) == self.dispatch:
                device.dispatch_hook = None
        self._devices = []


def _call(callback: Callback, event: InstrumentEvent) -> Any:
    try:
        return callback(event)
    except Exception as error:
        where = f"{'before' if event.before else 'after'} {event.kind.value} {event.name}"
        if isinstance(error, VMError):  # its own status, its message naming the instrument
            status, message = error.status, \
                f"instrument {callback_name(callback)} failed {where}: {error.message}"
        else:  # INTERNAL (RESOURCE_EXHAUSTED for recursion and memory) naming it
            converted = export_failure(f"instrument {callback_name(callback)} ({where})", error)
            status, message = converted.status, converted.message
        raise _instrument_error(status, message, error) from error


def _stopped(callback: Callback, decision: InstrumentDecision,
             event: InstrumentEvent) -> InstrumentError:
    side = "before" if event.before else "after"
    reason = f": {decision.reason}" if decision.reason else ""
    return _instrument_error(decision.status,
                             f"instrument {callback_name(callback)} stopped the invocation "
                             f"{side} {event.kind.value} {event.name}{reason}")


def _import_cells(state: Any) -> dict[int, Any]:
    """The closure cells through which a bytecode module state's bound
    functions call its imports, by import ordinal (none for other states)."""
    functions = getattr(state, "functions", None)
    if not isinstance(functions, list):
        return {}
    cells: dict[int, Any] = {}
    for function in functions:
        code = getattr(function, "__code__", None)
        closure = getattr(function, "__closure__", None)
        if code is None or not closure:
            continue
        for name, cell in zip(code.co_freevars, closure):
            if name.startswith("_imp") and name[4:].isdigit():
                cells.setdefault(int(name[4:]), cell)
    return cells


def _devices_of(context: Any) -> list:
    """Every device of the context's HAL modules (without importing the HAL)."""
    devices = []
    for module in context._modules:
        for device in getattr(module, "devices", None) or ():
            if hasattr(device, "queue_execute") and device not in devices:
                devices.append(device)
    return devices


# -- installing -------------------------------------------------------------------------------


def instrumentation_of(program: Any, create: bool = True) -> Instrumentation | None:
    """The :class:`Instrumentation` of a Program's (or a Context's) context,
    made on first use when ``create``."""
    context = _context_of(program)
    instrumentation = context.instrumentation
    if instrumentation is None and create:
        instrumentation = Instrumentation(context)
    return instrumentation


def set_callback(program: Any, key: str, callback: Callback | None) -> None:
    """Installs ``callback`` under ``key`` on the program's context (None
    removes it); attaches the hooks with the first callback and detaches
    them with the last. INVALID_ARGUMENT if ``callback`` is not callable."""
    if callback is not None and not callable(callback):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"an instrument is a callable taking an InstrumentEvent (or None), "
                      f"not {type(callback).__name__}")
    context = _context_of(program)
    instrumentation = instrumentation_of(context, create=callback is not None)
    if instrumentation is None:
        return
    instrumentation.set_callback(key, callback)
    if instrumentation:
        instrumentation.attach()
        context.set_instrumentation(instrumentation)
    else:
        instrumentation.detach()
        context.set_instrumentation(None)


def install_instrument(program: Any, callback: Callback | None) -> None:
    """``program.set_instrument(callback)``: makes ``callback(event)`` run
    before and after every function, import and dispatch of ``program`` (a
    :class:`~asyncvm.Program` or a :class:`~asyncvm.vm.Context`); None
    removes it. One instrument per program: a second replaces the first.
    See the module docstring for events, decisions and errors. Raises
    VMError INVALID_ARGUMENT for a callback that is not callable. Does not
    suspend; takes effect for calls and dispatches that start afterwards."""
    set_callback(program, "instrument", callback)


def _context_of(program: Any) -> Any:
    context = getattr(program, "context", program)
    if not hasattr(context, "set_instrumentation"):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"instruments are installed on a Program or a Context, not "
                      f"{type(program).__name__}")
    return context


__all__ = ["DispatchBinding", "InstrumentDecision", "InstrumentError", "InstrumentEvent",
           "InstrumentKind",
           "Instrumentation", "install_instrument", "instrumentation_of", "set_callback"]
