"""Load-time verification of a bytecode module.

Run once when a module loads, so the translated code can trust every
register, branch target, ordinal and offset it uses. Checks, per function:
the byte range, the encoding (via the decoder), a block marker first, every
register against its bank's count (i64/f64 pairs fully inside), branch
targets at block markers, function/import/type/rodata ordinals, direct global
offsets (aligned and inside global storage), call arities against the
callee's calling convention, and return arity. Registers and branch edges
come from each instruction's operand view (:mod:`._operands`). Failures are
VMError(INVALID_ARGUMENT) naming ``module.function@pc`` (encoding errors name
``module.function`` and the byte offset). Pure; never suspends.
"""

from __future__ import annotations

from asyncvm.vm import Span, StatusCode, ValueKind, VMError, parse_calling_convention

from ._decoder import DecodedInstruction, decode_function
from ._instruction_set import IMPORT_BIT, INSTRUCTIONS
from ._module_definition import ModuleDef
from ._operands import Register

_WIDTHS = {"i32": 4, "f32": 4, "i64": 8, "f64": 8}
_ATTRIBUTE_KINDS = ("type", "rodata", "function", "global")
# Mnemonics of the rows with a field that indexes a module table.
_ROWS_WITH_ATTRIBUTES = frozenset(
    instruction.mnemonic for instruction in INSTRUCTIONS
    if any(spec.kind in _ATTRIBUTE_KINDS for spec in instruction.fields))


