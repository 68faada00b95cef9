"""Contexts: import resolution across bytecode and Python modules, optional
imports, versions, and async imports as real suspension points."""

from __future__ import annotations

import anyio
import pytest

import asyncvm
from asyncvm.vm import Context, StatusCode, VMError
from asyncvm.modules.python import PythonModule

pytestmark = pytest.mark.anyio


def make_host(log: list | None = None, *, with_maybe: bool = False, version: int = 0):
    host = PythonModule("host", version)

    @host.export("0i_i")
    async def fetch(key):
        if log is not None:
            log.append(key)
        await anyio.sleep(0)
        return key * 10

    if with_maybe:
        @host.export("0i_i")
        def maybe(key):
            return key + 1

    return host


async def test_calls_across_bytecode_modules(library, user):
    program = asyncvm.load(user, modules=[library, make_host()])
    assert await program.invoke("sum3", 1, 2, 3) == (6,)
    assert await program.invoke("sum3", 2**31 - 1, 1, 0) == (-(2**31),)
    x, y = await program.invoke("scaled", 2**40, 0.5)
    assert x == 2**41 and y == 2.0**39


async def test_async_python_import_suspends_and_interleaves(library, user):
    log: list[int] = []
    program = asyncvm.load(user, modules=[library, make_host(log)])
    results = {}

    async def run(name, n):
        results[name] = await program.invoke("fetch_sum", n)

    async with anyio.create_task_group() as group:
        group.start_soon(run, "a", 3)
        group.start_soon(run, "b", 3)
    assert results == {"a": (30,), "b": (30,)}
    # Each await of the host import let the other invocation run: keys alternate.
    assert log == [0, 0, 1, 1, 2, 2]


async def test_optional_import_unresolved(library, user):
    program = asyncvm.load(user, modules=[library, make_host()])
    assert await program.invoke("has_maybe") == (0,)
    with pytest.raises(VMError) as caught:
        await program.invoke("call_maybe", 4)
    assert caught.value.status == StatusCode.NOT_FOUND
    assert "host.maybe" in str(caught.value)
    assert caught.value.location.function == "call_maybe"


async def test_optional_import_resolved(library, user):
    program = asyncvm.load(user, modules=[library, make_host(with_maybe=True)])
    assert await program.invoke("has_maybe") == (1,)
    assert await program.invoke("call_maybe", 4) == (5,)


def test_missing_required_import_names_it(user):
    with pytest.raises(VMError) as caught:
        Context(modules=[make_host(), user])
    assert caught.value.status == StatusCode.NOT_FOUND
    assert "library" in str(caught.value)


def test_missing_import_function_names_it(user):
    stand_in = PythonModule("library", 5)

    @stand_in.export("0ii_i")
    def add(a, b):
        return a + b

    with pytest.raises(VMError) as caught:
        Context(modules=[stand_in, make_host(), user])
    assert caught.value.status == StatusCode.NOT_FOUND
    assert "library.scale" in str(caught.value)


def test_dependency_version_too_old(user):
    old = PythonModule("library", 1)
    with pytest.raises(VMError) as caught:
        Context(modules=[old, make_host(), user])
    assert caught.value.status == StatusCode.NOT_FOUND
    assert "library" in str(caught.value) and "2" in str(caught.value)


def test_mismatched_calling_convention(user):
    wrong = PythonModule("library", 3)

    @wrong.export("0iI_i")
    def add(a, b):
        return a

    @wrong.export("0If_If")
    def scale(x, f):
        return x, f

    with pytest.raises(VMError) as caught:
        Context(modules=[wrong, make_host(), user])
    assert caught.value.status == StatusCode.INCOMPATIBLE
    assert "library.add" in str(caught.value)


async def test_newest_module_wins(library, user):
    shadow = PythonModule("library", 9)

    @shadow.export("0ii_i")
    def add(a, b):
        return a * b

    @shadow.export("0If_If")
    def scale(x, f):
        return x, f

    program = asyncvm.load(user, modules=[library, shadow, make_host()])
    assert await program.invoke("sum3", 2, 3, 4) == (24,)


async def test_python_export_failure_carries_vm_backtrace(library, user):
    host = PythonModule("host")

    @host.export("0i_i")
    def fetch(key):
        raise VMError(StatusCode.RESOURCE_EXHAUSTED, "no more keys")

    program = asyncvm.load(user, modules=[library, host])
    with pytest.raises(VMError) as caught:
        await program.invoke("fetch_sum", 2)
    assert caught.value.status == StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.location.module == "user"
    assert caught.value.location.function == "fetch_sum"
    assert caught.value.location.pc is not None
    # The context stays usable for the next invocation.
    assert await program.invoke("sum3", 1, 1, 1) == (3,)



async def test_python_export_wrong_result_type_is_invalid_argument(library, user):
    host = PythonModule("host")

    @host.export("0i_i")
    def fetch(key):
        return str(key)

    program = asyncvm.load(user, modules=[library, host])
    with pytest.raises(VMError) as caught:
        await program.invoke("fetch_sum", 1)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert caught.value.message == "host.fetch result 0: expected an integer (i32), got str"
    assert caught.value.location.function == "fetch_sum"
