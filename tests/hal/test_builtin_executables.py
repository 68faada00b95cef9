"""Builtin executables: the dispatches the compiler adds itself.

A fill with a 64-bit pattern cannot be a HAL fill (patterns are at most 32
bits), so the compiler adds the dispatch ``__builtin_splat_i64`` to the
program's executable and looks it up by name with
``hal.executable.lookup.function``. Its name starts with ``__`` but it is an
entry point like any other: as in IREE's VMVX loader
(``runtime/src/iree/hal/local/loaders/vmvx_module_loader.c``), entry point
``i`` of a VMVX executable is export ``i`` of its kernel module, every
export counted, in export order, each with the VMVX calling convention
(else INVALID_ARGUMENT). Compared with IREE's runtime on VMVX and llvm-cpu
builds, on both local drivers.
"""

from __future__ import annotations

import numpy
import pytest

import asyncvm
from asyncvm.hal import DispatchState
from asyncvm.hal._executable import lookup_function
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.vmvx import VmvxExecutable
from asyncvm.vm import StatusCode, VMError

runtime = pytest.importorskip("iree.runtime")
from _iree_reference import iree_tensor_results  # noqa: E402  (after the importorskip)

BUILDS = {
    "vmvx": (),
    "llvm-cpu-embedded": ("--iree-hal-local-target-device-backends=llvm-cpu",
                          "--iree-llvmcpu-target-cpu=generic"),
    "llvm-cpu-system": ("--iree-hal-local-target-device-backends=llvm-cpu",
                        "--iree-llvmcpu-link-embedded=false",
                        "--iree-llvmcpu-target-cpu=generic"),
}

CASES = {
    "fill_arg": [[7], [-1], [2**63 - 1], [-(2**40) + 3]],
    "fill_dynamic": [[-5000000000, 3], [1, 0], [2**33, 1]],
    "fill_unfoldable": [[]],
    "fill_and_add": [[5, numpy.arange(5, dtype=numpy.int64)],
                     [-(2**35), numpy.array([1, 2**40, -3, 0, 9], numpy.int64)]],
}


@pytest.fixture(scope="module", params=sorted(BUILDS))
def build(request):
    return request.param


@pytest.fixture(scope="module")
def fills(build, compile_mlir):
    return compile_mlir("builtin_fills.mlir", *BUILDS[build])


@pytest.fixture(params=["local-sync", "local-task"])
def driver(request):
    return request.param


def embedded_vmvx_modules(vmfb) -> list[bytes]:
    """The VMVX executables (kernel modules, VM flatbuffer archives) a
    program embeds as rodata."""
    main = asyncvm.load(vmfb).main
    return [bytes(segment.data) for segment in main.definition.rodata
            if bytes(segment.data[:4]) == b"PK\x03\x04"]


@pytest.mark.anyio
@pytest.mark.parametrize("function", sorted(CASES))
async def test_builtin_fills_match_iree(fills, driver, function):
    program = asyncvm.load(fills, device=driver)
    for arguments in CASES[function]:
        expected = iree_tensor_results(fills, function, arguments, driver=driver)
        results = await program.invoke(function, *arguments)
        assert len(results) == len(expected)
        for actual, wanted in zip(results, expected):
            assert actual.dtype == wanted.dtype and actual.shape == wanted.shape
            assert numpy.array_equal(actual, wanted), (function, arguments)
    await program.close()


@pytest.mark.anyio
async def test_builtin_fill_values(fills, driver):
    program = asyncvm.load(fills, device=driver)
    (filled,) = await program.invoke("fill_arg", 2**62 + 1)
    assert filled.dtype == numpy.int64 and filled.shape == (4, 8)
    assert (filled == 2**62 + 1).all()
    (empty,) = await program.invoke("fill_dynamic", 9, 0)
    assert empty.shape == (0, 3)
    sums, square = await program.invoke("fill_and_add", 10, numpy.arange(5, dtype=numpy.int64))
    assert sums.tolist() == [10, 11, 12, 13, 14] and square.tolist() == [[10, 10], [10, 10]]


def test_the_compiler_adds_a_builtin_export(compile_mlir):
    # The precondition: the builtin comes first in the kernel module's exports.
    (data,) = embedded_vmvx_modules(compile_mlir("builtin_fills.mlir"))
    names = [descriptor.name for descriptor in BytecodeModule.load(data).exports]
    assert names[0] == "__builtin_splat_i64" and len(names) == 2