class _FunctionVerifier:
    def __init__(self, module: ModuleDef, ordinal: int, name: str) -> None:
        self.module = module
        self.ordinal = ordinal
        self.name = name
        self.descriptor = module.functions[ordinal]
        self.pc = 0

    def fail(self, message: str) -> VMError:
        return VMError(StatusCode.INVALID_ARGUMENT,
                       f"{self.module.name}.{self.name}@{self.pc}: {message}")

    def register(self, register: Register) -> None:
        """Checks ``register`` against its bank's count (an i64/f64 pair must
        lie wholly inside the i32 bank)."""
        descriptor = self.descriptor
        if register.is_ref:
            if register.ordinal >= descriptor.ref_register_count:
                raise self.fail(f"ref register {register.ordinal} out of range "
                                f"({descriptor.ref_register_count} ref registers)")
        elif register.ordinal + register.width > descriptor.i32_register_count:
            raise self.fail(f"{register.kind or 'i32'} register {register.ordinal} out of range "
                            f"({descriptor.i32_register_count} i32 registers)")

    def verify(self) -> list[DecodedInstruction]:
        descriptor = self.descriptor
        module = self.module
        try:
            instructions = decode_function(module.bytecode, descriptor.bytecode_offset,
                                           descriptor.bytecode_length)
        except VMError as error:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{module.name}.{self.name}: {error.message}") from None
        start = descriptor.bytecode_offset
        if not instructions or not instructions[0].instruction.is_block_marker:
            raise self.fail("function does not begin with a block marker")
        blocks = {decoded.pc - start for decoded in instructions
                  if decoded.instruction.is_block_marker}
        signature = parse_calling_convention(module.signatures[self.ordinal].calling_convention)
        if any(isinstance(slot, Span) for slot in signature.arguments + signature.results):
            raise self.fail("bytecode functions cannot be variadic")
        for decoded in instructions:
            self.pc = decoded.pc - start
            self._verify_instruction(decoded, blocks, signature)
        return instructions

    def _verify_instruction(self, decoded: DecodedInstruction, blocks: set[int], signature) -> None:
        for register in decoded.reads:
            self.register(register)
        for register in decoded.writes:
            self.register(register)
        for target in decoded.targets:
            if target.pc not in blocks:
                raise self.fail(f"branch target {target.pc} is not the start of a block")
            for source, destination in target.remap:
                self.register(source)
                self.register(destination)
                if source.is_ref != destination.is_ref:
                    raise self.fail("branch operand moves between a ref and a primitive register")
        if decoded.instruction.mnemonic in _ROWS_WITH_ATTRIBUTES:
            self._verify_attributes(decoded)
        semantics = decoded.instruction.semantics
        if semantics == "@call":
            self._call(decoded)
        elif semantics == "@return":
            operands = decoded.reads
            if len(operands) != len(signature.results):
                raise self.fail(f"returns {len(operands)} value(s), the signature has "
                                f"{len(signature.results)}")
            for register, kind in zip(operands, signature.results):
                if (kind is ValueKind.REF) != register.is_ref:
                    raise self.fail("return value bank does not match the signature")

    def _verify_attributes(self, decoded: DecodedInstruction) -> None:
        """Checks the ordinals and offsets that are not registers or targets."""
        module = self.module
        for spec, value in zip(decoded.instruction.fields, decoded.values):
            kind = spec.kind
            if kind == "type":
                if value >= len(module.type_names):
                    raise self.fail(f"type {value} out of range ({len(module.type_names)} types)")
            elif kind == "rodata":
                if value >= len(module.rodata):
                    raise self.fail(f"rodata segment {value} out of range "
                                    f"({len(module.rodata)} segments)")
            elif kind == "function":
                self._function(value)
            elif kind == "global":
                # A direct global access moves exactly one value register.
                self._global((decoded.writes or decoded.reads)[0], value)

    def _function(self, value: int) -> None:
        module = self.module
        if value & IMPORT_BIT:
            if (value & ~IMPORT_BIT) >= len(module.imports):
                raise self.fail(f"import {value & ~IMPORT_BIT} out of range "
                                f"({len(module.imports)} imports)")
        elif value >= len(module.functions):
            raise self.fail(f"function {value} out of range ({len(module.functions)} functions)")

    def _global(self, register: Register, value: int) -> None:
        module = self.module
        bank = register.kind
        if bank == "ref":
            if value >= module.global_ref_count:
                raise self.fail(f"ref global {value} out of range "
                                f"({module.global_ref_count} ref globals)")
            return
        width = _WIDTHS[bank]
        if value % width or value + width > module.global_bytes_capacity:
            raise self.fail(f"global byte offset {value} ({bank}) out of range or misaligned "
                            f"({module.global_bytes_capacity} bytes of globals)")

    def _call(self, decoded: DecodedInstruction) -> None:
        module = self.module
        callee = decoded.field("callee")
        operands = decoded.field("operands")
        results = decoded.field("results")
        if callee & IMPORT_BIT:
            convention = module.imports[callee & ~IMPORT_BIT].signature.calling_convention
        else:
            convention = module.signatures[callee].calling_convention
        signature = parse_calling_convention(convention)
        kinds = []  # what the callee takes, spans expanded by their segment sizes
        segments = decoded.field("segment_sizes") if decoded.instruction.mnemonic.startswith(
            "call.variadic") else None
        for index, slot in enumerate(signature.arguments):
            if isinstance(slot, Span):
                if segments is None or index >= len(segments):
                    raise self.fail(f"variadic call to {convention!r} without a segment size "
                                    f"for argument {index}")
                if segments[index] * len(slot.kinds) > len(operands):
                    break  # the count check below reports it
                kinds.extend(list(slot.kinds) * segments[index])
            else:
                kinds.append(slot)
        if len(operands) != len(kinds):
            raise self.fail(f"call passes {len(operands)} value(s), callee convention "
                            f"{convention!r} takes {len(kinds)}")
        if len(results) != len(signature.results):
            raise self.fail(f"call expects {len(results)} result(s), callee convention "
                            f"{convention!r} returns {len(signature.results)}")
        # A ref where the callee takes a number, or the reverse, would reach
        # the callee as a value of the wrong type.
        for what, registers, expected in (("argument", operands, kinds),
                                          ("result", results, signature.results)):
            for index, (register, kind) in enumerate(zip(registers, expected)):
                if register.is_ref != (kind is ValueKind.REF):
                    raise self.fail(f"call {what} {index} is a "
                                    f"{'ref' if register.is_ref else 'primitive'} register, "
                                    f"callee convention {convention!r} takes "
                                    f"{'a ref' if kind is ValueKind.REF else 'a primitive'}")


def verify_module(module: ModuleDef, names: list[str]) -> list[list[DecodedInstruction]]:
    """Verifies every function; returns their decoded instructions.

    Also checks module-level tables: export ordinals and one signature per
    function. Raises VMError(INVALID_ARGUMENT) on the first problem.
    """
    if len(module.signatures) < len(module.functions):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"module {module.name}: {len(module.functions)} functions but only "
                      f"{len(module.signatures)} signatures")
    for export in module.exports:
        if not 0 <= export.internal_ordinal < len(module.functions):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"module {module.name}: export {export.local_name!r} refers to "
                          f"function {export.internal_ordinal}, out of range")
    for signature in module.signatures:
        parse_calling_convention(signature.calling_convention)
    for definition in module.imports:
        parse_calling_convention(definition.signature.calling_convention)
    return [_FunctionVerifier(module, ordinal, names[ordinal]).verify()
            for ordinal in range(len(module.functions))]
