"""Constants written in place (docs/hal_module.md, "Constants written in place").

IREE 3.13 compiles a sort, a scatter, an ``insert_slice`` or a product whose
accumulator is a ``util.unfoldable_constant`` into a dispatch that updates
the imported constant in place: ``hal.allocator.import`` of the module's
rodata succeeds (the compiler asks for ``SHARING_IMMUTABLE``), the buffer is
read-only to host-side writes, and dispatches check no access. asyncvm does
the same, except that the constant's memory -- the module's bytes -- is never
written: the first dispatch that binds it gives the imported buffer a private
copy. So within one program every call answers as in IREE (later calls see
what earlier ones wrote, as in IREE), while other programs, even over the same
module, and the module's rodata stay untouched.

Programs: tests/programs/inplace_*.mlir, built for VMVX and llvm-cpu (both
native loaders), run on local-sync and local-task, compared with IREE's
runtime call by call. The HAL side (which imports IREE accepts, what each
kind of write into an import does) is driven through
tests/programs/inplace_hal.mlir and through the exports directly.
"""

from __future__ import annotations

import anyio
import numpy
import pytest

import asyncvm
from asyncvm.hal import Buffer, CommandBuffer, Device, Fence, HalModule, Semaphore
from asyncvm.hal._buffer import MEMORY_ACCESS_ALL, MEMORY_ACCESS_READ, MEMORY_ACCESS_WRITE
from asyncvm.hal._module import ExecutableHandle
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.vm import StatusCode, VMBuffer, VMError

pytestmark = pytest.mark.anyio
runtime = pytest.importorskip("iree.runtime")

BUILDS = {
    "vmvx": (),
    "llvm-cpu": ("--iree-hal-local-target-device-backends=llvm-cpu",
                 "--iree-llvmcpu-target-cpu=generic"),
    "llvm-cpu-system": ("--iree-hal-local-target-device-backends=llvm-cpu",
                        "--iree-llvmcpu-link-embedded=false", "--iree-llvmcpu-target-cpu=generic"),
}
SLICE = numpy.array([[1.5, -2.0], [3.0, 4.25]], numpy.float32)
# (program, function): arguments. Each function updates a constant in place.
CASES = {
    ("inplace_sort.mlir", "sort1d"): (),
    ("inplace_sort.mlir", "sort_pairs"): (),
    ("inplace_sort.mlir", "sort_rows"): (),
    ("inplace_scatter.mlir", "scatter_set"): (),
    ("inplace_scatter.mlir", "scatter_add"): (),
    ("inplace_insert_slice.mlir", "insert_constant"): (),
    ("inplace_insert_slice.mlir", "insert_argument"): (SLICE,),
    ("inplace_matvec.mlir", "matvec_i8"): (),
    ("inplace_matvec.mlir", "narrow_matmul"): (),
}
# These accumulate into their constant: in IREE (and so here) each call of
# one program answers differently. The others rewrite the same values.
ACCUMULATING = {"scatter_add", "matvec_i8", "narrow_matmul"}
CALLS = 3
DRIVERS = ["local-sync", "local-task"]


@pytest.fixture(scope="module", params=sorted(BUILDS))
def build(request):
    return request.param


@pytest.fixture(params=DRIVERS)
def driver(request):
    return request.param


@pytest.fixture(params=sorted(CASES), ids=lambda case: case[1])
def case(request):
    return request.param


_IREE_RESULTS: dict = {}


def iree_calls(vmfb, function: str, arguments) -> list:
    """IREE's results of ``CALLS`` calls of ``function`` in one context
    (local-sync), each a list of numpy arrays."""
    key = (str(vmfb), function)
    if key not in _IREE_RESULTS:
        config = runtime.Config("local-sync")
        with open(vmfb, "rb") as file:
            module = runtime.VmModule.copy_buffer(config.vm_instance, file.read())
        context = runtime.SystemContext(config=config, vm_modules=[module])
        call = getattr(context.modules, module.name)[function]
        calls = []
        for _ in range(CALLS):
            results = call(*arguments)
            results = results if isinstance(results, (list, tuple)) else [results]
            calls.append([numpy.array(result.to_host()) for result in results])
        _IREE_RESULTS[key] = calls
    return _IREE_RESULTS[key]


