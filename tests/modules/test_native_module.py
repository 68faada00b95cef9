"""Native modules: a tvm-ffi C++ library, built here with the system
compiler, serves the imports of a program compiled by iree-compile.

The same program runs with the module written as a Python file, on both
drivers and both backends, under asyncio and trio; answers are compared
with numpy. Then the error cases: a missing function, a declaration that
contradicts the library's metadata, wrong values, an error raised inside the
library, files that are not libraries.
"""

from __future__ import annotations

import gc
import textwrap

import anyio
import numpy
import pytest

import asyncvm
from asyncvm.hal import BufferView
from asyncvm.modules.native import NativeLibraryModule
from asyncvm.vm import StatusCode, VMError

from _native_library import HOST_FILE, build_library

pytestmark = pytest.mark.anyio

LLVM_CPU = ("--iree-hal-local-target-device-backends=llvm-cpu",
            "--iree-llvmcpu-target-cpu=host")
BACKENDS = {"vmvx": (), "llvm-cpu": LLVM_CPU}
DRIVERS = ["local-sync", "local-task"]

@pytest.fixture(scope="session")
def library_path(tmp_path_factory):
    return build_library(tmp_path_factory.mktemp("native"))


@pytest.fixture(scope="session")
def plain_library_path(tmp_path_factory):
    """The same library without type metadata."""
    return build_library(tmp_path_factory.mktemp("native-plain"), metadata=False)


@pytest.fixture(scope="session")
def host_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("host") / "host.py"
    path.write_text(HOST_FILE)
    return path


@pytest.fixture(params=list(BACKENDS))
def program_path(request, compile_mlir):
    return compile_mlir("native_imports.mlir", *BACKENDS[request.param])


def vector(count: int, seed: int = 0) -> numpy.ndarray:
    return numpy.random.default_rng(seed).standard_normal(count).astype(numpy.float32)


# -- the library serves a compiled program --------------------------------------------


@pytest.mark.parametrize("device", DRIVERS)
async def test_library_serves_a_compiled_program(library_path, program_path, device):
    async with asyncvm.load(program_path, modules=[library_path], device=device) as program:
        x = vector(7)
        before = x.copy()
        (result,) = await program.invoke("scale_plus", x, 2.5)
        numpy.testing.assert_array_equal(result, x * numpy.float32(2.5) + x)
        numpy.testing.assert_array_equal(x, before)  # the caller's array is untouched
        assert await program.invoke("add_times_three", 20, 22) == (126,)
        assert await program.invoke("add_times_three", -(1 << 40), 1) == ((1 - (1 << 40)) * 3,)
        assert await program.invoke("half", 5.0) == (2.5,)
        (empty,) = await program.invoke("scale_plus", numpy.zeros(0, numpy.float32), 3.0)
        assert empty.shape == (0,)


@pytest.mark.parametrize("device", DRIVERS)
async def test_a_python_file_serves_the_same_program(library_path, host_file, program_path,
                                                     device):
    x = vector(9, seed=1)
    answers = []
    for module in (library_path, host_file):
        async with asyncvm.load(program_path, modules=[module], device=device) as program:
            answers.append(((await program.invoke("scale_plus", x, -1.5))[0],
                            await program.invoke("add_times_three", 4, 5),
                            await program.invoke("half", 3.0)))
    (library_tensor, *library_scalars), (file_tensor, *file_scalars) = answers
    numpy.testing.assert_array_equal(library_tensor, x * numpy.float32(-1.5) + x)
    numpy.testing.assert_array_equal(file_tensor, library_tensor)
    assert library_scalars == file_scalars == [(27,), (1.5,)]


async def test_many_concurrent_invocations_call_into_the_library(library_path, compile_mlir):
    path = compile_mlir("native_imports.mlir", *LLVM_CPU)
    inputs = [vector(1 + index % 13, seed=index) for index in range(64)]
    results: dict[int, numpy.ndarray] = {}
    async with asyncvm.load(path, modules=[library_path], device="local-task") as program:
        async def call(index: int) -> None:
            (results[index],) = await program.invoke("scale_plus", inputs[index], float(index))
            assert await program.invoke("add_times_three", index, 1) == ((index + 1) * 3,)

        async with anyio.create_task_group() as group:
            for index in range(len(inputs)):
                group.start_soon(call, index)
    for index, x in enumerate(inputs):
        numpy.testing.assert_array_equal(results[index], x * numpy.float32(index) + x)


