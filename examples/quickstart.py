"""Quickstart: compile a small program with iree-compile and call it concurrently.

    pip install -e ".[test]" && python examples/quickstart.py [--trio]

The program is compiled for the local CPU (VMVX kernels), loaded once, and
many calls run at the same time on one event-loop thread (asyncio by default,
trio with ``--trio``); long loops give way to the others at the scheduling
quantum. A tensor function runs on the default HAL device.
"""

from __future__ import annotations

import pathlib
import sys
import time

import anyio
import numpy

import asyncvm

HERE = pathlib.Path(__file__).resolve().parent


def compile_program() -> bytes:
    """Compiles quickstart.mlir with the iree-base-compiler package."""
    from iree.compiler import compile_file

    return compile_file(str(HERE / "quickstart.mlir"),
                        target_backends=["vmvx"],
                        extra_args=["--iree-hal-target-device=local"])


async def main(program: asyncvm.Program) -> None:
    for function in program.functions.values():
        print(function)                     # the signature the compiler recorded
    results: dict[int, int] = {}

    async def steps(start: int) -> None:
        (count,) = await program.collatz_steps(start)
        results[start] = count

    began = time.perf_counter()
    async with anyio.create_task_group() as group:
        for start in (27, 97, 871, 6171, 77031, 837799):
            group.start_soon(steps, start)
    elapsed = time.perf_counter() - began
    for start in sorted(results):
        print(f"collatz_steps({start}) = {results[start]}")
    (divisor,) = await program.gcd(1071, 462)
    print(f"gcd(1071, 462) = {divisor}")
    print(f"{len(results)} concurrent calls in {elapsed * 1e3:.1f} ms")

    x = numpy.arange(6, dtype=numpy.float32).reshape(2, 3)
    w = numpy.ones((3, 2), dtype=numpy.float32)
    b = numpy.array([0.5, -0.5], dtype=numpy.float32)
    (y,) = await program.affine(x, w, b)
    print("affine(x, w, b) =", y.tolist(), "(numpy:", (x @ w + b).tolist(), ")")


if __name__ == "__main__":
    program = asyncvm.load(compile_program())
    anyio.run(main, program, backend="trio" if "--trio" in sys.argv[1:] else "asyncio")
    # Outside any event loop, a blocking call is one line too:
    print("gcd(84, 36) =", program.gcd.call_sync(84, 36)[0])
