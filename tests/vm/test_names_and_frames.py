"""Qualified names and frame descriptions.

* ``module.function`` splits at the first dot, in lookup as in import
  resolution: function names may contain dots (``hal.devices.count``),
  module names never do.
* Backtraces name each frame's own module, even when two modules were
  compiled from identical functions (their code objects compare equal), and
  the frame descriptions keep no module alive.
"""

from __future__ import annotations

import gc
import types
import weakref
from pathlib import Path

import pytest

import asyncvm
from asyncvm.hal import HalModule
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.python import PythonModule
from asyncvm.vm import Context, StatusCode, VMError, split_qualified_name
from asyncvm.vm import _invocation

pytestmark = pytest.mark.anyio

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"

DOTTED_IMPORT = """
// Imports a Python export whose function name has a dot.
vm.module @dotted {
  vm.import private @host.stats.count(%x : i32) -> i32
  vm.func @run(%x : i32) -> i32 {
    %r = vm.call @host.stats.count(%x) : (i32) -> i32
    vm.return %r : i32
  }
  vm.export @run
}
"""


def renamed(tmp_path_factory, compile_mlir, name: str):
    """vm_backtrace.mlir compiled as module ``name`` (nothing else differs)."""
    source = (PROGRAMS / "vm_backtrace.mlir").read_text()
    assert "vm.module @vm_backtrace " in source
    path = tmp_path_factory.mktemp("renamed") / f"{name}.mlir"
    path.write_text(source.replace("vm.module @vm_backtrace ", f"vm.module @{name} "))
    return compile_mlir(path, mode="vm")


@pytest.fixture(scope="module")
def twins(tmp_path_factory, compile_mlir):
    return (renamed(tmp_path_factory, compile_mlir, "first"),
            renamed(tmp_path_factory, compile_mlir, "second"))


def function_codes(module: BytecodeModule) -> list[types.CodeType]:
    return [constant for constant in module._bind.__code__.co_consts
            if isinstance(constant, types.CodeType)]


# -- qualified names ------------------------------------------------------------------


def test_split_at_the_first_dot():
    assert split_qualified_name("hal.devices.count") == ("hal", "devices.count")
    assert split_qualified_name("host.f") == ("host", "f")
    assert split_qualified_name("f") == ("", "f")


async def test_lookup_of_a_dotted_hal_export():
    context = Context(modules=[HalModule()])
    function = context.lookup_function("hal.devices.count")
    assert function.module.name == "hal" and function.name == "devices.count"
    assert function.full_name == "hal.devices.count"
    assert await context.invoke(function) == (1,)
    assert await context.invoke("hal.devices.count") == (1,)


def test_dotted_name_without_its_module_is_not_found():
    # "devices.count" names module "devices", as an import would.
    context = Context(modules=[HalModule()])
    with pytest.raises(VMError) as caught:
        context.lookup_function("devices.count")
    assert caught.value.status == StatusCode.NOT_FOUND
    assert "'devices.count'" in caught.value.message
    with pytest.raises(VMError) as caught:
        context.lookup_function("hal.devices.nothing")
    assert caught.value.status == StatusCode.NOT_FOUND
    assert "hal.devices.nothing" in caught.value.message


def dotted_host() -> PythonModule:
    host = PythonModule("host", version=1)

    @host.export("0i_i", name="stats.count")
    def count(x):
        return x + 100

    return host


async def test_lookup_of_a_dotted_python_export():
    context = Context(modules=[dotted_host()])
    function = context.lookup_function("host.stats.count")
    assert function.name == "stats.count"
    assert await context.invoke(function, 5) == (105,)


async def test_dotted_import_resolves_like_lookup(tmp_path, compile_mlir):
    path = tmp_path / "dotted.mlir"
    path.write_text(DOTTED_IMPORT)
    program = asyncvm.load(compile_mlir(path, mode="vm"), modules=[dotted_host()])
    assert await program.invoke("run", 2) == (102,)
    assert await program.context.invoke("dotted.run", 3) == (103,)


# -- frame descriptions ------------------------------------------------------------------


async def test_identical_modules_name_their_own_frames(twins):
    first, second = (BytecodeModule.load(path) for path in twins)
    # The precondition of the bug: the functions compare equal by value.
    assert function_codes(first) == function_codes(second)
    context = Context(modules=[first, second])
    for name in ("first", "second", "first"):
        with pytest.raises(VMError) as caught:
            await context.invoke(f"{name}.outer", 10)
        error = caught.value
        assert error.status == StatusCode.OUT_OF_RANGE  # vm.fail's status 11
        assert [frame.module for frame in error.backtrace] == [name] * 3
        # inner and middle are private (named by ordinal), outer is exported.
        assert [frame.function for frame in error.backtrace][-1] == "outer"
        assert f"at {name}.outer@" in str(error)


async def test_the_module_loaded_last_takes_no_labels_over(twins):
    # Loaded in the other order; and "outer" is described both while suspended
    # on the driver's stack and, for "inner", in the exception's traceback.
    second = BytecodeModule.load(twins[1])
    first = BytecodeModule.load(twins[0])
    context = Context(modules=[second, first])
    for name in ("second", "first"):
        with pytest.raises(VMError) as caught:
            await context.invoke(f"{name}.outer", 20)
        assert [frame.module for frame in caught.value.backtrace] == [name] * 3


async def test_a_dropped_module_is_freed(twins):
    gc.collect()  # modules earlier tests dropped
    before = len(_invocation._frame_describers)
    module = BytecodeModule.load(twins[0])
    program = asyncvm.load(module)
    with pytest.raises(VMError) as caught:
        await program.invoke("outer", 10)
    assert caught.value.location.module == "first"
    assert len(_invocation._frame_describers) > before
    code = function_codes(module)[0]
    reference = weakref.ref(module)
    del module, program, caught
    gc.collect()
    assert reference() is None
    # A code object kept by someone else is no longer described, and the
    # registry forgets every entry whose code object was freed.
    assert _invocation.describe_code_frame(code, 1) is None
    del code
    gc.collect()
    assert len(_invocation._frame_describers) == before


def test_registry_holds_describers_weakly():
    code = compile("def f():\n    return 1\n", "<test>", "exec")

    def describe(line):
        return asyncvm.vm.FrameLocation("m", "f", line)

    _invocation.register_frame_describer(code, describe)
    assert _invocation.describe_code_frame(code, 3) == asyncvm.vm.FrameLocation("m", "f", 3)
    # An equal code object from another compile is not the registered one.
    twin = compile("def f():\n    return 1\n", "<test>", "exec")
    assert twin == code and _invocation.describe_code_frame(twin, 3) is None
    del describe
    gc.collect()
    assert _invocation.describe_code_frame(code, 3) is None
