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


@pytest.fixture(params=["native", "python"])
def bound_export_maker(request, monkeypatch) -> str:
    """Bound exports made by the C helper (asyncvm.vm._bound_exports) and by
    the Python maker it replaces when built: the same contract."""
    from asyncvm.vm import _native_module
    if request.param == "native" and _native_module._NativeBoundExport is None:
        pytest.skip("asyncvm.vm._bound_exports was not built")
    if request.param == "python":
        monkeypatch.setattr(_native_module, "_NativeBoundExport", None)
    return request.param


async def test_rows_bound_to_a_state_keep_results_and_errors(bound_export_maker):
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


def test_bound_exports_pass_arguments_and_convert_errors_alike(bound_export_maker):
    """Called directly (as a bytecode module calls its imports): the state
    comes first, a span stays one list, results become a tuple; a VMError
    passes as it is, another Exception becomes INTERNAL (RESOURCE_EXHAUSTED
    for MemoryError) naming the export with the error as its cause, and a
    BaseException that is not an Exception passes untouched."""
    from asyncvm.vm._native_module import bound_direct_export
    state = object()
    received = []

    def record(*arguments):
        received.append(arguments)
        return arguments[-1]

    many = bound_direct_export(record, state, "m.many", "0" + "i" * 14 + "_i")
    assert many(*range(14)) == (13,) and received[-1] == (state, *range(14))
    span = bound_direct_export(record, state, "m.span", "0CiD_i")
    assert span([1, 2]) == ([1, 2],) and received[-1] == (state, [1, 2])
    assert bound_direct_export(lambda s: iter([1, 2]), state, "m.pair", "0_ii")() == (1, 2)
    assert bound_direct_export(lambda s: None, state, "m.none", "0_v")() == ()
    assert bound_direct_export(record, state, "m.one", "0i_i").__wrapped__ is record

    def raising(error):
        def export(state):
            raise error
        return bound_direct_export(export, state, "m.failing", "0_i")

    status_error = VMError(StatusCode.NOT_FOUND, "gone")
    with pytest.raises(VMError) as caught:
        raising(status_error)()
    assert caught.value is status_error
    for error, status in ((KeyError("k"), StatusCode.INTERNAL),
                          (MemoryError(), StatusCode.RESOURCE_EXHAUSTED)):
        with pytest.raises(VMError) as caught:
            raising(error)()
        assert caught.value.status == status and "m.failing" in caught.value.message
        assert caught.value.__cause__ is error and caught.value.__suppress_context__
        assert error.__traceback__ is not None
    with pytest.raises(KeyboardInterrupt):
        raising(KeyboardInterrupt())()
    not_a_sequence = bound_direct_export(lambda s: 7, state, "m.pair", "0_ii")
    with pytest.raises(VMError) as caught:
        not_a_sequence()
    assert caught.value.status == StatusCode.INTERNAL and "TypeError" in caught.value.message


async def test_bound_yielding_rows_pass_awaitables_and_make_the_rest_tuples(bound_export_maker):
    """A row with ``yields`` bound to a state: a tuple passes as it is, an
    awaitable (a coroutine, a future, a generator-based coroutine) passes
    for the driver to await, anything else becomes a tuple; errors convert
    as for other rows."""
    import types

    @types.coroutine
    def generator_based():
        yield from anyio.sleep(0).__await__()
        return (5,)

    class Unreadable:
        """A result whose class cannot be asked for: inspect.isawaitable fails."""

        @property
        def __class__(self):
            raise ValueError("no class to tell")

    results = {"tuple": (1, 2), "int": 7, "float": 1.5, "none": None, "list": [3],
               "unreadable": Unreadable()}

    def export(state, key):
        if key == "coroutine":
            return _later(2)
        if key == "generator":
            return generator_based()
        if key == "broken":
            return _broken(3)
        return results[key]

    module = NativeModule("yielding", state_argument=True, exports=[
        Export("one", "0r_i", export, yields=True)])
    context = Context(modules=[module])
    bound = context._states[0].lookup_function("one")
    assert bound("tuple") == (1, 2)
    assert bound("int") == (7,)
    assert bound("float") == (1.5,)
    assert bound("none") == (None,)
    assert bound("list") == ([3],)
    assert await bound("coroutine") == (20,)
    assert await bound("generator") == (5,)
    for key, cause in (("broken", IndexError), ("unreadable", ValueError)):
        with pytest.raises(VMError) as caught:
            bound(key)
        assert caught.value.status == StatusCode.INTERNAL
        assert "yielding.one" in caught.value.message
        assert isinstance(caught.value.__cause__, cause)


def test_a_context_bound_to_its_exports_is_collected(bound_export_maker):
    """A state's bound exports refer to the state, which keeps them: a
    cycle the garbage collector must be able to see through and free."""
    import gc
    import weakref
    seen: list = []
    context = Context(modules=[stateful_table_module(seen)])
    state = context._states[0]
    bound = state.lookup_function("one"), state.lookup_function("later")
    references = [weakref.ref(context), weakref.ref(state)]
    del context, state, bound
    gc.collect()
    assert [reference() for reference in references] == [None, None]
