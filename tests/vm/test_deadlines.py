"""Deadlines: an invocation past its timeout is unwound and reported as
DEADLINE_EXCEEDED; the context stays usable."""

from __future__ import annotations

import anyio
import pytest

import asyncvm
from asyncvm.vm import StatusCode, VMError
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.python import PythonModule

pytestmark = pytest.mark.anyio


async def test_long_host_loop_misses_its_deadline(compile_mlir):
    # A loop with no natural suspension point: the quantum lets the deadline in.
    program = asyncvm.load(compile_mlir("control.mlir"))
    with pytest.raises(VMError) as caught:
        await program.invoke("sum_squares", 2_000_000_000, timeout=0.05)
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
    assert "sum_squares" in str(caught.value)
    assert await program.invoke("gcd", 1071, 462, timeout=5) == (21,)


async def test_deadline_while_waiting_on_an_async_import(compile_mlir):
    host = PythonModule("host")

    @host.export("0i_i")
    async def fetch(key):
        await anyio.sleep(10)
        return key

    library = BytecodeModule.load(compile_mlir("ctx_library.mlir", mode="vm"))
    user = BytecodeModule.load(compile_mlir("ctx_user.mlir", mode="vm"))
    program = asyncvm.load(user, modules=[library, host])
    with anyio.fail_after(5):
        with pytest.raises(VMError) as caught:
            await program.invoke("fetch_sum", 3, timeout=0.05)
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
    assert await program.invoke("sum3", 1, 2, 3) == (6,)


async def test_fast_call_meets_its_deadline(compile_mlir):
    program = asyncvm.load(compile_mlir("control.mlir"))
    assert await program.invoke("gcd", 12, 18, timeout=10) == (6,)
