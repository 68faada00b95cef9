"""The interpreter: bytecode functions translated to Python generator functions.

Each VM function becomes one Python generator function whose registers are
Python local variables (``i7`` for i32-bank register 7 — also where an i64,
f32 or f64 starting at slot 7 lives — and ``r3`` for ref register 3). Blocks
become guarded sections of one ``while True`` loop that a block index ``_b``
steers; a branch to a later block falls through the guards instead of
restarting the loop. Instruction semantics come from the instruction table:
expression templates are filled in with register names, and ``@rules`` are
implemented here. Registers, their names and branch edges come from each
instruction's operand view (:mod:`._operands`). Translation happens once per
module; the generated code is bound to each context's module state by
calling ``_bind(state)``.

Peepholes, each relying on a proof from :mod:`._liveness`: a compare that
only steers the branch after it is tested in place; an ``add``/``sub`` step
that provably stays in the signed range leaves out its wrap; a result that
a ``br`` only copies into another register is written there directly.

Suspension points in generated code, all ``yield`` to the invocation driver
(see :mod:`asyncvm.vm._invocation`):

* a call whose callee did not finish synchronously yields what the callee
  returned: a generator (a bytecode frame, which the driver pushes) or an
  awaitable (an async import). A bytecode function with no calls, loops or
  yields translates to a plain function and returns its result tuple directly;
* ``vm.yield`` yields ``None``; a backward branch yields ``QUANTUM_CHECK``
  once the frame's instruction budget (``state.quantum``) is used up, and the
  driver decides whether the time slice is over. The budget ``_q`` counts
  instructions; a loop unit with a trip counter (see :class:`_Induction`)
  counts it in trips instead, as the counter's distance to ``_end``.

Every generated line maps back to the bytecode offset it came from, so a
failure's traceback names ``module.function@pc``.

Two more translations serve observation (see :mod:`._observation`); the
normal translation is not affected by them in any way. Each is the normal
code plus a line before each instruction that uses ``_o``, a keyword-only
parameter of every function whose default the module state sets:

* ``mode="observed"``: ``_o(<site>, (<operand registers>,))`` calls the hook
  ``_o`` with the operands' values as they are before the instruction runs:
  the registers it reads, then the sources of its branch remaps (see
  :func:`observed_operands`). The peepholes are left out, so that each
  instruction is a statement of its own over the registers it names
  (wrapping as written, loops counting their budget per instruction);
* ``mode="counted"``: ``_o[<site>] += 1`` counts the instruction in the
  list ``_o`` (a fused compare is counted where it stood).

``<site>`` numbers the module's instructions in function order (see
:func:`instruction_sites`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from asyncvm.vm import Span, StatusCode, ValueKind, VMError, parse_calling_convention

from ._decoder import DecodedInstruction
from ._instruction_set import IMPORT_BIT
from ._liveness import compute_liveness, first_unwritten_read, unwrapped_steps
from ._module_definition import ModuleDef
from ._operands import BranchTarget

_CHUNK_THRESHOLD = 12
_INDENT = "    "


@dataclass
class TranslatedModule:
    """Generated source plus the map from generated lines to (function, pc)."""

    source: str
    line_map: dict[int, tuple[int, int]] = field(default_factory=dict)


def parameter_storage(calling_convention: str) -> set:
    """What a function's arguments fill at entry: ref ``r<n>`` names and
    i32-bank slot numbers (two per i64/f64), as ``_liveness._slots`` names
    them."""
    storage: set = set()
    kinds = parse_calling_convention(calling_convention).arguments
    for name, kind in zip(parameter_names(calling_convention), kinds):
        if kind is ValueKind.REF:
            storage.add(name)
        else:
            slot = int(name[1:])
            storage.update((slot, slot + 1) if kind in (ValueKind.I64, ValueKind.F64) else (slot,))
    return storage


def parameter_names(calling_convention: str) -> list[str]:
    """Register names of a bytecode function's arguments, in order.

    i32/f32 arguments take the next i32-bank slot, i64/f64 arguments the next
    even slot pair, refs the next ref register (IREE's frame ABI).
    """
    signature = parse_calling_convention(calling_convention)
    names = []
    slot = ref = 0
    for kind in signature.arguments:
        if isinstance(kind, Span):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"bytecode function with variadic convention {calling_convention!r}")
        if kind is ValueKind.REF:
            names.append(f"r{ref}")
            ref += 1
        elif kind in (ValueKind.I64, ValueKind.F64):
            slot += slot & 1
            names.append(f"i{slot}")
            slot += 2
        else:
            names.append(f"i{slot}")
            slot += 1
    return names


def _literal(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "_math.nan"
        if math.isinf(value):
            return "_math.inf" if value > 0 else "(-_math.inf)"
    return repr(value)


@dataclass(frozen=True)
class _Induction:
    """The trip counter of a loop unit: ``register``, which the instruction
    at ``pc`` steps by ``direction`` (1 or -1, proven not to wrap) on every
    trip and nothing else in the loop writes. Each trip is charged ``cost``
    instructions of the budget."""

    register: str
    pc: int
    direction: int
    cost: int


class _Lines:
    """Collects generated lines with their indentation and source pc."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str, int | None, int | None]] = []

    def add(self, depth: int, text: str, function: int | None = None,
            pc: int | None = None) -> None:
        self.lines.append((depth, text, function, pc))


def instruction_sites(functions: list[list[DecodedInstruction]]
                      ) -> list[tuple[int, DecodedInstruction]]:
    """Every instruction of a module but the block markers, as (function
    ordinal, instruction), in function order: the site numbers of the
    observed translation are positions in this list."""
    return [(ordinal, decoded) for ordinal, instructions in enumerate(functions)
            for decoded in instructions if not decoded.instruction.is_block_marker]


def observed_operands(decoded: DecodedInstruction) -> tuple:
    """The registers whose values the observed translation passes to its
    hook before ``decoded`` runs: those it reads, then the sources of its
    branch remaps, each once, in that order."""
    registers = {register.name: register for register in decoded.reads}
    for target in decoded.targets:
        for source, _ in target.remap:
            registers.setdefault(source.name, source)
    return tuple(registers.values())


class _FunctionTranslator:
    def __init__(self, module: ModuleDef, ordinal: int, name: str,
                 instructions: list[DecodedInstruction], function_start: int,
                 lines: _Lines, sites: dict[int, int] | None = None,
                 counted: bool = False) -> None:
        self.module = module
        # Observed and counted translations: the site number of each
        # instruction, by its offset in the bytecode section (None for the
        # normal translation).
        self.sites = sites
        self.counted = counted
        # The observed translation leaves the peepholes out, so that each
        # instruction is a statement of its own over the registers it names.
        self.peepholes = sites is None or counted
        self.ordinal = ordinal
        self.name = name
        self.instructions = instructions
        self.start = function_start
        self.out = lines
        self.blocks: list[tuple[int, list[DecodedInstruction]]] = []
        self.block_index: dict[int, int] = {}
        self.pc = 0
        self.uses_quantum = False
        self.live_in: list[set[str]] = []
        self.live_out: list[set[str]] = []
        self.exact_steps: dict[int, tuple[str, int]] = {}
        self.retargeted: dict[int, str] = {}
        self.folded_copies: dict[int, set[tuple[str, str]]] = {}
        self.dead_at_call: dict[int, list[str]] = {}
        self.fused_condition: str | None = None
        self.region: tuple[int, int, bool] | None = None
        self.induction: _Induction | None = None

    # -- structure ---------------------------------------------------------------

    def _split_blocks(self) -> None:
        current: list[DecodedInstruction] | None = None
        for decoded in self.instructions:
            if decoded.instruction.is_block_marker:
                relative = decoded.pc - self.start
                self.block_index[relative] = len(self.blocks)
                current = []
                self.blocks.append((relative, current))
            elif current is None:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"function {self.name}: code before the first block marker")
            else:
                current.append(decoded)
        if not self.blocks:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"function {self.name}: no blocks")
        last = self.blocks[-1][1]
        if not last or not last[-1].instruction.is_terminator:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"function {self.name}: the last block does not end in a terminator "
                          "(execution would run past the end of the function)")

    def _dead_refs_at_calls(self, refs: set[str]) -> dict[int, list[str]]:
        """Per call instruction (by pc): the ref registers nothing reads
        after it, which the frame drops before it suspends there (see
        :meth:`_rule_call`), so a suspended call holds no buffer or fence it
        is done with. From the liveness walked back through each block;
        registers a folded edge copy writes early (see
        :meth:`_fold_edge_copies`) are never dropped."""
        kept: set[str] = set()
        for pairs in self.folded_copies.values():
            for source, target in pairs:
                kept.update((source, target))
        dead_at: dict[int, list[str]] = {}
        for index, (_, body) in enumerate(self.blocks):
            live = set(self.live_out[index])
            for decoded in reversed(body):
                written = {register.name for register in decoded.writes}
                if decoded.instruction.semantics == "@call":
                    dead = refs - live - kept - written
                    if dead:
                        dead_at[decoded.pc] = sorted(dead, key=_register_order)
                live -= written
                live.update(register.name for register in decoded.reads)
        return dead_at

    def _registers(self) -> tuple[set[str], set[str]]:
        """Names of the primitive registers and of the ref registers used."""
        primitives: set[str] = set()
        refs: set[str] = set()
        for decoded in self.instructions:
            for register in decoded.registers():
                (refs if register.is_ref else primitives).add(register.name)
        return primitives, refs

    def translate(self) -> None:
        self._split_blocks()
        self.live_in, self.live_out = compute_liveness(self.blocks, self.block_index)
        signature = self.module.signatures[self.ordinal].calling_convention
        parameters = parameter_names(signature)
        unwritten = first_unwritten_read(self.blocks, self.block_index,
                                         parameter_storage(signature))
        if unwritten is not None:
            # The compiler's code reads a register only after writing it on
            # every path (SSA dominance); a read before any write comes from
            # damaged bytecode, and its value would be whatever the frame
            # held. Reject it rather than run on an invented zero.
            pc, register = unwritten
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"function {self.name}: register {register} may be read before it "
                          f"is written (at pc {pc + self.start})")
        header = list(parameters)
        if self.peepholes:
            self.exact_steps = unwrapped_steps(self.blocks, self.block_index)
            for index in range(len(self.blocks)):
                self._fold_edge_copies(index)
        if self.sites is not None:
            header += ["*", "_o=None"]
        out = self.out
        out.add(1, f"def f{self.ordinal}({', '.join(header)}):", self.ordinal, 0)
        primitives, refs = self._registers()
        self.dead_at_call = self._dead_refs_at_calls(refs)
        unset_primitives = sorted(primitives - set(parameters), key=_register_order)
        unset_refs = sorted(refs - set(parameters), key=_register_order)
        if unset_primitives:
            out.add(2, " = ".join(unset_primitives) + " = 0", self.ordinal, 0)
        if unset_refs:
            out.add(2, " = ".join(unset_refs) + " = None", self.ordinal, 0)
        self.uses_quantum = self._has_backward_branch()
        if self.uses_quantum:
            out.add(2, "_q = _QUANTUM", self.ordinal, 0)
        if len(self.blocks) == 1 and not self.uses_quantum:
            self._emit_block(0, 2)
            body = self.blocks[0][1]
            if not body or body[-1].instruction.semantics != "@return":
                out.add(2, "raise _fell_off()", self.ordinal, self.blocks[0][0])
            return
        out.add(2, "_b = 0", self.ordinal, 0)
        out.add(2, "while True:", self.ordinal, 0)
        units = self._units()
        if len(units) <= _CHUNK_THRESHOLD:
            for unit in units:
                self._emit_unit(unit, 3)
        else:
            size = max(4, int(math.sqrt(len(units))))
            for first in range(0, len(units), size):
                chunk = units[first:first + size]
                last = chunk[-1][1]
                out.add(3, f"if _b <= {last}:", self.ordinal, self.blocks[chunk[0][0]][0])
                for unit in chunk:
                    self._emit_unit(unit, 4)
        # Falling off the last block cannot happen in verified code.
        out.add(3, "raise _fell_off()", self.ordinal, self.blocks[-1][0])

    # -- loops ----------------------------------------------------------------------

    def _successors(self, index: int) -> list[int]:
        body = self.blocks[index][1]
        terminator = body[-1] if body else None
        targets = [self.block_index[t.pc] for t in terminator.targets] if terminator else []
        if terminator is None or not terminator.instruction.is_terminator:
            targets.append(index + 1)
        return targets

    def _units(self) -> list[tuple[int, int, bool | None]]:
        """Blocks grouped for emission: (first, last, guarded) where a natural
        loop — entered only at its header, whose back edges all return to the
        header and which holds no other loop — becomes one unit emitted as a
        Python ``while`` loop; ``guarded`` is None for a plain block."""
        count = len(self.blocks)
        edges = [(source, target) for source in range(count)
                 for target in self._successors(source) if target < count]
        back = [(source, target) for source, target in edges if target <= source]
        regions: dict[int, tuple[int, bool]] = {}
        for header in sorted({target for _, target in back}):
            last = max(source for source, target in back if target == header)
            inside = range(header, last + 1)
            valid = all(target == header for source, target in back if source in inside)
            valid = valid and all(target == header or target not in inside
                                  for source, target in edges if source not in inside)
            if valid:
                guarded = any(header < target <= last and target != source + 1
                              for source, target in edges if source in inside)
                regions[header] = (last, guarded)
        units = []
        index = 0
        while index < count:
            if index in regions:
                last, guarded = regions[index]
                units.append((index, last, guarded))
                index = last + 1
            else:
                units.append((index, index, None))
                index += 1
        return units

    def _emit_unit(self, unit: tuple[int, int, bool | None], depth: int) -> None:
        """Emits a plain block, or a loop unit as a ``while True`` loop.

        A loop with a trip counter ``x`` (stepping up; down is symmetric)
        keeps its budget as the distance from ``x`` to ``_end``: its back
        edge only compares, and the instructions left go back to ``_q``
        when the loop is left::

            _end = x + _q // cost + 1
            while True:
                <blocks>    # back edge: if x >= _end: a check; continue
                break       # leaving: break
            _q = (_end - x - 1) * cost
        """
        first, last, guarded = unit
        out = self.out
        at = self.blocks[first][0]
        out.add(depth, f"if _b <= {first}:", self.ordinal, at)
        if guarded is None:
            self._emit_block(first, depth + 1)
            return
        self.region = (first, last, guarded)
        induction = self.induction = self._induction(first, last, guarded)
        if induction is not None:
            counter, cost = induction.register, induction.cost
            sign = "+" if induction.direction > 0 else "-"
            out.add(depth + 1, f"_end = {counter} {sign} _q // {cost} {sign} 1", self.ordinal, at)
        out.add(depth + 1, "while True:", self.ordinal, at)
        for index in range(first, last + 1):
            if index == first or not guarded:
                self._emit_block(index, depth + 2)
            else:
                out.add(depth + 2, f"if _b <= {index}:", self.ordinal, self.blocks[index][0])
                self._emit_block(index, depth + 3)
        # Reached only when the last block falls through out of the loop.
        out.add(depth + 2, "break", self.ordinal, self.blocks[last][0])
        if induction is not None:
            distance = (f"_end - {counter}" if induction.direction > 0
                        else f"{counter} - _end")
            out.add(depth + 1, f"_q = ({distance} - 1) * {cost}", self.ordinal,
                    self.blocks[last][0])
        self.region = None
        self.induction = None

    def _induction(self, first: int, last: int, guarded: bool) -> _Induction | None:
        """The trip counter of the loop unit ``first..last``, if it has one.

        The loop must run its blocks in order (not ``guarded``) and branch
        back to its header only at the end of its last block, so a trip that
        comes back has run each of its instructions once. The counter is a
        register that one of them steps by one, by a step proven exact (so
        the register moves monotonically), and that nothing else in the
        loop writes, remaps of the edges out of it included.
        """
        if guarded or not self.peepholes:
            return None
        writers: dict[str, list[int | None]] = {}
        back_edges = 0
        for index in range(first, last + 1):
            body = self.blocks[index][1]
            for decoded in body:
                folded = self.folded_copies.get(decoded.pc, ())
                for target in decoded.targets:
                    if self.block_index[target.pc] == first:
                        if index != last or decoded is not body[-1]:
                            return None
                        back_edges += 1
                    for source, register in target.remap:
                        if (source.name, register.name) not in folded:
                            writers.setdefault(register.name, []).append(None)
                for register in decoded.writes:
                    name = self.retargeted.get(decoded.pc, register.name)
                    writers.setdefault(name, []).append(decoded.pc)
        if back_edges != 1:
            return None
        cost = sum(len(self.blocks[index][1]) for index in range(first, last + 1)) or 1
        for name, pcs in writers.items():
            if len(pcs) == 1 and pcs[0] in self.exact_steps:
                stepped, step = self.exact_steps[pcs[0]]
                if stepped == name and step != 0:
                    return _Induction(name, pcs[0], step, cost)
        return None

    def _has_backward_branch(self) -> bool:
        for index, (_, body) in enumerate(self.blocks):
            for decoded in body:
                for target in decoded.targets:
                    if self.block_index.get(target.pc, index + 1) <= index:
                        return True
        return False

    # -- blocks and branches -------------------------------------------------------

    def _emit_block(self, index: int, depth: int) -> None:
        body = self.blocks[index][1]
        if not body:
            self.out.add(depth, "pass", self.ordinal, self.blocks[index][0])
        fused = self._fusable_compare(index)
        for decoded in body:
            self.pc = decoded.pc - self.start
            if self.sites is not None:
                site = self.sites[decoded.pc]
                if self.counted:
                    self.line(depth, f"_o[{site}] += 1")
                else:
                    self.line(depth, f"_o({site}, {_tuple_text(observed_operands(decoded))})")
            if decoded is fused:
                # The compare's result only steers the branch: test it in place.
                self.fused_condition = self._condition_expression(decoded)
                continue
            self._emit(decoded, index, depth)
        self.fused_condition = None

    def _fusable_compare(self, index: int) -> DecodedInstruction | None:
        """A compare right before a cond_br on its result, dead afterwards."""
        body = self.blocks[index][1]
        if not self.peepholes or len(body) < 2 \
                or body[-1].instruction.semantics != "@cond_br":
            return None
        compare = body[-2]
        semantics = compare.instruction.semantics or ""
        if semantics[:5] not in ("1 if ", "0 if ") or not semantics.endswith((" else 0", " else 1")):
            return None
        name = compare.writes[0].name
        if body[-1].reads[0].name != name or name in self.live_out[index]:
            return None
        return compare

    def _condition_expression(self, decoded: DecodedInstruction) -> str:
        expression = decoded.instruction.semantics.format(**_template_operands(decoded))
        test = expression[5:expression.rindex(" else ")]
        return test if expression.startswith("1 if ") else f"not ({test})"

    def line(self, depth: int, text: str) -> None:
        self.out.add(depth, text, self.ordinal, self.pc)

    def _remap(self, pairs, depth: int, folded=()) -> None:
        for source, target in pairs:
            if (source.name, target.name) not in folded:
                self.line(depth, f"{target.name} = {source.name}")

    def _branch(self, target: BranchTarget, current: int, depth: int, folded=()) -> None:
        """Takes the edge ``target``: its remap copies (but those in
        ``folded``, see :meth:`_fold_edge_copies`), then the jump."""
        self._remap(target.remap, depth, folded)
        self._jump(self.block_index[target.pc], current, depth, count=True)

    def _fold_edge_copies(self, index: int) -> None:
        """Lets an instruction write straight into the register that the
        ``br`` ending block ``index`` copies its result to.

        For a (source, target) pair of the branch's remap that names neither
        register elsewhere in the remap: when the last instruction writing
        ``source`` is a template, nothing after it in the block names
        ``source`` or ``target``, and ``source`` is dead once the edge is
        taken, the template writes ``target`` and the copy is left out.
        ``target`` gets the same value; ``source`` keeps an older one, which
        nothing reads before writing it again.
        """
        body = self.blocks[index][1]
        if not body or body[-1].instruction.semantics != "@br":
            return
        branch = body[-1]
        edge = branch.targets[0]
        names = [register.name for pair in edge.remap for register in pair]
        dead = set(names) - self.live_in[self.block_index[edge.pc]]
        for source, target in edge.remap:
            if names.count(source.name) != 1 or names.count(target.name) != 1 \
                    or source.name not in dead:
                continue
            for decoded in reversed(body[:-1]):
                if any(register.name == source.name for register in decoded.writes):
                    if decoded.instruction.is_template and decoded.pc not in self.retargeted:
                        self.retargeted[decoded.pc] = target.name
                        self.folded_copies.setdefault(branch.pc, set()).add(
                            (source.name, target.name))
                    break
                if any(register.name in (source.name, target.name)
                       for register in decoded.registers()):
                    break

    def _jump(self, target: int, current: int, depth: int, *, count: bool) -> None:
        """Transfers control to block ``target`` from block ``current``.

        Forward: fall through the guards (``_b`` set unless it is the next
        block). Backward: to the header of the enclosing loop unit,
        ``continue`` its ``while``; otherwise restart the block dispatch.
        ``count`` charges the backward jump to the quantum: the instructions
        jumped back over, or a trip of a loop with a trip counter.
        """
        region = self.region
        if region is not None:
            first, last, guarded = region
            if target == first:
                if count and self.induction is not None:
                    self._trip_check(depth)
                elif count:
                    self._quantum(current, target, depth)
                if guarded:
                    self.line(depth, f"_b = {first}")
                self.line(depth, "continue")
                return
            if target > last:
                if target != last + 1:
                    self.line(depth, f"_b = {target}")
                self.line(depth, "break")
                return
        if target == current + 1:
            self.line(depth, "pass")
        elif target > current:
            self.line(depth, f"_b = {target}")
        else:
            if count:
                self._quantum(current, target, depth)
            self.line(depth, f"_b = {target}")
            self.line(depth, "continue")

    def _trip_check(self, depth: int) -> None:
        """A check once the trip counter reaches ``_end``, which then moves a
        whole budget of trips further."""
        induction = self.induction
        counter = induction.register
        compare, sign = (">=", "+") if induction.direction > 0 else ("<=", "-")
        self.line(depth, f"if {counter} {compare} _end:")
        self.line(depth + 1, f"_end = {counter} {sign} _QUANTUM // {induction.cost} {sign} 1")
        self.line(depth + 1, "yield _CHECK")

    def _quantum(self, current: int, target: int, depth: int) -> None:
        cost = sum(len(self.blocks[i][1]) for i in range(target, current + 1)) or 1
        self.line(depth, f"_q -= {cost}")
        self.line(depth, "if _q < 0:")
        self.line(depth + 1, "_q = _QUANTUM")
        self.line(depth + 1, "yield _CHECK")

    # -- instructions -----------------------------------------------------------------

    def _emit(self, decoded: DecodedInstruction, block: int, depth: int) -> None:
        instruction = decoded.instruction
        semantics = instruction.semantics
        if semantics.startswith("@"):
            getattr(self, "_rule_" + semantics[1:])(decoded, block, depth)
            return
        if decoded.pc in self.exact_steps:
            semantics = instruction.unwrapped
        expression = semantics.format(**_template_operands(decoded))
        if decoded.writes:
            result = self.retargeted.get(decoded.pc, decoded.writes[0].name)
            self.line(depth, f"{result} = {expression}")
        else:
            self.line(depth, expression)

    def _rule_br(self, decoded, block, depth):
        self._branch(decoded.targets[0], block, depth, self.folded_copies.get(decoded.pc, ()))

    def _rule_break(self, decoded, block, depth):
        self._branch(decoded.targets[0], block, depth)

    def _rule_cond_break(self, decoded, block, depth):
        self._branch(decoded.targets[0], block, depth)

    def _rule_cond_br(self, decoded, block, depth):
        true_edge, false_edge = decoded.targets
        test = self.fused_condition or decoded.reads[0].name
        following = block + 1
        if not true_edge.remap and self.block_index[true_edge.pc] == following:
            # Only the false edge needs code: the true edge falls through.
            self.line(depth, f"if not ({test}):" if self.fused_condition else f"if not {test}:")
            self._branch(false_edge, block, depth + 1)
        elif not false_edge.remap and self.block_index[false_edge.pc] == following:
            self.line(depth, f"if {test}:")
            self._branch(true_edge, block, depth + 1)
        else:
            self.line(depth, f"if {test}:")
            self._branch(true_edge, block, depth + 1)
            self.line(depth, "else:")
            self._branch(false_edge, block, depth + 1)

    def _rule_br_table(self, decoded, block, depth):
        default, *cases = decoded.targets
        name = decoded.reads[0].name
        for case, target in enumerate(cases):
            self.line(depth, f"{'if' if case == 0 else 'elif'} {name} == {case}:")
            self._branch(target, block, depth + 1)
        if cases:
            self.line(depth, "else:")
            self._branch(default, block, depth + 1)
        else:
            self._branch(default, block, depth)

    def _rule_yield(self, decoded, block, depth):
        target = decoded.targets[0]
        self._remap(target.remap, depth)
        self.line(depth, "yield None")
        self._jump(self.block_index[target.pc], block, depth, count=False)

    def _rule_return(self, decoded, block, depth):
        self.line(depth, f"return {_tuple_text(decoded.reads)}")

    def _rule_fail(self, decoded, block, depth):
        status, message = decoded.values
        self.line(depth, f"if {status.name}:")
        self.line(depth + 1, f"raise _fail({status.name}, {message!r})")

    def _rule_import_resolved(self, decoded, block, depth):
        function, result = decoded.values
        self.line(depth, f"{result.name} = _resolved[{function & ~IMPORT_BIT}]")

    def _rule_trace(self, decoded, block, depth):
        pass

    def _rule_print(self, decoded, block, depth):
        event = decoded.field("event_name")
        self.line(depth, f"_print({event!r}, {_tuple_text(decoded.reads)})")

    def _rule_discard_refs(self, decoded, block, depth):
        names = [register.name for register in decoded.reads if register.is_ref]
        if names:
            self.line(depth, " = ".join(names) + " = None")

    def _rule_global_load(self, decoded, block, depth):
        offset, result = decoded.values
        self.line(depth, f"{result.name} = _g[{offset}]")

    def _rule_global_store(self, decoded, block, depth):
        offset, value = decoded.values
        self.line(depth, f"_g[{offset}] = {value.name}")

    def _rule_global_load_indirect(self, decoded, block, depth):
        offset, result = decoded.values
        self.line(depth, f"{result.name} = _g[_gi({offset.name}, {_width(result.kind)})]")

    def _rule_global_store_indirect(self, decoded, block, depth):
        offset, value = decoded.values
        self.line(depth, f"_g[_gi({offset.name}, {_width(value.kind)})] = {value.name}")

    def _rule_global_load_ref(self, decoded, block, depth):
        result = decoded.field("result")
        self.line(depth, f"{result.name} = _rg[{_ref_global_index(decoded)}]")

    def _rule_global_store_ref(self, decoded, block, depth):
        value = decoded.field("value")
        self.line(depth, f"_rg[{_ref_global_index(decoded)}] = {value.name}")

    def _rule_rodata(self, decoded, block, depth):
        ordinal, result = decoded.values
        self.line(depth, f"{result.name} = _rodata[{ordinal}]")

    def _rule_list_alloc(self, decoded, block, depth):
        type_id, capacity, result = decoded.values
        self.line(depth, f"{result.name} = _new_list(_types[{type_id}], {capacity.name})")

    def _rule_list_get_ref(self, decoded, block, depth):
        list_register, index, type_id, result = decoded.values
        self.line(depth, f"{result.name} = _list({list_register.name})"
                         f".get_ref({index.name}, _types[{type_id}])")

    def _rule_cast_any_ref(self, decoded, block, depth):
        operand, type_id, result = decoded.values
        self.line(depth, f"{result.name} = _cast_ref({operand.name}, _types[{type_id}])")

    def _rule_switch(self, decoded, block, depth):
        index = decoded.field("index").name
        default = decoded.field("default_value").name
        cases = [register.name for register in decoded.field("values")]
        result = decoded.field("result").name
        if not cases:
            self.line(depth, f"{result} = {default}")
            return
        table = ", ".join(cases) + ("," if len(cases) == 1 else "")
        self.line(depth, f"{result} = ({table})[{index}] if 0 <= {index} < {len(cases)} "
                         f"else {default}")

    def _rule_call(self, decoded, block, depth):
        values = dict(zip((f.name for f in decoded.instruction.fields), decoded.values))
        callee = values["callee"]
        operands = [register.name for register in values["operands"]]
        if callee & IMPORT_BIT:
            ordinal = callee & ~IMPORT_BIT
            convention = self.module.imports[ordinal].signature.calling_convention
            arguments = _import_arguments(convention, operands, values.get("segment_sizes"))
            self.line(depth, f"_r = _imp{ordinal}({arguments})")
        else:
            self.line(depth, f"_r = f{callee}({', '.join(operands)})")
        # A callee that finished synchronously returned its results; anything
        # else (a frame to push, an awaitable) goes to the invocation driver,
        # the frame first dropping the refs it is done with.
        self.line(depth, "if _r.__class__ is not tuple:")
        dead = self.dead_at_call.get(decoded.pc)
        if dead:
            self.line(depth + 1, " = ".join(dead) + " = None")
        self.line(depth + 1, "_r = yield _r")
        if decoded.writes:
            self.line(depth, f"{', '.join(register.name for register in decoded.writes)}, = _r")
        for target in decoded.targets:  # call.yieldable resumes at its target block
            self._branch(target, block, depth)


