"""Invocations: one coroutine running a stack of VM frames.

A bytecode function runs as a Python generator (one per frame). A frame
hands the driver below a *request* by yielding it:

* a generator — a call into another bytecode frame: the driver pushes it and
  sends the callee's result tuple back into the caller when it returns;
* an awaitable — an async import (``hal.fence.await``, an async Python
  export): the driver awaits it and sends its result tuple back;
* ``None`` — ``vm.yield``: the driver passes control to the event loop once
  (the loop's own checkpoint: asyncio's ``sleep(0)``, trio's ``checkpoint``);
* :data:`QUANTUM_CHECK` — a frame ran its instruction budget (``quantum``)
  without another suspension: the driver reads the clock and passes control
  to the event loop only if the invocation has run for ``time_slice`` seconds
  since it last did. Frame pushes are counted the same way (every
  :data:`CALLS_PER_CHECK` calls), so work spread over many short calls is
  sliced too.

An invocation that finishes (or fails) without having suspended yields
once on its way out if no invocation has let the loop run for
``time_slice`` seconds, so a loop of calls that never suspend does not
starve the loop either.

The stack is a Python list of generators, so VM recursion never recurses in
Python, and its depth is bounded (RESOURCE_EXHAUSTED past ``max_depth``).
Those are the only places an invocation suspends; between them it runs
plain synchronous Python.

Any exception escaping a frame ends the invocation: every frame still on the
stack is closed (dropping the refs it held) and the error is re-raised as a
:class:`VMError` carrying the VM backtrace. Cancellation from the event loop
unwinds the same way and propagates unchanged.
"""

from __future__ import annotations

import asyncio
import time
import types
import weakref
from typing import Any, Callable, Protocol

import trio

from . import _tracing
from ._budget import Budget
from ._status import FrameLocation, StatusCode, VMError, export_failure

DEFAULT_MAX_DEPTH = 1024
"""Frames an invocation may stack before RESOURCE_EXHAUSTED."""

DEFAULT_QUANTUM = 2000
"""Instructions a bytecode frame runs between two clock checks (about 0.1 ms
of host code; a check costs a generator round trip and a clock read)."""

DEFAULT_TIME_SLICE = 0.002
"""Seconds an invocation may run before it yields to the event loop."""

CALLS_PER_CHECK = 16
"""Frame pushes between two clock checks."""


class _QuantumCheck:
    __slots__ = ()

    def __repr__(self) -> str:
        return "QUANTUM_CHECK"


QUANTUM_CHECK = _QuantumCheck()
"""What a frame yields when its instruction budget runs out."""

_last_suspension = 0.0
"""When an invocation last let the event loop run (``time.perf_counter``).
An invocation that finishes without suspending yields once if that was a
time slice ago, so a loop of calls that never suspend cannot starve the
loop. Shared by the threads' loops: it only decides when to yield."""

_GeneratorType = types.GeneratorType

_frame_describers: dict[int, tuple[weakref.ref, weakref.ref]] = {}
"""``id(code)`` -> (weak ref to the code object, weak ref to its describer).

Keyed by identity, not by the code object itself: code objects compare (and
hash) by value, so two modules compiled from the same source would share an
entry and one would take over the other's frame labels. Every ``compile``
makes new code objects, so identity is per module. Both sides are held
weakly: the registry keeps no module alive, and an entry goes away with its
code object."""


def register_frame_describer(code: types.CodeType,
                             describer: Callable[[int], FrameLocation]) -> None:
    """Registers how to name a frame running ``code`` given its line number.

    Module kinds that run code in generators (bytecode) register each
    function's code object so failures and backtraces can say
    ``module.function@pc`` and the source location.

    ``code`` is matched by identity (the very object a frame runs), so each
    module must compile its own code objects. The registry holds ``code`` and
    ``describer`` weakly: the caller keeps the describer alive for as long as
    the code runs (a bytecode module keeps it as an attribute), and the entry
    is dropped when the code object is freed.
    """
    key = id(code)

    def forget(dead: weakref.ref, key: int = key) -> None:
        entry = _frame_describers.get(key)
        if entry is not None and entry[0] is dead:
            _frame_describers.pop(key, None)

    held = (weakref.WeakMethod(describer) if isinstance(describer, types.MethodType)
            else weakref.ref(describer))
    _frame_describers[key] = (weakref.ref(code, forget), held)


