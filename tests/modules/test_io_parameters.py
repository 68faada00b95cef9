"""The ``io_parameters`` module: programs whose globals live in parameter
files, run here and in IREE's runtime on the same .vmfb.

The programs (tests/programs/parameters_*.mlir) keep their weights in
``#flow.parameter.named`` / ``#stream.parameter.named`` globals; the files are
written here as ``.irpa`` (by IREE's own archive writer), ``.safetensors``
(by hand, the format is a JSON header) and ``.gguf`` (by the ``gguf``
package), read here with ``ParameterIndex.add_file`` and in IREE with
``iree.runtime.ParameterIndex.load``. iree-compile 3.13 lowers parameter
globals to ``io_parameters.load`` (constants, unified memory), ``.gather``
(``--iree-stream-resource-memory-model=discrete``) and ``.scatter``
(``flow.parameter.write``); each is covered on both drivers, for VMVX and
llvm-cpu.
"""

from __future__ import annotations

import re
import struct
import subprocess
import threading

import anyio
import numpy
import pytest
from _parameter_files import write_safetensors, write_gguf

import asyncvm
from _command_line import iree_tool, run_cli
from _iree_reference import IreeError
from asyncvm import ParameterIndex, StatusCode, VMError
from asyncvm._program import parameter_index
from asyncvm.hal import Buffer, Device, Fence, Semaphore
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.io_parameters import (IO_PARAMETERS_EXPORTS, IoParametersModule,
                                           ParameterEntry)
from asyncvm.modules.io_parameters import _module as io_module
from asyncvm.vm import VMBuffer

runtime = pytest.importorskip("iree.runtime",
                              reason="iree.runtime (iree-base-runtime) is not installed")

RANDOM = numpy.random.default_rng(11)
DRIVERS = ["local-sync", "local-task"]

# parameters_mlp: y = (x @ weight + bias) * scale + offset, from three scopes.
MLP = {
    "model": {"weight": RANDOM.standard_normal((4, 8)).astype(numpy.float32),
              "bias": RANDOM.standard_normal(8).astype(numpy.float32)},
    "extra": {"scale": RANDOM.standard_normal(8).astype(numpy.float32)},
    "": {"offset": RANDOM.integers(-5, 5, 8).astype(numpy.int32)},
}
X = RANDOM.standard_normal((2, 4)).astype(numpy.float32)

# Builds of parameters_mlp: VMVX (io_parameters.load), llvm-cpu (load) and
# VMVX with discrete memory (the constants are gathered into one buffer:
# io_parameters.gather).
BUILDS = {
    "vmvx": (),
    "llvm-cpu": ("--iree-hal-local-target-device-backends=llvm-cpu",
                 "--iree-llvmcpu-target-cpu=generic"),
    "gather": ("--iree-stream-resource-memory-model=discrete",),
}
FORMATS = ["irpa", "safetensors", "gguf"]


def mlp_reference(x, parameters=MLP):
    model = parameters["model"]
    return ((x @ model["weight"] + model["bias"]) * parameters["extra"]["scale"]
            + parameters[""]["offset"].astype(numpy.float32))


# -- parameter files ------------------------------------------------------------------------

def write_irpa(path, arrays: dict) -> None:
    """An IREE parameter archive written by IREE's runtime (a tuple value is
    a splat: (pattern array, total length))."""
    index = runtime.ParameterIndex()
    for key, value in arrays.items():
        if isinstance(value, tuple):
            index.add_splat(key, value[0], value[1])
        else:
            index.add_buffer(key, numpy.ascontiguousarray(value))
    index.create_archive_file(str(path))


def write_gguf_parameters(path, arrays: dict) -> None:
    """A .gguf file of ``arrays``. IREE 3.13 reads no GGML integer types, so
    int32 arrays are stored as the f32 tensors of the same bytes: a
    parameter is only bytes."""
    write_gguf(path, {key: array.view(numpy.float32) if array.dtype == numpy.int32 else array
                      for key, array in arrays.items()}, metadata=False, arch="asyncvm-test")


WRITERS = {"irpa": write_irpa, "safetensors": write_safetensors, "gguf": write_gguf_parameters}


def write_scopes(directory, format: str, scopes: dict) -> dict[str, list[str]]:
    """One file per scope in ``format``; ``{scope: [path]}``."""
    files = {}
    for scope, arrays in scopes.items():
        path = directory / f"{scope or 'default'}.{format}"
        WRITERS[format](path, arrays)
        files[scope] = [str(path)]
    return files


