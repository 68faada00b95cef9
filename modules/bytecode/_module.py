"""Bytecode modules: a verified, translated VMFB as a :class:`~asyncvm.vm.Module`.

``BytecodeModule.load(path_or_bytes)`` parses, verifies and translates the
module once; the module is immutable and may be registered in many contexts.
Each registration creates a :class:`BytecodeModuleState` holding that
context's globals, rodata views, resolved imports and the bound functions.
Loading raises VMError (INVALID_ARGUMENT for malformed input, UNIMPLEMENTED
for an unsupported bytecode version) and never suspends.

A state observed by an :class:`~asyncvm.vm.ExecutionObserver` (see
:func:`asyncvm.vm.observe_execution`) runs one of the module's observation
translations while observed; see :mod:`._observation`.
"""

from __future__ import annotations

import os
import types
from bisect import bisect_right
from typing import TYPE_CHECKING, Any, Callable

import numpy

from asyncvm.vm import (DEFAULT_QUANTUM, DEFAULT_TIME_SLICE, Dependency, FrameLocation, aligned_array,
                        FunctionDescriptor, ImportDescriptor, Module,
                        ModuleState, ResolvedImport, StatusCode, VMBuffer, VMError,
                        invoke_callable, parse_calling_convention, register_frame_describer,
                        resolve_type_name)

from ._decoder import DecodedInstruction
from ._module_definition import ModuleDef, parse_module_definition
from ._runtime_support import SUPPORT, _unresolved_import
from ._translator import TranslatedModule, translate_module
from ._verifier import verify_module

if TYPE_CHECKING:
    from ._observation import ObservedTranslations

"""Instructions (approximately) a frame runs between scheduling checkpoints."""


class BytecodeModule(Module):
    """A VMFB module. Keeps the file's bytes alive for its rodata views."""

    def __init__(self, definition: ModuleDef, contents: Any = None) -> None:
        self.definition = definition
        self._contents = contents
        self.name = definition.name
        self.version = definition.version
        self.function_names = _function_names(definition)
        try:
            self.instructions: list[list[DecodedInstruction]] = verify_module(
                definition, self.function_names)
            self.translated: TranslatedModule = translate_module(
                definition, self.instructions, self.function_names)
            self._bind = self._compile()
        except VMError:
            raise
        except (ValueError, KeyError, IndexError, SyntaxError, RecursionError,
                MemoryError, OverflowError) as error:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"module {self.name!r} cannot be prepared: "
                          f"{type(error).__name__}: {error}") from error
        self._exports = [
            FunctionDescriptor(export.local_name,
                               definition.signatures[export.internal_ordinal].calling_convention,
                               dict(definition.signatures[export.internal_ordinal].attributes))
            for export in definition.exports]
        self._export_ordinals = {export.local_name: export.internal_ordinal
                                 for export in definition.exports}
        self._source_maps = {name: entries for name, entries in
                             (definition.debug.function_maps if definition.debug else ())}

    # -- loading -----------------------------------------------------------------

    @classmethod
    def load(cls, source: str | os.PathLike | bytes | bytearray | memoryview) -> "BytecodeModule":
        """Loads a module from a path or from the bytes of a VMFB."""
        if isinstance(source, (str, os.PathLike)):
            try:
                with open(source, "rb") as file:
                    contents = file.read()
            except OSError as error:
                raise VMError(StatusCode.NOT_FOUND,
                              f"cannot read module {os.fspath(source)!r}: {error.strerror}") from None
        else:
            contents = source
        contents = _aligned_copy(contents)
        return cls(parse_module_definition(contents), contents)

    def _compile(self) -> Callable:
        filename = f"<asyncvm {self.name}>"
        code = compile(self.translated.source, filename, "exec")
        namespace = dict(SUPPORT)
        exec(code, namespace)
        bind = namespace["_bind"]
        describe = self.frame_describer(self.translated.line_map)

        # The registry holds describers weakly (a dropped module is freed):
        # the module keeps its own, and its code objects are its own too (a
        # compile of its own source), so two modules with identical functions
        # still name their own frames.
        self._describe_frame = describe
        for constant in bind.__code__.co_consts:
            if isinstance(constant, types.CodeType):
                register_frame_describer(constant, describe)
        return bind

    def frame_describer(self, line_map: dict[int, tuple[int, int]]
                        ) -> Callable[[int], FrameLocation]:
        """Names a frame of this module's generated code (a translation
        whose lines map to (function, pc) by ``line_map``) from its line."""
        names = self.function_names
        module_name = self.name

        def describe(line: int) -> FrameLocation:
            function, pc = line_map.get(line, (None, None))
            if function is None:
                return FrameLocation(module_name, "?")
            return FrameLocation(module_name, names[function], pc,
                                 self.source_location(function, pc))

        return describe

    @property
    def observed_translations(self) -> "ObservedTranslations":
        """The translations that observation runs and the instruction sites
        (see :mod:`._observation`), made on first use."""
        from ._observation import observed_translations

        return observed_translations(self)

    # -- Module interface ----------------------------------------------------------

    @property
    def dependencies(self) -> list[Dependency]:
        return [Dependency(d.name, d.minimum_version, d.optional)
                for d in self.definition.dependencies]

    @property
    def exports(self) -> list[FunctionDescriptor]:
        return list(self._exports)

    @property
    def imports(self) -> list[ImportDescriptor]:
        return [ImportDescriptor(i.full_name, i.signature.calling_convention, i.optional)
                for i in self.definition.imports]

    def create_state(self, context: Any, imports: list[ResolvedImport]) -> "BytecodeModuleState":
        return BytecodeModuleState(self, context, imports)

    def export_ordinal(self, name: str) -> int | None:
        return self._export_ordinals.get(name)

    # -- debug information ---------------------------------------------------------

    def source_location(self, function: int, pc: int) -> str | None:
        """``file:line:col`` of the instruction at ``pc`` of ``function``, if known."""
        debug = self.definition.debug
        if debug is None:
            return None
        entries = self._source_maps.get(self.function_names[function])
        if not entries:
            return None
        position = bisect_right(entries, (pc, 1 << 31)) - 1
        if position < 0:
            return None
        return _resolve_location(debug.locations, entries[position][1], 0)