def test_vmvx_entry_points_are_every_export_in_order(compile_mlir):
    (data,) = embedded_vmvx_modules(compile_mlir("builtin_fills.mlir"))
    module = BytecodeModule.load(data)
    executable = VmvxExecutable(data)
    assert executable.function_names == [descriptor.name for descriptor in module.exports]
    assert lookup_function(executable, "__builtin_splat_i64") == 0
    assert lookup_function(executable, "fill_and_add_dispatch_0_elementwise_5_i64") == 1


@pytest.mark.parametrize("name", ["__builtin_splat_i32", "__builtin_splat_i64 ",
                                  "linked_module.__builtin_splat_i64", "__init", ""])
def test_lookup_of_a_missing_function_is_not_found(compile_mlir, name):
    (data,) = embedded_vmvx_modules(compile_mlir("builtin_fills.mlir"))
    executable = VmvxExecutable(data)
    with pytest.raises(VMError) as caught:
        lookup_function(executable, name)
    assert caught.value.status == StatusCode.NOT_FOUND
    assert repr(name) in caught.value.message


class HostBuffer:
    """Just enough of a HAL buffer for a dispatch binding."""

    def __init__(self, size: int) -> None:
        self.memory = numpy.zeros(size, numpy.uint8)

    def bytes_view(self, offset: int, length: int) -> memoryview:
        return memoryview(self.memory)[offset:offset + length]


def test_dispatch_of_the_builtin_by_its_ordinal_splats(compile_mlir):
    # The ordinal hal.executable.lookup.function answers is the one dispatch
    # runs. Constants as the compiled fill_arg passes them:
    # [0, pattern low, pattern high, element count, 0] over one 256-byte binding.
    (data,) = embedded_vmvx_modules(compile_mlir("builtin_fills.mlir"))
    executable = VmvxExecutable(data)
    value = -(2**40) - 7
    low, high = value & 0xFFFFFFFF, (value >> 32) & 0xFFFFFFFF
    target = HostBuffer(256)
    state = DispatchState(workgroup_count=(1, 1, 1), constants=(0, low, high, 32, 0),
                          bindings=((target, 0, 256),))
    executable.dispatch(lookup_function(executable, "__builtin_splat_i64"), state)
    assert (target.memory.view(numpy.int64) == value).all()


VMVX_LIKE = """
vm.module @kernels {
  vm.func private @__builtin_first(%local : !vm.buffer, %constants : !vm.buffer,
                                   %bindings : !vm.list<!vm.buffer>,
                                   %x : i32, %y : i32, %z : i32, %sx : i32, %sy : i32,
                                   %sz : i32, %cx : i32, %cy : i32, %cz : i32) {
    vm.return
  }
  vm.func private @second(%local : !vm.buffer, %constants : !vm.buffer,
                          %bindings : !vm.list<!vm.buffer>,
                          %x : i32, %y : i32, %z : i32, %sx : i32, %sy : i32,
                          %sz : i32, %cx : i32, %cy : i32, %cz : i32) {
    vm.return
  }
  vm.export @__builtin_first
  vm.export @second
  EXTRA
}
"""


def test_hand_written_kernel_module_numbers_every_export(tmp_path, compile_mlir):
    source = tmp_path / "builtin_kernels.mlir"
    source.write_text(VMVX_LIKE.replace("EXTRA", ""))
    data = compile_mlir(source, mode="vm").read_bytes()
    executable = VmvxExecutable(data)
    assert executable.function_names == [d.name for d in BytecodeModule.load(data).exports]
    assert sorted(executable.function_names) == ["__builtin_first", "second"]


def test_an_export_without_the_vmvx_convention_is_invalid_argument(tmp_path, compile_mlir):
    # IREE verifies every export of the kernel module against
    # IREE_VMVX_ENTRY_SIGNATURE ("0rrriiiiiiiii_v") when creating the executable.
    source = tmp_path / "builtin_bad_kernels.mlir"
    source.write_text(VMVX_LIKE.replace("EXTRA", """
  vm.func private @__helper(%x : i32) -> i32 {
    vm.return %x : i32
  }
  vm.export @__helper"""))
    data = compile_mlir(source, mode="vm").read_bytes()
    with pytest.raises(VMError) as caught:
        VmvxExecutable(data)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "'__helper'" in caught.value.message and "0rrriiiiiiiii_v" in caught.value.message