async def test_a_long_native_call_does_not_stall_other_invocations(library_path, compile_mlir):
    """While one invocation sits in a 100 ms native call, others finish."""
    async with asyncvm.load(compile_mlir("native_imports.mlir"),
                            modules=[library_path]) as program:
        finished: list[str] = []

        async def sleeper() -> None:
            assert await program.invoke("sleep", 100) == (100,)
            finished.append("sleeper")

        async with anyio.create_task_group() as group:
            group.start_soon(sleeper)
            await anyio.sleep(0.01)  # let the sleeper reach its native call
            for index in range(20):
                assert await program.invoke("add_times_three", index, 0) == (3 * index,)
                finished.append("quick")
        assert finished == ["quick"] * 20 + ["sleeper"]


async def test_an_inline_function_runs_on_the_loop_thread(library_path, compile_mlir):
    """inline= trades the thread hand-off for a call that blocks the loop:
    a heartbeat on the loop misses the whole 50 ms of the native sleep."""
    library = NativeLibraryModule(library_path, inline=["sleep_ms", "add"])
    async with asyncvm.load(compile_mlir("native_imports.mlir"), modules=[library]) as program:
        gaps: list[float] = []
        done = anyio.Event()

        async def heartbeat() -> None:
            last = anyio.current_time()
            while not done.is_set():
                await anyio.sleep(0.001)
                now = anyio.current_time()
                gaps.append(now - last)
                last = now

        async with anyio.create_task_group() as group:
            group.start_soon(heartbeat)
            await anyio.sleep(0.005)
            assert await program.invoke("sleep", 50) == (50,)
            assert await program.invoke("add_times_three", 1, 2) == (9,)
            done.set()
        assert max(gaps) >= 0.045  # the loop stood still while the library slept
    with pytest.raises(VMError) as caught:
        NativeLibraryModule(library_path, inline=["nope"])
    assert caught.value.status == StatusCode.INVALID_ARGUMENT and "nope" in caught.value.message


async def test_a_deadline_does_not_wait_for_the_native_call(library_path, compile_mlir):
    async with asyncvm.load(compile_mlir("native_imports.mlir"),
                            modules=[library_path]) as program:
        began = anyio.current_time()
        with pytest.raises(VMError) as caught:
            await program.invoke("sleep", 3000, timeout=0.1)
        assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
        assert anyio.current_time() - began < 2.0  # not the 3 s the library sleeps
        assert await program.invoke("add_times_three", 1, 1) == (6,)  # still healthy


async def test_native_calls_appear_in_a_trace(library_path, compile_mlir):
    async with asyncvm.load(compile_mlir("native_imports.mlir"),
                            modules=[library_path]) as program:
        with asyncvm.vm.tracing() as tracer:
            assert await program.invoke("add_times_three", 1, 2) == (9,)
        native = [event for event in tracer.events if event.get("cat") == "native"]
        assert [event["name"] for event in native] == ["native.add"]
        assert native[0]["ph"] == "X" and native[0]["dur"] >= 0


# -- values -------------------------------------------------------------------------------


async def test_tensors_cross_without_copies(library_path):
    """A buffer view reaches the library as its own memory, and a tensor the
    library returns becomes a buffer view over the library's memory."""
    async with asyncvm.load(NativeLibraryModule(library_path)) as program:
        view = BufferView.from_array(asyncvm.aligned_array(vector(16)))
        address = view.to_array().ctypes.data
        assert await program.invoke("native.address", view) == (address,)
        (echoed,) = await program.context.invoke("native.echo", view)
        assert isinstance(echoed, BufferView)
        assert echoed.to_array().ctypes.data == address
        numpy.testing.assert_array_equal(echoed.to_array(), view.to_array())


