"""Serving throughput of a 3-layer 512x512 MLP (batch 32): concurrent calls into one program.

    python bench/serving.py [--duration SECONDS] [--rounds R] [--backends asyncio,trio]

Compiles bench/mlp.mlir for this host's CPU once (llvm-cpu, into a temporary
directory) and measures calls per second on the ``local-task`` device, all in
this one process:

* asyncvm: N tasks on one event-loop thread, each awaiting
  ``program.invoke("mlp", ...)`` in a loop on the same program, for N = 1, 8
  and 64, under asyncio and under trio (both through ``anyio.run``);
* iree.runtime: the same function called in a loop from this one thread, and
  from 2, 8 and 64 threads of a ``concurrent.futures.ThreadPoolExecutor`` (its
  invoke releases the GIL); the best of these is the reference.

Inputs are 64-byte-aligned arrays (``asyncvm.aligned_array``), so asyncvm
passes them without copying. A round runs every configuration for
``--duration`` seconds, in an order that rotates from round to round; the
table gives the median over rounds of calls per second, its inverse (ms per
call), the mean latency of one call, and the ratios the serving targets are
stated in: asyncvm at concurrency 8 over concurrency 1 (>= 1.3) and over
iree.runtime's best (>= 1.0), and the same for concurrency 64. Before timing,
every result of a warm-up run of each configuration is compared with
iree.runtime's answer on the same inputs (bit-identical expected), and every
round checks each caller's last result, so no wrong program is ever timed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.metadata
import os
import pathlib
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import anyio
import numpy

import asyncvm

HERE = pathlib.Path(__file__).resolve().parent
FUNCTION = "mlp"
ASYNCVM_CONCURRENCIES = (1, 8, 64)
IREE_THREAD_COUNTS = (1, 2, 8, 64)  # 1: sequential calls on the main thread, no pool
WARM_UP_SECONDS = 0.2
TARGETS = {8: (1.3, 1.0), 64: (1.3, 1.0)}  # concurrency: (over concurrency 1, over iree best)


def compile_program(directory: pathlib.Path) -> pathlib.Path:
    """bench/mlp.mlir compiled for this host's CPU, as bench/mlp.py does."""
    from iree.compiler import compile_file

    path = directory / "mlp.vmfb"
    compile_file(str(HERE / "mlp.mlir"), output_file=str(path), target_backends=["llvm-cpu"],
                 extra_args=["--iree-hal-target-device=local", "--iree-llvmcpu-target-cpu=host"])
    return path


def numpy_forward(x, w1, w2, w3):
    hidden = numpy.maximum(x @ w1, 0)
    hidden = numpy.maximum(hidden @ w2, 0)
    return hidden @ w3


class Checker:
    """Compares results with iree.runtime's answer, from any thread; remembers
    whether all were bit-identical (one that is not even close ends the run)."""

    def __init__(self, reference: numpy.ndarray) -> None:
        self.reference = reference
        self.bit_identical = True
        self.results_checked = 0
        self._lock = threading.Lock()

    def __call__(self, result: numpy.ndarray, configuration: str) -> None:
        identical = result.shape == self.reference.shape and \
            numpy.array_equal(result, self.reference)
        with self._lock:
            self.results_checked += 1
            self.bit_identical = self.bit_identical and identical
        if not identical:
            numpy.testing.assert_allclose(result, self.reference, rtol=1e-6, atol=1e-6,
                                          err_msg=f"{configuration} gives a different answer "
                                                  "from iree.runtime")


@dataclass
class RoundResult:
    calls: int
    elapsed: float  # seconds from the start of the first call to the end of the last
    latency_total: float  # the sum over calls of each call's own duration

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.elapsed


@dataclass
class Configuration:
    runtime: str  # "asyncvm" or "iree.runtime"
    flavour: str  # the event loop (asyncvm) or how it is called (iree.runtime)
    concurrency: int  # tasks (asyncvm) or threads (iree.runtime) calling at once
    run: Callable[[float, bool], RoundResult]  # (duration, check every result)
    rounds: list[RoundResult] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.runtime == "asyncvm":
            return f"asyncvm {self.flavour:7} concurrency {self.concurrency:2}"
        return f"iree.runtime {self.flavour}"

    def median_calls_per_second(self) -> float:
        return statistics.median(round_.calls_per_second for round_ in self.rounds)

    def mean_latency(self) -> float:
        return sum(r.latency_total for r in self.rounds) / sum(r.calls for r in self.rounds)


