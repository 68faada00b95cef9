"""Replay plans (hal/_native_replay.py): a command buffer executed again and
again replays its llvm-cpu dispatches through ``run_dispatches`` in C.

On programs compiled by iree-compile for llvm-cpu (a system library and an
embedded ELF), run on local-sync:

* a function whose memoized command buffer holds several dispatches with
  copies between them answers bit for bit as IREE's runtime on every call,
  its command buffer gets a :class:`ReplayPlan` whose C calls serve the
  later calls, and the answers equal those of the general replay (the
  Python workgroup loop);
* command buffers recorded for one call (dynamic shapes) never get a plan;
* a planned replay cut into time slices of one workgroup still answers
  right, and other tasks on the loop run while it is paused;
* two calls at once: the second takes the general replay while the first
  holds the plan, and both answer right;
* a ``timeout=`` or a cancel scope stops a call paused inside a planned
  replay (DEADLINE_EXCEEDED for the timeout); the plan is released and the
  next call uses it again;
* an argument the compiler updates in place is a private copy: the
  caller's array never changes.

On command buffers recorded by hand against a small fake executable library
(built with the C compiler): the plan replays fills, copies and updates
between its segments as the general replay (``CommandBuffer.replay_from``)
does; bad binding tables (a slot missing, holding no buffer, an offset or a
range outside the buffer, an entry that is not a plain ``Buffer``) and a
failing kernel give the same VMError, status and message, and the same
memory afterwards as the general replay, with nothing of a segment whose
bindings do not resolve run twice; pausing, cancelling and closing a paused
plan; read-only memory bound by a dispatch gets a private copy. And
``run_dispatches`` itself refuses malformed arguments.
"""

from __future__ import annotations

import math
import time

import anyio
import numpy
import pytest

import asyncvm
from _executable_libraries import compile_library
from _spin_program import spin_program
from asyncvm.hal import Buffer, CommandBuffer, SystemLibraryExecutable
from asyncvm.hal import _native_library, _native_replay
from asyncvm.hal._buffer import WHOLE_BUFFER
from asyncvm.hal._command_buffer import BufferReference
from asyncvm.hal._native_replay import ReplayPlan
from asyncvm.vm import (Budget, CancellationToken, StatusCode, VMError, address_of,
                        aligned_array, tracing)

LLVM_CPU_BUILDS = {
    "system": ("--iree-hal-local-target-device-backends=llvm-cpu",
               "--iree-llvmcpu-link-embedded=false", "--iree-llvmcpu-target-cpu=generic"),
    "embedded": ("--iree-hal-local-target-device-backends=llvm-cpu",
                 "--iree-llvmcpu-target-cpu=generic"),
}

GENERAL_REPLAY = CommandBuffer.replay_from
"""The general replay, as tests call it for comparison (the fixture
``general_replays`` wraps the class attribute to see the plan fall back)."""

MOST_EXECUTIONS_BEFORE_A_PLAN = 5
"""A command buffer executed this many times has its plan by then."""


@pytest.fixture(autouse=True)
def native_loop(monkeypatch):
    """Every test here needs the C loop (hal._workgroup_loop) and uses it."""
    if _native_library._run_dispatches is None:
        pytest.skip("hal._workgroup_loop was not built")
    monkeypatch.setattr(_native_library, "NATIVE_WORKGROUP_LOOP", True)


@pytest.fixture
def replays(monkeypatch) -> list:
    """Every ``run_dispatches`` call a plan makes, as (first dispatch, first
    workgroup, what it returned)."""
    calls = []
    native_replay = _native_replay.native_replay

    def recording_replay():
        run_dispatches = native_replay()
        if run_dispatches is None:
            return None

        def run_and_record(*arguments):
            outcome = run_dispatches(*arguments)
            # None (all ran) recorded as the tuple it stands for.
            calls.append((arguments[3], arguments[4],
                          (0, arguments[1], 0, 0) if outcome is None else outcome))
            return outcome
        return run_and_record

    monkeypatch.setattr(_native_replay, "native_replay", recording_replay)
    return calls


@pytest.fixture
def general_replays(monkeypatch) -> list:
    """The command position of every general replay a plan hands over to."""
    positions = []

    def replay_from(self, position, binding_table, budget):
        positions.append(position)
        return GENERAL_REPLAY(self, position, binding_table, budget)

    monkeypatch.setattr(CommandBuffer, "replay_from", replay_from)
    return positions


@pytest.fixture
def executed(monkeypatch) -> list:
    """Every command buffer executed during the test, once each, in order."""
    seen = []
    execute = CommandBuffer.execute

    def recording_execute(self, *arguments, **keywords):
        if all(other is not self for other in seen):
            seen.append(self)
        return execute(self, *arguments, **keywords)

    monkeypatch.setattr(CommandBuffer, "execute", recording_execute)
    return seen


def plans_of(command_buffers) -> list[ReplayPlan]:
    return [commands._plan for commands in command_buffers
            if isinstance(commands._plan, ReplayPlan)]


def same_bits(actual, expected) -> bool:
    actual, expected = numpy.asarray(actual), numpy.asarray(expected)
    return actual.dtype == expected.dtype and actual.shape == expected.shape \
        and actual.tobytes() == expected.tobytes()


def assert_same_results(actual, expected, where: str) -> None:
    assert len(actual) == len(expected), where
    for index, (result, wanted) in enumerate(zip(actual, expected)):
        assert same_bits(result, wanted), f"{where}: result {index} differs"


# == Programs compiled for llvm-cpu ===================================================

CHAIN_PROGRAM = """
// One memoized command buffer: two dispatches (a matmul with bias and relu,
// then a column sum), three copies (a concatenation of inputs and the sum),
// then a third dispatch (an outer product of the concatenation).
func.func @chain(%x: tensor<64x48xf32>, %w: tensor<48x32xf32>, %b: tensor<32xf32>)
    -> (tensor<64x32xf32>, tensor<32xf32>, tensor<96xf32>, tensor<96x96xf32>) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<64x32xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<64x32xf32>) -> tensor<64x32xf32>
  %product = linalg.matmul ins(%x, %w : tensor<64x48xf32>, tensor<48x32xf32>)
                           outs(%init : tensor<64x32xf32>) -> tensor<64x32xf32>
  %bias = linalg.broadcast ins(%b : tensor<32xf32>) outs(%empty : tensor<64x32xf32>)
                           dimensions = [0]
  %sum = arith.addf %product, %bias : tensor<64x32xf32>
  %relu = arith.maximumf %sum, %init : tensor<64x32xf32>
  %sum_empty = tensor.empty() : tensor<32xf32>
  %sum_init = linalg.fill ins(%zero : f32) outs(%sum_empty : tensor<32xf32>) -> tensor<32xf32>
  %columns = linalg.reduce ins(%relu : tensor<64x32xf32>) outs(%sum_init : tensor<32xf32>)
                           dimensions = [0]
    (%element: f32, %accumulator: f32) {
      %added = arith.addf %element, %accumulator : f32
      linalg.yield %added : f32
    }
  %joined = tensor.concat dim(0) %b, %columns, %b
      : (tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<96xf32>
  %outer_empty = tensor.empty() : tensor<96x96xf32>
  %outer = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (j)>,
                                            affine_map<(i, j) -> (i, j)>],
                           iterator_types = ["parallel", "parallel"]}
      ins(%joined, %joined : tensor<96xf32>, tensor<96xf32>)
      outs(%outer_empty : tensor<96x96xf32>) {
    ^bb0(%left: f32, %right: f32, %out: f32):
      %times = arith.mulf %left, %right : f32
      linalg.yield %times : f32
  } -> tensor<96x96xf32>
  return %relu, %columns, %joined, %outer
      : tensor<64x32xf32>, tensor<32xf32>, tensor<96xf32>, tensor<96x96xf32>
}
"""