@pytest.fixture(scope="module")
def mlp_files(tmp_path_factory) -> dict[str, dict[str, list[str]]]:
    """The MLP's parameters in every format: ``{format: {scope: [path]}}``."""
    files = {}
    for format in FORMATS:
        directory = tmp_path_factory.mktemp(f"mlp-{format}")
        files[format] = write_scopes(directory, format, MLP)
    return files


# -- IREE's side ----------------------------------------------------------------------------

def iree_calls(vmfb, files: dict, calls, driver: str = "local-sync", **load_options) -> list:
    """IREE's results of ``calls`` (``(function, arguments)`` pairs) in one
    context whose io_parameters module has one provider per scope of
    ``files`` (``{scope: [path, ...]}``): a list of numpy arrays per call,
    or an :class:`IreeError` for the first failure (then nothing more runs;
    IREE runs initializers, and so fails parameter loads, when the context
    is created)."""
    config = runtime.Config(driver)
    providers = []
    for scope, paths in files.items():
        index = runtime.ParameterIndex()
        for path in paths:
            index.load(str(path), **load_options)
        providers.append(index.create_provider(scope=scope))
    results = []
    try:
        parameters = runtime.create_io_parameters_module(config.vm_instance, *providers)
        with open(vmfb, "rb") as file:
            module = runtime.VmModule.copy_buffer(config.vm_instance, file.read())
        context = runtime.SystemContext(config=config, vm_modules=[parameters, module])
        functions = getattr(context.modules, module.name)
        for function, arguments in calls:
            result = functions[function](*arguments)
            results.append([r.to_host() for r in (result if isinstance(result, (list, tuple))
                                                   else [result])])
    except Exception as error:  # IREE maps statuses onto assorted Python types
        results.append(IreeError(str(error)))
    return results


def assert_same_failure(error: VMError, expected, *names: str) -> None:
    """``error`` has IREE's status, and its message names ``names``."""
    assert isinstance(expected, IreeError), f"IREE did not fail: {expected}"
    assert int(error.status) == expected.status, (error, expected.message)
    for name in names:
        assert name in str(error), error


# -- programs -------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=sorted(BUILDS))
def build(request):
    return request.param


@pytest.fixture(params=DRIVERS)
def driver(request):
    return request.param


@pytest.fixture(scope="module")
def mlp(compile_mlir, build):
    return compile_mlir("parameters_mlp.mlir", *BUILDS[build])


@pytest.fixture(scope="module")
def mlp_vmvx(compile_mlir):
    return compile_mlir("parameters_mlp.mlir")


# -- the exports ----------------------------------------------------------------------------

def test_exports_are_those_of_iree_runtime():
    provider = runtime.ParameterIndex().create_provider(scope="model")
    theirs = runtime.create_io_parameters_module(runtime.VmInstance(), provider)
    conventions = {name: re.search(r"\((0\w*)\)", repr(theirs.lookup_function(name))).group(1)
                   for name in theirs.function_names}
    ours = IoParametersModule()
    assert {row.name: row.calling_convention for row in IO_PARAMETERS_EXPORTS} == conventions
    assert [d.name for d in ours.exports] == sorted(conventions)
    assert (ours.name, ours.version) == (theirs.name, theirs.version) == ("io_parameters", 0)
    assert [(d.name, d.minimum_version) for d in ours.dependencies] == [("hal", 7)]


def test_compiled_programs_import_every_export(compile_mlir):
    programs = [compile_mlir("parameters_mlp.mlir"),
                compile_mlir("parameters_mlp.mlir", *BUILDS["gather"]),
                compile_mlir("parameters_read_write.mlir", "--iree-opt-const-eval=false")]
    ours = {row.name: row.calling_convention for row in IO_PARAMETERS_EXPORTS}
    imported = {}
    for vmfb in programs:
        for descriptor in BytecodeModule.load(vmfb).imports:
            if descriptor.module_name == "io_parameters":
                imported[descriptor.function_name] = descriptor.calling_convention
    assert imported == ours


# -- programs against IREE ------------------------------------------------------------------

@pytest.mark.anyio
async def test_program_matches_iree(mlp, build, driver, mlp_files):
    files = mlp_files["irpa"]
    [expected] = iree_calls(mlp, files, [("predict", [X])], driver)
    program = asyncvm.load(mlp, device=driver, parameters=files)
    actual, = await program.predict(X)
    numpy.testing.assert_array_equal(actual, expected[0])
    numpy.testing.assert_allclose(actual, mlp_reference(X), rtol=1e-5, atol=1e-5)
    assert [module.name for module in program.context.modules] == \
        ["hal", "io_parameters", program.main.name]


