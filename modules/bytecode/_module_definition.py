"""Reading a VMFB: the archive wrapper and the ``BytecodeModuleDef`` FlatBuffer.

The file is optionally wrapped in a ZIP local-file header (IREE writes a
polyglot ZIP so tools can list it); after it comes a 4-byte size prefix, the
FlatBuffer (identifier ``IREE``), and then, aligned to 64 bytes, the external
rodata that segments reference by offset.

The FlatBuffer is read with the ``flatbuffers`` runtime's ``Table`` into
plain dataclasses, eagerly and with every offset and vector bound checked, so
the rest of the runtime never touches raw FlatBuffer data. Any malformed input
raises INVALID_ARGUMENT; nothing here suspends.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from flatbuffers.table import Table

from asyncvm.vm import StatusCode, VMError

SEGMENT_ALIGNMENT = 64
MAX_GLOBAL_BYTES = 1 << 22
MAX_GLOBAL_REFS = 1 << 20
BYTECODE_VERSION_MAJOR = 17
_ZIP_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_ZIP_SIGNATURE = 0x04034B50
_FUNCTION_DESCRIPTOR = struct.Struct("<iiIhhhh")
_BYTECODE_LOCATION = struct.Struct("<ii")

# Feature bits of BytecodeModuleDef.requirements / FunctionDescriptor.requirements.
FEATURE_EXT_F32 = 1 << 0
FEATURE_EXT_F64 = 1 << 1
FEATURE_YIELD = 1 << 2
FEATURE_UNWIND = 1 << 3


@dataclass(frozen=True)
class FunctionSignatureDef:
    calling_convention: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class ImportDef:
    full_name: str
    signature: FunctionSignatureDef
    optional: bool


@dataclass(frozen=True)
class ExportDef:
    local_name: str
    internal_ordinal: int


@dataclass(frozen=True)
class DependencyDef:
    name: str
    minimum_version: int
    optional: bool


@dataclass(frozen=True)
class FunctionDescriptorDef:
    bytecode_offset: int
    bytecode_length: int
    requirements: int
    block_count: int
    i32_register_count: int
    ref_register_count: int


@dataclass(frozen=True)
class RodataSegmentDef:
    """One rodata segment: ``data`` is a read-only view into the file."""

    data: memoryview
    external: bool


@dataclass(frozen=True)
class SourceLocationDef:
    """One entry of the debug location table (already decoded by kind)."""

    kind: str  # "file", "fused", "name", "callsite"
    filename: str = ""
    line: int = 0
    column: int = 0
    name: str = ""
    children: tuple[int, ...] = ()


@dataclass(frozen=True)
class DebugDatabaseDef:
    locations: tuple[SourceLocationDef | None, ...]
    # per function source map, in the order the module lists them:
    # (local name, sorted list of (bytecode offset, location index))
    function_maps: tuple[tuple[str, list[tuple[int, int]]], ...]


@dataclass(frozen=True)
class ModuleDef:
    """Everything of a VMFB that the runtime uses, as plain data."""

    name: str
    version: int
    requirements: int
    attributes: dict[str, str]
    type_names: tuple[str, ...]
    dependencies: tuple[DependencyDef, ...]
    imports: tuple[ImportDef, ...]
    exports: tuple[ExportDef, ...]
    signatures: tuple[FunctionSignatureDef, ...]
    rodata: tuple[RodataSegmentDef, ...]
    global_bytes_capacity: int
    global_ref_count: int
    functions: tuple[FunctionDescriptorDef, ...]
    bytecode_version: int
    bytecode: bytes
    debug: DebugDatabaseDef | None = None
    flatbuffer_size: int = 0
    archive_size: int = 0
    extra: dict = field(default_factory=dict)


class _Reader:
    """Bounds-checked access to FlatBuffer tables over one byte buffer."""

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.size = len(data)
        self.raw = bytes(data)  # Table wants a bytes-like with slicing

    def _check(self, position: int, length: int, what: str) -> None:
        if position < 0 or length < 0 or position + length > self.size:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"malformed module: {what} at {position} (+{length}) "
                          f"outside the {self.size}-byte FlatBuffer")

    def root(self) -> Table:
        self._check(0, 8, "root")
        root = struct.unpack_from("<I", self.raw, 0)[0]
        return self.table_at(root, "root table")

    def table_at(self, position: int, what: str) -> Table:
        self._check(position, 4, what)
        vtable = position - struct.unpack_from("<i", self.raw, position)[0]
        self._check(vtable, 4, f"{what} vtable")
        vtable_size, table_size = struct.unpack_from("<HH", self.raw, vtable)
        self._check(vtable, vtable_size, f"{what} vtable")
        self._check(position, table_size, what)
        return Table(self.raw, position)

    def _field(self, table: Table, slot: int) -> int:
        return table.Offset(4 + 2 * slot)

    def scalar(self, table: Table, slot: int, fmt: str, default: int = 0) -> int:
        offset = self._field(table, slot)
        if not offset:
            return default
        size = struct.calcsize(fmt)
        self._check(table.Pos + offset, size, "scalar field")
        return struct.unpack_from("<" + fmt, self.raw, table.Pos + offset)[0]

    def _indirect(self, table: Table, slot: int, what: str) -> int | None:
        offset = self._field(table, slot)
        if not offset:
            return None
        position = table.Pos + offset
        self._check(position, 4, what)
        return position + struct.unpack_from("<I", self.raw, position)[0]

    def string(self, table: Table, slot: int, what: str = "string") -> str | None:
        position = self._indirect(table, slot, what)
        if position is None:
            return None
        return self._string_at(position, what)

    def _string_at(self, position: int, what: str) -> str:
        self._check(position, 4, what)
        length = struct.unpack_from("<I", self.raw, position)[0]
        self._check(position + 4, length, what)
        try:
            return self.raw[position + 4:position + 4 + length].decode("utf-8")
        except UnicodeDecodeError:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"malformed module: {what} is not UTF-8") from None

    def table(self, table: Table, slot: int, what: str) -> Table | None:
        position = self._indirect(table, slot, what)
        return None if position is None else self.table_at(position, what)

    def vector(self, table: Table, slot: int, element_size: int, what: str) -> tuple[int, int]:
        """(start, count) of a vector field; (0, 0) if absent."""
        position = self._indirect(table, slot, what)
        if position is None:
            return 0, 0
        self._check(position, 4, what)
        count = struct.unpack_from("<I", self.raw, position)[0]
        self._check(position + 4, count * element_size, what)
        return position + 4, count

    def tables(self, table: Table, slot: int, what: str) -> list[Table]:
        start, count = self.vector(table, slot, 4, what)
        result = []
        for index in range(count):
            element = start + 4 * index
            result.append(self.table_at(element + struct.unpack_from("<I", self.raw, element)[0],
                                        f"{what}[{index}]"))
        return result

    def strings(self, table: Table, slot: int, what: str) -> list[str]:
        start, count = self.vector(table, slot, 4, what)
        return [self._string_at(start + 4 * i + struct.unpack_from("<I", self.raw, start + 4 * i)[0],
                                f"{what}[{i}]") for i in range(count)]

    def bytes_view(self, table: Table, slot: int, what: str) -> memoryview:
        start, count = self.vector(table, slot, 1, what)
        return self.data[start:start + count]


def _attributes(reader: _Reader, table: Table, slot: int) -> dict[str, str]:
    result = {}
    for attribute in reader.tables(table, slot, "attribute"):
        key = reader.string(attribute, 0, "attribute key") or ""
        result[key] = reader.string(attribute, 1, "attribute value") or ""
    return result


def _signature(reader: _Reader, table: Table | None) -> FunctionSignatureDef:
    if table is None:
        return FunctionSignatureDef("0v_v", {})
    return FunctionSignatureDef(reader.string(table, 0, "calling convention") or "0v_v",
                                _attributes(reader, table, 1))


def split_archive(contents: memoryview) -> tuple[memoryview, int]:
    """Returns (flatbuffer bytes, offset of external rodata in ``contents``)."""
    base = 0
    if len(contents) >= _ZIP_LOCAL_HEADER.size:
        fields = _ZIP_LOCAL_HEADER.unpack_from(contents, 0)
        if fields[0] == _ZIP_SIGNATURE:
            base = _ZIP_LOCAL_HEADER.size + fields[9] + fields[10]
            if base > len(contents):
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              "archive self-reports as a zip but is too short to hold a module")
    if len(contents) - base < 16:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"module data is missing or shorter than 16 bytes ({len(contents) - base})")
    length = struct.unpack_from("<I", contents, base)[0]
    if length > len(contents) - base - 4:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"FlatBuffer length prefix {length} exceeds the "
                      f"{len(contents) - base - 4} bytes available")
    start = base + 4
    rodata_offset = (start + length + SEGMENT_ALIGNMENT - 1) // SEGMENT_ALIGNMENT * SEGMENT_ALIGNMENT
    return contents[start:start + length], rodata_offset


def parse_module_definition(contents: bytes | bytearray | memoryview) -> ModuleDef:
    """Parses a whole VMFB image. Raises VMError(INVALID_ARGUMENT) if malformed.

    The returned definition keeps read-only views into ``contents`` for
    rodata; the caller must keep ``contents`` alive and unchanged.
    """
    view = memoryview(contents).cast("B")
    if not view.readonly:
        view = view.toreadonly()
    try:
        return _parse(view)
    except VMError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError, TypeError) as error:
        raise VMError(StatusCode.INVALID_ARGUMENT, f"malformed module: {error}") from None


def _parse(view: memoryview) -> ModuleDef:
    flatbuffer, rodata_offset = split_archive(view)
    if bytes(flatbuffer[4:8]) != b"IREE":
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      "not a VM bytecode module (FlatBuffer identifier is not 'IREE')")
    reader = _Reader(flatbuffer)
    root = reader.root()
    name = reader.string(root, 0, "module name")
    if not name:
        raise VMError(StatusCode.INVALID_ARGUMENT, "malformed module: no module name")
    bytecode_version = reader.scalar(root, 13, "I")
    if bytecode_version >> 16 != BYTECODE_VERSION_MAJOR:
        raise VMError(StatusCode.UNIMPLEMENTED,
                      f"bytecode version {bytecode_version >> 16}.{bytecode_version & 0xFFFF} "
                      f"is not supported (this runtime reads version {BYTECODE_VERSION_MAJOR})")

    type_names = tuple(reader.string(t, 0, "type name") or "" for t in reader.tables(root, 4, "types"))
    dependencies = tuple(
        DependencyDef(reader.string(d, 0, "dependency name") or "",
                      reader.scalar(d, 1, "I"),
                      bool(reader.scalar(d, 2, "I", 1) & 2))
        for d in reader.tables(root, 5, "dependencies"))
    imports = tuple(
        ImportDef(reader.string(i, 0, "import name") or "",
                  _signature(reader, reader.table(i, 1, "import signature")),
                  bool(reader.scalar(i, 2, "I", 1) & 2))
        for i in reader.tables(root, 6, "imports"))
    exports = tuple(
        ExportDef(reader.string(e, 0, "export name") or "", reader.scalar(e, 1, "i"))
        for e in reader.tables(root, 7, "exports"))
    signatures = tuple(_signature(reader, s) for s in reader.tables(root, 8, "signatures"))

    rodata = []
    for index, segment in enumerate(reader.tables(root, 9, "rodata segments")):
        embedded = reader._indirect(segment, 2, "rodata data")
        if embedded is not None:
            rodata.append(RodataSegmentDef(reader.bytes_view(segment, 2, "rodata data"), False))
            continue
        offset = reader.scalar(segment, 3, "Q")
        length = reader.scalar(segment, 4, "Q")
        start = rodata_offset + offset
        if start + length > len(view):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"rodata segment {index} [{offset}, {offset + length}) is outside "
                          f"the file ({len(view)} bytes; external data begins at {rodata_offset})")
        rodata.append(RodataSegmentDef(view[start:start + length], True))

    state = reader.table(root, 11, "module state")
    global_bytes = reader.scalar(state, 0, "i") if state is not None else 0
    global_refs = reader.scalar(state, 1, "i") if state is not None else 0
    if global_bytes < 0 or global_refs < 0:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"malformed module: global storage {global_bytes} bytes / {global_refs} refs")
    if global_bytes > MAX_GLOBAL_BYTES or global_refs > MAX_GLOBAL_REFS:
        raise VMError(StatusCode.RESOURCE_EXHAUSTED,
                      f"module asks for {global_bytes} bytes and {global_refs} refs of globals; "
                      f"this runtime allows {MAX_GLOBAL_BYTES} and {MAX_GLOBAL_REFS}")

    start, count = reader.vector(root, 12, _FUNCTION_DESCRIPTOR.size, "function descriptors")
    functions = []
    for index in range(count):
        offset, length, requirements, _reserved, blocks, i32_count, ref_count = \
            _FUNCTION_DESCRIPTOR.unpack_from(reader.raw, start + index * _FUNCTION_DESCRIPTOR.size)
        functions.append(FunctionDescriptorDef(offset, length, requirements, blocks,
                                               i32_count, ref_count))

    bytecode = bytes(reader.bytes_view(root, 14, "bytecode"))
    debug_table = reader.table(root, 15, "debug database")
    debug = _parse_debug(reader, debug_table) if debug_table is not None else None

    return ModuleDef(
        name=name,
        version=reader.scalar(root, 1, "I"),
        requirements=reader.scalar(root, 2, "I"),
        attributes=_attributes(reader, root, 3),
        type_names=type_names,
        dependencies=dependencies,
        imports=imports,
        exports=exports,
        signatures=signatures,
        rodata=tuple(rodata),
        global_bytes_capacity=global_bytes,
        global_ref_count=global_refs,
        functions=tuple(functions),
        bytecode_version=bytecode_version,
        bytecode=bytecode,
        debug=debug,
        flatbuffer_size=len(flatbuffer),
        archive_size=len(view),
    )


# LocationTypeDef union tags (0 is NONE).
_LOCATION_CALLSITE, _LOCATION_FILE, _LOCATION_FUSED, _LOCATION_NAME = 1, 2, 3, 4


def _parse_debug(reader: _Reader, table: Table) -> DebugDatabaseDef:
    type_start, type_count = reader.vector(table, 0, 1, "location types")
    tags = reader.raw[type_start:type_start + type_count]
    values = reader.tables(table, 1, "locations") if type_count else []
    if len(values) != len(tags):
        raise VMError(StatusCode.INVALID_ARGUMENT, "malformed debug database: location table")
    locations: list[SourceLocationDef | None] = []
    for tag, value in zip(tags, values):
        if tag == _LOCATION_FILE:
            locations.append(SourceLocationDef("file", reader.string(value, 0) or "",
                                               reader.scalar(value, 1, "i"),
                                               reader.scalar(value, 2, "i")))
        elif tag == _LOCATION_FUSED:
            start, count = reader.vector(value, 1, 4, "fused locations")
            children = struct.unpack_from(f"<{count}i", reader.raw, start) if count else ()
            locations.append(SourceLocationDef("fused", name=reader.string(value, 0) or "",
                                               children=tuple(children)))
        elif tag == _LOCATION_NAME:
            locations.append(SourceLocationDef("name", name=reader.string(value, 0) or "",
                                               children=(reader.scalar(value, 1, "i"),)))
        elif tag == _LOCATION_CALLSITE:
            locations.append(SourceLocationDef("callsite", children=(
                reader.scalar(value, 0, "i"), reader.scalar(value, 1, "i"))))
        else:
            locations.append(None)
    function_maps: list[tuple[str, list[tuple[int, int]]]] = []
    for function in reader.tables(table, 2, "source maps"):
        name = reader.string(function, 0, "source map name") or ""
        start, count = reader.vector(function, 1, _BYTECODE_LOCATION.size, "source map")
        entries = [_BYTECODE_LOCATION.unpack_from(reader.raw, start + 8 * i) for i in range(count)]
        entries.sort()
        function_maps.append((name, entries))
    return DebugDatabaseDef(tuple(locations), tuple(function_maps))
