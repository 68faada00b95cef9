"""``program.time_evaluator(name)``: timing a function as TVM's ``time_evaluator`` does.

``evaluator = program.time_evaluator("predict", number=10, repeat=3)``
gives a :class:`TimeEvaluator`; ``await evaluator(*arguments)`` (or
``evaluator.sync(*arguments)`` from synchronous code) calls the function
once to warm up (module initializers, first-call costs), then measures
``repeat`` repeats of ``number`` calls one after another, and returns a
:class:`BenchmarkResult` of the seconds per call of each repeat.

As in TVM, when ``min_repeat_ms`` is positive and a repeat took less than
that, the repeat is run again with a larger ``number`` (the larger of the
number the last measurement implies plus one and 1.618 times the current
one) until it takes at least ``min_repeat_ms``; the grown number carries on
to the following repeats. After each repeat whose index is a multiple of
``repeats_to_cooldown``, the evaluator sleeps ``cooldown_interval_ms``
(suspending, so other tasks run meanwhile).

Times are wall-clock (``time.perf_counter``) around awaited
``program.invoke`` calls, so they include the conversion of numpy
arguments and whatever else the event loop runs while a call is suspended.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any, Sequence

import anyio

from ._stateful import resolve_function
from ._synchronous import run_sync
from .vm import StatusCode, VMError

if TYPE_CHECKING:
    from ._program import Program

GOLDEN_RATIO = 1.618
"""How much ``number`` grows at least when a repeat is under ``min_repeat_ms`` (TVM's)."""

ZERO_DURATION_LIMIT = 100
"""Measurements of zero seconds after which a repeat stops growing (TVM's)."""


class BenchmarkResult:
    """Timing results, as TVM's ``tvm.runtime.BenchmarkResult``.

    ``results`` is the seconds per call of each repeat; ``mean``, ``median``,
    ``std`` (population standard deviation, as numpy's), ``min`` and ``max``
    summarize them, in seconds. ``calls_per_repeat`` is how many calls each
    repeat timed (``number``, or more when ``min_repeat_ms`` grew it).
    ``str()`` prints TVM's "Execution time summary" table in milliseconds.
    Raises VMError INVALID_ARGUMENT without any result.
    """

    def __init__(self, results: Sequence[float],
                 calls_per_repeat: Sequence[int] | None = None) -> None:
        self.results = tuple(float(result) for result in results)
        if not self.results:
            raise VMError(StatusCode.INVALID_ARGUMENT, "a BenchmarkResult needs at least one result")
        self.calls_per_repeat = tuple(calls_per_repeat) if calls_per_repeat is not None else None
        self.mean = statistics.fmean(self.results)
        self.median = statistics.median(self.results)
        self.std = statistics.pstdev(self.results)
        self.min = min(self.results)
        self.max = max(self.results)

    def __repr__(self) -> str:
        return (f"BenchmarkResult(min={self.min}, mean={self.mean}, median={self.median}, "
                f"max={self.max}, std={self.std}, results={self.results})")

    def __str__(self) -> str:
        headers = ("mean (ms)", "median (ms)", "max (ms)", "min (ms)", "std (ms)")
        values = (self.mean, self.median, self.max, self.min, self.std)
        return ("Execution time summary:\n"
                + " ".join(f"{header:^12}" for header in headers) + "\n"
                + " ".join(f"{value * 1000:^12.4f}" for value in values))


def _whole(value: Any, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"time_evaluator: {name} must be an int >= {least}, got {value!r}")
    return value


def _milliseconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"time_evaluator: {name} must be a number of milliseconds >= 0, "
                      f"got {value!r}")
    return float(value)


class TimeEvaluator:
    """A function of a program set up for timing; see the module docstring.

    Made by ``program.time_evaluator(name, ...)``, which raises VMError
    NOT_FOUND for an unknown function and INVALID_ARGUMENT for a setting
    out of range (``number``, ``repeat`` and ``repeats_to_cooldown`` are
    ints >= 1; the milliseconds are >= 0).
    """

    def __init__(self, program: "Program", name: Any, number: int = 10, repeat: int = 1,
                 min_repeat_ms: float = 0, cooldown_interval_ms: float = 0,
                 repeats_to_cooldown: int = 1) -> None:
        self.program = program
        self.function = resolve_function(program, name)
        self.number = _whole(number, "number", 1)
        self.repeat = _whole(repeat, "repeat", 1)
        self.min_repeat_ms = _milliseconds(min_repeat_ms, "min_repeat_ms")
        self.cooldown_interval_ms = _milliseconds(cooldown_interval_ms, "cooldown_interval_ms")
        self.repeats_to_cooldown = _whole(repeats_to_cooldown, "repeats_to_cooldown", 1)

    async def __call__(self, *arguments: Any, timeout: float | None = None) -> BenchmarkResult:
        """Times the function called with ``arguments``; without any, for a
        function that takes some, with the inputs ``program.set_input``
        stored (FAILED_PRECONDITION if they are missing; the outputs stored
        are left alone). Each call gets ``timeout`` seconds. Suspends (every
        call does); raises whatever VMError a call raises, and then returns
        no result."""
        function = self.function
        if not arguments and function.signature.arguments:
            arguments = self.program._stateful.inputs(function)
        invoke, target = self.program.invoke, function.function
        await invoke(target, *arguments, timeout=timeout)  # warm up, untimed
        clock = time.perf_counter
        number = self.number
        minimum = self.min_repeat_ms / 1000.0
        results: list[float] = []
        calls: list[int] = []
        for index in range(self.repeat):
            duration = 0.0
            zero_durations = 0
            while True:
                if duration > 0.0:
                    number = max(int(minimum / (duration / number) + 1),
                                 int(number * GOLDEN_RATIO))
                began = clock()
                for _ in range(number):
                    await invoke(target, *arguments, timeout=timeout)
                duration = clock() - began
                if duration <= 0.0:
                    zero_durations += 1
                if duration >= minimum or zero_durations >= ZERO_DURATION_LIMIT:
                    break
            results.append(duration / number)
            calls.append(number)
            if self.cooldown_interval_ms > 0 and index % self.repeats_to_cooldown == 0:
                await anyio.sleep(self.cooldown_interval_ms / 1000.0)
        return BenchmarkResult(results, calls)

    def sync(self, *arguments: Any, timeout: float | None = None) -> BenchmarkResult:
        """:meth:`__call__` from synchronous code, as ``program.invoke_sync``
        runs (on a worker thread when an event loop is running in this one;
        FAILED_PRECONDITION while async calls of the program are in flight)."""
        return run_sync(self.__call__, *arguments, timeout=timeout)

    def __repr__(self) -> str:
        return (f"<asyncvm.TimeEvaluator {self.function.full_name} number={self.number} "
                f"repeat={self.repeat} min_repeat_ms={self.min_repeat_ms:g}>")