@pytest.mark.anyio
@pytest.mark.parametrize("format", FORMATS)
async def test_file_formats_match_iree(mlp_vmvx, format, driver, mlp_files):
    files = mlp_files[format]
    [expected] = iree_calls(mlp_vmvx, files, [("predict", [X])], driver)
    program = asyncvm.load(mlp_vmvx, device=driver, parameters=files)
    actual, = await program.predict(X)
    numpy.testing.assert_array_equal(actual, expected[0])
    numpy.testing.assert_allclose(actual, mlp_reference(X), rtol=1e-5, atol=1e-5)


@pytest.mark.anyio
@pytest.mark.parametrize("build_name", ["vmvx", "gather"])
async def test_splat_parameters_match_iree(compile_mlir, build_name, driver, tmp_path):
    """.irpa splats (no storage in the file): allocated and filled."""
    splats = {
        "model": {"weight": (numpy.array([0.5], numpy.float32), 128),
                  "bias": (numpy.array([1.0, -1.0], numpy.float16), 32)},
        "extra": {"scale": (numpy.array([2.0], numpy.float32), 32)},
        "": {"offset": (numpy.array([3], numpy.int32), 32)},
    }
    files = write_scopes(tmp_path, "irpa", splats)
    vmfb = compile_mlir("parameters_mlp.mlir", *BUILDS[build_name])
    [expected] = iree_calls(vmfb, files, [("predict", [X])], driver)
    actual, = await asyncvm.load(vmfb, device=driver, parameters=files).predict(X)
    numpy.testing.assert_array_equal(actual, expected[0])
    values = {"model": {"weight": numpy.full((4, 8), 0.5, numpy.float32),
                        "bias": numpy.tile(numpy.array([1.0, -1.0], numpy.float16),
                                           8).view(numpy.float32)},
              "extra": {"scale": numpy.full(8, 2.0, numpy.float32)},
              "": {"offset": numpy.full(8, 3, numpy.int32)}}
    numpy.testing.assert_allclose(actual, mlp_reference(X, values), rtol=1e-6)


@pytest.mark.anyio
@pytest.mark.parametrize("build_name", ["vmvx", "gather"])
async def test_long_splat_patterns_fail_as_in_iree(compile_mlir, build_name, tmp_path):
    """IREE fills splats with the HAL's fill, whose patterns are 1, 2 or 4
    bytes: a longer .irpa pattern is INVALID_ARGUMENT."""
    splats = dict(MLP, model={"weight": MLP["model"]["weight"],
                              "bias": (numpy.array([1.0, -1.0], numpy.float32), 32)})
    files = write_scopes(tmp_path, "irpa", splats)
    vmfb = compile_mlir("parameters_mlp.mlir", *BUILDS[build_name])
    [expected] = iree_calls(vmfb, files, [("predict", [X])])
    with pytest.raises(VMError) as caught:
        await asyncvm.load(vmfb, parameters=files).predict(X)
    assert_same_failure(caught.value, expected, "model::bias", "pattern_length=8")


@pytest.mark.anyio
async def test_variables_match_iree(compile_mlir, driver, tmp_path):
    """A mutable global initialized from a parameter keeps its own state:
    the parameter (and its file) never change."""
    vmfb = compile_mlir("parameters_variables.mlir")
    state = numpy.array([1.0, 2.0, 3.0, 4.0], numpy.float32)
    step_size = numpy.array([0.5, 0.25, 0.125, 1.0], numpy.float32)
    files = write_scopes(tmp_path, "irpa", {"model": {"state": state, "step_size": step_size}})
    before = open(files["model"][0], "rb").read()
    x = numpy.array([10.0, 20.0, 30.0, 40.0], numpy.float32)
    expected = iree_calls(vmfb, files, [("step", [x])] * 3, driver)
    program = asyncvm.load(vmfb, device=driver, parameters=files)
    for call, result in enumerate(expected, 1):
        actual, = await program.step(x)
        numpy.testing.assert_array_equal(actual, result[0])
        numpy.testing.assert_allclose(actual, state + call * (step_size + x))
    assert open(files["model"][0], "rb").read() == before
    # A second program over the same file starts from the file's state.
    again, = await asyncvm.load(vmfb, device=driver, parameters=files).step(x)
    numpy.testing.assert_array_equal(again, expected[0][0])


