"""Register dataflow over a function's blocks, for the translator's peepholes.

* :func:`compute_liveness` answers: which registers may still be read after
  a block's terminator, along any of its edges (branch remaps included), and
  which are read before being written from a block's start. Over-approximates
  (a register is live unless proven dead), so a peephole that relies on a
  register being dead is always safe.
* :func:`first_unwritten_read` answers: where, if anywhere, a register
  slot is read that is not written on every path from the function's entry
  (damaged bytecode: the compiler's code never does that). Exact per slot:
  an i64 fills two i32-bank slots, and branch remaps copy slots one by one.
* :func:`unwrapped_steps` answers: which ``add``/``sub`` instructions step a
  register by one where a compare guarding every path to them proves the
  result cannot leave the signed range. Under-approximates (a step wraps
  unless proven exact).

Registers are named as the operand view names them (``i7``, ``r3``). Pure;
never suspends.
"""

from __future__ import annotations

from ._decoder import DecodedInstruction

Blocks = list[tuple[int, list[DecodedInstruction]]]


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


def compute_liveness(blocks: Blocks,
                     block_index: dict[int, int]) -> tuple[list[set[str]], list[set[str]]]:
    """Per block: ``(live_in, live_out)``, the registers live at its start
    and after its terminator (on some outgoing edge, before that edge's remap).

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
    return live_in, live_out


# -- reads before writes --------------------------------------------------------------

def _slots(register, written: bool = False) -> tuple:
    """The storage a register operand names: ref ``r<n>``, or its i32-bank
    slot numbers (two for an i64/f64). When the bank is unstated (call
    arguments and results, remaps), a read counts one slot and a write two:
    never a false alarm about a valid program, whose i64 call results fill
    two slots and whose remaps copy slot by slot."""
    if register.is_ref:
        return (f"r{register.ordinal}",)
    if register.kind in ("i64", "f64") or (written and register.kind is None):
        return (register.ordinal, register.ordinal + 1)
    return (register.ordinal,)


def first_unwritten_read(blocks: Blocks, block_index: dict[int, int],
                         entry: set) -> tuple[int, str] | None:
    """``(pc, register name)`` of the first read of storage that some path
    from the entry reaches without writing it, or None. ``entry`` holds the
    storage the arguments fill (see :func:`_slots`). A forward "written on
    every path" analysis: the state entering a block is the intersection of
    what its predecessors' edges (remap targets included) wrote."""
    count = len(blocks)
    state_in: list[frozenset | None] = [None] * count  # None: not reached yet
    state_in[0] = frozenset(entry)
    changed = True
    while changed:
        changed = False
        for index in range(count):
            current = state_in[index]
            if current is None:
                continue
            written = set(current)
            body = blocks[index][1]
            for decoded in body:
                for register in decoded.writes:
                    written.update(_slots(register, True))
            last = body[-1] if body else None
            successors = []
            if last is not None:
                for target in last.targets:
                    along = set(written)
                    for _, destination in target.remap:
                        along.update(_slots(destination, True))
                    successors.append((block_index[target.pc], along))
            if (last is None or not last.instruction.is_terminator) and index + 1 < count:
                successors.append((index + 1, written))
            for successor, along in successors:
                old = state_in[successor]
                new = frozenset(along) if old is None else old & along
                if new != old:
                    state_in[successor] = new
                    changed = True
    for index in range(count):
        current = state_in[index]
        if current is None:
            continue
        written = set(current)
        for decoded in blocks[index][1]:
            for register in decoded.reads:
                if any(slot not in written for slot in _slots(register)):
                    return decoded.pc, register.name
            for register in decoded.writes:
                written.update(_slots(register, True))
            for target in decoded.targets:
                # A remap copies in order: a later source may be an earlier
                # destination (a swap through a spare register).
                along = set(written)
                for source, destination in target.remap:
                    if any(slot not in along for slot in _slots(source)):
                        return decoded.pc, source.name
                    along.update(_slots(destination, True))
    return None


# -- steps that cannot wrap ---------------------------------------------------------

_CONSTANTS = frozenset(("const.i32.zero", "const.i32", "const.i64.zero", "const.i64"))
_SIGNED_LESS = frozenset(("cmp.lt.i32.s", "cmp.lt.i64.s"))
_STEP_SIGN = {"add.i32": 1, "add.i64": 1, "sub.i32": -1, "sub.i64": -1}

# What is known at a point: register name -> facts about its value, each
# ("equals", v) for v in -1, 0, 1; ("below", kind): less than some value of
# its kind (i32 or i64); or ("above", kind): greater than some such value.
Known = dict[str, frozenset]


