"""The ``hal`` VM module: the HAL under IREE's export names and conventions.

Compiled programs import ``hal.*`` functions by name and calling convention
(IREE 3.13's) and link to these without change. Every export is a
module-level function listed once, in :data:`HAL_EXPORTS`, one table sorted
by name as IREE writes ``runtime/src/iree/modules/hal/exports.inl``. Each
takes the module's per-context state (:class:`HalModuleState`) first, then
one Python value per calling-convention argument (a span is a list).

Suspension: every export runs to completion without suspending except
``hal.fence.await``, which, while one of its fences is still pending,
suspends the calling invocation (never the event loop) until its fences are
reached or its timeout passes. Queue operations (``device.queue.*``) return
at once; their work runs once their wait fence is reached.

Errors are VMError with IREE's status codes:

* INVALID_ARGUMENT for a null ref where one is required or a ref of the
  wrong type, whether a single argument or an element of a span (the fences
  of ``fence.await`` and ``fence.join``, the bindings of
  ``command_buffer.dispatch`` and ``device.queue.execute.indirect``, ...);
  the message names the argument and, in a span, the element's index. A
  wrong input shape, element type or encoding (``buffer_view.assert``) is
  INVALID_ARGUMENT naming the input.
* OUT_OF_RANGE for bad byte ranges, dimensions, device indices and
  executable function ordinals.
* NOT_FOUND for an unknown executable format or function, naming it.
* FAILED_PRECONDITION for a command buffer recorded after it is finalized,
  or executed before.
* PERMISSION_DENIED for importing immutable memory (module rodata) without
  ``SHARING_IMMUTABLE`` usage, and for any host-side write (queue copy, fill,
  update and read targets, command-buffer fill/copy/update targets,
  ``buffer.store``) into a buffer whose access bits lack ``DISCARD_WRITE``,
  naming the operation. Every imported buffer lacks it, as in IREE (see
  :func:`allocator_import` and docs/hal_module.md, "Constants written in
  place").
* RESOURCE_EXHAUSTED for an allocation (``allocator.allocate``,
  ``device.queue.alloca``) that the host cannot provide or that would pass
  the device's memory limit (see :meth:`Device.allocate`).
* A queue operation raises only for bad arguments and, ``queue.alloca``,
  for an allocation that fails (it is made at once), which also fails its
  signal fence. A failure of its work (or of its wait fence) fails its signal
  fence instead, so the error reaches the invocation that waits on that fence
  and no other.
* ``fence.await`` returns DEADLINE_EXCEEDED (4) on timeout rather than
  raising; a failed fence raises its failure.
"""

from __future__ import annotations

from typing import Any

import numpy

from asyncvm.vm import (address_of, Export, NativeModule, NativeModuleState, StatusCode, VMBuffer, VMError,
                        export_table)

from ._buffer import (MEMORY_ACCESS_ALL, MEMORY_ACCESS_READ, MEMORY_ACCESS_WRITE, WHOLE_BUFFER,
                      Buffer)
from ._buffer_view import BufferView
from ._command_buffer import BufferReference, CommandBuffer
from ._device import Device
from ._element_type import ElementType
from ._executable import Executable, lookup_function
from ._fence import Fence
from ._semaphore import Semaphore

HAL_MODULE_VERSION = 7
_USAGE_SHARING_IMMUTABLE = 1 << 19  # IREE_HAL_BUFFER_USAGE_SHARING_IMMUTABLE
_HEAP_BUFFER_ALIGNMENT = 64  # IREE_HAL_HEAP_BUFFER_ALIGNMENT: imported host memory must be aligned


# -- ref types the module adds to those of the HAL ------------------------------------------

class Allocator:
    """``!hal.allocator``: a device's allocator."""

    def __init__(self, device: Device) -> None:
        self.device = device

    def __repr__(self) -> str:
        return f"<hal.allocator of {self.device.identifier}>"


class File:
    """``!hal.file``: bytes a queue can read from or write to (memory-backed;
    writes into immutable memory are PERMISSION_DENIED)."""

    def __init__(self, memory: VMBuffer, offset: int, length: int) -> None:
        self.buffer = Buffer(_storage_of(memory), offset, length,
                             allowed_access=MEMORY_ACCESS_READ if memory.readonly
                             else MEMORY_ACCESS_ALL)


class ExecutableHandle:
    """``!hal.executable``: a loaded executable (any format)."""

    def __init__(self, executable: Executable) -> None:
        self.executable = executable


