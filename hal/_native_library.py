"""llvm-cpu executables: IREE's local executable library ABI through ctypes.

``system-elf-x86_64`` executables (``--iree-llvmcpu-link-embedded=false``)
are shared libraries. The loader writes the bytes to a private temporary
file, loads it with ctypes, removes the file at once (the mapping stays),
and calls ``iree_hal_executable_library_query`` for a library of ABI
version 6 at most. A dispatch calls the export once per workgroup with the
environment, dispatch state and workgroup state laid out exactly as
``executable_library.h`` defines them, with the GIL released, so
``local-task`` workers really run kernels in parallel. A kernel that returns
non-zero is INTERNAL naming the dispatch and the workgroup (x, y, z).
Kernels get a pointer to each binding's memory and may write any of them;
immutable memory (module rodata) is given a private copy before it is bound
(see ``_buffer``), so a kernel never writes into the module's bytes.

The workgroup loop runs in C when the optional extension
``asyncvm.hal._workgroup_loop`` was built (``pip install`` builds it when a
C compiler is present): a whole slice of workgroups costs one native call
and one GIL release. Without it, or with :data:`NATIVE_WORKGROUP_LOOP` set
to False, a Python loop calls each workgroup through ctypes, releasing and
re-taking the GIL every time; the answers are the same. A missing extension
is reported once, as a :class:`WorkgroupLoopWarning`, by the first dispatch
that wanted it. With the C loop, a dispatch that a ``local-task`` device
spreads over its cores runs on that device's :func:`workgroup_team` (native
threads that claim workgroups one by one, see hal/_workgroup_team.c) when
the optional extension ``asyncvm.hal._workgroup_team`` was built too.

Loaded native code runs with the rights of this process: a ``.vmfb`` from an
untrusted source is code.
"""

from __future__ import annotations

import ctypes
import math
import os
import struct
import tempfile
import threading
import time
import warnings

from asyncvm.vm import StatusCode, VMError, address_of

from ._buffer import Buffer
from ._executable import DispatchState

try:
    from ._workgroup_loop import run_dispatches as _run_dispatches
    from ._workgroup_loop import run_workgroups as _run_workgroups
except ImportError as error:  # built without a C compiler: the Python loop below
    _run_workgroups = _run_dispatches = None
    _workgroup_loop_import_error: str | None = f"{type(error).__name__}: {error}"
else:
    _workgroup_loop_import_error = None
try:
    from ._workgroup_team import WorkgroupTeam as _WorkgroupTeam
except ImportError:  # built without a C compiler: slices go to Python threads
    _WorkgroupTeam = None

NATIVE_WORKGROUP_LOOP = True
"""Whether dispatches run their workgroup loop in C (``hal._workgroup_loop``)
when the extension is importable (it is whenever ``pip install`` found a C
compiler); set it to False to use the Python loop (tests run both)."""


class WorkgroupLoopWarning(RuntimeWarning):
    """The C workgroup loop ``asyncvm.hal._workgroup_loop`` is missing, so
    llvm-cpu dispatches run the slower Python loop (same answers)."""


_warned_missing_loop = False
_warned_missing_loop_lock = threading.Lock()  # dispatches run on queue worker threads


def _workgroup_loop():
    """The C loop for this dispatch, or None for the Python loop. The first
    dispatch that wants the C loop when the extension is missing warns
    (:class:`WorkgroupLoopWarning`); later ones fall back silently."""
    global _warned_missing_loop
    if not NATIVE_WORKGROUP_LOOP:
        return None
    if _run_workgroups is None and not _warned_missing_loop:
        with _warned_missing_loop_lock:
            if _warned_missing_loop:
                return None
            _warned_missing_loop = True
        reason = f" ({_workgroup_loop_import_error})" if _workgroup_loop_import_error else ""
        warnings.warn(
            f"asyncvm.hal._workgroup_loop is not available{reason}: llvm-cpu dispatches use "
            "the slower Python workgroup loop. Reinstall asyncvm where a C compiler is "
            "present to build it.", WorkgroupLoopWarning, stacklevel=3)
    return _run_workgroups


def workgroup_team(helpers: int):
    """A new team of ``helpers`` native threads for a device's dispatches
    (see hal/_workgroup_team.c), owned by the caller; None when the
    extension was not built. The threads start with its first dispatch and
    end when it is collected."""
    return None if _WorkgroupTeam is None else _WorkgroupTeam(helpers)


