"""The ``io_parameters`` VM module: parameters under IREE's export names and conventions.

Programs whose globals are ``#flow.parameter.named<"scope"::"key">`` (or
``#stream.parameter.named``) import ``io_parameters.*`` functions, by name and
calling convention (IREE 3.13's, ``runtime/src/iree/modules/io/parameters``)
and link to these without change. Every export is a module-level function
listed once, in :data:`IO_PARAMETERS_EXPORTS`, sorted by name as IREE's
``exports.inl``; each takes the module's per-context state first, then one
Python value per calling-convention argument. The parameters come from a
:class:`~asyncvm.modules.io_parameters.ParameterIndex` the module is created
over (one index serves every scope; an empty one when none is given).

The exports (iree-compile 3.13 emits all three):

* ``load`` (``0rIrrrIiirrr_r``): one buffer per requested parameter, in a
  list. A parameter in memory on a 64-byte boundary is wrapped without a
  copy, as IREE's heap allocator imports it (a buffer that allows reads
  only). A dispatch that binds a buffer over memory that must not change
  would first give it a private copy (the HAL's rule, see
  ``asyncvm.hal._buffer``), so a parameter of a mapped file is wrapped,
  where the platform allows, through a private copy-on-write mapping of the
  file (:class:`_PrivateMappings`) that dispatches bind as it is: a page a
  kernel wrote would be copied by the OS, and neither the file nor the
  index's mapping can change; what the program reads costs the file's
  pages and no more. A misaligned parameter or a splat is allocated on the
  device and copied or filled by queue work, as IREE falls back to alloca
  plus read or fill.
* ``gather`` (``0rIrrrrrrr_v``): copies parameters into ranges of a target
  buffer (the compiler packs several parameters into one buffer this way,
  e.g. with ``--iree-stream-resource-memory-model=discrete``).
* ``scatter`` (``0rIrrrrrrr_v``): copies ranges of a buffer into parameters
  (``flow.parameter.write``). The index's entries are read-only, so this
  is PERMISSION_DENIED, as IREE reports it for a parameter file opened
  read-only (its default).

Requests are IREE's indirect tables: ``key_table`` holds ``{u32 offset, u32
length}`` string entries into ``key_data``, and ``spans`` holds ``{u64
parameter_offset, u64 buffer_offset, u64 length}`` per parameter.

Queue semantics are the HAL's (``Device.submit``): the work (copies, fills)
runs once the wait fence is reached -- on a worker thread on ``local-task``,
off the event loop -- and then the signal fence is signalled, or failed with
the work's error, which reaches the invocation that awaits that fence.
Nothing here suspends.

Errors are VMError with IREE's status codes, raised by the call itself (the
signal fence is failed too, as IREE's batch does):

* NOT_FOUND naming ``scope::key`` for a parameter not in the index;
* OUT_OF_RANGE naming ``scope::key`` when a request reaches past the end of
  its parameter (a shorter request reads a prefix, as in IREE);
* INVALID_ARGUMENT naming ``scope::key`` for a splat whose pattern is not 1,
  2 or 4 bytes long (``.irpa`` allows up to 16; IREE's fill does not);
* INVALID_ARGUMENT for malformed tables, a null or mistyped ref;
  OUT_OF_RANGE for a key outside ``key_data``;
* PERMISSION_DENIED naming ``scope::key`` for a scatter into a parameter
  that may not be written.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
from typing import Any

import numpy

from asyncvm.hal import HAL_MODULE_VERSION, Buffer
from asyncvm.hal._buffer import MEMORY_ACCESS_READ
from asyncvm.hal._module import _check_queue, _require, _wrong_type
from asyncvm.vm import (address_of, Dependency, Export, NativeModule, NativeModuleState, StatusCode,
                        TypeInfo, ValueKind, VMBuffer, VMError, VMList, export_table)

from ._index import ParameterEntry, ParameterIndex

IO_PARAMETERS_MODULE_VERSION = 0  # IREE_IO_PARAMETERS_MODULE_VERSION_LATEST
_IMPORT_ALIGNMENT = 64  # IREE_HAL_HEAP_BUFFER_ALIGNMENT: what the heap allocator imports
_STRING_ENTRY = struct.Struct("<II")  # iree_io_parameters_string_entry_t
_SPAN_ENTRY = struct.Struct("<QQQ")  # iree_io_parameters_span_entry_t
_BUFFER_TYPE = TypeInfo("!hal.buffer", ValueKind.REF, Buffer)


# -- arguments ------------------------------------------------------------------------------

def _scope(buffer: Any, what: str) -> str:
    """A scope argument (a ``!vm.buffer`` of UTF-8, or null for the empty scope)."""
    if buffer is None:
        return ""
    if not isinstance(buffer, VMBuffer):
        raise _wrong_type(buffer, VMBuffer, what)
    return buffer.tobytes().decode("utf-8", "replace")


def _requests(key_table: Any, key_data: Any, spans: Any) -> list[tuple[str, int, int, int]]:
    """``(key, parameter_offset, buffer_offset, length)`` per request, from
    IREE's indirect tables (``iree_io_parameters_prepare_indirect_args``)."""
    key_table = _require(key_table, VMBuffer, "key table")
    key_data = _require(key_data, VMBuffer, "key data")
    spans = _require(spans, VMBuffer, "spans")
    if len(spans) % _SPAN_ENTRY.size:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      "buffer span storage must be aligned to iree_io_parameters_span_entry_t")
    count = len(spans) // _SPAN_ENTRY.size
    if len(key_table) < count * _STRING_ENTRY.size:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      "key string table must have enough data to service all defined spans")
    table = key_table.slice_bytes(0, count * _STRING_ENTRY.size)
    data = key_data.memory
    requests = []
    for index, ((key_offset, key_length), span) in enumerate(zip(
            _STRING_ENTRY.iter_unpack(table), _SPAN_ENTRY.iter_unpack(spans.memory))):
        if key_offset > len(data) or key_offset + key_length > len(data):
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"key {index} (offset={key_offset}, length={key_length}) lies outside "
                          f"the {len(data)} bytes of key data")
        key = bytes(data[key_offset:key_offset + key_length]).decode("utf-8", "replace")
        requests.append((key,) + span)
    return requests