async def call(program, function: str, arguments) -> list:
    return [numpy.array(result) for result in await program.invoke(function, *arguments)]


def assert_same(actual: list, expected: list, where: str) -> None:
    assert len(actual) == len(expected), where
    for got, wanted in zip(actual, expected):
        assert got.dtype == wanted.dtype and got.shape == wanted.shape, where
        assert numpy.array_equal(got, wanted), f"{where}: {got.tolist()} != {wanted.tolist()}"


def rodata_bytes(program) -> list:
    return [bytes(segment.data) for segment in program.main.definition.rodata]


# -- compiled programs ----------------------------------------------------------------------

async def test_each_call_of_a_program_answers_as_in_iree(compile_mlir, build, driver, case):
    source, function = case
    arguments = CASES[case]
    vmfb = compile_mlir(source, *BUILDS[build])
    expected = iree_calls(vmfb, function, arguments)
    program = asyncvm.load(vmfb, device=driver)
    for index, wanted in enumerate(expected):
        assert_same(await call(program, function, arguments), wanted,
                    f"{build} {driver} {function} call {index}")
    if function not in ACCUMULATING:  # rewriting the same values: one answer throughout
        assert all(numpy.array_equal(a, b) for later in expected[1:]
                   for a, b in zip(later, expected[0]))


async def test_the_module_bytes_and_other_programs_are_untouched(compile_mlir, build, case):
    """IREE writes into the module's own rodata (a second context over the
    same module starts from what the first one wrote); asyncvm never does."""
    source, function = case
    arguments = CASES[case]
    vmfb = compile_mlir(source, *BUILDS[build])
    first = iree_calls(vmfb, function, arguments)[0]
    data = vmfb.read_bytes()
    module = BytecodeModule.load(data)
    sharing = [asyncvm.load(module, device=driver) for driver in DRIVERS]
    separate = asyncvm.load(data, device="local-task")
    before = rodata_bytes(sharing[0])
    for _ in range(2):
        await call(sharing[0], function, arguments)
    # Another program over the same module object, and one loaded from the
    # same bytes, answer as a fresh IREE context does.
    assert_same(await call(sharing[1], function, arguments), first, "same module")
    assert_same(await call(separate, function, arguments), first, "same bytes")
    assert rodata_bytes(sharing[0]) == before
    assert rodata_bytes(separate) == before
    assert vmfb.read_bytes() == data


async def test_concurrent_calls_of_programs_over_one_module(compile_mlir, build):
    """Workers of several programs bind the same rodata at once: each
    program's constant is copied once, and every answer is right."""
    vmfb = compile_mlir("inplace_sort.mlir", *BUILDS[build])
    expected = iree_calls(vmfb, "sort1d", ())[0]
    module = BytecodeModule.load(vmfb.read_bytes())
    programs = [asyncvm.load(module, device="local-task") for _ in range(4)]
    answers = []

    async def run(program):
        for _ in range(3):
            answers.append(await call(program, "sort1d", ()))

    async with anyio.create_task_group() as group:
        for program in programs:
            group.start_soon(run, program)
    assert len(answers) == 12
    for answer in answers:
        assert_same(answer, expected, "concurrent")


# -- the HAL side, compared with IREE -------------------------------------------------------

