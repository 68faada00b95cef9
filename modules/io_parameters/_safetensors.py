"""``.safetensors`` files: reading into an index.

The format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON,
then the data. The JSON object maps tensor names to ``{"dtype": "F32",
"shape": [2, 3], "data_offsets": [begin, end]}`` with offsets relative to
the end of the header; ``__metadata__`` (free-form strings) is ignored, as
IREE ignores it.

IREE's ``safetensors_parser.c`` checks only that ``begin <= end <= data
size``. We check that too, exactly, and what the safetensors specification
requires besides: the header is a JSON object of objects, ``dtype`` is a
known name, ``shape`` a list of non-negative integers, ``data_offsets``
two non-negative integers, and ``shape`` × the dtype's size equals
``end - begin``; a name twice in the header is ALREADY_EXISTS. Like IREE we
accept tensors that overlap or leave gaps (the safetensors library rejects
those; IREE reads them, and so do we, as views). Every error is a VMError
naming the file, and the tensor where known.
"""

from __future__ import annotations

import json

import numpy

from asyncvm.vm import StatusCode, VMError

from ._bounds import bounded_element_count

# Bits per element of each dtype the safetensors specification names.
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}

_LENGTH_BYTES = 8


def _invalid(path: str, message: str) -> VMError:
    return VMError(StatusCode.INVALID_ARGUMENT, f"{path}: {message}")


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def parse_header(data: numpy.ndarray, path: str) -> tuple[dict, int]:
    """The header object and the file offset where the data begins."""
    size = int(data.shape[0])
    if size < _LENGTH_BYTES:
        raise _invalid(path, f"too short for a safetensors header length "
                             f"({size} bytes; need at least {_LENGTH_BYTES})")
    header_length = int.from_bytes(bytes(data[:_LENGTH_BYTES]), "little")
    if header_length > size - _LENGTH_BYTES:
        raise _invalid(path, f"safetensors header says it is {header_length} bytes but only "
                             f"{size - _LENGTH_BYTES} follow the length")
    raw = bytes(data[_LENGTH_BYTES:_LENGTH_BYTES + header_length])
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _DuplicateKey as duplicate:
        raise VMError(StatusCode.ALREADY_EXISTS,
                      f"{path}: safetensors header names {duplicate.args[0]!r} twice") from None
    except UnicodeDecodeError as error:
        raise _invalid(path, f"safetensors header is not UTF-8 ({error.reason} at byte "
                             f"{_LENGTH_BYTES + error.start})") from None
    except json.JSONDecodeError as error:
        raise _invalid(path, f"safetensors header is not valid JSON: {error.msg} at "
                             f"header offset {error.pos}") from None
    except ValueError as error:  # e.g. an integer beyond Python's digit limit
        raise _invalid(path, f"safetensors header is not valid JSON: {error}") from None
    except RecursionError:
        raise _invalid(path, "safetensors header nests too deeply") from None
    if not isinstance(header, dict):
        raise _invalid(path, f"safetensors header is a JSON {type(header).__name__}, "
                             f"not an object")
    return header, _LENGTH_BYTES + header_length


def read_safetensors(index, data: numpy.ndarray, path: str, scope: str = "") -> None:
    """Adds every tensor of the file mapped as ``data`` to ``index`` under
    ``scope`` as a view of ``data``; see the module docstring."""
    header, base = parse_header(data, path)
    available = int(data.shape[0]) - base
    for key, info in header.items():
        if key == "__metadata__":
            continue
        what = f"tensor {key!r}"
        if not isinstance(info, dict):
            raise _invalid(path, f"{what}: expected an object with dtype, shape and "
                                 f"data_offsets")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
            raise _invalid(path, f"{what}: unknown dtype {dtype!r} "
                                 f"(known: {', '.join(DTYPE_BITS)})")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise _invalid(path, f"{what}: shape {shape!r} is not a list of non-negative "
                                 f"integers")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(_is_count(o) for o in offsets)):
            raise _invalid(path, f"{what}: data_offsets {offsets!r} is not [begin, end]")
        begin, end = offsets
        if begin > end or end > available:
            raise _invalid(path, f"{what}: data_offsets [{begin}, {end}) lie outside the "
                                 f"{available} bytes of data after the header")
        available_bits = (end - begin) * 8
        count = bounded_element_count(shape, available_bits)
        bits = count * DTYPE_BITS[dtype]
        if bits != available_bits:
            needs = "more bytes than that" if count > available_bits else f"{bits / 8:g} bytes"
            raise _invalid(path, f"{what}: shape {shape if len(shape) <= 8 else '[...]'} of "
                                 f"{dtype} needs {needs} but data_offsets [{begin}, {end}) "
                                 f"hold {end - begin}")
        index.add_range(scope, key, data, base + begin, end - begin, path)


__all__ = ["read_safetensors", "parse_header", "DTYPE_BITS"]