def _entry(index: ParameterIndex, scope: str, key: str, parameter_offset: int,
           length: int) -> ParameterEntry:
    """The entry for ``scope::key`` once the request's range fits in it:
    NOT_FOUND or OUT_OF_RANGE naming it otherwise."""
    entry = index.lookup(scope, key)
    if parameter_offset + length > entry.length:
        raise VMError(StatusCode.OUT_OF_RANGE,
                      f"parameter {entry.name} ({entry.source}) range out of bounds "
                      f"(offset={parameter_offset}, length={length}, size={entry.length})")
    return entry


def _check_splat(entry: ParameterEntry) -> None:
    """A splat is filled with its pattern, which the HAL's fill takes 1, 2 or
    4 bytes long: INVALID_ARGUMENT naming the parameter otherwise (as IREE's
    command-buffer validation fails a longer ``.irpa`` splat pattern)."""
    pattern = entry.pattern
    if pattern is not None and len(pattern) not in (1, 2, 4):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"parameter {entry.name} ({entry.source}): fill value length is not one "
                      f"of the supported values (pattern_length={len(pattern)})")


# -- copies (queue work) --------------------------------------------------------------------

def _read_into(entry: ParameterEntry, parameter_offset: int, target: numpy.ndarray) -> None:
    """Writes ``len(target)`` bytes of ``entry`` from ``parameter_offset``
    into ``target`` (a writable uint8 view)."""
    pattern = entry.pattern
    length = target.shape[0]
    if pattern is not None and parameter_offset % len(pattern) == 0 \
            and length % len(pattern) == 0:
        target.reshape(-1, len(pattern))[:] = numpy.frombuffer(pattern, numpy.uint8)
    else:
        target[:] = entry.read(parameter_offset, length)


def _run_copies(copies: list, operation: str) -> None:
    """The queue work of load and gather: ``(entry, parameter_offset, target
    buffer, buffer_offset, length)`` copies."""
    for entry, parameter_offset, target, buffer_offset, length in copies:
        target.check_range(buffer_offset, length)
        _read_into(entry, parameter_offset,
                   target.writable_view(buffer_offset, length, operation))


def _run_writes(writes: list) -> None:
    """The queue work of scatter: ``(source buffer, buffer_offset, entry,
    parameter_offset, length)`` copies into writable parameters."""
    for source, buffer_offset, entry, parameter_offset, length in writes:
        entry.data[parameter_offset:parameter_offset + length] = \
            source.bytes_view(buffer_offset, length)


def _fail(signal, error: VMError) -> VMError:
    """Fails ``signal`` (if any) with ``error`` and returns it, to be raised:
    a request that cannot be issued fails the call and its fence, as IREE's
    batch does."""
    if signal is not None:
        signal.fail(error)
    return error


# -- zero-copy views ------------------------------------------------------------------------

