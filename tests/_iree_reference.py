"""Reference side of the differential tests: run .vmfb files in IREE's own
runtime (the ``iree.runtime`` Python bindings, ``local-sync`` HAL driver) and
convert results into plain Python values that compare directly with what
``asyncvm`` returns.

Value conventions (shared with asyncvm's ``Program.invoke``):

* Python ``int`` arguments are passed as i64 variants and narrowed by IREE's
  calling-convention marshalling to the i32/i64 the function expects
  (truncating, like ``(int32_t)x``); Python ``float`` arguments are passed as
  f64 variants and rounded to f32 where the function takes f32.  Always pass
  floats (``2.0``, not ``2``) for float parameters: IREE does not convert an
  integer variant into a float parameter.
* i32/i64 results become signed ``int``; f32/f64 results become ``float``
  (exact: an f32 widened to a Python float keeps every bit); a ``!vm.list``
  result becomes a Python ``list`` (recursively); any other ref becomes
  :class:`OpaqueRef`.

Comparison helpers (:func:`normalize`, :func:`values_equal`,
:func:`assert_values_equal`) are exact: floats are compared bit-for-bit
(``struct.pack('<d')`` of the widened value, so 0.0 != -0.0), NaN equals NaN
(any payload) and ints never equal floats.
"""

from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy

__all__ = [
    "IreeError",
    "IreeProgram",
    "OpaqueRef",
    "STATUS_NAMES",
    "assert_values_equal",
    "f32",
    "f32_bits",
    "iree_invoke",
    "iree_invoke_sequence",
    "normalize",
    "values_equal",
]

# iree_status_code_t values (runtime/src/iree/base/status.h).
STATUS_NAMES = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
    17: "DEFERRED",
    18: "INCOMPATIBLE",
}
_STATUS_BY_NAME = {name: code for code, name in STATUS_NAMES.items()}
# IREE formats statuses as "<file>:<line>: <CODE_NAME>; <message>" (the name
# is empty for codes without one, e.g. vm.fail with status 31).
_STATUS_RE = re.compile(r":\d+: ([A-Z_]*); ")


# --------------------------------------------------------------------------
# Float helpers
# --------------------------------------------------------------------------


def f32(x: float) -> float:
    """Rounds a Python float to the nearest f32 (inf on overflow)."""
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return x
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def f32_bits(x: float) -> int:
    """The IEEE-754 single-precision bit pattern of ``x`` (rounded to f32)."""
    return struct.unpack("<I", struct.pack("<f", f32(x)))[0]


def f32_from_bits(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


# --------------------------------------------------------------------------
# Normalization and exact comparison
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class OpaqueRef:
    """Placeholder for a ref result that is not a list (buffers etc.)."""

    type_name: str


def normalize(value: Any) -> Any:
    """Converts results from either runtime into comparable plain values.

    Tuples/lists and anything list-like (``asyncvm.vm.VMList``: ``len()`` plus
    iteration) become Python lists, recursively.  ints, floats and None pass
    through.  Anything else is returned unchanged.
    """
    if isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, (int, float, str, bytes, OpaqueRef)):
        return value
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if hasattr(value, "__len__") and hasattr(value, "__iter__"):
        return [normalize(v) for v in value]
    return value


def values_equal(a: Any, b: Any) -> bool:
    """Exact structural equality (floats bit-for-bit, NaN == NaN)."""
    a = normalize(a)
    b = normalize(b)
    if isinstance(a, list) or isinstance(b, list):
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(values_equal(x, y) for x, y in zip(a, b))
        )
    if isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, float) and isinstance(b, float)):
            return False
        if math.isnan(a) and math.isnan(b):
            return True
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, int) or isinstance(b, int):
        return type(a) is int and type(b) is int and a == b
    return a == b