SPIN_ELEMENTS = 1 << 16
SPIN_PROGRAM = spin_program(SPIN_ELEMENTS)
"""One dispatch of 2048 workgroups on a generic CPU, each element iterated
as many times as %n says."""

IN_PLACE_ELEMENTS = 1 << 15
IN_PLACE_PROGRAM = f"""
// A scatter into an argument: IREE 3.13 binds the argument's buffer as the
// dispatch's output and updates it in place (128 KiB: more than a call
// copies eagerly, so the caller's memory is what gets bound).
func.func @scatter_into(%original: tensor<{IN_PLACE_ELEMENTS}xi32>, %updates: tensor<3xi32>)
    -> tensor<{IN_PLACE_ELEMENTS}xi32> {{
  %indices = arith.constant dense<[[1], [5000], [{IN_PLACE_ELEMENTS - 1}]]> : tensor<3x1xi32>
  %0 = iree_linalg_ext.scatter dimension_map = [0] unique_indices(true)
      ins(%updates, %indices : tensor<3xi32>, tensor<3x1xi32>)
      outs(%original : tensor<{IN_PLACE_ELEMENTS}xi32>) {{
    ^bb0(%update: i32, %current: i32):
      %sum = arith.addi %update, %current : i32
      iree_linalg_ext.yield %sum : i32
  }} -> tensor<{IN_PLACE_ELEMENTS}xi32>
  return %0 : tensor<{IN_PLACE_ELEMENTS}xi32>
}}
"""


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    directory = tmp_path_factory.mktemp("replay-programs")
    paths = {}
    for name, text in [("chain", CHAIN_PROGRAM), ("spin", SPIN_PROGRAM),
                       ("in_place", IN_PLACE_PROGRAM)]:
        paths[name] = directory / f"{name}.mlir"
        paths[name].write_text(text)
    return paths


@pytest.fixture(scope="module", params=sorted(LLVM_CPU_BUILDS))
def chain_vmfb(request, compile_mlir, sources):
    return compile_mlir(sources["chain"], *LLVM_CPU_BUILDS[request.param])


@pytest.fixture(scope="module")
def system_chain_vmfb(compile_mlir, sources):
    return compile_mlir(sources["chain"], *LLVM_CPU_BUILDS["system"])


@pytest.fixture(scope="module")
def spin_vmfb(compile_mlir, sources):
    return compile_mlir(sources["spin"], *LLVM_CPU_BUILDS["system"])


@pytest.fixture(scope="module")
def in_place_vmfb(compile_mlir, sources):
    return compile_mlir(sources["in_place"], *LLVM_CPU_BUILDS["system"])


@pytest.fixture(scope="module")
def iree_results():
    """``iree_results(vmfb, function, arguments)``: IREE's results (numpy
    arrays), memoized."""
    pytest.importorskip("iree.runtime", reason="iree.runtime (iree-base-runtime) is not installed")
    from _iree_reference import iree_tensor_results

    memo = {}

    def results(vmfb, function, arguments):
        key = (str(vmfb), function, tuple(argument.tobytes() for argument in arguments))
        if key not in memo:
            memo[key] = [numpy.array(result, copy=True)
                         for result in iree_tensor_results(vmfb, function, arguments)]
        return memo[key]

    return results


def chain_arguments(seed: int) -> list[numpy.ndarray]:
    random = numpy.random.default_rng(seed)
    return [random.standard_normal(shape).astype(numpy.float32)
            for shape in [(64, 48), (48, 32), (32,)]]


def spin_arguments(seed: int, iterations: int) -> list[numpy.ndarray]:
    random = numpy.random.default_rng(seed)
    return [random.uniform(-4, 4, SPIN_ELEMENTS).astype(numpy.float32),
            random.integers(0, iterations + 1, SPIN_ELEMENTS, dtype=numpy.int32)]


RUNAWAY_ITERATIONS = 1 << 16
"""The spin program over this many iterations per element runs for seconds
(a few milliseconds per workgroup): long enough for any timeout here."""


async def invoke_copied(program, function: str, arguments) -> list[numpy.ndarray]:
    return [numpy.array(result, copy=True)
            for result in await program.invoke(function, *arguments)]


async def warm_up(program, function: str, arguments, executed: list) -> ReplayPlan:
    """Calls ``function`` until its command buffer has a plan; returns it."""
    for _ in range(MOST_EXECUTIONS_BEFORE_A_PLAN):
        await program.invoke(function, *arguments)
        plans = plans_of(executed)
        if plans:
            assert len(plans) == 1
            return plans[0]
    raise AssertionError(f"no replay plan after {MOST_EXECUTIONS_BEFORE_A_PLAN} calls")


class PlanWatcher:
    """A task that takes turns on the event loop (``anyio.sleep(0)``) and
    counts the turns it took while ``plan`` was held by a paused replay."""

    def __init__(self, plan: ReplayPlan) -> None:
        self.plan = plan
        self.turns_while_in_use = 0

    async def run(self) -> None:
        while True:
            await anyio.sleep(0)
            if self.plan._in_use.locked():
                self.turns_while_in_use += 1

    async def until_in_use(self) -> None:
        while not self.plan._in_use.locked():
            await anyio.sleep(0)


async def answer_through_the_plan(program, function: str, arguments, expected,
                                  replays: list) -> None:
    """One call without time slices: the plan answers it as IREE does, with
    one C call for its one segment."""
    program.device.time_slice = math.inf
    calls_before = len(replays)
    assert_same_results(await invoke_copied(program, function, arguments), expected,
                        "the call through the plan")
    assert [outcome for _, _, outcome in replays[calls_before:]] == [(0, 1, 0, 0)]


async def released(plan: ReplayPlan) -> None:
    """Waits (up to 10 s) until no replay holds ``plan``: a stopped replay
    lets it go at its next slice."""
    with anyio.fail_after(10):
        while plan._in_use.locked():
            await anyio.sleep(0.001)


