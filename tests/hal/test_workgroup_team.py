"""The native workgroup team of a local-task device (hal/_workgroup_team.c).

A dispatch that a ``local-task`` device spreads over its cores runs its
workgroups on the calling thread and the team's native threads, claimed one
by one. On a small executable library built with the C compiler:

* every workgroup runs once, with its ids; the team's threads take part,
  each with its own local memory of the export's size and the caller's
  processor id (dispatch states declare a concurrency of one); their
  processor time is counted for the execution;
* a failing kernel fails the dispatch INTERNAL naming its workgroup, every
  workgroup before it having run;
* two dispatches at once on one team both run whole (the second on its
  own thread);
* a replay plan (a command buffer's third execution on) hands the team to
  its C replay, which spreads the dispatch the same way: same marks, same
  failure, and a cancelled token stops it;
* ``WorkgroupTeam`` refuses malformed arguments; its threads end when it is
  collected, and a forked child's team starts its own.

On a program compiled by iree-compile for llvm-cpu: its dispatches go
through the team and the answers are IREE's, on both event loops.
"""

from __future__ import annotations

import gc
import os
import threading

import numpy
import pytest

from asyncvm.hal import Buffer, CommandBuffer, Device, DispatchState, SystemLibraryExecutable
from asyncvm.hal import _native_library
from asyncvm.hal._native_replay import ReplayPlan
from asyncvm.vm import Budget, CancellationToken, StatusCode, VMError, address_of

from _executable_libraries import compile_library

_workgroup_team = pytest.importorskip(
    "asyncvm.hal._workgroup_team", reason="hal._workgroup_team was not built (no C compiler)")
WorkgroupTeam = _workgroup_team.WorkgroupTeam

TEAM_LIBRARY = r"""
// mark: each workgroup writes its linear index + 1 into binding 0 and the
// low bits of its local memory's address (one per thread) into binding 1;
// in between it keeps a value of its own in its local memory for constant 0
// spins, and writes 0xdead into binding 1 instead if that changed meanwhile
// (memory shared with another thread), if the local memory has the wrong
// size or if its processor id is not 0. fail_at: as mark, but workgroup
// (constants 1, 2, 3) returns 9.
#include "library_abi.h"

static int mark_one(const struct dispatch *d, const struct workgroup *w) {
  uint32_t linear = (w->z * d->count_y + w->y) * d->count_x + w->x;
  volatile uint32_t *local = (volatile uint32_t *)w->local_memory;
  uint32_t kept = (uint32_t)(uintptr_t)w->local_memory * 2654435761u + linear, spin;
  int intact = w->local_memory_size == 4096 && w->processor_id == 0;
  local[0] = kept;
  for (spin = 0; spin < d->constants[0]; ++spin) {
    if (local[0] != kept) intact = 0;
  }
  ((uint32_t *)d->bindings[0])[linear] = linear + 1;
  ((uint32_t *)d->bindings[1])[linear] =
      intact && local[0] == kept ? (uint32_t)(uintptr_t)w->local_memory : 0xdead;
  return 0;
}
static int mark(const void *e, const struct dispatch *d, const struct workgroup *w) {
  (void)e; return mark_one(d, w);
}
static int fail_at(const void *e, const struct dispatch *d, const struct workgroup *w) {
  (void)e;
  if (w->x == d->constants[1] && w->y == d->constants[2] && w->z == d->constants[3]) return 9;
  return mark_one(d, w);
}

static const entry entries[] = {mark, fail_at};
static const struct attributes attributes[2] = {{0, 1, 1, 2, 1, 1, 1, 0, {0}},
                                                 {0, 1, 4, 2, 1, 1, 1, 0, {0}}};
static const char *const names[] = {"mark", "fail_at"};
ASYNCVM_TEST_LIBRARY("team", 2)
"""

SPINS = 200_000
"""Spins per workgroup: a fraction of a millisecond, long enough that the
team's threads are awake and take part."""

MOST_TRIES = 20
"""Dispatches a test runs at most until both threads took part in one: on a
machine whose other core is busy, a dispatch may end on one thread before
the other gets to run. Every one of them must be right."""


