"""Memory per suspended invocation, with 10,000 invocations suspended at once.

    python bench/suspended_memory.py [--invocations N]

Starts N invocations on one event loop (asyncio and trio), waits until all
are suspended, and measures what they hold with tracemalloc (Python objects
and numpy buffers alike): the bytes allocated while they are suspended,
divided by N. Three cases:

* ``task``          — a bare task waiting on an event: what the event loop
  itself charges per task, the floor under any invocation;
* ``async import``  — a bytecode invocation (a loop calling an async Python
  import) suspended inside that import: the VM's frames, registers and
  driver;
* ``fence``         — a tensor program (llvm-cpu, ``local-task``) suspended
  in ``hal.fence.await`` with its queue work pending: adds the HAL objects
  of a call in flight (buffers, fences, command buffer bindings).

The target is at most 4 KiB per suspended invocation. The verdict is on
the invocation's own cost, over the task that runs it (a task the caller
has anyway, as large as the event loop and anyio make it); both figures
are printed.
IREE's runtime has no suspended invocation to compare with: each call in
flight holds a thread of its own (its stack is reserved, 8 MiB by default
here), so that is printed beside the figures.
"""

from __future__ import annotations

import argparse
import gc
import pathlib
import resource
import tempfile
import threading
import tracemalloc

import anyio
import numpy

import asyncvm
from asyncvm.hal import Device, HalModule
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.python import PythonModule

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


class GatedDevice(Device):
    """local-task whose kernels wait until ``gate`` opens."""

    def __init__(self) -> None:
        super().__init__("local-task")
        self.inline_limit = 0  # every execution on a worker, through the gate
        self.gate = threading.Event()

    def for_each(self, count, body):
        self.gate.wait()
        super().for_each(count, body)


def compile_files(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    from iree.compiler import compile_file

    outputs = {}
    for name, flags in [
        ("ctx_library", ["--compile-mode=vm"]),
        ("ctx_user", ["--compile-mode=vm"]),
        ("batch_model", ["--iree-hal-target-device=local",
                         "--iree-hal-local-target-device-backends=llvm-cpu",
                         "--iree-llvmcpu-target-cpu=host"]),
    ]:
        output = directory / f"{name}.vmfb"
        output.write_bytes(compile_file(str(ROOT / "tests" / "programs" / f"{name}.mlir"),
                                        extra_args=flags))
        outputs[name] = output
    return outputs


async def measure(count: int, start_one, release) -> int:
    """Bytes allocated per suspended invocation (tracemalloc)."""
    suspended = 0
    all_suspended = anyio.Event()

    def arrived() -> None:
        nonlocal suspended
        suspended += 1
        if suspended == count:
            all_suspended.set()

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(start_one, arrived)
        await all_suspended.wait()
        for _ in range(5):
            await anyio.sleep(0)
        gc.collect()
        during = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        release()
    return (during - before) // count


async def run_cases(files: dict[str, pathlib.Path], count: int) -> dict[str, int]:
    results = {}

    # A bare task waiting on an event.
    event = anyio.Event()

    async def bare(arrived) -> None:
        arrived()
        await event.wait()

    results["task"] = await measure(count, bare, event.set)

    # A bytecode invocation suspended in an async import.
    host = PythonModule("host")
    opened = anyio.Event()
    arrivals = []

    @host.export("0i_i")
    async def fetch(key):
        arrivals[-1]()
        await opened.wait()
        return key

    program = asyncvm.load(BytecodeModule.load(files["ctx_user"]),
                           modules=[BytecodeModule.load(files["ctx_library"]), host])
    await program.context.initialize()

    async def in_import(arrived) -> None:
        arrivals.append(arrived)
        await program.invoke("fetch_sum", 1)

    results["async import"] = await measure(count, in_import, opened.set)

    # A tensor invocation suspended on a fence, its kernel held.
    device = GatedDevice()
    device.gate.set()
    tensor_program = asyncvm.load(files["batch_model"], modules=[HalModule([device])])
    x = asyncvm.aligned_array(numpy.ones((2, 8), numpy.float32))
    await tensor_program.invoke("predict", x)
    device.gate.clear()

    async def on_fence(arrived) -> None:
        arrived()
        await tensor_program.invoke("predict", x)

    results["fence"] = await measure(count, on_fence, device.gate.set)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=10_000)
    arguments = parser.parse_args()
    stack = resource.getrlimit(resource.RLIMIT_STACK)[0]
    with tempfile.TemporaryDirectory() as directory:
        files = compile_files(pathlib.Path(directory))
        print(f"{arguments.invocations} invocations suspended at once; bytes each "
              f"(tracemalloc); target: its own <= 4096")
        for backend in ("asyncio", "trio"):
            results = anyio.run(run_cases, files, arguments.invocations, backend=backend)
            task = results.pop("task")
            parts = []
            for name, value in results.items():
                own = value - task
                parts.append(f"{name}: {value} B with its task, {own} B its own "
                             f"({'met' if own <= 4096 else 'NOT met'})")
            print(f"{backend:8s} bare task {task} B; " + "; ".join(parts))
    if stack > 0:
        print(f"iree.runtime: a thread per call in flight, stack reserved {stack // 1024} KiB each")


if __name__ == "__main__":
    main()
