"""A frame suspended at a call holds only the refs it still needs: the
translator drops every ref register that nothing reads after the call
before the frame suspends there, so a call waiting on a fence or an async
import does not keep a buffer (or any other object) it is done with alive
for the length of the wait."""

from __future__ import annotations

import gc
import weakref

import anyio
import pytest

import asyncvm
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.python import PythonModule

pytestmark = pytest.mark.anyio


class Payload:
    """Something a program holds by reference (weakly referenceable)."""


@pytest.fixture(scope="module")
def holder(compile_mlir):
    return BytecodeModule.load(compile_mlir("ref_lifetimes.mlir", mode="vm"))


def waiting_host(waiting: anyio.Event, release: anyio.Event) -> PythonModule:
    host = PythonModule("host")

    @host.export("0r_i")
    def observe(value):
        return 1

    @host.export("0v_i")
    async def wait():
        waiting.set()
        await release.wait()
        return 2

    return host


async def suspended_holding(program, function: str) -> tuple[bool, object]:
    """Runs ``function`` on a fresh Payload (referenced by nothing else)
    and reports, while it is suspended in ``host.wait``, whether the
    payload is still alive; then the call's results."""
    waiting, release = program.waiting, program.release
    watch: list[weakref.ref] = []
    results: list = []

    async def call() -> None:
        payload = Payload()
        watch.append(weakref.ref(payload))
        awaitable = program.invoke(function, payload)
        del payload
        results.append(await awaitable)

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        await waiting.wait()
        gc.collect()
        alive = watch[0]() is not None
        release.set()
    return alive, results[0]


async def load(holder):
    waiting, release = anyio.Event(), anyio.Event()
    program = asyncvm.load(holder, modules=[waiting_host(waiting, release)])
    program.waiting, program.release = waiting, release
    # Initialized: later calls take the usual path, which holds no
    # arguments of its own once the frame has them.
    await program.context.initialize()
    return program


async def test_a_ref_used_before_the_wait_is_dropped_while_waiting(holder):
    program = await load(holder)
    alive, results = await suspended_holding(program, "use_then_wait")
    assert not alive
    assert results == (3,)


async def test_a_ref_needed_after_the_wait_is_kept(holder):
    program = await load(holder)
    alive, results = await suspended_holding(program, "wait_then_return")
    assert alive
    assert isinstance(results[0], Payload)


def test_the_drop_sits_on_the_suspending_path_only(holder):
    """The drop is emitted where the frame hands a request to the driver,
    not where a call returns at once (that path pays nothing)."""
    source = holder.translated.source
    lines = source.splitlines()
    drops = [index for index, line in enumerate(lines) if line.strip() == "r0 = None"]
    assert drops
    for index in drops:
        assert lines[index - 1].strip() == "if _r.__class__ is not tuple:"
        assert lines[index + 1].strip() == "_r = yield _r"
