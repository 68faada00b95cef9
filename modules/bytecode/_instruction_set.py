"""The VM bytecode instruction set (version 17), once, as data.

Each :class:`Instruction` row gives the opcode set and number, the mnemonic,
the operand fields in encoding order, and the semantics:

* an expression template (a Python expression over the read fields, in
  braces, whose value goes to the one written register), or
* ``@name``: a rule the translator implements by name (control flow, calls,
  globals, lists, buffers, refs, ...), or
* ``None`` for a marker.

The decoder reads fields by kind, the verifier checks them by kind and bank,
the translator turns semantics into Python, and the disassembler prints
mnemonics and fields — all from this table.

Field kinds and their encoding (little-endian):

==================  =========================================================
``reg``             u16 register ordinal; ``bank`` is i32/i64/f32/f64/ref.
                    A ref ordinal carries the move bit (0x4000) and the ref
                    bit (0x8000) in lists; the index is the low 14 bits.
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
                    (primitives or refs, told apart by the ref bit).
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
    """One operand field: ``kind`` as in the module docstring."""

    name: str
    kind: str
    bank: str | None = None
    write: bool = False
    move: bool = False


@dataclass(frozen=True)
class Instruction:
    opcode_set: str  # "core", "f32" or "f64"
    opcode: int
    mnemonic: str
    fields: tuple[Field, ...]
    semantics: str | None

    @property
    def result(self) -> Field | None:
        written = [f for f in self.fields if f.write and f.kind == "reg"]
        return written[0] if len(written) == 1 else None

    @property
    def reads(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.write)


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
CALL = (Field("callee", "function"), Field("operands", "list"), Field("results", "list"))
YIELDABLE_CALL = (Field("callee", "function"), Field("operands", "list"), Field("target", "target"),
                  Field("results", "list"))
VARIADIC_CALL = (Field("callee", "function"), Field("segment_sizes", "segments"),
                 Field("operands", "list"), Field("results", "list"))
VARIADIC_YIELDABLE_CALL = (Field("callee", "function"), Field("segment_sizes", "segments"),
                           Field("operands", "list"), Field("target", "target"),
                           Field("results", "list"))
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


def _integer_ops(width: int, base: dict[str, int]) -> list[Instruction]:
    """The arithmetic rows shared by i32 and i64 (opcode numbers from ``base``)."""
    t = f"i{width}"
    rows = [
        ("add", binary(t), _w(width, "{left} + {right}")),
        ("sub", binary(t), _w(width, "{left} - {right}")),
        ("mul", binary(t), _w(width, "{left} * {right}")),
        ("div.s", binary(t), f"_div_s{width}({{left}}, {{right}})"),
        ("div.u", binary(t), f"_div_u{width}({{left}}, {{right}})"),
        ("rem.s", binary(t), f"_rem_s{width}({{left}}, {{right}})"),
        ("rem.u", binary(t), f"_rem_u{width}({{left}}, {{right}})"),
        ("fma", ternary(t), _w(width, "{first} * {second} + {third}")),
        ("not", unary(t), "~{operand}"),
        ("and", binary(t), "{left} & {right}"),
        ("or", binary(t), "{left} | {right}"),
        ("xor", binary(t), "{left} ^ {right}"),
        ("shl", shift(t), _w(width, f"{{operand}} << ({{amount}} & {width - 1})")),
        ("shr.s", shift(t), f"{{operand}} >> ({{amount}} & {width - 1})"),
        ("shr.u", shift(t), _w(width, f"{_u(width, '{operand}')} >> ({{amount}} & {width - 1})")),
        ("cmp.eq", binary(t, "i32"), "1 if {left} == {right} else 0"),
        ("cmp.ne", binary(t, "i32"), "1 if {left} != {right} else 0"),
        ("cmp.lt.s", binary(t, "i32"), "1 if {left} < {right} else 0"),
        ("cmp.lt.u", binary(t, "i32"),
         f"1 if {_u(width, '{left}')} < {_u(width, '{right}')} else 0"),
        ("cmp.nz", unary(t, "i32"), "1 if {operand} else 0"),
        ("select", select(t), "{true_value} if {condition} else {false_value}"),
        ("ctlz", unary(t), f"{width} - {_u(width, '{operand}')}.bit_length()"),
        ("abs", unary(t), _w(width, "abs({operand})")),
        ("min.s", binary(t), "{left} if {left} < {right} else {right}"),
        ("min.u", binary(t),
         f"{{left}} if {_u(width, '{left}')} < {_u(width, '{right}')} else {{right}}"),
        ("max.s", binary(t), "{left} if {left} > {right} else {right}"),
        ("max.u", binary(t),
         f"{{left}} if {_u(width, '{left}')} > {_u(width, '{right}')} else {{right}}"),
    ]
    result = []
    for stem, fields, semantics in rows:
        if stem not in base:
            continue
        # Mnemonics put the type before a signedness suffix: div.i32.s, cmp.lt.i64.u.
        parts = stem.split(".")
        if parts[-1] in ("s", "u"):
            mnemonic = ".".join(parts[:-1] + [t, parts[-1]])
        else:
            mnemonic = ".".join(parts + [t])
        result.append(Instruction("core", base[stem], mnemonic, fields, semantics))
    return result


_I32_OPCODES = {
    "select": 0x1C, "add": 0x22, "sub": 0x23, "mul": 0x24, "div.s": 0x25, "div.u": 0x26,
    "rem.s": 0x27, "rem.u": 0x28, "fma": 0x29, "not": 0x32, "and": 0x33, "or": 0x34,
    "xor": 0x35, "shl": 0x3A, "shr.s": 0x3B, "shr.u": 0x3C, "cmp.eq": 0x49, "cmp.ne": 0x4A,
    "cmp.lt.s": 0x4B, "cmp.lt.u": 0x4C, "cmp.nz": 0x4D, "ctlz": 0x75, "abs": 0x77,
    "min.s": 0x7A, "min.u": 0x7B, "max.s": 0x7C, "max.u": 0x7D,
}
_I64_OPCODES = {
    "select": 0x1D, "add": 0x2A, "sub": 0x2B, "mul": 0x2C, "div.s": 0x2D, "div.u": 0x2E,
    "rem.s": 0x2F, "rem.u": 0x30, "fma": 0x31, "not": 0x36, "and": 0x37, "or": 0x38,
    "xor": 0x39, "shl": 0x3D, "shr.s": 0x3E, "shr.u": 0x3F, "cmp.eq": 0x4E, "cmp.ne": 0x4F,
    "cmp.lt.s": 0x50, "cmp.lt.u": 0x51, "cmp.nz": 0x52, "ctlz": 0x76, "abs": 0x78,
    "min.s": 0x7E, "min.u": 0x7F, "max.s": 0x80, "max.u": 0x81,
}


def _core() -> list[Instruction]:
    rows = [
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
    ]
    rows += _integer_ops(32, _I32_OPCODES)
    rows += _integer_ops(64, _I64_OPCODES)
    return rows


def _float_ops(width: int) -> list[Instruction]:
    t = f"f{width}"
    s = "f32" if width == 32 else "f64"
    # Rounds a double result to the register type (identity for f64).
    r = (lambda e: f"_r32({e})") if width == 32 else (lambda e: e)
    base = [
        ("global.load.T", global_load(t), "@global_load"),
        ("global.store.T", global_store(t), "@global_store"),
        ("global.load.indirect.T", global_load_indirect(t), "@global_load_indirect"),
        ("global.store.indirect.T", global_store_indirect(t), "@global_store_indirect"),
        ("const.T.zero", (_write("result.T", t),), "0.0"),
        ("const.T", constant(t), "{value}"),
        ("list.get.T", list_get(t), f"_list({{list}}).get_value({{index}}, _{s.upper()})"),
        ("list.set.T", list_set(t), f"_list({{list}}).set_value({{index}}, {{value}}, _{s.upper()})"),
        ("select.T", select(t), "{true_value} if {condition} else {false_value}"),
        ("switch.T", switch(t), "@switch"),
        ("add.T", binary(t), r("{left} + {right}")),
        ("sub.T", binary(t), r("{left} - {right}")),
        ("mul.T", binary(t), r("{left} * {right}")),
        ("div.T", binary(t), r("_fdiv({left}, {right})")),
        ("rem.T", binary(t), r("_frem({left}, {right})")),
        ("fma.T", ternary(t), "_fma32({first}, {second}, {third})" if width == 32
         else "{first} * {second} + {third}"),
        ("abs.T", unary(t), "_fabs({operand})"),
        ("neg.T", unary(t), "-{operand}"),
        ("ceil.T", unary(t), "_ceil({operand})"),
        ("floor.T", unary(t), "_floor({operand})"),
        ("atan.T", unary(t), r("_math.atan({operand})")),
        ("atan2.T", binary(t), r("_math.atan2({left}, {right})")),
        ("cos.T", unary(t), r("_unary('cos', {operand})")),
        ("sin.T", unary(t), r("_unary('sin', {operand})")),
        ("exp.T", unary(t), r("_unary('exp', {operand})")),
        ("exp2.T", unary(t), r("_unary('exp2', {operand})")),
        ("expm1.T", unary(t), r("_unary('expm1', {operand})")),
        ("log.T", unary(t), r("_unary('log', {operand})")),
        ("log10.T", unary(t), r("_unary('log10', {operand})")),
        ("log1p.T", unary(t), r("_unary('log1p', {operand})")),
        ("log2.T", unary(t), r("_unary('log2', {operand})")),
        ("pow.T", binary(t), r("_pow({left}, {right})")),
        ("rsqrt.T", unary(t), "_rsqrt32({operand})" if width == 32 else "_rsqrt({operand})"),
        ("sqrt.T", unary(t), r("_unary('sqrt', {operand})")),
        ("tanh.T", unary(t), r("_math.tanh({operand})")),
        ("erf.T", unary(t), r("_math.erf({operand})")),
        ("cmp.eq.T.o", binary(t, "i32"), "1 if {left} == {right} else 0"),
        ("cmp.eq.T.u", binary(t, "i32"),
         "1 if ({left} == {right} or {left} != {left} or {right} != {right}) else 0"),
        # IREE implements ne.o as C's !=, which is true when either is NaN.
        ("cmp.ne.T.o", binary(t, "i32"), "1 if {left} != {right} else 0"),
        ("cmp.ne.T.u", binary(t, "i32"), "1 if {left} != {right} else 0"),
        ("cmp.lt.T.o", binary(t, "i32"), "1 if {left} < {right} else 0"),
        ("cmp.lt.T.u", binary(t, "i32"), "0 if {left} >= {right} else 1"),
        ("cmp.lte.T.o", binary(t, "i32"), "1 if {left} <= {right} else 0"),
        ("cmp.lte.T.u", binary(t, "i32"), "0 if {left} > {right} else 1"),
        ("cmp.nan.T", unary(t, "i32"), "1 if {operand} != {operand} else 0"),
        ("buffer.load.T", buffer_load(t), f"_buffer({{buffer}}).load_float({width // 8}, {{offset}})"),
        ("buffer.store.T", buffer_store(t),
         f"_buffer({{buffer}}).store_float({width // 8}, {{offset}}, {{value}})"),
        ("buffer.fill.T", buffer_fill(t),
         f"_buffer({{buffer}}).fill({width // 8}, {{offset}}, {{length}}, "
         f"_float_pattern({width // 8}, {{value}}))"),
        ("round.T", unary(t), "_round({operand})"),
        ("min.T", binary(t), "_fmin({left}, {right})"),
        ("max.T", binary(t), "_fmax({left}, {right})"),
        ("round.T.even", unary(t), "_round_even({operand})"),
    ]
    rows = [(stem.replace("T", t), fields, semantics) for stem, fields, semantics in base]
    numbering = _F32_NUMBERING if width == 32 else _F64_NUMBERING
    by_mnemonic = {m: (f, s) for m, f, s in rows}
    by_mnemonic.update(_conversions(width))
    result = []
    for opcode, mnemonic in numbering.items():
        fields, semantics = by_mnemonic[mnemonic]
        result.append(Instruction(s, opcode, mnemonic, fields, semantics))
    return result


def _conversions(width: int) -> dict[str, tuple]:
    if width == 32:
        return {
            "cast.si32.f32": (unary("i32", "f32"), "_r32(float({operand}))"),
            "cast.ui32.f32": (unary("i32", "f32"), "_r32(float({operand} & 0xFFFFFFFF))"),
            "cast.f32.si32": (unary("f32", "i32"), "_to_si32({operand})"),
            "cast.f32.ui32": (unary("f32", "i32"), "_to_ui32({operand})"),
            "bitcast.i32.f32": (unary("i32", "f32"), "_bits_to_f32({operand})"),
            "bitcast.f32.i32": (unary("f32", "i32"), "_f32_to_bits({operand})"),
            "cast.f32.si64": (unary("f32", "i64"), "_to_si64({operand})"),
            "cast.f32.ui64": (unary("f32", "i64"), "_to_ui64({operand})"),
            "cast.si64.f32": (unary("i64", "f32"), "_r32(float({operand}))"),
            "cast.ui64.f32": (unary("i64", "f32"), "_r32(float({operand} & 0xFFFFFFFFFFFFFFFF))"),
        }
    return {
        "trunc.f64.f32": (unary("f64", "f32"), "_r32({operand})"),
        "ext.f32.f64": (unary("f32", "f64"), "{operand}"),
        "cast.si32.f64": (unary("i32", "f64"), "float({operand})"),
        "cast.ui32.f64": (unary("i32", "f64"), "float({operand} & 0xFFFFFFFF)"),
        "cast.f64.si32": (unary("f64", "i32"), "_f64_to_si32({operand})"),
        "cast.f64.ui32": (unary("f64", "i32"), "_f64_to_si32({operand})"),
        "cast.si64.f64": (unary("i64", "f64"), "float({operand})"),
        "cast.ui64.f64": (unary("i64", "f64"), "float({operand} & 0xFFFFFFFFFFFFFFFF)"),
        "cast.f64.si64": (unary("f64", "i64"), "_to_si64({operand})"),
        "cast.f64.ui64": (unary("f64", "i64"), "_to_ui64({operand})"),
        "bitcast.i64.f64": (unary("i64", "f64"), "_bits_to_f64({operand})"),
        "bitcast.f64.i64": (unary("f64", "i64"), "_f64_to_bits({operand})"),
    }


def _numbering(width: int, names: list[str]) -> dict[int, str]:
    t = f"f{width}"
    return {index: name.replace("T", t) for index, name in enumerate(names) if name}


_SHARED_HEAD = ["global.load.T", "global.store.T", "global.load.indirect.T",
                "global.store.indirect.T", "const.T.zero", "const.T", "list.get.T", "list.set.T",
                "select.T", "switch.T", "add.T", "sub.T", "mul.T", "div.T", "rem.T", "fma.T",
                "abs.T", "neg.T", "ceil.T", "floor.T"]
_MATH = ["atan.T", "atan2.T", "cos.T", "sin.T", "exp.T", "exp2.T", "expm1.T", "log.T",
         "log10.T", "log1p.T", "log2.T", "pow.T", "rsqrt.T", "sqrt.T", "tanh.T", "erf.T",
         "cmp.eq.T.o", "cmp.eq.T.u", "cmp.ne.T.o", "cmp.ne.T.u", "cmp.lt.T.o", "cmp.lt.T.u",
         "cmp.lte.T.o", "cmp.lte.T.u", "cmp.nan.T", "buffer.load.T", "buffer.store.T",
         "buffer.fill.T", "round.T", "min.T", "max.T", "round.T.even"]
_F32_NUMBERING = _numbering(32, _SHARED_HEAD + [
    "cast.si32.f32", "cast.ui32.f32", "cast.f32.si32", "cast.f32.ui32", "bitcast.i32.f32",
    "bitcast.f32.i32"] + _MATH + ["cast.f32.si64", "cast.f32.ui64", "cast.si64.f32",
                                  "cast.ui64.f32"])
_F64_NUMBERING = _numbering(64, _SHARED_HEAD + [
    "trunc.f64.f32", "ext.f32.f64", "cast.si32.f64", "cast.ui32.f64", "cast.f64.si32",
    "cast.f64.ui32", "cast.si64.f64", "cast.ui64.f64", "cast.f64.si64", "cast.f64.ui64",
    "bitcast.i64.f64", "bitcast.f64.i64"] + _MATH)


INSTRUCTIONS: tuple[Instruction, ...] = tuple(_core() + _float_ops(32) + _float_ops(64))

# Lookup tables: opcode set -> 256-entry list (None for reserved opcodes).
OPCODE_TABLES: dict[str, list[Instruction | None]] = {
    name: [None] * 256 for name in ("core", "f32", "f64")}
for _instruction in INSTRUCTIONS:
    _table = OPCODE_TABLES[_instruction.opcode_set]
    assert _table[_instruction.opcode] is None, _instruction
    _table[_instruction.opcode] = _instruction
BY_MNEMONIC: dict[str, Instruction] = {i.mnemonic: i for i in INSTRUCTIONS}
PREFIXES = {PREFIX_EXT_F32: "f32", PREFIX_EXT_F64: "f64"}
