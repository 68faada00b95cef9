"""The floors import only the floors beneath them.

Read from the sources (no import runs): the core knows no devices or module
kinds, the HAL knows no bytecode, the bytecode floor needs the core alone,
and only the face (asyncvm/ outside vm/) assembles everything. Importing
any subpackage still runs ``asyncvm/__init__.py`` (one import name with a
plain public API), so this is checked on the code, not on ``sys.modules``.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# folder -> (its package name, the asyncvm packages it may import)
FLOORS = {
    "asyncvm/vm": ("asyncvm.vm", {"asyncvm.vm"}),
    "hal": ("asyncvm.hal", {"asyncvm.vm", "asyncvm.hal"}),
    "modules/bytecode": ("asyncvm.modules.bytecode", {"asyncvm.vm", "asyncvm.modules.bytecode"}),
    "modules/check": ("asyncvm.modules.check", {"asyncvm.vm", "asyncvm.hal", "asyncvm.modules.check"}),
    "modules/io_parameters": ("asyncvm.modules.io_parameters", {"asyncvm.vm", "asyncvm.hal",
                                                                 "asyncvm.modules.io_parameters"}),
    "modules/python": ("asyncvm.modules.python", {"asyncvm.vm", "asyncvm.hal", "asyncvm.modules.python"}),
    "modules/vmvx": ("asyncvm.modules.vmvx", {"asyncvm.vm", "asyncvm.hal", "asyncvm.modules.bytecode",
                                               "asyncvm.modules.vmvx"}),
}


def imported_packages(path: pathlib.Path, package: str) -> set[str]:
    """The absolute names of every module ``path`` imports (relative imports resolved)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                names.add(".".join(base + ([node.module] if node.module else [])))
            else:
                names.add(node.module)
    return names


@pytest.mark.parametrize("folder", sorted(FLOORS))
def test_a_floor_imports_only_the_floors_beneath_it(folder):
    package, allowed = FLOORS[folder]
    offending = []
    for path in sorted((ROOT / folder).glob("*.py")):
        for name in imported_packages(path, package):
            top = name.split(".")[0]
            if top in ("hal", "modules"):
                offending.append(f"{path.name}: {name} (outside the one import name)")
            elif top == "asyncvm" and not any(name == floor or name.startswith(floor + ".")
                                              for floor in allowed):
                offending.append(f"{path.name}: {name}")
    assert not offending, f"{folder} imports above its floor:\n  " + "\n  ".join(offending)


def test_the_helper_understands_relative_imports(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("from . import a\nfrom ..hal import Device\nimport numpy\n")
    # ``from . import a`` names the package itself (a is an attribute of it).
    assert imported_packages(source, "asyncvm.modules.check") == {
        "asyncvm.modules.check", "asyncvm.modules.hal", "numpy"}
