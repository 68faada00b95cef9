"""vm.yield: invocations suspend at every vm.yield and resume later, so
several invocations of one program (one context) can run concurrently on one
event loop, under asyncio and trio.

IREE's synchronous iree_vm_invoke never resumes a function after a plain
vm.yield (iree.runtime's invoke does not return), so every expected value here
is computed by hand instead of compared with IREE.
"""

from __future__ import annotations

import anyio
import pytest

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def yield_vmfb(compile_mlir):
    return compile_mlir("vm_yield.mlir", mode="vm")


@pytest.fixture
def program(asyncvm, yield_vmfb):
    return asyncvm.load(str(yield_vmfb))


# ------------------------------------------------------------ single calls --
@pytest.mark.parametrize("n", [0, 1, 2, 10, 1000])
async def test_yield_in_loop(program, n):
    assert await program.invoke("yield_sum", n) == (n * (n - 1) // 2, n)


@pytest.mark.parametrize("x", [0, 4, -7, 214748364])
async def test_yield_straight_line_passes_block_args(program, x):
    expected = (((x + 1) * 10 + 1 + (1 << 31)) % (1 << 32)) - (1 << 31)
    assert await program.invoke("yield_straight", x) == (expected,)


@pytest.mark.parametrize("x, k", [(0, 0), (1, 1), (5, 3), (-10, 20), (100, 250)])
async def test_yieldable_internal_calls(program, x, k):
    assert await program.invoke("nested_yield", x, k) == (((x + 1) + k) * 2 + k,)


async def test_sequential_calls_share_globals(program):
    assert await program.invoke("get_ticks") == (0,)
    assert await program.invoke("ticker", 25) == (25,)
    assert await program.invoke("ticker", 5) == (5,)
    assert await program.invoke("get_ticks") == (30,)
    # Nothing else runs while the watcher is suspended: it sees no new ticks.
    assert await program.invoke("watcher", 10) == (0, 30)


async def test_failure_after_yields(program, asyncvm):
    with pytest.raises(asyncvm.VMError) as info:
        await program.invoke("yield_then_fail", 7)
    assert info.value.status == asyncvm.StatusCode.ABORTED
    assert "vm_yield" in str(info.value) and "yield_then_fail" in str(info.value)
    assert "aborted after yielding" in str(info.value)
    # The context is still usable afterwards.
    assert await program.invoke("yield_sum", 4) == (6, 4)


# -------------------------------------------------------------- concurrency --
async def test_short_invocation_finishes_before_long_one(program):
    """A long yielding loop (A) and a short one (B) started together in one
    program: B completes first, and while B was suspended A kept running
    (B observes A's increments of the shared global)."""
    n_a, n_b = 3000, 20
    order: list[str] = []
    results: dict[str, tuple] = {}

    async def run(tag, function, arg):
        results[tag] = await program.invoke(function, arg)
        order.append(tag)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "A", "ticker", n_a)
        tg.start_soon(run, "B", "watcher", n_b)

    assert order == ["B", "A"]
    assert results["A"] == (n_a,)
    seen_during_b, ticks_at_b_end = results["B"]
    assert 0 < seen_during_b < n_a, "the two invocations did not interleave"
    assert 0 < ticks_at_b_end < n_a
    assert await program.invoke("get_ticks") == (n_a,)


async def test_yielding_invocation_does_not_block_event_loop(program):
    """Python tasks get to run while a yielding invocation is in progress."""
    done = anyio.Event()
    python_turns = 0

    async def python_task():
        nonlocal python_turns
        while not done.is_set():
            python_turns += 1
            await anyio.sleep(0)

    async def vm_task():
        try:
            assert await program.invoke("yield_sum", 2000) == (1999000, 2000)
        finally:
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(python_task)
        tg.start_soon(vm_task)
    assert python_turns > 50


async def test_many_concurrent_invocations(program):
    sizes = [0, 1, 7, 50, 300, 64, 3, 1000]
    results: dict[int, tuple] = {}

    async def run(i, n):
        if i % 2:
            results[i] = await program.invoke("yield_sum", n)
        else:
            results[i] = await program.invoke("nested_yield", n, n % 17)

    async with anyio.create_task_group() as tg:
        for i, n in enumerate(sizes):
            tg.start_soon(run, i, n)

    for i, n in enumerate(sizes):
        if i % 2:
            assert results[i] == (n * (n - 1) // 2, n)
        else:
            k = n % 17
            assert results[i] == (((n + 1) + k) * 2 + k,)


async def test_concurrent_tickers_all_counted(program):
    """Interleaved read-modify-write of a global never loses an update: each
    increment happens between yields, never across one."""
    counts = [100, 250, 400, 1]

    async with anyio.create_task_group() as tg:
        for n in counts:
            tg.start_soon(program.invoke, "ticker", n)
    assert await program.invoke("get_ticks") == (sum(counts),)


async def test_failure_in_one_invocation_does_not_affect_another(program, asyncvm):
    outcome: dict[str, object] = {}

    async def failing():
        try:
            await program.invoke("yield_then_fail", 5)
        except asyncvm.VMError as err:
            outcome["fail"] = err.status

    async def succeeding():
        outcome["ok"] = await program.invoke("yield_sum", 100)

    async with anyio.create_task_group() as tg:
        tg.start_soon(failing)
        tg.start_soon(succeeding)
    assert outcome == {"fail": asyncvm.StatusCode.ABORTED, "ok": (4950, 100)}


async def test_cancelling_a_yielding_invocation(program):
    """A cancel scope around a long yielding loop takes effect at a yield;
    the program stays usable and keeps the work done so far."""
    with anyio.move_on_after(0.05) as scope:
        await program.invoke("ticker", 2_000_000)
    assert scope.cancelled_caught
    (ticks,) = await program.invoke("get_ticks")
    assert 0 < ticks < 2_000_000
    assert await program.invoke("ticker", 3) == (3,)
    assert await program.invoke("get_ticks") == (ticks + 3,)
