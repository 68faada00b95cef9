"""Command buffers: recorded commands replayed on a queue.

Recording validates each command (ranges, finalized state) and stores it;
``execute`` replays them in order on the calling thread. A binding that
names no buffer refers by ``slot`` to the binding table given at execution
(indirect command buffers). Errors are VMError: FAILED_PRECONDITION for
recording into a finalized buffer, OUT_OF_RANGE for bad ranges or slots,
PERMISSION_DENIED for a fill, copy or update into a buffer whose access bits
do not allow writing (when recorded for a direct buffer, when executed for a
binding-table slot). A dispatch checks no access, as in IREE: a buffer over
immutable memory (module rodata) is given a private copy before a kernel
binds it (see ``_buffer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

from asyncvm.vm import Budget, StatusCode, VMError, active_tracer

from ._buffer import WHOLE_BUFFER, Buffer
from ._executable import DispatchState, Executable, run_in_order
from ._native_library import native_replay
from ._native_replay import ReplayPlan


@dataclass(frozen=True, slots=True)
class BufferReference:
    """A buffer range, direct (``buffer``) or from binding-table ``slot``."""

    buffer: Buffer | None
    slot: int
    offset: int
    length: int

    def resolve(self, table) -> tuple[Buffer, int, int]:
        buffer, offset, length = self.buffer, self.offset, self.length
        if buffer is None:
            if table is None or not 0 <= self.slot < len(table):
                raise VMError(StatusCode.OUT_OF_RANGE,
                              f"binding table slot {self.slot} is not provided "
                              f"({0 if table is None else len(table)} bindings)")
            buffer, table_offset, table_length = table[self.slot]
            if buffer is None:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"binding table slot {self.slot} holds no buffer")
            offset += table_offset
            if length == -1 or length == WHOLE_BUFFER:
                length = table_length
        length = buffer.resolve_length(offset, length)
        return buffer, offset, length


_INTERNED: dict[tuple, tuple] = {}
_INTERNED_LIMIT = 4096


def _interned(value: tuple) -> tuple:
    """One shared copy of a tuple of plain values (workgroup counts,
    constants, binding-table references): a program records the same ones
    on every call, and a command buffer of a call in flight then holds no
    copies of its own. Only values that hold no buffer come here (a shared
    copy would keep the buffer alive); the table is bounded."""
    shared = _INTERNED.get(value)
    if shared is not None:
        return shared
    if len(_INTERNED) < _INTERNED_LIMIT:
        _INTERNED[value] = value
    return value


_FILL = "command_buffer.fill_buffer"
_COPY = "command_buffer.copy_buffer"
_UPDATE = "command_buffer.update_buffer"


def _check_target(target: BufferReference, operation: str) -> None:
    """A direct target buffer must allow writes (checked when recorded, as
    IREE's command buffer validation does); a slot is checked when executed."""
    if target.buffer is not None:
        target.buffer.require_writable(operation)


MODE_ONE_SHOT = 1
"""IREE_HAL_COMMAND_BUFFER_MODE_ONE_SHOT: the buffer is executed once."""

_PLAN_AFTER = 2
"""Executions of a command buffer before the next one makes its replay plan:
a buffer recorded for one call (or warmed up once and timed once) never
pays for one; IREE's memoized command buffers are executed on every call."""


class CommandBuffer:
    __slots__ = ("modes", "categories", "binding_capacity", "commands", "finalized", "_plan",
                 "run_seconds", "__weakref__")

    def __init__(self, modes: int = 0, categories: int = 0, binding_capacity: int = 0) -> None:
        self.modes = modes
        self.categories = categories
        self.binding_capacity = binding_capacity
        self.commands: list[tuple] = []
        self.finalized = False
        # executions so far (an int), then its ReplayPlan, or False: none can serve it
        self._plan: ReplayPlan | int | bool = 0
        # The processor seconds its latest execution on a local-task device
        # took (infinite before the first): see Device.inline_limit.
        self.run_seconds = math.inf

    def _record(self, command: tuple) -> None:
        if self.finalized:
            raise VMError(StatusCode.FAILED_PRECONDITION, "command buffer is finalized")
        self.commands.append(command)

    def dispatch(self, executable: Executable, ordinal: int,
                 workgroups: tuple[int, int, int] | BufferReference,
                 constants: tuple[int, ...], bindings: list[BufferReference]) -> None:
        """Records a dispatch; ``workgroups`` is a count, or (indirect) a
        reference to three u32 counts read when the command executes."""
        if not 0 <= ordinal < len(executable.function_names):
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"executable function {ordinal} out of range "
                          f"({len(executable.function_names)} functions)")
        if isinstance(workgroups, tuple) and any(count < 0 for count in workgroups):
            raise VMError(StatusCode.INVALID_ARGUMENT, f"negative workgroup count {workgroups}")
        bindings = tuple(bindings)
        if all(binding.buffer is None for binding in bindings):
            bindings = _interned(bindings)  # slots only: the same for every call
        self._record(("dispatch", executable, ordinal,
                      _interned(workgroups) if workgroups.__class__ is tuple else workgroups,
                      _interned(constants if constants.__class__ is tuple
                                else tuple(constants)), bindings))

    def fill(self, target: BufferReference, pattern: bytes) -> None:
        _check_target(target, _FILL)
        self._record(("fill", target, pattern))

    def copy(self, source: BufferReference, target: BufferReference, length: int) -> None:
        _check_target(target, _COPY)
        self._record(("copy", source, target, length))

    def update(self, data: bytes, target: BufferReference) -> None:
        _check_target(target, _UPDATE)
        self._record(("update", bytes(data), target))

    def barrier(self) -> None:
        self._record(("barrier",))

    def finalize(self) -> None:
        if self.finalized:
            raise VMError(StatusCode.FAILED_PRECONDITION, "command buffer is already finalized")
        self.finalized = True

    def execute(self, binding_table=None, for_each=run_in_order, dispatch_hook=None,
                budget: Budget | None = None, spread=None) -> Iterator[None] | None:
        """Replays the commands in order; dispatches spread their workgroups
        with ``for_each`` and run under ``budget`` (see DispatchState).
        Raises VMError on failure.

        Returns None when every command ran. With a budget that can pause, a
        dispatch may pause instead: then this returns an iterator that runs
        the rest of the commands, yielding whenever the budget's end passes;
        whoever drives it resumes it with ``next`` (setting a new end first)
        and may drop it (``close``) to abandon the rest.

        ``dispatch_hook(executable, ordinal, state)``, when given (a device's
        ``dispatch_hook``: an instrument, see :mod:`asyncvm._instrument`),
        runs each dispatch in place of ``executable.dispatch(ordinal,
        state)``: it calls that itself, or not (the dispatch is skipped), and
        may raise VMError to fail the execution; it returns None or what the
        dispatch returned.

        With no hook and no tracer, a finalized command buffer executed
        ``_PLAN_AFTER`` times before runs through its :class:`~asyncvm.hal._native_replay.ReplayPlan`
        when it has one: the same commands, results and errors, with its
        llvm-cpu dispatches replayed in C, in order on this thread. So it
        does when replayed in order anyway (``for_each`` is
        ``run_in_order``), or when no dispatch has more than one workgroup
        for ``for_each`` to spread (a serial plan), or when ``spread`` is given
        (a local-task worker's ``(team, helper_ns)``, see ReplayPlan.run):
        then the plan spreads its dispatches of several workgroups over that
        workgroup team in C (or runs them on this thread, without a team)."""
        if dispatch_hook is None and active_tracer() is None:
            plan = self._plan
            if plan.__class__ is ReplayPlan or (plan := self._planned()) is not None:
                if for_each is run_in_order or plan.serial:
                    return plan.run(self, binding_table, budget)
                if spread is not None:
                    return plan.run(self, binding_table, budget, spread)
        rest, position = self._run_from(0, binding_table, for_each, dispatch_hook, budget)
        if rest is None:
            return None
        return self._resume(rest, position, binding_table, for_each, dispatch_hook, budget)

    def _planned(self) -> ReplayPlan | None:
        """The replay plan, made once a finalized command buffer was executed
        ``_PLAN_AFTER`` times, while the C loop is in use; None before that
        or if its commands cannot be planned."""
        plan = self._plan
        if plan.__class__ is int:
            if plan < _PLAN_AFTER:
                self._plan = plan + 1
            elif self.modes & MODE_ONE_SHOT:
                self._plan = False  # IREE runs a one-shot command buffer once
            elif self.finalized and native_replay() is not None:
                plan = self._plan = ReplayPlan.of(self.commands) or False
                return plan or None
        return None

    def replay_from(self, position: int, binding_table, budget: Budget | None):
        """The general replay of the commands from ``position`` on, in order
        on this thread (the plan's way back: see ``execute``)."""
        rest, position = self._run_from(position, binding_table, run_in_order, None, budget)
        if rest is None:
            return None
        return self._resume(rest, position, binding_table, run_in_order, None, budget)

    def _run_from(self, position: int, binding_table, for_each, dispatch_hook, budget):
        """Runs the commands from ``position`` until one pauses: returns
        (None, end) when all ran, else (the paused dispatch's iterator, the
        position after it)."""
        commands = self.commands
        count = len(commands)
        while position < count:
            command = commands[position]
            position += 1
            kind = command[0]
            if kind == "dispatch":
                rest = self._dispatch(command, binding_table, for_each, dispatch_hook, budget)
                if rest is not None:
                    return rest, position
            elif kind != "barrier":
                self.run_host_command(command, binding_table)
        return None, count

    @staticmethod
    def run_host_command(command: tuple, binding_table) -> None:
        """Runs a recorded fill, copy or update."""
        kind = command[0]
        if kind == "fill":
            buffer, offset, length = command[1].resolve(binding_table)
            buffer.fill(offset, length, command[2], _FILL)
        elif kind == "copy":
            source, source_offset, _ = command[1].resolve(binding_table)
            target, target_offset, _ = command[2].resolve(binding_table)
            source.copy_to(source_offset, target, target_offset, command[3], _COPY)
        elif kind == "update":
            buffer, offset, length = command[2].resolve(binding_table)
            buffer.write(offset, command[1], _UPDATE)

    def _resume(self, rest, position: int, binding_table, for_each, dispatch_hook, budget):
        """The paused dispatch ``rest``, then the commands from ``position``
        (pausing again where they do)."""
        while rest is not None:
            yield from rest
            rest, position = self._run_from(position, binding_table, for_each, dispatch_hook,
                                            budget)

    @staticmethod
    def _dispatch(command: tuple, binding_table, for_each, dispatch_hook, budget):
        _, executable, ordinal, workgroups, constants, bindings = command
        if isinstance(workgroups, BufferReference):
            buffer, offset, _ = workgroups.resolve(binding_table)
            workgroups = tuple(int(v) for v in buffer.array("<u4", (3,), offset))
        resolved = tuple([reference.resolve(binding_table) for reference in bindings])
        for buffer, _, _ in resolved:
            if buffer.allocation.immutable:
                buffer.prepare_binding()
        state = DispatchState(workgroups, constants, resolved, for_each, budget)
        tracer = active_tracer()
        if tracer is None:
            if dispatch_hook is None:
                return executable.dispatch(ordinal, state)
            return dispatch_hook(executable, ordinal, state)
        began = tracer.now()
        if dispatch_hook is None:
            rest = executable.dispatch(ordinal, state)
        else:
            rest = dispatch_hook(executable, ordinal, state)
        span = (executable.function_names[ordinal], "dispatch", began,
                dict(format=executable.format, workgroups=list(workgroups),
                     bytes_bound=sum(length for _, _, length in resolved)))
        if rest is None:
            _complete(tracer, span)
            return None
        return _traced(rest, tracer, span)


def _complete(tracer, span: tuple) -> None:
    name, category, began, arguments = span
    tracer.complete(name, category, began, **arguments)


def _traced(rest, tracer, span: tuple):
    """A paused dispatch whose trace span ends when it does."""
    yield from rest
    _complete(tracer, span)
