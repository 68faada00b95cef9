"""Text listings of bytecode modules, in the spirit of ``iree-dump-module``.

:func:`disassemble_function` prints each instruction from its table row and
operand view: the written registers, ``=``, the mnemonic, then the read
fields by kind (registers as ``%i7`` / ``%r3``, from their view names);
:func:`instruction_texts` gives the same text per instruction (execution
traces print it).
:func:`dump_module` adds the module's metadata (types, imports with calling
conventions, exports, dependencies, rodata and function tables). Pure text;
never suspends.
"""

from __future__ import annotations

from ._decoder import DecodedInstruction
from ._instruction_set import IMPORT_BIT
from ._module import BytecodeModule
from ._operands import Register


def _register(register: Register) -> str:
    return "%" + register.name


def _pairs(pairs) -> str:
    return "(" + ", ".join(f"{_register(s)}->{_register(t)}" for s, t in pairs) + ")"


class _Formatter:
    def __init__(self, module: BytecodeModule, function: int) -> None:
        self.module = module
        self.definition = module.definition
        self.start = module.definition.functions[function].bytecode_offset
        self.blocks: dict[int, int] = {}

    def function_name(self, value: int) -> str:
        if value & IMPORT_BIT:
            return "@" + self.definition.imports[value & ~IMPORT_BIT].full_name
        return "@" + self.module.function_names[value]

    def field(self, spec, value) -> str:
        kind = spec.kind
        if kind == "reg":
            return _register(value)
        if kind == "const":
            return repr(value)
        if kind == "string":
            return repr(value)
        if kind == "target":
            return f"^bb{self.blocks.get(value, value)}"
        if kind == "remap":
            return _pairs(value) if value else ""
        if kind == "list":
            return "(" + ", ".join(_register(register) for register in value) + ")"
        if kind == "segments":
            return "[" + ", ".join(str(v) for v in value) + "]"
        if kind == "cases":
            return "[" + ", ".join(f"{i}: ^bb{self.blocks.get(case.pc, case.pc)}"
                                   f"{_pairs(case.remap) if case.remap else ''}"
                                   for i, case in enumerate(value)) + "]"
        if kind == "function":
            return self.function_name(value)
        if kind == "type":
            names = self.definition.type_names
            return names[value] if value < len(names) else f"type{value}"
        if kind == "rodata":
            return f"rodata[{value}]"
        if kind == "global":
            return f"global[{value}]"
        return str(value)

    def instruction(self, decoded: DecodedInstruction) -> str:
        """``%w, ... = vm.mnemonic field field ...``: the written registers,
        then the read fields in encoding order (empty remaps left out)."""
        instruction = decoded.instruction
        written = [_register(register) for register in decoded.writes]
        read = []
        for spec, value in zip(instruction.fields, decoded.values):
            if not spec.write:
                text = self.field(spec, value)
                if text:
                    read.append(text)
        prefix = ", ".join(written) + " = " if written else ""
        return f"{prefix}vm.{instruction.mnemonic} {' '.join(read)}".rstrip()


def _function_formatter(module: BytecodeModule, function: int) -> _Formatter:
    """A formatter for ``function`` that knows its blocks' numbers."""
    formatter = _Formatter(module, function)
    for decoded in module.instructions[function]:
        if decoded.instruction.is_block_marker:
            formatter.blocks[decoded.pc - formatter.start] = len(formatter.blocks)
    return formatter


def instruction_texts(module: BytecodeModule, function: int) -> dict[int, str]:
    """The text of each instruction of ``function`` (block markers left
    out), by ``pc`` relative to the function: what its listing prints after
    the offset, without the source location."""
    formatter = _function_formatter(module, function)
    return {decoded.pc - formatter.start: formatter.instruction(decoded)
            for decoded in module.instructions[function]
            if not decoded.instruction.is_block_marker}


def disassemble_function(module: BytecodeModule, function: int) -> list[str]:
    """Lines of one function's listing, with ``pc`` offsets and source locations."""
    formatter = _function_formatter(module, function)
    instructions = module.instructions[function]
    signature = module.definition.signatures[function].calling_convention
    lines = [f"vm.func @{module.function_names[function]}  // {signature}"]
    for decoded in instructions:
        pc = decoded.pc - formatter.start
        if decoded.instruction.is_block_marker:
            lines.append(f"^bb{formatter.blocks[pc]}:")
            continue
        text = f"  {pc:06}  {formatter.instruction(decoded)}"
        location = module.source_location(function, pc)
        if location:
            text += f"  // {location}"
        lines.append(text)
    return lines


def dump_module(module: BytecodeModule, *, disassemble: bool = True) -> str:
    """The whole listing: metadata tables, then (optionally) every function."""
    definition = module.definition
    out = [f"// module @{definition.name} : version {definition.version}",
           f"// bytecode version {definition.bytecode_version >> 16}."
           f"{definition.bytecode_version & 0xFFFF}; FlatBuffer {definition.flatbuffer_size} bytes; "
           f"bytecode {len(definition.bytecode)} bytes", ""]
    if definition.attributes:
        out.append("Attributes:")
        out += [f"  {key} = {value}" for key, value in definition.attributes.items()]
        out.append("")
    out.append("Required types:")
    out += [f"  [{i:3}] {name}" for i, name in enumerate(definition.type_names)]
    out.append("")
    if definition.dependencies:
        out.append("Dependencies:")
        out += [f"  {d.name} >= {d.minimum_version}{' (optional)' if d.optional else ''}"
                for d in definition.dependencies]
        out.append("")
    if definition.imports:
        out.append("Imported functions:")
        out += [f"  [{i:3}] {d.full_name}  {d.signature.calling_convention}"
                f"{' (optional)' if d.optional else ''}" for i, d in enumerate(definition.imports)]
        out.append("")
    out.append("Exported functions:")
    for i, export in enumerate(definition.exports):
        signature = definition.signatures[export.internal_ordinal]
        out.append(f"  [{i:3}] {export.local_name}  {signature.calling_convention}"
                   f"  (function {export.internal_ordinal})")
        out += [f"        {key}: {value}" for key, value in signature.attributes.items()]
    out.append("")
    if definition.rodata:
        out.append("Rodata:")
        out += [f"  [{i:3}] {len(segment.data)} bytes{' (external)' if segment.external else ''}"
                for i, segment in enumerate(definition.rodata)]
        out.append("")
    out.append(f"Globals: {definition.global_bytes_capacity} bytes, "
               f"{definition.global_ref_count} refs")
    out.append("")
    out.append("Functions:")
    out.append("    # |   offset |  length | blocks | i32 # | ref # | name")
    for i, function in enumerate(definition.functions):
        out.append(f"  {i:3} | {function.bytecode_offset:8} | {function.bytecode_length:7} | "
                   f"{function.block_count:6} | {function.i32_register_count:5} | "
                   f"{function.ref_register_count:5} | {module.function_names[i]}")
    if disassemble:
        for i in range(len(definition.functions)):
            out.append("")
            out += disassemble_function(module, i)
    return "\n".join(out) + "\n"
