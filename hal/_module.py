"""The ``hal`` VM module: the HAL under IREE's export names and conventions.

Compiled programs import ``hal.*`` functions by name and calling convention
and link to these without change. Every export runs synchronously except
``hal.fence.await``, which suspends the calling invocation (never the event
loop) until its fences are reached or its timeout passes.

Errors follow IREE: a wrong input shape or element type is INVALID_ARGUMENT
naming the input, bad ranges are OUT_OF_RANGE, an unknown executable format
is NOT_FOUND naming it, and a failing dispatch fails its signal fence, so
its error reaches the invocation that waits on that fence and no other.
"""

from __future__ import annotations

import math
from typing import Any

import numpy

from asyncvm.vm import NativeModule, NativeModuleState, StatusCode, VMBuffer, VMError

from ._buffer import Buffer
from ._buffer_view import BufferView
from ._command_buffer import BufferReference, CommandBuffer
from ._device import Device
from ._element_type import ElementType
from ._executable import Executable, lookup_function
from ._fence import Fence
from ._semaphore import Semaphore

HAL_MODULE_VERSION = 7
_WHOLE = (1 << 64) - 1


class Allocator:
    """``!hal.allocator``: a device's allocator."""

    def __init__(self, device: Device) -> None:
        self.device = device

    def __repr__(self) -> str:
        return f"<hal.allocator of {self.device.identifier}>"


class File:
    """``!hal.file``: bytes a queue can read from or write to (memory-backed)."""

    def __init__(self, memory: VMBuffer, offset: int, length: int) -> None:
        self.buffer = Buffer(_storage_of(memory), offset, length)


def _storage_of(memory: VMBuffer):
    """A numpy view of a vm.buffer's bytes (read-only if the buffer is)."""
    return numpy.frombuffer(memory.memory, dtype=numpy.uint8) if memory.readonly \
        else numpy.asarray(memory.memory, dtype=numpy.uint8)


class ExecutableHandle:
    """``!hal.executable``: a loaded executable (any format)."""

    def __init__(self, executable: Executable) -> None:
        self.executable = executable


def _text(buffer: VMBuffer | None) -> str:
    if buffer is None:
        return ""
    return _require(buffer, VMBuffer, "string").tobytes().decode("utf-8", "replace")


def _require(value: Any, cls: type, what: str):
    if isinstance(value, cls):
        return value
    if value is None:
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{what} is null")
    raise VMError(StatusCode.INVALID_ARGUMENT,
                  f"{what} is a {type(value).__name__}, not a {cls.__name__}")


def _length(value: int) -> int:
    """i64 lengths: -1 (all ones) means the whole range."""
    return -1 if value in (-1, _WHOLE) else value


async def _await_fence(fence: Fence, timeout: float) -> int:
    """``hal.fence.await`` once it must suspend: 0, or DEADLINE_EXCEEDED (4) on
    timeout; a failed fence raises its failure."""
    try:
        await fence.wait(timeout)
    except VMError as error:
        if error.status == StatusCode.DEADLINE_EXCEEDED:
            return int(StatusCode.DEADLINE_EXCEEDED)
        raise
    return 0


class HalModuleState(NativeModuleState):
    """One context's devices."""

    def __init__(self, module: "HalModule", context: Any, imports) -> None:
        super().__init__(module, context, imports)
        self.devices = module.devices


