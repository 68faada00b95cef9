"""llvm-cpu executables (system libraries and embedded ELFs): loading,
exports, and bad input that never crashes."""

from __future__ import annotations

import pytest

from asyncvm.vm import StatusCode, VMError
from asyncvm.hal import EmbeddedElfExecutable, SystemLibraryExecutable
from asyncvm.modules.bytecode import BytecodeModule

from _executable_libraries import compile_library


@pytest.fixture(scope="module")
def library_bytes(compile_mlir) -> bytes:
    vmfb = compile_mlir("tensor_basic.mlir", "--iree-hal-local-target-device-backends=llvm-cpu",
                        "--iree-llvmcpu-link-embedded=false", "--iree-llvmcpu-target-cpu=generic")
    segments = BytecodeModule.load(vmfb).definition.rodata
    return next(bytes(s.data) for s in segments if bytes(s.data[:4]) == b"\x7fELF")


def test_library_exports_every_dispatch(library_bytes):
    executable = SystemLibraryExecutable(library_bytes)
    assert "add_dispatch_0_elementwise_4_f32" in executable.function_names
    assert len(executable.function_names) >= 8


@pytest.mark.parametrize("cut", [64, 1000, 4096, -100])
def test_truncated_library_is_a_vm_error(library_bytes, cut):
    with pytest.raises(VMError) as caught:
        SystemLibraryExecutable(library_bytes[:cut])
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "system-elf-x86_64" in str(caught.value)


def test_not_an_elf_file_is_named():
    with pytest.raises(VMError) as caught:
        SystemLibraryExecutable(b"MZ" + b"\0" * 200)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "not an ELF shared object" in str(caught.value)


