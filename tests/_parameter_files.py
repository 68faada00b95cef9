"""Writers of small parameter files for the tests (.safetensors and .gguf).

The runtime's own readers are what the tests check; these write files the
way the formats' own tools do, from numpy arrays.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy
import pytest

SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16", "int8": "I8", "uint8": "U8",
                      "int32": "I32", "int64": "I64", "float64": "F64", "bool": "BOOL",
                      "int16": "I16", "uint16": "U16"}


def write_safetensors(path, tensors: dict, *, padding: int = 0, metadata=None,
                      header_override=None) -> Path:
    """A .safetensors file: 8-byte little-endian header length, the JSON
    header (``header_override`` may rewrite it, or give raw bytes), then the
    contents in order. The header is not padded unless ``padding`` asks, so
    the data is rarely 64-byte aligned."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, array in tensors.items():
        array = numpy.ascontiguousarray(array)
        blob = array.tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[array.dtype.name], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if header_override is not None:
        header = header_override(header)
    text = json.dumps(header) if not isinstance(header, bytes) else header
    raw = (text.encode() if isinstance(text, str) else text) + b" " * padding
    Path(path).write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
    return Path(path)


def write_gguf(path, tensors: dict, *, metadata: bool = True, arch: str = "llama") -> Path:
    """A .gguf file written by the ``gguf`` package (32-byte aligned data).
    A tensor is a numpy array, or ``(raw bytes array, quantization)`` where
    the quantization is a ``GGMLQuantizationType`` or its name. With
    ``metadata``, a few key/value pairs of several kinds are written too."""
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(path), arch)
    if metadata:
        writer.add_uint32("test.count", 7)
        writer.add_string("test.name", "weights")
        writer.add_array("test.list", [1, 2, 3])
        writer.add_array("test.words", ["a", "bc", "def"])
    for name, value in tensors.items():
        if isinstance(value, tuple):
            quantization = value[1]
            if isinstance(quantization, str):
                quantization = getattr(gguf.GGMLQuantizationType, quantization)
            writer.add_tensor(name, value[0], raw_dtype=quantization)
        else:
            writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(path)
