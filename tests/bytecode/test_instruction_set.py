"""The instruction table and the operand view every consumer reads.

* The table: opcode numbers are explicit, unique per opcode set and equal to
  IREE's (``VMOpcodesF32.td`` / ``VMOpcodesF64.td`` in full, core spot
  checks); the import-time check rejects a broken table.
* The names each row relies on exist: a ``@rule`` has its translator method;
  a template's helpers are in the runtime support namespace (with the
  methods, math functions and libm names it calls); generated code of
  compiled programs refers to no undefined global.
* The operand view (registers read and written with their kinds and move
  bits, branch targets with their remaps) of real compiled instructions.
* Disassembly of compiled functions, byte for byte as it was before the
  operand view existed (listings captured with iree-compile 3.13).
* Bad register encodings are VMError(INVALID_ARGUMENT).
"""

from __future__ import annotations

import ast
import builtins
import math
import symtable

import pytest

from asyncvm.modules.bytecode import BranchTarget, BytecodeModule, Register
from asyncvm.modules.bytecode import _runtime_support as runtime_support
from asyncvm.modules.bytecode._decoder import decode_instruction
from asyncvm.modules.bytecode._disassembler import disassemble_function
from asyncvm.modules.bytecode._instruction_set import (
    BY_MNEMONIC, INSTRUCTIONS, OPCODE_TABLES, Field, Instruction, _check_table)
from asyncvm.modules.bytecode._translator import _PRELUDE, _FunctionTranslator
from asyncvm.vm import StatusCode, VMBuffer, VMError, VMList

GOLDEN_COMPILER = "3.13."
"""Listings and register numbers below come from this iree-compile version."""