HAL_REF_TYPES = {
    "hal.allocator": Allocator, "hal.buffer": Buffer, "hal.buffer_view": BufferView,
    "hal.command_buffer": CommandBuffer, "hal.device": Device,
    "hal.executable": ExecutableHandle, "hal.fence": Fence, "hal.file": File,
    "hal.semaphore": Semaphore,
}
_TYPE_NAMES = {cls: name for name, cls in HAL_REF_TYPES.items()}
_TYPE_NAMES[VMBuffer] = "vm.buffer"


# -- argument checks ------------------------------------------------------------------------

def _wrong_type(value: Any, expected: type, what: str) -> VMError:
    """The INVALID_ARGUMENT error for ``what`` being null or not an ``expected``."""
    expected_name = _TYPE_NAMES.get(expected, expected.__name__)
    actual = "null" if value is None else _with_article(
        _TYPE_NAMES.get(type(value), type(value).__name__))
    return VMError(StatusCode.INVALID_ARGUMENT,
                   f"{what} is {actual}, not {_with_article(expected_name)}")


def _with_article(name: str) -> str:
    return f"an {name}" if name[0] in "aeiouAEIOU" else f"a {name}"


def _require(value: Any, expected: type, what: str):
    """``value`` if it is an ``expected``; INVALID_ARGUMENT otherwise (null included)."""
    if isinstance(value, expected):
        return value
    raise _wrong_type(value, expected, what)


def _require_or_null(value: Any, expected: type, what: str):
    """``value`` if it is an ``expected`` or null; INVALID_ARGUMENT otherwise."""
    if value is None or isinstance(value, expected):
        return value
    raise _wrong_type(value, expected, what)


def _check_span(span: list, expected: type, what: str, nullable: bool = True) -> list:
    """``span`` once every element is an ``expected`` (or null, if ``nullable``);
    INVALID_ARGUMENT naming ``what[index]`` otherwise."""
    for index, value in enumerate(span):
        if not isinstance(value, expected) and (value is not None or not nullable):
            raise _wrong_type(value, expected, f"{what}[{index}]")
    return span


def _check_queue(device: Any, wait: Any, signal: Any) -> Device:
    """The device of a queue operation, once it and the operation's wait and
    signal fences (each may be null) are checked."""
    if not isinstance(device, Device):
        raise _wrong_type(device, Device, "device")
    if wait is not None and not isinstance(wait, Fence):
        raise _wrong_type(wait, Fence, "wait fence")
    if signal is not None and not isinstance(signal, Fence):
        raise _wrong_type(signal, Fence, "signal fence")
    return device


def _text(buffer: VMBuffer | None) -> str:
    """A string argument (a ``!vm.buffer`` of UTF-8); null is the empty string."""
    if buffer is None:
        return ""
    return _require(buffer, VMBuffer, "string").tobytes().decode("utf-8", "replace")


def _length(value: int) -> int:
    """An i64 length: -1 (all ones) means the whole range."""
    return -1 if value == -1 or value == WHOLE_BUFFER else value


def _storage_of(memory: VMBuffer):
    """A numpy view of a vm.buffer's bytes (read-only if the buffer is)."""
    return numpy.frombuffer(memory.memory, dtype=numpy.uint8) if memory.readonly \
        else numpy.asarray(memory.memory, dtype=numpy.uint8)


def _memory_range(memory: Any, offset: int, length: int, what: str) -> tuple[VMBuffer, int]:
    """A checked range of a ``!vm.buffer``: the buffer and the length (-1 is to the end)."""
    memory = _require(memory, VMBuffer, what)
    length = len(memory) - offset if _length(length) == -1 else length
    memory.check_range(offset, length)
    return memory, length


def _pattern_bytes(pattern: int, pattern_length: int) -> bytes:
    """The low ``pattern_length`` bytes of a fill pattern, little-endian."""
    return (pattern & ((1 << (8 * pattern_length)) - 1)).to_bytes(pattern_length, "little")


def _buffer_reference(buffer: Any, slot: int, offset: int, length: int,
                      what: str) -> BufferReference:
    """A command's buffer range: ``buffer`` itself, or binding-table ``slot``
    when the buffer is null."""
    if buffer is not None and not isinstance(buffer, Buffer):
        raise _wrong_type(buffer, Buffer, what)
    return BufferReference(buffer, slot, offset, _length(length))


# -- allocator ------------------------------------------------------------------------------

def allocator_allocate(state, allocator, queue_affinity, memory_types, usage, length):
    return _require(allocator, Allocator, "allocator").device.allocate(length, memory_types, usage)