def _import_view(entry: ParameterEntry, parameter_offset: int, length: int,
                 private: "_PrivateMappings | None") -> numpy.ndarray | None:
    """The bytes of a request as memory a buffer may wrap without copying, or
    None when they must be copied (a splat, or memory not on a 64-byte
    boundary: what IREE's heap allocator cannot import). With ``private``, a
    read-only file mapping is viewed through a private copy-on-write
    mapping of the same file (see :class:`_PrivateMappings`)."""
    if entry.data is None:
        return None
    view = entry.data[parameter_offset:parameter_offset + length]
    if address_of(view) % _IMPORT_ALIGNMENT:
        return None
    if private is not None and not view.flags.writeable and length:
        copy_on_write = private.view_of(view, entry.source)
        if copy_on_write is not None:
            return copy_on_write
    return view


class _PrivateMappings:
    """Private copy-on-write mappings of parameter files, for one load call.

    The bytes a parameter's read-only view shows of a mapped file, seen
    through a private copy-on-write mapping of that same file, are memory a
    dispatch may bind as it is, without the HAL's private copy: a page a
    kernel wrote would be copied by the OS, and neither the file nor the
    index's mapping can change. Nothing is read or copied. The mapping that
    holds a view is found in ``/proc/self/maps`` (Linux), by the file name
    the entry's ``source`` gives, read at most once per call; the file
    opened again must have that mapping's inode. Each file is mapped once
    per call (one descriptor, however many parameters it holds); the
    buffers' views keep their mapping alive.
    """

    def __init__(self) -> None:
        self._maps: str | None = None
        self._files: dict[tuple[str, int], numpy.ndarray | None] = {}

    def view_of(self, view: numpy.ndarray, source: str) -> numpy.ndarray | None:
        """``view``'s bytes through a private mapping, or None when ``view``
        is not file-mapped memory or the file cannot be mapped again."""
        located = self._locate(view, source)
        if located is None:
            return None
        path, inode, file_offset = located
        mapping = self._files.get((path, inode), False)
        if mapping is False:
            mapping = self._files[path, inode] = _map_private(path, inode)
        end = file_offset + view.shape[0]
        if mapping is None or end > mapping.shape[0]:
            return None
        return mapping[file_offset:end]

    def _locate(self, view: numpy.ndarray, source: str) -> tuple[str, int, int] | None:
        """``(path, inode, file offset)`` of the file one mapping of which
        holds all of ``view``, else None. ``source`` only narrows the search:
        the mapping found is the one holding the view's address."""
        name = os.path.basename(source)
        if not name or source.startswith("<"):
            return None
        if self._maps is None:
            try:
                with open("/proc/self/maps", encoding="utf-8",
                          errors="surrogateescape") as maps:
                    self._maps = maps.read()
            except OSError:
                self._maps = ""
        address, length = address_of(view), view.shape[0]
        text = self._maps
        found = text.find(name)
        while found >= 0:
            line_start = text.rfind("\n", 0, found) + 1
            line_end = text.find("\n", found)
            fields = text[line_start:line_end if line_end >= 0 else len(text)].split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith("/"):
                start, end = (int(bound, 16) for bound in fields[0].split("-"))
                if start <= address and address + length <= end:
                    return fields[5], int(fields[4]), int(fields[2], 16) + address - start
            if line_end < 0:
                break
            found = text.find(name, line_end)
        return None


def _map_private(path: str, inode: int) -> numpy.ndarray | None:
    """The whole file at ``path`` (if it still has ``inode``) as a writable
    uint8 array over a private copy-on-write mapping, or None."""
    try:
        with open(path, "rb") as file:
            status = os.fstat(file.fileno())
            if status.st_ino != inode or status.st_size == 0:
                return None
            mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)
    except (OSError, ValueError, OverflowError):
        return None
    return numpy.frombuffer(mapping, numpy.uint8)


# -- exports --------------------------------------------------------------------------------

def gather(state, device, queue_affinity, wait, signal, source_scope, target_buffer, key_table,
           key_data, spans):
    """Copies parameters into ranges of ``target_buffer`` once ``wait`` is reached."""
    device = _check_queue(device, wait, signal)
    scope = _scope(source_scope, "source scope")
    target = _require(target_buffer, Buffer, "target buffer")
    try:
        copies = []
        for key, parameter_offset, buffer_offset, length in _requests(key_table, key_data, spans):
            entry = _entry(state.index, scope, key, parameter_offset, length)
            _check_splat(entry)
            target.check_range(buffer_offset, length)
            copies.append((entry, parameter_offset, target, buffer_offset, length))
        if copies:
            target.require_writable("io_parameters.gather")
    except VMError as error:
        raise _fail(signal, error) from None
    device.submit(wait, signal,
                  (lambda: _run_copies(copies, "io_parameters.gather")) if copies else None)


