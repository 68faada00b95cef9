"""Table exports of a NativeModule: rows that never suspend are called
through one specialised frame per result count, rows with ``yields`` may
hand the driver an awaitable of their result tuple; both turn an unexpected
exception into INTERNAL naming the export."""

from __future__ import annotations

import anyio
import pytest

from asyncvm.vm import Context, Export, NativeModule, StatusCode, VMError

pytestmark = pytest.mark.anyio


async def _later(value: int) -> tuple:
    await anyio.sleep(0)
    return (value * 10,)


def _maybe_later(value):
    return value if value < 0 else _later(value)


def _broken(value):
    return [][value]  # IndexError: a bug in trusted code


def table_module() -> NativeModule:
    return NativeModule("table", exports=[
        Export("broken", "0i_i", _broken),
        Export("later", "0i_i", _maybe_later, yields=True),
        Export("none", "0i_v", lambda value: None),
        Export("one", "0i_i", lambda value: value + 1),
        Export("pair_from_list", "0i_ii", lambda value: [value, -value]),
        Export("pair_from_tuple", "0i_ii", lambda value: (value, value * 2)),
    ])


async def test_results_by_count():
    context = Context(modules=[table_module()])
    assert await context.invoke("table.none", 5) == ()
    assert await context.invoke("table.one", 5) == (6,)
    assert await context.invoke("table.pair_from_tuple", 5) == (5, 10)
    assert await context.invoke("table.pair_from_list", 5) == (5, -5)


async def test_a_yielding_row_returns_plain_results_or_an_awaitable_of_them():
    context = Context(modules=[table_module()])
    assert await context.invoke("table.later", -3) == (-3,)
    assert await context.invoke("table.later", 4) == (40,)


async def test_an_unexpected_exception_is_internal_naming_the_export():
    context = Context(modules=[table_module()])
    with pytest.raises(VMError) as caught:
        await context.invoke("table.broken", 2)
    assert caught.value.status == StatusCode.INTERNAL
    assert "table.broken" in caught.value.message and "IndexError" in caught.value.message
    assert await context.invoke("table.one", 1) == (2,)  # the context stays usable


def stateful_table_module(seen: list) -> NativeModule:
    """The same rows taking the module's state first (as the hal module's do):
    a state binds each row that never yields into one frame of its own."""
    def remember(state, value):
        seen.append(state)
        return value + 1

    return NativeModule("stateful", state_argument=True, exports=[
        Export("broken", "0i_i", lambda state, value: _broken(value)),
        Export("later", "0i_i", lambda state, value: _maybe_later(value), yields=True),
        Export("none", "0i_v", lambda state, value: None),
        Export("one", "0i_i", remember),
        Export("pair", "0ii_ii", lambda state, a, b: [b, a]),
        Export("span", "0CiD_i", lambda state, values: sum(values)),
    ])


async def test_rows_bound_to_a_state_keep_results_and_errors():
    seen: list = []
    context = Context(modules=[stateful_table_module(seen)])
    assert await context.invoke("stateful.none", 5) == ()
    assert await context.invoke("stateful.one", 5) == (6,)
    assert await context.invoke("stateful.pair", 1, 2) == (2, 1)
    assert await context.invoke("stateful.span", [1, 2, 3]) == (6,)
    assert await context.invoke("stateful.later", 4) == (40,)
    (state,) = seen
    assert state is context._states[0]
    bound = state.lookup_function("one")
    assert bound is state.lookup_function("one")  # made once per state and export
    assert bound.__wrapped__.__name__ == "remember"
    with pytest.raises(VMError) as caught:
        await context.invoke("stateful.broken", 2)
    assert caught.value.status == StatusCode.INTERNAL
    assert "stateful.broken" in caught.value.message and "IndexError" in caught.value.message