@pytest.mark.anyio
async def test_planned_program_matches_iree_and_the_general_replay(
        chain_vmfb, iree_results, executed, replays, general_replays, monkeypatch):
    argument_sets = [chain_arguments(seed) for seed in (1, 2)]
    expected = [iree_results(chain_vmfb, "chain", arguments) for arguments in argument_sets]
    program = asyncvm.load(chain_vmfb)
    planned_results = []
    for call in range(6):
        which = call % 2
        results = await invoke_copied(program, "chain", argument_sets[which])
        assert_same_results(results, expected[which], f"call {call}")
        planned_results.append(results)
    # One command buffer, executed on every call; its plan served the later
    # calls with no fall-back to the general replay.
    assert len(executed) == 1
    (plan,) = plans_of(executed)
    segments = [step for _, step in plan.steps if isinstance(step, _native_replay._Segment)]
    host_commands = [step[0] for _, step in plan.steps
                     if not isinstance(step, _native_replay._Segment)]
    assert [segment.count for segment in segments] == [2, 1]
    assert host_commands == ["copy", "copy", "copy"]
    statuses = {outcome[0] for _, _, outcome in replays}
    assert 0 in statuses and statuses <= {0, _native_replay._STOPPED}  # a slice may end
    assert general_replays == []
    assert not plan._in_use.locked()

    # The general replay of the same program, and of a fresh one that never
    # makes a plan (the Python workgroup loop), give the same bits.
    monkeypatch.setattr(_native_library, "NATIVE_WORKGROUP_LOOP", False)
    planned_calls = len(replays)
    general_program = asyncvm.load(chain_vmfb)
    for call in range(4):
        which = call % 2
        for candidate in (program, general_program):
            results = await invoke_copied(candidate, "chain", argument_sets[which])
            assert_same_results(results, planned_results[which], f"general call {call}")
    assert len(replays) == planned_calls
    assert general_replays == [0] * 4  # the plan handed every call of `program` over
    assert len(plans_of(executed)) == 1  # the fresh program's command buffer has none


@pytest.mark.anyio
async def test_command_buffers_recorded_per_call_never_get_a_plan(
        compile_mlir, iree_results, executed, replays):
    # runaway.mlir has dynamic shapes: a one-shot command buffer per call.
    vmfb = compile_mlir("runaway.mlir", *LLVM_CPU_BUILDS["system"])
    arguments = [numpy.array([-3.0, 0.25, 1.0, 40.0], numpy.float32),
                 numpy.array([0, 1, 5, 30], numpy.int32)]
    expected = iree_results(vmfb, "spin", arguments)
    program = asyncvm.load(vmfb)
    for call in range(4):
        assert_same_results(await invoke_copied(program, "spin", arguments), expected,
                            f"call {call}")
    assert len(executed) == 4
    assert plans_of(executed) == []
    assert replays == []


SMALL_PROGRAM = """
// One dispatch of one workgroup: nothing for local-task to spread.
func.func @scale_add(%x: tensor<8xf32>, %y: tensor<8xf32>) -> tensor<8xf32> {
  %twice = arith.addf %x, %x : tensor<8xf32>
  %sum = arith.addf %twice, %y : tensor<8xf32>
  return %sum : tensor<8xf32>
}
"""


@pytest.mark.anyio
async def test_local_task_runs_plans_serial_or_spread(
        compile_mlir, tmp_path, chain_vmfb, iree_results, executed, replays, general_replays):
    source = tmp_path / "small.mlir"
    source.write_text(SMALL_PROGRAM)
    small_vmfb = compile_mlir(source, *LLVM_CPU_BUILDS["system"])
    small_arguments = [numpy.arange(8, dtype=numpy.float32) - 2.5,
                       numpy.full(8, 0.125, numpy.float32)]
    small_expected = iree_results(small_vmfb, "scale_add", small_arguments)
    program = asyncvm.load(small_vmfb, device="local-task")
    # On the workers every time (a short execution would run inline, and so
    # take the plan whatever its dispatches: see test_inline_executions.py).
    program.device.inline_limit = 0
    for call in range(MOST_EXECUTIONS_BEFORE_A_PLAN + 2):
        assert_same_results(await invoke_copied(program, "scale_add", small_arguments),
                            small_expected, f"local-task call {call}")
    (plan,) = plans_of(executed)
    # The plan served the later calls, on the queue's worker thread.
    assert plan.serial and replays and {outcome for _, _, outcome in replays} == {(0, 1, 0, 0)}
    assert general_replays == [] and not plan._in_use.locked()
    # The chain program's dispatches have many workgroups: on local-task its
    # plan spreads them over the device's workgroup team, in C, with the same
    # answers (a device without one runs them on the worker alone).
    executed.clear()
    replays.clear()
    chain_inputs = chain_arguments(3)
    chain_expected = iree_results(chain_vmfb, "chain", chain_inputs)
    program = asyncvm.load(chain_vmfb, device="local-task")
    program.device.inline_limit = 0
    for call in range(MOST_EXECUTIONS_BEFORE_A_PLAN + 1):
        assert_same_results(await invoke_copied(program, "chain", chain_inputs),
                            chain_expected, f"local-task chain call {call}")
    (plan,) = plans_of(executed)
    assert not plan.serial and replays and general_replays == []
    assert not plan._in_use.locked()


@pytest.mark.anyio
async def test_paused_planned_replay_lets_other_tasks_run(
        system_chain_vmfb, iree_results, executed, replays, general_replays):
    arguments = chain_arguments(3)
    expected = iree_results(system_chain_vmfb, "chain", arguments)
    program = asyncvm.load(system_chain_vmfb)
    plan = await warm_up(program, "chain", arguments, executed)
    program.device.time_slice = 0  # every slice runs one workgroup
    replays.clear()
    watcher = PlanWatcher(plan)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(watcher.run)
            results = await invoke_copied(program, "chain", arguments)
            group.cancel_scope.cancel()
    assert_same_results(results, expected, "time-sliced call")
    assert watcher.turns_while_in_use > 0
    # The segments were resumed from the workgroups where they paused.
    assert any((dispatch, workgroup) != (0, 0) for dispatch, workgroup, _ in replays)
    assert any(outcome[0] == _native_replay._STOPPED for _, _, outcome in replays)
    assert general_replays == []
    assert not plan._in_use.locked()


@pytest.mark.anyio
async def test_concurrent_calls_take_turns_at_the_plan(
        spin_vmfb, iree_results, executed, replays, general_replays):
    first, second = spin_arguments(4, 3), spin_arguments(5, 3)
    expected_first = iree_results(spin_vmfb, "spin", first)
    expected_second = iree_results(spin_vmfb, "spin", second)
    program = asyncvm.load(spin_vmfb)
    plan = await warm_up(program, "spin", first, executed)
    program.device.time_slice = 0  # the first call pauses after every workgroup
    general_replays.clear()
    watcher = PlanWatcher(plan)
    results = {}

    async def call(name, arguments):
        results[name] = await invoke_copied(program, "spin", arguments)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(call, "first", first)
            await watcher.until_in_use()
            group.start_soon(call, "second", second)
    assert_same_results(results["first"], expected_first, "the call holding the plan")
    assert_same_results(results["second"], expected_second, "the call beside it")
    assert general_replays == [0]  # the second call replayed in Python, from the start
    assert not plan._in_use.locked()
    # Once free, the plan serves the next call again.
    await answer_through_the_plan(program, "spin", second, expected_second, replays)
    assert general_replays == [0]


