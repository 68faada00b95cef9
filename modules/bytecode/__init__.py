"""Bytecode modules: VMFB reading, the instruction set, verifier, interpreter, disassembler."""

from ._instruction_set import INSTRUCTIONS, Field, Instruction
from ._module import BytecodeModule, BytecodeModuleState
from ._module_definition import ModuleDef, parse_module_definition

__all__ = ["BytecodeModule", "BytecodeModuleState", "Field", "INSTRUCTIONS",
           "Instruction", "ModuleDef", "parse_module_definition"]
