"""IREE parameter archives (``.irpa``): reading into an index, and writing.

The layout (IREE's ``runtime/src/iree/schemas/parameter_archive.h``; all
fields little-endian, structures packed):

* a header, 16-byte aligned in the file: the prefix (magic ``IRPA`` =
  0x41505249, version major.minor u16 each, ``header_size`` u64 including the
  magic, ``next_header_offset`` u64 relative to this header, 0 for none,
  ``flags`` u64), then for version 0.0: ``entry_count`` u64 and three
  ``(offset, length)`` u64 ranges, each relative to the header: the entry
  table, the metadata segment (names and metadata blobs, unaligned) and the
  storage segment (parameter contents). 88 bytes in all; segments may
  overlap.
* the entry table: ``entry_count`` entries, each starting 16-byte aligned,
  each a common header (``entry_size`` u64 — excluding trailing padding —
  ``type`` u32, ``flags`` u64, ``name`` and ``metadata`` ranges into the
  metadata segment, ``minimum_alignment`` u64: 60 bytes) and then by type:
  0 SKIP (ignored), 1 SPLAT (``length`` u64, ``pattern[16]``,
  ``pattern_length`` u8: 85 bytes), 2 DATA (a ``(offset, length)`` range into
  the storage segment: 76 bytes), 3 EXTERNAL (a path and a range of another
  file; IREE's parser rejects it, so do we).

Reading follows IREE's ``irpa_parser.c`` (the same checks, the same
acceptance of overlapping segments and entries, zero-length references
unchecked) but with exact integer arithmetic: every offset and length is
checked against the file size and its segment, so a lying header is
INVALID_ARGUMENT naming the file and the entry (never a read outside the
file), and an entry table that runs out before ``entry_count`` entries is an
error rather than IREE's unsigned wrap-around. Linked archives
(``next_header_offset``) are followed with each header's offsets relative to
that header, as the schema says; the next header must be 16-byte aligned.

Writing follows IREE's ``irpa_builder.c`` byte for byte (the tests compare
with ``iree.runtime``'s writer): header at 0, entry table at 96 with
entries 16-byte aligned, the metadata segment right after the table (each
entry's name then its metadata), the storage segment aligned to 64 (when
there is any data entry) with each data entry 64-byte aligned in it, and
the file padded to a multiple of 4096. Contents are streamed from the
entries' views in chunks, so writing a big file needs little memory; the
file appears atomically (written beside the target, then renamed).
"""

from __future__ import annotations

import os
import secrets
import struct
from typing import Callable, Iterable

import numpy

from asyncvm.vm import StatusCode, VMError

MAGIC = 0x41505249  # b"IRPA" little-endian
HEADER_ALIGNMENT = 16
ENTRY_ALIGNMENT = 16
DATA_ALIGNMENT = 64
FILE_ALIGNMENT = 4096
MAX_PATTERN_LENGTH = 16

ENTRY_TYPE_SKIP = 0
ENTRY_TYPE_SPLAT = 1
ENTRY_TYPE_DATA = 2
ENTRY_TYPE_EXTERNAL = 3

_PREFIX = struct.Struct("<IHHQQQ")           # magic, major, minor, header_size, next, flags
_HEADER_V0 = struct.Struct("<IHHQQQQQQQQQQ")  # prefix + entry_count + 3 ranges
_ENTRY_HEADER = struct.Struct("<QIQQQQQQ")    # size, type, flags, name, metadata, alignment
_SPLAT_TAIL = struct.Struct("<Q16sB")         # length, pattern, pattern_length
_DATA_TAIL = struct.Struct("<QQ")             # storage offset, storage length

SPLAT_ENTRY_SIZE = _ENTRY_HEADER.size + _SPLAT_TAIL.size  # 85
DATA_ENTRY_SIZE = _ENTRY_HEADER.size + _DATA_TAIL.size    # 76

assert _PREFIX.size == 32 and _HEADER_V0.size == 88 and _ENTRY_HEADER.size == 60
assert SPLAT_ENTRY_SIZE == 85 and DATA_ENTRY_SIZE == 76