CONSTANT_USAGE = 0x80C03  # SHARING_IMMUTABLE | DISPATCH_STORAGE | TRANSFER, as compiled
READ_USAGE = 0x80401  # SHARING_IMMUTABLE | DISPATCH_STORAGE_READ | TRANSFER_SOURCE
DEVICE_LOCAL = 48
HAL_CASES = [
    # import_constant(try, memory types, usage, offset, length) -> (imported, first word)
    *[("import_constant", (try_, DEVICE_LOCAL, usage, 0, -1))
      for try_ in (0, 1) for usage in (CONSTANT_USAGE, READ_USAGE, 0x80000, 0x80002)],
    *[("import_constant", (try_, DEVICE_LOCAL, usage, 0, 16))  # no SHARING_IMMUTABLE
      for try_ in (0, 1) for usage in (0xC03, 0x3)],
    ("import_constant", (1, DEVICE_LOCAL, CONSTANT_USAGE, 4, 12)),  # not 64-byte aligned
    ("import_constant", (0, DEVICE_LOCAL, CONSTANT_USAGE, 4, 12)),
    ("import_constant", (1, DEVICE_LOCAL, CONSTANT_USAGE, 16, 0)),
    ("import_constant", (1, DEVICE_LOCAL, CONSTANT_USAGE, 4, 16)),  # out of range
    ("import_constant", (0, DEVICE_LOCAL, CONSTANT_USAGE, 17, 0)),
    ("import_constant", (1, DEVICE_LOCAL, CONSTANT_USAGE, 8, -1)),
    # write_into_constant(what, usage): queue copy, fill, update, command
    # buffer fill, buffer.store into an imported constant.
    *[("write_into_constant", (what, usage)) for what in range(5)
      for usage in (CONSTANT_USAGE, READ_USAGE)],
    # fill_host_import(usage): imported mutable host memory, filled on the queue.
    *[("fill_host_import", (usage,)) for usage in (0xC03, CONSTANT_USAGE)],
]
WRITES = {0: "device.queue.copy", 1: "device.queue.fill", 2: "device.queue.update",
          3: "command_buffer.fill_buffer", 4: "buffer.store"}


async def test_imports_and_writes_into_them_match_iree(compile_mlir, iree_reference, driver):
    import _iree_reference as ref

    vmfb = compile_mlir("inplace_hal.mlir", mode="vm")
    for function, arguments in HAL_CASES:
        where = f"{function}{arguments}"
        expected = iree_reference(vmfb, function, *arguments)
        program = asyncvm.load(vmfb, device=driver)
        if isinstance(expected, ref.IreeError):
            with pytest.raises(VMError) as caught:
                await program.invoke(function, *arguments)
            assert caught.value.status == expected.status, \
                f"{where}: {caught.value} (IREE: {expected.message.splitlines()[0]})"
            if function == "write_into_constant":
                assert WRITES[arguments[0]] in str(caught.value), where
        else:
            assert tuple(await program.invoke(function, *arguments)) == expected, where
    # The writes IREE refuses are refused, not raw numpy errors.
    assert iree_reference(vmfb, "write_into_constant", 0, CONSTANT_USAGE).status_name == \
        "PERMISSION_DENIED"


# -- the HAL side, through the exports ------------------------------------------------------

def bound(name: str, module: HalModule):
    return module.create_state(None, []).lookup_function(name)


def fence() -> Fence:
    return Fence.at(Semaphore(0), 1)


@pytest.fixture
def hal(driver):
    return HalModule([Device(driver, workers=2)])


def import_rodata(hal, memory: VMBuffer, usage: int = CONSTANT_USAGE) -> Buffer:
    allocator, = bound("device.allocator", hal)(hal.devices[0])
    buffer, = bound("allocator.import", hal)(allocator, 1, -1, DEVICE_LOCAL, usage, memory, 0, -1)
    return buffer


def rodata(values) -> VMBuffer:
    """A read-only vm.buffer on a 64-byte boundary, as module rodata is."""
    return VMBuffer.wrap(memoryview(asyncvm.aligned_array(numpy.array(values, numpy.int32)))
                         .cast("B").toreadonly())


@pytest.mark.parametrize("operation", ["device.queue.copy", "device.queue.fill",
                                       "device.queue.update", "device.queue.read"])