# IREE's numbering of the extension opcode sets (VMOpcodesF32.td, VMOpcodesF64.td).
F32_OPCODES = {
    "global.load.f32": 0x00, "global.store.f32": 0x01, "global.load.indirect.f32": 0x02,
    "global.store.indirect.f32": 0x03, "const.f32.zero": 0x04, "const.f32": 0x05,
    "list.get.f32": 0x06, "list.set.f32": 0x07, "select.f32": 0x08, "switch.f32": 0x09,
    "add.f32": 0x0A, "sub.f32": 0x0B, "mul.f32": 0x0C, "div.f32": 0x0D, "rem.f32": 0x0E,
    "fma.f32": 0x0F, "abs.f32": 0x10, "neg.f32": 0x11, "ceil.f32": 0x12, "floor.f32": 0x13,
    "cast.si32.f32": 0x14, "cast.ui32.f32": 0x15, "cast.f32.si32": 0x16,
    "cast.f32.ui32": 0x17, "bitcast.i32.f32": 0x18, "bitcast.f32.i32": 0x19,
    "atan.f32": 0x1A, "atan2.f32": 0x1B, "cos.f32": 0x1C, "sin.f32": 0x1D, "exp.f32": 0x1E,
    "exp2.f32": 0x1F, "expm1.f32": 0x20, "log.f32": 0x21, "log10.f32": 0x22,
    "log1p.f32": 0x23, "log2.f32": 0x24, "pow.f32": 0x25, "rsqrt.f32": 0x26,
    "sqrt.f32": 0x27, "tanh.f32": 0x28, "erf.f32": 0x29, "cmp.eq.f32.o": 0x2A,
    "cmp.eq.f32.u": 0x2B, "cmp.ne.f32.o": 0x2C, "cmp.ne.f32.u": 0x2D, "cmp.lt.f32.o": 0x2E,
    "cmp.lt.f32.u": 0x2F, "cmp.lte.f32.o": 0x30, "cmp.lte.f32.u": 0x31, "cmp.nan.f32": 0x32,
    "buffer.load.f32": 0x33, "buffer.store.f32": 0x34, "buffer.fill.f32": 0x35,
    "round.f32": 0x36, "min.f32": 0x37, "max.f32": 0x38, "round.f32.even": 0x39,
    "cast.f32.si64": 0x3A, "cast.f32.ui64": 0x3B, "cast.si64.f32": 0x3C,
    "cast.ui64.f32": 0x3D,
}
F64_OPCODES = {
    "global.load.f64": 0x00, "global.store.f64": 0x01, "global.load.indirect.f64": 0x02,
    "global.store.indirect.f64": 0x03, "const.f64.zero": 0x04, "const.f64": 0x05,
    "list.get.f64": 0x06, "list.set.f64": 0x07, "select.f64": 0x08, "switch.f64": 0x09,
    "add.f64": 0x0A, "sub.f64": 0x0B, "mul.f64": 0x0C, "div.f64": 0x0D, "rem.f64": 0x0E,
    "fma.f64": 0x0F, "abs.f64": 0x10, "neg.f64": 0x11, "ceil.f64": 0x12, "floor.f64": 0x13,
    "trunc.f64.f32": 0x14, "ext.f32.f64": 0x15, "cast.si32.f64": 0x16,
    "cast.ui32.f64": 0x17, "cast.f64.si32": 0x18, "cast.f64.ui32": 0x19,
    "cast.si64.f64": 0x1A, "cast.ui64.f64": 0x1B, "cast.f64.si64": 0x1C,
    "cast.f64.ui64": 0x1D, "bitcast.i64.f64": 0x1E, "bitcast.f64.i64": 0x1F,
    "atan.f64": 0x20, "atan2.f64": 0x21, "cos.f64": 0x22, "sin.f64": 0x23, "exp.f64": 0x24,
    "exp2.f64": 0x25, "expm1.f64": 0x26, "log.f64": 0x27, "log10.f64": 0x28,
    "log1p.f64": 0x29, "log2.f64": 0x2A, "pow.f64": 0x2B, "rsqrt.f64": 0x2C,
    "sqrt.f64": 0x2D, "tanh.f64": 0x2E, "erf.f64": 0x2F, "cmp.eq.f64.o": 0x30,
    "cmp.eq.f64.u": 0x31, "cmp.ne.f64.o": 0x32, "cmp.ne.f64.u": 0x33, "cmp.lt.f64.o": 0x34,
    "cmp.lt.f64.u": 0x35, "cmp.lte.f64.o": 0x36, "cmp.lte.f64.u": 0x37, "cmp.nan.f64": 0x38,
    "buffer.load.f64": 0x39, "buffer.store.f64": 0x3A, "buffer.fill.f64": 0x3B,
    "round.f64": 0x3C, "min.f64": 0x3D, "max.f64": 0x3E, "round.f64.even": 0x3F,
}
# Spot checks of the core set (VMOpcodesCore.td), one or two per group and
# every opcode past 0x79, where the numbering stops following the groups.
CORE_OPCODES = {
    "global.load.i32": 0x00, "global.store.indirect.ref": 0x0B, "const.ref.rodata": 0x11,
    "list.set.ref": 0x1B, "select.i32": 0x1C, "select.i64": 0x1D, "select.ref": 0x1E,
    "switch.ref": 0x21, "add.i32": 0x22, "fma.i32": 0x29, "add.i64": 0x2A, "fma.i64": 0x31,
    "not.i32": 0x32, "xor.i64": 0x39, "shl.i32": 0x3A, "shr.i64.u": 0x3F,
    "trunc.i32.i8": 0x40, "ext.i32.i64.u": 0x48, "cmp.eq.i32": 0x49, "cmp.nz.i64": 0x52,
    "cmp.nz.ref": 0x55, "br": 0x56, "cond_br": 0x57, "call": 0x58, "return": 0x5A,
    "yield": 0x5D, "break": 0x61, "buffer.load.i8.u": 0x62, "buffer.fill.i64": 0x74,
    "ctlz.i32": 0x75, "abs.i64": 0x78, "block": 0x79, "min.i32.s": 0x7A, "max.i32.u": 0x7D,
    "min.i64.s": 0x7E, "max.i64.u": 0x81, "cast.any.ref": 0x82, "br_table": 0x83,
    "buffer.hash": 0x84, "discard.refs": 0x85, "assign.ref": 0x86, "call.yieldable": 0x87,
    "call.variadic.yieldable": 0x88,
}

