"""``asyncvm check``: run a module's test functions, like ``iree-check-module``.

Every exported function taking no arguments is a test, run in a fresh
context with the ``check`` module (and the HAL) registered. A test passes if
it returns; one whose name starts with ``fail_`` passes if it fails. Test
names may contain dots (IREE names check tests after their files:
``regression_issue_12546.mlir``). One line per test, then ``N passed, M
failed``; the exit code is 1 if any test failed. ``--trace_execution[=FILE]``
traces every test's instructions, and ``--print_statistics`` prints, after
the summary, statistics that add up all the tests (see
:mod:`._execution_flags`). ``--memory-limit=BYTES`` gives each test's device
that limit (see ``asyncvm run``).
"""

from __future__ import annotations

import argparse

from asyncvm._module_sources import main_module, modules_from_all
from asyncvm._program import load
from asyncvm.vm import VMError
from asyncvm.modules.check import create_check_module

from ._execution_flags import add_execution_arguments, execution_options
from ._run import add_memory_limit_argument, add_parameters_argument, parameters_from_flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--module", action="append", required=True,
                        help="a .vmfb, .py or .so (tvm-ffi) file; repeat to register several in "
                             "order (the last .vmfb holds the tests)")
    parser.add_argument("--device", default="local-sync", choices=["local-sync", "local-task"])
    add_parameters_argument(parser)
    add_memory_limit_argument(parser)
    add_execution_arguments(parser)


async def run(arguments: argparse.Namespace) -> int:
    everything = [create_check_module()] + modules_from_all(arguments.module)
    main = main_module(everything)
    parameters = parameters_from_flags(arguments.parameters)  # mapped once, for every test
    tests = [d for d in main.exports
             if not d.name.startswith("__") and not d.signature.arguments]
    passed = failed = 0
    with execution_options(arguments) as options:
        for descriptor in tests:
            program = load(everything[-1], modules=everything[:-1], device=arguments.device,
                           parameters=parameters, memory_limit=arguments.memory_limit)
            with options.observe(program):
                expect_failure = descriptor.name.startswith("fail_")
                # By the export itself: a test's name may have dots ("i32i32.i32",
                # "regression_issue_12546.mlir"), and a failure to find it must not
                # pass for a fail_ test's expected failure.
                function = program.context.lookup_function(descriptor.name, module=main.name)
                try:
                    await program.invoke(function)
                    error = None
                except VMError as caught:
                    error = caught
                if (error is None) != expect_failure:
                    passed += 1
                    note = f" (failed as expected: {error.status.name})" if error else ""
                    print(f"[       OK ] {descriptor.name}{note}")
                else:
                    failed += 1
                    reason = str(error) if error else "expected a failure, but it returned"
                    print(f"[  FAILED  ] {descriptor.name}: {reason}")
                await program.close()
        print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
