"""Replay plans: a recorded command buffer's native dispatches in one C call.

Replaying a command buffer in Python costs per dispatch: resolving each
binding, a :class:`~asyncvm.hal.DispatchState`, the executable's prepared
ctypes state, the workgroup runner. A command buffer that is replayed again
and again (IREE's compiler records one per function and reuses it) can do
that work once: its :class:`ReplayPlan` holds, per llvm-cpu dispatch, a
:class:`~asyncvm.hal._native_library.PreparedDispatch` of its own and a
record of 64-bit words (kernel, environment, dispatch state, workgroup state,
binding arrays, workgroup counts, and per binding its table slot, offset and
length); a run of consecutive dispatches is one *segment*, replayed by
``run_dispatches`` in C with the GIL released once. Per execution one more C
call (``resolve_slots``) turns the binding table into four ints per slot.

The plan gives the same results and errors as the general replay
(``CommandBuffer._run_from``), which it hands over to whenever it cannot do
exactly what that would:

* a plan is only made for a finalized, reusable (not one-shot) command
  buffer whose dispatches are all llvm-cpu library dispatches with direct
  workgroup counts (fills, copies and updates between them run as the
  general replay runs them);
* a segment whose bindings do not all resolve runs nothing: the general
  replay takes over from its first command and reports the error where it
  meets it;
* a binding table with an entry that is not a plain :class:`Buffer`, and
  an execution while the plan serves another (one at a time: the records
  hold the binding addresses), take the general replay from the start.

One thing happens earlier than in the general replay: read-only memory in a
binding-table slot that a dispatch binds gets its private copy (see
``Buffer.prepare_binding``) before the first command runs, not just before
that dispatch; the results are the same.

A plan serves executions with no dispatch hook and no tracer: on
``local-sync``, whose replay runs workgroups in order on its thread, and on
``local-task`` when it is *serial* (no dispatch has more than one
workgroup, so there is nothing to spread over threads) or when the device
gives it a ``spread``: its queue workers do, and ``run_dispatches`` then
runs each dispatch of several workgroups on the device's workgroup team
(see ``CommandBuffer.execute`` and hal/_workgroup_team.c). The choice is made when an
execution starts, so a tracer turned on while a planned execution is
paused sees the dispatches of later executions only. Nothing here suspends; a paused
replay is an iterator the caller resumes, as for the general replay.
"""

from __future__ import annotations

import ctypes
import math
import threading

import numpy

from asyncvm.vm import VMError, address_of

from ._buffer import WHOLE_BUFFER, Buffer
from ._native_library import LibraryExecutable, PreparedDispatch, native_replay

try:
    from ._workgroup_loop import resolve_slots as _resolve_slots
except ImportError:  # no C loop: no plans either
    _resolve_slots = None

_DIRECT = (1 << 64) - 1
"""A planned binding's slot for a buffer recorded in the command (not a slot)."""

_STOPPED, _KERNEL_FAILED, _BAD_BINDING = 1, 2, 3
"""``run_dispatches`` statuses (it returns None when every dispatch ran)."""

_INT64 = 1 << 63

_NEVER = math.inf
"""A budget's end when it never pauses."""

_SLOTS = 1 << 32
"""Binding-table slots a plan records (an i32 slot from a program is below);
any other slot, which could never be provided, is left to the general replay."""