@pytest.mark.anyio
async def test_read_at_an_offset_and_scatter(compile_mlir, driver, tmp_path):
    """``flow.parameter.load`` at byte 4 and ``flow.parameter.write``.

    IREE's runtime ignores the parameter offset when it imports parameter
    memory (mapped, or preloaded when it happens to be 64-byte aligned: it
    then reads from the entry's start), so it is compared here with IREE
    reading the file through queue reads (``mode="file_async"``), which
    honour it. The
    index is read-only, so a scatter is PERMISSION_DENIED, as in IREE for a
    file opened read-only (its default)."""
    vmfb = compile_mlir("parameters_read_write.mlir", "--iree-opt-const-eval=false")
    weight = numpy.arange(8, dtype=numpy.float32) / 7
    files = write_scopes(tmp_path, "irpa", {"model": {"weight": weight}})
    [expected] = iree_calls(vmfb, files, [("read_param", [])], driver,
                            mode="file_async")
    program = asyncvm.load(vmfb, device=driver, parameters=files)
    actual, = await program.read_param()
    numpy.testing.assert_array_equal(actual, expected[0])
    numpy.testing.assert_array_equal(actual, weight[1:5])

    [failure] = iree_calls(vmfb, files, [("write_param", [weight[:4]])], driver)
    with pytest.raises(VMError) as caught:
        await program.write_param(weight[:4])
    assert_same_failure(caught.value, failure, "model::weight", "WRITE")


@pytest.mark.anyio
async def test_asynchronous_initialization_matches_iree(compile_mlir, driver, mlp_files):
    """Initializers that do not wait for their parameter loads: the first
    call waits on the loads' fences instead."""
    vmfb = compile_mlir("parameters_mlp.mlir", "--iree-scheduling-initialization-mode=async")
    files = mlp_files["irpa"]
    [expected] = iree_calls(vmfb, files, [("predict", [X])], driver)
    actual, = await asyncvm.load(vmfb, device=driver, parameters=files).predict(X)
    numpy.testing.assert_array_equal(actual, expected[0])


@pytest.mark.anyio
async def test_concurrent_invocations_share_parameters(mlp, driver, mlp_files):
    """Many calls in flight on two programs over one index (their first
    calls race to initialize); every result is right."""
    index = parameter_index(mlp_files["irpa"])
    programs = [asyncvm.load(mlp, device=driver, parameters=index) for _ in range(2)]
    inputs = [RANDOM.standard_normal((2, 4)).astype(numpy.float32) for _ in range(24)]
    results = {}

    async def call(number: int) -> None:
        results[number], = await programs[number % 2].predict(inputs[number])

    async with anyio.create_task_group() as group:
        for number in range(len(inputs)):
            group.start_soon(call, number)
    for number, x in enumerate(inputs):
        numpy.testing.assert_allclose(results[number], mlp_reference(x), rtol=1e-5, atol=1e-5)
    assert programs[0].parameters is programs[1].parameters is index


# -- failures -------------------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("build_name", ["vmvx", "gather"])
async def test_missing_key_is_not_found_naming_it(compile_mlir, build_name, tmp_path):
    vmfb = compile_mlir("parameters_mlp.mlir", *BUILDS[build_name])
    without_bias = dict(MLP, model={"weight": MLP["model"]["weight"]})
    files = write_scopes(tmp_path, "irpa", without_bias)
    [expected] = iree_calls(vmfb, files, [("predict", [X])])
    with pytest.raises(VMError) as caught:
        await asyncvm.load(vmfb, parameters=files).predict(X)
    assert_same_failure(caught.value, expected, "model::bias")


@pytest.mark.anyio
async def test_missing_scope_is_not_found_naming_the_key(mlp_vmvx, mlp_files):
    files = {scope: paths for scope, paths in mlp_files["irpa"].items() if scope != "extra"}
    [expected] = iree_calls(mlp_vmvx, files, [("predict", [X])])
    with pytest.raises(VMError) as caught:
        await asyncvm.load(mlp_vmvx, parameters=files).predict(X)
    assert_same_failure(caught.value, expected, "extra::scale")


@pytest.mark.anyio
async def test_no_parameters_is_not_found_naming_the_key(mlp_vmvx):
    program = asyncvm.load(mlp_vmvx)
    assert program.parameters is not None and len(program.parameters) == 0
    with pytest.raises(VMError) as caught:
        await program.predict(X)
    assert caught.value.status == StatusCode.NOT_FOUND
    assert "extra::scale not found" in str(caught.value) and "empty" in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize("build_name", ["vmvx", "gather"])