def allocator_import(state, allocator, try_import, queue_affinity, memory_types, usage, source,
                     offset, length):
    """Wraps ``source[offset:offset + length]`` as a buffer, without copying,
    as IREE 3.13's ``iree_hal_module_allocator_import`` (module.c) and heap
    allocator do:

    * a range outside ``source`` is INVALID_ARGUMENT, and an immutable
      ``source`` (rodata) imported without ``SHARING_IMMUTABLE`` usage is
      PERMISSION_DENIED -- whatever ``try_import`` says;
    * the buffer may be read; it may be written by the host-side operations
      (which need ``DISCARD_WRITE``) never -- IREE grants ``READ``, plus
      ``WRITE`` for a mutable source imported without ``SHARING_IMMUTABLE``,
      and never ``DISCARD``;
    * memory not on a 64-byte boundary cannot be imported: null when
      ``try_import``, OUT_OF_RANGE otherwise (for host memory, an offset
      that is not a multiple of 64).

    Dispatches may still write into the buffer (IREE checks no access for
    them): immutable memory is given a private copy first (``_buffer``)."""
    _require(allocator, Allocator, "allocator")
    source = _require(source, VMBuffer, "source")
    available = len(source)
    if length == -1 or length == WHOLE_BUFFER:
        length = available
    if offset < 0 or length < 0 or offset > available or offset + length > available:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"byte range out of bounds (requested {offset}-{offset + length - 1} of "
                      f"available {available})")
    immutable = source.readonly
    if immutable and not usage & _USAGE_SHARING_IMMUTABLE:
        raise VMError(StatusCode.PERMISSION_DENIED,
                      "source buffer is immutable and can only be imported for constant usage")
    memory = _storage_of(source)
    # Module rodata keeps the file's alignment, so its address is the one
    # IREE sees; host memory IREE allocates aligned (vm.buffer.alloc) and
    # asyncvm need not, so there only the offset counts.
    address = address_of(memory) + offset if immutable else offset
    if address % _HEAP_BUFFER_ALIGNMENT:
        if try_import:
            return None
        raise VMError(StatusCode.OUT_OF_RANGE,
                      f"imported heap buffer data must be aligned to {_HEAP_BUFFER_ALIGNMENT}; "
                      f"got 0x{address:x}")
    storage = memory[offset:offset + length]
    access = MEMORY_ACCESS_READ
    if not immutable and not usage & _USAGE_SHARING_IMMUTABLE:
        access |= MEMORY_ACCESS_WRITE
    return Buffer(storage, 0, length, memory_type=memory_types, allowed_usage=usage,
                  allowed_access=access)


def allocator_select(state, memory_types, usage, flags, candidates):
    """The first (device, queue affinity) pair of the span."""
    if not candidates:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      "at least one device/queue affinity pair must be provided")
    for index, (device, _) in enumerate(candidates):
        if not isinstance(device, Device):
            raise _wrong_type(device, Device, f"candidates[{index}] device")
    return candidates[0]


# -- buffer ---------------------------------------------------------------------------------

def buffer_allocation_discard(state, buffer):
    """Drops one co-owner of the allocation; 1 if it was the last."""
    allocation = _require(buffer, Buffer, "buffer").allocation
    allocation.owners = max(allocation.owners - 1, 0)
    return int(allocation.owners == 0)


def buffer_allocation_is_terminal(state, buffer):
    return int(_require(buffer, Buffer, "buffer").allocation.owners == 1)


def buffer_allocation_preserve(state, buffer):
    _require(buffer, Buffer, "buffer").allocation.owners += 1


def buffer_assert(state, buffer, message, allocator, minimum_length, memory_types, usage):
    """Checks an input buffer; errors name the input by ``message``."""
    if not isinstance(buffer, Buffer):
        raise _wrong_type(buffer, Buffer, _text(message) or "buffer")
    if not isinstance(allocator, Allocator):
        raise _wrong_type(allocator, Allocator, "allocator")
    if buffer.length < minimum_length:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{_text(message)} buffer is too small; expected at least "
                      f"{minimum_length} bytes but have {buffer.length}")


def buffer_length(state, buffer):
    return _require(buffer, Buffer, "buffer").length


def buffer_load(state, buffer, offset, length):
    """Up to 4 bytes, little-endian, zero-extended to 32 bits; the i32
    register holds those 32 bits (4 bytes of -1 load as -1, as in IREE)."""
    view = _require(buffer, Buffer, "buffer").bytes_view(offset, length)
    value = int.from_bytes(view.tobytes(), "little", signed=False) & 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def buffer_store(state, value, buffer, offset, length):
    """The low ``length`` bytes of ``value``, little-endian."""
    _require(buffer, Buffer, "buffer").write(offset, _pattern_bytes(value, length),
                                            "buffer.store")