def load(state, device, queue_affinity, wait, signal, source_scope, target_queue_affinity,
         target_memory_types, target_buffer_usage, key_table, key_data, spans):
    """A list of one buffer per requested parameter, usable once ``signal``
    is reached: wrapped without a copy where alignment allows, otherwise
    allocated and filled by queue work (see the module docstring)."""
    device = _check_queue(device, wait, signal)
    scope = _scope(source_scope, "source scope")
    try:
        buffers, copies = [], []
        private = _PrivateMappings() if state.copy_on_write else None
        for key, parameter_offset, buffer_offset, length in _requests(key_table, key_data, spans):
            entry = _entry(state.index, scope, key, parameter_offset, length)
            _check_splat(entry)
            view = _import_view(entry, parameter_offset, length, private)
            if view is not None:
                buffer = Buffer(view, memory_type=target_memory_types,
                                allowed_usage=target_buffer_usage,
                                allowed_access=MEMORY_ACCESS_READ)
            else:
                buffer = device.allocate(length, target_memory_types, target_buffer_usage)
                copies.append((entry, parameter_offset, buffer, buffer_offset, length))
            buffers.append(buffer)
    except VMError as error:
        raise _fail(signal, error) from None
    device.submit(wait, signal,
                  (lambda: _run_copies(copies, "io_parameters.load")) if copies else None)
    return VMList(_BUFFER_TYPE, items=buffers)


def scatter(state, device, queue_affinity, wait, signal, source_buffer, target_scope, key_table,
            key_data, spans):
    """Copies ranges of ``source_buffer`` into parameters once ``wait`` is
    reached; PERMISSION_DENIED for a parameter that may not be written (a
    splat, or read-only storage: every entry of a ParameterIndex)."""
    device = _check_queue(device, wait, signal)
    source = _require(source_buffer, Buffer, "source buffer")
    scope = _scope(target_scope, "target scope")
    try:
        writes = []
        for key, parameter_offset, buffer_offset, length in _requests(key_table, key_data, spans):
            entry = state.index.lookup(scope, key)
            if entry.data is None or not entry.data.flags.writeable:
                raise VMError(StatusCode.PERMISSION_DENIED,
                              f"parameter {entry.name} ({entry.source}) storage does not "
                              "support the requested access type; parameter allows READ, "
                              "operation requires WRITE")
            _entry(state.index, scope, key, parameter_offset, length)
            source.check_range(buffer_offset, length)
            writes.append((source, buffer_offset, entry, parameter_offset, length))
    except VMError as error:
        raise _fail(signal, error) from None
    device.submit(wait, signal, (lambda: _run_writes(writes)) if writes else None)


IO_PARAMETERS_EXPORTS = export_table("io_parameters", [
    Export("gather", "0rIrrrrrrr_v", gather),
    Export("load", "0rIrrrIiirrr_r", load),
    Export("scatter", "0rIrrrrrrr_v", scatter),
])
"""Every export of the ``io_parameters`` module, sorted by name (checked at import)."""


# -- the module -----------------------------------------------------------------------------

class IoParametersModuleState(NativeModuleState):
    """One context's state: the module's index and settings."""

    def __init__(self, module: "IoParametersModule", context: Any, imports) -> None:
        super().__init__(module, context, imports)
        self.index = module.index
        self.copy_on_write = module.copy_on_write


class IoParametersModule(NativeModule):
    """The ``io_parameters`` module over a :class:`ParameterIndex` (an empty
    one by default: every load is then NOT_FOUND naming its key).

    It needs the ``hal`` module (its devices, buffers and fences) registered
    before it. The index may be shared by any number of modules and
    contexts; it must be filled before the first call. ``copy_on_write``
    (default: on Linux) wraps file-backed parameters through private
    copy-on-write mappings (see the module docstring); off, they are wrapped
    as the index's read-only views, which a dispatch binds through the HAL's
    private copy.
    """

    def __init__(self, index: ParameterIndex | None = None, *,
                 copy_on_write: bool | None = None) -> None:
        super().__init__("io_parameters", IO_PARAMETERS_MODULE_VERSION,
                         dependencies=[Dependency("hal", HAL_MODULE_VERSION)],
                         exports=IO_PARAMETERS_EXPORTS, state_argument=True)
        if index is not None and not isinstance(index, ParameterIndex):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"io_parameters needs a ParameterIndex, not {type(index).__name__}")
        self.index = index if index is not None else ParameterIndex()
        self.copy_on_write = sys.platform.startswith("linux") if copy_on_write is None \
            else bool(copy_on_write)

    def create_state(self, context: Any, imports) -> IoParametersModuleState:
        return IoParametersModuleState(self, context, imports)

    def __repr__(self) -> str:
        return f"<io_parameters module: {len(self.index)} parameters>"