class _Segment:
    """Consecutive dispatches replayed by one ``run_dispatches`` call: their
    records (``words``, whose address ``address`` the C loop reads), their
    prepared states, and for errors each one's executable, ordinal and
    workgroup layout."""

    __slots__ = ("words", "address", "count", "dispatches", "prepared", "most_workgroups")

    def __init__(self) -> None:
        self.words: list[int] | numpy.ndarray = []
        self.address = 0
        self.count = 0
        self.dispatches: list[tuple[LibraryExecutable, int, int, int]] = []
        self.prepared: list[PreparedDispatch] = []
        self.most_workgroups = 0

    def add(self, executable: LibraryExecutable, ordinal: int,
            workgroups: tuple[int, int, int], constants: tuple[int, ...], bindings) -> bool:
        """Appends a dispatch; False if it cannot be planned."""
        count_x, count_y, count_z = workgroups
        plane = count_x * count_y
        total = plane * count_z
        if total and (total >= 1 << 32 or count_z - 1 > 0xFFFF):
            return False
        record = []
        for reference in bindings:
            buffer, offset, length = reference.buffer, reference.offset, reference.length
            if length == WHOLE_BUFFER:
                length = -1
            if not -1 <= length < _INT64 or not 0 <= offset < _INT64:
                return False
            if buffer is None:
                if not 0 <= reference.slot < _SLOTS:
                    return False  # the general replay reports it (OUT_OF_RANGE)
                record += (reference.slot, offset, length)
                continue
            # A recorded buffer: resolved now (its memory is made private
            # now rather than at the first dispatch; a mutable allocation
            # keeps its storage for good).
            if buffer.__class__ is not Buffer:
                return False
            try:
                length = buffer.resolve_length(offset, length)
            except VMError:
                return False  # the general replay reports it
            buffer.prepare_binding()
            record += (_DIRECT, address_of(buffer.allocation.storage) + buffer.offset + offset,
                       length)
        # The state the general replay prepared for this shape, if free: the
        # plan keeps it for good.
        prepared = executable.take_prepared((ordinal, workgroups, constants, len(bindings)))
        self.words += (executable._entry_addresses[ordinal], executable._environment_address,
                       prepared.address, prepared.workgroup_address,
                       ctypes.addressof(prepared.pointers), ctypes.addressof(prepared.lengths),
                       max(count_x, 1), max(plane, 1), total, len(bindings), *record)
        self.dispatches.append((executable, ordinal, max(count_x, 1), max(plane, 1)))
        self.prepared.append(prepared)
        self.count += 1
        self.most_workgroups = max(self.most_workgroups, total)
        return True

    def seal(self) -> None:
        """Fixes the records in memory the C loop reads."""
        words = numpy.array([value & _DIRECT for value in self.words], dtype=numpy.uint64)
        self.words = words
        self.address = address_of(words)

    def failed(self, dispatch: int, workgroup: int, result: int):
        executable, ordinal, count_x, plane = self.dispatches[dispatch]
        return executable._failed(ordinal, result, workgroup, count_x, plane)


class ReplayPlan:
    """A command buffer's commands as segments and host commands (see the
    module docstring). ``steps`` holds, in order, each :class:`_Segment`
    and each command that is neither a dispatch nor a barrier, with the
    index of its command; ``dispatch_slots`` the binding-table slots a
    dispatch binds. ``serial`` is True when no dispatch has more than one
    workgroup: nothing in it could run in parallel, so a device that
    spreads workgroups over threads (local-task) may run it as it is."""

    __slots__ = ("steps", "dispatch_slots", "serial", "_in_use")

    def __init__(self, steps: list, dispatch_slots: frozenset[int]) -> None:
        self.steps = steps
        self.dispatch_slots = dispatch_slots
        self.serial = all(step.most_workgroups <= 1 for _, step in steps
                          if step.__class__ is _Segment)
        self._in_use = threading.Lock()

    @classmethod
    def of(cls, commands: list[tuple]) -> "ReplayPlan | None":
        """The plan of a finalized command buffer's ``commands``, or None
        when it has no dispatch, or one that cannot be planned, or the C
        loop is not built."""
        if native_replay() is None:
            return None
        steps: list = []
        slots: set[int] = set()
        segment = None
        for position, command in enumerate(commands):
            kind = command[0]
            if kind == "barrier":  # commands run in order anyway
                continue
            if kind != "dispatch":
                segment = None
                steps.append((position, command))
                continue
            _, executable, ordinal, workgroups, constants, bindings = command
            if not (isinstance(executable, LibraryExecutable)
                    and type(executable).dispatch is LibraryExecutable.dispatch
                    and workgroups.__class__ is tuple):
                return None
            if segment is None:
                segment = _Segment()
                steps.append((position, segment))
            if not segment.add(executable, ordinal, workgroups, constants, bindings):
                return None
            slots.update(reference.slot for reference in bindings if reference.buffer is None)
        if not any(step.__class__ is _Segment for _, step in steps):
            return None
        for _, step in steps:
            if isinstance(step, _Segment):
                step.seal()
        return cls(steps, frozenset(slots))

    def slot_values(self, binding_table) -> tuple[int, ...] | None:
        """The binding table as ``run_dispatches`` takes it (four ints per
        slot), after giving the memory of every slot a dispatch binds a
        private copy if it must not be written (as the general replay does
        before such a dispatch); None if an entry is not a plain buffer.
        In C (``resolve_slots``) unless a slot needs its private copy."""
        if not binding_table:
            return ()
        if _resolve_slots is not None:
            values = _resolve_slots(binding_table, Buffer, self.dispatch_slots)
            if values is not False:
                return values
        values = []
        dispatch_slots = self.dispatch_slots
        for slot, (buffer, offset, length) in enumerate(binding_table):
            if buffer is None:
                values += (0, 0, 0, 0)
                continue
            if buffer.__class__ is not Buffer or not 0 <= offset < _INT64 \
                    or not -1 <= length < _INT64:
                return None
            allocation = buffer.allocation
            if allocation.immutable and slot in dispatch_slots:
                allocation.make_private()
            values += (address_of(allocation.storage) + buffer.offset, buffer.length, offset,
                       length)
        return tuple(values)

    def run(self, general, binding_table, budget, spread=None):
        """Replays the commands (see ``CommandBuffer.execute`` for the
        contract: None when all ran, else an iterator of the rest).

        ``spread`` (a local-task worker's, with a budget that never pauses):
        ``(team, helper_ns)``, the workgroup team to run each dispatch of
        several workgroups on (None: this thread alone) and the address of
        the 64-bit count its processor time is added to.

        ``general`` is the command buffer: ``general.run_host_command(command,
        binding_table)`` runs a fill, copy or update, and
        ``general.replay_from(position, binding_table, budget)`` is the
        general replay from command ``position`` on, which takes over where
        the plan cannot go on."""
        run_dispatches = native_replay()
        if run_dispatches is None or not self._in_use.acquire(False):
            return general.replay_from(0, binding_table, budget)
        fallback = None
        try:
            slots = self.slot_values(binding_table)
            if slots is None:
                fallback = 0
            else:
                for index, (position, step) in enumerate(self.steps):
                    if step.__class__ is not _Segment:
                        general.run_host_command(step, binding_table)
                        continue
                    outcome = _run_segment(run_dispatches, step, slots, 0, 0, budget, spread)
                    if outcome is None:
                        continue
                    if outcome.__class__ is int:  # a binding that does not resolve
                        fallback = position
                        break
                    # The rest runs later: its own copy of the table keeps
                    # the buffers whose addresses ``slots`` holds alive.
                    rest = self._resume(run_dispatches, index, step, outcome, general,
                                        tuple(binding_table or ()), slots, budget)
                    next(rest)  # into its try: from now on it releases the plan
                    return rest
        except BaseException:
            self._in_use.release()
            raise
        self._in_use.release()
        if fallback is None:
            return None
        return general.replay_from(fallback, binding_table, budget)

    def _resume(self, run_dispatches, index, segment, paused_at, general, binding_table, slots,
                budget):
        """The rest of a replay paused at ``paused_at`` (dispatch, workgroup)
        of ``segment``, step ``index``: yields each time the budget's end
        passes. Holds the plan until it ends or is closed; ``run`` starts it
        up to its first yield, so that closing it always releases."""
        try:
            yield
            steps = self.steps
            while True:
                while paused_at is not None:
                    yield
                    dispatch, workgroup = paused_at
                    _check_stop(segment, dispatch, budget)
                    paused_at = _run_segment(run_dispatches, segment, slots, dispatch, workgroup,
                                             budget)
                index += 1
                if index == len(steps):
                    return
                position, segment = steps[index]
                if segment.__class__ is not _Segment:
                    general.run_host_command(segment, binding_table)
                    paused_at = None
                    continue
                paused_at = _run_segment(run_dispatches, segment, slots, 0, 0, budget)
                if paused_at.__class__ is int:
                    rest = general.replay_from(position, binding_table, budget)
                    if rest is not None:
                        yield from rest
                    return
        finally:
            self._in_use.release()


