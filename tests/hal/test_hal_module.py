"""The ``hal`` VM module's export table: sorted, complete for compiled
programs, strict about the refs inside spans, and one body for the queue's
copy, read, write and update."""

from __future__ import annotations

import inspect

import anyio
import numpy
import pytest

from asyncvm.hal import Buffer, BufferView, CommandBuffer, Device, Fence, HalModule, Semaphore
from asyncvm.hal._module import HAL_EXPORTS, ExecutableHandle
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.vm import StatusCode, VMBuffer, VMError, export_table, parse_calling_convention

F32 = 0x21000020


def fence() -> Fence:
    return Fence.at(Semaphore(0), 1)


def bound(name: str, module: HalModule | None = None):
    """Export ``name`` as the VM calls it: bound to a fresh context state."""
    return (module or HalModule()).create_state(None, []).lookup_function(name)


# -- the table ------------------------------------------------------------------------------

def test_the_table_is_strictly_sorted_and_every_convention_parses():
    names = [row.name for row in HAL_EXPORTS]
    assert all(earlier < later for earlier, later in zip(names, names[1:]))
    assert len(set(names)) == len(names)
    for row in HAL_EXPORTS:
        parse_calling_convention(row.calling_convention)
        assert callable(row.function), row.name
    assert [descriptor.name for descriptor in HalModule().exports] == names


@pytest.mark.anyio
async def test_only_fence_await_may_suspend_and_only_while_a_fence_is_pending():
    assert not [row.name for row in HAL_EXPORTS if inspect.iscoroutinefunction(row.function)]
    fence_await = bound("fence.await")
    reached = fence()
    reached.signal()
    assert fence_await(0, 0, []) == (0,)
    assert fence_await(-1, 0, [None, reached]) == (0,)
    pending = fence()
    waiting = fence_await(-1, 0, [pending, reached])
    assert inspect.isawaitable(waiting)
    pending.signal()
    with anyio.fail_after(10):
        assert await waiting == (0,)
        assert await fence_await(1, 0, [fence()]) == (int(StatusCode.DEADLINE_EXCEEDED),)


def test_an_unsorted_table_is_refused():
    with pytest.raises(VMError) as caught:
        export_table("hal", [HAL_EXPORTS[1], HAL_EXPORTS[0]])
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("program", ["tensor_basic.mlir", "batch_model.mlir"])
def test_the_exports_cover_what_compiled_programs_import(compile_mlir, program):
    conventions = {f"hal.{row.name}": row.calling_convention for row in HAL_EXPORTS}
    imports = [descriptor for descriptor in BytecodeModule.load(str(compile_mlir(program))).imports
               if descriptor.full_name.startswith("hal.")]
    assert imports
    for descriptor in imports:
        assert descriptor.full_name in conventions, descriptor.full_name
        assert conventions[descriptor.full_name] == descriptor.calling_convention, \
            descriptor.full_name


# -- wrong-typed refs -----------------------------------------------------------------------

class Kernel:
    """An executable of one function that records nothing."""

    format = "test"
    function_names = ["kernel"]

    def dispatch(self, ordinal, state):
        pass


def _dispatch_arguments(bindings):
    return (CommandBuffer(), ExecutableHandle(Kernel()), 0, 1, 1, 1, 0, [], bindings)


def _indirect_dispatch_arguments(bindings):
    return (CommandBuffer(), ExecutableHandle(Kernel()), 0, 0, Buffer.allocate(12), 0, 0, [],
            bindings)


def _finalized() -> CommandBuffer:
    commands = CommandBuffer()
    commands.finalize()
    return commands


WRONG_REFS = {
    "fence.await holding a buffer": (
        "fence.await", lambda: (-1, 0, [Buffer.allocate(4)]), "fences[0]"),
    "fence.await holding a fence then a buffer view": (
        "fence.await", lambda: (-1, 0, [fence(), BufferView(Buffer.allocate(4), [1], F32)]),
        "fences[1]"),
    "fence.join holding a device": (
        "fence.join", lambda: (0, [None, fence(), Device()]), "fences[2]"),
    "dispatch binding a fence": (
        "command_buffer.dispatch",
        lambda: _dispatch_arguments([(0, 0, Buffer.allocate(4), 0, 4), (0, 1, fence(), 0, 4)]),
        "bindings[1] buffer"),
    "dispatch binding a vm.buffer": (
        "command_buffer.dispatch", lambda: _dispatch_arguments([(0, 0, VMBuffer(4), 0, 4)]),
        "bindings[0] buffer"),
    "indirect dispatch binding an integer": (
        "command_buffer.dispatch.indirect",
        lambda: _indirect_dispatch_arguments([(0, 0, 7, 0, 4)]), "bindings[0] buffer"),
    "indirect dispatch counts from a fence": (
        "command_buffer.dispatch.indirect",
        lambda: (CommandBuffer(), ExecutableHandle(Kernel()), 0, 0, fence(), 0, 0, [], []),
        "workgroups buffer"),
    "execute.indirect binding a command buffer": (
        "device.queue.execute.indirect",
        lambda: (Device(), -1, None, fence(), _finalized(), 0,
                 [(Buffer.allocate(4), 0, 4), (CommandBuffer(), 0, 4)]),
        "bindings[1] buffer"),
    "allocator.select of a buffer": (
        "allocator.select", lambda: (0, 0, 0, [(Device(), -1), (Buffer.allocate(4), -1)]),
        "candidates[1] device"),
    "buffer_view.trace of a null view": (
        "buffer_view.trace", lambda: (None, [None]), "views[0]"),
    "a queue operation waiting on a buffer": (
        "device.queue.execute", lambda: (Device(), -1, Buffer.allocate(4), fence(), _finalized(),
                                         0), "wait fence"),
    "a queue operation signalling a buffer view": (
        "device.queue.alloca",
        lambda: (Device(), -1, None, BufferView(Buffer.allocate(4), [1], F32), 0, 0, 0, 4, 0),
        "signal fence"),
    "a copy into a fence": (
        "command_buffer.copy_buffer",
        lambda: (CommandBuffer(), 0, 0, Buffer.allocate(4), 0, fence(), 0, 4, 0),
        "target buffer"),
}