def _describe(value: Any) -> str:
    value = normalize(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        try:
            return f"{value!r} (f32 bits 0x{f32_bits(value):08x})" if f32(value) == value else repr(value)
        except (OverflowError, ValueError):
            return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    return repr(value)


def assert_values_equal(actual: Any, expected: Any, context: str = "") -> None:
    if not values_equal(actual, expected):
        prefix = f"{context}: " if context else ""
        raise AssertionError(
            f"{prefix}results differ\n  actual:   {_describe(actual)}\n  expected: {_describe(expected)}"
        )


# --------------------------------------------------------------------------
# Running programs in IREE's runtime
# --------------------------------------------------------------------------


class IreeError(Exception):
    """A failed invocation in IREE's runtime, with the status it reported."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        match = _STATUS_RE.search(message)
        name = match.group(1) if match else ""
        #: The status code name ("" if IREE printed none) and its number
        #: (None when the name is unknown).
        self.status_name = name
        self.status = _STATUS_BY_NAME.get(name)


_RT = None
_INSTANCE = None
_HAL_MODULES = None


def _runtime():
    global _RT, _INSTANCE
    if _RT is None:
        import iree.runtime as rt

        _RT = rt
        _INSTANCE = rt.VmInstance()
    return _RT


def _hal_modules():
    """HAL module(s) for the local-sync driver, created once and shared."""
    global _HAL_MODULES
    if _HAL_MODULES is None:
        rt = _runtime()
        config = rt.Config("local-sync")
        _HAL_MODULES = tuple(config.default_vm_modules)
    return _HAL_MODULES


def _module_imports_hal(vmfb: bytes) -> bool:
    # Cheap heuristic: HAL imports are named "hal.<fn>" in the flatbuffer.
    return b"hal.device" in vmfb or b"hal.buffer" in vmfb or b"hal.fence" in vmfb


def _to_python(rt, variants, index: int) -> Any:
    value = variants.get_variant(index)
    if isinstance(value, (int, float)) or value is None:
        return value
    # A ref: lists are converted recursively, anything else is opaque.
    try:
        sub = variants.get_as_list(index)
    except Exception:
        text = repr(value)
        match = re.search(r"VmRef\s+(\S+)", text)
        return OpaqueRef(match.group(1) if match else text)
    return [_to_python(rt, sub, i) for i in range(sub.size)]


class IreeProgram:
    """One module loaded into a fresh IREE VM context (state persists across
    :meth:`invoke` calls, so globals can be checked over a call sequence)."""

    def __init__(self, vmfb: "str | os.PathLike[str] | bytes"):
        rt = _runtime()
        if isinstance(vmfb, (bytes, bytearray)):
            data = bytes(vmfb)
        else:
            with open(vmfb, "rb") as f:
                data = f.read()
        # copy_buffer keeps the flatbuffer alive for the module's lifetime.
        self.module = rt.VmModule.copy_buffer(_INSTANCE, data)
        modules = list(_hal_modules()) if _module_imports_hal(data) else []
        modules.append(self.module)
        self.context = rt.VmContext(_INSTANCE, modules=modules)
        self.name = self.module.name

    @property
    def export_names(self) -> list:
        return list(self.module.function_names)

    def invoke(self, function: str, *args: Any) -> tuple:
        rt = _RT
        fn = self.module.lookup_function(function)
        if fn is None:
            raise KeyError(f"{self.name} has no export {function!r}")
        arg_list = rt.VmVariantList(len(args))
        for arg in args:
            if isinstance(arg, bool) or not isinstance(arg, (int, float)):
                raise TypeError(f"unsupported argument {arg!r} (only int and float scalars)")
            if isinstance(arg, float):
                arg_list.push_float(arg)
            else:
                if not -(1 << 63) <= arg < (1 << 64):
                    raise OverflowError(f"{arg} does not fit in 64 bits")
                if arg >= (1 << 63):
                    arg -= 1 << 64
                arg_list.push_int(arg)
        results = rt.VmVariantList(8)
        try:
            self.context.invoke(fn, arg_list, results)
        except Exception as e:  # IREE maps statuses onto assorted Python types
            raise IreeError(str(e)) from e
        return tuple(_to_python(rt, results, i) for i in range(results.size))


def iree_invoke(vmfb_path: "str | os.PathLike[str] | bytes", function: str, args: Sequence[Any] = ()) -> tuple:
    """Runs ``function(*args)`` once, in a fresh context, in IREE's runtime.

    Returns the results as a tuple of plain Python values; raises
    :class:`IreeError` (with ``.status``/``.status_name``) if IREE fails.
    """
    return IreeProgram(vmfb_path).invoke(function, *args)


def iree_invoke_sequence(
    vmfb_path: "str | os.PathLike[str] | bytes", calls: Iterable[tuple]
) -> list:
    """Runs several ``(function, args)`` calls in order in one context and
    returns one result tuple per call (an :class:`IreeError` instance in place
    of the tuple for a call that failed)."""
    program = IreeProgram(vmfb_path)
    out = []
    for function, args in calls:
        try:
            out.append(program.invoke(function, *args))
        except IreeError as e:
            out.append(e)
    return out


def iree_tensor_results(vmfb: "str | os.PathLike[str]", function: str, arguments: Sequence[Any],
                        driver: str = "local-sync") -> list:
    """Calls a tensor function in IREE's runtime (its high-level API) and
    returns the results as numpy arrays (scalars as 0-d arrays).

    bf16 and f8 arrays (``ml_dtypes``) pass through IREE's own mapping. IREE's
    Python API has none for the packed sub-byte integers, so a call with an
    ``ml_dtypes`` int4/uint4/int2/uint2 argument, or one whose results IREE
    cannot convert, goes through its low-level API instead: such arguments
    are packed here (element ``k`` at bit ``k * bits``, low bits first) into a
    buffer view of the matching element type, and sub-byte results are read
    back from the buffer's bytes and unpacked into ``ml_dtypes`` arrays."""
    rt = _runtime()
    config = rt.Config(driver)
    with open(vmfb, "rb") as f:
        module = rt.VmModule.copy_buffer(config.vm_instance, f.read())
    context = rt.SystemContext(config=config, vm_modules=[module])
    if not any(_sub_byte_type(argument) for argument in arguments):
        try:
            results = getattr(context.modules, module.name)[function](*arguments)
            results = results if isinstance(results, (list, tuple)) else [results]
            return [r.to_host() if hasattr(r, "to_host") else numpy.asarray(r) for r in results]
        except ValueError as error:
            if "numpy dtype mapping" not in str(error):
                raise
        # A result IREE cannot map (sub-byte): run again through the low-level API.
        context = rt.SystemContext(config=config, vm_modules=[module])
    return _low_level_tensor_call(rt, config, context, module, function, arguments)


# numpy (ml_dtypes) name of a packed sub-byte integer -> (element type value, bits).
_SUB_BYTE_ELEMENT_TYPES = {
    "int4": (0x10000004, 4), "uint4": (0x12000004, 4),
    "int2": (0x10000002, 2), "uint2": (0x12000002, 2),
}
# Element type value -> numpy dtype name, for results of the low-level path.
_RESULT_DTYPES = {
    0x10000004: "int4", 0x11000004: "int4", 0x12000004: "uint4",
    0x10000002: "int2", 0x11000002: "int2", 0x12000002: "uint2",
    0x13000008: "bool", 0x10000008: "int8", 0x11000008: "int8", 0x12000008: "uint8",
    0x10000010: "int16", 0x11000010: "int16", 0x12000010: "uint16",
    0x10000020: "int32", 0x11000020: "int32", 0x12000020: "uint32",
    0x10000040: "int64", 0x11000040: "int64", 0x12000040: "uint64",
    0x21000010: "float16", 0x21000020: "float32", 0x21000040: "float64",
    0x22000010: "bfloat16", 0x24000008: "float8_e5m2", 0x25000008: "float8_e4m3fn",
    0x26000008: "float8_e5m2fnuz", 0x27000008: "float8_e4m3fnuz",
    0x28000008: "float8_e8m0fnu",
}


def _sub_byte_type(value: Any):
    dtype = getattr(value, "dtype", None)
    return _SUB_BYTE_ELEMENT_TYPES.get(getattr(dtype, "name", None))


def _result_dtype(element_type: int) -> numpy.dtype:
    import ml_dtypes

    name = _RESULT_DTYPES[element_type]
    return numpy.dtype(getattr(ml_dtypes, name, None) or name)


def _low_level_tensor_call(rt, config, context, module, function: str,
                           arguments: Sequence[Any]) -> list:
    device = config.device
    fn = module.lookup_function(function)
    arg_list = rt.VmVariantList(len(arguments))
    for argument in arguments:
        if isinstance(argument, bool) or not isinstance(argument, (int, float, numpy.ndarray)):
            raise TypeError(f"unsupported argument {argument!r}")
        if isinstance(argument, float):
            arg_list.push_float(argument)
        elif isinstance(argument, int):
            arg_list.push_int(argument)
        else:
            sub_byte = _sub_byte_type(argument)
            if sub_byte is None:
                view = device.allocator.allocate_buffer_copy(
                    memory_type=rt.MemoryType.DEVICE_LOCAL, allowed_usage=rt.BufferUsage.DEFAULT,
                    device=device, buffer=numpy.ascontiguousarray(argument),
                    element_type=rt.HalElementType(_element_type_of(argument.dtype)))
            else:
                element_type, bits = sub_byte
                fields = [int(v) & ((1 << bits) - 1) for v in argument.reshape(-1).tolist()]
                packed = bytearray((len(fields) * bits + 7) // 8)
                for index, field in enumerate(fields):
                    packed[index * bits // 8] |= field << (index * bits % 8)
                buffer = device.allocator.allocate_buffer_copy(
                    memory_type=rt.MemoryType.DEVICE_LOCAL, allowed_usage=rt.BufferUsage.DEFAULT,
                    device=device, buffer=numpy.frombuffer(bytes(packed), numpy.uint8))
                view = rt.HalBufferView(buffer, list(argument.shape), element_type)
            arg_list.push_ref(view)
    results = rt.VmVariantList(8)
    context.vm_context.invoke(fn, arg_list, results)
    out = []
    for index in range(results.size):
        value = results.get_variant(index)
        if isinstance(value, (int, float)):
            out.append(numpy.asarray(value))
            continue
        view = results.get_as_object(index, rt.HalBufferView)
        shape = tuple(view.shape)
        element_type = int(view.element_type)
        dtype = _result_dtype(element_type)
        raw = view.get_buffer().map().asarray([view.byte_length], numpy.dtype(numpy.uint8))
        bits = element_type & 0xFF
        if bits >= 8:
            out.append(raw.copy().view(dtype).reshape(shape))
            continue
        count = int(numpy.prod(shape, dtype=numpy.int64))
        signed = dtype.name.startswith("int")
        values = []
        for index_ in range(count):
            field = (int(raw[index_ * bits // 8]) >> (index_ * bits % 8)) & ((1 << bits) - 1)
            if signed and field >= 1 << (bits - 1):
                field -= 1 << bits
            values.append(field)
        out.append(numpy.array(values, numpy.int64).astype(dtype).reshape(shape))
    return out


def _element_type_of(dtype: numpy.dtype) -> int:
    """IREE's Python mapping of a (byte-aligned) numpy dtype."""
    from iree.runtime.dtypes import map_dtype_to_hal_element_type

    element_type = map_dtype_to_hal_element_type(dtype)
    if element_type is None:
        raise TypeError(f"IREE has no element type for {dtype}")
    return int(element_type)
