"""Latency of a trivial tensor call (add of two 4xf32): asyncvm vs iree.runtime.

    python bench/add_latency.py [--calls N] [--device local-sync|local-task]

Compiles bench/add_latency.mlir for VMVX once and calls ``add`` with the same
numpy inputs through IREE's Python runtime and through asyncvm in this one
process; prints the median of several rounds and the ratio.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import time

import anyio
import numpy

import asyncvm

HERE = pathlib.Path(__file__).resolve().parent


def compile_program() -> bytes:
    from iree.compiler import compile_file

    return compile_file(str(HERE / "add_latency.mlir"), target_backends=["vmvx"],
                        extra_args=["--iree-hal-target-device=local"])


def iree_call_time(data: bytes, device: str, a, b, calls: int, rounds: int) -> float:
    import iree.runtime as runtime

    config = runtime.Config(device)
    module = runtime.VmModule.copy_buffer(config.vm_instance, data)
    context = runtime.SystemContext(config=config, vm_modules=[module])
    add = getattr(context.modules, module.name)["add"]
    for _ in range(100):
        add(a, b)
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(calls):
            add(a, b)
        times.append((time.perf_counter() - began) / calls)
    return statistics.median(times)


def asyncvm_call_time(data: bytes, device: str, a, b, calls: int, rounds: int) -> float:
    program = asyncvm.load(data, device=device)

    async def measure() -> list[float]:
        for _ in range(100):
            await program.invoke("add", a, b)
        times = []
        for _ in range(rounds):
            began = time.perf_counter()
            for _ in range(calls):
                await program.invoke("add", a, b)
            times.append((time.perf_counter() - began) / calls)
        return times

    return statistics.median(anyio.run(measure))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="local-sync", choices=["local-sync", "local-task"])
    arguments = parser.parse_args()
    data = compile_program()
    a = numpy.arange(4, dtype=numpy.float32)
    b = numpy.ones(4, dtype=numpy.float32)
    expected = a + b
    (result,) = anyio.run(asyncvm.load(data, device=arguments.device).invoke, "add", a, b)
    if not numpy.array_equal(result, expected):
        raise SystemExit(f"wrong answer: {result}")
    iree = iree_call_time(data, arguments.device, a, b, arguments.calls, arguments.rounds)
    ours = asyncvm_call_time(data, arguments.device, a, b, arguments.calls, arguments.rounds)
    print(f"add(4xf32, 4xf32) on {arguments.device}, median of {arguments.rounds} x "
          f"{arguments.calls} calls")
    print(f"  iree.runtime  {iree * 1e6:8.1f} us/call")
    print(f"  asyncvm       {ours * 1e6:8.1f} us/call")
    print(f"  ratio asyncvm / iree.runtime: {ours / iree:.1f}x")


if __name__ == "__main__":
    main()
