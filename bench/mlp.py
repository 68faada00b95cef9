"""Latency of a 3-layer 512x512 MLP (batch 32) compiled for llvm-cpu.

    python bench/mlp.py [--calls N] [--rounds R]

Compiles bench/mlp.mlir for this host's CPU once, then times one call in
iree.runtime and asyncvm (local-sync and local-task) on the same .vmfb, and
the same arithmetic in numpy, all in this process. Prints medians and ratios.

asyncvm runs twice: with numpy arguments, which it protects (a kernel that
might write an argument gets a private copy, as iree.runtime copies every
input), and with the weights passed as buffer views the caller lends the
program (no copy; the program may update them in place).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import time

import anyio
import numpy

import asyncvm

HERE = pathlib.Path(__file__).resolve().parent


def compile_program() -> bytes:
    from iree.compiler import compile_file

    return compile_file(str(HERE / "mlp.mlir"), target_backends=["llvm-cpu"],
                        extra_args=["--iree-hal-target-device=local",
                                    "--iree-llvmcpu-target-cpu=host"])


def median_time(call, calls: int, rounds: int) -> float:
    for _ in range(3):
        call()
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(calls):
            call()
        times.append((time.perf_counter() - began) / calls)
    return statistics.median(times)


def iree_time(data, device, inputs, calls, rounds, expected) -> float:
    import iree.runtime as runtime

    config = runtime.Config(device)
    module = runtime.VmModule.copy_buffer(config.vm_instance, data)
    context = runtime.SystemContext(config=config, vm_modules=[module])
    mlp = getattr(context.modules, module.name)["mlp"]
    result = mlp(*inputs).to_host()
    numpy.testing.assert_allclose(result, expected, rtol=1e-3, atol=1e-2)
    return median_time(lambda: mlp(*inputs).to_host(), calls, rounds)


def asyncvm_time(data, device, inputs, calls, rounds, expected) -> float:
    program = asyncvm.load(data, device=device)

    async def measure() -> float:
        (result,) = await program.invoke("mlp", *inputs)
        numpy.testing.assert_allclose(result, expected, rtol=1e-3, atol=1e-2)
        for _ in range(3):
            await program.invoke("mlp", *inputs)
        times = []
        for _ in range(rounds):
            began = time.perf_counter()
            for _ in range(calls):
                await program.invoke("mlp", *inputs)
            times.append((time.perf_counter() - began) / calls)
        return statistics.median(times)

    return anyio.run(measure)


def numpy_forward(x, w1, w2, w3):
    h = numpy.maximum(x @ w1, 0)
    h = numpy.maximum(h @ w2, 0)
    return h @ w3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    data = compile_program()
    generator = numpy.random.default_rng(0)
    # The caller holds its inputs in 64-byte-aligned arrays (asyncvm.aligned_array),
    # so asyncvm passes them without copying; iree.runtime copies them into
    # device buffers as it always does.
    inputs = [asyncvm.aligned_array(generator.standard_normal((32, 512)), numpy.float32)] + [
        asyncvm.aligned_array(generator.standard_normal((512, 512)) / 22.6, numpy.float32)
        for _ in range(3)]
    expected = numpy_forward(*inputs)
    print(f"MLP 3x512x512, batch 32, llvm-cpu for this host ({os.cpu_count()} cores); "
          f"median of {arguments.rounds} x {arguments.calls} calls")
    numpy_seconds = median_time(lambda: numpy_forward(*inputs), arguments.calls, arguments.rounds)
    print(f"  numpy                     {numpy_seconds * 1e3:8.3f} ms")
    lent = inputs[:1] + [asyncvm.hal.BufferView.from_array(weights) for weights in inputs[1:]]
    for device in ("local-sync", "local-task"):
        iree = iree_time(data, device, inputs, arguments.calls, arguments.rounds, expected)
        ours = asyncvm_time(data, device, inputs, arguments.calls, arguments.rounds, expected)
        zero_copy = asyncvm_time(data, device, lent, arguments.calls, arguments.rounds, expected)
        print(f"  {device:10} iree.runtime {iree * 1e3:8.3f} ms   asyncvm {ours * 1e3:8.3f} ms"
              f"   ratio {ours / iree:5.2f}x   (asyncvm / numpy {ours / numpy_seconds:5.2f}x)")
        print(f"  {device:10} weights lent as buffer views: asyncvm {zero_copy * 1e3:8.3f} ms"
              f"   ratio {zero_copy / iree:5.2f}x")


if __name__ == "__main__":
    main()
