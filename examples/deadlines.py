"""Deadlines reach into kernels: a runaway dispatch is stopped, the loop runs on.

    python examples/deadlines.py [--device local-sync|local-task] [--trio]

runaway.mlir iterates each element as many times as an input says, inside
the kernel. Asked for 2**31 - 1 iterations, its dispatch would run for
hours. Called with ``timeout=0.5`` it is stopped: on ``local-sync`` the
kernel runs in time slices of the event loop, so a heartbeat task keeps
beating meanwhile; on ``local-task`` it runs on a worker thread, which stops
it at its next quantum check. The device then answers a normal call, and
holds no more memory than before.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import anyio
import numpy

import asyncvm
from asyncvm.vm import VMError

HERE = pathlib.Path(__file__).resolve().parent


def compile_program() -> bytes:
    """Compiles runaway.mlir for VMVX with the iree-base-compiler package."""
    from iree.compiler import compile_file

    return compile_file(str(HERE / "runaway.mlir"), target_backends=["vmvx"],
                        extra_args=["--iree-hal-target-device=local"])


async def main(program: asyncvm.Program) -> None:
    x = numpy.array([-3.0, 0.25, 1.0, 40.0], numpy.float32)
    (warm,) = await program.spin(x, numpy.array([0, 1, 5, 30], numpy.int32))
    held = program.device.statistics.live_bytes
    beats = 0

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            await anyio.sleep(0.01)
            beats += 1

    async with anyio.create_task_group() as group:
        group.start_soon(heartbeat)
        began = time.perf_counter()
        try:
            await program.spin(x, numpy.full(4, 2**31 - 1, numpy.int32), timeout=0.5)
        except VMError as error:
            print(f"runaway stopped: {error.status.name} after "
                  f"{time.perf_counter() - began:.1f} s")
        group.cancel_scope.cancel()
    print(f"heartbeats meanwhile: {'yes' if beats >= 10 else 'no'} ({beats})")
    with anyio.fail_after(10):  # a worker finishing its last workgroup frees the rest
        while program.device.statistics.live_bytes != held:
            await anyio.sleep(0.01)
    print("device memory back where it was")
    (result,) = await program.spin(x, numpy.array([0, 1, 5, 30], numpy.int32))
    print(f"spin(x, [0, 1, 5, 30]) = {result.tolist()}")
    print(f"same answer as before: {numpy.array_equal(result, warm)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="local-sync", choices=["local-sync", "local-task"])
    parser.add_argument("--trio", action="store_true", help="run under trio instead of asyncio")
    arguments = parser.parse_args()
    loaded = asyncvm.load(compile_program(), device=arguments.device)
    anyio.run(main, loaded, backend="trio" if arguments.trio else "asyncio")