def buffer_subspan(state, buffer, offset, length):
    return _require(buffer, Buffer, "buffer").subspan(offset, _length(length))


# -- buffer view ----------------------------------------------------------------------------

def buffer_view_assert(state, view, message, element_type, encoding_type, shape):
    """Checks an input tensor's element type, encoding and shape; errors name
    the input by ``message``. The message is decoded only on failure."""
    if not isinstance(view, BufferView):
        raise _wrong_type(view, BufferView, _text(message) or "buffer view")
    if message is not None and not isinstance(message, VMBuffer):
        raise _wrong_type(message, VMBuffer, "message")
    element_type &= 0xFFFFFFFF
    if view.element_type != element_type or view.encoding_type != encoding_type \
            or view.shape != tuple(shape):
        _check_buffer_view(view, _text(message) or "buffer view", element_type, encoding_type,
                           shape)


def _check_buffer_view(view: BufferView, name: str, element_type: int, encoding_type: int,
                       shape: list[int]) -> None:
    """``buffer_view.assert`` once a quick comparison found a difference: raises
    for the first real mismatch (integers of one width match whatever their
    signedness)."""
    expected_type = ElementType(element_type)
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
                      f"{name} rank mismatch; expected {len(shape)} but have {len(view.shape)}")
    for index, (expected, actual) in enumerate(zip(shape, view.shape)):
        if expected != actual:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{name} shape dimension {index} mismatch; expected {expected} "
                          f"but have {actual}")


def buffer_view_buffer(state, view):
    if isinstance(view, BufferView):
        return view.buffer
    raise _wrong_type(view, BufferView, "buffer view")


def buffer_view_create(state, buffer, offset, length, element_type, encoding_type, shape):
    """A view of [``offset``, ``offset + length``) of ``buffer`` (``subspan``
    takes -1 and WHOLE_BUFFER as the rest of it)."""
    if buffer.__class__ is not Buffer:
        buffer = _require(buffer, Buffer, "buffer")
    return BufferView(buffer.subspan(offset, length), shape, element_type & 0xFFFFFFFF,
                      encoding_type)


def buffer_view_dim(state, view, index):
    shape = _require(view, BufferView, "buffer view").shape
    if not 0 <= index < len(shape):
        raise VMError(StatusCode.OUT_OF_RANGE,
                      f"dimension {index} out of range for rank {len(shape)}")
    return shape[index]


def buffer_view_element_type(state, view):
    """The element type as a signed i32."""
    value = int(_require(view, BufferView, "buffer view").element_type)
    return value - (1 << 32) if value >= (1 << 31) else value


def buffer_view_encoding_type(state, view):
    return _require(view, BufferView, "buffer view").encoding_type


def buffer_view_rank(state, view):
    return len(_require(view, BufferView, "buffer view").shape)


def buffer_view_trace(state, key, views):
    """A debug hook with no sink installed: checks its arguments, does nothing."""
    _require_or_null(key, VMBuffer, "key")
    _check_span(views, BufferView, "views", nullable=False)


# -- command buffer -------------------------------------------------------------------------
# A command's buffer may be null: it then names binding-table slot ``slot``,
# resolved when the command buffer is executed (device.queue.execute.indirect).

def command_buffer_advise_buffer(state, command_buffer, buffer, flags, argument0, argument1,
                                 slot):
    """A hint with no effect on host memory."""
    _require(command_buffer, CommandBuffer, "command buffer")
    _require_or_null(buffer, Buffer, "buffer")


def command_buffer_begin_debug_group(state, command_buffer, label):
    _require(command_buffer, CommandBuffer, "command buffer")
    _require_or_null(label, VMBuffer, "label")


def command_buffer_cache_maintenance(state, command_buffer, slot, buffer, offset, length):
    """``command_buffer.flush_buffer`` and ``.invalidate_buffer``: cache
    maintenance, with no effect on host memory."""
    _require(command_buffer, CommandBuffer, "command buffer")
    _require_or_null(buffer, Buffer, "buffer")


def command_buffer_copy_buffer(state, command_buffer, source_slot, target_slot, source,
                               source_offset, target, target_offset, length, flags):
    _require(command_buffer, CommandBuffer, "command buffer").copy(
        _buffer_reference(source, source_slot, source_offset, length, "source buffer"),
        _buffer_reference(target, target_slot, target_offset, length, "target buffer"), length)


def command_buffer_create(state, device, modes, categories, queue_affinity, binding_capacity):
    _require(device, Device, "device")
    return CommandBuffer(modes, categories, binding_capacity)