async def test_a_returned_tensor_outlives_the_program(library_path):
    program = asyncvm.load(NativeLibraryModule(library_path))
    x = vector(1000, seed=3)
    (scaled,) = await program.invoke("native.scale", x, 4.0)
    await program.close()
    del program
    gc.collect()
    for _ in range(10):  # reuse of freed memory would show here
        numpy.ones(1000, numpy.float32) * 7
    numpy.testing.assert_array_equal(scaled, x * numpy.float32(4.0))
    assert scaled.ctypes.data % 64 == 0  # asyncvm's allocator aligns as the HAL does


async def test_protected_arguments_are_copied_before_the_library_writes(library_path):
    async with asyncvm.load(NativeLibraryModule(library_path)) as program:
        x = vector(8)
        before = x.copy()
        assert await program.invoke("native.scale_in_place", x, 2.0) == ()
        numpy.testing.assert_array_equal(x, before)  # a numpy argument is protected
        lent = BufferView.from_array(asyncvm.aligned_array(before))
        await program.context.invoke("native.scale_in_place", lent, 2.0)
        numpy.testing.assert_array_equal(lent.to_array(), before * 2)  # a lent view is written


async def test_scalars_and_tuples(library_path):
    async with asyncvm.load(NativeLibraryModule(library_path)) as program:
        assert await program.invoke("native.add", 1 << 40, 2) == ((1 << 40) + 2,)
        assert await program.invoke("native.half", 3.0) == (1.5,)
        assert await program.invoke("native.split", 10) == (5, 2.5)


# -- errors -------------------------------------------------------------------------------


async def test_an_error_inside_the_library_carries_its_message_and_the_backtrace(
        library_path, compile_mlir):
    async with asyncvm.load(compile_mlir("native_imports.mlir"),
                            modules=[library_path]) as program:
        with pytest.raises(VMError) as caught:
            await program.invoke("fail", 7)
        error = caught.value
        assert error.status == StatusCode.INVALID_ARGUMENT  # a ValueError in the library
        assert "native.fail" in error.message and "the library refuses 7" in error.message
        assert any(frame.function == "fail" for frame in error.backtrace)
        assert await program.invoke("add_times_three", 2, 2) == (12,)  # others unharmed


async def test_a_missing_function_is_not_found_at_link_time(library_path, compile_mlir):
    with pytest.raises(VMError) as caught:
        asyncvm.load(compile_mlir("native_missing.mlir"), modules=[library_path])
    error = caught.value
    assert error.status == StatusCode.NOT_FOUND
    assert "native.missing" in error.message and "scale" in error.message  # lists the exports


async def test_a_declaration_contradicting_the_metadata_is_incompatible(library_path,
                                                                        compile_mlir):
    with pytest.raises(VMError) as caught:
        asyncvm.load(compile_mlir("native_mismatch.mlir"), modules=[library_path])
    error = caught.value
    assert error.status == StatusCode.INCOMPATIBLE
    assert "native.add argument 0 is int" in error.message and "f32" in error.message


async def test_without_metadata_wrong_types_fail_at_the_call(plain_library_path, compile_mlir):
    """A library without metadata links as declared; tvm-ffi checks the call."""
    library = NativeLibraryModule(plain_library_path)
    assert library.exports == []  # nothing to call directly without metadata
    assert set(library.functions) >= {"scale", "add", "fail"}
    async with asyncvm.load(compile_mlir("native_mismatch.mlir"), modules=[library]) as program:
        with pytest.raises(VMError) as caught:
            await program.invoke("add", 1.0, 2.0)
        assert caught.value.status == StatusCode.INVALID_ARGUMENT
        assert "native.add" in caught.value.message
    async with asyncvm.load(compile_mlir("native_imports.mlir"), modules=[library]) as program:
        (result,) = await program.invoke("scale_plus", vector(3), 2.0)
        numpy.testing.assert_array_equal(result, vector(3) * 3)


