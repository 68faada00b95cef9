"""Hostile input: mutated and truncated .vmfb bytes load and run to a right
answer or a VMError — never another exception, a hang or a crash."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asyncvm
from asyncvm.vm import StatusCode, VMError
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.bytecode._module_definition import split_archive

CALLS = [("tick", (5,)), ("mix", (10, 2.0)), ("listy", (10,))]


@pytest.fixture(scope="module")
def original(compile_mlir) -> bytes:
    return compile_mlir("fuzz_target.mlir").read_bytes()


@pytest.fixture(scope="module")
def expected(original) -> dict:
    async def collect():
        program = asyncvm.load(original)
        return {name: await program.invoke(name, *args) for name, args in CALLS}
    return anyio.run(collect)


def run_all(data: bytes, backend: str) -> dict:
    """Loads and runs every call; returns results, or raises VMError."""
    async def body():
        program = asyncvm.load(data)
        results = {}
        for name, args in CALLS:
            with anyio.move_on_after(2):
                results[name] = await program.invoke(name, *args)
        return results
    return anyio.run(body, backend=backend)


mutations = st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)),
                     min_size=1, max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(edits=mutations, backend=st.sampled_from(["asyncio", "trio"]))
def test_mutated_bytes_give_answer_or_vm_error(original, expected, edits, backend):
    data = bytearray(original)
    for position, value in edits:
        data[position % len(data)] = value
    try:
        results = run_all(bytes(data), backend)
    except VMError:
        return
    if bytes(data) == original:
        assert results == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0))
def test_truncated_bytes(original, expected, cut):
    """Cut inside the module: INVALID_ARGUMENT. Cut only from the ZIP trailer
    after it: the module is whole and still gives the right answers."""
    data = original[:cut % len(original)]
    flatbuffer, _ = split_archive(memoryview(original))
    module_end = original.find(bytes(flatbuffer)) + len(flatbuffer)
    if len(data) < module_end:
        with pytest.raises(VMError) as caught:
            BytecodeModule.load(data)
        assert caught.value.status == StatusCode.INVALID_ARGUMENT
    else:
        assert run_all(data, "asyncio") == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(edits=mutations)
def test_mutated_bytecode_section(original, expected, edits):
    """Mutations aimed at the instruction stream, where the verifier must hold."""
    module = BytecodeModule.load(original)
    code = module.definition.bytecode
    start = bytes(original).find(code)
    assert start > 0
    data = bytearray(original)
    for position, value in edits:
        data[start + position % len(code)] = value
    try:
        run_all(bytes(data), "asyncio")
    except VMError:
        pass


def test_garbage_is_rejected():
    for data in (b"", b"PK\x03\x04", b"\0" * 64, b"IREE" * 100):
        with pytest.raises(VMError):
            BytecodeModule.load(data)
