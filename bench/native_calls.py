"""A program calling into a tvm-ffi library: cost per call, and the event
loop while native calls run.

    python bench/native_calls.py [--calls N] [--rounds R]

Builds tests/native/tensor_library.cc with tvm-ffi (the system compiler)
and compiles tests/programs/native_imports.mlir (VMVX, host side only for
the measured function). In this one process, interleaving rounds:

* per call of ``add_times_three`` (one import of the library's ``add``):
  asyncvm with the call on a worker thread (the default), asyncvm with
  ``inline=`` (on the loop thread), and IREE's runtime with a Python module
  (``iree.runtime.PyModuleInterface``) whose export calls the same tvm-ffi
  function; ratios against IREE's;
* a bare Python thread round trip, the floor under the worker-thread figure;
* the event loop while 4 invocations each sit in a 100 ms native sleep: a
  heartbeat task asks for a 1 ms sleep in a loop and the longest gap
  between its wake-ups is printed, for the default and for ``inline=``.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

import anyio

import asyncvm
from asyncvm.modules.native import NativeLibraryModule

ROOT = pathlib.Path(__file__).resolve().parent.parent


def build(directory: pathlib.Path) -> tuple[pathlib.Path, bytes]:
    import tvm_ffi.cpp
    from iree.compiler import compile_file

    built = pathlib.Path(tvm_ffi.cpp.build(
        "tensor_library", sources=[str(ROOT / "tests" / "native" / "tensor_library.cc")],
        build_directory=str(directory / "build"),
        extra_cflags=["-DTVM_FFI_DLL_EXPORT_INCLUDE_METADATA=1"]))
    library = directory / "native.so"
    library.write_bytes(built.read_bytes())
    program = compile_file(str(ROOT / "tests" / "programs" / "native_imports.mlir"),
                           target_backends=["vmvx"], extra_args=["--iree-hal-target-device=local"])
    return library, program


def iree_caller(library: pathlib.Path, program: bytes):
    """A synchronous call of add_times_three in IREE's runtime, whose
    ``native.add`` is a Python export calling the tvm-ffi function."""
    import iree.runtime as runtime
    import tvm_ffi

    functions = tvm_ffi.load_module(str(library))
    add = functions["add"]
    interface = runtime.PyModuleInterface("native", lambda interface: None)
    interface.export("add", "0II_I", lambda state, a, b: add(a, b))
    # IREE resolves every import: the others exist, unused here.
    interface.export("half", "0f_f", lambda state, value: functions["half"](value))
    interface.export("sleep_ms", "0I_I", lambda state, value: functions["sleep_ms"](value))
    interface.export("fail", "0I_I", lambda state, value: functions["fail"](value))
    interface.export("scale", "0rf_r", lambda state, view, factor: view)
    config = runtime.Config("local-sync")
    context = runtime.SystemContext(config=config, vm_modules=[
        interface.create(), runtime.VmModule.copy_buffer(config.vm_instance, program)])
    function = context.modules.module["add_times_three"]
    if function(20, 22) != 126:
        raise SystemExit("IREE: wrong answer")
    return lambda: function(20, 22), context, interface


async def asyncvm_round(program, calls: int) -> float:
    invoke = program.invoke
    began = time.perf_counter()
    for _ in range(calls):
        await invoke("add_times_three", 20, 22)
    return (time.perf_counter() - began) / calls


def iree_round(call, calls: int) -> float:
    began = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - began) / calls


def thread_round_trip(trips: int = 2000) -> float:
    """Seconds for one bare Python thread round trip (two queues): the floor
    under any call handed to a worker thread on this machine."""
    import queue
    import threading

    requests: queue.SimpleQueue = queue.SimpleQueue()
    replies: queue.SimpleQueue = queue.SimpleQueue()

    def echo() -> None:
        while (item := requests.get()) is not None:
            replies.put(item)

    worker = threading.Thread(target=echo)
    worker.start()
    for _ in range(100):
        requests.put(1)
        replies.get()
    began = time.perf_counter()
    for _ in range(trips):
        requests.put(1)
        replies.get()
    elapsed = (time.perf_counter() - began) / trips
    requests.put(None)
    worker.join()
    return elapsed


async def longest_gap(program, sleepers: int = 4, milliseconds: int = 100) -> float:
    """The longest gap between a 1 ms heartbeat's wake-ups while ``sleepers``
    invocations sit in a native sleep."""
    gaps: list[float] = []
    done = anyio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await anyio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def sleeper() -> None:
        assert await program.invoke("sleep", milliseconds) == (milliseconds,)

    async with anyio.create_task_group() as group:
        group.start_soon(heartbeat)
        async with anyio.create_task_group() as sleepers_group:
            for _ in range(sleepers):
                sleepers_group.start_soon(sleeper)
        done.set()
    return max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        library, data = build(pathlib.Path(directory))
        threaded = asyncvm.load(data, modules=[NativeLibraryModule(library)])
        inline = asyncvm.load(data, modules=[NativeLibraryModule(library, inline=["add",
                                                                                  "sleep_ms"])])
        call_iree, *keep = iree_caller(library, data)
        for program in (threaded, inline):
            if anyio.run(program.invoke, "add_times_three", 20, 22) != (126,):
                raise SystemExit("asyncvm: wrong answer")
        times: dict[str, list[float]] = {"iree": [], "threaded": [], "inline": []}
        for _ in range(arguments.rounds):  # interleaved: the machine's drift hits all alike
            times["iree"].append(iree_round(call_iree, arguments.calls))
            times["threaded"].append(anyio.run(asyncvm_round, threaded, arguments.calls))
            times["inline"].append(anyio.run(asyncvm_round, inline, arguments.calls))
        median = {name: statistics.median(values) for name, values in times.items()}
        print(f"add_times_three (one import of the library's add), median of "
              f"{arguments.rounds} x {arguments.calls} calls")
        print(f"  iree.runtime, Python export calling tvm-ffi  {median['iree'] * 1e6:8.1f} us/call")
        for name, label in (("threaded", "asyncvm, worker thread (default)"),
                            ("inline", "asyncvm, inline=")):
            print(f"  {label:<44} {median[name] * 1e6:8.1f} us/call  "
                  f"({median[name] / median['iree']:.1f}x iree.runtime)")
        print(f"  a bare Python thread round trip on this machine   "
              f"{thread_round_trip() * 1e6:8.1f} us")
        print("event loop while 4 invocations sit in a 100 ms native sleep "
              "(longest gap between 1 ms heartbeats):")
        for program, label in ((threaded, "worker thread (default)"), (inline, "inline=")):
            gap = anyio.run(longest_gap, program)
            print(f"  {label:<26} {gap * 1e3:8.1f} ms")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
