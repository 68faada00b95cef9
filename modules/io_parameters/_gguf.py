"""``.gguf`` files: reading into an index with the ``gguf`` package's reader.

Each tensor becomes an entry named by the tensor's name, as IREE's
``gguf_parser.c`` names them: its bytes start at the tensor-data base (the
end of the tensor-info table rounded up to ``general.alignment``, 32 by
default) plus the tensor's offset, and its length is elements × the GGML
type's block size in bytes ÷ elements per block. Metadata key-value pairs
are not parameters and are skipped.

The parsing is ``gguf.GGUFReader``'s (imported lazily: the package is the
``gguf`` extra, ``pip install asyncvm[gguf]``; without it reading a
``.gguf`` file is UNAVAILABLE saying so). Before the reader runs, a short
walk over the header checks that every length and count it will follow fits
in the file (the reader trusts them: an array count of 2**60 would keep it
busy for ever); after it, every tensor's range is checked against the file
size exactly. Anything the reader raises on a broken file becomes
INVALID_ARGUMENT naming the file. Big-endian files are not read (IREE reads
only little-endian GGUF). IREE's parser knows only the GGML types up to
I32; types the ``gguf`` package knows beyond that (BF16, F64, I64, the IQ
quantizations...) are read here and sized by the package's table.
"""

from __future__ import annotations

import struct

import numpy

from asyncvm.vm import StatusCode, VMError

from ._bounds import bounded_element_count

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_ARRAY_NESTING = 8

# Sizes of GGUF metadata value types (the 13 of the specification).
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def _invalid(path: str, message: str) -> VMError:
    return VMError(StatusCode.INVALID_ARGUMENT, f"{path}: {message}")


def import_gguf(path: str = ""):
    """The ``gguf`` package; UNAVAILABLE saying how to install it if missing."""
    try:
        import gguf
    except ImportError:
        prefix = f"{path}: " if path else ""
        raise VMError(StatusCode.UNAVAILABLE,
                      f"{prefix}reading .gguf parameter files needs the gguf package: "
                      f"pip install asyncvm[gguf]") from None
    return gguf


class _Walker:
    """Bounds-checked reads over the header, for :func:`check_header`."""

    def __init__(self, view: memoryview, size: int, path: str) -> None:
        self.view, self.size, self.path, self.position = view, size, path, 0

    def need(self, count: int, what: str) -> None:
        if count > self.size - self.position:
            raise _invalid(self.path, f"GGUF header truncated: {what} at offset "
                                      f"{self.position} needs {count} bytes, "
                                      f"{self.size - self.position} remain")

    def u32(self, what: str) -> int:
        self.need(4, what)
        (value,) = _U32.unpack_from(self.view, self.position)
        self.position += 4
        return value

    def u64(self, what: str) -> int:
        self.need(8, what)
        (value,) = _U64.unpack_from(self.view, self.position)
        self.position += 8
        return value

    def string(self, what: str) -> bytes:
        length = self.u64(f"length of {what}")
        self.need(length, what)
        start = self.position
        self.position += length
        return bytes(self.view[start:start + length])

    def value(self, value_type: int, what: str, depth: int = 0) -> None:
        if value_type in _SCALAR_SIZES:
            self.need(_SCALAR_SIZES[value_type], what)
            self.position += _SCALAR_SIZES[value_type]
        elif value_type == _STRING:
            length = self.u64(f"length of {what}")
            self.need(length, what)
            self.position += length
        elif value_type == _ARRAY:
            if depth >= MAX_ARRAY_NESTING:
                raise _invalid(self.path, f"{what}: arrays nested more than "
                                          f"{MAX_ARRAY_NESTING} deep")
            item_type = self.u32(f"item type of {what}")
            count = self.u64(f"length of {what}")
            if item_type in _SCALAR_SIZES:
                self.need(count * _SCALAR_SIZES[item_type], f"{count} items of {what}")
                self.position += count * _SCALAR_SIZES[item_type]
                return
            # Every string item takes 8 bytes at least, every array 12.
            self.need(count * (8 if item_type == _STRING else 12), f"{count} items of {what}")
            for _ in range(count):
                self.value(item_type, f"an item of {what}", depth + 1)
        else:
            raise _invalid(self.path, f"{what}: unknown GGUF value type {value_type}")