async def test_parameter_smaller_than_its_global_is_out_of_range(compile_mlir, build_name,
                                                                 tmp_path):
    vmfb = compile_mlir("parameters_mlp.mlir", *BUILDS[build_name])
    short = dict(MLP, model={"weight": MLP["model"]["weight"][:2],
                             "bias": MLP["model"]["bias"]})
    files = write_scopes(tmp_path, "irpa", short)
    [expected] = iree_calls(vmfb, files, [("predict", [X])])
    with pytest.raises(VMError) as caught:
        await asyncvm.load(vmfb, parameters=files).predict(X)
    assert_same_failure(caught.value, expected, "model::weight", "size=64")


@pytest.mark.anyio
async def test_parameter_larger_than_its_global_gives_its_start(mlp_vmvx, tmp_path):
    """As in IREE: a global reads the first bytes of a longer parameter."""
    weight = RANDOM.standard_normal((6, 8)).astype(numpy.float32)
    files = write_scopes(tmp_path, "irpa", dict(MLP, model=dict(MLP["model"], weight=weight)))
    [expected] = iree_calls(mlp_vmvx, files, [("predict", [X])])
    actual, = await asyncvm.load(mlp_vmvx, parameters=files).predict(X)
    numpy.testing.assert_array_equal(actual, expected[0])
    parameters = dict(MLP, model=dict(MLP["model"], weight=weight[:4]))
    numpy.testing.assert_allclose(actual, mlp_reference(X, parameters), rtol=1e-5, atol=1e-5)


class FailingEntry:
    """A misaligned parameter whose bytes cannot be read: its copy, queue
    work, fails."""

    def __init__(self, scope: str, key: str, length: int) -> None:
        self.scope, self.key, self.length = scope, key, length
        self.data, self.pattern, self.source = None, None, "<failing>"
        self.name = f"{scope}::{key}"
        self.threads: list[str] = []

    def read(self, offset: int, length: int):
        self.threads.append(threading.current_thread().name)
        raise VMError(StatusCode.DATA_LOSS, f"parameter {self.name}: the disk is gone")


class FailingIndex(ParameterIndex):
    """An index whose ``model::bias`` fails when it is read."""

    def __init__(self, base: ParameterIndex) -> None:
        super().__init__()
        self.base = base
        self.failing = FailingEntry("model", "bias", 32)

    def lookup(self, scope: str, key: str):
        if (scope, key) == ("model", "bias"):
            return self.failing
        return self.base.lookup(scope, key)


@pytest.mark.anyio
async def test_failing_queue_work_fails_the_fence_and_the_invocation(mlp_vmvx, driver,
                                                                     mlp_files):
    index = FailingIndex(parameter_index(mlp_files["irpa"]))
    program = asyncvm.load(mlp_vmvx, device=driver, parameters=index)
    with pytest.raises(VMError) as caught:
        await program.predict(X)
    assert caught.value.status == StatusCode.DATA_LOSS
    assert "model::bias" in str(caught.value)
    worker = driver == "local-task"
    assert [name.startswith("asyncvm-queue") for name in index.failing.threads] == [worker]


# -- the exports called directly -----------------------------------------------------------

def key_tables(*keys: str) -> tuple[VMBuffer, VMBuffer]:
    """IREE's key table ({u32 offset, u32 length} per key) and key data."""
    table, data = b"", b""
    for key in keys:
        encoded = key.encode()
        table += struct.pack("<II", len(data), len(encoded))
        data += encoded
    return VMBuffer.wrap(table), VMBuffer.wrap(data)


def spans(*requests: tuple[int, int, int]) -> VMBuffer:
    """IREE's spans: {u64 parameter offset, u64 buffer offset, u64 length} each."""
    return VMBuffer.wrap(b"".join(struct.pack("<QQQ", *request) for request in requests))


def new_fence() -> Fence:
    return Fence.at(Semaphore(0), 1)


def call_load(module: IoParametersModule, device: Device, keys, requests, scope="model",
              wait=None, signal=None, usage=527363):
    state = module.create_state(None, [])
    table, data = key_tables(*keys)
    return io_module.load(state, device, -1, wait, signal,
                          VMBuffer.wrap(scope.encode()) if scope is not None else None,
                          -1, 48, usage, table, data, spans(*requests))