_WRITE_CHUNK = 16 << 20


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment if alignment > 1 else value


def _invalid(path: str, message: str) -> VMError:
    return VMError(StatusCode.INVALID_ARGUMENT, f"{path}: {message}")


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def read_irpa(index, data: numpy.ndarray, path: str, scope: str = "") -> None:
    """Adds the entries of the archive(s) in ``data`` (the file's mapping)
    to ``index`` under ``scope``: data entries as views of ``data``, splats
    as patterns. See the module docstring for what is checked."""
    size = int(data.shape[0])
    view = memoryview(data)
    base = 0
    while True:
        where = f"IRPA header at offset {base}" if base else "IRPA header"
        if base + _PREFIX.size > size:
            if base == 0:
                raise _invalid(path, f"not enough bytes for an IRPA header ({size} bytes; "
                                     f"the file may be empty or truncated)")
            raise _invalid(path, f"linked {where} lies outside the {size}-byte file")
        magic, major, minor, header_size, next_offset, _flags = _PREFIX.unpack_from(view, base)
        if magic != MAGIC:
            raise _invalid(path, f"{where}: magic {magic:08X} is not {MAGIC:08X} (IRPA)")
        if major != 0 or minor != 0:
            raise VMError(StatusCode.UNIMPLEMENTED,
                          f"{path}: {where}: IRPA version {major}.{minor} is not supported "
                          f"(only 0.0, as in IREE)")
        if header_size != _HEADER_V0.size:
            raise _invalid(path, f"{where}: a version 0 header is {_HEADER_V0.size} bytes "
                                 f"but this one says {header_size}")
        if base + header_size > size:
            raise _invalid(path, f"{where}: its {header_size} bytes run past the end of "
                                 f"the {size}-byte file")
        if next_offset:
            if (base + next_offset) % HEADER_ALIGNMENT:
                raise _invalid(path, f"{where}: linked header offset {base + next_offset} "
                                     f"is not {HEADER_ALIGNMENT}-byte aligned")
            if base + next_offset + _PREFIX.size > size:
                raise _invalid(path, f"{where}: linked header at offset {base + next_offset} "
                                     f"lies outside the {size}-byte file")
        _read_archive(index, data, view, size, base, path, scope, where)
        if not next_offset:
            return
        base += next_offset


