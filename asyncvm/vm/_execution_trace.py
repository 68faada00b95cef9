"""Execution traces and counts: every VM instruction a context runs, as it runs.

The counterpart of IREE's ``--trace_execution``, plus counters for
``--print_statistics``::

    with asyncvm.vm.trace_execution(program):        # lines to stderr
        await program.invoke("main", 5)

    with asyncvm.vm.count_execution(program) as counts:
        await program.invoke("main", 5)
    counts.instructions, counts.import_calls          # 1234, {"hal.fence.await": 2}

A trace line is the invocation's number, the instruction's
``module.function@pc`` (pc relative to the function, as in backtraces), its
disassembly (the text ``asyncvm dump`` prints for it) and, after ``;``, the
values its operand registers hold before it runs::

    [1] trace_program.straight@8  %i1 = vm.add.i32 %i0 %i1  ; %i0=5 %i1=7
    [1] trace_program.square_twice@1  %i0 = vm.call @__function_2 (%i0)  ; %i0=3
    [1] trace_program.__function_2@1  %i1 = vm.const.i32 1
    [2] module.add@437  %r0 = vm.call.variadic @hal.buffer_view.create [...] (%r1, ...)  ; %r1=!hal.buffer<16 bytes> ...

Refs show as a short description (``null``, ``!hal.buffer_view<4xf32>``,
``!vm.list<i32>[3]``); see :func:`describe_value`.

Which invocations: observation is per context (a :class:`Context`, or a
program: anything with a ``context`` attribute), so the contexts the HAL
creates for its own kernels are never traced. While an
:func:`observe_execution` block (and the :func:`trace_execution` /
:func:`count_execution` blocks built on it) is open, every bytecode function
*entered* in that context reports each instruction before running it: each
invocation started in the block, all of it (calls into other modules of the
context included); one already in flight when the block begins, from its
next call on. Once the block ends nothing more is reported, not even by
frames still running; results never depend on observation. The modules
registered when the block begins are the ones observed.

Threads and loops: the observers follow the context onto whichever thread
runs it; every event is handled synchronously on that thread, before the
instruction, so observing never suspends an invocation (a trace blocks on
its file's writes). Each line is written whole, under a lock.
Concurrent invocations (tasks on one loop) interleave their lines; the
number in brackets tells them apart: invocations are numbered in the order
of their first traced instruction, and a call into another bytecode
function keeps its caller's number.

What it costs: while a trace (or any observer but counters) observes a
context, its bytecode runs an *observed* translation — no peepholes and a
hook call before every instruction, many times slower; while only
:class:`ExecutionCounts` observe it, a *counted* translation that adds one
to a per-instruction count (about twice the normal time). While nothing
observes a context it runs the normal translation, untouched: observation
costs nothing when it is off.

Module kinds take part through two methods of their states,
``add_execution_observer(observer)`` and
``remove_execution_observer(observer)`` (bytecode states have them); the
observer's :meth:`ExecutionObserver.observe_instruction` then receives an
:class:`InstructionSite` and the operand values of each instruction.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from dataclasses import dataclass
from typing import Any, Iterator, TextIO

from ._buffer import VMBuffer
from ._context import Context
from ._invocation import invoke_callable, run_frames_sliced, run_frames_sync
from ._list import VMList
from ._status import StatusCode, VMError


@dataclass(frozen=True, slots=True)
class InstructionSite:
    """One instruction of a module, as observers see it.

    ``pc`` is relative to the function's first byte (as in backtraces and
    the disassembly); ``text`` is the instruction's disassembly and
    ``operands`` the names (``%i0``, ``%r1``) of the registers whose values
    an observer receives, in order. ``entry`` marks a function's first
    instruction (run once per call of the function), ``returns`` a return.
    For a call, ``callee`` is the full name of the function called
    (``module.function``) and ``imported`` tells whether it is an import.
    """

    module: str
    function: str
    pc: int
    text: str
    operands: tuple[str, ...] = ()
    entry: bool = False
    returns: bool = False
    callee: str | None = None
    imported: bool = False

    @property
    def location(self) -> str:
        """``module.function@pc``."""
        return f"{self.module}.{self.function}@{self.pc}"


class ExecutionObserver:
    """Receives the instructions of the contexts it observes.

    :meth:`observe_instruction` is called on the thread running the
    invocation, before the instruction runs, with the values of the
    instruction's operand registers (``site.operands``, in order). It must
    not suspend, and should not keep the values (refs among them) beyond
    the call. An exception it raises fails the invocation.
    """

    def observe_instruction(self, site: InstructionSite, values: tuple) -> None:
        raise NotImplementedError


# -- values -------------------------------------------------------------------------

_REPRESENTATION = re.compile(r"<([A-Za-z_][\w.]*) (.+)>", re.DOTALL)
_LONGEST_DESCRIPTION = 80


def describe_value(value: Any) -> str:
    """A register value as a trace shows it: integers in decimal, floats as
    Python writes them, ``null`` for a null ref, and a ref as its type and a
    short summary: ``!vm.buffer<16 bytes>``, ``!vm.list<i32>[3]``,
    ``!hal.buffer_view<4xf32>``, ``!hal.buffer<64 bytes>`` (for other refs,
    their ``<type summary>`` repr as ``!type<summary>``, else ``!ClassName``)."""
    if value is None:
        return "null"
    kind = value.__class__
    if kind is int or kind is float:
        return repr(value)
    if isinstance(value, VMList):
        element = value.element_type.name if value.element_type is not None else "?"
        return f"!vm.list<{element}>[{len(value)}]"
    if isinstance(value, VMBuffer):
        return f"!vm.buffer<{len(value)} bytes>"
    if isinstance(value, (int, float)):
        return repr(value)
    try:
        text = repr(value)
    except Exception:  # a describer must not fail the invocation it observes
        text = ""
    match = _REPRESENTATION.fullmatch(text)
    if match is None or match.group(2).startswith("object at "):
        return f"!{kind.__name__}"
    description = f"!{match.group(1)}<{match.group(2)}>"
    if len(description) > _LONGEST_DESCRIPTION:
        description = description[:_LONGEST_DESCRIPTION - 4] + "...>"
    return description


def format_instruction(invocation: int, site: InstructionSite, values: tuple) -> str:
    """One trace line (without its newline): ``[N] module.function@pc  text``,
    then ``  ; %name=value ...`` when the instruction has operands."""
    line = f"[{invocation}] {site.location}  {site.text}"
    if site.operands:
        line += "  ; " + " ".join(f"{name}={describe_value(value)}"
                                  for name, value in zip(site.operands, values))
    return line


# -- which invocation ---------------------------------------------------------------

_DRIVERS = (invoke_callable.__code__, run_frames_sync.__code__, run_frames_sliced.__code__)
_DEEPEST_WALK = 256


def _driver_key() -> int:
    """Identifies the invocation running the caller: the id of the frame of
    the invocation driver (:func:`invoke_callable`, :func:`run_frames_sync`
    or :func:`run_frames_sliced`)
    below it. Every bytecode frame of an invocation runs right above its
    driver's frame (frames are generators the driver resumes, or plain
    functions they call), so two invocations in flight never share one.
    0 when no driver is found (code called outside an invocation)."""
    frame = sys._getframe(2)
    first, second, third = _DRIVERS
    for _ in range(_DEEPEST_WALK):
        if frame is None:
            return 0
        code = frame.f_code
        if code is first or code is second or code is third:
            return id(frame)
        frame = frame.f_back
    return 0


class _Invocation:
    __slots__ = ("number", "depth", "calling")

    def __init__(self, number: int) -> None:
        self.number = number
        self.depth = 0
        self.calling = False


# -- observers ------------------------------------------------------------------------

class ExecutionTrace(ExecutionObserver):
    """Writes one line per instruction (see the module docstring for the format).

    ``file`` is a text stream (written, never closed; ``None``: ``sys.stderr``
    as it is when the trace is made) or a path, opened for writing now and
    closed by :meth:`close` (VMError NOT_FOUND / PERMISSION_DENIED /
    INVALID_ARGUMENT if it cannot be opened). Usable as a context manager
    that closes it. Lines arriving after :meth:`close` are dropped.
    ``lines`` counts the lines written.
    """

    def __init__(self, file: TextIO | str | os.PathLike | None = None) -> None:
        self._owned = isinstance(file, (str, os.PathLike))
        self.file: TextIO = _open_for_writing(file) if self._owned else (
            file if file is not None else sys.stderr)
        self.lines = 0
        self._lock = threading.Lock()
        self._closed = False
        self._invocations: dict[int, _Invocation] = {}
        self._next_number = 1

    def observe_instruction(self, site: InstructionSite, values: tuple) -> None:
        key = _driver_key()
        with self._lock:
            if self._closed:
                return
            invocation = self._invocation(key, site)
            self.file.write(format_instruction(invocation.number, site, values) + "\n")
            self.lines += 1

    def _invocation(self, key: int, site: InstructionSite) -> _Invocation:
        """The invocation an instruction belongs to. A function's first
        instruction right after a call in the same driver continues that
        invocation; any other first instruction begins a new one (driver
        frames are reused once an invocation ends)."""
        invocation = self._invocations.get(key)
        if site.entry:
            if invocation is None or not invocation.calling:
                invocation = self._invocations[key] = _Invocation(self._next_number)
                self._next_number += 1
            invocation.depth += 1
        elif invocation is None:
            invocation = self._invocations[key] = _Invocation(self._next_number)
            self._next_number += 1
            invocation.depth = 1
        invocation.calling = site.callee is not None
        if site.returns:
            invocation.depth -= 1
            if invocation.depth <= 0:
                del self._invocations[key]
        return invocation

    def flush(self) -> None:
        with self._lock:
            if not self._closed:
                self.file.flush()

    def close(self) -> None:
        """Flushes the file (and closes it if the trace opened it); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self.file.flush()
            finally:
                if self._owned:
                    self.file.close()

    def __enter__(self) -> "ExecutionTrace":
        return self

    def __exit__(self, *exception: Any) -> None:
        self.close()


