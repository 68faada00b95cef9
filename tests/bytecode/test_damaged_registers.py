"""Damaged bytecode that misuses registers is bad input, found at load or
reported as INVALID_ARGUMENT — never run on invented values.

* A register read on some path before anything wrote it: compiled code never
  does that (SSA dominance), so a module that does is rejected when it loads.
  The case below is the one fuzzing found: in llvm-cpu's ``dense`` the
  constant 32 was written to another register, the shift that splits a
  dimension into the dispatch's two 32-bit constants read the stale register,
  and the kernel was told the batch had 3 + 3 * 2**32 rows.
* An instruction that reads a float where an int was written (IREE shares the
  bank and reinterprets bits; translated code keeps Python ints and floats)
  fails its call with INVALID_ARGUMENT, not INTERNAL.
"""

from __future__ import annotations

import os
import pathlib

import pytest

import asyncvm
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.bytecode._decoder import decode_function
from asyncvm.vm import StatusCode, VMError
from asyncvm.vm._invocation import as_vm_error

from _batch_model import LLVM_CPU

PROGRAM = pathlib.Path(__file__).resolve().parents[2] / "bench" / "fuzz_tensor.mlir"


def redirect_constant(data: bytes, function: str, value: int, register: int) -> bytes:
    """``data`` with the first ``const.i32 value`` of ``function`` writing
    i32 register ``register`` instead of its own."""
    definition = BytecodeModule.load(data).definition
    ordinal = next(export.internal_ordinal for export in definition.exports
                   if export.local_name == function)
    descriptor = definition.functions[ordinal]
    code = definition.bytecode
    base = bytes(data).find(code)
    assert base > 0
    for decoded in decode_function(code, descriptor.bytecode_offset,
                                   descriptor.bytecode_length):
        if decoded.instruction.mnemonic == "const.i32" and value in decoded.values:
            (written,) = decoded.writes
            end = decoded.pc + decoded.length
            assert int.from_bytes(code[end - 2:end], "little") == written.ordinal
            patched = bytearray(data)
            patched[base + end - 2:base + end] = register.to_bytes(2, "little")
            return bytes(patched)
    raise AssertionError(f"no const.i32 {value} in {function}")


def test_a_register_read_before_any_write_is_rejected_at_load(compile_mlir):
    original = compile_mlir(PROGRAM, *LLVM_CPU).read_bytes()
    asyncvm.load(original)  # the program as compiled loads
    damaged = redirect_constant(original, "dense", 32, 31)
    with pytest.raises(VMError) as caught:
        asyncvm.load(damaged)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "function dense: register i" in caught.value.message
    assert "may be read before it is written" in caught.value.message


def test_a_float_read_as_an_int_is_invalid_argument():
    namespace: dict = {}
    exec(compile("def f(value):\n    return value & 1\n", "<asyncvm damaged>", "exec"),
         namespace)
    with pytest.raises(TypeError) as raised:
        namespace["f"](1.5)
    error = as_vm_error(raised.value, [])
    assert error.status == StatusCode.INVALID_ARGUMENT
    assert "a value of another type" in error.message
    # The same exception from anywhere else is still the runtime's own fault.
    with pytest.raises(TypeError) as elsewhere:
        1.5 & 1  # noqa: B018
    assert as_vm_error(elsewhere.value, []).status == StatusCode.INTERNAL


def test_a_huge_vm_buffer_costs_nothing_until_used():
    """Damaged bytecode asked for gigabytes of ``vm.buffer`` and writing the
    zeros alone ran seconds past every deadline (and made them resident);
    large buffers are now zeroed by the system as their pages are touched."""
    from asyncvm.vm import VMBuffer

    statm = pathlib.Path("/proc/self/statm")
    if not statm.exists():
        pytest.skip("needs /proc to read the resident set size")

    def resident() -> int:
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    before = resident()
    buffer = VMBuffer(4 << 30)
    assert resident() - before < (256 << 20)  # not written: not resident
    assert buffer.length == 4 << 30
    assert buffer.slice_bytes((4 << 30) - 8, 8).tobytes() == bytes(8)
    with pytest.raises(VMError) as caught:
        VMBuffer((1 << 40) + 1)
    assert caught.value.status == StatusCode.RESOURCE_EXHAUSTED