def describe_code_frame(code: types.CodeType, line: int) -> FrameLocation | None:
    """The location of a frame running ``code`` at ``line``, if its module
    registered a describer (None otherwise)."""
    entry = _frame_describers.get(id(code))
    if entry is None or entry[0]() is not code:
        return None
    describer = entry[1]()
    return describer(line) if describer is not None else None


def _describe_suspended(frame_object: Any) -> FrameLocation | None:
    if isinstance(frame_object, _GeneratorType):
        frame = frame_object.gi_frame
        if frame is None:
            return None
        return describe_code_frame(frame.f_code, frame.f_lineno)
    return None


def _failure_backtrace(error: BaseException, stack: list) -> list[FrameLocation]:
    """Innermost-first frames: those the exception passed through (frames run
    as plain calls, and the frame that was running), then the suspended callers."""
    running: list[FrameLocation] = []
    traceback = error.__traceback__
    while traceback is not None:
        location = describe_code_frame(traceback.tb_frame.f_code, traceback.tb_lineno)
        if location is not None:
            running.append(location)
        traceback = traceback.tb_next
    frames = running[::-1]
    for frame_object in reversed(stack):
        location = _describe_suspended(frame_object)
        if location is not None:
            frames.append(location)
    return frames


def as_vm_error(error: BaseException, stack: list) -> VMError:
    """Converts any failure of an invocation into a VMError with a backtrace."""
    backtrace = _failure_backtrace(error, stack)
    if isinstance(error, VMError):
        return error.with_backtrace(backtrace)
    if isinstance(error, TypeError) and _raised_by_bytecode(error):
        # Translated bytecode keeps i32 and f32 values apart (IREE shares one
        # register bank and reinterprets the bits). Compiled code never mixes
        # them; damaged bytecode that reads a float where it wrote an int
        # (or the reverse) is bad input, not an internal error.
        return VMError(StatusCode.INVALID_ARGUMENT,
                       f"an instruction read a register holding a value of another type "
                       f"(damaged bytecode: {error})", backtrace=backtrace)
    # Exports convert their own exceptions, naming themselves; what reaches
    # here came from a frame or the driver.
    return export_failure(None, error).with_backtrace(backtrace)


def _raised_by_bytecode(error: BaseException) -> bool:
    """Whether ``error`` was raised by translated bytecode itself (its
    innermost frame is in a module's translated source)."""
    traceback = error.__traceback__
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback.tb_frame.f_code.co_filename.startswith("<asyncvm ")


class InvocationSession(Protocol):
    """What a caller of :func:`invoke_callable` may run in the driver's own
    coroutine around the call (a context's bookkeeping), so that a
    suspended invocation keeps one coroutine frame rather than two.

    ``begin()`` runs first and returns the function and its arguments (it may
    raise: the invocation then fails with that error); ``finish(results)``
    maps the result tuple to what the driver returns; ``interrupted()`` runs
    when the invocation is cancelled (a BaseException that is not an
    Exception); ``end()`` runs last, always (also when ``begin`` raised)."""

    def begin(self) -> tuple[Callable[..., Any], Any]: ...

    def finish(self, results: tuple) -> Any: ...

    def interrupted(self) -> None: ...

    def end(self) -> None: ...