@pytest.fixture(autouse=True)
def native_loop(monkeypatch):
    """The team serves the C workgroup loop only."""
    if _native_library._run_workgroups is None:
        pytest.skip("hal._workgroup_loop was not built")
    monkeypatch.setattr(_native_library, "NATIVE_WORKGROUP_LOOP", True)


@pytest.fixture(scope="module")
def team_library(tmp_path_factory) -> bytes:
    return compile_library(tmp_path_factory.mktemp("team"), "team", TEAM_LIBRARY)


def dispatch(device: Device, executable, ordinal: int, count, constants, marks=None):
    """Runs one dispatch spread by ``device``; returns (indices, local
    memory addresses) as the workgroups marked them, into ``marks`` (a list)
    too, which holds them also when the dispatch raises."""
    total = count[0] * count[1] * count[2]
    indices, memories = Buffer.allocate(4 * total), Buffer.allocate(4 * total)
    for buffer in (indices, memories):
        buffer.bytes_view(0, 4 * total)[:] = 0
    marks = [] if marks is None else marks
    marks += [indices.array(numpy.uint32, (total,)), memories.array(numpy.uint32, (total,))]
    executable.dispatch(ordinal, DispatchState(
        count, constants, ((indices, 0, 4 * total), (memories, 0, 4 * total)),
        device.for_each))
    return tuple(marks)


def test_every_workgroup_runs_once_on_the_team(team_library):
    device = Device("local-task", workers=2)
    assert device._team is not None and device._team.helpers == 1
    executable = SystemLibraryExecutable(team_library)
    for _ in range(MOST_TRIES):
        device._helped.seconds = 0.0
        indices, memories = dispatch(device, executable, 0, (8, 4, 2), (SPINS,))
        numpy.testing.assert_array_equal(indices, numpy.arange(1, 65, dtype=numpy.uint32))
        assert 0xdead not in memories, \
            "a workgroup's local memory was shared or mis-sized, or its processor id not 0"
        # Two local memories: the calling thread's and the team's thread's.
        if len(set(memories.tolist())) == 2:
            break
    else:
        raise AssertionError(f"the team's thread took no part in {MOST_TRIES} dispatches")
    assert device._helped.seconds > 0