def native_replay():
    """``run_dispatches``, the C replay of planned dispatches (see
    ``hal/_native_replay.py``), or None while dispatches use the Python
    loop (the extension is missing, or :data:`NATIVE_WORKGROUP_LOOP` is
    False)."""
    return _run_dispatches if NATIVE_WORKGROUP_LOOP else None


LIBRARY_VERSION = 6
QUERY_SYMBOL = "iree_hal_executable_library_query"
LOCAL_MEMORY_PAGE = 4096


class LibraryHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("name", ctypes.c_char_p),
                ("features", ctypes.c_uint32), ("sanitizer", ctypes.c_int32)]


class ImportTable(ctypes.Structure):
    _fields_ = [("count", ctypes.c_uint32), ("symbols", ctypes.POINTER(ctypes.c_char_p))]


class DispatchAttributes(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("local_memory_pages", ctypes.c_uint16),
                ("constant_count", ctypes.c_uint8), ("binding_count", ctypes.c_uint8),
                ("workgroup_size_x", ctypes.c_uint32), ("workgroup_size_y", ctypes.c_uint32),
                ("workgroup_size_z", ctypes.c_uint16), ("parameter_count", ctypes.c_uint16),
                ("reserved", ctypes.c_uint64 * 5)]


class ExportTable(ctypes.Structure):
    _fields_ = [("count", ctypes.c_uint32), ("ptrs", ctypes.POINTER(ctypes.c_void_p)),
                ("attrs", ctypes.POINTER(DispatchAttributes)), ("params", ctypes.c_void_p),
                ("occupancy", ctypes.c_void_p), ("names", ctypes.POINTER(ctypes.c_char_p)),
                ("tags", ctypes.c_void_p), ("parameter_names", ctypes.c_void_p),
                ("source_locations", ctypes.c_void_p), ("stage_locations", ctypes.c_void_p)]


class LibraryV0(ctypes.Structure):
    _fields_ = [("header", ctypes.POINTER(LibraryHeader)), ("imports", ImportTable),
                ("exports", ExportTable), ("constants", ctypes.c_uint32),
                ("sources", ctypes.c_uint32 * 4)]


class Environment(ctypes.Structure):
    _fields_ = [("constants", ctypes.POINTER(ctypes.c_uint32)), ("import_thunk", ctypes.c_void_p),
                ("import_funcs", ctypes.c_void_p), ("import_contexts", ctypes.c_void_p),
                ("processor", ctypes.c_uint64 * 8)]


class DispatchStateV0(ctypes.Structure):
    _fields_ = [("workgroup_size_x", ctypes.c_uint32), ("workgroup_size_y", ctypes.c_uint32),
                ("workgroup_size_z", ctypes.c_uint16), ("constant_count", ctypes.c_uint16),
                ("workgroup_count_x", ctypes.c_uint32), ("workgroup_count_y", ctypes.c_uint32),
                ("workgroup_count_z", ctypes.c_uint16), ("max_concurrency", ctypes.c_uint8),
                ("binding_count", ctypes.c_uint8), ("constants", ctypes.POINTER(ctypes.c_uint32)),
                ("binding_ptrs", ctypes.POINTER(ctypes.c_void_p)),
                ("binding_lengths", ctypes.POINTER(ctypes.c_size_t))]


class WorkgroupStateV0(ctypes.Structure):
    _fields_ = [("workgroup_id_x", ctypes.c_uint32), ("workgroup_id_y", ctypes.c_uint32),
                ("workgroup_id_z", ctypes.c_uint16), ("reserved", ctypes.c_uint16),
                ("processor_id", ctypes.c_uint32), ("local_memory", ctypes.c_void_p),
                ("local_memory_size", ctypes.c_uint32)]


_PREPARED_SHAPES = 256
"""Dispatch shapes whose prepared states an executable keeps (shapes that
change with every call, dynamic ones, stop being kept past this)."""
_PREPARED_PER_SHAPE = 8
"""Prepared states kept per shape: as many as dispatches of it run at once."""


