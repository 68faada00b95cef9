"""llvm-cpu executables (system libraries and embedded ELFs): loading,
exports, and bad input that never crashes."""

from __future__ import annotations

import pytest

from asyncvm.vm import StatusCode, VMError
from hal import EmbeddedElfExecutable, SystemLibraryExecutable
from modules.bytecode import BytecodeModule


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
    from hal import Buffer, DispatchState
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