def test_load_wraps_aligned_file_parameters_without_copying(mlp_files):
    """An .irpa keeps data on 64-byte boundaries: its parameters are wrapped,
    not allocated, through a private copy-on-write mapping of the file that
    a dispatch may bind as it is."""
    index = parameter_index(mlp_files["irpa"])
    device = Device("local-sync")
    signal = new_fence()
    buffers = call_load(IoParametersModule(index), device, ["weight", "bias"],
                        [(0, 0, 128), (0, 0, 32)], signal=signal)
    assert signal.reached()
    assert device.statistics.allocations == 0
    assert buffers[0].storage.base is buffers[1].storage.base  # one mapping of the file
    for buffer, key in zip(buffers, ["weight", "bias"]):
        entry = index.lookup("model", key)
        assert bytes(buffer.bytes_view()) == bytes(entry.data)
        assert buffer.storage.flags.writeable and not buffer.allocation.immutable
        assert not numpy.shares_memory(buffer.storage, entry.data)  # another mapping
        buffer.prepare_binding()  # what a dispatch does: no private copy needed
        assert device.statistics.allocations == 0 and buffer.storage.flags.writeable
        # Writing it (as a kernel could) changes neither the index nor the file.
        original = bytes(entry.data)
        buffer.storage[:] = 0
        assert bytes(entry.data) == original
    with open(mlp_files["irpa"]["model"][0], "rb") as file:
        assert bytes(index.lookup("model", "weight").data) in file.read()


def test_load_without_copy_on_write_wraps_the_index_view(mlp_files):
    index = parameter_index(mlp_files["irpa"])
    device = Device("local-sync")
    [buffer] = call_load(IoParametersModule(index, copy_on_write=False), device, ["weight"],
                         [(0, 0, 128)])
    assert numpy.shares_memory(buffer.storage, index.lookup("model", "weight").data)
    assert buffer.allocation.immutable  # a dispatch binding it gets a private copy
    assert device.statistics.allocations == 0


def test_load_wraps_aligned_arrays_without_copying():
    weight = asyncvm.aligned_array(numpy.arange(32, dtype=numpy.float32))
    index = ParameterIndex()
    index.add_array("model", "weight", weight)
    device = Device("local-sync")
    [buffer] = call_load(IoParametersModule(index), device, ["weight"], [(0, 0, 128)])
    assert numpy.shares_memory(buffer.storage, weight)
    assert buffer.allocation.immutable and not buffer.writable
    assert device.statistics.allocations == 0


def test_load_copies_misaligned_parameters_on_the_queue(mlp_files):
    """.safetensors data is rarely 64-byte aligned: such a parameter is
    allocated and copied by queue work, after the wait fence."""
    index = parameter_index(mlp_files["safetensors"])
    entry = index.lookup("model", "weight")
    assert entry.data.__array_interface__["data"][0] % 64
    device = Device("local-sync")
    wait, signal = new_fence(), new_fence()
    [buffer] = call_load(IoParametersModule(index), device, ["weight"], [(0, 0, 128)],
                         wait=wait, signal=signal)
    assert device.statistics.allocations == 1 and not signal.reached()
    wait.signal()
    assert signal.reached()
    assert bytes(buffer.bytes_view()) == bytes(entry.data)
    assert not numpy.shares_memory(buffer.storage, entry.data)


def test_load_work_runs_on_a_queue_worker_on_local_task(mlp_files):
    index = FailingIndex(parameter_index(mlp_files["irpa"]))
    device = Device("local-task", workers=2)
    wait, signal = new_fence(), new_fence()
    call_load(IoParametersModule(index), device, ["weight", "bias"],
              [(0, 0, 128), (0, 0, 32)], wait=wait, signal=signal)
    assert index.failing.threads == []  # nothing runs before the wait fence
    wait.signal()
    for _ in range(500):
        if signal.query() != StatusCode.DEFERRED:
            break
        threading.Event().wait(0.01)
    assert signal.query() == StatusCode.DATA_LOSS
    assert len(index.failing.threads) == 1
    assert index.failing.threads[0].startswith("asyncvm-queue")