def command_buffer_dispatch(state, command_buffer, executable, ordinal, workgroups_x,
                            workgroups_y, workgroups_z, flags, constants, bindings):
    _record_dispatch(command_buffer, executable, ordinal,
                     (workgroups_x, workgroups_y, workgroups_z), constants, bindings)


def command_buffer_dispatch_indirect(state, command_buffer, executable, ordinal,
                                     workgroups_slot, workgroups_buffer, workgroups_offset, flags,
                                     constants, bindings):
    """A dispatch whose three u32 workgroup counts are read from a buffer
    when the command buffer executes."""
    workgroups = _buffer_reference(workgroups_buffer, workgroups_slot, workgroups_offset, 12,
                                   "workgroups buffer")
    _record_dispatch(command_buffer, executable, ordinal, workgroups, constants, bindings)


def _record_dispatch(command_buffer, executable, ordinal, workgroups, constants, bindings):
    """The body of both dispatches: ``bindings`` are (reserved, slot, buffer,
    offset, length) tuples whose buffer may be null (then ``slot`` is used)."""
    executable = _require(executable, ExecutableHandle, "executable").executable
    references = []
    for index, (_, slot, buffer, offset, length) in enumerate(bindings):
        if buffer is not None and not isinstance(buffer, Buffer):
            raise _wrong_type(buffer, Buffer, f"bindings[{index}] buffer")
        references.append(BufferReference(buffer, slot, offset, _length(length)))
    _require(command_buffer, CommandBuffer, "command buffer").dispatch(
        executable, ordinal, workgroups, tuple(constant & 0xFFFFFFFF for constant in constants),
        references)


def command_buffer_end_debug_group(state, command_buffer):
    _require(command_buffer, CommandBuffer, "command buffer")


def command_buffer_execution_barrier(state, command_buffer, source_stage, target_stage, flags):
    _require(command_buffer, CommandBuffer, "command buffer").barrier()


def command_buffer_fill_buffer(state, command_buffer, target, offset, length, slot, pattern,
                               pattern_length, flags):
    if pattern_length not in (1, 2, 4):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"fill pattern length {pattern_length} must be 1, 2 or 4")
    _require(command_buffer, CommandBuffer, "command buffer").fill(
        _buffer_reference(target, slot, offset, length, "target buffer"),
        _pattern_bytes(pattern, pattern_length))


def command_buffer_finalize(state, command_buffer):
    _require(command_buffer, CommandBuffer, "command buffer").finalize()


def command_buffer_update_buffer(state, command_buffer, source, source_offset, target,
                                 target_offset, length, slot, flags):
    """Records host bytes, captured now, to be written at execution."""
    data = _require(source, VMBuffer, "source").slice_bytes(source_offset, length).tobytes()
    _require(command_buffer, CommandBuffer, "command buffer").update(
        data, _buffer_reference(target, slot, target_offset, length, "target buffer"))


# -- device ---------------------------------------------------------------------------------

def device_allocator(state, device):
    return state.module.allocator_of(_require(device, Device, "device"))


def device_query_i64(state, device, category, key):
    """(found, value); an unknown key is (0, 0), not an error."""
    found, value = _require(device, Device, "device").query_i64(_text(category), _text(key))
    return int(found), value


# -- device queue ---------------------------------------------------------------------------
# Every operation: device, queue affinity, wait fence, signal fence (each fence
# may be null), operands, flags. The work runs once the wait fence is reached;
# then the signal fence is signalled, or failed with the work's error.

def device_queue_alloca(state, device, queue_affinity, wait, signal, pool, memory_types, usage,
                        length, flags):
    """The buffer at once; it may be used by work ordered after ``signal``.
    RESOURCE_EXHAUSTED (also failing ``signal``) past the memory limit."""
    return _check_queue(device, wait, signal).queue_alloca(wait, signal, length, memory_types,
                                                           usage)


def device_queue_barrier(state, device, queue_affinity, wait, signal, flags):
    _check_queue(device, wait, signal).queue_execute(wait, signal, None)


def device_queue_copy(state, device, queue_affinity, wait, signal, source, source_offset, target,
                      target_offset, length, flags):
    _queue_copy(device, wait, signal, _require(source, Buffer, "source buffer"), source_offset,
                _require(target, Buffer, "target buffer"), target_offset, length,
                "device.queue.copy")


def device_queue_dealloca(state, device, queue_affinity, wait, signal, buffer, flags):
    _check_queue(device, wait, signal).queue_dealloca(wait, signal,
                                                      _require(buffer, Buffer, "buffer"))