async def planned_spin(spin_vmfb, iree_results, executed):
    """A fresh program of ``spin`` warmed up to its plan: (arguments, IREE's
    answer to them, the program, the plan)."""
    arguments = spin_arguments(6, 3)
    expected = iree_results(spin_vmfb, "spin", arguments)
    program = asyncvm.load(spin_vmfb)
    return arguments, expected, program, await warm_up(program, "spin", arguments, executed)


@pytest.mark.anyio
async def test_timeout_stops_a_paused_planned_replay(
        spin_vmfb, iree_results, executed, replays, general_replays):
    arguments, expected, program, plan = await planned_spin(spin_vmfb, iree_results, executed)
    watcher = PlanWatcher(plan)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(watcher.run)
            with pytest.raises(VMError) as caught:
                await program.invoke("spin", *spin_arguments(7, RUNAWAY_ITERATIONS),
                                     timeout=0.2)
            group.cancel_scope.cancel()
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
    assert "module.spin" in str(caught.value)
    assert watcher.turns_while_in_use > 0  # it was stopped inside the planned replay
    assert general_replays == []
    await released(plan)
    await answer_through_the_plan(program, "spin", arguments, expected, replays)
    assert general_replays == []
    assert plans_of(executed) == [plan]


@pytest.mark.anyio
async def test_cancel_scope_stops_a_paused_planned_replay(
        spin_vmfb, iree_results, executed, replays, general_replays):
    arguments, expected, program, plan = await planned_spin(spin_vmfb, iree_results, executed)
    watcher = PlanWatcher(plan)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            with anyio.CancelScope() as scope:

                async def cancel_once_paused() -> None:
                    await watcher.until_in_use()
                    scope.cancel()

                group.start_soon(cancel_once_paused)
                await program.invoke("spin", *spin_arguments(9, RUNAWAY_ITERATIONS))
    assert scope.cancelled_caught
    await released(plan)
    await answer_through_the_plan(program, "spin", arguments, expected, replays)
    assert general_replays == []


@pytest.mark.anyio
async def test_argument_updated_in_place_leaves_the_callers_array_alone(
        in_place_vmfb, iree_results, executed, replays, general_replays):
    original = aligned_array(numpy.arange(IN_PLACE_ELEMENTS, dtype=numpy.int32) * 3)
    before = original.copy()
    updates = numpy.array([10, -20, 30], numpy.int32)
    expected = iree_results(in_place_vmfb, "scatter_into", [original, updates])
    assert not same_bits(expected[0], before)  # the call does change the values
    program = asyncvm.load(in_place_vmfb)
    for call in range(5):
        results = await invoke_copied(program, "scatter_into", [original, updates])
        assert_same_results(results, expected, f"call {call}")
        assert same_bits(original, before), f"call {call} wrote the caller's array"
    assert len(plans_of(executed)) == 1
    assert replays and general_replays == []


# == Command buffers recorded by hand ==================================================

FAKE_LIBRARY = r"""
/* Export 0 ("stamp") writes constants[0] + (x | y << 8 | z << 16) at its
 * workgroup's linear index of binding 0 (uint32). Export 1 ("accumulate")
 * adds element i of binding 1 to element i of binding 0 (uint32), i its
 * linear index. Both return 5 unless every binding holds exactly one
 * uint32 per workgroup. Export 2 ("fail_at") is "stamp" except at workgroup
 * (constants[1], constants[2], constants[3]), where it writes nothing and
 * returns 9. */
#include <stddef.h>
#include <stdint.h>

#include "library_abi.h"

static uint32_t linear(const struct dispatch *d, const struct workgroup *w) {
  return ((uint32_t)w->z * d->count_y + w->y) * d->count_x + w->x;
}
static int sized(const struct dispatch *d) {
  size_t expected = 4u * (size_t)d->count_x * d->count_y * d->count_z;
  for (int binding = 0; binding < d->binding_count; ++binding)
    if (d->lengths[binding] != expected) return 0;
  return 1;
}
static int stamp(const void *e, const struct dispatch *d, const struct workgroup *w) {
  (void)e;
  if (!sized(d)) return 5;
  ((uint32_t *)d->bindings[0])[linear(d, w)] =
      d->constants[0] + (w->x | w->y << 8 | (uint32_t)w->z << 16);
  return 0;
}
static int accumulate(const void *e, const struct dispatch *d, const struct workgroup *w) {
  (void)e;
  if (!sized(d)) return 5;
  uint32_t i = linear(d, w);
  ((uint32_t *)d->bindings[0])[i] += ((const uint32_t *)d->bindings[1])[i];
  return 0;
}
static int fail_at(const void *e, const struct dispatch *d, const struct workgroup *w) {
  if (w->x == d->constants[1] && w->y == d->constants[2] && w->z == d->constants[3]) return 9;
  return stamp(e, d, w);
}

static const struct header header = {6, "replay", 0, 0};
static const entry entries[] = {stamp, accumulate, fail_at};
static const struct attributes attributes[3] = {{0, 0, 1, 1, 1, 1, 1, 0, {0}},
                                                 {0, 0, 0, 2, 1, 1, 1, 0, {0}},
                                                 {0, 0, 4, 1, 1, 1, 1, 0, {0}}};
static const char *const names[] = {"stamp", "accumulate", "fail_at"};
static const struct library library = {
  &header, {0, NULL}, {3, entries, attributes, NULL, NULL, names, NULL, NULL, NULL, NULL},
  0, {0}};

const struct header **iree_hal_executable_library_query(uint32_t version, const void *env) {
  (void)env;
  return version >= 6 ? (const struct header **)&library : NULL;
}
"""

STAMP, ACCUMULATE, FAIL_AT = 0, 1, 2
ONE_SHOT = 1
"""IREE_HAL_COMMAND_BUFFER_MODE_ONE_SHOT."""
GRID = (4, 3, 2)
COUNT = 24
SIZE = 4 * COUNT
PAIR = (2, 1, 1)
SQUARE = (2, 2, 1)


@pytest.fixture(scope="module")
def fake_library(tmp_path_factory) -> bytes:
    return compile_library(tmp_path_factory.mktemp("replay-library"), "replay", FAKE_LIBRARY)


@pytest.fixture(scope="module")
def executable(fake_library) -> SystemLibraryExecutable:
    executable = SystemLibraryExecutable(fake_library)
    assert executable.function_names == ["stamp", "accumulate", "fail_at"]
    return executable


def ids(grid) -> numpy.ndarray:
    count_x, count_y, count_z = grid
    return numpy.array([x | y << 8 | z << 16 for z in range(count_z) for y in range(count_y)
                        for x in range(count_x)], numpy.uint32)


def slot(index: int, offset: int = 0, length: int = -1) -> BufferReference:
    return BufferReference(None, index, offset, length)