# Names generated code may use that ``_bind`` (the translator's prelude) binds.
BOUND_BY_BIND = frozenset(
    target.id for node in ast.walk(ast.parse(_PRELUDE)) if isinstance(node, ast.Assign)
    for target in node.targets if isinstance(target, ast.Name))

# Programs whose generated code is checked for undefined names: (file, mode).
PROGRAMS = [("vm_calls", "vm"), ("vm_lists", "vm"), ("vm_buffers", "vm"), ("vm_globals", "vm"),
            ("vm_rodata", "vm"), ("vm_yield", "vm"), ("vm_failures", "vm"),
            ("arith_f32", "host"), ("casts", "host")]


# ------------------------------------------------------------------- helpers --

@pytest.fixture(scope="module")
def load(compile_mlir):
    """``load("vm_calls")`` -> the BytecodeModule of a compiled test program."""
    cache: dict[tuple[str, str], BytecodeModule] = {}

    def get(name: str, mode: str = "vm") -> BytecodeModule:
        if (name, mode) not in cache:
            cache[name, mode] = BytecodeModule.load(compile_mlir(f"{name}.mlir", mode=mode))
        return cache[name, mode]

    return get


@pytest.fixture(scope="module")
def golden_compiler(compile_mlir):
    if not compile_mlir.version.startswith(GOLDEN_COMPILER):
        pytest.skip(f"golden listings were captured with iree-compile {GOLDEN_COMPILER}x, "
                    f"this is {compile_mlir.version}")


def function_instructions(module: BytecodeModule, name: str):
    """(function start offset, decoded instructions) of the function ``name``."""
    ordinal = module.function_names.index(name)
    return module.definition.functions[ordinal].bytecode_offset, module.instructions[ordinal]


def find(module: BytecodeModule, function: str, pc: int):
    """The decoded instruction at ``pc`` (relative to the function start)."""
    start, instructions = function_instructions(module, function)
    [decoded] = [d for d in instructions if d.pc - start == pc]
    return decoded


def names(registers) -> list[str]:
    return [register.name for register in registers]


def remap_names(target: BranchTarget) -> list[tuple[str, str]]:
    return [(source.name, destination.name) for source, destination in target.remap]


def block_offsets(module: BytecodeModule, function: str) -> set[int]:
    start, instructions = function_instructions(module, function)
    return {d.pc - start for d in instructions if d.instruction.is_block_marker}


def template_text(instruction: Instruction) -> str:
    """A template row filled in the way the translator fills it."""
    operands = {}
    for spec in instruction.fields:
        if spec.kind == "reg":
            operands[spec.name] = "r1" if spec.bank == "ref" else "i1"
        elif spec.kind == "const":
            operands[spec.name] = "1"
        elif spec.kind == "type":
            operands[spec.name] = "_types[0]"
        else:
            operands[spec.name] = "0"
    return instruction.semantics.format(**operands)


def undefined_globals(source: str) -> set[str]:
    """Global names the code reads without any assignment defining them."""
    found: set[str] = set()

    def walk(table) -> None:
        for symbol in table.get_symbols():
            if symbol.is_global() and symbol.is_referenced() and not symbol.is_assigned():
                found.add(symbol.get_name())
        for child in table.get_children():
            walk(child)

    walk(symtable.symtable(source, "<translated>", "exec"))
    module_level = {node.name for node in ast.parse(source).body
                    if isinstance(node, ast.FunctionDef)}
    return found - module_level


# --------------------------------------------------------------------- table --

