"""``asyncvm dump``: a module's metadata and disassembly, like ``iree-dump-module``.

For a ``.vmfb`` it prints the metadata tables and the disassembly; for a
``.py`` file or a tvm-ffi shared library (``.so``), the modules it gives and
their exports (with calling conventions where known).
"""

from __future__ import annotations

import argparse

from asyncvm._module_sources import is_library_path, modules_from
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.bytecode._disassembler import dump_module
from asyncvm.vm import Module


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("module", help="a .vmfb, .py or .so (tvm-ffi) file")
    parser.add_argument("--no-disassembly", action="store_true",
                        help="print the metadata tables only")


def describe_module(module: Module) -> str:
    """The listing of a module that is not bytecode: kind, exports, imports."""
    from asyncvm.modules.native import NativeLibraryModule
    out = [f"// module @{module.name} : version {module.version} ({type(module).__name__})"]
    if isinstance(module, NativeLibraryModule):
        out.append(f"// library {module.path}")
        out.append("")
        out.append("Exported functions:")
        for index, function in enumerate(module.functions.values()):
            if function.signature is None:
                out.append(f"  [{index:3}] {function.name}  (no type metadata: the importer's "
                           "calling convention is used as declared)")
            else:
                convention = function.calling_convention or "(no VM equivalent)"
                out.append(f"  [{index:3}] {function.name}  {convention}  {function.signature}")
            if function.documentation:
                out += [f"        {line}" for line in function.documentation.splitlines()]
        out.append("")
        return "\n".join(out) + "\n"
    out.append("")
    if module.dependencies:
        out.append("Dependencies:")
        out += [f"  {d.name} >= {d.minimum_version}{' (optional)' if d.optional else ''}"
                for d in module.dependencies]
        out.append("")
    if module.imports:
        out.append("Imported functions:")
        out += [f"  [{i:3}] {d.full_name}  {d.calling_convention}"
                f"{' (optional)' if d.optional else ''}" for i, d in enumerate(module.imports)]
        out.append("")
    out.append("Exported functions:")
    for index, descriptor in enumerate(module.exports):
        out.append(f"  [{index:3}] {descriptor.name}  {descriptor.calling_convention}")
        out += [f"        {key}: {value}" for key, value in descriptor.attributes.items()]
    out.append("")
    return "\n".join(out) + "\n"


async def run(arguments: argparse.Namespace) -> int:
    path = arguments.module
    if path.endswith(".py") or is_library_path(path.split("=", 1)[-1]):
        print("\n".join(describe_module(module) for module in modules_from(path)), end="")
        return 0
    module = BytecodeModule.load(path)
    print(dump_module(module, disassemble=not arguments.no_disassembly), end="")
    return 0