def _read_archive(index, data, view, size: int, base: int, path: str, scope: str,
                  where: str) -> None:
    fields = _HEADER_V0.unpack_from(view, base)
    entry_count = fields[6]
    segments = {"entry table": fields[7:9], "metadata segment": fields[9:11],
                "storage segment": fields[11:13]}
    for name, (offset, length) in segments.items():
        if length and base + offset + length > size:
            raise _invalid(path, f"{where}: {name} [{base + offset}, {base + offset + length}) "
                                 f"lies outside the {size}-byte file")
    table_offset, table_length = segments["entry table"]
    metadata_offset, metadata_length = segments["metadata segment"]
    storage_offset, storage_length = segments["storage segment"]

    def metadata_bytes(i: int, what: str, offset: int, length: int) -> bytes:
        if length == 0:
            return b""
        if offset + length > metadata_length:
            raise _invalid(path, f"{where}: entry {i}: {what} [{offset}, {offset + length}) "
                                 f"lies outside the {metadata_length}-byte metadata segment")
        start = base + metadata_offset + offset
        return bytes(view[start:start + length])

    position = 0  # within the entry table
    for i in range(entry_count):
        if position + _ENTRY_HEADER.size > table_length:
            raise _invalid(path, f"{where}: entry table truncated: entry {i} of {entry_count} "
                                 f"at table offset {position} needs {_ENTRY_HEADER.size} bytes "
                                 f"but the table has {table_length}")
        start = base + table_offset + position
        (entry_size, entry_type, _flags, name_offset, name_length, blob_offset, blob_length,
         _alignment) = _ENTRY_HEADER.unpack_from(view, start)
        if entry_size < _ENTRY_HEADER.size or position + entry_size > table_length:
            raise _invalid(path, f"{where}: entry {i} declares {entry_size} bytes at table "
                                 f"offset {position} of a {table_length}-byte entry table")
        position += _align(entry_size, ENTRY_ALIGNMENT)

        raw_name = metadata_bytes(i, "name", name_offset, name_length)
        try:
            key = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid(path, f"{where}: entry {i}: name {raw_name!r} is not UTF-8") from None
        blob = metadata_bytes(i, f"metadata of {scope}::{key}", blob_offset, blob_length)
        what = f"{where}: parameter {scope}::{key}"

        if entry_type == ENTRY_TYPE_SKIP:
            continue
        if entry_type == ENTRY_TYPE_SPLAT:
            if entry_size < SPLAT_ENTRY_SIZE:
                raise _invalid(path, f"{what}: a splat entry needs {SPLAT_ENTRY_SIZE} bytes, "
                                     f"this one declares {entry_size}")
            length, pattern, pattern_length = _SPLAT_TAIL.unpack_from(
                view, start + _ENTRY_HEADER.size)
            if not 1 <= pattern_length <= MAX_PATTERN_LENGTH or length % pattern_length:
                raise _invalid(path, f"{what}: a splat of a {pattern_length}-byte pattern "
                                     f"cannot fill {length} bytes")
            index.add_splat(scope, key, pattern[:pattern_length], length, path, metadata=blob)
        elif entry_type == ENTRY_TYPE_DATA:
            if entry_size < DATA_ENTRY_SIZE:
                raise _invalid(path, f"{what}: a data entry needs {DATA_ENTRY_SIZE} bytes, "
                                     f"this one declares {entry_size}")
            offset, length = _DATA_TAIL.unpack_from(view, start + _ENTRY_HEADER.size)
            if length == 0:
                index.add_range(scope, key, data, 0, 0, path, metadata=blob)
                continue
            if offset + length > storage_length:
                raise _invalid(path, f"{what}: storage [{offset}, {offset + length}) lies "
                                     f"outside the {storage_length}-byte storage segment")
            index.add_range(scope, key, data, base + storage_offset + offset, length, path,
                            metadata=blob)
        elif entry_type == ENTRY_TYPE_EXTERNAL:
            raise VMError(StatusCode.UNIMPLEMENTED,
                          f"{path}: {what}: external-file entries are not supported "
                          f"(IREE's parser does not read them either)")
        else:
            raise VMError(StatusCode.UNIMPLEMENTED,
                          f"{path}: {what}: unknown entry type {entry_type}")


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def irpa_layout(entries: list) -> tuple[bytes, list[tuple], int, int]:
    """The archive IREE's builder would write for ``entries`` (in order):
    the encoded header; one ``(name, metadata, encoded table entry, offset
    in the storage segment or None for a splat, entry)`` per entry; the
    storage segment's file offset; the file size. INVALID_ARGUMENT /
    ALREADY_EXISTS naming a bad entry."""
    rows = []
    names = set()
    table_length = 0
    metadata_length = 0
    storage_length = 0
    has_data = False
    for entry in entries:
        try:
            name = entry.key.encode("utf-8")
        except UnicodeEncodeError:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"parameter {entry.name}: the key is not encodable as UTF-8") from None
        if name in names:
            raise VMError(StatusCode.ALREADY_EXISTS,
                          f"parameter key {entry.key!r} appears twice (archives have no scopes; "
                          f"again from {entry.source})")
        names.add(name)
        metadata = bytes(entry.metadata or b"")
        name_ref = (metadata_length, len(name))
        metadata_length += len(name)
        metadata_ref = (metadata_length if metadata else 0, len(metadata))
        metadata_length += len(metadata)
        table_length = _align(table_length, ENTRY_ALIGNMENT)
        if entry.pattern is not None:
            pattern = bytes(entry.pattern)
            if not 1 <= len(pattern) <= MAX_PATTERN_LENGTH or entry.length % len(pattern):
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"parameter {entry.name}: a splat of a {len(pattern)}-byte "
                              f"pattern cannot fill {entry.length} bytes")
            row = _ENTRY_HEADER.pack(SPLAT_ENTRY_SIZE, ENTRY_TYPE_SPLAT, 0, *name_ref,
                                     *metadata_ref, 0)
            row += _SPLAT_TAIL.pack(entry.length, pattern.ljust(MAX_PATTERN_LENGTH, b"\0"),
                                    len(pattern))
            rows.append((name, metadata, row, None, entry))
            table_length += SPLAT_ENTRY_SIZE
        else:
            if entry.data is None or int(entry.data.shape[0]) != entry.length:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"parameter {entry.name}: has no {entry.length} bytes of data")
            offset = _align(storage_length, DATA_ALIGNMENT)
            row = _ENTRY_HEADER.pack(DATA_ENTRY_SIZE, ENTRY_TYPE_DATA, 0, *name_ref,
                                     *metadata_ref, DATA_ALIGNMENT)
            row += _DATA_TAIL.pack(offset, entry.length)
            rows.append((name, metadata, row, offset, entry))
            table_length += DATA_ENTRY_SIZE
            storage_length = offset + entry.length
            has_data = True
    table_offset = _align(_HEADER_V0.size, ENTRY_ALIGNMENT)
    metadata_offset = table_offset + table_length
    storage_offset = _align(metadata_offset + metadata_length, DATA_ALIGNMENT if has_data else 1)
    header = _HEADER_V0.pack(MAGIC, 0, 0, _HEADER_V0.size, 0, 0, len(rows),
                             table_offset, table_length, metadata_offset, metadata_length,
                             storage_offset, storage_length)
    file_size = _align(storage_offset + storage_length, FILE_ALIGNMENT)
    return header, rows, storage_offset, file_size


