"""``--trace_execution[=FILE]`` and ``--print_statistics``, shared by the tools.

A tool adds the flags with :func:`add_execution_arguments` and runs its
calls inside :func:`execution_options`::

    add_execution_arguments(parser)                      # in add_arguments
    with execution_options(arguments, program):          # around the calls
        ...

``--trace_execution`` prints every VM instruction the program runs, as it
runs, to stderr (``--trace_execution=FILE``: to FILE), in the format of
:mod:`asyncvm.vm._execution_trace`. ``--print_statistics`` prints, to stderr
when the block ends (after the results, as IREE's tools do), the
instructions executed, the import calls made (by import) and each device's
allocations::

    [[ execution statistics ]]
      instructions executed                          421
      import calls executed                           78
        hal.command_buffer.create                     11
        ...
        hal.fence.await                                1
    [[ device allocations ]]
      device      allocations  bytes allocated  peak bytes  live bytes  limit
      local-sync            1               16          16          16      -

(``live bytes``: what is still allocated when the statistics are printed,
such as the results.)

With ``--trace_execution`` the program runs its observed translation
(many times slower); with ``--print_statistics`` alone its counted one
(about twice as slow); without them nothing changes.

A tool that loads several programs (``check``: one per test) passes none
(or the first) and adds each with :meth:`ExecutionOptions.observe`: one
trace and one set of counters cover them all, and each device row adds up
its device over the programs (peak bytes: the largest peak).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import weakref
from typing import Any, Iterator

from asyncvm.hal import HalModule
from asyncvm.vm import Context, ExecutionCounts, ExecutionTrace, observe_execution

STANDARD_ERROR = "-"


def add_execution_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``--trace_execution[=FILE]`` and ``--print_statistics``; a flag
    the parser already has is left as it is (``benchmark`` takes ``run``'s
    flags, these included)."""
    flags = [
        (("--trace_execution",),
         dict(nargs="?", const=STANDARD_ERROR, default=None, metavar="FILE",
              help="print every VM instruction as it executes (its location, disassembly "
                   "and operand values) to stderr, or to FILE")),
        (("--print_statistics",),
         dict(action="store_true",
              help="print instructions executed, import calls and device allocations to "
                   "stderr at the end")),
    ]
    for names, options in flags:
        try:
            parser.add_argument(*names, **options)
        except argparse.ArgumentError:  # already there
            pass


class ExecutionOptions:
    """The trace and counters the flags asked for (each None if not), and
    the device statistics taken so far."""

    def __init__(self, trace: ExecutionTrace | None, counts: ExecutionCounts | None) -> None:
        self.trace = trace
        self.counts = counts
        self._observers = [observer for observer in (trace, counts) if observer is not None]
        # [weak reference to a device, its identifier, its latest snapshot]
        self._devices: list[list] = []

    @contextlib.contextmanager
    def observe(self, program_or_context: Any) -> Iterator[None]:
        """Observes a program (or context) for the block; with
        ``--print_statistics``, takes its devices' statistics at the end.
        Keeps no reference to it afterwards. VMError as
        :func:`asyncvm.vm.observe_execution` raises. Does not suspend."""
        if not self._observers:
            yield
            return
        try:
            with observe_execution(program_or_context, *self._observers):
                yield
        finally:
            if self.counts is not None:
                self._take_device_statistics(program_or_context)

    def _take_device_statistics(self, target: Any) -> None:
        context = target if isinstance(target, Context) else target.context
        for module in context.modules:
            if isinstance(module, HalModule):
                for device in module.devices:
                    entry = next((entry for entry in self._devices if entry[0]() is device), None)
                    if entry is None:
                        self._devices.append([weakref.ref(device), device.identifier,
                                              device.statistics])
                    else:
                        entry[2] = device.statistics

    def device_rows(self) -> dict[str, list[int]]:
        """Per device identifier: allocations, bytes allocated, peak bytes,
        live bytes and the memory limit (None without one), added up over the
        devices observed (peak and limit: the largest)."""
        rows: dict[str, list] = {}
        for _, identifier, snapshot in self._devices:
            row = rows.setdefault(identifier, [0, 0, 0, 0, None])
            row[0] += snapshot.allocations
            row[1] += snapshot.bytes_allocated
            row[2] = max(row[2], snapshot.peak_bytes)
            row[3] += snapshot.live_bytes
            limit = snapshot.limit
            if limit is not None:
                row[4] = limit if row[4] is None else max(row[4], limit)
        return rows

    def close(self) -> None:
        """Closes the trace and stops the counters."""
        try:
            if self.trace is not None:
                self.trace.close()
        finally:
            if self.counts is not None:
                self.counts.close()


@contextlib.contextmanager
def execution_options(arguments: argparse.Namespace,
                      program_or_context: Any = None) -> Iterator[ExecutionOptions]:
    """Applies ``--trace_execution`` and ``--print_statistics`` for the block.

    Observes ``program_or_context`` for the whole block, if given (a tool
    loading several programs observes each with
    :meth:`ExecutionOptions.observe`); the statistics are printed when the
    block ends, failing or not. Raises VMError for a trace file that cannot
    be opened (NOT_FOUND, PERMISSION_DENIED, ...). Does not suspend.
    """
    target = getattr(arguments, "trace_execution", None)
    statistics = getattr(arguments, "print_statistics", False)
    trace = None
    if target is not None:
        trace = ExecutionTrace(sys.stderr if target == STANDARD_ERROR else target)
    options = ExecutionOptions(trace, ExecutionCounts() if statistics else None)
    try:
        if program_or_context is None:
            yield options
        else:
            with options.observe(program_or_context):
                yield options
    finally:
        options.close()
        if statistics:
            sys.stdout.flush()
            sys.stderr.write(format_statistics(options.counts, options.device_rows()))
            sys.stderr.flush()


def format_statistics(counts: ExecutionCounts, devices: dict[str, list[int]]) -> str:
    """The statistics table (see the module docstring): ``counts``, then
    ``devices`` (per device: allocations, bytes allocated, peak bytes, live
    bytes, limit; ``-`` for none)."""
    import_calls = counts.import_calls
    width = max([len("instructions executed")] + [len(name) + 2 for name in import_calls])
    lines = ["[[ execution statistics ]]",
             f"  {'instructions executed':<{width}}  {counts.instructions:>10}",
             f"  {'import calls executed':<{width}}  {sum(import_calls.values()):>10}"]
    lines += [f"    {name:<{width - 2}}  {calls:>10}" for name, calls in import_calls.items()]
    lines.append("[[ device allocations ]]")
    if not devices:
        lines.append("  (no devices)")
    else:
        headings = ("device", "allocations", "bytes allocated", "peak bytes", "live bytes",
                    "limit")
        name_width = max(len(headings[0]), *(len(name) for name in devices))
        lines.append(f"  {headings[0]:<{name_width}}" + "".join(
            f"  {heading:>{len(heading)}}" for heading in headings[1:]))
        for name, values in devices.items():
            lines.append(f"  {name:<{name_width}}" + "".join(
                f"  {'-' if value is None else value:>{len(heading)}}"
                for heading, value in zip(headings[1:], values)))
    return "\n".join(lines) + "\n"
