"""HAL conformance: timeline semaphores and fences, under asyncio and trio,
signalled from the event loop and from worker threads."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from asyncvm.vm import StatusCode, VMError
from asyncvm.hal import Fence, Semaphore

pytestmark = pytest.mark.anyio


async def test_wait_returns_at_once_when_reached():
    semaphore = Semaphore(5)
    await semaphore.wait(3)
    await semaphore.wait(5)
    assert semaphore.query() == (StatusCode.OK, 5)


async def test_wait_for_a_later_signal_from_a_task():
    semaphore = Semaphore()
    order = []

    async def waiter(value):
        await semaphore.wait(value)
        order.append(value)

    async with anyio.create_task_group() as group:
        for value in (3, 1, 2):
            group.start_soon(waiter, value)
        await anyio.sleep(0.01)
        assert semaphore.waiter_count == 3
        semaphore.signal(1)
        await anyio.sleep(0.01)
        assert order == [1]
        semaphore.signal(3)
    assert sorted(order) == [1, 2, 3]
    assert semaphore.waiter_count == 0


async def test_signal_from_another_thread_wakes_the_loop():
    semaphore = Semaphore()

    def worker():
        time.sleep(0.05)
        semaphore.signal(7)

    thread = threading.Thread(target=worker)
    thread.start()
    with anyio.fail_after(5):
        await semaphore.wait(7)
    thread.join()
    assert semaphore.value == 7


async def test_many_waiters_cost_no_threads(monkeypatch):
    semaphore = Semaphore()
    started = []
    original_start = threading.Thread.start

    def counting_start(thread):
        started.append(thread.name)
        original_start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    done = []

    async def waiter(index):
        await semaphore.wait(1)
        done.append(index)

    async with anyio.create_task_group() as group:
        for index in range(1000):
            group.start_soon(waiter, index)
        await anyio.sleep(0.01)
        assert semaphore.waiter_count == 1000
        semaphore.signal(1)
    assert len(done) == 1000
    assert started == []


async def test_failure_is_sticky_and_reaches_every_waiter():
    semaphore = Semaphore()
    errors = []

    async def waiter():
        try:
            await semaphore.wait(2)
        except VMError as error:
            errors.append(error.status)

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(waiter)
        await anyio.sleep(0.01)
        semaphore.fail(VMError(StatusCode.DATA_LOSS, "device lost"))
    assert errors == [StatusCode.DATA_LOSS] * 3
    with pytest.raises(VMError) as caught:
        await semaphore.wait(1)
    assert caught.value.status == StatusCode.DATA_LOSS
    with pytest.raises(VMError):
        semaphore.signal(9)
    assert semaphore.query()[0] == StatusCode.DATA_LOSS


async def test_timeout_is_deadline_exceeded_and_leaves_no_waiter():
    semaphore = Semaphore()
    with pytest.raises(VMError) as caught:
        await semaphore.wait(1, timeout=0.02)
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(VMError) as caught:
        await semaphore.wait(1, timeout=0)
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
    assert semaphore.waiter_count == 0


async def test_cancelled_wait_leaves_no_waiter():
    semaphore = Semaphore()
    with anyio.move_on_after(0.02):
        await semaphore.wait(1)
    assert semaphore.waiter_count == 0
    semaphore.signal(1)


def test_signal_must_advance():
    semaphore = Semaphore(4)
    for value in (4, 3):
        with pytest.raises(VMError) as caught:
            semaphore.signal(value)
        assert caught.value.status == StatusCode.INVALID_ARGUMENT


def test_fence_signal_advances_only_what_is_behind():
    """A fence signals each timepoint up to its value: one reached already, or
    a failed semaphore, is left as it is; waiters the value reaches wake,
    later ones stay; a value no signal can reach is INVALID_ARGUMENT."""
    from asyncvm.hal import MAX_VALUE
    ahead, behind, failed = Semaphore(5), Semaphore(1), Semaphore()
    failed.fail(VMError(StatusCode.ABORTED, "gone"))
    woken = []
    behind.notify_when_reached(2, lambda failure: woken.append((2, failure)))
    behind.notify_when_reached(4, lambda failure: woken.append((4, failure)))
    fence = Fence.join([Fence.at(ahead, 3), Fence.at(behind, 3), Fence.at(failed, 1)])
    fence.signal()
    assert ahead.query() == (StatusCode.OK, 5) and behind.query() == (StatusCode.OK, 3)
    assert failed.query()[0] == StatusCode.ABORTED
    assert woken == [(2, None)] and [target for target, _ in behind._waiters] == [4]
    with pytest.raises(VMError) as caught:
        Fence.at(Semaphore(), MAX_VALUE).signal()
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


async def test_fence_join_query_signal_and_wait():
    first, second = Semaphore(), Semaphore()
    fence = Fence.join([Fence.at(first, 1), Fence.at(second, 2), None, Fence.at(first, 3)])
    assert len(fence) == 2 and dict(fence.timepoints)[first] == 3
    assert fence.query() == StatusCode.DEFERRED

    async def later():
        await anyio.sleep(0.01)
        first.signal(3)
        await anyio.sleep(0.01)
        second.signal(2)

    async with anyio.create_task_group() as group:
        group.start_soon(later)
        await fence.wait()
    assert fence.query() == StatusCode.OK and fence.reached()


async def test_fence_signal_and_failure_propagate():
    semaphore = Semaphore()
    signal_fence = Fence.at(semaphore, 1)
    wait_fence = Fence.at(semaphore, 1)
    signal_fence.signal()
    await wait_fence.wait()
    failing = Fence.at(Semaphore(), 1)
    failing.fail(RuntimeError("kernel crashed"))
    assert failing.query() == StatusCode.ABORTED
    with pytest.raises(VMError) as caught:
        await failing.wait()
    assert caught.value.status == StatusCode.ABORTED and "kernel crashed" in str(caught.value)


async def test_fence_timeout():
    fence = Fence.at(Semaphore(), 1)
    with pytest.raises(VMError) as caught:
        await fence.wait(timeout=0.02)
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED


def test_fence_notifies_once_when_all_reached_or_on_failure():
    first, second = Semaphore(), Semaphore()
    fence = Fence.join([Fence.at(first, 1), Fence.at(second, 1)])
    calls = []
    fence.notify_when_reached(calls.append)
    first.signal(1)
    assert calls == []
    second.signal(1)
    assert calls == [None]
    failing = Fence.join([Fence.at(Semaphore(), 1), Fence.at(Semaphore(), 1)])
    failing.notify_when_reached(calls.append)
    failing.fail(VMError(StatusCode.ABORTED, "stop"))
    assert len(calls) == 2 and calls[1].status == StatusCode.ABORTED
    Fence().notify_when_reached(calls.append)
    assert calls[2] is None


def test_semaphores_share_lock_stripes_and_signal_across_threads():
    """Semaphores take their lock from a small shared set (one lock each
    would be most of a pending fence's memory). Callbacks run outside the
    lock, so a chain in which each semaphore's callback signals the next --
    many of them on the same stripe -- completes from several threads at
    once without deadlock, and every value lands."""
    from asyncvm.hal._semaphore import _LOCK_STRIPES

    chains = [[Semaphore(0) for _ in range(300)] for _ in range(4)]
    assert {id(semaphore._lock) for chain in chains for semaphore in chain} \
        <= {id(lock) for lock in _LOCK_STRIPES}
    for chain in chains:
        for current, following in zip(chain, chain[1:]):
            current.notify_when_reached(1, lambda failure, following=following:
                                        following.signal(1))
    threads = [threading.Thread(target=chain[0].signal, args=(1,)) for chain in chains]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert all(semaphore.value == 1 and semaphore.waiter_count == 0
               for chain in chains for semaphore in chain)


def test_a_semaphore_keeps_no_waiter_list_until_one_registers():
    semaphore = Semaphore(0)
    assert semaphore._waiters is None and semaphore.waiter_count == 0
    semaphore.signal(1)  # no waiters: nothing built
    calls = []
    semaphore.notify_when_reached(3, calls.append)
    assert semaphore.waiter_count == 1
    semaphore.signal(2)
    assert calls == [] and semaphore.waiter_count == 1
    semaphore.signal(3)
    assert calls == [None] and semaphore._waiters is None