def check_header(data: numpy.ndarray, path: str, quant_sizes) -> None:
    """Walks the GGUF header of the file mapped as ``data``, checking that
    every length and count fits in the file, every tensor's GGML type is one
    of ``quant_sizes`` (``type: (elements per block, bytes per block)``) and
    every tensor's data lies in the file; INVALID_ARGUMENT / UNIMPLEMENTED
    naming the file (and the tensor) otherwise."""
    size = int(data.shape[0])
    walker = _Walker(memoryview(data), size, path)
    walker.need(4, "magic")
    if bytes(data[:4]) != GGUF_MAGIC:
        raise _invalid(path, f"not a GGUF file (magic {bytes(data[:4])!r}, expected b'GGUF')")
    walker.position = 4
    version = walker.u32("version")
    if version not in SUPPORTED_VERSIONS:
        if version & 0xFFFF == 0 and (version >> 24) in SUPPORTED_VERSIONS:
            raise VMError(StatusCode.UNIMPLEMENTED,
                          f"{path}: big-endian GGUF files are not supported (IREE reads "
                          f"little-endian GGUF only)")
        raise VMError(StatusCode.UNIMPLEMENTED,
                      f"{path}: GGUF version {version} is not supported (2 and 3 are)")
    tensor_count = walker.u64("tensor count")
    kv_count = walker.u64("metadata count")
    # A key-value pair takes 13 bytes at least, a tensor info 24.
    walker.need(kv_count * 13 + tensor_count * 24, f"{kv_count} metadata pairs and "
                                                   f"{tensor_count} tensor infos")
    alignment = DEFAULT_ALIGNMENT
    for i in range(kv_count):
        key = walker.string(f"metadata key {i}").decode("utf-8", "replace")
        value_type = walker.u32(f"value type of metadata {key!r}")
        start = walker.position
        walker.value(value_type, f"metadata {key!r}")
        if key == "general.alignment":
            if value_type != 4:  # UINT32, as IREE and the gguf package require
                raise _invalid(path, f"general.alignment has value type {value_type}, "
                                     f"not uint32")
            (alignment,) = _U32.unpack_from(walker.view, start)
            if alignment == 0 or alignment & (alignment - 1):
                raise _invalid(path, f"general.alignment {alignment} is not a power of two")
    tensors = []
    names = set()
    for i in range(tensor_count):
        raw_name = walker.string(f"name of tensor {i}")
        name = raw_name.decode("utf-8", "replace")
        dimensions = walker.u32(f"dimension count of tensor {name!r}")
        walker.need(dimensions * 8, f"{dimensions} dimensions of tensor {name!r}")
        shape = struct.unpack_from(f"<{dimensions}Q", walker.view, walker.position)
        walker.position += dimensions * 8
        ggml_type = walker.u32(f"type of tensor {name!r}")
        if ggml_type not in quant_sizes:
            raise _invalid(path, f"tensor {name!r}: unknown GGML type {ggml_type}")
        offset = walker.u64(f"offset of tensor {name!r}")
        if name in names:
            raise VMError(StatusCode.ALREADY_EXISTS,
                          f"{path}: tensor {name!r} appears twice in the GGUF file")
        names.add(name)
        tensors.append((name, shape, ggml_type, offset))
    base = -(-walker.position // alignment) * alignment
    for name, shape, ggml_type, offset in tensors:
        block_elements, block_bytes = quant_sizes[ggml_type]
        length = bounded_element_count(shape, size * block_elements) * block_bytes // block_elements
        if base + offset + length > size:
            raise _invalid(path, f"tensor {name!r}: data [{base + offset}, "
                                 f"{base + offset + length}) lies outside the {size}-byte file")


def read_gguf(index, data: numpy.ndarray, path: str, scope: str = "") -> None:
    """Adds every tensor of the GGUF file mapped as ``data`` to ``index``
    under ``scope`` as a view of ``data``; see the module docstring."""
    gguf = import_gguf(path)
    from gguf.constants import GGML_QUANT_SIZES

    check_header(data, path, GGML_QUANT_SIZES)
    try:
        reader = gguf.GGUFReader(path, "r")
        tensors = [(tensor.name, int(tensor.data_offset), int(tensor.n_bytes))
                   for tensor in reader.tensors]
        byte_order = reader.byte_order
        del reader
    except VMError:
        raise
    except Exception as error:  # the reader's own complaint about a broken file
        raise _invalid(path, f"not a valid GGUF file: {type(error).__name__}: {error}") from None
    if byte_order != "I":
        raise VMError(StatusCode.UNIMPLEMENTED,
                      f"{path}: big-endian GGUF files are not supported")
    size = int(data.shape[0])
    for name, offset, length in tensors:
        if offset < 0 or length < 0 or offset + length > size:
            raise _invalid(path, f"tensor {scope}::{name}: data [{offset}, {offset + length}) "
                                 f"lies outside the {size}-byte file")
        index.add_range(scope, name, data, offset, length, path)


__all__ = ["read_gguf", "check_header", "import_gguf"]