class Scene:
    """The memory one execution of :func:`record_commands` works on: four
    binding-table slots (the first a subspan, bound at an offset) and the
    buffer recorded in the commands (``direct``, shared by executions)."""

    def __init__(self, direct: Buffer, fourth: Buffer | None = None) -> None:
        self.first = Buffer.allocate(24 + 64 + SIZE).subspan(24, 64 + SIZE)
        self.second = Buffer.allocate(SIZE)
        self.second.array(numpy.uint32, (COUNT,))[:] = numpy.arange(COUNT) * 3
        self.third = Buffer.allocate(32 + SIZE + 16)
        self.fourth = Buffer.allocate(8) if fourth is None else fourth
        self.direct = direct
        direct.bytes_view()[:] = 0x55

    def table(self) -> list:
        return [(self.first, 64, SIZE), (self.second, 0, -1), (self.third, 0, -1),
                (self.fourth, 0, -1)]

    def contents(self) -> list[bytes]:
        return [bytes(buffer.bytes_view()) for buffer in
                (self.first, self.second, self.third, self.fourth, self.direct)]

    def expected(self) -> list[bytes]:
        """The contents after one execution of :func:`record_commands`."""
        stamps = 1000 + ids(GRID)
        second = numpy.arange(COUNT, dtype=numpy.uint32) * 3 + stamps
        first = numpy.zeros(16 + COUNT, numpy.uint32)
        first[16:] = stamps
        third = numpy.zeros(8 + COUNT + 4, numpy.uint32)
        third[:2] = 0xFFFFFFFF
        third[8:8 + COUNT] = second
        third[8 + COUNT:] = 7 + ids(SQUARE)
        return [first.tobytes(), second.tobytes(), third.tobytes(), (3 + ids(PAIR)).tobytes(),
                (1 + second).tobytes()]


def record_commands(executable, direct: Buffer, modes: int = 0) -> CommandBuffer:
    """Three segments of dispatches with a copy, a fill and an update
    between them (see :meth:`Scene.expected`)."""
    commands = CommandBuffer(modes)
    commands.dispatch(executable, STAMP, GRID, (1000,), [slot(0)])
    commands.barrier()
    commands.dispatch(executable, ACCUMULATE, (COUNT, 1, 1), (), [slot(1, 0, SIZE), slot(0)])
    commands.dispatch(executable, STAMP, PAIR, (3,), [slot(3)])
    commands.barrier()
    commands.copy(slot(1, 0, SIZE), slot(2, 32, SIZE), SIZE)
    commands.fill(BufferReference(direct, 0, 0, SIZE), b"\x01\x00\x00\x00")
    commands.dispatch(executable, ACCUMULATE, (COUNT, 1, 1), (),
                      [BufferReference(direct, 0, 0, SIZE), slot(2, 32, SIZE)])
    commands.update(b"\xff" * 8, slot(2, 0, 8))
    commands.dispatch(executable, STAMP, SQUARE, (7,), [slot(2, 128)])
    commands.finalize()
    return commands


def warm_up_commands(commands: CommandBuffer, direct: Buffer) -> ReplayPlan:
    """Executes ``commands`` on fresh scenes until it has its plan."""
    for _ in range(MOST_EXECUTIONS_BEFORE_A_PLAN):
        scene = Scene(direct)
        assert commands.execute(scene.table()) is None
        assert scene.contents() == scene.expected()
        if isinstance(commands._plan, ReplayPlan):
            return commands._plan
    raise AssertionError(f"no replay plan after {MOST_EXECUTIONS_BEFORE_A_PLAN} executions")


@pytest.fixture
def direct() -> Buffer:
    return Buffer.allocate(SIZE)


@pytest.fixture
def commands(executable, direct) -> CommandBuffer:
    return record_commands(executable, direct)


@pytest.fixture
def plan(commands, direct) -> ReplayPlan:
    return warm_up_commands(commands, direct)


def outcome_of(run) -> tuple | None:
    """None if ``run()`` returned, else the (status, message) it raised."""
    try:
        run()
    except VMError as error:
        return error.status, error.message
    return None


def drive(rest, budget: Budget) -> int:
    """Runs a paused execution to its end as local-sync's slices would, each
    slice past its end at once (so one workgroup long); returns how many
    times it paused."""
    pauses = 0
    while rest is not None:
        budget.end = time.perf_counter()
        try:
            next(rest)
        except StopIteration:
            break
        pauses += 1
    return pauses


def test_plan_replays_like_the_general_replay(
        executable, commands, direct, plan, replays, general_replays):
    replays.clear()
    segments = [step for _, step in plan.steps if isinstance(step, _native_replay._Segment)]
    assert [segment.count for segment in segments] == [3, 1, 1]
    assert [step[0] for _, step in plan.steps
            if not isinstance(step, _native_replay._Segment)] == ["copy", "fill", "update"]
    assert plan.dispatch_slots == {0, 1, 2, 3}
    # The plan's executions accumulate into the second slot as the general
    # replay's do.
    planned, general = Scene(direct), Scene(direct)
    assert commands.execute(planned.table()) is None
    assert planned.contents() == planned.expected()
    planned_contents = []
    general_contents = []
    for _ in range(2):
        assert commands.execute(planned.table()) is None
        planned_contents.append(planned.contents())
    GENERAL_REPLAY(commands, 0, general.table(), None)
    for _ in range(2):
        assert GENERAL_REPLAY(commands, 0, general.table(), None) is None
        general_contents.append(general.contents())
    assert planned_contents == general_contents
    assert [outcome for _, _, outcome in replays] == [(0, 3, 0, 0), (0, 1, 0, 0),
                                                      (0, 1, 0, 0)] * 3
    assert general_replays == []


