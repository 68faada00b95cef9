"""Decoding bytecode into instructions, field by field, from the instruction table.

:func:`decode_function` turns the bytes of one function into a list of
:class:`DecodedInstruction` (block markers included), each with its operand
view (:mod:`._operands`) computed once. Every read is bounds checked against
the function's byte range: truncated, unknown or mistyped encodings raise
VMError(INVALID_ARGUMENT) naming the offset. Pure; never suspends.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from asyncvm.vm import StatusCode, VMError

from ._instruction_set import OPCODE_TABLES, PREFIXES, Instruction
from ._operands import BranchTarget, Register, interpret_operands

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
_CONSTANTS = {"i32": _I32, "i64": _I64, "f32": _F32, "f64": _F64}


@dataclass(slots=True, eq=False)
class DecodedInstruction:
    """One instruction: its offset, byte length, table row, field values and
    operand view.

    ``pc`` is the offset in the bytecode section. ``values`` follow
    ``instruction.fields``: registers as :class:`Register` (alone, in lists
    and in remap pairs), targets as offsets relative to the function start,
    cases as :class:`BranchTarget`, segment sizes as tuples of ints,
    constants as numbers, strings as str, other attributes as ints.

    The operand view: ``reads`` and ``writes`` are the registers read and
    written, in field order (remap registers excluded: they belong to their
    edge); ``targets`` the branch edges, in field order, each with its remap.

    Immutable by contract, not enforced: a frozen dataclass's constructor is
    several times slower, and decoding builds one per instruction at every
    module load.
    """

    pc: int
    length: int
    instruction: Instruction
    values: tuple
    reads: tuple[Register, ...]
    writes: tuple[Register, ...]
    targets: tuple[BranchTarget, ...]

    def field(self, name: str):
        """The value of the field called ``name``; KeyError if there is none."""
        for spec, value in zip(self.instruction.fields, self.values):
            if spec.name == name:
                return value
        raise KeyError(name)

    def registers(self):
        """Every register the instruction names: reads, writes, then the
        remap registers of each edge."""
        yield from self.reads
        yield from self.writes
        for target in self.targets:
            for source, destination in target.remap:
                yield source
                yield destination


class _Cursor:
    __slots__ = ("data", "pc", "end")

    def __init__(self, data: bytes, pc: int, end: int) -> None:
        self.data, self.pc, self.end = data, pc, end

    def need(self, count: int) -> int:
        pc = self.pc
        if pc + count > self.end:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"truncated instruction: needs {count} byte(s) at offset {pc}, "
                          f"function ends at {self.end}")
        self.pc = pc + count
        return pc

    def u8(self) -> int:
        return self.data[self.need(1)]

    def u16(self) -> int:
        return _U16.unpack_from(self.data, self.need(2))[0]

    def u32(self) -> int:
        return _U32.unpack_from(self.data, self.need(4))[0]

    def align2(self) -> None:
        if self.pc & 1:
            self.need(1)

    def u16_list(self) -> tuple[int, ...]:
        self.align2()
        count = self.u16()
        start = self.need(2 * count)
        return struct.unpack_from(f"<{count}H", self.data, start)

    def remap(self) -> tuple[tuple[int, int], ...]:
        self.align2()
        count = self.u16()
        start = self.need(4 * count)
        flat = struct.unpack_from(f"<{2 * count}H", self.data, start)
        return tuple(zip(flat[0::2], flat[1::2]))


def _read_field(cursor: _Cursor, kind: str, bank: str | None):
    if kind == "reg":
        return cursor.u16()
    if kind in ("global", "rodata", "function", "type", "target"):
        return cursor.u32()
    if kind == "const":
        layout = _CONSTANTS[bank]
        return layout.unpack_from(cursor.data, cursor.need(layout.size))[0]
    if kind == "string":
        length = cursor.u16()
        start = cursor.need(length)
        try:
            return cursor.data[start:start + length].decode("utf-8")
        except UnicodeDecodeError:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"string at offset {start} is not UTF-8") from None
    if kind == "u16":
        return cursor.u16()
    if kind == "remap":
        return cursor.remap()
    if kind in ("list", "segments"):
        return cursor.u16_list()
    if kind == "cases":
        count = cursor.u16()
        return tuple((cursor.u32(), cursor.remap()) for _ in range(count))
    raise AssertionError(kind)


def decode_instruction(data: bytes, pc: int, end: int) -> DecodedInstruction:
    """Decodes the instruction at ``pc`` (which must lie before ``end``)."""
    cursor = _Cursor(data, pc, end)
    opcode = cursor.u8()
    table = OPCODE_TABLES["core"]
    opcode_set = PREFIXES.get(opcode)
    if opcode_set is not None:
        table = OPCODE_TABLES[opcode_set]
        opcode = cursor.u8()
    instruction = table[opcode]
    if instruction is None:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"unknown {opcode_set or 'core'} opcode 0x{opcode:02X} at offset {pc}")
    raw_values = [_read_field(cursor, spec.kind, spec.bank) for spec in instruction.fields]
    values, reads, writes, targets = interpret_operands(instruction.fields, raw_values, pc)
    return DecodedInstruction(pc, cursor.pc - pc, instruction, values, reads, writes, targets)


def decode_function(data: bytes, start: int, length: int) -> list[DecodedInstruction]:
    """Decodes every instruction of the function occupying ``data[start:start+length]``."""
    if start < 0 or length < 0 or start + length > len(data):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"function bytecode [{start}, {start + length}) is outside the "
                      f"{len(data)}-byte bytecode section")
    end = start + length
    result = []
    pc = start
    while pc < end:
        decoded = decode_instruction(data, pc, end)
        result.append(decoded)
        pc += decoded.length
    return result