def device_queue_execute(state, device, queue_affinity, wait, signal, command_buffer, flags):
    """Runs a command buffer with an empty binding table."""
    if not isinstance(command_buffer, CommandBuffer):
        raise _wrong_type(command_buffer, CommandBuffer, "command buffer")
    _check_queue(device, wait, signal).queue_execute(wait, signal, command_buffer)


def device_queue_execute_indirect(state, device, queue_affinity, wait, signal, command_buffer,
                                  flags, bindings):
    """Runs a command buffer with binding table ``bindings``: (buffer, offset,
    length) tuples, entry k being slot k; a buffer may be null. The table is
    captured now (a tuple of the entries, as IREE copies it), the lengths
    of ``WHOLE_BUFFER`` as -1."""
    if not isinstance(command_buffer, CommandBuffer):
        raise _wrong_type(command_buffer, CommandBuffer, "command buffer")
    whole = False
    for buffer, offset, length in bindings:
        if buffer.__class__ is not Buffer and buffer is not None:
            _check_binding_buffers(bindings)
        if length == WHOLE_BUFFER:
            whole = True
    table = (tuple([(buffer, offset, _length(length)) for buffer, offset, length in bindings])
             if whole else tuple(bindings))
    _check_queue(device, wait, signal).queue_execute(wait, signal, command_buffer, table)


def _check_binding_buffers(bindings) -> None:
    """INVALID_ARGUMENT naming the first binding whose buffer is neither a
    Buffer nor null."""
    for index, (buffer, _, _) in enumerate(bindings):
        if buffer is not None and not isinstance(buffer, Buffer):
            raise _wrong_type(buffer, Buffer, f"bindings[{index}] buffer")


def device_queue_fill(state, device, queue_affinity, wait, signal, target, offset, length,
                      pattern, pattern_length, flags):
    target = _require(target, Buffer, "target buffer")
    data = _pattern_bytes(pattern, pattern_length)
    length = target.resolve_length(offset, _length(length))
    queue = _check_queue(device, wait, signal)
    target.require_writable("device.queue.fill")
    queue.submit(wait, signal, lambda: target.fill(offset, length, data, "device.queue.fill"))


def device_queue_flush(state, device, queue_affinity):
    """Nothing is batched: nothing to flush."""


def device_queue_read(state, device, queue_affinity, wait, signal, source, source_offset, target,
                      target_offset, length, flags):
    """File to buffer."""
    _queue_copy(device, wait, signal, _require(source, File, "source file").buffer,
                source_offset, _require(target, Buffer, "target buffer"), target_offset, length,
                "device.queue.read")


def device_queue_update(state, device, queue_affinity, wait, signal, source, source_offset,
                        target, target_offset, length, flags):
    """Host bytes (captured now) to buffer."""
    data = _require(source, VMBuffer, "source").slice_bytes(source_offset, length).tobytes()
    target = _require(target, Buffer, "target buffer")
    target.check_range(target_offset, length)
    _queue_copy(device, wait, signal, Buffer(numpy.frombuffer(data, numpy.uint8)), 0,
                target, target_offset, length, "device.queue.update")


def device_queue_write(state, device, queue_affinity, wait, signal, source, source_offset, target,
                       target_offset, length, flags):
    """Buffer to file."""
    _queue_copy(device, wait, signal, _require(source, Buffer, "source buffer"), source_offset,
                _require(target, File, "target file").buffer, target_offset, length,
                "device.queue.write")


def _queue_copy(device, wait, signal, source: Buffer, source_offset: int, target: Buffer,
                target_offset: int, length: int, operation: str) -> None:
    """The one body of ``device.queue.copy``, ``.read``, ``.write`` and
    ``.update``: once ``wait`` is reached, copies ``length`` bytes (-1: to the
    end of ``source``), then signals ``signal``; a bad range fails ``signal``.
    A target that may not be written is PERMISSION_DENIED at once (as IREE's
    local-sync queue reports it)."""
    queue = _check_queue(device, wait, signal)
    target.require_writable(operation)
    queue.submit(wait, signal,
                 lambda: source.copy_to(source_offset, target, target_offset, length, operation))


# -- devices --------------------------------------------------------------------------------

def devices_count(state):
    return len(state.devices)


def devices_get(state, index):
    devices = state.devices
    if not 0 <= index < len(devices):
        raise VMError(StatusCode.OUT_OF_RANGE,
                      f"device {index} out of range ({len(devices)} devices)")
    return devices[index]


# -- files and executables ------------------------------------------------------------------