class HalModule(NativeModule):
    """The ``hal`` module over a list of devices (one ``local-sync`` by default)."""

    def __init__(self, devices: list[Device] | None = None) -> None:
        super().__init__("hal", HAL_MODULE_VERSION, ref_types={
            "hal.allocator": Allocator, "hal.buffer": Buffer, "hal.buffer_view": BufferView,
            "hal.command_buffer": CommandBuffer, "hal.device": Device,
            "hal.executable": ExecutableHandle, "hal.fence": Fence, "hal.semaphore": Semaphore,
            "hal.file": File,
        })
        self.devices = list(devices) if devices else [Device("local-sync")]
        self._allocators = {id(device): Allocator(device) for device in self.devices}
        self._register_exports()

    def create_state(self, context: Any, imports) -> HalModuleState:
        return HalModuleState(self, context, imports)

    def allocator_of(self, device: Device) -> Allocator:
        allocator = self._allocators.get(id(device))
        if allocator is None:
            allocator = self._allocators[id(device)] = Allocator(device)
        return allocator

    def _register_exports(self) -> None:  # noqa: C901 - one table of small functions
        export = self.export
        devices = self.devices

        # -- devices -------------------------------------------------------------------
        @export("0v_i", name="devices.count")
        def devices_count():
            return len(devices)

        @export("0i_r", name="devices.get")
        def devices_get(index):
            if not 0 <= index < len(devices):
                raise VMError(StatusCode.OUT_OF_RANGE,
                              f"device {index} out of range ({len(devices)} devices)")
            return devices[index]

        @export("0rrr_iI", name="device.query.i64")
        def device_query_i64(device, category, key):
            found, value = _require(device, Device, "device").query_i64(_text(category), _text(key))
            return int(found), value

        @export("0r_r", name="device.allocator")
        def device_allocator(device):
            return self.allocator_of(_require(device, Device, "device"))

        # -- allocators and buffers ---------------------------------------------------------
        @export("0rIiiI_r", name="allocator.allocate")
        def allocator_allocate(allocator, queue_affinity, memory_types, usage, length):
            allocator = _require(allocator, Allocator, "allocator")
            return allocator.device.allocate(length, memory_types, usage)

        @export("0riIiirII_r", name="allocator.import")
        def allocator_import(allocator, try_import, queue_affinity, memory_types, usage, source,
                             offset, length):
            _require(allocator, Allocator, "allocator")
            source = _require(source, VMBuffer, "source")
            length = len(source) - offset if _length(length) == -1 else length
            source.check_range(offset, length)
            return Buffer(_storage_of(source), offset, length, memory_type=memory_types,
                          allowed_usage=usage)

        @export("0rIirIIi_r", name="ex.file.from_memory")
        def ex_file_from_memory(device, queue_affinity, access, memory, offset, length, flags):
            memory = _require(memory, VMBuffer, "file memory")
            length = len(memory) - offset if _length(length) == -1 else length
            memory.check_range(offset, length)
            return File(memory, offset, length)

        @export("0iiICrID_rI", name="allocator.select")
        def allocator_select(memory_types, usage, flags, candidates):
            if not candidates:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              "at least one device/queue affinity pair must be provided")
            device, affinity = candidates[0]
            return device, affinity

        @export("0r_i", name="buffer.allocation.discard")
        def buffer_allocation_discard(buffer):
            owners = _require(buffer, Buffer, "buffer").owners
            owners[0] = max(owners[0] - 1, 0)
            return int(owners[0] == 0)

        @export("0r_i", name="buffer.allocation.is_terminal")
        def buffer_allocation_is_terminal(buffer):
            return int(_require(buffer, Buffer, "buffer").owners[0] == 1)

        @export("0r_v", name="buffer.allocation.preserve")
        def buffer_allocation_preserve(buffer):
            _require(buffer, Buffer, "buffer").owners[0] += 1

        @export("0rrrIii_v", name="buffer.assert")
        def buffer_assert(buffer, message, allocator, minimum_length, memory_types, usage):
            buffer = _require(buffer, Buffer, _text(message) or "buffer")
            if buffer.length < minimum_length:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{_text(message)} buffer is too small; expected at least "
                              f"{minimum_length} bytes but have {buffer.length}")

        @export("0rII_r", name="buffer.subspan")
        def buffer_subspan(buffer, offset, length):
            return _require(buffer, Buffer, "buffer").subspan(offset, _length(length))

        @export("0r_I", name="buffer.length")
        def buffer_length(buffer):
            return _require(buffer, Buffer, "buffer").length

        @export("0rIi_i", name="buffer.load")
        def buffer_load(buffer, offset, length):
            view = _require(buffer, Buffer, "buffer").bytes_view(offset, length)
            return int.from_bytes(view.tobytes(), "little", signed=False) & 0xFFFFFFFF

        @export("0irIi_v", name="buffer.store")
        def buffer_store(value, buffer, offset, length):
            view = _require(buffer, Buffer, "buffer").bytes_view(offset, length)
            view[:] = bytearray((value & ((1 << (8 * length)) - 1)).to_bytes(length, "little"))

        # -- buffer views ---------------------------------------------------------------
        @export("0rIIiiCID_r", name="buffer_view.create")
        def buffer_view_create(buffer, offset, length, element_type, encoding_type, shape):
            buffer = _require(buffer, Buffer, "buffer").subspan(offset, _length(length))
            return BufferView(buffer, shape, element_type & 0xFFFFFFFF, encoding_type)

        @export("0rriiCID_v", name="buffer_view.assert")
        def buffer_view_assert(view, message, element_type, encoding_type, shape):
            name = _text(message) or "buffer view"
            view = _require(view, BufferView, name)
            expected_type = ElementType(element_type & 0xFFFFFFFF)
            if not view.element_type.compatible_with(expected_type):
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{name} element type mismatch; expected {expected_type.name} "
                              f"(0x{int(expected_type):08X}) but have {view.element_type.name} "
                              f"(0x{int(view.element_type):08X})")
            if view.encoding_type != encoding_type:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{name} encoding mismatch; expected {encoding_type} but have "
                              f"{view.encoding_type}")
            if len(view.shape) != len(shape):
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{name} rank mismatch; expected {len(shape)} but have "
                              f"{len(view.shape)}")
            for index, (expected, actual) in enumerate(zip(shape, view.shape)):
                if expected != actual:
                    raise VMError(StatusCode.INVALID_ARGUMENT,
                                  f"{name} shape dimension {index} mismatch; expected "
                                  f"{expected} but have {actual}")

        @export("0r_r", name="buffer_view.buffer")
        def buffer_view_buffer(view):
            return _require(view, BufferView, "buffer view").buffer

        @export("0r_i", name="buffer_view.element_type")
        def buffer_view_element_type(view):
            value = int(_require(view, BufferView, "buffer view").element_type)
            return value - (1 << 32) if value >= (1 << 31) else value

        @export("0r_i", name="buffer_view.encoding_type")
        def buffer_view_encoding_type(view):
            return _require(view, BufferView, "buffer view").encoding_type

        @export("0r_i", name="buffer_view.rank")
        def buffer_view_rank(view):
            return len(_require(view, BufferView, "buffer view").shape)

        @export("0ri_I", name="buffer_view.dim")
        def buffer_view_dim(view, index):
            shape = _require(view, BufferView, "buffer view").shape
            if not 0 <= index < len(shape):
                raise VMError(StatusCode.OUT_OF_RANGE,
                              f"dimension {index} out of range for rank {len(shape)}")
            return shape[index]

        @export("0rCrD_v", name="buffer_view.trace")
        def buffer_view_trace(key, views):
            pass

        # -- executables ------------------------------------------------------------------
        @export("0rIrrr_r", name="executable.create")
        def executable_create(device, queue_affinity, format_name, data, constants):
            device = _require(device, Device, "device")
            data = _require(data, VMBuffer, "executable data")
            constant_values = ()
            if constants is not None:
                raw = constants.tobytes()
                constant_values = tuple(int.from_bytes(raw[i:i + 4], "little")
                                        for i in range(0, len(raw) - len(raw) % 4, 4))
            return ExecutableHandle(device.create_executable(_text(format_name), data.tobytes(),
                                                             constant_values))

        @export("0rr_I", name="executable.lookup.function")
        def executable_lookup_function(handle, name):
            handle = _require(handle, ExecutableHandle, "executable")
            return lookup_function(handle.executable, _text(name))

        # -- command buffers ----------------------------------------------------------------
        @export("0riiIi_r", name="command_buffer.create")
        def command_buffer_create(device, modes, categories, queue_affinity, binding_capacity):
            _require(device, Device, "device")
            return CommandBuffer(modes, categories, binding_capacity)

        @export("0r_v", name="command_buffer.finalize")
        def command_buffer_finalize(command_buffer):
            _require(command_buffer, CommandBuffer, "command buffer").finalize()

        @export("0riiI_v", name="command_buffer.execution_barrier")
        def command_buffer_execution_barrier(command_buffer, source_stage, target_stage, flags):
            _require(command_buffer, CommandBuffer, "command buffer").barrier()

        @export("0rrIIiIiI_v", name="command_buffer.fill_buffer")
        def command_buffer_fill_buffer(command_buffer, target, offset, length, slot, pattern,
                                       pattern_length, flags):
            if pattern_length not in (1, 2, 4):
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"fill pattern length {pattern_length} must be 1, 2 or 4")
            data = (pattern & ((1 << (8 * pattern_length)) - 1)).to_bytes(pattern_length, "little")
            _require(command_buffer, CommandBuffer, "command buffer").fill(
                BufferReference(target, slot, offset, _length(length)), data)

        @export("0rrIrIIiI_v", name="command_buffer.update_buffer")
        def command_buffer_update_buffer(command_buffer, source, source_offset, target,
                                         target_offset, length, slot, flags):
            data = _require(source, VMBuffer, "source").slice_bytes(source_offset, length)
            _require(command_buffer, CommandBuffer, "command buffer").update(
                data.tobytes(), BufferReference(target, slot, target_offset, length))

        @export("0riirIrIII_v", name="command_buffer.copy_buffer")
        def command_buffer_copy_buffer(command_buffer, source_slot, target_slot, source,
                                       source_offset, target, target_offset, length, flags):
            _require(command_buffer, CommandBuffer, "command buffer").copy(
                BufferReference(source, source_slot, source_offset, length),
                BufferReference(target, target_slot, target_offset, length), length)

        @export("0rrIiiiICiDCiirIID_v", name="command_buffer.dispatch")
        def command_buffer_dispatch(command_buffer, handle, ordinal, x, y, z, flags, constants,
                                    bindings):
            handle = _require(handle, ExecutableHandle, "executable")
            references = [BufferReference(buffer, slot, offset, _length(length))
                          for _, slot, buffer, offset, length in bindings]
            _require(command_buffer, CommandBuffer, "command buffer").dispatch(
                handle.executable, ordinal, (x, y, z), tuple(c & 0xFFFFFFFF for c in constants),
                references)

        @export("0rrIirIICiDCiirIID_v", name="command_buffer.dispatch.indirect")
        def command_buffer_dispatch_indirect(command_buffer, handle, ordinal, workgroups_slot,
                                             workgroups_buffer, workgroups_offset, flags,
                                             constants, bindings):
            handle = _require(handle, ExecutableHandle, "executable")
            references = [BufferReference(buffer, slot, offset, _length(length))
                          for _, slot, buffer, offset, length in bindings]
            _require(command_buffer, CommandBuffer, "command buffer").dispatch(
                handle.executable, ordinal,
                BufferReference(workgroups_buffer, workgroups_slot, workgroups_offset, 12),
                tuple(c & 0xFFFFFFFF for c in constants), references)

        # Hints and markers: no effect on host memory.
        @export("0rrIIIi_v", name="command_buffer.advise_buffer")
        def command_buffer_advise_buffer(command_buffer, buffer, flags, arg0, arg1, slot):
            _require(command_buffer, CommandBuffer, "command buffer")

        @export("0rr_v", name="command_buffer.begin_debug_group")
        def command_buffer_begin_debug_group(command_buffer, label):
            _require(command_buffer, CommandBuffer, "command buffer")

        @export("0r_v", name="command_buffer.end_debug_group")
        def command_buffer_end_debug_group(command_buffer):
            _require(command_buffer, CommandBuffer, "command buffer")

        @export("0rirII_v", name="command_buffer.flush_buffer")
        def command_buffer_flush_buffer(command_buffer, slot, buffer, offset, length):
            _require(command_buffer, CommandBuffer, "command buffer")

        @export("0rirII_v", name="command_buffer.invalidate_buffer")
        def command_buffer_invalidate_buffer(command_buffer, slot, buffer, offset, length):
            _require(command_buffer, CommandBuffer, "command buffer")

        # -- fences -------------------------------------------------------------------------
        @export("0rI_r", name="fence.create")
        def fence_create(device, flags):
            return Fence.at(Semaphore(0), 1)

        def fences_of(fences) -> list:
            return [_require(f, Fence, "fence") for f in fences if f is not None]

        @export("0ICrD_r", name="fence.join")
        def fence_join(flags, fences):
            return Fence.join(fences_of(fences))

        @export("0r_i", name="fence.query")
        def fence_query(fence):
            status = _require(fence, Fence, "fence").query()
            return int(status)

        @export("0r_v", name="fence.signal")
        def fence_signal(fence):
            _require(fence, Fence, "fence").signal()

        @export("0ri_v", name="fence.fail")
        def fence_fail(fence, status):
            _require(fence, Fence, "fence").fail(
                VMError(StatusCode.from_value(status & 0x1F), "fence failed by the program"))

        @export("0iICrD_i", name="fence.await")
        def fence_await(timeout_milliseconds, flags, fences):
            joined = Fence.join(fences_of(fences))
            if joined.reached():  # nothing to wait for: no suspension
                return 0
            timeout = math.inf if timeout_milliseconds < 0 else timeout_milliseconds / 1000.0
            return _await_fence(joined, timeout)

        # -- queue ----------------------------------------------------------------------------
        @export("0rIrrIiiII_r", name="device.queue.alloca")
        def device_queue_alloca(device, queue_affinity, wait, signal, pool, memory_types, usage,
                                length, flags):
            return _require(device, Device, "device").queue_alloca(wait, signal, length,
                                                                   memory_types, usage)

        @export("0rIrrrI_v", name="device.queue.dealloca")
        def device_queue_dealloca(device, queue_affinity, wait, signal, buffer, flags):
            _require(device, Device, "device").queue_dealloca(wait, signal, buffer)

        @export("0rIrrI_v", name="device.queue.barrier")
        def device_queue_barrier(device, queue_affinity, wait, signal, flags):
            _require(device, Device, "device").queue_execute(wait, signal, None)

        @export("0rIrrrI_v", name="device.queue.execute")
        def device_queue_execute(device, queue_affinity, wait, signal, command_buffer, flags):
            _require(device, Device, "device").queue_execute(
                wait, signal, _require(command_buffer, CommandBuffer, "command buffer"))

        @export("0rIrrrICrIID_v", name="device.queue.execute.indirect")
        def device_queue_execute_indirect(device, queue_affinity, wait, signal, command_buffer,
                                          flags, bindings):
            table = [(buffer, offset, _length(length)) for buffer, offset, length in bindings]
            _require(device, Device, "device").queue_execute(
                wait, signal, _require(command_buffer, CommandBuffer, "command buffer"), table)

        def queue(device, wait, signal, work) -> None:
            _require(device, Device, "device").submit(wait, signal, work)

        @export("0rIrrrIIIiI_v", name="device.queue.fill")
        def device_queue_fill(device, queue_affinity, wait, signal, target, offset, length,
                              pattern, pattern_length, flags):
            target = _require(target, Buffer, "target buffer")
            data = (pattern & ((1 << (8 * pattern_length)) - 1)).to_bytes(pattern_length, "little")
            length = target.resolve_length(offset, _length(length))
            queue(device, wait, signal, lambda: target.fill(offset, length, data))

        @export("0rIrrrIrIII_v", name="device.queue.copy")
        def device_queue_copy(device, queue_affinity, wait, signal, source, source_offset, target,
                              target_offset, length, flags):
            source = _require(source, Buffer, "source buffer")
            target = _require(target, Buffer, "target buffer")
            queue(device, wait, signal,
                  lambda: source.copy_to(source_offset, target, target_offset, length))

        @export("0rIrrrIrIII_v", name="device.queue.read")
        def device_queue_read(device, queue_affinity, wait, signal, source, source_offset, target,
                              target_offset, length, flags):
            source = _require(source, File, "source file").buffer
            target = _require(target, Buffer, "target buffer")
            queue(device, wait, signal,
                  lambda: source.copy_to(source_offset, target, target_offset, length))

        @export("0rIrrrIrIII_v", name="device.queue.write")
        def device_queue_write(device, queue_affinity, wait, signal, source, source_offset, target,
                               target_offset, length, flags):
            source = _require(source, Buffer, "source buffer")
            target = _require(target, File, "target file").buffer
            queue(device, wait, signal,
                  lambda: source.copy_to(source_offset, target, target_offset, length))

        @export("0rIrrrIrIII_v", name="device.queue.update")
        def device_queue_update(device, queue_affinity, wait, signal, source, source_offset,
                                target, target_offset, length, flags):
            data = _require(source, VMBuffer, "source").slice_bytes(source_offset, length).tobytes()
            target = _require(target, Buffer, "target buffer")
            target.check_range(target_offset, length)

            def update() -> None:
                target.bytes_view(target_offset, length)[:] = numpy.frombuffer(data, numpy.uint8)
            queue(device, wait, signal, update)

        @export("0rI_v", name="device.queue.flush")
        def device_queue_flush(device, queue_affinity):
            pass