def test_opcode_numbers_are_unique_per_table():
    for opcode_set in ("core", "f32", "f64"):
        numbers = [i.opcode for i in INSTRUCTIONS if i.opcode_set == opcode_set]
        assert len(numbers) == len(set(numbers)), opcode_set
        table = OPCODE_TABLES[opcode_set]
        assert sum(row is not None for row in table) == len(numbers)
        for instruction in INSTRUCTIONS:
            if instruction.opcode_set == opcode_set:
                assert table[instruction.opcode] is instruction
    assert len(BY_MNEMONIC) == len(INSTRUCTIONS)


@pytest.mark.parametrize("opcode_set, expected", [("f32", F32_OPCODES), ("f64", F64_OPCODES)])
def test_extension_opcodes_are_irees(opcode_set, expected):
    actual = {i.mnemonic: i.opcode for i in INSTRUCTIONS if i.opcode_set == opcode_set}
    assert actual == expected


def test_core_opcodes_are_irees():
    for mnemonic, opcode in CORE_OPCODES.items():
        instruction = BY_MNEMONIC[mnemonic]
        assert (instruction.opcode_set, instruction.opcode) == ("core", opcode), mnemonic


def test_table_check_rejects_duplicates_and_stray_remaps():
    add = BY_MNEMONIC["add.i32"]
    renamed = Instruction("core", add.opcode, "add.twice", add.fields, add.semantics)
    with pytest.raises(AssertionError, match="0x22"):
        _check_table((add, renamed))
    with pytest.raises(AssertionError, match="twice"):
        _check_table((add, Instruction("core", 0xFE, "add.i32", add.fields, add.semantics)))
    stray = Instruction("core", 0xFE, "stray", (Field("operands", "remap"),), "@br")
    with pytest.raises(AssertionError, match="remap"):
        _check_table((stray,))
    two_results = Instruction("core", 0xFE, "two", (Field("a", "reg", "i32", write=True),
                                                   Field("b", "reg", "i32", write=True)), "0")
    with pytest.raises(AssertionError, match="template"):
        _check_table((two_results,))


# ------------------------------------------------------------------- helpers --

def test_every_rule_has_its_translator_method():
    rules = {i.semantics for i in INSTRUCTIONS if i.semantics and i.semantics.startswith("@")}
    missing = sorted(rule for rule in rules
                     if not hasattr(_FunctionTranslator, "_rule_" + rule[1:]))
    assert not missing


@pytest.mark.parametrize("instruction", [i for i in INSTRUCTIONS if i.is_template],
                         ids=lambda i: i.mnemonic)
def test_template_helpers_exist(instruction):
    text = template_text(instruction)
    tree = ast.parse(text, mode="eval")
    compile(tree, instruction.mnemonic, "eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in ("i1", "r1"):
            assert (node.id in runtime_support.SUPPORT or node.id in BOUND_BY_BIND
                    or hasattr(builtins, node.id)), f"{instruction.mnemonic}: {node.id}"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "_math":
            assert hasattr(math, node.attr), f"{instruction.mnemonic}: math.{node.attr}"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Name):
            owner = {"_list": VMList, "_buffer": VMBuffer}[node.value.func.id]
            assert hasattr(owner, node.attr), \
                f"{instruction.mnemonic}: {owner.__name__}.{node.attr}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "_unary":
            assert node.args[0].value in runtime_support._MATH, instruction.mnemonic


@pytest.mark.parametrize("program, mode", PROGRAMS)
def test_generated_code_uses_only_defined_names(load, program, mode):
    source = load(program, mode).translated.source
    unknown = {name for name in undefined_globals(source)
               if name not in runtime_support.SUPPORT and not hasattr(builtins, name)}
    assert not unknown


# ------------------------------------------------------------- operand view --