def _template_operands(decoded: DecodedInstruction) -> dict[str, str]:
    """Python text of each field of a template row, keyed by field name."""
    operands = {}
    for spec, value in zip(decoded.instruction.fields, decoded.values):
        if spec.kind == "reg":
            operands[spec.name] = value.name
        elif spec.kind == "const":
            operands[spec.name] = _literal(value)
        elif spec.kind == "type":
            operands[spec.name] = f"_types[{value}]"
        else:
            operands[spec.name] = repr(value)
    return operands


def _tuple_text(registers) -> str:
    """A Python tuple display of the registers' names: ``()``, ``(i1,)``, ``(i1, r0)``."""
    names = [register.name for register in registers]
    return f"({', '.join(names)}{',' if len(names) == 1 else ''})"


def _ref_global_index(decoded: DecodedInstruction) -> str:
    """The index of a ref global access: a literal ordinal, or a checked
    register value for the indirect forms."""
    global_field = decoded.values[0]
    if decoded.instruction.fields[0].kind == "reg":
        return f"_rgi({global_field.name})"
    return str(global_field)


def _width(bank: str) -> int:
    return 8 if bank in ("i64", "f64") else 4


def _register_order(name: str) -> tuple[str, int]:
    return name[0], int(name[1:])


def _import_arguments(convention: str, names: list[str], segment_sizes) -> str:
    """Python argument text for an import call (``names``: the operand
    registers' names), building lists for spans."""
    signature = parse_calling_convention(convention)
    position = 0
    pieces = []
    for slot_index, slot in enumerate(signature.arguments):
        if isinstance(slot, Span):
            if segment_sizes is None or slot_index >= len(segment_sizes):
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"call to variadic import {convention!r} without segment sizes")
            count = segment_sizes[slot_index]
            width = len(slot.kinds)
            items = names[position:position + count * width]
            position += count * width
            if width == 1:
                pieces.append("[" + ", ".join(items) + "]")
            else:
                groups = [items[i:i + width] for i in range(0, len(items), width)]
                pieces.append("[" + ", ".join("(" + ", ".join(g) + ")" for g in groups) + "]")
        else:
            pieces.append(names[position])
            position += 1
    return ", ".join(pieces)