def unwrapped_steps(blocks: Blocks, block_index: dict[int, int]) -> dict[int, tuple[str, int]]:
    """The ``add``/``sub`` instructions whose exact result provably lies in
    the signed range of their kind: offset (``DecodedInstruction.pc``) ->
    (the register stepped, the step: 0, 1 or -1).

    Proven: a step by 0; ``x + 1`` where ``x < y`` was found true for a
    register ``y`` of the same kind as ``x``, and ``x - 1`` where ``y < x``
    was (the 1 a register known to hold 1, or -1 the other way round).
    Since ``y`` lies in the signed range, ``x < y <= MAX`` gives
    ``x + 1 <= MAX``, and ``MIN <= y < x`` gives ``MIN <= x - 1``; the other
    bound holds because ``x`` itself lies in the range. This rests on the
    invariant every template keeps (the bitwise ones rely on it too): a
    register of a kind holds a value in that kind's signed range.

    A fact holds at a point when it holds along every path from the
    function's entry to it: the bounds on ``x`` and ``y`` after the true
    edge of a ``cond_br`` testing a ``cmp.lt.s`` of them (the register not
    written in between), a value after a constant, until the register is
    written again; an edge's remap carries the facts of a register over to
    the one it copies it to.
    """
    count = len(blocks)
    predecessors: list[list[tuple[int, object]]] = [[] for _ in range(count)]
    for index, (_, body) in enumerate(blocks):
        last = body[-1] if body else None
        if last is not None:
            for target in last.targets:
                predecessors[block_index[target.pc]].append((index, target))
        if (last is None or not last.instruction.is_terminator) and index + 1 < count:
            predecessors[index + 1].append((index, None))
    given = [_true_edge_facts(body) for _, body in blocks]

    # A must-analysis: a block's entry is None (everything known) until a
    # path reaching it is followed, then what every edge into it followed
    # so far agrees on, shrinking to a fixpoint.
    entries: list[Known | None] = [None] * count
    exits: list[Known | None] = [None] * count
    changed = True
    while changed:
        changed = False
        for index, (_, body) in enumerate(blocks):
            if index == 0:
                known: Known = {}
            else:
                incoming = [_along_edge(exits[source], given[source], blocks[source][1], edge)
                            for source, edge in predecessors[index]
                            if exits[source] is not None]
                if not incoming:
                    continue
                known = _common(incoming)
            if exits[index] is None or known != entries[index]:
                entries[index] = known
                exits[index] = _walk_block(body, known, {})
                changed = True
    exact: dict[int, tuple[str, int]] = {}
    for index, (_, body) in enumerate(blocks):
        if entries[index] is not None:
            _walk_block(body, entries[index], exact)
    return exact


def _walk_block(body: list[DecodedInstruction], known: Known,
                exact: dict[int, tuple[str, int]]) -> Known:
    """What is known at the end of ``body`` given ``known`` at its start;
    adds the exact steps met on the way to ``exact``."""
    known = dict(known)
    for decoded in body:
        mnemonic = decoded.instruction.mnemonic
        if mnemonic in _STEP_SIGN:
            step = _exact_step(decoded, _STEP_SIGN[mnemonic], known)
            if step is not None:
                exact[decoded.pc] = step
        for register in decoded.writes:
            known.pop(register.name, None)
        if mnemonic in _CONSTANTS:
            value = 0 if mnemonic.endswith(".zero") else decoded.field("value")
            if value in (-1, 0, 1):
                known[decoded.writes[0].name] = frozenset((("equals", value),))
    return known


def _exact_step(decoded: DecodedInstruction, sign: int,
                known: Known) -> tuple[str, int] | None:
    """(register stepped, step) if the step provably stays in range."""
    left, right = decoded.reads
    orders = [(left, right), (right, left)] if sign > 0 else [(left, right)]
    for operand, amount in orders:
        for value in (0, 1, -1):
            if ("equals", value) in known.get(amount.name, ()):
                step = sign * value
                bound = ("below" if step > 0 else "above", operand.kind)
                if step == 0 or bound in known.get(operand.name, ()):
                    return operand.name, step
    return None


def _true_edge_facts(body: list[DecodedInstruction]) -> Known:
    """The bounds taking the true edge of the ``cond_br`` ending ``body``
    proves: those of its condition's ``cmp.lt.s``, for each compared
    register the block does not write after the compare."""
    if not body or body[-1].instruction.semantics != "@cond_br":
        return {}
    condition = body[-1].reads[0].name
    written_after: set[str] = set()
    for decoded in reversed(body[:-1]):
        written = {register.name for register in decoded.writes}
        if condition in written:
            if decoded.instruction.mnemonic not in _SIGNED_LESS:
                return {}
            left, right = decoded.reads
            facts: dict[str, set] = {}
            for register, relation in ((left, "below"), (right, "above")):
                if register.name not in written_after | written:
                    facts.setdefault(register.name, set()).add((relation, register.kind))
            return {name: frozenset(relations) for name, relations in facts.items()}
        written_after |= written
    return {}


def _along_edge(known: Known, given: Known, body: list[DecodedInstruction], edge) -> Known:
    """What is known on entering a block along ``edge`` (a BranchTarget, or
    None for falling through) out of ``body``, given ``known`` at its end and
    ``given``, what its branch's true edge proves."""
    known = dict(known)
    if edge is None:
        return known
    if given and edge is body[-1].targets[0]:
        for name, facts in given.items():
            known[name] = known.get(name, frozenset()) | facts
    for source, target in edge.remap:
        if source.name != target.name:
            facts = known.get(source.name)
            known.pop(target.name, None)
            if facts:
                known[target.name] = facts
    return known


def _common(states: list[Known]) -> Known:
    """What all of ``states`` know."""
    first, *others = states
    common: Known = {}
    for name, facts in first.items():
        for other in others:
            facts = facts & other.get(name, frozenset())
            if not facts:
                break
        else:
            common[name] = facts
    return common