def test_load_failures_fail_the_call_and_the_signal_fence(mlp_files):
    index = parameter_index(mlp_files["irpa"])
    module, device = IoParametersModule(index), Device("local-sync")
    signal = new_fence()
    with pytest.raises(VMError) as caught:
        call_load(module, device, ["weight", "nope"], [(0, 0, 128), (0, 0, 4)], signal=signal)
    assert caught.value.status == StatusCode.NOT_FOUND and "model::nope" in str(caught.value)
    assert signal.query() == StatusCode.NOT_FOUND
    with pytest.raises(VMError) as caught:
        call_load(module, device, ["weight"], [(64, 0, 128)])
    assert caught.value.status == StatusCode.OUT_OF_RANGE
    assert "model::weight" in str(caught.value)
    with pytest.raises(VMError) as caught:  # no scope: the empty one
        call_load(module, device, ["weight"], [(0, 0, 4)], scope=None)
    assert caught.value.status == StatusCode.NOT_FOUND and "::weight" in str(caught.value)


def test_load_checks_its_tables():
    module, device = IoParametersModule(), Device("local-sync")
    state = module.create_state(None, [])
    table, data = key_tables("weight")
    with pytest.raises(VMError) as caught:  # spans not a whole number of entries
        io_module.load(state, device, -1, None, None, None, -1, 48, 0, table, data,
                       VMBuffer.wrap(b"\0" * 20))
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    with pytest.raises(VMError) as caught:  # fewer keys than spans
        io_module.load(state, device, -1, None, None, None, -1, 48, 0, table, data,
                       spans((0, 0, 4), (0, 0, 4)))
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    with pytest.raises(VMError) as caught:  # a key outside the key data
        io_module.load(state, device, -1, None, None, None, -1, 48, 0,
                       VMBuffer.wrap(struct.pack("<II", 2, 10)), data, spans((0, 0, 4)))
    assert caught.value.status == StatusCode.OUT_OF_RANGE
    with pytest.raises(VMError) as caught:
        io_module.load(state, None, -1, None, None, None, -1, 48, 0, table, data,
                       spans((0, 0, 4)))
    assert caught.value.status == StatusCode.INVALID_ARGUMENT and "device" in str(caught.value)
    assert len(io_module.load(state, device, -1, None, None, None, -1, 48, 0, *key_tables(),
                              spans())) == 0


def test_gather_copies_into_ranges_of_a_buffer():
    index = ParameterIndex()
    index.add_array("s", "a", numpy.arange(4, dtype=numpy.uint8))
    index.add_splat("s", "b", b"\x07\x08", 6, "<test>")
    state = IoParametersModule(index).create_state(None, [])
    device = Device("local-sync")
    target = device.allocate(16)
    target.fill(0, 16, b"\xff")
    table, data = key_tables("a", "b")
    wait, signal = new_fence(), new_fence()
    io_module.gather(state, device, -1, wait, signal, VMBuffer.wrap(b"s"), target, table, data,
                     spans((1, 2, 3), (1, 9, 5)))
    assert bytes(target.bytes_view()) == b"\xff" * 16 and not signal.reached()
    wait.signal()
    assert signal.reached()
    assert bytes(target.bytes_view()) == \
        b"\xff\xff\x01\x02\x03\xff\xff\xff\xff\x08\x07\x08\x07\x08\xff\xff"


def test_scatter_writes_writable_parameters_only():
    storage = numpy.zeros(8, numpy.uint8)
    index = ParameterIndex()
    index.add_array("s", "read_only", numpy.zeros(8, numpy.uint8))

    class WritableIndex(ParameterIndex):
        def lookup(self, scope, key):
            if key == "writable":
                return ParameterEntry(scope, key, 8, data=storage, source="<test>")
            return index.lookup(scope, key)

    state = IoParametersModule(WritableIndex()).create_state(None, [])
    device = Device("local-sync")
    source = Buffer(numpy.arange(1, 9, dtype=numpy.uint8))
    io_module.scatter(state, device, -1, None, None, source, VMBuffer.wrap(b"s"),
                      *key_tables("writable"), spans((2, 4, 3)))
    assert storage.tolist() == [0, 0, 5, 6, 7, 0, 0, 0]
    signal = new_fence()
    with pytest.raises(VMError) as caught:
        io_module.scatter(state, device, -1, None, signal, source, VMBuffer.wrap(b"s"),
                          *key_tables("read_only"), spans((0, 0, 8)))
    assert caught.value.status == StatusCode.PERMISSION_DENIED
    assert "s::read_only" in str(caught.value) and signal.query() == StatusCode.PERMISSION_DENIED


# -- the load surface -----------------------------------------------------------------------

