"""The parameter index: ``scope::key`` to bytes, without copying big weights.

An index holds entries by scope (a program's ``#flow.parameter.named<"scope"::"key">``
names them; the empty scope is the default). An entry is either a byte range
of a memory-mapped file (or of an in-memory array) or a splat: a short
pattern repeated to a length (``.irpa`` stores zero-filled and constant
parameters that way). Readers of the file formats add entries with
:meth:`ParameterIndex.add_range` and :meth:`ParameterIndex.add_splat`; a user
adds numpy arrays with :meth:`ParameterIndex.add_array` and whole files
(``.irpa``, ``.safetensors``, ``.gguf``, memory-mapped) with
:meth:`ParameterIndex.add_file` or :func:`load_parameter_file`.

Ownership: an entry's ``data`` is a read-only ``uint8`` view of its file's
mapping (or of the array), kept alive by the entry; nothing is copied when
an entry is added or looked up. Lookups are thread-safe once the index is
filled (filling is not). Nothing here suspends.

Errors: NOT_FOUND naming ``scope::key`` for a missing entry; ALREADY_EXISTS
for a key added twice to one scope; INVALID_ARGUMENT for a bad range or
pattern, or a parameter file whose header lies (naming the file, and the
key where known).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy

from asyncvm.vm import StatusCode, VMError


@dataclass(frozen=True)
class ParameterEntry:
    """One parameter: ``length`` bytes, from ``data`` (a read-only uint8 view)
    or, for a splat, ``pattern`` repeated. ``source`` names where it came
    from (a file path, or ``<memory>``) for error messages. ``offset`` is
    where ``data`` starts in the array given to :meth:`ParameterIndex.add_range`
    (for an entry read from a file: its byte offset in the file; None for a
    splat); ``metadata`` is the entry's opaque metadata blob (``.irpa``
    entries may carry one; empty otherwise)."""

    scope: str
    key: str
    length: int
    data: numpy.ndarray | None = None
    pattern: bytes | None = None
    source: str = "<memory>"
    offset: int | None = None
    metadata: bytes = b""

    @property
    def name(self) -> str:
        return f"{self.scope}::{self.key}"

    @property
    def is_splat(self) -> bool:
        return self.pattern is not None

    def read(self, offset: int, length: int) -> numpy.ndarray:
        """``length`` bytes from ``offset`` as a uint8 array: a view for a
        range entry, a new array for a splat. OUT_OF_RANGE naming the entry
        when the range is outside it."""
        if offset < 0 or length < 0 or offset + length > self.length:
            raise VMError(StatusCode.OUT_OF_RANGE,
                          f"parameter {self.name} ({self.source}): range [{offset}, "
                          f"{offset + length}) outside its {self.length} bytes")
        if self.pattern is None:
            return self.data[offset:offset + length]
        return _splat_bytes(self.pattern, offset, length)


def _splat_bytes(pattern: bytes, offset: int, length: int) -> numpy.ndarray:
    size = len(pattern)
    repeated = numpy.frombuffer(pattern, numpy.uint8)
    start = offset % size
    count = (start + length + size - 1) // size
    return numpy.tile(repeated, count)[start:start + length]


class ParameterIndex:
    """Parameters by scope and key; see the module docstring."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], ParameterEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries.values())

    @property
    def scopes(self) -> list[str]:
        return sorted({scope for scope, _ in self._entries})

    def lookup(self, scope: str, key: str) -> ParameterEntry:
        """The entry for ``scope::key``; NOT_FOUND naming it otherwise."""
        entry = self._entries.get((scope, key))
        if entry is None:
            raise VMError(StatusCode.NOT_FOUND, f"parameter {scope}::{key} not found"
                          + (f" (scopes: {', '.join(repr(s) for s in self.scopes)})"
                             if self._entries else " (the index is empty)"))
        return entry

    def _add(self, entry: ParameterEntry) -> ParameterEntry:
        if (entry.scope, entry.key) in self._entries:
            raise VMError(StatusCode.ALREADY_EXISTS,
                          f"parameter {entry.name} is already in the index "
                          f"(from {self._entries[entry.scope, entry.key].source}; "
                          f"again from {entry.source})")
        self._entries[entry.scope, entry.key] = entry
        return entry

    def add_range(self, scope: str, key: str, data: numpy.ndarray, offset: int, length: int,
                  source: str, *, metadata: bytes = b"") -> ParameterEntry:
        """Adds ``length`` bytes of ``data`` (a uint8 array, e.g. a file's
        mapping) from ``offset``, as a read-only view. INVALID_ARGUMENT naming
        ``source`` and the key if the range is outside ``data``."""
        if offset < 0 or length < 0 or offset + length > data.shape[0]:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{source}: parameter {scope}::{key} range [{offset}, {offset + length}) "
                          f"lies outside the {data.shape[0]} bytes of the file")
        view = data[offset:offset + length]
        if view.flags.writeable:
            view = view.view()
            view.flags.writeable = False
        return self._add(ParameterEntry(scope, key, length, data=view, source=source,
                                        offset=offset, metadata=bytes(metadata)))

    def add_splat(self, scope: str, key: str, pattern: bytes, length: int,
                  source: str, *, metadata: bytes = b"") -> ParameterEntry:
        """Adds ``pattern`` (1 to 16 bytes) repeated to ``length`` bytes."""
        if not 1 <= len(pattern) <= 16 or length < 0 or length % len(pattern):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{source}: parameter {scope}::{key}: a splat of a {len(pattern)}-byte "
                          f"pattern cannot fill {length} bytes")
        return self._add(ParameterEntry(scope, key, length, pattern=bytes(pattern), source=source,
                                        metadata=bytes(metadata)))

    def add_array(self, scope: str, key: str, array) -> ParameterEntry:
        """Adds a numpy array's bytes (C-contiguous arrays are viewed, not
        copied; the array must not change while the index is used)."""
        array = numpy.ascontiguousarray(array)
        data = array.reshape(-1).view(numpy.uint8)
        return self.add_range(scope, key, data, 0, data.shape[0], "<memory>")

    def add_file(self, path, scope: str = "", *, format: str | None = None) -> list[ParameterEntry]:
        """Adds every parameter of the file at ``path`` (``.irpa``,
        ``.safetensors`` or ``.gguf``: chosen by magic bytes, else suffix;
        ``format`` overrides) under ``scope``, as read-only views of one
        read-only memory mapping of the file (nothing is copied; only the
        header is read). All or nothing: on any error the index is unchanged.
        Returns the new entries in file order.

        Errors (VMError naming the file, and the key where known):
        INVALID_ARGUMENT for a malformed file or a header whose offsets or
        lengths do not fit the file; ALREADY_EXISTS for a key twice in the
        file or already in ``scope``; UNIMPLEMENTED for an unsupported format
        or version; NOT_FOUND for a missing file; UNAVAILABLE for ``.gguf``
        without the ``gguf`` package."""
        from ._files import read_parameter_file
        loaded = ParameterIndex()
        read_parameter_file(loaded, path, scope, format)
        return self.merge(loaded)

    def merge(self, other: "ParameterIndex") -> list[ParameterEntry]:
        """Adds every entry of ``other`` (the same entry objects, no copies);
        all or nothing: ALREADY_EXISTS naming the first key already here,
        and nothing is added. Returns the added entries."""
        entries = list(other)
        for entry in entries:
            if (entry.scope, entry.key) in self._entries:
                self._add(entry)  # raises ALREADY_EXISTS naming both sources
        for entry in entries:
            self._entries[entry.scope, entry.key] = entry
        return entries


def load_parameter_file(path, scope: str = "", *, format: str | None = None) -> ParameterIndex:
    """A new :class:`ParameterIndex` holding the parameters of one file; see
    :meth:`ParameterIndex.add_file`."""
    index = ParameterIndex()
    index.add_file(path, scope, format=format)
    return index