class PreparedDispatch:
    """The ctypes state of one dispatch shape (see ``LibraryExecutable.dispatch``):
    a ``DispatchStateV0`` with its constants and binding arrays, and one
    workgroup state with its local memory. The binding arrays are rewritten by
    each dispatch that uses it."""

    __slots__ = ("state", "address", "constants", "pointers", "lengths", "local_size",
                 "local_memory", "workgroup", "workgroup_address", "run")

    def __init__(self, attributes: "DispatchAttributes", workgroup_count: tuple[int, int, int],
                 constants: tuple[int, ...], binding_count: int) -> None:
        count_x, count_y, count_z = workgroup_count
        self.constants = (ctypes.c_uint32 * max(1, len(constants)))(*constants)
        self.pointers = (ctypes.c_void_p * max(1, binding_count))()
        self.lengths = (ctypes.c_size_t * max(1, binding_count))()
        self.state = DispatchStateV0(
            workgroup_size_x=attributes.workgroup_size_x or 1,
            workgroup_size_y=attributes.workgroup_size_y or 1,
            workgroup_size_z=attributes.workgroup_size_z or 1,
            constant_count=len(constants), workgroup_count_x=count_x,
            workgroup_count_y=count_y, workgroup_count_z=count_z, max_concurrency=1,
            binding_count=binding_count, constants=self.constants, binding_ptrs=self.pointers,
            binding_lengths=self.lengths)
        self.address = ctypes.addressof(self.state)
        self.local_size = attributes.local_memory_pages * LOCAL_MEMORY_PAGE
        self.workgroup, self.local_memory = self.workgroup_state()
        self.workgroup_address = ctypes.addressof(self.workgroup)
        # (C loop or None, its workgroup runner), made by the first dispatch that uses it
        self.run = None

    def workgroup_state(self) -> tuple:
        """A new workgroup state with its own local memory (for a slice
        running beside others); keep both alive while it is used."""
        memory = (ctypes.c_uint8 * max(1, self.local_size))()
        workgroup = WorkgroupStateV0(local_memory=ctypes.addressof(memory),
                                     local_memory_size=self.local_size)
        return workgroup, memory


_QUERY = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(Environment))
_ENTRY = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(Environment),
                          ctypes.POINTER(DispatchStateV0), ctypes.POINTER(WorkgroupStateV0))


def _is_elf_shared_object(data: bytes) -> bool:
    return len(data) >= 64 and data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1 \
        and int.from_bytes(data[16:18], "little") == 3  # ET_DYN


_ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_PROGRAM_HEADER = struct.Struct("<IIQQQQQQ")
_PT_LOAD, _PT_DYNAMIC = 1, 2


def check_elf_layout(data: bytes, what: str) -> None:
    """Structural checks before the system loader sees the file.

    The dynamic loader trusts ELF headers and can crash the process on a
    truncated or corrupt file, so every header, table and loaded segment must
    lie inside the file and be internally consistent. Raises
    INVALID_ARGUMENT naming ``what``.
    """
    def bad(reason: str) -> VMError:
        return VMError(StatusCode.INVALID_ARGUMENT, f"{what} is not a valid ELF file: {reason}")

    if len(data) < _ELF_HEADER.size:
        raise bad("shorter than its header")
    (_, _, machine, _, _, program_offset, section_offset, _, header_size, program_entry_size,
     program_count, section_entry_size, section_count, _) = _ELF_HEADER.unpack_from(data, 0)
    if machine != 62:  # EM_X86_64
        raise bad(f"machine {machine} is not x86-64")
    if header_size != _ELF_HEADER.size or program_entry_size != _PROGRAM_HEADER.size:
        raise bad("unexpected header sizes")
    if program_count == 0 or program_offset + program_count * program_entry_size > len(data):
        raise bad("program headers outside the file")
    if section_count and (section_entry_size != 64
                          or section_offset + section_count * section_entry_size > len(data)):
        raise bad("section headers outside the file")
    has_load = False
    for index in range(program_count):
        (kind, _, offset, virtual, _, file_size, memory_size, alignment) = \
            _PROGRAM_HEADER.unpack_from(data, program_offset + index * program_entry_size)
        if kind in (_PT_LOAD, _PT_DYNAMIC):
            if offset + file_size > len(data):
                raise bad(f"segment {index} [{offset}, {offset + file_size}) outside the "
                          f"{len(data)}-byte file")
            if file_size > memory_size:
                raise bad(f"segment {index} is larger in the file than in memory")
        if kind == _PT_LOAD:
            has_load = True
            if alignment > 1 and (offset - virtual) % alignment:
                raise bad(f"segment {index} is misaligned")
    if not has_load:
        raise bad("no loadable segment")


