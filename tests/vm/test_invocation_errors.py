"""Bad calls and failure locations: wrong arguments, unknown functions, the
VM backtrace with source lines, and the stack depth bound."""

from __future__ import annotations

import pytest

import asyncvm
from asyncvm.vm import StatusCode, VMError

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def program_path(compile_mlir):
    return compile_mlir("fuzz_target.mlir")


@pytest.mark.parametrize("arguments, fragment", [
    ((), "takes 2 argument(s)"),
    ((1, 2.0, 3), "takes 2 argument(s)"),
    (("ten", 2.0), "argument 0"),
    ((1.5, 2.0), "argument 0"),
    ((1, "x"), "argument 1"),
    ((2**32, 1.0), "does not fit"),
    ((None, 1.0), "argument 0"),
])
async def test_wrong_arguments_are_invalid_argument(program_path, arguments, fragment):
    program = asyncvm.load(program_path)
    with pytest.raises(VMError) as caught:
        await program.invoke("mix", *arguments)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert fragment in str(caught.value)
    assert "mix" in str(caught.value)
    # The program is still usable afterwards.
    assert (await program.invoke("listy", 3)) == (3,)


async def test_unknown_function_is_not_found(program_path):
    program = asyncvm.load(program_path)
    with pytest.raises(VMError) as caught:
        await program.invoke("no_such_function")
    assert caught.value.status == StatusCode.NOT_FOUND
    assert "no_such_function" in str(caught.value)


def test_unreadable_file_is_not_found(tmp_path):
    with pytest.raises(VMError) as caught:
        asyncvm.load(tmp_path / "missing.vmfb")
    assert caught.value.status == StatusCode.NOT_FOUND


async def test_failure_carries_source_location(compile_mlir):
    # The compiler keeps a source map for one function of this module (the
    # last); a failure there reports the MLIR line.
    program = asyncvm.load(compile_mlir("vm_failures.mlir", mode="vm"))
    with pytest.raises(VMError) as caught:
        await program.invoke("unguarded_variadic", 1, 2)
    location = caught.value.location
    assert location.module == "vm_failures" and location.function == "unguarded_variadic"
    assert location.pc is not None
    assert location.source is not None and "vm_failures.mlir:" in location.source
    assert f"vm_failures.unguarded_variadic@{location.pc}" in str(caught.value)


async def test_call_depth_is_bounded(compile_mlir):
    program = asyncvm.load(compile_mlir("vm_failures.mlir", mode="vm"))
    program.context.max_depth = 64
    assert await program.invoke("depth", 50) == (50,)
    with pytest.raises(VMError) as caught:
        await program.invoke("depth", 1000)
    assert caught.value.status == StatusCode.RESOURCE_EXHAUSTED
    assert "64 frames" in str(caught.value)
    # The backtrace names every frame on the stack, innermost first.
    frames = caught.value.backtrace
    assert len(frames) == 64
    assert all(frame.function == "depth" and frame.pc is not None for frame in frames)
    # The context is unharmed.
    assert await program.invoke("depth", 10) == (10,)


async def test_backtrace_names_every_frame(compile_mlir):
    program = asyncvm.load(compile_mlir("vm_backtrace.mlir", mode="vm"))
    assert await program.invoke("outer", 3) == (8,)
    with pytest.raises(VMError) as caught:
        await program.invoke("outer", 5)
    assert caught.value.status == StatusCode.OUT_OF_RANGE
    frames = caught.value.backtrace
    # inner and middle are not exported, so they are named by ordinal.
    assert [frame.function for frame in frames][-1] == "outer"
    assert len(frames) == 3
    assert len({frame.function for frame in frames}) == 3
    assert all(frame.module == "vm_backtrace" and frame.pc is not None for frame in frames)
