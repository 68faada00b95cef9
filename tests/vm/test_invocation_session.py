"""The usual call path: ``Context.invoke`` hands back the driver's own
coroutine, the context's bookkeeping running inside it.

What must hold on that path as on the general one: every check happens when
the call is awaited (not when it is made), a call that fails or is cancelled
leaves the context as it found it (no invocation counted, no cancellation
token current), and cancelling a suspended call cancels its token.
"""

from __future__ import annotations

import anyio
import pytest

import asyncvm
from asyncvm.vm import StatusCode, VMError, current_cancellation
from asyncvm.vm._invocation import invoke_callable
from asyncvm.modules.python import PythonModule

pytestmark = pytest.mark.anyio


def blocking_host(seen: list, release: anyio.Event) -> PythonModule:
    """``fetch`` records the cancellation token current in it, waits, and
    returns its key (``fetch_sum(n)`` sums the keys 0..n-1)."""
    host = PythonModule("host")

    @host.export("0i_i")
    async def fetch(key):
        seen.append(current_cancellation())
        await release.wait()
        return key

    return host


async def initialized(library, user, host) -> asyncvm.Program:
    program = asyncvm.load(user, modules=[library, host])
    await program.context.initialize()
    assert await program.invoke("sum3", 1, 2, 3) == (6,)
    return program


async def test_the_usual_call_is_the_drivers_coroutine(library, user):
    program = await initialized(library, user, blocking_host([], anyio.Event()))
    call = program.context.invoke("sum3", 1, 2, 3)
    assert call.cr_code is invoke_callable.__code__  # no coroutine of the context's over it
    assert await call == (6,)


async def test_checks_happen_when_awaited(library, user):
    program = await initialized(library, user, blocking_host([], anyio.Event()))
    context = program.context
    missing = context.invoke("no_such_function")
    wrong_count = context.invoke("sum3", 1, 2)
    wrong_type = context.invoke("sum3", 1, 2, "three")
    for call, status in [(missing, StatusCode.NOT_FOUND),
                         (wrong_count, StatusCode.INVALID_ARGUMENT),
                         (wrong_type, StatusCode.INVALID_ARGUMENT)]:
        with pytest.raises(VMError) as caught:
            await call
        assert caught.value.status == status
    assert context._running == 0 and current_cancellation() is None
    assert await context.invoke("sum3", 4, 5, 6) == (15,)


async def test_a_closed_context_refuses_when_awaited(library, user):
    program = await initialized(library, user, blocking_host([], anyio.Event()))
    call = program.context.invoke("sum3", 1, 2, 3)
    await program.close()
    with pytest.raises(VMError) as caught:
        await call
    assert caught.value.status == StatusCode.FAILED_PRECONDITION


async def test_cancelling_a_suspended_call_cancels_its_token(library, user):
    seen: list = []
    release = anyio.Event()
    program = await initialized(library, user, blocking_host(seen, release))
    with anyio.move_on_after(0.05):
        await program.invoke("fetch_sum", 1)  # one fetch, of key 0
    (token,) = seen
    assert token is not None and token.cancelled
    assert token.error.status == StatusCode.CANCELLED
    assert "user.fetch_sum" in token.error.message
    assert program.context._running == 0 and current_cancellation() is None
    release.set()
    assert await program.invoke("fetch_sum", 3) == (0 + 1 + 2,)
    assert not seen[-1].cancelled  # a call that returns does not cancel its token


async def test_concurrent_calls_each_see_their_own_token(library, user):
    seen: list = []
    release = anyio.Event()
    program = await initialized(library, user, blocking_host(seen, release))
    results = []

    async def call(key):
        results.append(await program.invoke("fetch_sum", key))

    async with anyio.create_task_group() as group:
        for key in (1, 2, 3):
            group.start_soon(call, key)
        while len(seen) < 3:  # each call waits in its first fetch
            await anyio.sleep(0.001)
        assert len({id(token) for token in seen[:3]}) == 3
        assert program.context._running == 3
        release.set()
    assert sorted(results) == [(0,), (0 + 1,), (0 + 1 + 2,)]
    assert program.context._running == 0 and current_cancellation() is None
