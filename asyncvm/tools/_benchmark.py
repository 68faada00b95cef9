"""``asyncvm benchmark``: call one function repeatedly, N calls in flight at once.

Takes run's flags (``--parameters=[SCOPE=]FILE`` included) plus
``--concurrency=N`` (invocations in flight on one event-loop thread) and
``--duration=SECONDS``. Inputs are parsed once and shared by every call, and
so are the parameters (mapped once). Prints the latency percentiles, and last
``throughput: X calls/s``.

``--profile[=FORMAT]`` (``table``, the default, ``csv`` or ``json``) also
profiles the timed calls (see :mod:`asyncvm._profile`: time per exported
function, import and dispatch) and prints the report after the throughput
line; with ``--trace`` the report also goes into the trace's metadata.
Profiling adds a few microseconds per import and dispatch, so the latencies
of a profiled run are a little higher.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import anyio

from asyncvm._profile import FORMATS, profile

from . import _run
from ._execution_flags import execution_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _run.add_arguments(parser)
    parser.add_argument("--concurrency", type=int, default=1,
                        help="invocations in flight at once (default 1)")
    parser.add_argument("--duration", type=float, default=3.0,
                        help="seconds to keep calling (default 3)")
    parser.add_argument("--profile", nargs="?", const="table", choices=FORMATS,
                        metavar="FORMAT",
                        help="profile the timed calls and print the report: table (the "
                             "default), csv or json")


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    position = min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))
    return ordered[position]


async def run(arguments: argparse.Namespace) -> int:
    if arguments.concurrency < 1 or arguments.duration <= 0:
        print("error: --concurrency must be >= 1 and --duration > 0", file=sys.stderr)
        return 1
    prepared = _run.prepare_call(arguments)
    if prepared is None:
        return 1
    program, function, values = prepared
    with execution_options(arguments, program):  # --trace_execution, --print_statistics
        return await _measure(arguments, program, function, values)


async def _measure(arguments: argparse.Namespace, program, function, values) -> int:
    invoke = program.context.invoke
    await invoke(function, *values)  # warm up: initializers, first-call costs
    latencies: list[float] = []
    deadline = time.perf_counter() + arguments.duration

    async def caller() -> None:
        clock = time.perf_counter
        while clock() < deadline:
            began = clock()
            await invoke(function, *values)
            latencies.append(clock() - began)

    with contextlib.ExitStack() as stack:
        report = None
        if arguments.profile:
            report = stack.enter_context(profile(
                program, title=f"profile of {function.full_name} on {arguments.device}, "
                               f"concurrency {arguments.concurrency}"))
        began = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(arguments.concurrency):
                group.start_soon(caller)
        elapsed = time.perf_counter() - began
    latencies.sort()
    print(f"function: {function.full_name}  device: {arguments.device}  "
          f"concurrency: {arguments.concurrency}")
    print(f"calls: {len(latencies)} in {elapsed:.2f} s")
    for label, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        print(f"latency {label}: {percentile(latencies, fraction) * 1e6:.1f} us")
    print(f"throughput: {len(latencies) / elapsed:.1f} calls/s")
    if report is not None:
        print(report.format(arguments.profile))
    return 0