@pytest.mark.parametrize("case", list(WRONG_REFS))
def test_wrong_typed_refs_are_invalid_arguments_naming_them(case):
    name, arguments, what = WRONG_REFS[case]
    with pytest.raises(VMError) as caught:
        bound(name)(*arguments())
    assert caught.value.status == StatusCode.INVALID_ARGUMENT, caught.value
    assert what in str(caught.value)


def test_null_buffers_in_spans_name_binding_table_slots():
    """A null buffer is not an error: it names a binding-table slot."""
    commands = CommandBuffer()
    bound("command_buffer.dispatch")(commands, ExecutableHandle(Kernel()), 0, 1, 1, 1, 0, [],
                                     [(0, 0, None, 0, 4)])
    bound("command_buffer.finalize")(commands)
    signal = fence()
    bound("device.queue.execute.indirect")(Device(), -1, None, signal, commands, 0,
                                           [(Buffer.allocate(4), 0, 4)])
    assert signal.query() == StatusCode.OK
    joined, = bound("fence.join")(0, [None, signal])
    assert joined.reached()


# -- the queue's shared transfer body -------------------------------------------------------

@pytest.fixture(params=["local-sync", "local-task"])
def hal(request):
    return HalModule([Device(request.param, workers=2)])


def _submit_after(wait: Fence, name: str, hal: HalModule, *operands) -> Fence:
    signal = fence()
    bound(name, hal)(hal.devices[0], -1, wait, signal, *operands, 0)
    return signal


@pytest.mark.anyio
async def test_queue_copy_moves_the_right_bytes_once_its_wait_is_reached(hal):
    source = Buffer.wrap(numpy.arange(16, dtype=numpy.uint8))
    target = Buffer.allocate(16)
    wait = fence()
    signal = _submit_after(wait, "device.queue.copy", hal, source, 2, target, 4, 8)
    await anyio.sleep(0.01)
    assert not target.bytes_view().any()
    wait.signal()
    with anyio.fail_after(10):
        await signal.wait()
    assert target.bytes_view().tolist() == [0] * 4 + list(range(2, 10)) + [0] * 4


@pytest.mark.anyio
async def test_queue_read_and_write_move_the_right_bytes_through_files(hal):
    file_from_memory = bound("ex.file.from_memory", hal)
    device = hal.devices[0]
    source_file, = file_from_memory(device, -1, 1, VMBuffer.wrap(bytes(range(100, 116))), 0, -1,
                                    0)
    target = Buffer.allocate(8)
    read = _submit_after(None, "device.queue.read", hal, source_file, 3, target, 2, 5)
    with anyio.fail_after(10):
        await read.wait()
    assert target.bytes_view()[2:7].tolist() == list(range(103, 108))

    memory = bytearray(12)
    target_file, = file_from_memory(device, -1, 1, VMBuffer.wrap(memory), 4, 8, 0)
    source = Buffer.wrap(numpy.arange(1, 9, dtype=numpy.uint8))
    write = _submit_after(read, "device.queue.write", hal, source, 5, target_file, 1, 3)
    with anyio.fail_after(10):
        await write.wait()
    assert list(memory) == [0] * 5 + [6, 7, 8] + [0] * 4


@pytest.mark.anyio
async def test_queue_update_copies_bytes_captured_at_the_call(hal):
    host = bytearray(range(10))
    target = Buffer.allocate(6)
    wait = fence()
    signal = _submit_after(wait, "device.queue.update", hal, VMBuffer.wrap(host), 4, target, 1, 5)
    host[:] = bytes(10)  # changed after the call: the queue writes what it was given
    wait.signal()
    with anyio.fail_after(10):
        await signal.wait()
    assert target.bytes_view().tolist() == [0, 4, 5, 6, 7, 8]


@pytest.mark.anyio
async def test_a_bad_copy_range_fails_the_signal_fence_only(hal):
    signal = _submit_after(None, "device.queue.copy", hal, Buffer.allocate(4), 0,
                           Buffer.allocate(4), 2, 4)
    with anyio.fail_after(10), pytest.raises(VMError) as caught:
        await signal.wait()
    assert caught.value.status == StatusCode.OUT_OF_RANGE
    with pytest.raises(VMError) as caught:  # a file is not a buffer, nor the reverse
        _submit_after(None, "device.queue.copy", hal, Buffer.allocate(4), 0,
                      bound("ex.file.from_memory", hal)(hal.devices[0], -1, 1, VMBuffer(4), 0,
                                                         -1, 0)[0], 0, 4)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "target buffer is a hal.file" in str(caught.value)