_PRELUDE = """def _bind(_S):
    _g = _S.globals
    _rg = _S.ref_globals
    _rodata = _S.rodata
    _types = _S.types
    _resolved = _S.resolved
    _gi = _S.global_index
    _rgi = _S.ref_global_index
    _QUANTUM = _S.quantum
"""


def translate_module(module: ModuleDef, functions: list[list[DecodedInstruction]],
                     names: list[str], *, mode: str = "normal") -> TranslatedModule:
    """Generates the Python source of a whole module (verified beforehand):
    the ``"normal"`` translation, or the ``"observed"`` or ``"counted"`` one
    (see the module docstring)."""
    if mode not in ("normal", "observed", "counted"):
        raise VMError(StatusCode.INVALID_ARGUMENT, f"no translation mode {mode!r}")
    sites = ({decoded.pc: site for site, (_, decoded) in enumerate(instruction_sites(functions))}
             if mode != "normal" else None)
    lines = _Lines()
    for ordinal in range(len(module.imports)):
        lines.add(1, f"_imp{ordinal} = _S.imports[{ordinal}]")
    for ordinal, instructions in enumerate(functions):
        translator = _FunctionTranslator(module, ordinal, names[ordinal], instructions,
                                         module.functions[ordinal].bytecode_offset, lines,
                                         sites, mode == "counted")
        translator.translate()
    lines.add(1, "return [" + ", ".join(f"f{i}" for i in range(len(functions))) + "]")

    text = _PRELUDE.rstrip("\n").splitlines()
    line_map: dict[int, tuple[int, int]] = {}
    for depth, content, function, pc in lines.lines:
        text.append(_INDENT * depth + content)
        if function is not None:
            line_map[len(text)] = (function, pc)
    return TranslatedModule("\n".join(text) + "\n", line_map)