async def test_wrong_values_are_invalid_argument(library_path):
    async with asyncvm.load(NativeLibraryModule(library_path)) as program:
        for arguments in ((None, 2.0),                                   # a null tensor
                          (numpy.zeros((2, 2), numpy.float32), 2.0),     # not a vector
                          (numpy.zeros(3, numpy.int32), 2.0)):           # not f32
            with pytest.raises(VMError) as caught:
                await program.invoke("native.scale", *arguments)
            assert caught.value.status == StatusCode.INVALID_ARGUMENT, arguments
        with pytest.raises(VMError) as caught:
            await program.context.invoke("native.scale", asyncvm.vm.VMList(), 2.0)
        assert caught.value.status == StatusCode.INVALID_ARGUMENT
        assert "buffer views" in caught.value.message


def test_files_that_are_not_tvm_ffi_libraries(tmp_path, host_file):
    with pytest.raises(VMError) as caught:
        NativeLibraryModule(tmp_path / "absent.so")
    assert caught.value.status == StatusCode.NOT_FOUND
    text = tmp_path / "text.so"
    text.write_text("not an ELF file")
    with pytest.raises(VMError) as caught:
        NativeLibraryModule(text)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    truncated = tmp_path / "truncated.so"
    truncated.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 20)
    with pytest.raises(VMError) as caught:
        NativeLibraryModule(truncated)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


def test_a_shared_library_without_tvm_ffi_functions(tmp_path):
    tvm_cpp = pytest.importorskip("tvm_ffi.cpp", reason="apache-tvm-ffi is not installed")
    source = tmp_path / "plain.c"
    source.write_text("int plain_add(int a, int b) { return a + b; }\n")
    built = tvm_cpp.build("plain_c", sources=[str(source)], build_directory=str(tmp_path / "b"))
    with pytest.raises(VMError) as caught:
        NativeLibraryModule(built)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "no tvm-ffi function" in caught.value.message


# -- names and sources --------------------------------------------------------------------


def test_a_library_is_named_after_its_file_unless_named(library_path, tmp_path):
    assert NativeLibraryModule(library_path).name == "native"
    assert NativeLibraryModule(library_path, "kernels").name == "kernels"
    (module,) = asyncvm.load_modules(f"kernels={library_path}")
    assert isinstance(module, NativeLibraryModule) and module.name == "kernels"


async def test_load_takes_libraries_and_python_files_in_order(library_path, host_file,
                                                             compile_mlir, tmp_path):
    """Each module resolves its imports from the ones before it; the last
    bytecode module is the program, wherever it stands."""
    program_path = compile_mlir("native_imports.mlir")
    program = asyncvm.load(program_path, modules=[library_path, host_file])
    # host.py's "native" was registered last: it serves the program.
    assert await program.invoke("sleep", 100000) == (100000,)  # no 100 s sleep
    await program.close()
    with pytest.raises(VMError) as caught:  # registered after the program: not visible
        asyncvm.load(host_file, modules=[program_path])
    assert caught.value.status == StatusCode.NOT_FOUND


def test_python_file_modules_come_in_definition_order(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(textwrap.dedent("""
        from asyncvm import PythonModule
        second = PythonModule("b")
        first = PythonModule("a")
        alias = first
    """))
    assert [module.name for module in asyncvm.load_modules(path)] == ["b", "a"]
    with pytest.raises(VMError) as caught:
        asyncvm.load_module(path)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT and "load_modules" in str(caught.value)


@pytest.mark.parametrize("text, status, fragment", [
    ("def broken(:\n", StatusCode.INVALID_ARGUMENT, ":1: syntax error"),
    ("x = 1\nraise RuntimeError('no luck')\n", StatusCode.INVALID_ARGUMENT,
     ":2: raised RuntimeError: no luck"),
    ("x = 1\n", StatusCode.INVALID_ARGUMENT, "defines no module"),
])
def test_bad_python_files(tmp_path, text, status, fragment):
    path = tmp_path / "bad.py"
    path.write_text(text)
    with pytest.raises(VMError) as caught:
        asyncvm.load_modules(path)
    assert caught.value.status == status
    assert fragment in caught.value.message
    with pytest.raises(VMError) as caught:
        asyncvm.load_modules(tmp_path / "absent.py")
    assert caught.value.status == StatusCode.NOT_FOUND