def _aligned_copy(contents) -> memoryview:
    """The module bytes at a 64-byte boundary, so rodata keeps the alignment
    the file gives it (kernels may assume 64-byte-aligned constants)."""
    data = numpy.frombuffer(memoryview(contents).cast("B"), dtype=numpy.uint8)
    return memoryview(aligned_array(data)).toreadonly()


def _resolve_location(locations, index: int, depth: int) -> str | None:
    if depth > 16 or not 0 <= index < len(locations):
        return None
    location = locations[index]
    if location is None:
        return None
    if location.kind == "file":
        return f"{location.filename}:{location.line}:{location.column}"
    for child in location.children:
        resolved = _resolve_location(locations, child, depth + 1)
        if resolved is not None:
            return resolved
    return None


def _function_names(definition: ModuleDef) -> list[str]:
    names = [f"__function_{ordinal}" for ordinal in range(len(definition.functions))]
    for export in definition.exports:
        if 0 <= export.internal_ordinal < len(names):
            names[export.internal_ordinal] = export.local_name
    return names


class BytecodeModuleState(ModuleState):
    """One context's instance of a bytecode module.

    ``globals`` is indexed by byte offset (primitive globals), ``ref_globals``
    by ordinal. Shared by every invocation in the context.
    """

    def __init__(self, module: BytecodeModule, context: Any,
                 imports: list[ResolvedImport]) -> None:
        definition = module.definition
        self.module = module
        self.globals: list = [0] * definition.global_bytes_capacity
        self.ref_globals: list = [None] * definition.global_ref_count
        self.rodata = [VMBuffer.wrap(segment.data, readonly=True) for segment in definition.rodata]
        registry = context.instance.ref_types
        self.types = [resolve_type_name(name, registry) for name in definition.type_names]
        self.imports = [resolved.function if resolved.function is not None
                        else _unresolved_import(resolved.descriptor.full_name)
                        for resolved in imports]
        self.resolved = tuple(1 if resolved.function is not None else 0 for resolved in imports)
        self.quantum = getattr(context, "quantum", DEFAULT_QUANTUM)
        self.time_slice = getattr(context, "time_slice", DEFAULT_TIME_SLICE)
        capacity = definition.global_bytes_capacity
        ref_count = definition.global_ref_count

        def global_index(offset: int, width: int) -> int:
            if 0 <= offset and offset + width <= capacity and offset % width == 0:
                return offset
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"global byte offset {offset} (width {width}) out of range "
                          f"of {capacity} bytes")

        def ref_global_index(ordinal: int) -> int:
            if 0 <= ordinal < ref_count:
                return ordinal
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"ref global {ordinal} out of range of {ref_count}")

        self.global_index = global_index
        self.ref_global_index = ref_global_index
        self.functions = module._bind(self)
        self._execution_switch = None

    # -- observation ---------------------------------------------------------------

    def add_execution_observer(self, observer: Any) -> None:
        """Reports every instruction of this state's functions to ``observer``
        (see :func:`asyncvm.vm.observe_execution`): the functions run an
        observation translation from their next call on (see
        :mod:`._observation`). ALREADY_EXISTS if it already observes this
        state; INTERNAL if the module cannot be observed. Thread-safe; does
        not suspend."""
        from ._observation import execution_switch

        execution_switch(self).add(observer)

    def remove_execution_observer(self, observer: Any) -> None:
        """Stops reporting to ``observer``; with no observer left the
        functions run the normal translation again from their next call on."""
        if self._execution_switch is not None:
            self._execution_switch.remove(observer)

    def lookup_function(self, name: str):
        ordinal = self.module.export_ordinal(name)
        return None if ordinal is None else self.functions[ordinal]

    async def initialize(self, context: Any) -> None:
        function = self._lifecycle_function("__init")
        if function is not None:
            await invoke_callable(function, max_depth=context.max_depth,
                                  time_slice=self.time_slice)

    async def deinitialize(self, context: Any) -> None:
        function = self._lifecycle_function("__deinit")
        if function is not None:
            await invoke_callable(function, max_depth=context.max_depth,
                                  time_slice=self.time_slice)

    def _lifecycle_function(self, name: str):
        """The export ``name`` (``__init``, ``__deinit``), or None; it must
        take no arguments (INVALID_ARGUMENT otherwise: a damaged export table
        can point the name at any function)."""
        ordinal = self.module.export_ordinal(name)
        if ordinal is None:
            return None
        for descriptor in self.module.exports:
            if descriptor.name == name and \
                    parse_calling_convention(descriptor.calling_convention).arguments:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"module {self.module.name}: {name} must take no arguments "
                              f"(its calling convention is {descriptor.calling_convention!r})")
        return self.functions[ordinal]