def test_an_execution_without_the_plan_conditions_runs_the_general_replay(
        commands, direct, plan, replays, general_replays, monkeypatch):
    replays.clear()
    hooked = []

    def hook(executable, ordinal, state):
        hooked.append(executable.function_names[ordinal])
        return executable.dispatch(ordinal, state)

    def in_two_slices(count, body):
        body(0, count // 2)
        body(count // 2, count)

    for keywords in [dict(dispatch_hook=hook), dict(for_each=in_two_slices)]:
        scene = Scene(direct)
        assert commands.execute(scene.table(), **keywords) is None
        assert scene.contents() == scene.expected()
    assert hooked == ["stamp", "accumulate", "stamp", "accumulate", "stamp"]
    with tracing() as tracer:  # a tracer sees every dispatch
        scene = Scene(direct)
        assert commands.execute(scene.table()) is None
        assert scene.contents() == scene.expected()
    assert [event["name"] for event in tracer.events if event["cat"] == "dispatch"] == \
        ["stamp", "accumulate", "stamp", "accumulate", "stamp"]
    assert replays == [] and general_replays == []
    # Without the C loop the plan hands the whole execution over.
    monkeypatch.setattr(_native_library, "NATIVE_WORKGROUP_LOOP", False)
    scene = Scene(direct)
    assert commands.execute(scene.table()) is None
    assert scene.contents() == scene.expected()
    assert replays == [] and general_replays == [0]


def test_command_buffers_that_get_no_plan(executable, replays):
    direct = Buffer.allocate(SIZE)
    # A one-shot command buffer (IREE executes it once): no plan, even if
    # it is executed again and again.
    once = record_commands(executable, direct, ONE_SHOT)
    for _ in range(MOST_EXECUTIONS_BEFORE_A_PLAN + 1):
        scene = Scene(direct)
        once.execute(scene.table())
        assert scene.contents() == scene.expected()
    assert not isinstance(once._plan, ReplayPlan)
    # Executions that spread workgroups (local-task's for_each) over a
    # command buffer with dispatches of several workgroups: the plan is
    # made, as for any reusable buffer, but never runs them.
    parallel = record_commands(executable, direct)
    spread = []
    for _ in range(MOST_EXECUTIONS_BEFORE_A_PLAN + 1):
        scene = Scene(direct)
        parallel.execute(scene.table(),
                         for_each=lambda count, body: (spread.append(count), body(0, count)))
        assert scene.contents() == scene.expected()
    assert isinstance(parallel._plan, ReplayPlan) and not parallel._plan.serial
    assert spread[-5:] == [COUNT, COUNT, 2, COUNT, 4]
    # Not finalized, however often it is executed.
    open_commands = CommandBuffer()
    target = Buffer.allocate(SIZE)
    open_commands.dispatch(executable, STAMP, GRID, (1,), [BufferReference(target, 0, 0, SIZE)])
    # No dispatch at all; a dispatch with its workgroup count in a buffer.
    host_only = CommandBuffer()
    host_only.fill(BufferReference(target, 0, 0, SIZE), b"\x02")
    host_only.finalize()
    counts = Buffer.wrap(numpy.array(GRID, numpy.uint32))
    indirect = CommandBuffer()
    indirect.dispatch(executable, STAMP, BufferReference(counts, 0, 0, 12), (1,),
                      [BufferReference(target, 0, 0, SIZE)])
    indirect.finalize()
    for commands in (open_commands, host_only, indirect):
        for _ in range(MOST_EXECUTIONS_BEFORE_A_PLAN + 1):
            assert commands.execute() is None
        assert not isinstance(commands._plan, ReplayPlan)
    assert replays == []


def test_serial_plans_serve_executions_that_spread_workgroups(executable, replays,
                                                               general_replays):
    # Dispatches of one workgroup each leave nothing for local-task's
    # for_each to spread: such a plan runs them, in C, on the calling thread.
    commands = CommandBuffer()
    commands.dispatch(executable, STAMP, (1, 1, 1), (40,), [slot(0, 0, 4)])
    commands.dispatch(executable, ACCUMULATE, (1, 1, 1), (), [slot(1, 0, 4), slot(0, 0, 4)])
    commands.fill(slot(2, 0, 8), b"\x03\x00")
    commands.dispatch(executable, STAMP, (1, 1, 1), (7,), [slot(2, 4, 4)])
    commands.finalize()
    spread = []

    def for_each(count, body):
        spread.append(count)
        body(0, count)

    for execution in range(MOST_EXECUTIONS_BEFORE_A_PLAN):
        first, second, third = (Buffer.allocate(4), Buffer.allocate(4), Buffer.allocate(8))
        second.array(numpy.uint32, (1,))[:] = execution
        table = [(first, 0, -1), (second, 0, -1), (third, 0, -1)]
        assert commands.execute(table, for_each=for_each, budget=Budget()) is None
        assert first.array(numpy.uint32, (1,)).tolist() == [40]
        assert second.array(numpy.uint32, (1,)).tolist() == [40 + execution]
        assert third.array(numpy.uint16, (4,)).tolist() == [3, 3, 7, 0]
    assert isinstance(commands._plan, ReplayPlan) and commands._plan.serial
    # The general replay spread each dispatch until the plan came; then the
    # plan ran all three, in two segments, with no for_each.
    planned = MOST_EXECUTIONS_BEFORE_A_PLAN - len(spread) // 3
    assert spread == [1] * (3 * (MOST_EXECUTIONS_BEFORE_A_PLAN - planned))
    assert planned >= 1 and len(replays) == 2 * planned and general_replays == []


class OtherBuffer(Buffer):
    """A buffer of another class: the plan leaves such a table to the general replay."""

    __slots__ = ()


BAD_TABLES = {
    # Slot 3 is bound by the last dispatch of the first segment, after an
    # accumulation that must not run twice.
    "missing slot": lambda scene: scene.table()[:3],
    "no table": lambda scene: None,
    "slot holding no buffer": lambda scene: scene.table()[:3] + [(None, 0, 0)],
    "offset past the buffer": lambda scene: scene.table()[:3] + [(scene.fourth, 12, -1)],
    "range past the buffer": lambda scene: scene.table()[:3] + [(scene.fourth, 4, 8)],
    "range the kernel refuses": lambda scene: scene.table()[:3] + [(scene.fourth, 0, 4)],
    # Slot 2 is bound by the last segment only, after the host commands.
    "range past the buffer in the last segment":
        lambda scene: scene.table()[:2] + [(scene.third, 0, 128), scene.table()[3]],
    # Slot 2 is a copy's target before any dispatch binds it.
    "host command slot holding no buffer":
        lambda scene: scene.table()[:2] + [(None, 0, 0), scene.table()[3]],
    # Tables the plan hands to the general replay whole: an offset it does
    # not take (the general replay's error), and two that are no errors.
    "negative offset": lambda scene: scene.table()[:3] + [(scene.fourth, -4, -1)],
    "buffer of another class": lambda scene: with_fourth(scene, OtherBuffer.allocate(8)),
    "whole-buffer length": lambda scene: scene.table()[:3] + [(scene.fourth, 0, WHOLE_BUFFER)],
}
HANDED_OVER = {"negative offset", "buffer of another class", "whole-buffer length"}


def with_fourth(scene: Scene, fourth: Buffer) -> list:
    scene.fourth = fourth
    return scene.table()


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_binding_table_fails_as_in_the_general_replay(
        case, commands, direct, plan, replays, general_replays):
    make_table = BAD_TABLES[case]
    general = Scene(direct)
    general_outcome = outcome_of(lambda: GENERAL_REPLAY(commands, 0, make_table(general), None))
    general_contents = general.contents()
    replays.clear()
    planned = Scene(direct)
    planned_outcome = outcome_of(lambda: commands.execute(make_table(planned)))
    assert planned_outcome == general_outcome
    # Same memory afterwards: in particular the accumulation before the bad
    # binding ran once.
    assert planned.contents() == general_contents
    assert not plan._in_use.locked()
    if general_outcome is None:
        assert planned.contents() == planned.expected()
    statuses = [outcome[0] for _, _, outcome in replays]
    if case in HANDED_OVER:
        assert statuses == [] and general_replays == [0]
    elif case == "range past the buffer in the last segment":
        assert statuses == [0, 0, _native_replay._BAD_BINDING]
        assert general_replays == [plan.steps[-1][0]]
    elif case == "host command slot holding no buffer":
        assert statuses == [0] and general_replays == []
    elif case == "range the kernel refuses":
        assert general_outcome == (StatusCode.INTERNAL, "dispatch of stamp failed: the kernel "
                                                        "returned 5 (workgroup 0, 0, 0)")
        assert statuses == [_native_replay._KERNEL_FAILED] and general_replays == []
    else:  # nothing of the first segment ran in C: the general replay took it over
        assert statuses == [_native_replay._BAD_BINDING] and general_replays == [0]
    # The plan serves the next good execution.
    replays.clear()
    scene = Scene(direct)
    assert commands.execute(scene.table()) is None
    assert scene.contents() == scene.expected()
    assert [outcome[0] for _, _, outcome in replays] == [0, 0, 0]


def record_failing_commands(executable) -> CommandBuffer:
    """An accumulation, then a kernel that fails at workgroup (3, 1, 1) of 24."""
    commands = CommandBuffer()
    commands.dispatch(executable, STAMP, GRID, (1000,), [slot(0)])
    commands.dispatch(executable, ACCUMULATE, (COUNT, 1, 1), (), [slot(1, 0, SIZE), slot(0)])
    commands.dispatch(executable, FAIL_AT, GRID, (500, 3, 1, 1), [slot(0)])
    commands.finalize()
    return commands


@pytest.mark.parametrize("budget_kind", ["none", "cancellable", "pausing"])
def test_failing_kernel_is_reported_as_in_the_general_replay(
        executable, direct, budget_kind, replays, general_replays):
    commands = record_failing_commands(executable)

    def execute(replay, scene):
        if budget_kind == "none":
            budget = None
        elif budget_kind == "cancellable":
            budget = Budget(CancellationToken())
        else:
            budget = Budget(None, time.perf_counter())
        rest = replay(scene.table(), budget)
        if rest is not None:
            drive(rest, budget)

    outcomes = []
    contents = []
    for _ in range(MOST_EXECUTIONS_BEFORE_A_PLAN + 1):
        scene = Scene(direct)
        outcomes.append(outcome_of(lambda: execute(
            lambda table, budget: commands.execute(table, budget=budget), scene)))
        contents.append(scene.contents())
    assert isinstance(commands._plan, ReplayPlan)
    general = Scene(direct)
    general_outcome = outcome_of(lambda: execute(
        lambda table, budget: GENERAL_REPLAY(commands, 0, table, budget), general))
    assert general_outcome == (StatusCode.INTERNAL, "dispatch of fail_at failed: the kernel "
                                                    "returned 9 (workgroup 3, 1, 1)")
    assert outcomes == [general_outcome] * len(outcomes)
    assert contents == [general.contents()] * len(contents)
    failing_index = (1 * 3 + 1) * 4 + 3
    written = numpy.frombuffer(general.contents()[0][64:], numpy.uint32)
    assert written[:failing_index].tolist() == (500 + ids(GRID))[:failing_index].tolist()
    assert written[failing_index:].tolist() == (1000 + ids(GRID))[failing_index:].tolist()
    assert replays and replays[-1][2][0] == _native_replay._KERNEL_FAILED
    assert general_replays == []
    assert not commands._plan._in_use.locked()


def test_paused_plan_serves_one_execution_at_a_time(
        commands, direct, plan, replays, general_replays):
    replays.clear()
    budget = Budget(None, time.perf_counter())  # past: one workgroup, then a pause
    paused = Scene(direct)
    expected = paused.expected()
    rest = commands.execute(paused.table(), budget=budget)
    assert rest is not None and plan._in_use.locked()
    assert [(dispatch, workgroup, outcome[0]) for dispatch, workgroup, outcome in replays] == \
        [(0, 0, _native_replay._STOPPED)]
    # Meanwhile another execution replays in Python, from the start.
    beside = Scene(direct)
    assert commands.execute(beside.table()) is None
    assert beside.contents() == beside.expected()
    assert general_replays == [0]
    assert drive(rest, budget) > 0
    assert paused.contents() == expected
    assert not plan._in_use.locked()
    resumed_from = [(dispatch, workgroup) for dispatch, workgroup, _ in replays[1:]]
    assert any(position != (0, 0) for position in resumed_from)  # resumed mid-segment
    # Free again: the next execution is the plan's.
    replays.clear()
    scene = Scene(direct)
    assert commands.execute(scene.table()) is None
    assert scene.contents() == scene.expected()
    assert len(replays) == 3 and general_replays == [0]


def test_paused_plan_keeps_the_table_it_started_with(commands, direct, plan, replays):
    """The table is the execution's from its start, as IREE copies it: a
    caller that changes or empties its list while the plan is paused does
    not change what the rest of the execution binds, nor frees it."""
    budget = Budget(None, time.perf_counter())
    paused = Scene(direct)
    expected = paused.expected()
    table = paused.table()
    rest = commands.execute(table, budget=budget)
    assert rest is not None
    table.clear()
    del paused.first, paused.second, paused.third  # only the execution holds them now
    import gc
    gc.collect()
    assert drive(rest, budget) > 0
    assert paused.fourth.bytes_view().tobytes() == expected[3]
    assert direct.bytes_view().tobytes() == expected[4]


@pytest.mark.parametrize("bad_slot", [-1, -2, 1 << 32, 1 << 64])
def test_a_slot_no_table_can_provide_is_out_of_range_every_time(executable, replays, bad_slot):
    """A slot outside any table (-1 included, whatever encoding the plan
    uses for recorded buffers) never reaches a kernel: every execution
    fails with the general replay's OUT_OF_RANGE, and no plan is made."""
    commands = CommandBuffer()
    commands.dispatch(executable, STAMP, GRID, (1,), [BufferReference(None, bad_slot, 0, -1)])
    commands.finalize()
    target = Buffer.allocate(SIZE)
    for _ in range(MOST_EXECUTIONS_BEFORE_A_PLAN + 1):
        with pytest.raises(VMError) as caught:
            commands.execute([(target, 0, SIZE)])
        assert caught.value.status == StatusCode.OUT_OF_RANGE
        assert f"slot {bad_slot} is not provided" in caught.value.message
    assert not isinstance(commands._plan, ReplayPlan) and replays == []


def test_cancelled_paused_plan_stops_as_the_general_replay(
        commands, direct, plan, replays, general_replays):
    outcomes = []
    for replay in (lambda table, budget: GENERAL_REPLAY(commands, 0, table, budget),
                   lambda table, budget: commands.execute(table, budget=budget)):
        token = CancellationToken()
        budget = Budget(token, time.perf_counter())
        rest = replay(Scene(direct).table(), budget)
        assert rest is not None
        token.cancel(VMError(StatusCode.CANCELLED, "the caller gave up"))
        outcomes.append(outcome_of(lambda: drive(rest, budget)))
    assert outcomes[0] == (StatusCode.CANCELLED, "dispatch of stamp stopped: the caller gave up")
    assert outcomes[1] == outcomes[0]
    assert not plan._in_use.locked()
    # A paused execution that is dropped lets the plan go too.
    budget = Budget(None, time.perf_counter())
    rest = commands.execute(Scene(direct).table(), budget=budget)
    assert plan._in_use.locked()
    rest.close()
    assert not plan._in_use.locked()
    replays.clear()
    scene = Scene(direct)
    assert commands.execute(scene.table()) is None
    assert scene.contents() == scene.expected()
    assert len(replays) == 3 and general_replays == []


def test_read_only_memory_bound_by_a_dispatch_gets_a_private_copy(
        commands, direct, plan, replays, general_replays):
    replays.clear()
    for replay in (lambda table: GENERAL_REPLAY(commands, 0, table, None),
                   lambda table: commands.execute(table)):
        caller = numpy.array([40, 41], numpy.uint32)
        caller.flags.writeable = False
        fourth = Buffer.wrap(caller)
        assert fourth.allocation.immutable
        scene = Scene(direct, fourth)
        assert replay(scene.table()) is None
        assert caller.tolist() == [40, 41]
        assert not fourth.allocation.immutable
        assert fourth.array(numpy.uint32, (2,)).tolist() == (3 + ids(PAIR)).tolist()
        assert scene.contents() == scene.expected()
    assert len(replays) == 3 and general_replays == []


def test_run_dispatches_refuses_malformed_arguments(commands, direct, plan):
    from asyncvm.hal._workgroup_loop import run_dispatches

    segment = plan.steps[0][1]
    assert isinstance(segment, _native_replay._Segment) and segment.count == 3
    scene = Scene(direct)
    before = scene.contents()
    with pytest.raises(ValueError, match="four ints per slot"):
        run_dispatches(segment.address, segment.count, (1, 2, 3), 0, 0)
    with pytest.raises(ValueError, match="four ints per slot"):
        run_dispatches(segment.address, segment.count, tuple(range(17)), 0, 0)
    with pytest.raises(ValueError, match="past the plan"):
        run_dispatches(segment.address, segment.count, (), segment.count + 1, 0)
    with pytest.raises(ValueError, match="null address"):
        run_dispatches(0, segment.count, (), 0, 0)
    with pytest.raises(TypeError):
        run_dispatches(segment.address, segment.count, [], 0, 0)
    with pytest.raises(TypeError):
        run_dispatches(segment.address, segment.count, (0.5, 0, 0, 0), 0, 0)
    # From the start without a table: no binding resolves, nothing runs.
    assert run_dispatches(segment.address, segment.count, (), 0, 0) == \
        (_native_replay._BAD_BINDING, 0, 0, 0)
    # From its end: nothing to run.
    assert run_dispatches(segment.address, segment.count, (), segment.count, 0) is None
    with pytest.raises(TypeError, match="5 to 9 arguments"):
        run_dispatches(segment.address, segment.count, (), 0)
    with pytest.raises(TypeError, match="5 to 9 arguments"):
        run_dispatches(segment.address, segment.count, (), 0, 0, 0, 0, None, 0, 0)
    with pytest.raises(TypeError, match="WorkgroupTeam or None"):
        run_dispatches(segment.address, segment.count, (), segment.count, 0, 0, 0, object())
    with pytest.raises(TypeError, match="must be an int"):
        run_dispatches(segment.address, segment.count, (), segment.count, 0, 0, 0, None, "x")
    with pytest.raises(TypeError, match="must be an int"):
        run_dispatches(segment.address, segment.count, (), 0, 0, 1.5)
    with pytest.raises(OverflowError):
        run_dispatches(segment.address, segment.count, (), 0, 0, 0, -1)
    with pytest.raises(OverflowError, match="32 bits"):
        run_dispatches(segment.address, 1 << 32, (), 0, 0)
    assert scene.contents() == before
    # The plan still replays.
    assert commands.execute(scene.table()) is None
    assert scene.contents() == scene.expected()


def test_slots_resolve_alike_in_c_and_in_python(plan, monkeypatch):
    """``resolve_slots`` (C) gives exactly what the plan's Python resolution
    gives, or hands the table to it: every entry shape a table may hold."""
    from asyncvm.hal._workgroup_loop import resolve_slots

    base = Buffer.allocate(256)
    read_only = numpy.arange(8, dtype=numpy.uint32)
    read_only.flags.writeable = False
    tables = {
        "buffers and a null": ((base.subspan(64, 128), 16, 32), (None, 5, 7),
                               (Buffer.allocate(8), 0, -1)),
        "a list": [(base, 0, -1), (None, 0, 0)],
        "empty": (),
        "not a buffer": ((base, 0, 8), ("memory", 0, 8)),
        "a negative offset": ((base, -1, 8),),
        "a length past 63 bits": ((base, 0, 1 << 63),),
        "the largest offset": ((base, (1 << 63) - 1, 8),),
        "a float offset": ((base, 1.0, 8),),
        "a list entry": ([base, 0, 8],),
        "a short entry": ((base, 0),),
        "a subclass": ((type("Mine", (Buffer,), {})(numpy.zeros(8, numpy.uint8)), 0, 8),),
    }
    # Read-only memory in a slot no dispatch binds resolves as it is; in one
    # that a dispatch binds it needs its private copy: Python's way.
    outside = max(plan.dispatch_slots) + 1
    unbound = [(None, 0, 0)] * outside + [(Buffer.wrap(read_only), 0, -1)]
    tables["read-only, unbound"] = tuple(unbound)
    native = {name: resolve_slots(table, Buffer, plan.dispatch_slots)
              for name, table in tables.items()}
    assert native["a list"] != False and native["buffers and a null"] != False  # noqa: E712
    assert {name for name, values in native.items() if values is False} == {
        "a float offset", "a list entry", "a short entry"}
    assert {name for name, values in native.items() if values is None} == {
        "not a buffer", "a negative offset", "a length past 63 bits", "a subclass"}
    first = tables["buffers and a null"][0][0]
    assert native["buffers and a null"][:8] == (
        address_of(first.allocation.storage) + first.offset, 128, 16, 32, 0, 0, 0, 0)
    assert native["read-only, unbound"][-4] == address_of(read_only)
    monkeypatch.setattr(_native_replay, "_resolve_slots", None)
    for name, table in tables.items():
        if native[name] is not False:
            assert plan.slot_values(table) == native[name], name
    bound = Buffer.wrap(read_only)
    slot = min(plan.dispatch_slots)
    table = tuple([(None, 0, 0)] * slot + [(bound, 0, -1)])
    assert resolve_slots(table, Buffer, plan.dispatch_slots) is False
    assert bound.allocation.immutable
    monkeypatch.undo()
    values = plan.slot_values(table)  # the Python way: a private copy first
    assert not bound.allocation.immutable
    assert values[slot * 4] == address_of(bound.allocation.storage) != address_of(read_only)
    assert resolve_slots(table, Buffer, plan.dispatch_slots) == values
    with pytest.raises(TypeError):
        resolve_slots(table, Buffer)
