"""Latency of a trivial tensor call (add of two 4xf32): asyncvm vs iree.runtime.

    python bench/add_latency.py [--calls N] [--rounds R]
        [--device local-sync|local-task ...] [--backend vmvx|llvm-cpu ...]

Compiles bench/add_latency.mlir for each backend (VMVX, and llvm-cpu for
this host) and calls ``add`` with the same numpy inputs through IREE's
Python runtime and through asyncvm, on each device, in this one process.
Rounds alternate between the two runtimes, so the machine's drift hits both
alike; prints the median of the rounds per runtime and the ratio per
configuration: the median of the rounds' own ratios (each asyncvm round over
the iree.runtime round just before it), which a busy machine moves less than
the ratio of the two medians.
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
BACKENDS = {"vmvx": [], "llvm-cpu": ["--iree-llvmcpu-target-cpu=host"]}


def compile_program(backend: str) -> bytes:
    from iree.compiler import compile_file

    return compile_file(str(HERE / "add_latency.mlir"), target_backends=[backend],
                        extra_args=["--iree-hal-target-device=local", *BACKENDS[backend]])


def iree_caller(data: bytes, device: str):
    import iree.runtime as runtime

    config = runtime.Config(device)
    module = runtime.VmModule.copy_buffer(config.vm_instance, data)
    context = runtime.SystemContext(config=config, vm_modules=[module])
    return getattr(context.modules, module.name)["add"], context


def iree_round(add, a, b, calls: int) -> float:
    began = time.perf_counter()
    for _ in range(calls):
        add(a, b)
    return (time.perf_counter() - began) / calls


async def asyncvm_round(program: asyncvm.Program, a, b, calls: int) -> float:
    invoke = program.invoke
    began = time.perf_counter()
    for _ in range(calls):
        await invoke("add", a, b)
    return (time.perf_counter() - began) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", action="append", choices=["local-sync", "local-task"])
    parser.add_argument("--backend", action="append", choices=list(BACKENDS))
    arguments = parser.parse_args()
    devices = arguments.device or ["local-sync", "local-task"]
    backends = arguments.backend or list(BACKENDS)
    a = numpy.arange(4, dtype=numpy.float32)
    b = numpy.ones(4, dtype=numpy.float32)
    print(f"add(4xf32, 4xf32), median of {arguments.rounds} rounds x {arguments.calls} calls")
    for backend in backends:
        data = compile_program(backend)
        for device in devices:
            program = asyncvm.load(data, device=device)
            add, keep = iree_caller(data, device)
            (ours,) = anyio.run(program.invoke, "add", a, b)
            if not numpy.array_equal(ours, a + b) or not numpy.array_equal(add(a, b).to_host(),
                                                                             a + b):
                raise SystemExit(f"{backend} {device}: wrong answer")
            iree_times, our_times = [], []
            iree_round(add, a, b, 100)
            anyio.run(asyncvm_round, program, a, b, 100)
            for _ in range(arguments.rounds):
                iree_times.append(iree_round(add, a, b, arguments.calls))
                our_times.append(anyio.run(asyncvm_round, program, a, b, arguments.calls))
            iree, ours = statistics.median(iree_times), statistics.median(our_times)
            ratio = statistics.median(mine / theirs for mine, theirs in zip(our_times,
                                                                            iree_times))
            print(f"  {backend:8} {device:10}  iree.runtime {iree * 1e6:7.1f} us  "
                  f"asyncvm {ours * 1e6:7.1f} us  ratio {ratio:5.2f}x")


if __name__ == "__main__":
    main()