async def invoke_callable(function: Callable[..., Any] | None, arguments: Any = (), *,
                          max_depth: int = DEFAULT_MAX_DEPTH,
                          time_slice: float = DEFAULT_TIME_SLICE,
                          session: InvocationSession | None = None) -> Any:
    """Calls a function of the VM function protocol and runs it to completion.

    Returns the result tuple. Suspends at the requests described in the
    module docstring: always at ``vm.yield`` and awaited imports, and at a
    quantum check or a call once ``time_slice`` seconds have passed since the
    last suspension. Raises VMError (with the backtrace of where it failed)
    on failure; cancellation propagates after every frame is closed.

    With a ``session`` (see :class:`InvocationSession`), the function and
    its arguments come from ``session.begin()`` and the result from
    ``session.finish``.

    The driver is this one coroutine (no nested coroutine per frame or per
    call layer), which keeps a suspended invocation small.
    """
    global _last_suspension
    stack: list = []
    try:
        if session is not None:
            function, arguments = session.begin()
        root = function(*arguments)
        arguments = None  # the frame holds what it needs
        clock = time.perf_counter
        if root.__class__ is tuple:
            if clock() - _last_suspension >= time_slice:
                # Finished without suspending, but this thread's invocations
                # have not let the loop run for a slice: a loop of such calls
                # must not starve the other tasks.
                await _checkpoint(stack, "quantum")
            return root if session is None else session.finish(root)
        if root.__class__ is not _GeneratorType:
            value = await root
            _last_suspension = clock()
            return value if session is None else session.finish(value)
        stack.append(root)
        slice_end = clock() + time_slice
        calls = CALLS_PER_CHECK
        value: Any = None
        while True:
            try:
                request = stack[-1].send(value)
            except StopIteration as stop:
                stack.pop()
                value = stop.value
                if not stack:
                    if clock() - _last_suspension >= time_slice:
                        await _checkpoint(stack, "quantum")
                    return value if session is None else session.finish(value)
                continue
            value = None
            if request is QUANTUM_CHECK:
                if clock() >= slice_end:
                    await _checkpoint(stack, "quantum")
                    slice_end = clock() + time_slice
            elif request.__class__ is _GeneratorType:
                if len(stack) >= max_depth:
                    raise VMError(StatusCode.RESOURCE_EXHAUSTED,
                                  f"call stack exhausted ({max_depth} frames)")
                stack.append(request)
                calls -= 1
                if calls < 0:
                    calls = CALLS_PER_CHECK
                    if clock() >= slice_end:
                        await _checkpoint(stack, "quantum")
                        slice_end = clock() + time_slice
            elif request is None:
                await _checkpoint(stack, "yield")
                slice_end = clock() + time_slice
            else:
                tracer = _tracing._active
                if tracer is None:
                    value = await request
                else:
                    value = await _traced_wait(tracer, request, "await import", stack)
                _last_suspension = clock()
                slice_end = _last_suspension + time_slice
    except Exception as error:
        if time.perf_counter() - _last_suspension >= time_slice:
            # As on the way out of a call that returns: a loop of calls that
            # fail without suspending must not starve the loop either (the
            # timers that would end what makes them fail could never run).
            try:
                await _checkpoint(stack, "quantum")
            except BaseException:
                _close_all(stack)
                if session is not None:
                    session.interrupted()
                raise
        _fail_invocation(error, stack)
    except BaseException:
        _close_all(stack)
        if session is not None:
            session.interrupted()
        raise
    finally:
        if session is not None:
            session.end()


async def run_frames(root: Any, *, max_depth: int = DEFAULT_MAX_DEPTH,
                     time_slice: float = DEFAULT_TIME_SLICE) -> tuple:
    """Runs a request already made (a result tuple, a generator frame or an
    awaitable) to completion, as :func:`invoke_callable` does."""
    return await invoke_callable(_identity, (root,), max_depth=max_depth,
                                 time_slice=time_slice)


def _identity(value: Any) -> Any:
    return value


async def _checkpoint(stack: list, reason: str) -> None:
    """Passes control to the event loop once (a cancellation point)."""
    global _last_suspension
    tracer = _tracing._active
    if tracer is None:
        await _loop_checkpoint()
    else:
        await _traced_wait(tracer, _loop_checkpoint(), reason, stack)
    _last_suspension = time.perf_counter()


def _loop_checkpoint():
    """The running loop's own checkpoint (what ``anyio.lowlevel.checkpoint``
    awaits, without the backend detection it runs each time): asyncio's
    ``sleep(0)`` when an asyncio loop runs on this thread, else trio's."""
    if asyncio._get_running_loop() is not None:
        return asyncio.sleep(0)
    return trio.lowlevel.checkpoint()


