"""ns per VM instruction for a host loop: asyncvm vs IREE's C interpreter vs plain Python.

    python bench/host_loop.py [--iterations N] [--repeat R]

Compiles bench/host_loop.mlir, counts the instructions one call executes
from the module's own blocks, and times the same call in three ways in this
one run: asyncvm (``await program.invoke``), IREE's ``iree-benchmark-module``
on the same .vmfb, and a plain CPython loop doing the same arithmetic.
Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import anyio

import asyncvm

HERE = pathlib.Path(__file__).resolve().parent


def compile_program(output: pathlib.Path) -> None:
    from iree.compiler import compile_file

    output.write_bytes(compile_file(str(HERE / "host_loop.mlir"), target_backends=["vmvx"],
                                    extra_args=["--iree-hal-target-device=local"]))


def instructions_per_call(program, iterations: int) -> int:
    """Instructions executed by loop(n): entry + (n+1)*header + n*body + exit."""
    module = program.main
    ordinal = module.export_ordinal("loop")
    blocks: list[int] = []
    for decoded in module.instructions[ordinal]:
        if decoded.instruction.semantics is None:
            blocks.append(0)
        else:
            blocks[-1] += 1
    if len(blocks) != 4:
        raise SystemExit(f"unexpected loop shape: {len(blocks)} blocks")
    entry, header, body, exit_ = blocks
    return entry + (iterations + 1) * header + iterations * body + exit_


def python_loop(n: int) -> int:
    accumulator = 0
    i = 0
    while i < n:
        x = ((((i * 3) + 0x80000000) & 0xFFFFFFFF) - 0x80000000) ^ i
        accumulator = (((accumulator + x) + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        i += 1
    return accumulator


def time_asyncvm(program, iterations: int, repeat: int) -> tuple[float, int]:
    async def measure() -> tuple[list[float], int]:
        times = []
        result = 0
        for _ in range(repeat):
            began = time.perf_counter()
            (result,) = await program.invoke("loop", iterations)
            times.append(time.perf_counter() - began)
        return times, result

    times, result = anyio.run(measure)
    return statistics.median(times), result


def time_python(iterations: int, repeat: int) -> tuple[float, int]:
    times = []
    result = 0
    for _ in range(repeat):
        began = time.perf_counter()
        result = python_loop(iterations)
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def time_iree(vmfb: pathlib.Path, iterations: int, repeat: int) -> float | None:
    tool = shutil.which("iree-benchmark-module") or str(
        pathlib.Path(sys.executable).parent / "iree-benchmark-module")
    if not pathlib.Path(tool).exists():
        return None
    output = subprocess.run(
        [tool, f"--module={vmfb}", "--function=loop", f"--input={iterations}",
         "--device=local-sync", f"--benchmark_repetitions={repeat}",
         "--benchmark_report_aggregates_only=true"],
        capture_output=True, text=True, check=True).stdout
    match = re.search(r"_median\s+([\d.]+)\s+(ns|us|ms)", output)
    if not match:
        return None
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3}[match.group(2)]
    return float(match.group(1)) * scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        vmfb = pathlib.Path(directory) / "host_loop.vmfb"
        compile_program(vmfb)
        program = asyncvm.load(vmfb)
        count = instructions_per_call(program, arguments.iterations)
        ours, our_result = time_asyncvm(program, arguments.iterations, arguments.repeat)
        plain, plain_result = time_python(arguments.iterations, arguments.repeat)
        iree = time_iree(vmfb, arguments.iterations, arguments.repeat)
    if our_result != plain_result:
        raise SystemExit(f"results differ: asyncvm {our_result}, python {plain_result}")
    print(f"loop({arguments.iterations}): {count} VM instructions per call")
    print(f"  asyncvm       {ours * 1e9 / count:8.2f} ns/instruction  ({ours * 1e3:.2f} ms/call)")
    print(f"  plain Python  {plain * 1e9 / count:8.2f} ns/instruction  (same arithmetic, "
          f"{plain * 1e3:.2f} ms)")
    if iree is not None:
        print(f"  IREE (C)      {iree * 1e9 / count:8.2f} ns/instruction  ({iree * 1e3:.3f} ms/call)")
        print(f"  ratio asyncvm / IREE:          {ours / iree:6.1f}x")
    else:
        print("  IREE (C)      iree-benchmark-module not found")
    print(f"  ratio asyncvm / plain Python:  {ours / plain:6.2f}x")


if __name__ == "__main__":
    main()