class _SiteCounts:
    """Counts a module keeps per instruction site, as a counter sees them:
    the differences from the snapshot taken when it began."""

    __slots__ = ("counts", "snapshot", "imports")

    def __init__(self, sites: list[InstructionSite], counts: list[int]) -> None:
        self.counts = counts
        self.snapshot = list(counts)
        self.imports = [(index, site.callee) for index, site in enumerate(sites) if site.imported]

    def instructions(self) -> int:
        return sum(self.counts) - sum(self.snapshot)

    def add_import_calls(self, into: dict[str, int]) -> None:
        counts, snapshot = self.counts, self.snapshot
        for index, name in self.imports:
            calls = counts[index] - snapshot[index]
            if calls:
                into[name] = into.get(name, 0) + calls


class ExecutionCounts(ExecutionObserver):
    """Counts instructions executed and import calls made, by import name.

    ``instructions`` counts every instruction (block markers are not
    instructions); ``import_calls`` maps each import's full name
    (``hal.buffer_view.create``) to the calls made to it, counted as the
    call instruction runs (a call that then fails counts). Both may be read
    at any time. Nothing is counted after :meth:`close`. Exact across
    threads.

    Module kinds either report each instruction
    (:meth:`observe_instruction`) or, cheaper, count runs per instruction
    site themselves and lend the counter their list for the time it
    observes them (:meth:`attach_site_counts`; bytecode does this, and then
    runs a translation that only counts).
    """

    def __init__(self) -> None:
        self._instructions = 0
        self._import_calls: dict[str, int] = {}
        self._attached: list[_SiteCounts] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def instructions(self) -> int:
        with self._lock:
            return self._instructions + sum(counts.instructions() for counts in self._attached)

    @property
    def import_calls(self) -> dict[str, int]:
        """A snapshot: import name -> calls, most called first."""
        with self._lock:
            calls = dict(self._import_calls)
            for counts in self._attached:
                counts.add_import_calls(calls)
        return dict(sorted(calls.items(), key=lambda item: (-item[1], item[0])))

    @property
    def import_call_count(self) -> int:
        return sum(self.import_calls.values())

    def observe_instruction(self, site: InstructionSite, values: tuple) -> None:
        with self._lock:
            if self._closed:
                return
            self._instructions += 1
            if site.imported:
                calls = self._import_calls
                calls[site.callee] = calls.get(site.callee, 0) + 1

    def attach_site_counts(self, sites: list[InstructionSite], counts: list[int]) -> Any:
        """Starts counting from ``counts``, a module's list of runs per site
        (``counts[n]`` for ``sites[n]``), which the module keeps adding to;
        returns the handle :meth:`detach_site_counts` takes."""
        attached = _SiteCounts(sites, counts)
        with self._lock:
            if not self._closed:
                self._attached.append(attached)
        return attached

    def detach_site_counts(self, handle: Any) -> None:
        """Adds what the list counted since :meth:`attach_site_counts` and
        stops reading it."""
        with self._lock:
            if any(attached is handle for attached in self._attached):
                self._attached = [attached for attached in self._attached
                                  if attached is not handle]
                self._settle(handle)

    def _settle(self, attached: _SiteCounts) -> None:
        self._instructions += attached.instructions()
        attached.add_import_calls(self._import_calls)

    def close(self) -> None:
        """Stops counting; the counts stay readable."""
        with self._lock:
            for attached in self._attached:
                self._settle(attached)
            self._attached = []
            self._closed = True


