"""A soak: concurrent calls for a set time, with cancellations and failures mixed in.

    python bench/soak.py [--duration SECONDS] [--concurrency N] [--backend asyncio|trio]
        [--sample SECONDS] [--warmup SECONDS] [--report FILE]

Builds bench/fuzz_tensor.mlir for VMVX and llvm-cpu and loads each on
``local-sync`` and on ``local-task`` (four programs, one process, one event
loop, a 32 MiB memory limit per device). N tasks then loop until the time is
up, each call picked at random:

* 70% ``dense`` over a batch of 1 to 32 rows: the answer must equal, bit for
  bit, the one the same program gave for the same input at start-up;
* 10% ``spin`` that would run for hours (VMVX: one workgroup looping;
  llvm-cpu: many workgroups), cancelled by a cancel scope after 1 to 20 ms:
  must end cancelled;
* 8% the same with ``timeout=`` 1 to 20 ms: must end DEADLINE_EXCEEDED;
* 6% ``dense`` with a wrong shape: must end INVALID_ARGUMENT;
* 6% ``spin`` with a result larger than the memory limit: must end
  RESOURCE_EXHAUSTED.

Anything else (a wrong answer, another status, another exception) is
counted as a failure. Every ``--sample`` seconds it records the process's
RSS, the live bytes of the four devices, the thread count, and the p50 / p99
latency of the ``dense`` calls since the last sample. At the end it prints
the samples and the trend after ``--warmup``: the least-squares slope of RSS,
live bytes and threads per hour and their range. Memory and threads are
called flat when RSS grew less than max(16 MiB, 5%) over the run (by the
slope), live bytes ended where they began and the thread count never
changed. Exit status 1 on a failure or a trend that is not flat.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import anyio
import numpy

import asyncvm
from asyncvm.vm import StatusCode, VMError

HERE = pathlib.Path(__file__).resolve().parent
MEMORY_LIMIT = 32 << 20
FOREVER = 2**31 - 1
RUNAWAY_ELEMENTS = 1 << 18
"""llvm-cpu's runaway: 2**18 elements of 2**14 iterations, seconds of native
work in many short workgroups (a native workgroup cannot be stopped midway)."""
BUILDS = {
    "vmvx": ["--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=vmvx"],
    "llvm-cpu": ["--iree-hal-target-device=local",
                 "--iree-hal-local-target-device-backends=llvm-cpu",
                 "--iree-llvmcpu-target-cpu=generic"],
}
DRIVERS = ("local-sync", "local-task")


def compile_builds(directory: pathlib.Path) -> dict[str, bytes]:
    from iree.compiler.tools import binaries

    compiler = binaries.find_tool("iree-compile")
    builds = {}
    for name, flags in BUILDS.items():
        output = directory / f"{name}.vmfb"
        subprocess.run([compiler, str(HERE / "fuzz_tensor.mlir"), *flags, "-o", str(output)],
                       check=True, timeout=300)
        builds[name] = output.read_bytes()
    return builds


def resident_bytes() -> int:
    """This process's resident set size (Linux ``/proc``; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def thread_count() -> int:
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return threading.active_count()


