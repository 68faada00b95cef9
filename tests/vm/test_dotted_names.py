"""Function names with dots.

IREE's e2e tests name functions ``@"i32i32.i32"`` or after their file
(``@"regression_issue_12546.mlir"``), and the dispatches (linked VMVX
kernels) carry the dots on. So a qualified name is split by the modules
that exist, not at a dot: ``module.function`` resolves to the registered
module whose name, followed by a dot, begins it (the longest such name),
and the rest is the function's own name. A program's ``lookup`` (and
``program[...]``, ``asyncvm run --function``, ``asyncvm check``) first
tries the whole text as a function of the main module, then
``module.function``. Compared with IREE's runtime on VMVX and llvm-cpu
builds, on both local drivers.
"""

from __future__ import annotations

import subprocess

import numpy
import pytest
from _command_line import iree_tool, run_cli

import asyncvm
from asyncvm.hal import HalModule
from asyncvm.modules.python import PythonModule
from asyncvm.vm import Context, StatusCode, VMError
from asyncvm.vm._module import resolve_qualified_name

BUILDS = {
    "vmvx": (),
    "llvm-cpu": ("--iree-hal-local-target-device-backends=llvm-cpu",
                 "--iree-llvmcpu-target-cpu=generic"),
}

RANDOM = numpy.random.default_rng(12546)

TENSOR_CASES = {
    "i32i32.i32": [RANDOM.integers(-1000, 1000, (2, 3), dtype=numpy.int32),
                   RANDOM.integers(-1000, 1000, (3, 2), dtype=numpy.int32)],
    "dot.general.f32": [RANDOM.standard_normal(4).astype(numpy.float32),
                        RANDOM.standard_normal(4).astype(numpy.float32)],
}
SCALAR_CASES = {
    "hal.not_the_hal": [(5,), (-7,), (2**31 - 1,)],
    "scalar.i64.add": [(1, 2), (2**62, 2**62), (-1, -(2**63) + 1)],
    "plain": [(4,), (0,)],
}


@pytest.fixture(scope="module", params=sorted(BUILDS))
def build(request):
    return request.param


@pytest.fixture(scope="module")
def dotted(build, compile_mlir):
    return compile_mlir("names_dotted.mlir", *BUILDS[build])


@pytest.fixture(params=["local-sync", "local-task"])
def driver(request):
    return request.param


# -- splitting by the modules that exist ------------------------------------------------


@pytest.mark.parametrize("name, modules, expected", [
    ("hal.devices.count", ["hal", "module"], ("hal", "devices.count")),
    ("module.i32i32.i32", ["hal", "module"], ("module", "i32i32.i32")),
    ("linked_module.i32i32.i32_dispatch_0", ["linked_module"],
     ("linked_module", "i32i32.i32_dispatch_0")),
    ("module.regression_issue_12546.mlir", ["module"], ("module", "regression_issue_12546.mlir")),
    ("a.b.c.f", ["a", "a.b", "a.b.c.d"], ("a.b", "c.f")),  # the longest module name wins
    ("a.b.f", ["a.b", "a"], ("a.b", "f")),
    ("i32i32.i32", ["hal", "module"], None),  # no module prefixes it
    ("hal", ["hal"], None),
    ("hal.", ["hal"], None),
    ("halo.f", ["hal"], None),
])
def test_resolve_qualified_name(name, modules, expected):
    assert resolve_qualified_name(name, modules) == expected


def versioned_hosts() -> list[PythonModule]:
    """Module ``host`` exporting ``v2.f`` and module ``host.v2`` exporting ``f``."""
    host = PythonModule("host", version=1)

    @host.export("0i_i", name="v2.f")
    def old(x):
        return x + 1

    newer = PythonModule("host.v2", version=1)

    @newer.export("0i_i", name="f")
    def new(x):
        return x + 2

    @newer.export("0i_i", name="g.h")
    def dotted(x):
        return x + 3

    return [host, newer]