@pytest.mark.anyio
async def test_load_takes_parameters_in_every_form(mlp_vmvx, mlp_files):
    files = mlp_files["irpa"]
    index = parameter_index(files)
    forms = [
        files,  # {scope: [paths]}
        {scope: paths[0] for scope, paths in files.items()},  # {scope: path}
        index,  # a ParameterIndex
    ]
    expected = mlp_reference(X)
    for parameters in forms:
        actual, = await asyncvm.load(mlp_vmvx, parameters=parameters).predict(X)
        numpy.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    # A bare path (or a list of them) is the empty scope.
    assert [entry.name for entry in parameter_index(files[""][0])] == ["::offset"]
    assert [entry.name for entry in parameter_index(files[""])] == ["::offset"]
    # Arrays a user adds work as well as files.
    arrays = ParameterIndex()
    for scope, values in MLP.items():
        for key, value in values.items():
            arrays.add_array(scope, key, value)
    actual, = await asyncvm.load(mlp_vmvx, parameters=arrays).predict(X)
    numpy.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def test_load_rejects_bad_parameters(mlp_vmvx, mlp_files, tmp_path):
    with pytest.raises(VMError) as caught:
        asyncvm.load(mlp_vmvx, parameters=42)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    with pytest.raises(VMError) as caught:
        asyncvm.load(mlp_vmvx, parameters={"model": 42})
    assert caught.value.status == StatusCode.INVALID_ARGUMENT and "model" in str(caught.value)
    with pytest.raises(VMError) as caught:
        asyncvm.load(mlp_vmvx, parameters={"model": str(tmp_path / "missing.irpa")})
    assert caught.value.status == StatusCode.NOT_FOUND
    with pytest.raises(VMError) as caught:  # parameters for a module given already
        asyncvm.load(mlp_vmvx, modules=[IoParametersModule()], parameters=mlp_files["irpa"])
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


def test_io_parameters_module_only_for_programs_that_import_it(compile_mlir, mlp_files):
    program = asyncvm.load(compile_mlir("tensor_basic.mlir"), parameters=mlp_files["irpa"])
    assert "io_parameters" not in [module.name for module in program.context.modules]
    assert program.parameters is None
    assert asyncvm.ParameterIndex is ParameterIndex
    assert asyncvm.IoParametersModule is IoParametersModule


# -- the command line -----------------------------------------------------------------------

def test_run_with_parameters_matches_iree_run_module(capsys, mlp_vmvx, mlp_files):
    tool = iree_tool("iree-run-module")
    if tool is None:
        pytest.skip("iree-run-module is not installed")
    flags = [f"--module={mlp_vmvx}", "--function=predict", "--input=2x4xf32=1,2,3,4,5,6,7,8"]
    flags += [f"--parameters={scope}={paths[0]}" if scope else f"--parameters={paths[0]}"
              for scope, paths in mlp_files["irpa"].items()]
    code, out, err = run_cli(capsys, "run", *flags)
    assert code == 0, err
    expected = subprocess.run([tool, *flags], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == expected.splitlines()


def test_run_without_a_scope_reports_the_missing_key(capsys, mlp_vmvx, mlp_files):
    code, out, err = run_cli(capsys, "run", f"--module={mlp_vmvx}", "--function=predict",
                             "--input=2x4xf32=1,2,3,4,5,6,7,8",
                             f"--parameters={mlp_files['irpa']['model'][0]}")
    assert code == 1
    assert "NOT_FOUND" in err and "extra::scale" in err


def test_check_and_benchmark_take_parameters(capsys, compile_mlir, tmp_path):
    files = write_scopes(tmp_path, "irpa",
                         {"model": {"weight": numpy.array([1, 2, 3, 4], numpy.float32)}})
    tests = compile_mlir("parameters_check.mlir")
    code, out, err = run_cli(capsys, "check", f"--module={tests}",
                             f"--parameters=model={files['model'][0]}", "--device=local-task")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "2 passed, 0 failed"
    code, out, err = run_cli(capsys, "check", f"--module={tests}")
    assert code == 1 and "model::weight" in out

    mlp = compile_mlir("parameters_mlp.mlir")
    directory = tmp_path / "mlp"
    directory.mkdir()
    mlp_files = write_scopes(directory, "irpa", MLP)
    code, out, err = run_cli(capsys, "benchmark", f"--module={mlp}", "--function=predict",
                             "--input=2x4xf32=1,2,3,4,5,6,7,8", "--duration=0.2",
                             "--concurrency=3", "--device=local-task",
                             *[f"--parameters={scope}={paths[0]}"
                               for scope, paths in mlp_files.items()])
    assert code == 0, err
    assert out.splitlines()[-1].startswith("throughput:")
