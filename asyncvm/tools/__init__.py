"""The ``asyncvm`` command: subcommands named after IREE's tools.

``run`` (iree-run-module), ``check`` (iree-check-module), ``dump``
(iree-dump-module), ``benchmark`` (iree-benchmark-module, with
concurrency and ``--profile``), ``compare`` (one function on two devices or
two builds, down to the first dispatch that differs), and ``serve`` (the
program behind the Open Inference Protocol).
Every failure prints ``error: STATUS: message`` and its VM backtrace to
stderr and exits non-zero.
"""

from __future__ import annotations

import argparse
import sys

import anyio

from asyncvm.vm import VMError, tracing

from . import _benchmark, _check, _compare, _dump, _parameters, _run, _serve

_COMMANDS = {
    "run": (_run, "call a function and print its results"),
    "check": (_check, "run a module's test functions"),
    "dump": (_dump, "print a module's metadata and disassembly"),
    "benchmark": (_benchmark, "call a function repeatedly with N calls in flight"),
    "compare": (_compare, "run a function on two devices or two builds and report the first "
                          "dispatch whose outputs differ"),
    "parameters": (_parameters, "list parameter files or convert them to .irpa"),
    "serve": (_serve, "serve the program's functions over HTTP (Open Inference Protocol)"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asyncvm", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (command, help_text) in _COMMANDS.items():
        command.add_arguments(subparsers.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    arguments = _parser().parse_args(argv)
    command = _COMMANDS[arguments.command][0]
    trace_path = getattr(arguments, "trace", None)
    try:
        if arguments.command == "serve":  # uvicorn runs its own event loop
            return command.main(arguments)
        if trace_path is None:
            return anyio.run(command.run, arguments)
        with tracing() as tracer:
            try:
                return anyio.run(command.run, arguments)
            finally:
                tracer.write(trace_path)
    except VMError as error:
        sys.stdout.flush()
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


__all__ = ["main"]