async def test_a_queue_write_into_an_imported_constant_is_permission_denied(hal, operation):
    memory = rodata([7, 11, 13, 17])
    constant = import_rodata(hal, memory)
    assert constant.allowed_access == MEMORY_ACCESS_READ
    device = hal.devices[0]
    operands = {
        "device.queue.copy": (Buffer.allocate(16), 0, constant, 0, 16),
        "device.queue.fill": (constant, 0, 16, 5, 4),
        "device.queue.update": (VMBuffer.wrap(bytes(16)), 0, constant, 0, 16),
        "device.queue.read": (bound("ex.file.from_memory", hal)(device, -1, 1,
                                                                VMBuffer.wrap(bytes(16)), 0,
                                                                -1, 0)[0], 0, constant, 0, 16),
    }[operation]
    signal = fence()
    with pytest.raises(VMError) as caught:
        bound(operation, hal)(device, -1, None, signal, *operands, 0)
    assert caught.value.status == StatusCode.PERMISSION_DENIED
    assert operation in str(caught.value) and "allows READ" in str(caught.value)
    assert memory.tobytes() == numpy.array([7, 11, 13, 17], numpy.int32).tobytes()


async def test_a_command_buffer_write_into_an_imported_constant_is_permission_denied(hal):
    constant = import_rodata(hal, rodata([1, 2, 3, 4]))
    commands = CommandBuffer()
    with pytest.raises(VMError) as caught:  # a direct target: when recorded
        bound("command_buffer.fill_buffer", hal)(commands, constant, 0, 16, 0, 9, 4, 0)
    assert caught.value.status == StatusCode.PERMISSION_DENIED
    assert "command_buffer.fill_buffer" in str(caught.value)
    # A binding-table slot: when executed, failing the signal fence.
    bound("command_buffer.copy_buffer", hal)(commands, 0, 1, Buffer.allocate(16), 0, None, 0,
                                            16, 0)
    bound("command_buffer.finalize", hal)(commands)
    signal = fence()
    bound("device.queue.execute.indirect", hal)(hal.devices[0], -1, None, signal, commands, 0,
                                               [(None, 0, 0), (constant, 0, 16)])
    with anyio.fail_after(10), pytest.raises(VMError) as caught:
        await signal.wait()
    assert caught.value.status == StatusCode.PERMISSION_DENIED
    assert "command_buffer.copy_buffer" in str(caught.value)
    assert constant.bytes_view().view(numpy.int32).tolist() == [1, 2, 3, 4]


class Writer:
    """An executable whose one function adds 100 to every i32 of binding 0."""

    format = "test"
    function_names = ["add_100"]

    def dispatch(self, ordinal, state):
        buffer, offset, length = state.bindings[0]
        buffer.bytes_view(offset, length).view(numpy.int32)[:] += 100


async def test_a_dispatch_writes_a_private_copy_of_an_imported_constant(hal):
    memory = rodata([1, 2, 3, 4])
    constant = import_rodata(hal, memory)
    span = bound("buffer.subspan", hal)(constant, 4, 8)[0]
    commands = CommandBuffer()
    bound("command_buffer.dispatch", hal)(commands, ExecutableHandle(Writer()), 0, 1, 1, 1, 0,
                                          [], [(0, 0, None, 0, -1)])
    bound("command_buffer.finalize", hal)(commands)
    for _ in range(2):
        signal = fence()
        bound("device.queue.execute.indirect", hal)(hal.devices[0], -1, None, signal, commands,
                                                   0, [(span, 0, 8)])
        with anyio.fail_after(10):
            await signal.wait()
    # Every view of the import sees the writes (they share one allocation);
    # the rodata does not.
    assert constant.bytes_view().view(numpy.int32).tolist() == [1, 202, 203, 4]
    assert bound("buffer.load", hal)(constant, 4, 4) == (202,)
    assert numpy.frombuffer(memory.memory, numpy.int32).tolist() == [1, 2, 3, 4]
    # Still read-only to host-side writes, as in IREE.
    with pytest.raises(VMError) as caught:
        bound("buffer.store", hal)(0, constant, 0, 4)
    assert caught.value.status == StatusCode.PERMISSION_DENIED