def ex_file_from_memory(state, device, queue_affinity, access, memory, offset, length, flags):
    """A file over ``memory[offset:offset + length]`` (not copied)."""
    memory, length = _memory_range(memory, offset, length, "file memory")
    return File(memory, offset, length)


def executable_create(state, device, queue_affinity, format_name, data, constants):
    """Loads ``data`` in format ``format_name``; ``constants`` (may be null)
    holds u32 executable constants."""
    device = _require(device, Device, "device")
    data = _require(data, VMBuffer, "executable data")
    constant_values = ()
    if _require_or_null(constants, VMBuffer, "constants") is not None:
        raw = constants.tobytes()
        constant_values = tuple(int.from_bytes(raw[start:start + 4], "little")
                                for start in range(0, len(raw) - len(raw) % 4, 4))
    return ExecutableHandle(device.create_executable(_text(format_name), data.tobytes(),
                                                     constant_values))


def executable_lookup_function(state, executable, name):
    executable = _require(executable, ExecutableHandle, "executable")
    return lookup_function(executable.executable, _text(name))


# -- fence ----------------------------------------------------------------------------------

def fence_await(state, timeout_milliseconds, flags, fences):
    """Waits for every fence of the span (nulls skipped): 0 once reached, or
    DEADLINE_EXCEEDED (4) on timeout. Returns at once, without suspending,
    when they are reached already; otherwise returns an awaitable (the one
    export that suspends)."""
    for index, fence in enumerate(fences):
        if not isinstance(fence, Fence) and fence is not None:
            raise _wrong_type(fence, Fence, f"fences[{index}]")
    joined = fences[0] if len(fences) == 1 and fences[0] is not None else Fence.join(fences)
    if joined.reached():
        return 0
    if timeout_milliseconds < 0:  # no timeout: the fence's own awaitable of the results
        return joined.outcome_when_reached(_REACHED)
    return _await_fence(joined, timeout_milliseconds / 1000.0)


async def _await_fence(fence: Fence, timeout: float) -> tuple[int]:
    """``fence.await`` once it must suspend: its result tuple, ``(0,)``, or
    ``(4,)`` (DEADLINE_EXCEEDED) on timeout; a failed fence raises its
    failure. (A yielding export's awaitable gives the whole result tuple.)"""
    try:
        await fence.wait(timeout)
    except VMError as error:
        if error.status == StatusCode.DEADLINE_EXCEEDED:
            return (int(StatusCode.DEADLINE_EXCEEDED),)
        raise
    return _REACHED

_REACHED = (0,)


def fence_create(state, device, flags):
    """A fence of one new semaphore at value 1."""
    if not isinstance(device, Device):
        raise _wrong_type(device, Device, "device")
    return Fence.at(Semaphore(0), 1)


def fence_fail(state, fence, status):
    _require(fence, Fence, "fence").fail(
        VMError(StatusCode.from_value(status & 0x1F), "fence failed by the program"))


def fence_join(state, flags, fences):
    """A fence reached when all of the span's are (nulls skipped)."""
    return Fence.join(_check_span(fences, Fence, "fences"))


def fence_query(state, fence):
    """0 when reached, DEFERRED (17) while pending, or the failure's status."""
    return int(_require(fence, Fence, "fence").query())


def fence_signal(state, fence):
    _require(fence, Fence, "fence").signal()


# -- the table ------------------------------------------------------------------------------

