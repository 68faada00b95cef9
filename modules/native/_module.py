"""Native modules: tvm-ffi shared libraries as VM modules.

    library = NativeLibraryModule("native.so")            # module "native"
    program = asyncvm.load("program.vmfb", modules=[library])

A shared library whose functions are exported with tvm-ffi
(``TVM_FFI_DLL_EXPORT_TYPED_FUNC(scale, Scale)`` gives the C symbol
``__tvm_ffi_scale``) is a module: each exported function is an export, and
the module is named after the file (``native.so`` gives ``native``,
``libops.so.1`` gives ``libops``) unless ``name=`` says otherwise.

Calling conventions: a library function has none of its own, so an import
takes the convention its module declares (``func.func private
@native.scale(tensor<?xf32>, f32) -> tensor<?xf32>`` compiles to ``0rf_r``).
When the library carries type metadata (built with
``-DTVM_FFI_DLL_EXPORT_INCLUDE_METADATA=1``) the declaration is checked at
link time and a mismatch is INCOMPATIBLE (see :mod:`._type_schema`); such
functions can also be called directly (``program.invoke("native.scale",
...)``) with their natural convention (``int`` as i64, ``float`` as f64).

Values: i32/i64 pass as ``int`` and f32/f64 as ``float``. A buffer view
passes as a DLPack tensor over its memory, without a copy (memory the caller
lent read-only, a protected numpy argument, first gets its private copy, as
for a dispatch, since a library may write any tensor it is given). A tensor
the library returns becomes a buffer view over the library's memory,
without a copy when it is 64-byte aligned (tvm-ffi's allocators align so),
and keeps that memory alive for as long as the buffer is used. Libraries
that allocate with ``ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, ...)``
get aligned host memory from asyncvm (see :mod:`._tensor_allocator`).

Threads: a call runs on a worker thread (tvm-ffi releases the GIL while
the library runs; see :mod:`._worker_threads`) and the invocation suspends
until it returns, so a long
native call never stalls the other invocations on the event loop.
Functions named in ``inline=`` run on the loop thread instead: for cheap
functions, where the thread hand-off would cost more than the call. A
cancelled or timed-out invocation stops waiting at once; the native call
itself cannot be interrupted and runs to its end on its worker thread.

Errors: an import of a function the library does not export is NOT_FOUND
at link time; a value of the wrong type is INVALID_ARGUMENT; an error
raised inside the library becomes a VMError carrying the library's message
(TypeError/ValueError INVALID_ARGUMENT, IndexError OUT_OF_RANGE, KeyError
NOT_FOUND, NotImplementedError UNIMPLEMENTED, MemoryError
RESOURCE_EXHAUSTED, anything else INTERNAL), and the invocation adds the VM
backtrace. A native library is trusted code: it runs in the process with
the process's rights, and a crash inside it ends the process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy

from asyncvm.hal import BufferView
from asyncvm.modules.python import KnownRefs, result_converter
from asyncvm.vm import (CallingConvention, FunctionDescriptor, Module, ModuleState,
                        ResolvedImport, Span, StatusCode, ValueKind, VMError, active_tracer,
                        parse_calling_convention)

from ._symbols import exported_function_names
from ._tensor_allocator import install_tensor_allocator
from ._worker_threads import call_on_worker
from ._type_schema import NativeSignature

_LIBRARY_ERRORS = (
    (TypeError, StatusCode.INVALID_ARGUMENT),
    (ValueError, StatusCode.INVALID_ARGUMENT),
    (IndexError, StatusCode.OUT_OF_RANGE),
    (KeyError, StatusCode.NOT_FOUND),
    (NotImplementedError, StatusCode.UNIMPLEMENTED),
    (MemoryError, StatusCode.RESOURCE_EXHAUSTED),
)


def _tvm_ffi() -> Any:
    try:
        import tvm_ffi
    except ImportError:
        raise VMError(StatusCode.FAILED_PRECONDITION,
                      "native modules need apache-tvm-ffi: pip install 'asyncvm[native]'") from None
    return tvm_ffi


@dataclass(frozen=True)
class NativeFunction:
    """One function of a library: its name, its signature when the library
    has type metadata (else None), and its documentation if any."""

    name: str
    signature: NativeSignature | None
    documentation: str | None = None

    @property
    def calling_convention(self) -> str | None:
        """The natural VM convention (None without metadata)."""
        return self.signature.natural_convention if self.signature else None


def module_name_of(path: str | os.PathLike) -> str:
    """The module name a library file gives: its file name up to the first dot."""
    return os.path.basename(os.fspath(path)).split(".")[0]


class NativeLibraryModule(Module):
    """A tvm-ffi shared library as a module (see the module docstring).

    Loading reads the library's symbol table and loads it with tvm-ffi
    (which runs the library's initializers: trusted code). Raises VMError:
    NOT_FOUND (no such file), INVALID_ARGUMENT (not a shared library, no
    tvm-ffi function in it, a library that cannot be loaded, an ``inline``
    name it does not export), FAILED_PRECONDITION (the ``native`` extra is
    not installed). Immutable once made; one module serves any number of
    contexts.
    """

    def __init__(self, path: str | os.PathLike, name: str | None = None, *,
                 inline: Iterable[str] = ()) -> None:
        self.path = os.fspath(path)
        self.name = name or module_name_of(self.path)
        self.version = 0
        if not self.name:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"{self.path}: a module needs a name")
        names = exported_function_names(self.path)
        if not names:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{self.path}: the library exports no tvm-ffi function "
                          "(export them with TVM_FFI_DLL_EXPORT_TYPED_FUNC)")
        tvm_ffi = _tvm_ffi()
        install_tensor_allocator(tvm_ffi.LIB)
        try:
            self.library = tvm_ffi.load_module(self.path)
        except Exception as error:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{self.path}: tvm-ffi cannot load the library: {error}") from None
        self.functions: dict[str, NativeFunction] = {
            function_name: self._describe(function_name) for function_name in names}
        self.inline = frozenset(inline)
        unknown = sorted(self.inline - self.functions.keys())
        if unknown:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{self.path}: inline= names {', '.join(unknown)}, which the library "
                          f"does not export (it exports {', '.join(names)})")
        self._exports = [
            FunctionDescriptor(function.name, function.calling_convention,
                               {"tvm_ffi.signature": str(function.signature)})
            for function in self.functions.values() if function.calling_convention]

    def _describe(self, name: str) -> NativeFunction:
        try:
            metadata = self.library.get_function_metadata(name)
        except Exception:
            metadata = None
        documentation = None
        try:
            documentation = self.library.get_function_doc(name)
        except Exception:
            pass
        return NativeFunction(name, NativeSignature.from_metadata(metadata), documentation or None)

    @property
    def exports(self) -> list[FunctionDescriptor]:
        """The functions with type metadata, each with its natural convention
        (the others are reached through imports only; see :attr:`functions`)."""
        return list(self._exports)

    def export_for_import(self, name: str, calling_convention: str) -> FunctionDescriptor | None:
        """The import's own convention, checked against the library's type
        metadata where it has some (INCOMPATIBLE otherwise); None if the
        library has no function ``name``."""
        function = self.functions.get(name)
        if function is None:
            return None
        where = f"{self.name}.{name}"
        convention = parse_calling_convention(calling_convention)
        if convention.is_variadic:
            raise VMError(StatusCode.INCOMPATIBLE,
                          f"{where}: a native function takes no variadic arguments, but it is "
                          f"imported as {calling_convention}")
        if function.signature is not None:
            function.signature.check(where, convention)
        attributes = {"tvm_ffi.signature": str(function.signature)} if function.signature else {}
        return FunctionDescriptor(name, calling_convention, attributes)

    def create_state(self, context: Any, imports: list[ResolvedImport]) -> "NativeLibraryState":
        return NativeLibraryState(self, context)

    def __repr__(self) -> str:
        return f"<NativeLibraryModule {self.name} ({self.path}): {', '.join(self.functions)}>"


class NativeLibraryState(ModuleState):
    """One context's view of a library: a VM callable per function and
    convention, built once (at link time for imports)."""

    def __init__(self, module: NativeLibraryModule, context: Any) -> None:
        self.module = module
        instance = getattr(context, "instance", None)
        self._known = KnownRefs(getattr(instance, "ref_types", None))
        self._bound: dict[tuple[str, str], Callable] = {}

    def lookup_function(self, name: str) -> Callable | None:
        function = self.module.functions.get(name)
        if function is None or function.calling_convention is None:
            return None
        return self._bind(name, function.calling_convention)

    def lookup_export(self, export: FunctionDescriptor) -> Callable | None:
        if export.name not in self.module.functions:
            return None
        return self._bind(export.name, export.calling_convention)

    def _bind(self, name: str, calling_convention: str) -> Callable:
        key = (name, calling_convention)
        bound = self._bound.get(key)
        if bound is None:
            module = self.module
            bound = self._bound[key] = native_call(
                module.library.get_function(name), f"{module.name}.{name}",
                parse_calling_convention(calling_convention), known=self._known,
                inline=name in module.inline)
        return bound


# -- calls --------------------------------------------------------------------------


def library_failure(where: str, error: BaseException) -> VMError:
    """The VMError for an exception a library call raised (see the module
    docstring for the statuses); the exception becomes the ``__cause__``."""
    status = StatusCode.INTERNAL
    for kind, mapped in _LIBRARY_ERRORS:
        if isinstance(error, kind):
            status = mapped
            break
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    converted = VMError(status, f"{where}: {type(error).__name__}: {message}")
    converted.__cause__ = error
    return converted


def _argument_converter(where: str, convention: CallingConvention) -> Callable[[tuple], tuple]:
    references = [index for index, slot in enumerate(convention.arguments)
                  if slot is ValueKind.REF]
    if not references:
        return tuple

    def convert(arguments: tuple) -> tuple:
        values = list(arguments)
        for index in references:
            value = values[index]
            if value is None:
                continue
            if value.__class__ is not BufferView:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{where} argument {index}: a native function takes buffer views "
                              f"(tensors) and null refs, not {type(value).__name__}")
            if not value.element_type.is_byte_aligned:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{where} argument {index}: {value.element_type.name} elements are "
                              "packed below a byte, which DLPack tensors cannot describe")
            value.buffer.prepare_binding()  # a library may write any tensor it is given
            values[index] = value.to_array()
        return tuple(values)
    return convert


def _as_python(value: Any) -> Any:
    """A library's value as the Python value the result converter takes:
    tensors as numpy arrays over their memory."""
    if value is None or value.__class__ in (int, float, bool):
        return value
    if hasattr(value, "__dlpack__"):
        try:
            return numpy.from_dlpack(value)
        except (BufferError, TypeError, RuntimeError) as error:
            raise VMError(StatusCode.UNIMPLEMENTED,
                          f"a returned tensor cannot be viewed from numpy: {error}") from None
    return value


def _results_reader(convention: CallingConvention) -> Callable[[Any], Any]:
    count = len(convention.results)
    if count == 0:
        return lambda value: None
    if count == 1:
        return _as_python

    def read(value: Any) -> tuple:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            return value  # the result converter reports the wrong count
        return tuple(_as_python(item) for item in value)
    return read


def native_call(function: Callable, where: str, convention: CallingConvention, *,
                known: KnownRefs, inline: bool) -> Callable:
    """The VM callable for a library ``function`` called with ``convention``.

    Arguments are converted on the loop thread; the call runs on a worker
    thread unless ``inline`` (the callable then returns a tuple instead of
    an awaitable of one); results are converted and checked as a Python
    export's are. Failures are VMError naming ``where``.
    """
    if any(isinstance(slot, Span) for slot in convention.results):
        raise VMError(StatusCode.INCOMPATIBLE, f"{where}: variadic results")
    convert_arguments = _argument_converter(where, convention)
    read_results = _results_reader(convention)
    convert_results = result_converter(where, convention, False, known)

    def finish(result: Any) -> tuple:
        return convert_results(read_results(result))

    def traced(tracer: Any) -> Callable:
        """``function``, recording each call as a ``native`` complete event
        on the thread that runs it (a trace shows the library's time)."""
        def run(*values: Any) -> Any:
            began = tracer.now()
            try:
                return function(*values)
            finally:
                tracer.complete(where, "native", began)
        return run

    if inline:
        def call_inline(*arguments: Any) -> tuple:
            values = convert_arguments(arguments)
            tracer = active_tracer()
            try:
                result = (function if tracer is None else traced(tracer))(*values)
            except Exception as error:
                raise library_failure(where, error) from error
            return finish(result)
        return call_inline

    async def call(*arguments: Any) -> tuple:
        values = convert_arguments(arguments)
        tracer = active_tracer()
        try:
            result = await call_on_worker(function if tracer is None else traced(tracer), values)
        except Exception as error:
            raise library_failure(where, error) from error
        return finish(result)
    return call
