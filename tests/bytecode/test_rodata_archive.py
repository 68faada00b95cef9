"""External rodata in both archive layouts (polyglot ZIP and flat), against IREE."""

from __future__ import annotations

import pytest

from asyncvm.vm import StatusCode, VMError
from asyncvm.modules.bytecode import BytecodeModule

pytestmark = pytest.mark.anyio

LAYOUTS = {"zip": (), "flat": ("--iree-vm-emit-polyglot-zip=false",)}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
async def test_external_rodata_matches_iree(compile_mlir, differential_cases, layout):
    vmfb = compile_mlir("vm_rodata.mlir", *LAYOUTS[layout], mode="vm")
    module = BytecodeModule.load(vmfb)
    assert [segment.external for segment in module.definition.rodata].count(True) >= 2
    assert vmfb.read_bytes().startswith(b"PK\x03\x04") == (layout == "zip")
    await differential_cases(vmfb, "read", [(0,), (1,), (2,), (3,)])
    await differential_cases(vmfb, "hash_table", [()])


def test_external_rodata_outside_the_file_is_rejected(compile_mlir):
    data = compile_mlir("vm_rodata.mlir", mode="vm").read_bytes()
    with pytest.raises(VMError) as caught:
        BytecodeModule.load(data[:len(data) - 4096])
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "rodata segment" in str(caught.value)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_external_rodata_keeps_its_64_byte_alignment_in_memory(compile_mlir, layout):
    import numpy
    module = BytecodeModule.load(compile_mlir("vm_rodata.mlir", *LAYOUTS[layout], mode="vm"))
    for segment in module.definition.rodata:
        if segment.external:
            address = numpy.frombuffer(segment.data, dtype=numpy.uint8).__array_interface__["data"][0]
            assert address % 64 == 0
