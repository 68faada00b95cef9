"""Register liveness over a function's blocks, for the translator's peepholes.

``live_out_of_edges`` answers: which registers may still be read after a
block's terminator, along any of its edges (branch operand moves included).
Over-approximates (a register is live unless proven dead), so a peephole that
relies on a register being dead is always safe. Pure; never suspends.
"""

from __future__ import annotations

from ._decoder import DecodedInstruction
from ._instruction_set import REF_BIT, REF_MASK


def _name(raw: int, bank: str | None) -> str:
    if bank == "ref" or (bank is None and raw & REF_BIT):
        return f"r{raw & REF_MASK}"
    return f"i{raw & 0x7FFF}"


def uses_and_defs(decoded: DecodedInstruction) -> tuple[set[str], set[str]]:
    """Registers an instruction reads and writes (edge moves excluded)."""
    uses: set[str] = set()
    defs: set[str] = set()
    for spec, value in zip(decoded.instruction.fields, decoded.values):
        if spec.kind == "reg":
            (defs if spec.write else uses).add(_name(value, spec.bank))
        elif spec.kind == "list":
            target = defs if spec.name == "results" else uses
            target.update(_name(raw, None) for raw in value)
    return uses, defs


def _edges(decoded: DecodedInstruction) -> list[tuple[int, tuple]]:
    edges = []
    fields = decoded.instruction.fields
    for index, (spec, value) in enumerate(zip(fields, decoded.values)):
        if spec.kind == "target":
            remap = ()
            if index + 1 < len(fields) and fields[index + 1].kind == "remap":
                remap = decoded.values[index + 1]
            edges.append((value, remap))
        elif spec.kind == "cases":
            edges.extend(value)
    return edges


def _through_remap(live: set[str], remap) -> set[str]:
    result = set(live)
    for source, target in reversed(remap):
        result.discard(_name(target, None))
        result.add(_name(source, None))
    return result


def compute_live_out(blocks: list[tuple[int, list[DecodedInstruction]]],
                     block_index: dict[int, int]) -> list[set[str]]:
    """Per block: registers live after its terminator (on some outgoing edge).

    A block that falls through (no terminator) flows into the next block.
    """
    count = len(blocks)
    live_in: list[set[str]] = [set() for _ in range(count)]
    live_out: list[set[str]] = [set() for _ in range(count)]
    changed = True
    while changed:
        changed = False
        for index in reversed(range(count)):
            body = blocks[index][1]
            out: set[str] = set()
            terminator = body[-1] if body else None
            edges = _edges(terminator) if terminator is not None else []
            for target, remap in edges:
                out |= _through_remap(live_in[block_index[target]], remap)
            semantics = terminator.instruction.semantics if terminator else None
            if semantics not in ("@br", "@cond_br", "@br_table", "@return", "@fail", "@yield",
                                 "@break", "@cond_break") and index + 1 < count:
                out |= live_in[index + 1]
            live = set(out)
            for decoded in reversed(body):
                uses, defs = uses_and_defs(decoded)
                live -= defs
                live |= uses
            if out != live_out[index] or live != live_in[index]:
                live_out[index] = out
                live_in[index] = live
                changed = True
    return live_out