class Soak:
    """The programs, the expected answers and the counters."""

    def __init__(self, builds: dict[str, bytes], seed: int) -> None:
        self.programs = [asyncvm.load(data, device=driver, memory_limit=MEMORY_LIMIT)
                         for data in builds.values() for driver in DRIVERS]
        self.names = [f"{build}/{driver}" for build in builds for driver in DRIVERS]
        generator = numpy.random.default_rng(seed)
        self.batches = [generator.standard_normal((rows, 4)).astype(numpy.float32)
                        for rows in range(1, 33)]
        self.expected: dict[tuple[int, int], bytes] = {}
        self.outcomes: dict[str, int] = {}
        self.failures: list[str] = []
        self.latencies: list[float] = []
        runaways = {"vmvx": (numpy.linspace(-1, 1, 4, dtype=numpy.float32),
                             numpy.full(4, FOREVER, numpy.int32)),
                    "llvm-cpu": (numpy.linspace(-1, 1, RUNAWAY_ELEMENTS, dtype=numpy.float32),
                                 numpy.full(RUNAWAY_ELEMENTS, 1 << 14, numpy.int32))}
        self.runaways = [runaways[build] for build in builds for _ in DRIVERS]
        oversized = MEMORY_LIMIT // 4 + 1024
        self.oversized = (numpy.zeros(oversized, numpy.float32),
                          numpy.zeros(oversized, numpy.int32))

    async def prepare(self) -> None:
        for number, program in enumerate(self.programs):
            for rows, batch in enumerate(self.batches):
                (result,) = await program.invoke("dense", batch)
                self.expected[number, rows] = result.tobytes()
        del result  # the last result's buffer is not part of the baseline
        gc.collect()
        self.baseline_live = self.live_bytes()

    def live_bytes(self) -> int:
        return sum(program.device.statistics.live_bytes for program in self.programs)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def fail(self, what: str) -> None:
        self.count("failure")
        if len(self.failures) < 50:
            self.failures.append(what)

    async def call(self, rng: random.Random) -> None:
        number = rng.randrange(len(self.programs))
        program = self.programs[number]
        where = self.names[number]
        choice = rng.random()
        try:
            if choice < 0.70:
                rows = rng.randrange(len(self.batches))
                began = time.perf_counter()
                (result,) = await program.invoke("dense", self.batches[rows])
                self.latencies.append(time.perf_counter() - began)
                if result.tobytes() != self.expected[number, rows]:
                    self.fail(f"{where}: dense over {rows + 1} rows gave another answer")
                else:
                    self.count("ran")
            elif choice < 0.80:
                with anyio.move_on_after(rng.uniform(0.001, 0.02)) as scope:
                    await program.invoke("spin", *self.runaways[number])
                if scope.cancelled_caught:
                    self.count("cancelled")
                else:
                    self.fail(f"{where}: an endless spin returned")
            elif choice < 0.88:
                try:
                    await program.invoke("spin", *self.runaways[number],
                                         timeout=rng.uniform(0.001, 0.02))
                except VMError as error:
                    self.expect(error, StatusCode.DEADLINE_EXCEEDED, where, "deadline")
                else:
                    self.fail(f"{where}: an endless spin returned")
            elif choice < 0.94:
                try:
                    await program.invoke("dense", numpy.zeros((3, 5), numpy.float32))
                except VMError as error:
                    self.expect(error, StatusCode.INVALID_ARGUMENT, where, "invalid argument")
                else:
                    self.fail(f"{where}: a 3x5 input was accepted")
            else:
                try:
                    await program.invoke("spin", *self.oversized)
                except VMError as error:
                    self.expect(error, StatusCode.RESOURCE_EXHAUSTED, where, "memory limit")
                else:
                    self.fail(f"{where}: the memory limit did not hold")
        except VMError as error:
            self.fail(f"{where}: {error.status.name}: {error.message.splitlines()[0]}")
        except Exception as error:  # noqa: BLE001 -- everything unexpected is a failure
            self.fail(f"{where}: {type(error).__name__}: {error}")

    def expect(self, error: VMError, status: StatusCode, where: str, outcome: str) -> None:
        if error.status == status:
            self.count(outcome)
        else:
            self.fail(f"{where}: expected {status.name}, got {error.status.name}: "
                      f"{error.message.splitlines()[0]}")


def slope_per_hour(times: list[float], values: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    mean_t, mean_v = statistics.fmean(times), statistics.fmean(values)
    variance = sum((t - mean_t) ** 2 for t in times)
    if variance == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values)) / variance * 3600