def run_frames_sync(function: Callable[..., Any], arguments: Any = (), *,
                    max_depth: int = DEFAULT_MAX_DEPTH, budget: Budget | None = None) -> tuple:
    """Runs a function of the VM function protocol without an event loop.

    For code that must not suspend, such as kernels run by the HAL on a
    queue or worker thread: quantum checkpoints and ``vm.yield`` simply
    continue, and a call that needs to await is FAILED_PRECONDITION. With a
    ``budget``, each quantum check raises its token's error once cancelled
    (the budget's ``end`` is ignored: this never pauses).
    """
    frames = run_frames_sliced(function, arguments, budget or _NEVER_PAUSES,
                               max_depth=max_depth)
    try:
        while True:
            next(frames)  # a pause: go straight on
    except StopIteration as stop:
        return stop.value


_NEVER_PAUSES = Budget()


def run_frames_sliced(function: Callable[..., Any], arguments: Any, budget: Budget, *,
                      max_depth: int = DEFAULT_MAX_DEPTH):
    """:func:`run_frames_sync` as a generator that pauses: at a quantum check
    past ``budget.end`` it yields (None) and continues when resumed, so its
    driver can let the event loop run in between. Raises the budget token's
    error at a quantum check once cancelled. Returns (``StopIteration.value``)
    the result tuple. Closing it closes every frame.
    """
    token = budget.token
    clock = time.perf_counter
    stack: list = []
    try:
        result = function(*arguments)
        if result.__class__ is tuple:
            return result
        if not isinstance(result, _GeneratorType):
            if hasattr(result, "close"):
                result.close()
            raise VMError(StatusCode.FAILED_PRECONDITION,
                          "a function that must run synchronously tried to suspend")
        stack.append(result)
        value: Any = None
        while True:
            try:
                request = stack[-1].send(value)
            except StopIteration as stop:
                stack.pop()
                value = stop.value
                if not stack:
                    return value
                continue
            value = None
            if request is QUANTUM_CHECK:
                if token is not None and token.error is not None:
                    token.check()
                if clock() >= budget.end:
                    yield
                    if token is not None and token.error is not None:
                        token.check()
                continue
            if request is None:
                continue
            if request.__class__ is _GeneratorType:
                if len(stack) >= max_depth:
                    raise VMError(StatusCode.RESOURCE_EXHAUSTED,
                                  f"call stack exhausted ({max_depth} frames)")
                stack.append(request)
                continue
            if hasattr(request, "close"):
                request.close()
            raise VMError(StatusCode.FAILED_PRECONDITION,
                          "a function that must run synchronously tried to await an import")
    except Exception as error:
        _fail_invocation(error, stack)
    finally:
        _close_all(stack)


def _fail_invocation(error: Exception, stack: list) -> None:
    """Closes every frame and raises ``error`` as a VMError with a backtrace.

    The raised error's traceback holds this frame: its locals are dropped on
    the way out, so that no reference cycle (frame, error, traceback, frame)
    keeps the frames below -- and the buffers they held -- alive until the
    garbage collector finds it."""
    converted = as_vm_error(error, stack)
    _close_all(stack)
    try:
        if converted is error:
            raise error
        raise converted from error
    finally:
        del converted, error


async def _traced_wait(tracer, awaitable, reason: str, stack: list):
    """Awaits ``awaitable`` inside a "suspended" span of the trace."""
    location = _describe_suspended(stack[-1]) if stack else None
    identifier = tracer.new_id()
    tracer.begin_async("suspended", "suspension", identifier, reason=reason,
                       at=str(location) if location else "?")
    try:
        return await awaitable
    finally:
        tracer.end_async("suspended", "suspension", identifier)


def _close_all(stack: list) -> None:
    while stack:
        frame_object = stack.pop()
        try:
            frame_object.close()
        except Exception:  # a frame that fails while closing has nothing left to report
            pass
