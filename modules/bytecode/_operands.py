"""The operand view of a decoded instruction: its registers and branch edges.

The instruction table says what each field is (its kind, the bank of a
register, whether it is written); the encoding adds what the table cannot
know: whether an entry of an untyped list is a ref (the ref bit) and whether
a ref read is the register's last use (the move bit). :func:`interpret_operands`
combines the two once, when an instruction is decoded, into

* the field values with every register as a :class:`Register`, so that no
  consumer re-reads encoding bits, and
* the flat view the analyses need: the registers read, the registers written
  and the branch targets, each a :class:`BranchTarget` with the register
  moves along its edge.

The verifier, the liveness pass, the translator and the disassembler all read
operands from this view. Pure; never suspends.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from asyncvm.vm import StatusCode, VMError

from ._instruction_set import MOVE_BIT, REF_BIT, REF_MASK, Field


@dataclass(frozen=True, slots=True)
class Register:
    """One register operand.

    ``kind`` is "i32", "i64", "f32", "f64" or "ref" — or None for a primitive
    whose bank the encoding leaves unstated (entries of call, return and
    trace lists and of branch remaps carry only the ref bit). ``ordinal``
    indexes the ref registers for a ref, the i32-bank slots otherwise (an i64
    or f64 fills slots ``ordinal`` and ``ordinal + 1``). ``move`` is True for
    a ref read that moves the value out: the register's last use. ``name`` is
    how the translator, liveness pass and disassembler call the register:
    ``r3`` for ref register 3, ``i7`` for whatever primitive starts at slot 7.
    """

    kind: str | None
    ordinal: int
    move: bool
    name: str

    @property
    def is_ref(self) -> bool:
        return self.kind == "ref"

    @property
    def width(self) -> int:
        """i32-bank slots the register fills: 2 for i64/f64, else 1 (0 for a ref)."""
        if self.kind == "ref":
            return 0
        return 2 if self.kind in ("i64", "f64") else 1


@dataclass(frozen=True, slots=True)
class BranchTarget:
    """One edge out of an instruction.

    ``pc`` is the offset of the target block's marker, relative to the
    function's first byte. ``remap`` lists the (source, target) register
    copies made, in order, as the edge is taken (block arguments of
    ``vm.br``, ``vm.cond_br``, ``vm.br_table``, ...); empty when the edge
    carries none (the resume block of a ``vm.call.yieldable``).
    """

    pc: int
    remap: tuple[tuple[Register, Register], ...]


def register(encoded: int, bank: str | None, pc: int) -> Register:
    """The :class:`Register` for the u16 ``encoded`` in a field of ``bank``.

    ``bank`` None means untyped: the ref bit decides ref or primitive.
    Raises VMError(INVALID_ARGUMENT) naming ``pc`` (the instruction's
    offset) for a primitive-typed field whose encoding has the ref bit.
    """
    if encoded & REF_BIT and bank is not None and bank != "ref":
        raise _mistyped(encoded, bank, pc)
    return _shared_register(encoded, bank)


def _mistyped(encoded: int, bank: str, pc: int) -> VMError:
    return VMError(StatusCode.INVALID_ARGUMENT,
                   f"register 0x{encoded:04X} of the instruction at offset {pc} is a ref "
                   f"where a {bank} was expected")


@lru_cache(maxsize=8192)
def _shared_register(encoded: int, bank: str | None) -> Register:
    # Registers are immutable, so one object serves every operand that
    # encodes the same way: decoding builds few of them.
    if bank == "ref" or (bank is None and encoded & REF_BIT):
        ordinal = encoded & REF_MASK
        return Register("ref", ordinal, bool(encoded & MOVE_BIT), f"r{ordinal}")
    return Register(bank, encoded, False, f"i{encoded}")


def _remap(pairs, pc: int) -> tuple[tuple[Register, Register], ...]:
    return tuple([(register(source, None, pc), register(target, None, pc))
                  for source, target in pairs])


def interpret_operands(fields: tuple[Field, ...], raw_values: tuple, pc: int):
    """Interprets the raw field values of the instruction at ``pc``.

    ``raw_values`` follow ``fields`` as the decoder read them (register
    ordinals as u16, remaps as (source, target) u16 pairs, cases as
    (target, remap) pairs). Returns ``(values, reads, writes, targets)``:

    * ``values``: the field values with registers as :class:`Register`
      (``reg`` fields, register ``list`` entries, ``remap`` pairs) and each
      ``cases`` entry as a :class:`BranchTarget`; other values unchanged;
    * ``reads`` / ``writes``: the registers read / written, in field order
      (a written ``list`` is a call's results); remap registers are in
      neither — they belong to their edge;
    * ``targets``: the branch edges in field order, each ``target`` field
      paired with the ``remap`` field that follows it.

    Raises VMError(INVALID_ARGUMENT) as :func:`register` does.
    """
    values = list(raw_values)
    reads: list[Register] = []
    writes: list[Register] = []
    targets: list[BranchTarget] = []
    for index, spec in enumerate(fields):
        kind = spec.kind
        if kind == "reg":
            # register(), inlined: most operands are single registers.
            encoded = values[index]
            bank = spec.bank
            if encoded & REF_BIT and bank is not None and bank != "ref":
                raise _mistyped(encoded, bank, pc)
            value = values[index] = _shared_register(encoded, bank)
            (writes if spec.write else reads).append(value)
        elif kind == "list":
            bank = spec.bank
            value = values[index] = tuple([register(entry, bank, pc) for entry in values[index]])
            (writes if spec.write else reads).extend(value)
        elif kind == "target":
            # A remap belongs to the target right before it (checked at table import).
            remap = ()
            if index + 1 < len(fields) and fields[index + 1].kind == "remap":
                remap = values[index + 1] = _remap(values[index + 1], pc)
            targets.append(BranchTarget(values[index], remap))
        elif kind == "cases":
            value = values[index] = tuple([BranchTarget(target, _remap(pairs, pc))
                                           for target, pairs in values[index]])
            targets.extend(value)
    return tuple(values), tuple(reads), tuple(writes), tuple(targets)
