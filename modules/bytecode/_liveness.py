"""Register liveness over a function's blocks, for the translator's peepholes.

``compute_live_out`` answers: which registers may still be read after a
block's terminator, along any of its edges (branch remaps included).
Registers are named as the operand view names them (``i7``, ``r3``).
Over-approximates (a register is live unless proven dead), so a peephole that
relies on a register being dead is always safe. Pure; never suspends.
"""

from __future__ import annotations

from ._decoder import DecodedInstruction


def _block_effect(body: list[DecodedInstruction]) -> tuple[set[str], set[str]]:
    """``(used, killed)`` of a block: live-in = (live-out - killed) | used.

    ``used`` holds the registers read before the block writes them,
    ``killed`` every register the block writes.
    """
    used: set[str] = set()
    killed: set[str] = set()
    for decoded in reversed(body):
        written = {register.name for register in decoded.writes}
        killed |= written
        used -= written
        used.update(register.name for register in decoded.reads)
    return used, killed


def _through_remap(live: set[str], remap) -> set[str]:
    """Registers live before an edge's remap, given those live after it."""
    result = set(live)
    for source, target in reversed(remap):
        result.discard(target.name)
        result.add(source.name)
    return result


def compute_live_out(blocks: list[tuple[int, list[DecodedInstruction]]],
                     block_index: dict[int, int]) -> list[set[str]]:
    """Per block: registers live after its terminator (on some outgoing edge).

    ``blocks`` are (offset, body) pairs with the block marker left out;
    ``block_index`` maps a block's offset to its index. Every edge of a
    block's last instruction counts, and a block whose last instruction is
    not a terminator also flows into the next block.
    """
    count = len(blocks)
    effects = [_block_effect(body) for _, body in blocks]
    live_in: list[set[str]] = [set() for _ in range(count)]
    live_out: list[set[str]] = [set() for _ in range(count)]
    changed = True
    while changed:
        changed = False
        for index in reversed(range(count)):
            body = blocks[index][1]
            last = body[-1] if body else None
            out: set[str] = set()
            if last is not None:
                for target in last.targets:
                    out |= _through_remap(live_in[block_index[target.pc]], target.remap)
            if (last is None or not last.instruction.is_terminator) and index + 1 < count:
                out |= live_in[index + 1]
            used, killed = effects[index]
            live = (out - killed) | used
            if out != live_out[index] or live != live_in[index]:
                live_out[index] = out
                live_in[index] = live
                changed = True
    return live_out