def test_a_failing_kernel_names_its_workgroup(team_library):
    device = Device("local-task", workers=2)
    executable = SystemLibraryExecutable(team_library)
    count, failing = (8, 4, 2), (3, 2, 1)
    failing_index = (failing[2] * count[1] + failing[1]) * count[0] + failing[0]
    marks = []
    with pytest.raises(VMError) as caught:
        dispatch(device, executable, 1, count, (SPINS // 10, *failing), marks)
    assert caught.value.status == StatusCode.INTERNAL
    assert "dispatch of fail_at failed: the kernel returned 9 (workgroup 3, 2, 1)" \
        in str(caught.value)
    indices = marks[0]
    # Claimed in order: every one before the failing one was claimed first and
    # ran to its end; the failing one wrote nothing; later ones may have run.
    numpy.testing.assert_array_equal(indices[:failing_index],
                                     numpy.arange(1, failing_index + 1, dtype=numpy.uint32))
    assert indices[failing_index] == 0


def test_two_dispatches_at_once_share_one_team(team_library):
    device = Device("local-task", workers=4)  # queue workers idle: both would spread
    executable = SystemLibraryExecutable(team_library)
    start = threading.Barrier(2, timeout=30)
    outcomes = []

    def run():
        start.wait()
        outcomes.append(dispatch(device, executable, 0, (16, 2, 1), (SPINS,)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 2
    for indices, memories in outcomes:
        numpy.testing.assert_array_equal(indices, numpy.arange(1, 33, dtype=numpy.uint32))
        assert 0xdead not in memories


def recorded_dispatch(executable, ordinal: int, count, constants, total: int):
    """A finalized command buffer of one dispatch over binding table slots 0
    (indices) and 1 (local memory addresses), and a table for it."""
    from asyncvm.hal._command_buffer import BufferReference

    commands = CommandBuffer()
    commands.dispatch(executable, ordinal, count, constants,
                      [BufferReference(None, slot, 0, 4 * total) for slot in (0, 1)])
    commands.finalize()
    indices, memories = Buffer.allocate(4 * total), Buffer.allocate(4 * total)
    return commands, [(indices, 0, 4 * total), (memories, 0, 4 * total)]


def test_a_replay_plan_spreads_its_dispatches_on_the_team(team_library):
    # From its third execution a command buffer replays through its plan in
    # C; given a team, the plan runs a dispatch of several workgroups on it.
    device = Device("local-task", workers=2)
    executable = SystemLibraryExecutable(team_library)
    total = 64
    commands, table = recorded_dispatch(executable, 0, (8, 4, 2), (SPINS,), total)
    counted = numpy.zeros(1, numpy.uint64)
    spread = (device._team, address_of(counted))
    for _ in range(MOST_TRIES):
        for buffer, _, _ in table:
            buffer.bytes_view(0, 4 * total)[:] = 0
        counted[0] = 0
        assert commands.execute(table, device.for_each, None, Budget(CancellationToken()),
                                spread) is None
        indices = table[0][0].array(numpy.uint32, (total,))
        memories = table[1][0].array(numpy.uint32, (total,))
        numpy.testing.assert_array_equal(indices, numpy.arange(1, total + 1, dtype=numpy.uint32))
        assert 0xdead not in memories
        if isinstance(commands._plan, ReplayPlan) and len(set(memories.tolist())) == 2:
            break
    else:
        raise AssertionError(f"no planned execution on two threads in {MOST_TRIES}")
    assert counted[0] > 0  # the team's processor time, counted by the C replay


def test_a_planned_failure_or_stop_on_the_team_is_the_dispatchs(team_library):
    device = Device("local-task", workers=2)
    executable = SystemLibraryExecutable(team_library)
    count, failing, total = (8, 4, 2), (3, 2, 1), 64
    failing_index = (failing[2] * count[1] + failing[1]) * count[0] + failing[0]
    commands, table = recorded_dispatch(executable, 1, count, (SPINS // 10, *failing), total)
    spread = (device._team, 0)
    for execution in range(4):
        table[0][0].bytes_view(0, 4 * total)[:] = 0
        with pytest.raises(VMError) as caught:
            commands.execute(table, device.for_each, None, Budget(CancellationToken()), spread)
        assert caught.value.status == StatusCode.INTERNAL
        assert "fail_at failed: the kernel returned 9 (workgroup 3, 2, 1)" \
            in str(caught.value), f"execution {execution}"
        indices = table[0][0].array(numpy.uint32, (total,))
        numpy.testing.assert_array_equal(
            indices[:failing_index], numpy.arange(1, failing_index + 1, dtype=numpy.uint32))
        assert indices[failing_index] == 0
    assert isinstance(commands._plan, ReplayPlan)
    # A cancelled token stops the planned dispatch before its workgroups.
    token = CancellationToken()
    token.cancel(VMError(StatusCode.CANCELLED, "call cancelled"))
    table[0][0].bytes_view(0, 4 * total)[:] = 0
    with pytest.raises(VMError) as caught:
        commands.execute(table, device.for_each, None, Budget(token), spread)
    assert caught.value.status == StatusCode.CANCELLED and "fail_at" in str(caught.value)
    assert not table[0][0].array(numpy.uint32, (total,)).any()


def team_threads() -> int:
    """The process's threads named asyncvm-team."""
    count = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                count += comm.read().strip() == "asyncvm-team"
        except FileNotFoundError:  # ended meanwhile
            pass
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc/self/task")
def test_the_threads_end_with_the_team(team_library):
    executable = SystemLibraryExecutable(team_library)
    device = Device("local-task", workers=2)
    device._team = None  # only the team made here
    gc.collect()  # earlier tests' teams end now, not during this one
    gc.disable()
    try:
        before = team_threads()
        team = WorkgroupTeam(3)
        assert team_threads() == before  # started by the first run
        device._team = team
        dispatch(device, executable, 0, (8, 1, 1), (SPINS,))
        assert team_threads() == before + 3
        device._team = team = None
        assert team_threads() == before
    finally:
        gc.enable()


def test_malformed_arguments_are_refused():
    with pytest.raises(ValueError):
        WorkgroupTeam(0)
    with pytest.raises(TypeError):
        WorkgroupTeam("two")
    team = WorkgroupTeam(1)
    with pytest.raises(RuntimeError):
        team.__init__(1)
    address = 64
    with pytest.raises(ValueError, match="past end"):
        team.run(address, address, address, address, 1, 1, 5, 4)
    with pytest.raises(ValueError, match="multiple"):
        team.run(address, address, address, address, 3, 4, 0, 4)
    with pytest.raises(ValueError, match="16 bits"):
        team.run(address, address, address, address, 1, 1, 0, 1 << 17)
    with pytest.raises(ValueError, match="null address"):
        team.run(0, address, address, address, 1, 1, 0, 4)
    with pytest.raises(TypeError):
        team.run(1.5, address, address, address, 1, 1, 0, 4)
    assert team.run(address, address, address, address, 1, 1, 3, 3) == (0, 3, 0)


def test_a_team_made_without_init_runs_dispatches_alone(team_library):
    device = Device("local-task", workers=2)
    device._team = WorkgroupTeam.__new__(WorkgroupTeam)  # no threads, no locks
    assert device._team.helpers == 0
    indices, memories = dispatch(device, SystemLibraryExecutable(team_library), 0, (8, 4, 1),
                                 (SPINS // 10,))
    numpy.testing.assert_array_equal(indices, numpy.arange(1, 33, dtype=numpy.uint32))
    assert 0xdead not in memories and len(set(memories.tolist())) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_threads(team_library):
    executable = SystemLibraryExecutable(team_library)
    device = Device("local-task", workers=2)
    dispatch(device, executable, 0, (8, 1, 1), (SPINS,))  # the parent's threads run
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            indices, memories = dispatch(device, executable, 0, (8, 4, 1), (SPINS,))
            if (indices == numpy.arange(1, 33)).all() and 0xdead not in memories:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("with_team", [True, False])
async def test_a_compiled_program_runs_on_the_team(compile_mlir, monkeypatch, with_team):
    """Its first executions spread each dispatch from Python (for_each); from
    the third on its replay plan hands the team to the C replay. A device
    with several workers but no team (its extension missing) spreads every
    execution over its Python threads instead."""
    pytest.importorskip("iree.runtime", reason="iree.runtime (iree-base-runtime) is not installed")
    import asyncvm
    from asyncvm.hal import _native_replay
    from _batch_model import LLVM_CPU
    from _iree_reference import iree_tensor_results

    vmfb = compile_mlir("multi_workgroup_layer.mlir", *LLVM_CPU)
    spread, planned = [], []
    original = _native_library._WorkgroupSlices._spread_on

    def counting(self, team):
        spread.append(self.total)
        return original(self, team)

    native_replay = _native_replay.native_replay

    def recording_replay():
        run_dispatches = native_replay()

        def run_and_record(*arguments):
            planned.append(arguments[7] if len(arguments) > 7 else None)
            return run_dispatches(*arguments)
        return None if run_dispatches is None else run_and_record

    monkeypatch.setattr(_native_library._WorkgroupSlices, "_spread_on", counting)
    monkeypatch.setattr(_native_replay, "native_replay", recording_replay)
    random = numpy.random.default_rng(5)
    arguments = [random.standard_normal(shape).astype(numpy.float32)
                 for shape in [(96, 256), (256, 160), (96, 160)]]
    expected = iree_tensor_results(vmfb, "layer", arguments)
    program = asyncvm.load(vmfb, device="local-task")
    program.device.inline_limit = 0  # on a worker every time
    if not with_team:
        program.device._team = None
    for _ in range(5):
        (result,) = await program.invoke("layer", *arguments)
        assert result.tobytes() == numpy.asarray(expected[0]).tobytes()
    if not with_team:
        assert spread == [] and planned == []
        return
    assert len(spread) >= 2 and all(total > 1 for total in spread)
    # The team, or none while the other queue worker runs an operation too.
    assert any(isinstance(team, WorkgroupTeam) for team in planned)
    assert all(team is None or isinstance(team, WorkgroupTeam) for team in planned)