def write_irpa(path, entries: Iterable, *,
               progress: Callable[[int], None] | None = None) -> int:
    """Writes ``entries`` (:class:`~._index.ParameterEntry` objects, e.g. a
    :class:`~._index.ParameterIndex`; their scopes are dropped, as archives
    have none) to a new IREE parameter archive at ``path``, laid out as
    IREE's builder does. Data entries are streamed from their views in
    chunks; ``progress(n)`` is called after each ``n`` bytes of contents.
    The file is written beside ``path`` and renamed over it at the end, so
    ``path`` may be one of the inputs. Returns the file size.

    ALREADY_EXISTS for a key twice (in any scopes), INVALID_ARGUMENT for an
    entry that cannot be stored, UNAVAILABLE naming ``path`` if writing fails."""
    entries = list(entries)
    header, rows, storage_offset, file_size = irpa_layout(entries)
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    temporary = os.path.join(directory, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "wb") as file:
            file.write(header)
            file.write(b"\0" * (_align(len(header), ENTRY_ALIGNMENT) - len(header)))
            written = _align(len(header), ENTRY_ALIGNMENT)
            for _name, _metadata, row, _offset, _entry in rows:
                padding = _align(written, ENTRY_ALIGNMENT) - written
                file.write(b"\0" * padding + row)
                written += padding + len(row)
            for name, metadata, _row, _offset, _entry in rows:
                file.write(name)
                file.write(metadata)
            for _name, _metadata, _row, offset, entry in rows:
                if offset is None or entry.length == 0:
                    continue
                file.seek(storage_offset + offset)
                source = entry.data
                for start in range(0, entry.length, _WRITE_CHUNK):
                    # A view of a mapping is contiguous already (no copy);
                    # a strided user array costs one chunk at a time.
                    chunk = numpy.ascontiguousarray(source[start:start + _WRITE_CHUNK])
                    file.write(memoryview(chunk))
                    if progress is not None:
                        progress(int(chunk.shape[0]))
            file.truncate(file_size)
        os.replace(temporary, target)
    except OSError as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise VMError(StatusCode.UNAVAILABLE,
                      f"{target}: cannot write parameter archive: "
                      f"{error.strerror or error}") from None
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return file_size


__all__ = ["read_irpa", "write_irpa", "irpa_layout", "MAGIC"]