# -- asyncvm ----------------------------------------------------------------------------------

def asyncvm_configuration(program, inputs, concurrency: int, backend: str,
                          check: Checker) -> Configuration:
    async def measure(duration: float, check_every: bool) -> RoundResult:
        calls = 0
        latency_total = 0.0
        last_results = []
        clock = time.perf_counter
        deadline = clock() + duration

        async def caller() -> None:
            nonlocal calls, latency_total
            while True:  # at least one call, so every caller's answer is checked
                began = clock()
                (result,) = await program.invoke(FUNCTION, *inputs)
                latency_total += clock() - began
                calls += 1
                if check_every:
                    check(result, configuration.name)
                if clock() >= deadline:
                    break
            last_results.append(result)

        began = clock()
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(caller)
        elapsed = clock() - began
        for result in last_results:
            check(result, configuration.name)
        return RoundResult(calls, elapsed, latency_total)

    def run(duration: float, check_every: bool) -> RoundResult:
        return anyio.run(measure, duration, check_every, backend=backend)

    configuration = Configuration("asyncvm", backend, concurrency, run)
    return configuration


# -- iree.runtime -----------------------------------------------------------------------------

def iree_function(data: bytes, driver: str):
    """The function in iree.runtime, set up as bench/mlp.py does (the
    function keeps its context alive)."""
    import iree.runtime as runtime

    config = runtime.Config(driver)
    module = runtime.VmModule.copy_buffer(config.vm_instance, data)
    context = runtime.SystemContext(config=config, vm_modules=[module])
    return getattr(context.modules, module.name)[FUNCTION]


def iree_configuration(function, inputs, threads: int, pool, check: Checker) -> Configuration:
    def caller(deadline: float, check_every: bool) -> tuple[int, float]:
        calls = 0
        latency_total = 0.0
        clock = time.perf_counter
        while True:  # at least one call, so every caller's answer is checked
            began = clock()
            result = function(*inputs).to_host()
            latency_total += clock() - began
            calls += 1
            if check_every:
                check(result, configuration.name)
            if clock() >= deadline:
                break
        check(result, configuration.name)
        return calls, latency_total

    def run(duration: float, check_every: bool) -> RoundResult:
        began = time.perf_counter()
        deadline = began + duration
        if pool is None:
            outcomes = [caller(deadline, check_every)]
        else:
            futures = [pool.submit(caller, deadline, check_every) for _ in range(threads)]
            outcomes = [future.result() for future in futures]
        elapsed = time.perf_counter() - began
        return RoundResult(sum(calls for calls, _ in outcomes), elapsed,
                           sum(latency for _, latency in outcomes))

    flavour = "1 thread (sequential)" if threads == 1 else f"{threads:2} threads (pool)"
    configuration = Configuration("iree.runtime", flavour, threads, run)
    return configuration


# -- report -----------------------------------------------------------------------------------

def ratio_line(label: str, numerator: Configuration, denominator: Configuration,
               target: float) -> str:
    ratio = numerator.median_calls_per_second() / denominator.median_calls_per_second()
    paired = statistics.median(a.calls_per_second / b.calls_per_second
                               for a, b in zip(numerator.rounds, denominator.rounds))
    verdict = "met" if ratio >= target else "NOT met"
    return (f"  {label:44} {ratio:5.2f}   (per-round median {paired:5.2f})   "
            f"target >= {target:.1f}: {verdict}")


