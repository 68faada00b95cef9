"""``asyncvm dump``: a module's metadata and disassembly, like ``iree-dump-module``."""

from __future__ import annotations

import argparse

from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.bytecode._disassembler import dump_module


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("module", help="a .vmfb file")
    parser.add_argument("--no-disassembly", action="store_true",
                        help="print the metadata tables only")


async def run(arguments: argparse.Namespace) -> int:
    module = BytecodeModule.load(arguments.module)
    print(dump_module(module, disassemble=not arguments.no_disassembly), end="")
    return 0