def _writable_binding(buffer, offset: int, length: int, index: int):
    """The bytes of a binding as memory a kernel may write. A kernel may write
    any binding, so immutable memory (module rodata, a read-only array) never
    reaches it: the buffer's allocation gets a private copy first, as command
    buffers already arrange (``Buffer.prepare_binding``); PERMISSION_DENIED
    for a read-only binding that cannot get one."""
    view = buffer.bytes_view(offset, length)
    if view.flags.writeable:
        return view
    prepare = getattr(buffer, "prepare_binding", None)
    if prepare is None:
        raise VMError(StatusCode.PERMISSION_DENIED, f"binding {index} is read-only memory")
    prepare()
    return buffer.bytes_view(offset, length)


class LibraryExecutable:
    """An executable library (IREE's ABI) however its code got into memory.

    Subclasses load the code and return the address of
    ``iree_hal_executable_library_query`` from ``_open``.
    """

    format = ""

    def __init__(self, data: bytes, constants: tuple[int, ...] = ()) -> None:
        if not _is_elf_shared_object(data):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{self.format} executable is not an ELF shared object")
        check_elf_layout(data, f"{self.format} executable")
        query = _QUERY(self._open(data))
        self._constants = (ctypes.c_uint32 * max(1, len(constants)))(*constants)
        self.environment = Environment(constants=self._constants)
        header_pointer = query(LIBRARY_VERSION, ctypes.byref(self.environment))
        if not header_pointer:
            raise VMError(StatusCode.FAILED_PRECONDITION,
                          f"{self.format} executable does not support library ABI version "
                          f"{LIBRARY_VERSION} (it returned no library)")
        header = ctypes.cast(ctypes.cast(header_pointer, ctypes.POINTER(ctypes.c_void_p))[0],
                             ctypes.POINTER(LibraryHeader))[0]
        if header.version > LIBRARY_VERSION:
            raise VMError(StatusCode.FAILED_PRECONDITION,
                          f"{self.format} executable has library ABI version {header.version}; "
                          f"this runtime supports up to {LIBRARY_VERSION}")
        library = ctypes.cast(header_pointer, ctypes.POINTER(LibraryV0))[0]
        if library.imports.count:
            symbols = [library.imports.symbols[i].decode() for i in range(library.imports.count)]
            raise VMError(StatusCode.UNIMPLEMENTED,
                          f"{self.format} executable imports {', '.join(symbols)}; executable "
                          "imports are not supported yet")
        exports = library.exports
        self.function_names = [exports.names[i].decode() if exports.names else f"export{i}"
                               for i in range(exports.count)]
        self._entry_addresses = [exports.ptrs[i] for i in range(exports.count)]
        if not all(self._entry_addresses):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{self.format} executable has an export without a function")
        self._entries = [_ENTRY(address) for address in self._entry_addresses]
        self._attributes = [exports.attrs[i] if exports.attrs else DispatchAttributes()
                            for i in range(exports.count)]
        self._library_struct = library  # keeps the views alive with the library
        self._environment_address = ctypes.addressof(self.environment)
        self._prepared: dict[tuple, list[PreparedDispatch]] = {}

    def dispatch(self, ordinal: int, state: DispatchState):
        """Runs every workgroup of export ``ordinal`` (see the module docstring).

        The ctypes state of a dispatch (its ``DispatchStateV0``, constants,
        binding arrays, one workgroup state and local memory) is kept in a
        :class:`PreparedDispatch` per dispatch shape (export, workgroup count,
        constants, binding count) and reused by the next dispatch of that
        shape: a replayed command buffer then only writes its binding
        addresses. A prepared state serves one dispatch at a time; dispatches
        of one shape running at once each take their own.

        With ``state.budget``, the loop stops after the workgroup it is
        running once the budget's token is cancelled, raising its error
        (naming the dispatch). A budget that can pause runs the workgroups in
        order on this thread until its end passes and returns an iterator
        that runs the rest, yielding whenever the end passes again (see
        :class:`~asyncvm.hal.DispatchState`); otherwise this returns None
        once every workgroup ran.
        """
        count_x, count_y, count_z = state.workgroup_count
        bindings = state.bindings
        key = (ordinal, state.workgroup_count, state.constants, len(bindings))
        prepared = self.take_prepared(key)
        pointers, lengths = prepared.pointers, prepared.lengths
        for index, (buffer, offset, length) in enumerate(bindings):
            if buffer.__class__ is Buffer and not buffer.allocation.immutable:
                # The command buffer checked the range when it resolved it.
                pointers[index] = address_of(buffer.allocation.storage) + buffer.offset + offset
            else:
                pointers[index] = address_of(_writable_binding(buffer, offset, length, index))
            lengths[index] = length
        plane = count_x * count_y
        total = plane * count_z
        loop = _workgroup_loop()
        runner = prepared.run
        if runner is not None and runner[0] is loop:
            run = runner[1]
        else:
            run = self._workgroup_runner(ordinal, prepared, count_x, plane, total, loop)
            prepared.run = (loop, run)
        budget = state.budget
        if budget is not None and budget.end != math.inf and total:
            # On the event loop's thread: nobody can cancel the token while
            # a slice runs, so the token is read between slices only.
            try:
                reached = run(0, total, budget.remaining_ns(), 0)
                if reached < total:
                    self._check_stop(ordinal, budget)
                    return self._resume(ordinal, run, reached, total, budget, key, prepared)
            except BaseException:
                self._release(key, prepared)
                raise
            self._release(key, prepared)
            return None
        token = budget.token if budget is not None else None
        stop_flag = token.flag_address if token is not None else 0
        try:
            state.for_each(total, _WorkgroupSlices(self, ordinal, run, stop_flag, budget,
                                                   None if loop is None else prepared,
                                                   count_x, plane, total))
        finally:
            self._release(key, prepared)
        return None

    def take_prepared(self, key: tuple) -> PreparedDispatch:
        """A prepared state for dispatches of shape ``key`` (ordinal,
        workgroup count, constants, binding count): a free one of that shape,
        else a new one. The caller owns it (``_release`` gives it back)."""
        free = self._prepared.get(key)
        if free:
            try:
                return free.pop()
            except IndexError:  # another thread took the last one meanwhile
                pass
        ordinal, workgroup_count, constants, binding_count = key
        return PreparedDispatch(self._attributes[ordinal], workgroup_count, constants,
                                binding_count)

    def _resume(self, ordinal, run, reached, total, budget, key, prepared):
        """The rest of a paused dispatch: runs the workgroups from ``reached``
        in order, yielding each time ``budget.end`` passes."""
        token = budget.token
        try:
            while reached < total:
                yield
                self._check_stop(ordinal, budget)
                # Resumed without an event loop to return to (the budget
                # no longer pauses): other threads may cancel meanwhile.
                stop_flag = 0 if budget.can_pause or token is None else token.flag_address
                reached = run(reached, total, budget.remaining_ns(), stop_flag)
        finally:
            self._release(key, prepared)

    def _check_stop(self, ordinal: int, budget) -> None:
        """Raises the budget token's error, naming the dispatch, if cancelled."""
        token = budget.token if budget is not None else None
        if token is not None and token.error is not None:
            error = token.error
            raise VMError(error.status, f"dispatch of {self.function_names[ordinal]} stopped: "
                                        f"{error.message}")

    def _release(self, key: tuple, prepared: PreparedDispatch) -> None:
        """Returns ``prepared`` for the next dispatch of its shape."""
        free = self._prepared.get(key)
        if free is None and len(self._prepared) < _PREPARED_SHAPES:
            free = self._prepared.setdefault(key, [])
        if free is not None and len(free) < _PREPARED_PER_SHAPE:
            free.append(prepared)

    def _workgroup_runner(self, ordinal: int, prepared: PreparedDispatch, count_x: int,
                          plane: int, total: int, run_workgroups):
        """``run(first, end, budget_ns, stop_flag) -> next index``: runs
        workgroups ``first`` to ``end - 1`` in order, stopping early before a
        workgroup once the int at address ``stop_flag`` (0: none) turned
        non-zero, and after one once ``budget_ns`` nanoseconds passed (0: no
        limit). A kernel that fails raises INTERNAL naming its workgroup.
        ``run_workgroups`` is the C loop, or None for the Python one."""
        if run_workgroups is not None:
            entry_address = self._entry_addresses[ordinal]
            environment_address = self._environment_address
            dispatch_address = prepared.address

            def run(first: int, end: int, budget_ns: int, stop_flag: int) -> int:
                # Slices run at once on different threads: only a dispatch
                # run in order from its first workgroup uses the prepared
                # workgroup state and local memory.
                if first == 0 and end == total or budget_ns:
                    workgroup_address = prepared.workgroup_address
                else:
                    workgroup, memory = prepared.workgroup_state()
                    workgroup_address = ctypes.addressof(workgroup)
                result, stopped = run_workgroups(
                    entry_address, environment_address, dispatch_address, workgroup_address,
                    count_x, plane, first, end, budget_ns, stop_flag)
                if result != 0:
                    raise self._failed(ordinal, result, stopped, count_x, plane)
                return stopped
            return run
        entry = self._entries[ordinal]
        environment = ctypes.byref(self.environment)
        dispatch_state = ctypes.byref(prepared.state)
        clock = time.perf_counter_ns

        def run_in_python(first: int, end: int, budget_ns: int, stop_flag: int) -> int:
            if first == 0 and end == total or budget_ns:
                workgroup = prepared.workgroup
            else:
                workgroup, memory = prepared.workgroup_state()
            reference = ctypes.byref(workgroup)
            stop = ctypes.c_int32.from_address(stop_flag) if stop_flag else None
            began = clock()
            for index in range(first, end):
                if stop is not None and stop.value:
                    return index
                z, rest = divmod(index, plane)
                y, x = divmod(rest, count_x)
                workgroup.workgroup_id_x, workgroup.workgroup_id_y = x, y
                workgroup.workgroup_id_z = z
                result = entry(environment, dispatch_state, reference)
                if result != 0:
                    raise self._failed(ordinal, result, index, count_x, plane)
                if budget_ns and clock() - began >= budget_ns:
                    return index + 1
            return end
        return run_in_python

    def _failed(self, ordinal: int, result: int, index: int, count_x: int,
                plane: int) -> VMError:
        z, rest = divmod(index, plane)
        y, x = divmod(rest, count_x)
        return VMError(StatusCode.INTERNAL,
                       f"dispatch of {self.function_names[ordinal]} failed: the kernel "
                       f"returned {result} (workgroup {x}, {y}, {z})")

    def _open(self, data: bytes) -> int:
        raise NotImplementedError