def test_the_private_copy_is_made_once_per_allocation():
    array = asyncvm.aligned_array(numpy.arange(32, dtype=numpy.uint8))
    array.flags.writeable = False
    buffer = Buffer.wrap(array)
    spans = [buffer.subspan(0, 16), buffer.subspan(16, 16)]
    assert buffer.allocation.immutable
    spans[1].prepare_binding()
    private = buffer.storage
    assert not buffer.allocation.immutable and private.flags.writeable
    assert not numpy.shares_memory(private, array)
    assert private.ctypes.data % 64 == 0 and private.tolist() == array.tolist()
    spans[0].prepare_binding()
    buffer.prepare_binding()
    assert all(span.storage is private for span in spans) and buffer.storage is private
    # Writable memory is used in place.
    writable = Buffer.allocate(16)
    storage = writable.storage
    writable.prepare_binding()
    assert writable.storage is storage


def test_import_access_follows_iree():
    hal = HalModule()
    mutable = VMBuffer.wrap(bytearray(asyncvm.aligned_array(numpy.zeros(16, numpy.uint8))))
    assert import_rodata(hal, mutable, 0xC03).allowed_access == \
        MEMORY_ACCESS_READ | MEMORY_ACCESS_WRITE
    assert import_rodata(hal, mutable, CONSTANT_USAGE).allowed_access == MEMORY_ACCESS_READ
    assert Buffer.allocate(4).allowed_access == MEMORY_ACCESS_ALL
    with pytest.raises(VMError) as caught:
        import_rodata(hal, rodata([1, 2, 3, 4]), 0xC03)
    assert caught.value.status == StatusCode.PERMISSION_DENIED
    assert "immutable" in str(caught.value)


def test_a_native_kernel_never_gets_read_only_memory():
    """The native loaders' own guard, for dispatches that do not come through
    a command buffer: immutable memory is copied first (or refused)."""
    from asyncvm.hal._native_library import _writable_binding

    array = asyncvm.aligned_array(numpy.arange(8, dtype=numpy.uint8))
    array.flags.writeable = False
    buffer = Buffer.wrap(array)
    view = _writable_binding(buffer, 2, 4, 0)
    assert view.flags.writeable and not numpy.shares_memory(view, array)
    assert view.tolist() == [2, 3, 4, 5]

    class ReadOnlyBinding:
        def bytes_view(self, offset, length):
            return array[offset:offset + length]

    with pytest.raises(VMError) as caught:
        _writable_binding(ReadOnlyBinding(), 0, 8, 3)
    assert caught.value.status == StatusCode.PERMISSION_DENIED
    assert "binding 3" in str(caught.value)


def test_recorded_dispatches_share_their_plain_values(hal):
    """Workgroup counts, constants and slot-only bindings are one shared
    tuple per distinct value, so command buffers recorded call after call
    (and held by calls in flight) keep no copies; a binding that names a
    buffer is never shared (it would keep the buffer alive)."""
    executable = ExecutableHandle(Writer())
    recorded = []
    for _ in range(2):
        commands = CommandBuffer()
        bound("command_buffer.dispatch", hal)(
            commands, executable, 0, 4, 1, 1, 0, [7, 2**32 + 9],
            [(0, 0, None, 0, 16), (0, 1, None, 0, -1)])
        bound("command_buffer.dispatch", hal)(
            commands, executable, 0, 4, 1, 1, 0, [7, 9],
            [(0, 0, Buffer.allocate(16), 0, 16)])
        recorded.append(commands.commands)
    first, second = recorded
    assert first[0][3] == (4, 1, 1) and first[0][4] == (7, 9)
    for index in (3, 4, 5):  # workgroups, constants, bindings
        assert first[0][index] is second[0][index]
    assert first[1][4] is first[0][4]  # equal constants: one tuple
    assert first[1][5] is not second[1][5]  # buffer bindings: each its own