HAL_EXPORTS = export_table("hal", [
    Export("allocator.allocate", "0rIiiI_r", allocator_allocate),
    Export("allocator.import", "0riIiirII_r", allocator_import),
    Export("allocator.select", "0iiICrID_rI", allocator_select),
    Export("buffer.allocation.discard", "0r_i", buffer_allocation_discard),
    Export("buffer.allocation.is_terminal", "0r_i", buffer_allocation_is_terminal),
    Export("buffer.allocation.preserve", "0r_v", buffer_allocation_preserve),
    Export("buffer.assert", "0rrrIii_v", buffer_assert),
    Export("buffer.length", "0r_I", buffer_length),
    Export("buffer.load", "0rIi_i", buffer_load),
    Export("buffer.store", "0irIi_v", buffer_store),
    Export("buffer.subspan", "0rII_r", buffer_subspan),
    Export("buffer_view.assert", "0rriiCID_v", buffer_view_assert),
    Export("buffer_view.buffer", "0r_r", buffer_view_buffer),
    Export("buffer_view.create", "0rIIiiCID_r", buffer_view_create),
    Export("buffer_view.dim", "0ri_I", buffer_view_dim),
    Export("buffer_view.element_type", "0r_i", buffer_view_element_type),
    Export("buffer_view.encoding_type", "0r_i", buffer_view_encoding_type),
    Export("buffer_view.rank", "0r_i", buffer_view_rank),
    Export("buffer_view.trace", "0rCrD_v", buffer_view_trace),
    Export("command_buffer.advise_buffer", "0rrIIIi_v", command_buffer_advise_buffer),
    Export("command_buffer.begin_debug_group", "0rr_v", command_buffer_begin_debug_group),
    Export("command_buffer.copy_buffer", "0riirIrIII_v", command_buffer_copy_buffer),
    Export("command_buffer.create", "0riiIi_r", command_buffer_create),
    Export("command_buffer.dispatch", "0rrIiiiICiDCiirIID_v", command_buffer_dispatch),
    Export("command_buffer.dispatch.indirect", "0rrIirIICiDCiirIID_v",
           command_buffer_dispatch_indirect),
    Export("command_buffer.end_debug_group", "0r_v", command_buffer_end_debug_group),
    Export("command_buffer.execution_barrier", "0riiI_v", command_buffer_execution_barrier),
    Export("command_buffer.fill_buffer", "0rrIIiIiI_v", command_buffer_fill_buffer),
    Export("command_buffer.finalize", "0r_v", command_buffer_finalize),
    Export("command_buffer.flush_buffer", "0rirII_v", command_buffer_cache_maintenance),
    Export("command_buffer.invalidate_buffer", "0rirII_v", command_buffer_cache_maintenance),
    Export("command_buffer.update_buffer", "0rrIrIIiI_v", command_buffer_update_buffer),
    Export("device.allocator", "0r_r", device_allocator),
    Export("device.query.i64", "0rrr_iI", device_query_i64),
    Export("device.queue.alloca", "0rIrrIiiII_r", device_queue_alloca),
    Export("device.queue.barrier", "0rIrrI_v", device_queue_barrier),
    Export("device.queue.copy", "0rIrrrIrIII_v", device_queue_copy),
    Export("device.queue.dealloca", "0rIrrrI_v", device_queue_dealloca),
    Export("device.queue.execute", "0rIrrrI_v", device_queue_execute),
    Export("device.queue.execute.indirect", "0rIrrrICrIID_v", device_queue_execute_indirect),
    Export("device.queue.fill", "0rIrrrIIIiI_v", device_queue_fill),
    Export("device.queue.flush", "0rI_v", device_queue_flush),
    Export("device.queue.read", "0rIrrrIrIII_v", device_queue_read),
    Export("device.queue.update", "0rIrrrIrIII_v", device_queue_update),
    Export("device.queue.write", "0rIrrrIrIII_v", device_queue_write),
    Export("devices.count", "0v_i", devices_count),
    Export("devices.get", "0i_r", devices_get),
    Export("ex.file.from_memory", "0rIirIIi_r", ex_file_from_memory),
    Export("executable.create", "0rIrrr_r", executable_create),
    Export("executable.lookup.function", "0rr_I", executable_lookup_function),
    Export("fence.await", "0iICrD_i", fence_await, yields=True),
    Export("fence.create", "0rI_r", fence_create),
    Export("fence.fail", "0ri_v", fence_fail),
    Export("fence.join", "0ICrD_r", fence_join),
    Export("fence.query", "0r_i", fence_query),
    Export("fence.signal", "0r_v", fence_signal),
])
"""Every export of the ``hal`` module, sorted by name (checked at import)."""


# -- the module -----------------------------------------------------------------------------

class HalModuleState(NativeModuleState):
    """One context's state: its module and that module's devices."""

    def __init__(self, module: "HalModule", context: Any, imports) -> None:
        super().__init__(module, context, imports)
        self.devices = module.devices


class HalModule(NativeModule):
    """The ``hal`` module over a list of devices (one ``local-sync`` by default)."""

    def __init__(self, devices: list[Device] | None = None) -> None:
        super().__init__("hal", HAL_MODULE_VERSION, ref_types=HAL_REF_TYPES,
                         exports=HAL_EXPORTS, state_argument=True)
        self.devices = list(devices) if devices else [Device("local-sync")]
        self._allocators = {id(device): Allocator(device) for device in self.devices}

    def create_state(self, context: Any, imports) -> HalModuleState:
        return HalModuleState(self, context, imports)

    def allocator_of(self, device: Device) -> Allocator:
        """The allocator of ``device`` (one per device, made on first use)."""
        allocator = self._allocators.get(id(device))
        if allocator is None:
            allocator = self._allocators[id(device)] = Allocator(device)
        return allocator