async def soak(arguments, builds: dict[str, bytes]) -> dict:
    state = Soak(builds, arguments.seed)
    await state.prepare()
    samples = []
    began = time.monotonic()
    end = began + arguments.duration

    async def caller(number: int) -> None:
        rng = random.Random(arguments.seed * 1000 + number)
        while time.monotonic() < end:
            await state.call(rng)

    async def sampler() -> None:
        while True:
            await anyio.sleep(arguments.sample)
            latencies, state.latencies = state.latencies, []
            latencies.sort()

            def percentile(p: float) -> float:
                if not latencies:
                    return float("nan")
                return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e3

            sample = {"t": round(time.monotonic() - began, 1), "rss_mb": resident_bytes() / 2**20,
                      "live_bytes": state.live_bytes(), "threads": thread_count(),
                      "calls": len(latencies), "p50_ms": percentile(0.5),
                      "p99_ms": percentile(0.99)}
            samples.append(sample)
            print(f"  t={sample['t']:7.1f} s  rss {sample['rss_mb']:7.1f} MB  live "
                  f"{sample['live_bytes']:9d} B  threads {sample['threads']:3d}  dense "
                  f"{sample['calls']:6d} calls  p50 {sample['p50_ms']:6.2f} ms  p99 "
                  f"{sample['p99_ms']:6.2f} ms  {state.outcomes}", flush=True)

    async with anyio.create_task_group() as group:
        group.start_soon(sampler)
        async with anyio.create_task_group() as callers:
            for number in range(arguments.concurrency):
                callers.start_soon(caller, number)
        group.cancel_scope.cancel()
    # Let workers finish what the last cancellations stopped, then look again.
    for _ in range(100):
        if state.live_bytes() == state.baseline_live:
            break
        await anyio.sleep(0.05)
    final_live = state.live_bytes()
    for program in state.programs:
        await program.close()
    return trend(arguments, samples, state, final_live)


def trend(arguments, samples: list[dict], state: Soak, final_live: int) -> dict:
    steady = [s for s in samples if s["t"] >= arguments.warmup] or samples
    times = [s["t"] for s in steady]
    rss = [s["rss_mb"] for s in steady]
    threads = [s["threads"] for s in steady]
    live = [s["live_bytes"] for s in steady]
    rss_growth = slope_per_hour(times, rss) * (times[-1] - times[0]) / 3600 if steady else 0.0
    allowed = max(16.0, 0.05 * rss[0]) if rss else 16.0
    report = {
        "duration_s": arguments.duration, "concurrency": arguments.concurrency,
        "backend": arguments.backend, "outcomes": state.outcomes, "failures": state.failures,
        "rss_mb": {"first": rss[0], "last": rss[-1], "min": min(rss), "max": max(rss),
                   "slope_mb_per_hour": slope_per_hour(times, rss),
                   "growth_by_slope_mb": rss_growth, "allowed_mb": allowed},
        "threads": {"min": min(threads), "max": max(threads)},
        "live_bytes": {"baseline": state.baseline_live, "max": max(live), "final": final_live},
        "dense_p50_ms": statistics.median(s["p50_ms"] for s in steady),
        "dense_p99_ms": statistics.median(s["p99_ms"] for s in steady),
        "samples": samples,
    }
    report["flat"] = (rss_growth < allowed and final_live == state.baseline_live
                      and min(threads) == max(threads))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--sample", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds before the trend counts (default: a tenth of the run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", help="also write the report as JSON here")
    arguments = parser.parse_args()
    if arguments.warmup is None:
        arguments.warmup = arguments.duration / 10
    with tempfile.TemporaryDirectory(prefix="asyncvm-soak-") as directory:
        builds = compile_builds(pathlib.Path(directory))
    print(f"soak: {arguments.duration:g} s, {arguments.concurrency} tasks, {arguments.backend}, "
          f"programs {', '.join(f'{b}/{d}' for b in BUILDS for d in DRIVERS)}", flush=True)
    report = anyio.run(soak, arguments, builds, backend=arguments.backend)
    rss, threads, live = report["rss_mb"], report["threads"], report["live_bytes"]
    print(f"outcomes: {report['outcomes']}")
    print(f"RSS after warm-up: {rss['first']:.1f} -> {rss['last']:.1f} MB (range "
          f"{rss['min']:.1f}-{rss['max']:.1f}), slope {rss['slope_mb_per_hour']:+.2f} MB/h, "
          f"growth by slope {rss['growth_by_slope_mb']:+.2f} MB (allowed {rss['allowed_mb']:.0f})")
    print(f"threads: {threads['min']}-{threads['max']}; live device bytes: baseline "
          f"{live['baseline']}, max {live['max']}, final {live['final']}")
    print(f"dense latency (median of samples): p50 {report['dense_p50_ms']:.2f} ms, "
          f"p99 {report['dense_p99_ms']:.2f} ms")
    print(f"trend: {'flat' if report['flat'] else 'NOT flat'}; failures: "
          f"{report['outcomes'].get('failure', 0)}")
    for failure in report["failures"][:10]:
        print("  " + failure)
    if arguments.report:
        pathlib.Path(arguments.report).write_text(json.dumps(report, indent=1))
    return 0 if report["flat"] and not report["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
