"""The VM bytecode instruction set (version 17), once, as data.

Each :class:`Instruction` row gives the opcode set and number, the mnemonic,
the operand fields in encoding order, and the semantics:

* an expression template (a Python expression over the read fields, in
  braces, whose value goes to the one written register), or
* ``@name``: a rule the translator implements by name (control flow, calls,
  globals, lists, buffers, refs, ...), or
* ``None`` for a marker.

Opcode numbers are explicit in every row (IREE's ``VMOpcodesCore.td``,
``VMOpcodesF32.td`` and ``VMOpcodesF64.td``), never derived from row order;
:func:`_check_table` rejects duplicates at import.

The decoder reads fields by kind and interprets their registers once, into
the operand view of :mod:`._operands`; the verifier, liveness pass,
translator and disassembler all read operands from that view. The verifier
checks ordinals by kind, the translator turns semantics into Python, and the
disassembler prints mnemonics and fields — all from this table.

Field kinds and their encoding (little-endian):

==================  =========================================================
``reg``             u16 register ordinal; ``bank`` is i32/i64/f32/f64/ref.
                    A ref carries the ref bit (0x8000) and, on its last
                    use, the move bit (0x4000); its index is the low 14
                    bits. A primitive ordinal never has the ref bit.
``global``          u32: byte offset into global storage (primitives) or
                    ordinal of a ref global.
``rodata``          u32 rodata segment ordinal.
``function``        u32 function ordinal; bit 31 set means an import.
``type``            u32 ordinal into the module's type table.
``string``          u16 length, then that many UTF-8 bytes.
``const``           an immediate of the field's ``bank`` (i32: 4 bytes,
                    i64: 8, f32: 4, f64: 8).
``u16``             an unsigned 16-bit immediate (branch table size).
``target``          u32 bytecode offset of a block marker.
``remap``           aligned to 2: u16 count, then count (source, target)
                    register pairs.
``list``            aligned to 2: u16 count, then count register ordinals
                    (of the field's ``bank`` if it has one, else primitives
                    or refs told apart by the ref bit).
``segments``        like ``list`` but the entries are counts, not registers.
``cases``           ``u16`` cases, each a ``target`` and a ``remap``.
==================  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX_EXT_F32 = 0xE0
PREFIX_EXT_F64 = 0xE1
BLOCK_MARKER = 0x79
REF_BIT = 0x8000
MOVE_BIT = 0x4000
REF_MASK = 0x3FFF
IMPORT_BIT = 0x80000000


@dataclass(frozen=True)
class Field:
    """One operand field: ``kind`` as in the module docstring.

    ``bank`` is the register bank of a ``reg`` field, the element bank of a
    ``list`` whose entries have one, and the type of a ``const``. ``write``
    marks a field the instruction writes (a result register, or the result
    list of a call); every other field is read. ``move`` marks a ref operand
    IREE may move (informational: the encoding's move bit says whether it did).
    """

    name: str
    kind: str
    bank: str | None = None
    write: bool = False
    move: bool = False


TERMINATORS = frozenset(("@br", "@cond_br", "@br_table", "@return", "@fail", "@yield",
                         "@break", "@cond_break"))
"""Semantics of the instructions after which control never reaches the next one."""


@dataclass(frozen=True)
class Instruction:
    """One row of the table: an opcode set ("core", "f32" or "f64") and its
    explicit opcode number in it, the mnemonic, the fields in encoding order
    and the semantics (see the module docstring).

    ``unwrapped`` is, for a template whose result wraps to the signed range
    (integer ``add`` and ``sub``), the same template without the wrap: the
    translator uses it where it proves the exact result already lies in
    that range, so both give the same value."""

    opcode_set: str
    opcode: int
    mnemonic: str
    fields: tuple[Field, ...]
    semantics: str | None
    unwrapped: str | None = None

    @property
    def is_block_marker(self) -> bool:
        """True for ``vm.block``, the marker each basic block starts with."""
        return self.semantics is None

    @property
    def is_template(self) -> bool:
        """True when the semantics are an expression template (not a rule)."""
        return self.semantics is not None and not self.semantics.startswith("@")

    @property
    def is_terminator(self) -> bool:
        """True for the rows that end a block without a fall-through edge to
        the next one (branches, return, fail, yield, breaks)."""
        return self.semantics in TERMINATORS


def _read(name: str, bank: str, move: bool = False) -> Field:
    return Field(name, "reg", bank, False, move)


def _write(name: str, bank: str, move: bool = False) -> Field:
    return Field(name, "reg", bank, True, move)


# -- operation classes --------------------------------------------------------

def unary(bank: str, out: str | None = None):
    return (_read("operand", bank), _write("result", out or bank))


def binary(bank: str, out: str | None = None):
    return (_read("left", bank), _read("right", bank), _write("result", out or bank))


def ternary(bank: str):
    return (_read("first", bank), _read("second", bank), _read("third", bank),
            _write("result", bank))


def shift(bank: str):
    return (_read("operand", bank), _read("amount", "i32"), _write("result", bank))


def select(bank: str):
    move = bank == "ref"
    return (_read("condition", "i32"), _read("true_value", bank, move),
            _read("false_value", bank, move), _write("result", bank, move))


def global_load(bank: str):
    return (Field("global", "global"), _write("result", bank))


def global_store(bank: str):
    return (Field("global", "global"), _read("value", bank))


def global_load_indirect(bank: str):
    return (_read("global", "i32"), _write("result", bank))


def global_store_indirect(bank: str):
    return (_read("global", "i32"), _read("value", bank))


def constant(bank: str):
    return (Field("value", "const", bank), _write("result", bank))


def list_get(bank: str):
    return (_read("list", "ref"), _read("index", "i32"), _write("result", bank))


def list_set(bank: str):
    return (_read("list", "ref"), _read("index", "i32"), _read("value", bank))


def buffer_load(bank: str):
    return (_read("buffer", "ref"), _read("offset", "i64"), _write("result", bank))


def buffer_store(bank: str):
    return (_read("buffer", "ref"), _read("offset", "i64"), _read("value", bank))


def buffer_fill(bank: str):
    return (_read("buffer", "ref"), _read("offset", "i64"), _read("length", "i64"),
            _read("value", bank))


def switch(bank: str):
    move = bank == "ref"
    head = (_read("index", "i32"),)
    if bank == "ref":
        head += (Field("type", "type"),)
    return head + (_read("default_value", bank, move), Field("values", "list", bank),
                   _write("result", bank, move))


BRANCH = (Field("target", "target"), Field("operands", "remap"))
RESULTS = Field("results", "list", write=True)
CALL = (Field("callee", "function"), Field("operands", "list"), RESULTS)
YIELDABLE_CALL = (Field("callee", "function"), Field("operands", "list"), Field("target", "target"),
                  RESULTS)
VARIADIC_CALL = (Field("callee", "function"), Field("segment_sizes", "segments"),
                 Field("operands", "list"), RESULTS)
VARIADIC_YIELDABLE_CALL = (Field("callee", "function"), Field("segment_sizes", "segments"),
                           Field("operands", "list"), Field("target", "target"), RESULTS)
TRACE = (Field("event_name", "string"), Field("operands", "list"))

# -- semantics templates ------------------------------------------------------
# Helpers named _x are provided to translated code by the runtime support
# module; W32/W64 wrap to the signed range inline.

W32 = "((({}) + 0x80000000) & 0xFFFFFFFF) - 0x80000000"
W64 = "((({}) + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000"
U32 = "({} & 0xFFFFFFFF)"
U64 = "({} & 0xFFFFFFFFFFFFFFFF)"


def _w(width: int, expression: str) -> str:
    return (W32 if width == 32 else W64).format(expression)


def _u(width: int, name: str) -> str:
    return (U32 if width == 32 else U64).format(name)


def _integer_ops(width: int) -> list[Instruction]:
    """The arithmetic rows i32 and i64 share, each with its explicit core
    opcode for either width (IREE's ``VMOpcodesCore.td``)."""
    t = f"i{width}"
    unwrapped = {"add": "{left} + {right}", "sub": "{left} - {right}"}
    # stem, i32 opcode, i64 opcode, fields, semantics
    rows = [
        ("add", 0x22, 0x2A, binary(t), _w(width, unwrapped["add"])),
        ("sub", 0x23, 0x2B, binary(t), _w(width, unwrapped["sub"])),
        ("mul", 0x24, 0x2C, binary(t), _w(width, "{left} * {right}")),
        ("div.s", 0x25, 0x2D, binary(t), f"_div_s{width}({{left}}, {{right}})"),
        ("div.u", 0x26, 0x2E, binary(t), f"_div_u{width}({{left}}, {{right}})"),
        ("rem.s", 0x27, 0x2F, binary(t), f"_rem_s{width}({{left}}, {{right}})"),
        ("rem.u", 0x28, 0x30, binary(t), f"_rem_u{width}({{left}}, {{right}})"),
        ("fma", 0x29, 0x31, ternary(t), _w(width, "{first} * {second} + {third}")),
        ("not", 0x32, 0x36, unary(t), "~{operand}"),
        ("and", 0x33, 0x37, binary(t), "{left} & {right}"),
        ("or", 0x34, 0x38, binary(t), "{left} | {right}"),
        ("xor", 0x35, 0x39, binary(t), "{left} ^ {right}"),
        ("shl", 0x3A, 0x3D, shift(t), _w(width, f"{{operand}} << ({{amount}} & {width - 1})")),
        ("shr.s", 0x3B, 0x3E, shift(t), f"{{operand}} >> ({{amount}} & {width - 1})"),
        ("shr.u", 0x3C, 0x3F, shift(t),
         _w(width, f"{_u(width, '{operand}')} >> ({{amount}} & {width - 1})")),
        ("cmp.eq", 0x49, 0x4E, binary(t, "i32"), "1 if {left} == {right} else 0"),
        ("cmp.ne", 0x4A, 0x4F, binary(t, "i32"), "1 if {left} != {right} else 0"),
        ("cmp.lt.s", 0x4B, 0x50, binary(t, "i32"), "1 if {left} < {right} else 0"),
        ("cmp.lt.u", 0x4C, 0x51, binary(t, "i32"),
         f"1 if {_u(width, '{left}')} < {_u(width, '{right}')} else 0"),
        ("cmp.nz", 0x4D, 0x52, unary(t, "i32"), "1 if {operand} else 0"),
        ("select", 0x1C, 0x1D, select(t), "{true_value} if {condition} else {false_value}"),
        ("ctlz", 0x75, 0x76, unary(t), f"{width} - {_u(width, '{operand}')}.bit_length()"),
        ("abs", 0x77, 0x78, unary(t), _w(width, "abs({operand})")),
        ("min.s", 0x7A, 0x7E, binary(t), "{left} if {left} < {right} else {right}"),
        ("min.u", 0x7B, 0x7F, binary(t),
         f"{{left}} if {_u(width, '{left}')} < {_u(width, '{right}')} else {{right}}"),
        ("max.s", 0x7C, 0x80, binary(t), "{left} if {left} > {right} else {right}"),
        ("max.u", 0x7D, 0x81, binary(t),
         f"{{left}} if {_u(width, '{left}')} > {_u(width, '{right}')} else {{right}}"),
    ]
    result = []
    for stem, i32_opcode, i64_opcode, fields, semantics in rows:
        # Mnemonics put the type before a signedness suffix: div.i32.s, cmp.lt.i64.u.
        parts = stem.split(".")
        if parts[-1] in ("s", "u"):
            mnemonic = ".".join(parts[:-1] + [t, parts[-1]])
        else:
            mnemonic = ".".join(parts + [t])
        opcode = i32_opcode if width == 32 else i64_opcode
        result.append(Instruction("core", opcode, mnemonic, fields, semantics,
                                  unwrapped.get(stem)))
    return result


# The core rows that are not shared between i32 and i64 arithmetic.
_CORE_ROWS: tuple[Instruction, ...] = (
    Instruction("core", 0x00, "global.load.i32", global_load("i32"), "@global_load"),
    Instruction("core", 0x01, "global.store.i32", global_store("i32"), "@global_store"),
    Instruction("core", 0x02, "global.load.indirect.i32", global_load_indirect("i32"),
                "@global_load_indirect"),
    Instruction("core", 0x03, "global.store.indirect.i32", global_store_indirect("i32"),
                "@global_store_indirect"),
    Instruction("core", 0x04, "global.load.i64", global_load("i64"), "@global_load"),
    Instruction("core", 0x05, "global.store.i64", global_store("i64"), "@global_store"),
    Instruction("core", 0x06, "global.load.indirect.i64", global_load_indirect("i64"),
                "@global_load_indirect"),
    Instruction("core", 0x07, "global.store.indirect.i64", global_store_indirect("i64"),
                "@global_store_indirect"),
    Instruction("core", 0x08, "global.load.ref",
                (Field("global", "global"), Field("type", "type"), _write("result", "ref", True)),
                "@global_load_ref"),
    Instruction("core", 0x09, "global.store.ref",
                (Field("global", "global"), Field("type", "type"), _read("value", "ref", True)),
                "@global_store_ref"),
    Instruction("core", 0x0A, "global.load.indirect.ref",
                (_read("global", "i32"), Field("type", "type"), _write("result", "ref", True)),
                "@global_load_ref"),
    Instruction("core", 0x0B, "global.store.indirect.ref",
                (_read("global", "i32"), Field("type", "type"), _read("value", "ref", True)),
                "@global_store_ref"),
    Instruction("core", 0x0C, "const.i32.zero", (_write("result", "i32"),), "0"),
    Instruction("core", 0x0D, "const.i32", constant("i32"), "{value}"),
    Instruction("core", 0x0E, "const.i64.zero", (_write("result", "i64"),), "0"),
    Instruction("core", 0x0F, "const.i64", constant("i64"), "{value}"),
    Instruction("core", 0x10, "const.ref.zero", (_write("result", "ref", True),), "None"),
    Instruction("core", 0x11, "const.ref.rodata",
                (Field("rodata", "rodata"), _write("result", "ref", True)), "@rodata"),
    Instruction("core", 0x12, "list.alloc",
                (Field("element_type", "type"), _read("capacity", "i32"),
                 _write("result", "ref", True)), "@list_alloc"),
    Instruction("core", 0x13, "list.reserve",
                (_read("list", "ref"), _read("capacity", "i32")),
                "_list({list}).reserve({capacity} & 0xFFFFFFFF)"),
    Instruction("core", 0x14, "list.size", (_read("list", "ref"), _write("result", "i32")),
                "_list({list}).size()"),
    Instruction("core", 0x15, "list.resize", (_read("list", "ref"), _read("size", "i32")),
                "_list({list}).resize({size})"),
    Instruction("core", 0x16, "list.get.i32", list_get("i32"),
                "_list({list}).get_value({index}, _I32)"),
    Instruction("core", 0x17, "list.set.i32", list_set("i32"),
                "_list({list}).set_value({index}, {value}, _I32)"),
    Instruction("core", 0x18, "list.get.i64", list_get("i64"),
                "_list({list}).get_value({index}, _I64)"),
    Instruction("core", 0x19, "list.set.i64", list_set("i64"),
                "_list({list}).set_value({index}, {value}, _I64)"),
    Instruction("core", 0x1A, "list.get.ref",
                (_read("list", "ref"), _read("index", "i32"), Field("type", "type"),
                 _write("result", "ref", True)), "@list_get_ref"),
    Instruction("core", 0x1B, "list.set.ref",
                (_read("list", "ref"), _read("index", "i32"), _read("value", "ref", True)),
                "_list({list}).set_ref({index}, {value})"),
    Instruction("core", 0x1E, "select.ref",
                (_read("condition", "i32"), Field("type", "type"),
                 _read("true_value", "ref", True), _read("false_value", "ref", True),
                 _write("result", "ref", True)),
                "{true_value} if {condition} else {false_value}"),
    Instruction("core", 0x1F, "switch.i32", switch("i32"), "@switch"),
    Instruction("core", 0x20, "switch.i64", switch("i64"), "@switch"),
    Instruction("core", 0x21, "switch.ref", switch("ref"), "@switch"),
    Instruction("core", 0x40, "trunc.i32.i8", unary("i32"), "{operand} & 0xFF"),
    Instruction("core", 0x41, "trunc.i32.i16", unary("i32"), "{operand} & 0xFFFF"),
    Instruction("core", 0x42, "trunc.i64.i32", unary("i64", "i32"), W32.format("{operand}")),
    Instruction("core", 0x43, "ext.i8.i32.s", unary("i32"), "(({operand} & 0xFF) ^ 0x80) - 0x80"),
    Instruction("core", 0x44, "ext.i8.i32.u", unary("i32"), "{operand} & 0xFF"),
    Instruction("core", 0x45, "ext.i16.i32.s", unary("i32"),
                "(({operand} & 0xFFFF) ^ 0x8000) - 0x8000"),
    Instruction("core", 0x46, "ext.i16.i32.u", unary("i32"), "{operand} & 0xFFFF"),
    Instruction("core", 0x47, "ext.i32.i64.s", unary("i32", "i64"), "{operand}"),
    Instruction("core", 0x48, "ext.i32.i64.u", unary("i32", "i64"), "{operand} & 0xFFFFFFFF"),
    Instruction("core", 0x53, "cmp.eq.ref", binary("ref", "i32"),
                "1 if {left} is {right} else 0"),
    Instruction("core", 0x54, "cmp.ne.ref", binary("ref", "i32"),
                "0 if {left} is {right} else 1"),
    Instruction("core", 0x55, "cmp.nz.ref", unary("ref", "i32"),
                "0 if {operand} is None else 1"),
    Instruction("core", 0x56, "br", BRANCH, "@br"),
    Instruction("core", 0x57, "cond_br",
                (_read("condition", "i32"), Field("true_target", "target"),
                 Field("true_operands", "remap"), Field("false_target", "target"),
                 Field("false_operands", "remap")), "@cond_br"),
    Instruction("core", 0x58, "call", CALL, "@call"),
    Instruction("core", 0x59, "call.variadic", VARIADIC_CALL, "@call"),
    Instruction("core", 0x5A, "return", (Field("operands", "list"),), "@return"),
    Instruction("core", 0x5B, "fail", (_read("status", "i32"), Field("message", "string")),
                "@fail"),
    Instruction("core", 0x5C, "import.resolved",
                (Field("import", "function"), _write("result", "i32")), "@import_resolved"),
    Instruction("core", 0x5D, "yield", BRANCH, "@yield"),
    Instruction("core", 0x5E, "trace", TRACE, "@trace"),
    Instruction("core", 0x5F, "print", TRACE, "@print"),
    Instruction("core", 0x60, "cond_break",
                (_read("condition", "i32"),) + BRANCH, "@cond_break"),
    Instruction("core", 0x61, "break", BRANCH, "@break"),
    Instruction("core", 0x62, "buffer.load.i8.u", buffer_load("i32"),
                "_buffer({buffer}).load(1, {offset})"),
    Instruction("core", 0x63, "buffer.load.i8.s", buffer_load("i32"),
                "_buffer({buffer}).load(1, {offset}, True)"),
    Instruction("core", 0x64, "buffer.load.i16.u", buffer_load("i32"),
                "_buffer({buffer}).load(2, {offset})"),
    Instruction("core", 0x65, "buffer.load.i16.s", buffer_load("i32"),
                "_buffer({buffer}).load(2, {offset}, True)"),
    Instruction("core", 0x66, "buffer.load.i32", buffer_load("i32"),
                "_buffer({buffer}).load(4, {offset}, True)"),
    Instruction("core", 0x67, "buffer.load.i64", buffer_load("i64"),
                "_buffer({buffer}).load(8, {offset}, True)"),
    Instruction("core", 0x68, "buffer.store.i8", buffer_store("i32"),
                "_buffer({buffer}).store(1, {offset}, {value})"),
    Instruction("core", 0x69, "buffer.store.i16", buffer_store("i32"),
                "_buffer({buffer}).store(2, {offset}, {value})"),
    Instruction("core", 0x6A, "buffer.store.i32", buffer_store("i32"),
                "_buffer({buffer}).store(4, {offset}, {value})"),
    Instruction("core", 0x6B, "buffer.store.i64", buffer_store("i64"),
                "_buffer({buffer}).store(8, {offset}, {value})"),
    Instruction("core", 0x6C, "buffer.alloc",
                (_read("length", "i64"), _read("alignment", "i32"),
                 _write("result", "ref", True)), "_buffer_alloc({length}, {alignment})"),
    Instruction("core", 0x6D, "buffer.clone",
                (_read("source", "ref"), _read("offset", "i64"), _read("length", "i64"),
                 _read("alignment", "i32"), _write("result", "ref", True)),
                "_buffer({source}).clone({offset}, {length})"),
    Instruction("core", 0x6E, "buffer.length", (_read("buffer", "ref"), _write("result", "i64")),
                "_buffer({buffer}).length"),
    Instruction("core", 0x6F, "buffer.copy",
                (_read("source", "ref"), _read("source_offset", "i64"),
                 _read("target", "ref"), _read("target_offset", "i64"),
                 _read("length", "i64")),
                "_buffer({source}).copy_to({source_offset}, _buffer({target}), "
                "{target_offset}, {length})"),
    Instruction("core", 0x70, "buffer.compare",
                (_read("left", "ref"), _read("left_offset", "i64"), _read("right", "ref"),
                 _read("right_offset", "i64"), _read("length", "i64"),
                 _write("result", "i32")),
                "1 if _buffer({left}).compare({left_offset}, _buffer({right}), "
                "{right_offset}, {length}) else 0"),
    Instruction("core", 0x71, "buffer.fill.i8", buffer_fill("i32"),
                "_buffer({buffer}).fill(1, {offset}, {length}, _pattern(1, {value}))"),
    Instruction("core", 0x72, "buffer.fill.i16", buffer_fill("i32"),
                "_buffer({buffer}).fill(2, {offset}, {length}, _pattern(2, {value}))"),
    Instruction("core", 0x73, "buffer.fill.i32", buffer_fill("i32"),
                "_buffer({buffer}).fill(4, {offset}, {length}, _pattern(4, {value}))"),
    Instruction("core", 0x74, "buffer.fill.i64", buffer_fill("i64"),
                "_buffer({buffer}).fill(8, {offset}, {length}, _pattern(8, {value}))"),
    Instruction("core", BLOCK_MARKER, "block", (), None),
    Instruction("core", 0x82, "cast.any.ref",
                (_read("operand", "ref", True), Field("type", "type"),
                 _write("result", "ref", True)), "@cast_any_ref"),
    Instruction("core", 0x83, "br_table",
                (_read("index", "i32"), Field("default_target", "target"),
                 Field("default_operands", "remap"), Field("cases", "cases")), "@br_table"),
    Instruction("core", 0x84, "buffer.hash",
                (_read("buffer", "ref"), _read("offset", "i64"), _read("length", "i64"),
                 _write("result", "i64")),
                "_buffer_hash(_buffer({buffer}), {offset}, {length})"),
    Instruction("core", 0x85, "discard.refs", (Field("operands", "list"),), "@discard_refs"),
    Instruction("core", 0x86, "assign.ref",
                (_read("source", "ref", True), _write("result", "ref", True)), "{source}"),
    Instruction("core", 0x87, "call.yieldable", YIELDABLE_CALL, "@call"),
    Instruction("core", 0x88, "call.variadic.yieldable", VARIADIC_YIELDABLE_CALL, "@call"),
)


def _float_ops(width: int) -> list[Instruction]:
    """The f32 (``width`` 32) or f64 extension table.

    Each row carries its explicit opcode for either width, as IREE's
    ``VMOpcodesF32.td`` / ``VMOpcodesF64.td`` number them; the conversions
    that only one width has follow in their own list.
    """
    t = f"f{width}"
    opcode_set = t
    # Rounds a double result to the register type (identity for f64).
    r = (lambda e: f"_r32({e})") if width == 32 else (lambda e: e)
    element = f"_{t.upper()}"
    size = width // 8
    # stem ("T" is the type), f32 opcode, f64 opcode, fields, semantics
    shared = [
        ("global.load.T", 0x00, 0x00, global_load(t), "@global_load"),
        ("global.store.T", 0x01, 0x01, global_store(t), "@global_store"),
        ("global.load.indirect.T", 0x02, 0x02, global_load_indirect(t), "@global_load_indirect"),
        ("global.store.indirect.T", 0x03, 0x03, global_store_indirect(t),
         "@global_store_indirect"),
        ("const.T.zero", 0x04, 0x04, (_write("result", t),), "0.0"),
        ("const.T", 0x05, 0x05, constant(t), "{value}"),
        ("list.get.T", 0x06, 0x06, list_get(t), f"_list({{list}}).get_value({{index}}, {element})"),
        ("list.set.T", 0x07, 0x07, list_set(t),
         f"_list({{list}}).set_value({{index}}, {{value}}, {element})"),
        ("select.T", 0x08, 0x08, select(t), "{true_value} if {condition} else {false_value}"),
        ("switch.T", 0x09, 0x09, switch(t), "@switch"),
        ("add.T", 0x0A, 0x0A, binary(t), r("{left} + {right}")),
        ("sub.T", 0x0B, 0x0B, binary(t), r("{left} - {right}")),
        ("mul.T", 0x0C, 0x0C, binary(t), r("{left} * {right}")),
        ("div.T", 0x0D, 0x0D, binary(t), r("_fdiv({left}, {right})")),
        ("rem.T", 0x0E, 0x0E, binary(t), r("_frem({left}, {right})")),
        ("fma.T", 0x0F, 0x0F, ternary(t), "_fma32({first}, {second}, {third})" if width == 32
         else "{first} * {second} + {third}"),
        ("abs.T", 0x10, 0x10, unary(t), "_fabs({operand})"),
        ("neg.T", 0x11, 0x11, unary(t), "-{operand}"),
        ("ceil.T", 0x12, 0x12, unary(t), "_ceil({operand})"),
        ("floor.T", 0x13, 0x13, unary(t), "_floor({operand})"),
        ("atan.T", 0x1A, 0x20, unary(t), r("_math.atan({operand})")),
        ("atan2.T", 0x1B, 0x21, binary(t), r("_math.atan2({left}, {right})")),
        ("cos.T", 0x1C, 0x22, unary(t), r("_unary('cos', {operand})")),
        ("sin.T", 0x1D, 0x23, unary(t), r("_unary('sin', {operand})")),
        ("exp.T", 0x1E, 0x24, unary(t), r("_unary('exp', {operand})")),
        ("exp2.T", 0x1F, 0x25, unary(t), r("_unary('exp2', {operand})")),
        ("expm1.T", 0x20, 0x26, unary(t), r("_unary('expm1', {operand})")),
        ("log.T", 0x21, 0x27, unary(t), r("_unary('log', {operand})")),
        ("log10.T", 0x22, 0x28, unary(t), r("_unary('log10', {operand})")),
        ("log1p.T", 0x23, 0x29, unary(t), r("_unary('log1p', {operand})")),
        ("log2.T", 0x24, 0x2A, unary(t), r("_unary('log2', {operand})")),
        ("pow.T", 0x25, 0x2B, binary(t), r("_pow({left}, {right})")),
        ("rsqrt.T", 0x26, 0x2C, unary(t),
         "_rsqrt32({operand})" if width == 32 else "_rsqrt({operand})"),
        ("sqrt.T", 0x27, 0x2D, unary(t), r("_unary('sqrt', {operand})")),
        ("tanh.T", 0x28, 0x2E, unary(t), r("_math.tanh({operand})")),
        ("erf.T", 0x29, 0x2F, unary(t), r("_math.erf({operand})")),
        ("cmp.eq.T.o", 0x2A, 0x30, binary(t, "i32"), "1 if {left} == {right} else 0"),
        ("cmp.eq.T.u", 0x2B, 0x31, binary(t, "i32"),
         "1 if ({left} == {right} or {left} != {left} or {right} != {right}) else 0"),
        # IREE implements ne.o as C's !=, which is true when either is NaN.
        ("cmp.ne.T.o", 0x2C, 0x32, binary(t, "i32"), "1 if {left} != {right} else 0"),
        ("cmp.ne.T.u", 0x2D, 0x33, binary(t, "i32"), "1 if {left} != {right} else 0"),
        ("cmp.lt.T.o", 0x2E, 0x34, binary(t, "i32"), "1 if {left} < {right} else 0"),
        ("cmp.lt.T.u", 0x2F, 0x35, binary(t, "i32"), "0 if {left} >= {right} else 1"),
        ("cmp.lte.T.o", 0x30, 0x36, binary(t, "i32"), "1 if {left} <= {right} else 0"),
        ("cmp.lte.T.u", 0x31, 0x37, binary(t, "i32"), "0 if {left} > {right} else 1"),
        ("cmp.nan.T", 0x32, 0x38, unary(t, "i32"), "1 if {operand} != {operand} else 0"),
        ("buffer.load.T", 0x33, 0x39, buffer_load(t),
         f"_buffer({{buffer}}).load_float({size}, {{offset}})"),
        ("buffer.store.T", 0x34, 0x3A, buffer_store(t),
         f"_buffer({{buffer}}).store_float({size}, {{offset}}, {{value}})"),
        ("buffer.fill.T", 0x35, 0x3B, buffer_fill(t),
         f"_buffer({{buffer}}).fill({size}, {{offset}}, {{length}}, "
         f"_float_pattern({size}, {{value}}))"),
        ("round.T", 0x36, 0x3C, unary(t), "_round({operand})"),
        ("min.T", 0x37, 0x3D, binary(t), "_fmin({left}, {right})"),
        ("max.T", 0x38, 0x3E, binary(t), "_fmax({left}, {right})"),
        ("round.T.even", 0x39, 0x3F, unary(t), "_round_even({operand})"),
    ]
    rows = [Instruction(opcode_set, f32_opcode if width == 32 else f64_opcode,
                        stem.replace("T", t), fields, semantics)
            for stem, f32_opcode, f64_opcode, fields, semantics in shared]
    conversions = _F32_CONVERSIONS if width == 32 else _F64_CONVERSIONS
    rows += [Instruction(opcode_set, opcode, mnemonic, fields, semantics)
             for opcode, mnemonic, fields, semantics in conversions]
    return rows


# The conversions only one extension has: opcode, mnemonic, fields, semantics.
_F32_CONVERSIONS = (
    (0x14, "cast.si32.f32", unary("i32", "f32"), "_r32(float({operand}))"),
    (0x15, "cast.ui32.f32", unary("i32", "f32"), "_r32(float({operand} & 0xFFFFFFFF))"),
    (0x16, "cast.f32.si32", unary("f32", "i32"), "_to_si32({operand})"),
    (0x17, "cast.f32.ui32", unary("f32", "i32"), "_to_ui32({operand})"),
    (0x18, "bitcast.i32.f32", unary("i32", "f32"), "_bits_to_f32({operand})"),
    (0x19, "bitcast.f32.i32", unary("f32", "i32"), "_f32_to_bits({operand})"),
    (0x3A, "cast.f32.si64", unary("f32", "i64"), "_to_si64({operand})"),
    (0x3B, "cast.f32.ui64", unary("f32", "i64"), "_to_ui64({operand})"),
    (0x3C, "cast.si64.f32", unary("i64", "f32"), "_r32(float({operand}))"),
    (0x3D, "cast.ui64.f32", unary("i64", "f32"), "_r32(float({operand} & 0xFFFFFFFFFFFFFFFF))"),
)
_F64_CONVERSIONS = (
    (0x14, "trunc.f64.f32", unary("f64", "f32"), "_r32({operand})"),
    (0x15, "ext.f32.f64", unary("f32", "f64"), "{operand}"),
    (0x16, "cast.si32.f64", unary("i32", "f64"), "float({operand})"),
    (0x17, "cast.ui32.f64", unary("i32", "f64"), "float({operand} & 0xFFFFFFFF)"),
    (0x18, "cast.f64.si32", unary("f64", "i32"), "_f64_to_si32({operand})"),
    (0x19, "cast.f64.ui32", unary("f64", "i32"), "_f64_to_si32({operand})"),
    (0x1A, "cast.si64.f64", unary("i64", "f64"), "float({operand})"),
    (0x1B, "cast.ui64.f64", unary("i64", "f64"), "float({operand} & 0xFFFFFFFFFFFFFFFF)"),
    (0x1C, "cast.f64.si64", unary("f64", "i64"), "_to_si64({operand})"),
    (0x1D, "cast.f64.ui64", unary("f64", "i64"), "_to_ui64({operand})"),
    (0x1E, "bitcast.i64.f64", unary("i64", "f64"), "_bits_to_f64({operand})"),
    (0x1F, "bitcast.f64.i64", unary("f64", "i64"), "_f64_to_bits({operand})"),
)


def _check_table(instructions: tuple[Instruction, ...]) -> None:
    """Raises AssertionError (also under ``python -O``) unless the rows keep
    the contracts the decoder, operand view and translator rely on:

    * opcode numbers lie in 0..255 and are unique within each opcode set, and
      mnemonics are unique;
    * every ``remap`` field directly follows the ``target`` field it belongs to;
    * only ``reg`` and ``list`` fields are written;
    * a template row writes at most one register, through a ``reg`` field.
    """
    seen: dict[tuple[str, int], str] = {}
    mnemonics: set[str] = set()
    for instruction in instructions:
        key = (instruction.opcode_set, instruction.opcode)
        if not 0 <= instruction.opcode <= 0xFF or key in seen:
            raise AssertionError(f"{instruction.mnemonic}: {instruction.opcode_set} opcode "
                                 f"0x{instruction.opcode:02X} is out of range or already "
                                 f"{seen.get(key)!r}'s")
        seen[key] = instruction.mnemonic
        if instruction.mnemonic in mnemonics:
            raise AssertionError(f"mnemonic {instruction.mnemonic!r} appears twice")
        mnemonics.add(instruction.mnemonic)
        fields = instruction.fields
        for index, spec in enumerate(fields):
            if spec.kind == "remap" and (index == 0 or fields[index - 1].kind != "target"):
                raise AssertionError(f"{instruction.mnemonic}: remap {spec.name!r} does not "
                                     f"follow a branch target")
            if spec.write and spec.kind not in ("reg", "list"):
                raise AssertionError(f"{instruction.mnemonic}: written field {spec.name!r} "
                                     f"is a {spec.kind}")
        if instruction.is_template:
            written = [spec for spec in fields if spec.write]
            if len(written) > 1 or any(spec.kind != "reg" for spec in written):
                raise AssertionError(f"{instruction.mnemonic}: a template writes at most "
                                     f"one register")


INSTRUCTIONS: tuple[Instruction, ...] = (
    _CORE_ROWS + tuple(_integer_ops(32)) + tuple(_integer_ops(64))
    + tuple(_float_ops(32)) + tuple(_float_ops(64)))
_check_table(INSTRUCTIONS)

# Lookup tables: opcode set -> 256-entry list (None for reserved opcodes).
OPCODE_TABLES: dict[str, list[Instruction | None]] = {
    name: [None] * 256 for name in ("core", "f32", "f64")}
for _instruction in INSTRUCTIONS:
    OPCODE_TABLES[_instruction.opcode_set][_instruction.opcode] = _instruction
BY_MNEMONIC: dict[str, Instruction] = {i.mnemonic: i for i in INSTRUCTIONS}
PREFIXES = {PREFIX_EXT_F32: "f32", PREFIX_EXT_F64: "f64"}