def test_operand_view_of_arithmetic_and_calls(load, golden_compiler):
    module = load("vm_calls")
    compare = find(module, "fibonacci", 15)  # %i3 = vm.cmp.lt.i32.s %i0 %i2
    assert compare.instruction.mnemonic == "cmp.lt.i32.s"
    assert compare.reads == (Register("i32", 0, False, "i0"), Register("i32", 2, False, "i2"))
    assert compare.writes == (Register("i32", 3, False, "i3"),)
    assert compare.targets == ()

    call = find(module, "fibonacci", 59)  # %i1 = vm.call @fibonacci (%i1)
    assert call.instruction.semantics == "@call"
    # Call lists say only "primitive or ref": the kind is left open.
    assert call.reads == (Register(None, 1, False, "i1"),)
    assert call.writes == (Register(None, 1, False, "i1"),)

    returned = find(module, "multi_result", 42)  # vm.return (%i2, %i3, %i4, %i6, %i0)
    assert names(returned.reads) == ["i2", "i3", "i4", "i6", "i0"]
    assert returned.writes == () and returned.targets == ()

    switch = find(module, "switch_i64", 34)  # %i8 = vm.switch.i64 %i0 %i2 (%i4, %i2, %i6, %i8)
    assert [(r.kind, r.name) for r in switch.reads] == [
        ("i32", "i0"), ("i64", "i2"), ("i64", "i4"), ("i64", "i2"), ("i64", "i6"), ("i64", "i8")]
    assert switch.writes == (Register("i64", 8, False, "i8"),)
    assert all(register.width == 2 for register in switch.writes)


def test_operand_view_of_branches(load, golden_compiler):
    module = load("vm_calls")
    blocks = block_offsets(module, "br_table")
    table = find(module, "br_table", 29)
    assert table.instruction.mnemonic == "br_table"
    assert names(table.reads) == ["i0"] and table.writes == ()
    default, *cases = table.targets
    assert remap_names(default) == [("i1", "i0"), ("i5", "i1")]
    assert [remap_names(case) for case in cases] == [
        [("i1", "i0"), ("i4", "i1")], [("i1", "i0")], [], [], [("i4", "i1")]]
    assert all(target.pc in blocks for target in table.targets)
    assert [target.pc for target in cases][0] == default.pc  # both go to ^bb1

    lists = load("vm_lists")
    branch = find(lists, "nested_sums", 48)
    # vm.cond_br %i6 ^bb2 ^bb6 (%i4->%i6, %i5->%i7, %i1->%i3, %i1->%i4)
    assert names(branch.reads) == ["i6"]
    true_edge, false_edge = branch.targets
    assert true_edge.remap == ()
    assert remap_names(false_edge) == [("i4", "i6"), ("i5", "i7"), ("i1", "i3"), ("i1", "i4")]
    assert {true_edge.pc, false_edge.pc} <= block_offsets(lists, "nested_sums")
    assert true_edge.pc < false_edge.pc
    # Remap registers belong to the edge, not to the instruction's reads.
    everything = list(branch.registers())
    assert names(everything) == ["i6", "i4", "i6", "i5", "i7", "i1", "i3", "i1", "i4"]


def test_operand_view_of_refs_and_moves(load, golden_compiler):
    module = load("vm_lists")
    store = find(module, "nested_sums", 161)  # vm.list.set.ref %r0 %i3 %r1
    assert store.reads == (Register("ref", 0, False, "r0"), Register("i32", 3, False, "i3"),
                           Register("ref", 1, True, "r1"))
    returned = find(module, "squares_i32", 87)  # vm.return (%r0): the last use of %r0
    assert returned.reads == (Register("ref", 0, True, "r0"),)
    allocated = find(module, "squares_i32", 11)  # %r0 = vm.list.alloc i32 %i0
    assert allocated.writes == (Register("ref", 0, False, "r0"),)
    assert allocated.values[0] == allocated.field("element_type")
    discarded = find(module, "nested_sums", 317)  # vm.discard.refs (%r1)
    assert [(r.kind, r.name) for r in discarded.reads] == [("ref", "r1")]


# --------------------------------------------------------------- disassembly --