@pytest.mark.anyio
async def test_context_lookup_takes_the_longest_module_name():
    context = Context(modules=versioned_hosts())
    function = context.lookup_function("host.v2.f")
    assert (function.module.name, function.name) == ("host.v2", "f")
    assert await context.invoke(function, 1) == (3,)
    function = context.lookup_function("host.v2.g.h")
    assert (function.module.name, function.name) == ("host.v2", "g.h")
    assert await context.invoke("host.v2.g.h", 1) == (4,)
    # Naming the module explicitly reaches the shorter one's dotted export.
    function = context.lookup_function("v2.f", module="host")
    assert (function.module.name, function.name) == ("host", "v2.f")
    assert await context.invoke(function, 1) == (2,)


@pytest.mark.parametrize("name", ["host.v2.nope", "host.v3.f", "v2.f", "nothing.f", "f.g",
                                  "host.v2.", "host.v2.__init"])
def test_unknown_dotted_names_are_not_found_naming_them(name):
    context = Context(modules=versioned_hosts())
    with pytest.raises(VMError) as caught:
        context.lookup_function(name)
    assert caught.value.status == StatusCode.NOT_FOUND
    assert repr(name) in caught.value.message


def test_lookup_in_a_named_module_that_is_missing_is_not_found():
    context = Context(modules=[HalModule()])
    with pytest.raises(VMError) as caught:
        context.lookup_function("devices.count", module="nothing")
    assert caught.value.status == StatusCode.NOT_FOUND
    assert "'devices.count'" in caught.value.message and "'nothing'" in caught.value.message
    assert context.lookup_function("devices.count", module="hal").name == "devices.count"


DOTTED_IMPORTS = """
// Imports from a module whose name has a dot, and a dotted function.
vm.module @importer {
  vm.import private @host.v2.f(%x : i32) -> i32
  vm.import private @host.v2.g.h(%x : i32) -> i32
  vm.func @run(%x : i32) -> i32 {
    %a = vm.call @host.v2.f(%x) : (i32) -> i32
    %b = vm.call @host.v2.g.h(%a) : (i32) -> i32
    vm.return %b : i32
  }
  vm.export @run
}
"""


@pytest.mark.anyio
async def test_imports_resolve_by_the_modules_that_exist(tmp_path, compile_mlir):
    source = tmp_path / "names_importer.mlir"
    source.write_text(DOTTED_IMPORTS)
    vmfb = compile_mlir(source, mode="vm")
    program = asyncvm.load(vmfb, modules=versioned_hosts())
    assert await program.invoke("run", 10) == (15,)  # (10 + 2) + 3
    # Without module host.v2 the import names nothing (host has no "v2.g.h").
    with pytest.raises(VMError) as caught:
        asyncvm.load(vmfb, modules=versioned_hosts()[:1])
    assert caught.value.status == StatusCode.NOT_FOUND
    assert "host.v2.g.h" in caught.value.message


# -- programs: tensor functions with dotted names, against IREE ---------------------


@pytest.mark.anyio
@pytest.mark.parametrize("function", sorted(TENSOR_CASES))
async def test_dotted_tensor_functions_match_iree(dotted, driver, function):
    pytest.importorskip("iree.runtime")
    from _iree_reference import iree_tensor_results

    arguments = TENSOR_CASES[function]
    expected = iree_tensor_results(dotted, function, arguments, driver=driver)
    program = asyncvm.load(dotted, device=driver)
    for name in (function, f"module.{function}"):
        results = await program.invoke(name, *arguments)
        assert len(results) == len(expected)
        for actual, wanted in zip(results, expected):
            assert actual.dtype == wanted.dtype and actual.shape == wanted.shape
            assert numpy.array_equal(actual, wanted)
    (called,) = await program[function](*arguments)
    assert numpy.array_equal(called, expected[0])
    await program.close()


