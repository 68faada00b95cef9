"""Bytecode modules: VMFB reading, the instruction set, verifier, interpreter, disassembler."""

from ._decoder import DecodedInstruction
from ._instruction_set import INSTRUCTIONS, Field, Instruction
from ._module import BytecodeModule, BytecodeModuleState
from ._module_definition import ModuleDef, parse_module_definition
from ._operands import BranchTarget, Register

__all__ = ["BranchTarget", "BytecodeModule", "BytecodeModuleState", "DecodedInstruction", "Field",
           "INSTRUCTIONS", "Instruction", "ModuleDef", "Register", "parse_module_definition"]