def print_report(configurations: list[Configuration], backends: list[str]) -> None:
    print("  calls/s: median over rounds; ms/call: 1000 / calls/s; latency: mean time "
          "one call took\n")
    print(f"  {'configuration':38} {'calls/s':>9} {'ms/call':>8} {'latency ms':>11}   "
          f"calls/s per round")
    for configuration in configurations:
        throughput = configuration.median_calls_per_second()
        per_round = " ".join(f"{r.calls_per_second:.0f}" for r in configuration.rounds)
        print(f"  {configuration.name:38} {throughput:9.1f} {1e3 / throughput:8.3f} "
              f"{configuration.mean_latency() * 1e3:11.3f}   {per_round}")
    iree_best = max((c for c in configurations if c.runtime == "iree.runtime"),
                    key=Configuration.median_calls_per_second)
    print(f"\n  iree.runtime best: {iree_best.name} "
          f"({iree_best.median_calls_per_second():.1f} calls/s)")
    print("  ratios of median calls/s:")
    asyncvm_runs = {(c.flavour, c.concurrency): c for c in configurations
                    if c.runtime == "asyncvm"}
    for backend in backends:
        single = asyncvm_runs[backend, 1]
        for concurrency, (over_single, over_iree) in TARGETS.items():
            concurrent_run = asyncvm_runs[backend, concurrency]
            print(ratio_line(f"asyncvm {backend} conc {concurrency} / asyncvm conc 1",
                             concurrent_run, single, over_single))
            print(ratio_line(f"asyncvm {backend} conc {concurrency} / iree.runtime best",
                             concurrent_run, iree_best, over_iree))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=0.5,
                        help="seconds each configuration runs per round (default 0.5)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    parser.add_argument("--backends", default="asyncio,trio",
                        help="event loops for asyncvm, comma-separated (default asyncio,trio)")
    arguments = parser.parse_args()
    backends = [name.strip() for name in arguments.backends.split(",") if name.strip()]
    if arguments.duration <= 0 or arguments.rounds < 1 or not backends \
            or not set(backends) <= {"asyncio", "trio"}:
        parser.error("--duration must be > 0, --rounds >= 1, --backends from asyncio,trio")

    generator = numpy.random.default_rng(0)
    inputs = [asyncvm.aligned_array(generator.standard_normal((32, 512)), numpy.float32)] + [
        asyncvm.aligned_array(generator.standard_normal((512, 512)) / 22.6, numpy.float32)
        for _ in range(3)]

    with tempfile.TemporaryDirectory(prefix="asyncvm-serving-") as directory:
        path = compile_program(pathlib.Path(directory))
        data = path.read_bytes()
        program = asyncvm.load(path, device="local-task")
    function = iree_function(data, "local-task")
    reference = function(*inputs).to_host()
    # The reference itself must be the MLP (to float32 rounding in another order).
    numpy.testing.assert_allclose(reference, numpy_forward(*inputs), rtol=1e-3, atol=1e-2)
    check = Checker(reference)

    pools = {threads: concurrent.futures.ThreadPoolExecutor(threads,
                                                            thread_name_prefix="iree-caller")
             for threads in IREE_THREAD_COUNTS if threads > 1}
    configurations = [asyncvm_configuration(program, inputs, concurrency, backend, check)
                      for backend in backends for concurrency in ASYNCVM_CONCURRENCIES]
    configurations += [iree_configuration(function, inputs, threads, pools.get(threads), check)
                       for threads in IREE_THREAD_COUNTS]

    print(f"MLP 3x512x512, batch 32, llvm-cpu for this host ({os.cpu_count()} cores), "
          f"local-task device, iree-base-runtime "
          f"{importlib.metadata.version('iree-base-runtime')}; all in this process;")
    print(f"median of {arguments.rounds} rounds x {arguments.duration} s per configuration, "
          f"configurations interleaved", flush=True)
    try:
        for configuration in configurations:  # warm up, checking every result
            configuration.run(WARM_UP_SECONDS, True)
        for round_index in range(arguments.rounds):
            shift = round_index % len(configurations)
            for configuration in configurations[shift:] + configurations[:shift]:
                configuration.rounds.append(configuration.run(arguments.duration, False))
    finally:
        for pool in pools.values():
            pool.shutdown()
    identical = "all bit-identical" if check.bit_identical else "close, NOT all bit-identical"
    print(f"results checked against iree.runtime: {check.results_checked} ({identical})\n")
    print_report(configurations, backends)


if __name__ == "__main__":
    main()