GOLDEN_LISTINGS = {
    ("vm_calls", "br_table"): """\
vm.func @br_table  // 0ii_i
^bb0:
  000001  %i2 = vm.const.i32 7
  000008  %i3 = vm.const.i32 200
  000015  %i4 = vm.const.i32 10
  000022  %i5 = vm.const.i32 -1000
  000029  vm.br_table %i0 ^bb1 (%i1->%i0, %i5->%i1) [0: ^bb1(%i1->%i0, %i4->%i1), 1: ^bb2(%i1->%i0), 2: ^bb3, 3: ^bb2, 4: ^bb1(%i4->%i1)]
^bb1:
  000095  %i1 = vm.add.i32 %i0 %i1
  000102  vm.return (%i1)
^bb2:
  000109  %i3 = vm.mul.i32 %i0 %i3
  000116  vm.return (%i3)
^bb3:
  000123  vm.return (%i2)""",
    ("vm_calls", "fibonacci"): """\
vm.func @fibonacci  // 0i_i
^bb0:
  000001  %i1 = vm.const.i32 1
  000008  %i2 = vm.const.i32 2
  000015  %i3 = vm.cmp.lt.i32.s %i0 %i2
  000022  vm.cond_br %i3 ^bb1 ^bb2
^bb1:
  000039  vm.return (%i0)
^bb2:
  000045  %i1 = vm.sub.i32 %i0 %i1
  000052  %i2 = vm.sub.i32 %i0 %i2
  000059  %i1 = vm.call @fibonacci (%i1)
  000072  %i2 = vm.call @fibonacci (%i2)
  000086  %i2 = vm.add.i32 %i1 %i2
  000093  vm.return (%i2)""",
    ("vm_lists", "squares_i32"): """\
vm.func @squares_i32  // 0i_r
^bb0:
  000001  %i1 = vm.const.i32.zero
  000004  %i2 = vm.const.i32 1
  000011  %r0 = vm.list.alloc i32 %i0
  000020  vm.list.resize %r0 %i0
  000025  vm.br ^bb1
^bb1:
  000033  %i3 = vm.cmp.lt.i32.s %i1 %i0
  000040  vm.cond_br %i3 ^bb2 ^bb3
^bb2:
  000057  %i3 = vm.mul.i32 %i1 %i1
  000064  vm.list.set.i32 %r0 %i1 %i3
  000071  %i1 = vm.add.i32 %i1 %i2
  000078  vm.br ^bb1
^bb3:
  000087  vm.return (%r0)""",
}


@pytest.mark.parametrize("program, function", sorted(GOLDEN_LISTINGS))
def test_disassembly_is_unchanged(load, golden_compiler, program, function):
    module = load(program)
    listing = disassemble_function(module, module.function_names.index(function))
    assert "\n".join(listing) == GOLDEN_LISTINGS[program, function]


# ------------------------------------------------------------- bad encodings --

def test_ref_bit_in_a_primitive_register_is_invalid():
    # vm.add.i32 with its left operand encoded as ref register 1.
    code = bytes([BY_MNEMONIC["add.i32"].opcode, 0x01, 0x80, 0x02, 0x00, 0x03, 0x00])
    with pytest.raises(VMError) as info:
        decode_instruction(code, 0, len(code))
    assert info.value.status == StatusCode.INVALID_ARGUMENT
    assert "0x8001" in info.value.message


def test_corrupted_register_in_a_module_is_invalid(compile_mlir, golden_compiler):
    path = compile_mlir("vm_calls.mlir", mode="vm")
    module = BytecodeModule.load(path)
    compare = find(module, "fibonacci", 15)  # %i3 = vm.cmp.lt.i32.s %i0 %i2
    data = bytearray(path.read_bytes())
    section = bytes(module.definition.bytecode)
    base = data.find(section)
    assert base >= 0 and data.find(section, base + 1) < 0
    data[base + compare.pc + 2] |= 0x80  # the high byte of the left operand: the ref bit
    with pytest.raises(VMError) as info:
        BytecodeModule.load(bytes(data))
    assert info.value.status == StatusCode.INVALID_ARGUMENT
    assert "fibonacci" in info.value.message
