"""What the scheduling quantum costs, and what it buys.

    python bench/quantum.py [--iterations N] [--repeat R]

Runs bench/host_loop.mlir's ``loop(n)`` (a host loop with no natural
suspension point) under asyncio and trio, in this one run, with repeats
interleaved (fastest of R, since this machine's noise is larger than the
effect measured):

* ``off``       — no checks at all (quantum 2**30, time slice infinite);
* ``default``   — the defaults: a clock check every DEFAULT_QUANTUM
  instructions, a yield to the event loop every DEFAULT_TIME_SLICE seconds;
* ``check10``   — a clock check every 10 instructions, never a yield: the
  cost of one check, amplified;
* ``yield10``   — a yield at every check every 10 instructions: the cost of
  one trip through the event loop, amplified.

From the amplified runs it derives the cost of one check and one yield and
so the defaults' overhead (the target is under about 2%), which the direct
``default`` against ``off`` figure confirms within the noise. Then, for the
defaults, the longest time another task on the same loop waited for its
turn while a long call ran: the loop never starves it. IREE's own
interpreter never yields inside a call; bench/host_loop.py gives the ratio
of the interpreters themselves.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import tempfile
import time

import anyio

import asyncvm
from asyncvm.vm import DEFAULT_QUANTUM, DEFAULT_TIME_SLICE

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from host_loop import compile_program, instructions_per_call  # noqa: E402

SETTINGS = {
    "off": dict(quantum=1 << 30, time_slice=math.inf),
    "default": dict(quantum=DEFAULT_QUANTUM, time_slice=DEFAULT_TIME_SLICE),
    "check10": dict(quantum=10, time_slice=math.inf),
    "yield10": dict(quantum=10, time_slice=0.0),
}


def measure_overheads(vmfb: pathlib.Path, backend: str, iterations: int,
                      repeat: int) -> dict[str, float]:
    programs = {name: asyncvm.load(vmfb, **setting) for name, setting in SETTINGS.items()}

    async def run() -> dict[str, float]:
        times: dict[str, list[float]] = {name: [] for name in programs}
        results = set()
        for _ in range(repeat):
            for name, program in programs.items():
                began = time.perf_counter()
                results.add(await program.invoke("loop", iterations))
                times[name].append(time.perf_counter() - began)
        if len(results) != 1:
            raise SystemExit(f"settings disagree on the result: {results}")
        return {name: min(values) for name, values in times.items()}

    return anyio.run(run, backend=backend)


def measure_starvation(vmfb: pathlib.Path, backend: str, iterations: int) -> tuple[float, int]:
    program = asyncvm.load(vmfb)

    async def run() -> tuple[float, int]:
        done = anyio.Event()
        longest = 0.0
        turns = 0

        async def other_task() -> None:
            nonlocal longest, turns
            last = time.perf_counter()
            while not done.is_set():
                await anyio.sleep(0)
                now = time.perf_counter()
                longest = max(longest, now - last)
                last = now
                turns += 1

        async with anyio.create_task_group() as group:
            group.start_soon(other_task)
            await program.invoke("loop", iterations)
            done.set()
        return longest, turns

    return anyio.run(run, backend=backend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        vmfb = pathlib.Path(directory) / "host_loop.vmfb"
        compile_program(vmfb)
        print(f"loop({arguments.iterations}); quantum {DEFAULT_QUANTUM} instructions, "
              f"time slice {DEFAULT_TIME_SLICE * 1e3:g} ms")
        program = asyncvm.load(vmfb)
        instructions = instructions_per_call(program, arguments.iterations)
        body = instructions_per_call(program, 1) - instructions_per_call(program, 0)
        checks_every10 = arguments.iterations / math.ceil(10 / body)
        for backend in ("asyncio", "trio"):
            best = measure_overheads(vmfb, backend, arguments.iterations, arguments.repeat)
            base = best["off"]
            check_cost = max(best["check10"] - base, 0.0) / checks_every10
            yield_cost = max(best["yield10"] - best["check10"], 0.0) / checks_every10
            per_instruction = base / instructions
            derived = (check_cost / (DEFAULT_QUANTUM * per_instruction)
                       + yield_cost / DEFAULT_TIME_SLICE)
            print(f"{backend:8s} {per_instruction * 1e9:.0f} ns/instruction; one check "
                  f"{check_cost * 1e9:.0f} ns, one yield {yield_cost * 1e6:.1f} us -> "
                  f"defaults cost {derived * 100:.2f}% (direct: off {base * 1e3:.2f} ms, "
                  f"default {best['default'] * 1e3:.2f} ms, "
                  f"{(best['default'] / base - 1) * 100:+.1f}%)")
        for backend in ("asyncio", "trio"):
            longest, turns = measure_starvation(vmfb, backend, arguments.iterations * 4)
            print(f"{backend:8s} while loop({arguments.iterations * 4}) ran: another task got "
                  f"{turns} turns, longest wait {longest * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
