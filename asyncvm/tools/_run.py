"""``asyncvm run``: call one function, print results like ``iree-run-module``.

``--parameters=[SCOPE=]FILE`` (repeatable) gives programs with external
parameters their files, as IREE's tools take them: ``--parameters=model=w.irpa``
puts the parameters of ``w.irpa`` in scope ``model``, a bare path in the
empty scope. ``--trace_execution[=FILE]`` and ``--print_statistics`` trace the
call's instructions and print statistics after the results (see
:mod:`._execution_flags`). ``--memory-limit=BYTES`` (``512K``, ``64M``,
``1G``: powers of 1024) bounds the bytes the device holds at once: an
allocation past it fails the call with ``RESOURCE_EXHAUSTED`` (see
:meth:`asyncvm.hal.Device.allocate` for what counts).
"""

from __future__ import annotations

import argparse
import re
import sys

from asyncvm._program import load, parameter_index
from asyncvm.modules.io_parameters import ParameterIndex
from asyncvm.modules.io_parameters import split_scope
from asyncvm.vm import Span

from ._execution_flags import add_execution_arguments, execution_options
from ._values_text import format_value, parse_input


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--module", action="append", required=True,
                        help="a .vmfb, .py (Python modules) or .so (tvm-ffi library; NAME=PATH "
                             "names it) file; repeat to register several in order (the last "
                             ".vmfb is the program)")
    parser.add_argument("--function", required=True, help="the exported function to call")
    parser.add_argument("--input", action="append", default=[],
                        help="an argument in IREE's syntax: 5, f32=2.5, 2x3xf32=1,2,3,4,5,6, "
                             "[[1 2][3 4]] forms, or @file.npy")
    parser.add_argument("--device", default="local-sync",
                        choices=["local-sync", "local-task"], help="the HAL device")
    add_parameters_argument(parser)
    add_memory_limit_argument(parser)
    parser.add_argument("--trace", metavar="FILE",
                        help="write a Chrome/Perfetto trace (JSON) of invocations, "
                             "suspensions, queue work and kernels")
    add_execution_arguments(parser)


def add_parameters_argument(parser: argparse.ArgumentParser) -> None:
    """``--parameters=[SCOPE=]FILE``, repeatable, as IREE's tools take it."""
    parser.add_argument("--parameters", action="append", default=[], metavar="[SCOPE=]FILE",
                        help="a parameter file (.irpa, .safetensors, .gguf) for programs with "
                             "external parameters, in the empty scope or in SCOPE; repeatable")


_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_memory_size(text: str) -> int:
    """Bytes from ``4096``, ``512K``, ``64M``, ``1G``, ``1.5G`` (powers of
    1024; ``KB``/``KiB`` spellings too), rounded down to whole bytes.
    ``argparse.ArgumentTypeError`` for anything else; the range (positive)
    is checked where the limit is used."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size in bytes (e.g. 1048576, 512K, 64M, 1G)")
    number, unit = match.groups()
    scale = _SIZE_UNITS[unit.lower()]
    return int(number) * scale if "." not in number else int(float(number) * scale)


def add_memory_limit_argument(parser: argparse.ArgumentParser) -> None:
    """``--memory-limit=BYTES``: the most bytes the device may hold at once."""
    parser.add_argument("--memory-limit", type=parse_memory_size, default=None, metavar="BYTES",
                        help="the most bytes of allocations the device may hold at once "
                             "(512K, 64M, 1G: powers of 1024); an allocation past it fails "
                             "with RESOURCE_EXHAUSTED (default: no limit)")


def parameters_from_flags(specs: list[str]) -> ParameterIndex | None:
    """The index of ``--parameters`` flags (files mapped once, then shared by
    every program loaded), or None when there are none."""
    if not specs:
        return None
    scopes: dict[str, list[str]] = {}
    for spec in specs:
        scope, path = split_scope(spec)
        scopes.setdefault(scope, []).append(path)
    return parameter_index(scopes)


def prepare_call(arguments: argparse.Namespace):
    """(program, function, argument values) from run's flags, or None after
    printing why the inputs do not fit the function."""
    program = load(arguments.module[-1], modules=arguments.module[:-1], device=arguments.device,
                   parameters=parameters_from_flags(arguments.parameters),
                   memory_limit=getattr(arguments, "memory_limit", None))
    function = program.lookup(arguments.function)
    slots = function.signature.arguments
    if len(arguments.input) != len(slots):
        print(f"error: {function.full_name} takes {len(slots)} input(s) "
              f"({function.calling_convention}), {len(arguments.input)} given", file=sys.stderr)
        return None
    values = [parse_input(text, slot, index)
              for index, (text, slot) in enumerate(zip(arguments.input, slots))]
    return program, function, values


async def run(arguments: argparse.Namespace) -> int:
    prepared = prepare_call(arguments)
    if prepared is None:
        return 1
    program, function, values = prepared
    with execution_options(arguments, program):
        print(f"EXEC @{function.name}")
        results = await program.context.invoke(function, *values)
        for index, (value, slot) in enumerate(zip(results, function.signature.results)):
            kind = None if isinstance(slot, Span) else slot
            print(f"result[{index}]: {format_value(value, kind)}")
    return 0