# -- attaching ------------------------------------------------------------------------

def context_of(target: Any) -> Context:
    """The context of ``target``: a :class:`Context`, or an object (a
    program) whose ``context`` attribute is one. INVALID_ARGUMENT otherwise."""
    if isinstance(target, Context):
        return target
    context = getattr(target, "context", None)
    if isinstance(context, Context):
        return context
    raise VMError(StatusCode.INVALID_ARGUMENT,
                  f"execution is observed on a Context or a program, not {type(target).__name__}")


@contextlib.contextmanager
def observe_execution(target: Any, *observers: ExecutionObserver) -> Iterator[None]:
    """Attaches ``observers`` to the context of ``target`` for the block.

    See the module docstring for which invocations they observe. Several
    blocks may observe one context at once, with different observers.
    Raises VMError: INVALID_ARGUMENT for a target that is not a context or
    program, or an observer without ``observe_instruction``;
    ALREADY_EXISTS when an observer already observes the context; what a
    module raises when it cannot be observed. Does not suspend.
    """
    context = context_of(target)
    for observer in observers:
        if not callable(getattr(observer, "observe_instruction", None)):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{type(observer).__name__} is not an execution observer "
                          "(it has no observe_instruction method)")
    states = [state for state in context._states
              if hasattr(state, "add_execution_observer")]
    attached = []
    try:
        for state in states:
            for observer in observers:
                state.add_execution_observer(observer)
                attached.append((state, observer))
        yield
    finally:
        for state, observer in reversed(attached):
            state.remove_execution_observer(observer)