class _WorkgroupSlices:
    """The ``for_each`` body of one native dispatch: ``slices(first, end)``
    runs workgroups ``first`` to ``end - 1`` on this thread. With the C loop
    it also has ``spread_on(team)``: every workgroup at once on this thread
    and a :func:`workgroup_team`'s threads, which a device that spreads the
    dispatch calls instead of slicing it (it returns the processor seconds
    the team's threads spent). Either raises the dispatch's VMError: the
    token's, once cancelled, or INTERNAL for a failing kernel."""

    __slots__ = ("executable", "ordinal", "run", "stop_flag", "budget", "prepared",
                 "count_x", "plane", "total")

    def __init__(self, executable: "LibraryExecutable", ordinal: int, run, stop_flag: int,
                 budget, prepared: "PreparedDispatch | None", count_x: int, plane: int,
                 total: int) -> None:
        self.executable, self.ordinal, self.run = executable, ordinal, run
        self.stop_flag, self.budget, self.prepared = stop_flag, budget, prepared
        self.count_x, self.plane, self.total = count_x, plane, total

    def __call__(self, first: int, end: int) -> None:
        if self.run(first, end, 0, self.stop_flag) < end:  # stopped by the token
            self.executable._check_stop(self.ordinal, self.budget)

    @property
    def spread_on(self):
        """The team runner, or None with the Python loop (no C kernels' loop)."""
        return None if self.prepared is None else self._spread_on

    def _spread_on(self, team) -> float:
        executable, ordinal, prepared = self.executable, self.ordinal, self.prepared
        result, stopped, helper_ns = team.run(
            executable._entry_addresses[ordinal], executable._environment_address,
            prepared.address, prepared.workgroup_address, self.count_x, self.plane, 0,
            self.total, self.stop_flag)
        if result != 0:
            raise executable._failed(ordinal, result, stopped, self.count_x, self.plane)
        if stopped < self.total:  # stopped by the token
            executable._check_stop(ordinal, self.budget)
        return helper_ns / 1e9


class SystemLibraryExecutable(LibraryExecutable):
    """``system-elf-x86_64``: a shared library loaded by the system loader."""

    format = "system-elf-x86_64"

    def _open(self, data: bytes) -> int:
        self._library = self._load(data)
        try:
            return ctypes.cast(getattr(self._library, QUERY_SYMBOL), ctypes.c_void_p).value
        except AttributeError:
            raise VMError(StatusCode.NOT_FOUND,
                          f"{self.format} executable has no {QUERY_SYMBOL}") from None

    def _load(self, data: bytes) -> ctypes.CDLL:
        descriptor, path = tempfile.mkstemp(prefix="asyncvm-", suffix=".so")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
            try:
                return ctypes.CDLL(path, mode=os.RTLD_LOCAL | os.RTLD_NOW)
            except OSError as error:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{self.format} executable cannot be loaded: {error}") from None
        finally:
            os.unlink(path)  # the loaded mapping outlives the file