def _check_stop(segment: _Segment, dispatch: int, budget) -> None:
    """The budget token's error, naming the dispatch, if it was cancelled."""
    executable, ordinal, _, _ = segment.dispatches[dispatch]
    executable._check_stop(ordinal, budget)


def _run_segment(run_dispatches, segment: _Segment, slots: tuple[int, ...], dispatch: int,
                 workgroup: int, budget, spread=None):
    """Runs ``segment`` from (``dispatch``, ``workgroup``) under ``budget``:
    None when it ran to its end, the (dispatch, workgroup) to go on from when
    the budget passed, or (from the start only) the index of a dispatch whose
    bindings do not resolve, nothing having run. Raises the kernel's failure
    or the token's error naming the dispatch."""
    if budget is None:
        budget_ns = stop_flag = 0
    elif budget.end != _NEVER:  # it can pause
        budget_ns, stop_flag = budget.remaining_ns(), 0
    else:
        token = budget.token
        budget_ns, stop_flag = 0, (0 if token is None else token.flag_address)
    if spread is None:
        outcome = run_dispatches(segment.address, segment.count, slots, dispatch, workgroup,
                                 budget_ns, stop_flag)
    else:
        outcome = run_dispatches(segment.address, segment.count, slots, dispatch, workgroup,
                                 budget_ns, stop_flag, *spread)
    if outcome is None:  # every dispatch ran
        return None
    status, dispatch, workgroup, result = outcome
    if status == _BAD_BINDING:
        return dispatch
    if status == _KERNEL_FAILED:
        raise segment.failed(dispatch, workgroup, result)
    _check_stop(segment, dispatch, budget)  # stopped by the token: raises
    return dispatch, workgroup