@contextlib.contextmanager
def trace_execution(target: Any, file: TextIO | str | os.PathLike | None = None
                    ) -> Iterator[ExecutionTrace]:
    """Traces the instructions run in the context of ``target`` during the
    block to ``file`` (a stream, by default ``sys.stderr``, or a path: see
    :class:`ExecutionTrace`); yields the trace, closed when the block ends.
    Raises as :func:`observe_execution` and :class:`ExecutionTrace` do."""
    with ExecutionTrace(file) as trace, observe_execution(target, trace):
        yield trace


@contextlib.contextmanager
def count_execution(target: Any) -> Iterator[ExecutionCounts]:
    """Counts the instructions and import calls run in the context of
    ``target`` during the block; yields the :class:`ExecutionCounts`.
    Raises as :func:`observe_execution` does."""
    counts = ExecutionCounts()
    try:
        with observe_execution(target, counts):
            yield counts
    finally:
        counts.close()


def _open_for_writing(path: str | os.PathLike) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as error:
        status = (StatusCode.NOT_FOUND if isinstance(error, FileNotFoundError)
                  else StatusCode.PERMISSION_DENIED if isinstance(error, PermissionError)
                  else StatusCode.INVALID_ARGUMENT)
        raise VMError(status, f"cannot open {os.fspath(path)!r} for writing: "
                              f"{error.strerror or error}") from None
