"""The tensor allocator tvm-ffi libraries ask their host for.

Kernel libraries written for tvm-ffi allocate their results with
``ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, shape, dtype, device)``,
which calls the DLPack allocator the host process registered (PyTorch
registers one; a bare process has none, and the call fails). asyncvm
registers its own the first time a native module loads, unless one is
already there: host memory from numpy, 64-byte aligned as the HAL's
buffers are, so a result becomes a buffer view without a copy.

The allocator is a ctypes callback: it runs on whichever thread the
library calls it from and takes the GIL for the allocation. It allocates
CPU tensors of the standard numpy types; anything else fails in the library
with the reason (tvm-ffi raises it as a RuntimeError).
"""

from __future__ import annotations

import ctypes
import threading

import numpy

from asyncvm.vm import allocate_storage


class _Device(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _Device), ("ndim", ctypes.c_int32),
                ("dtype", _DataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_SET_ERROR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p)
_ALLOCATOR = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_Tensor),
                              ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, _SET_ERROR)

_CPU = 1
_KINDS = {0: "i", 1: "u", 2: "f", 5: "c", 6: "b"}  # DLPack type codes -> numpy kinds
_CAPSULE = b"dltensor_versioned"
_USED_CAPSULE = b"used_dltensor_versioned"

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_set_name = ctypes.pythonapi.PyCapsule_SetName
_set_name.restype = ctypes.c_int
_set_name.argtypes = [ctypes.py_object, ctypes.c_char_p]

_installed_lock = threading.Lock()
_installed: list = []  # the callback object, kept alive while registered


def _numpy_dtype(code: int, bits: int, lanes: int) -> numpy.dtype:
    kind = _KINDS.get(code)
    if kind is None or lanes != 1 or bits % 8:
        raise ValueError(f"no numpy type for DLPack type code {code}, {bits} bits, {lanes} lanes")
    return numpy.dtype(f"{kind}{bits // 8}" if kind != "b" else "?")


def _allocate(prototype, out, error_context, set_error) -> int:
    try:
        tensor = prototype.contents
        if tensor.device.device_type != _CPU:
            raise ValueError(f"asyncvm allocates host (CPU) tensors only, not device type "
                             f"{tensor.device.device_type}")
        dtype = _numpy_dtype(tensor.dtype.code, tensor.dtype.bits, tensor.dtype.lanes)
        shape = tuple(tensor.shape[index] for index in range(tensor.ndim))
        if any(extent < 0 for extent in shape):
            raise ValueError(f"negative extent in shape {shape}")
        count = 1
        for extent in shape:
            count *= extent
        array = allocate_storage(max(count * dtype.itemsize, 1), zeroed=False)
        array = array[:count * dtype.itemsize].view(dtype).reshape(shape)
        capsule = array.__dlpack__(max_version=(1, 0))
        pointer = _get_pointer(capsule, _CAPSULE)
        _set_name(capsule, _USED_CAPSULE)  # the consumer owns it now: no deleter at capsule death
        out[0] = pointer
        return 0
    except Exception as error:  # must not unwind into C
        set_error(error_context, type(error).__name__.encode(), str(error).encode())
        return -1


def install_tensor_allocator(library: ctypes.CDLL) -> bool:
    """Registers the allocator with tvm-ffi (``library`` is its C library)
    as the process-wide default, unless one is registered already. Returns
    whether asyncvm's allocator is the one in place. Idempotent."""
    with _installed_lock:
        if _installed:
            return True
        get = library.TVMFFIEnvGetDLPackManagedTensorAllocator
        get.restype = ctypes.c_void_p
        if get():
            return False
        callback = _ALLOCATOR(_allocate)
        register = library.TVMFFIEnvSetDLPackManagedTensorAllocator
        register.restype = ctypes.c_int
        register.argtypes = [_ALLOCATOR, ctypes.c_int, ctypes.c_void_p]
        if register(callback, 1, None) != 0:
            return False
        _installed.append(callback)
        return True