def test_no_temporary_file_outlives_loading(library_bytes, tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    SystemLibraryExecutable(library_bytes)
    assert list(tmp_path.iterdir()) == []


def test_every_truncation_is_rejected_before_loading(library_bytes):
    for cut in range(0, len(library_bytes), 1531):
        with pytest.raises(VMError):
            SystemLibraryExecutable(library_bytes[:cut])


@pytest.fixture(scope="module")
def embedded_bytes(compile_mlir) -> bytes:
    vmfb = compile_mlir("tensor_basic.mlir", "--iree-hal-local-target-device-backends=llvm-cpu",
                        "--iree-llvmcpu-target-cpu=generic")
    segments = BytecodeModule.load(vmfb).definition.rodata
    return next(bytes(s.data) for s in segments if bytes(s.data[:4]) == b"\x7fELF")


def test_embedded_elf_loads_without_the_system_loader(embedded_bytes):
    executable = EmbeddedElfExecutable(embedded_bytes)
    assert "add_dispatch_0_elementwise_4_f32" in executable.function_names


def test_embedded_elf_truncations_are_rejected(embedded_bytes):
    for cut in range(0, len(embedded_bytes), 1531):
        with pytest.raises(VMError) as caught:
            EmbeddedElfExecutable(embedded_bytes[:cut])
        assert "embedded-elf-x86_64" in str(caught.value)


def test_embedded_elf_with_bad_relocations_is_rejected(embedded_bytes):
    import struct
    data = bytearray(embedded_bytes)
    # Find DT_RELA through the dynamic segment, then point the first
    # relocation far outside the image.
    program_offset, program_count = struct.unpack_from("<Q", data, 32)[0], \
        struct.unpack_from("<H", data, 56)[0]
    headers = [struct.unpack_from("<IIQQQQQQ", data, program_offset + 56 * i)
               for i in range(program_count)]
    dynamic = next(h for h in headers if h[0] == 2)
    entries = [struct.unpack_from("<qQ", data, dynamic[2] + 16 * i)
               for i in range(dynamic[5] // 16)]
    relocations_at = dict(entries)[7]  # DT_RELA (file offset == address in this image)
    struct.pack_into("<Q", data, relocations_at, 1 << 40)
    with pytest.raises(VMError) as caught:
        EmbeddedElfExecutable(bytes(data))
    assert "relocation target" in str(caught.value)


def build_fake_library(tmp_path, version: int = 6) -> bytes:
    import shutil
    import subprocess
    import pathlib
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the test library")
    source = pathlib.Path(__file__).parent / "native" / "fake_library.c"
    output = tmp_path / f"fake{version}.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", f"-DFAKE_VERSION={version}",
                    str(source), "-o", str(output)], check=True)
    return output.read_bytes()


def test_library_dispatch_abi_and_failing_kernels(tmp_path):
    import numpy
    from asyncvm.hal import Buffer, DispatchState
    executable = SystemLibraryExecutable(build_fake_library(tmp_path))
    assert executable.function_names == ["write_ids", "fail"]
    target = Buffer.allocate(16)
    executable.dispatch(0, DispatchState((4, 1, 1), (100,), ((target, 0, 16),)))
    assert target.array(numpy.uint32, (4,)).tolist() == [100, 101, 102, 103]
    with pytest.raises(VMError) as caught:
        executable.dispatch(1, DispatchState((2, 1, 1), (), ()))
    assert caught.value.status == StatusCode.INTERNAL
    assert "dispatch of fail failed: the kernel returned 7" in str(caught.value)


def test_library_newer_than_the_runtime_is_refused(tmp_path):
    with pytest.raises(VMError) as caught:
        SystemLibraryExecutable(build_fake_library(tmp_path, version=7))
    assert caught.value.status == StatusCode.FAILED_PRECONDITION
    assert "system-elf-x86_64" in str(caught.value) and "version" in str(caught.value)


# -- the workgroup loop: in C (hal._workgroup_loop) and in Python --------------------

GRID_LIBRARY = r"""
/* Export 0 ("record") writes x | y << 8 | z << 16 | 1 << 24 for its
 * workgroup at the workgroup's linear index in binding 0 (uint32); export 1
 * ("fail_at") does the same except at workgroup (constants[0], constants[1],
 * constants[2]), where it writes nothing and returns 9. */
#include <stddef.h>
#include <stdint.h>

#include "library_abi.h"

static void put(const struct dispatch *d, const struct workgroup *w) {
  uint32_t linear = (w->z * d->count_y + w->y) * d->count_x + w->x;
  ((uint32_t *)d->bindings[0])[linear] = w->x | w->y << 8 | (uint32_t)w->z << 16 | 1u << 24;
}
static int record(const void *e, const struct dispatch *d, const struct workgroup *w) {
  (void)e; put(d, w); return 0;
}
static int fail_at(const void *e, const struct dispatch *d, const struct workgroup *w) {
  (void)e;
  if (w->x == d->constants[0] && w->y == d->constants[1] && w->z == d->constants[2]) return 9;
  put(d, w); return 0;
}

static const entry entries[] = {record, fail_at};
static const struct attributes attributes[2] = {{0, 0, 0, 1, 1, 1, 1, 0, {0}},
                                                 {0, 0, 3, 1, 1, 1, 1, 0, {0}}};
static const char *const names[] = {"record", "fail_at"};
ASYNCVM_TEST_LIBRARY("grid", 2)
"""


def test_workgroup_loop_extension_is_built():
    # pip install builds hal._workgroup_loop wherever there is a C compiler;
    # the Python loop is only the fallback for hosts without one.
    import os
    import shutil
    import asyncvm.hal._native_library as native_library
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the extension is optional")
    if os.environ.get("ASYNCVM_WITHOUT_C_EXTENSIONS") == "1":
        pytest.skip("the C extensions are blocked in this session (the fallbacks' run)")
    assert native_library._run_workgroups is not None, \
        "hal._workgroup_loop is not importable: reinstall with pip install -e ."
    assert native_library.NATIVE_WORKGROUP_LOOP


@pytest.fixture(params=["native-loop", "python-loop"])
def workgroup_loop(request, monkeypatch):
    """Runs the test with dispatches through the C workgroup loop, then the Python one."""
    import asyncvm.hal._native_library as native_library
    native = request.param == "native-loop"
    if native and native_library._run_workgroups is None:
        pytest.skip("hal._workgroup_loop was not built")
    monkeypatch.setattr(native_library, "NATIVE_WORKGROUP_LOOP", native)
    return request.param


@pytest.fixture(scope="module")
def grid_library(tmp_path_factory) -> bytes:
    return compile_library(tmp_path_factory.mktemp("grid"), "grid", GRID_LIBRARY)


def expected_grid(count, skip=None):
    import numpy
    count_x, count_y, count_z = count
    ids = [x | y << 8 | z << 16 | 1 << 24 for z in range(count_z) for y in range(count_y)
           for x in range(count_x)]
    if skip is not None:
        ids[skip] = 0
    return numpy.array(ids, numpy.uint32)


def split_unevenly(count, body):
    """A for_each that cuts odd slices, including an empty one, in order."""
    bounds = sorted({0, count, min(count, 1), min(count, 7), min(count, 8)})
    body(0, 0)
    for first, end in zip(bounds, bounds[1:]):
        body(first, end)


@pytest.mark.parametrize("count", [(1, 1, 1), (5, 1, 1), (4, 3, 1), (5, 3, 2), (2, 1, 300)])
@pytest.mark.parametrize("splitting", ["in-order", "uneven", "local-task"])
def test_every_workgroup_runs_once_with_its_ids(workgroup_loop, grid_library, count, splitting):
    import numpy
    from asyncvm.hal import Buffer, Device, DispatchState
    from asyncvm.hal._executable import run_in_order
    executable = SystemLibraryExecutable(grid_library)
    total = count[0] * count[1] * count[2]
    target = Buffer.allocate(4 * total)
    target.bytes_view(0, 4 * total)[:] = 0
    device = Device("local-task", workers=2)
    for_each = {"in-order": run_in_order, "uneven": split_unevenly,
                "local-task": device.for_each}[splitting]
    executable.dispatch(0, DispatchState(count, (), ((target, 0, 4 * total),), for_each))
    numpy.testing.assert_array_equal(target.array(numpy.uint32, (total,)), expected_grid(count))


@pytest.mark.parametrize("splitting", ["in-order", "uneven", "local-task"])
def test_failing_kernel_names_its_workgroup(workgroup_loop, grid_library, splitting):
    import numpy
    from asyncvm.hal import Buffer, Device, DispatchState
    from asyncvm.hal._executable import run_in_order
    executable = SystemLibraryExecutable(grid_library)
    count, failing = (5, 3, 2), (3, 1, 1)
    total = 30
    failing_index = (failing[2] * count[1] + failing[1]) * count[0] + failing[0]
    target = Buffer.allocate(4 * total)
    target.bytes_view(0, 4 * total)[:] = 0
    device = Device("local-task", workers=2)
    for_each = {"in-order": run_in_order, "uneven": split_unevenly,
                "local-task": device.for_each}[splitting]
    with pytest.raises(VMError) as caught:
        executable.dispatch(1, DispatchState(count, failing, ((target, 0, 4 * total),),
                                             for_each))
    assert caught.value.status == StatusCode.INTERNAL
    assert "dispatch of fail_at failed: the kernel returned 9 (workgroup 3, 1, 1)" \
        in str(caught.value)
    ids = target.array(numpy.uint32, (total,))
    # Slices (or, on a workgroup team, workgroups) are claimed in order, and
    # each one claimed runs to its end or its failure: every workgroup before
    # the failing one ran, and the failing one wrote nothing.
    numpy.testing.assert_array_equal(ids[:failing_index], expected_grid(count)[:failing_index])
    assert ids[failing_index] == 0
    if splitting != "local-task":
        # On one thread (the failing workgroup is in the last slice here),
        # nothing after it runs; in parallel, another thread may have
        # claimed a later slice before the failure.
        assert not ids[failing_index:].any()


LLVM_CPU_BUILDS = {
    "system": ("--iree-hal-local-target-device-backends=llvm-cpu",
               "--iree-llvmcpu-link-embedded=false", "--iree-llvmcpu-target-cpu=generic"),
    "embedded": ("--iree-hal-local-target-device-backends=llvm-cpu",
                 "--iree-llvmcpu-target-cpu=generic"),
}


@pytest.fixture(scope="module", params=sorted(LLVM_CPU_BUILDS))
def llvm_cpu_build(request):
    return request.param


@pytest.fixture(scope="module")
def multi_workgroup_program(compile_mlir, llvm_cpu_build):
    return compile_mlir("multi_workgroup_layer.mlir", *LLVM_CPU_BUILDS[llvm_cpu_build])


@pytest.fixture(scope="module")
def basic_program(compile_mlir, llvm_cpu_build):
    return compile_mlir("tensor_basic.mlir", *LLVM_CPU_BUILDS[llvm_cpu_build])


@pytest.mark.anyio
@pytest.mark.parametrize("driver", ["local-sync", "local-task"])
async def test_programs_match_iree_with_either_workgroup_loop(
        workgroup_loop, driver, multi_workgroup_program, basic_program):
    import anyio
    import numpy
    import asyncvm
    pytest.importorskip("iree.runtime")
    from _iree_reference import iree_tensor_results
    random = numpy.random.default_rng(11)

    def f32(*shape):
        return random.standard_normal(shape).astype(numpy.float32)

    cases = [(multi_workgroup_program, "layer", [f32(96, 256), f32(256, 160), f32(96, 160)]),
             (basic_program, "matmul", [f32(4, 8), f32(8, 16)]),
             (basic_program, "dynamic_matmul", [f32(5, 7), f32(7, 3)]),
             (basic_program, "transpose", [numpy.arange(6, dtype=numpy.int32).reshape(2, 3)]),
             (basic_program, "add", [f32(4), f32(4)])]
    for vmfb, function, arguments in cases:
        expected = iree_tensor_results(vmfb, function, arguments)
        program = asyncvm.load(vmfb, device=driver)
        results = {}

        async def call(slot):
            results[slot] = await program.invoke(function, *arguments)

        async with anyio.create_task_group() as group:  # concurrent calls share the workers
            for slot in range(3):
                group.start_soon(call, slot)
        for slot in range(3):
            assert len(results[slot]) == len(expected)
            for actual, wanted in zip(results[slot], expected):
                assert actual.dtype == wanted.dtype and actual.shape == wanted.shape
                assert numpy.array_equal(actual, wanted), (function, slot)