@pytest.mark.anyio
@pytest.mark.parametrize("function", sorted(SCALAR_CASES))
async def test_dotted_scalar_functions_match_iree(dotted, driver, iree_reference, function):
    program = asyncvm.load(dotted, device=driver)
    for arguments in SCALAR_CASES[function]:
        expected = iree_reference(dotted, function, *arguments)
        assert await program.invoke(function, *arguments) == expected
    await program.close()


def test_program_lookup_prefers_the_main_modules_own_name(dotted):
    program = asyncvm.load(dotted)
    mine = program.lookup("hal.not_the_hal")
    assert (mine.module.name, mine.name) == ("module", "hal.not_the_hal")
    assert program.lookup("module.hal.not_the_hal").full_name == "module.hal.not_the_hal"
    hal = program.lookup("hal.devices.count")
    assert (hal.module.name, hal.name) == ("hal", "devices.count")
    for name in ("i32i32.i32", "dot.general.f32", "scalar.i64.add", "plain"):
        assert name in program
        assert program[name].function.name == name
        assert program[f"module.{name}"].function.name == name
    assert list(program) == ["i32i32.i32", "dot.general.f32", "hal.not_the_hal",
                             "scalar.i64.add", "plain"]
    assert "hal.devices.count" in program


@pytest.mark.parametrize("name", ["i32i32.i33", "i32i32", "module.nope", "module.i32i32",
                                  "hal.nope.x", "nomodule.i32i32.i32", "__init", "module.__init"])
def test_unknown_names_in_a_program_are_not_found(dotted, name):
    program = asyncvm.load(dotted)
    with pytest.raises(VMError) as caught:
        program.lookup(name)
    assert caught.value.status == StatusCode.NOT_FOUND
    assert repr(name) in caught.value.message
    assert name not in program
    with pytest.raises(VMError):
        program[name]


# -- the command line ---------------------------------------------------------------


@pytest.mark.parametrize("function, inputs", [
    ("i32i32.i32", ["2x3xi32=1,2,3,4,5,6", "3x2xi32=1,0,0,1,1,1"]),
    ("dot.general.f32", ["4xf32=1 2 3 4", "4xf32=0.5 -1 2 0"]),
    ("hal.not_the_hal", ["4"]),
    ("scalar.i64.add", ["9223372036854775807", "2"]),
])
def test_run_dotted_function_matches_iree_run_module(capsys, dotted, driver, function, inputs):
    tool = iree_tool("iree-run-module")
    if tool is None:
        pytest.skip("iree-run-module is not installed")
    flags = [f"--module={dotted}", f"--function={function}", f"--device={driver}"] + \
        [f"--input={i}" for i in inputs]
    code, out, err = run_cli(capsys, "run", *flags)
    assert code == 0, err
    expected = subprocess.run([tool, *flags], capture_output=True, text=True,
                              check=True).stdout
    assert out.splitlines() == expected.splitlines()


def test_run_of_an_unknown_dotted_function_is_not_found(capsys, dotted):
    code, out, err = run_cli(capsys, "run", f"--module={dotted}", "--function=i32i32.i33")
    assert code == 1
    assert "NOT_FOUND" in err and "i32i32.i33" in err


@pytest.fixture(scope="module")
def named_checks(build, compile_mlir):
    return compile_mlir("names_check.mlir", *BUILDS[build])


def test_check_runs_tests_named_after_files(capsys, named_checks, driver):
    code, out, err = run_cli(capsys, "check", f"--module={named_checks}", f"--device={driver}")
    lines = out.splitlines()
    assert lines == [
        "[       OK ] regression_issue_12546.mlir",
        "[       OK ] i32i32.i32",
        "[       OK ] splat.i64",
        "[       OK ] fail_wrong.value.mlir (failed as expected: FAILED_PRECONDITION)",
        "4 passed, 0 failed",
    ], err
    assert code == 0
