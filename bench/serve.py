"""``asyncvm serve`` under load from tritonclient, against the same app over IREE's runtime.

    python bench/serve.py [--duration SECONDS] [--rounds R] [--rows N]
        [--concurrency 1,16,64] [--device local-sync]

Compiles examples/serve_model.mlir (``classify``: rows x 16 -> rows x 4, a
dynamic batch dimension) for this host's CPU and starts two server
processes on loopback:

* asyncvm: ``asyncvm serve --module=classify.vmfb --no-access-log`` (batching
  on, its defaults);
* baseline: the same ASGI application (``asyncvm.serving.create_application``
  with the same routes, codec and metrics) serving a model whose ``call``
  runs IREE's runtime (``iree.runtime``, ``local-sync``) in a thread pool
  (``anyio.to_thread.run_sync``), one call per request, as a Python service
  wrapping IREE's runtime would.

The client is ``tritonclient.http.aio`` (aiohttp) in this process, sending
requests of ``--rows`` rows as binary tensors: N requests in flight at once
for N in ``--concurrency``. A round runs each server for ``--duration``
seconds per concurrency, alternating which goes first, and the table gives
the median over rounds of requests/s and of the p50 and p99 latency, and the
ratio of requests/s (asyncvm over baseline). Before timing, one answer of
each server is compared with IREE's runtime run here (bit-identical
expected). Both servers and the client share this machine's cores, so the
client's own cost is in every figure alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODEL_SOURCE = ROOT / "examples" / "serve_model.mlir"
FUNCTION = "classify"


def compile_model(path: pathlib.Path) -> None:
    from iree.compiler import compile_file

    compile_file(str(MODEL_SOURCE), output_file=str(path), target_backends=["llvm-cpu"],
                 extra_args=["--iree-hal-target-device=local",
                             "--iree-llvmcpu-target-cpu=host"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- the baseline server: the same application over iree.runtime -------------------------

def baseline_application(vmfb: str):
    """``create_application`` serving ``classify`` through IREE's runtime,
    one call per request in anyio's worker-thread pool."""
    import anyio
    import iree.runtime as runtime

    from asyncvm.serving import Model, TensorSpec, create_application

    config = runtime.Config("local-sync")
    module = runtime.VmModule.mmap(config.vm_instance, vmfb)
    context = runtime.SystemContext(config=config, vm_modules=[module])
    function = getattr(context.modules, module.name)[FUNCTION]

    class IreeModel(Model):
        name = FUNCTION
        platform = "iree.runtime"
        inputs = (TensorSpec("input0", "FP32", (-1, 16), numpy.dtype(numpy.float32)),)
        outputs = (TensorSpec("output0", "FP32", (-1, 4), numpy.dtype(numpy.float32)),)

        async def call(self, arguments, timeout):
            result = await anyio.to_thread.run_sync(function, *arguments)
            return (result.to_host(),)

    return create_application([IreeModel()])


def run_baseline_server(vmfb: str, port: int) -> None:
    import uvicorn

    uvicorn.run(baseline_application(vmfb), host="127.0.0.1", port=port, access_log=False,
                log_level="warning")


# -- the client ---------------------------------------------------------------------

def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not become ready")


async def load(url: str, rows: numpy.ndarray, concurrency: int, duration: float) -> dict:
    """Requests/s and latency percentiles (ms) of ``concurrency`` loops of requests."""
    import tritonclient.http as http
    import tritonclient.http.aio as aio

    client = aio.InferenceServerClient(url, conn_limit=concurrency)
    latencies: list[float] = []
    stop = time.perf_counter() + duration

    async def worker() -> None:
        request = http.InferInput("input0", rows.shape, "FP32")
        request.set_data_from_numpy(rows)
        while time.perf_counter() < stop:
            began = time.perf_counter()
            await client.infer(FUNCTION, [request])
            latencies.append(time.perf_counter() - began)

    try:
        began = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - began
    finally:
        await client.close()
    latencies.sort()
    return {"rps": len(latencies) / elapsed,
            "p50": latencies[len(latencies) // 2] * 1e3,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3}


async def check_answer(url: str, vmfb: pathlib.Path, rows: numpy.ndarray) -> None:
    import iree.runtime as runtime
    import tritonclient.http as http
    import tritonclient.http.aio as aio

    expected = runtime.load_vm_flatbuffer_file(str(vmfb), driver="local-sync")[FUNCTION](
        rows).to_host()
    client = aio.InferenceServerClient(url)
    try:
        request = http.InferInput("input0", rows.shape, "FP32")
        request.set_data_from_numpy(rows)
        answer = (await client.infer(FUNCTION, [request])).as_numpy("output0")
    finally:
        await client.close()
    if not numpy.array_equal(answer, expected):
        raise SystemExit(f"{url} answered {answer}, iree.runtime {expected}")


def start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=ROOT)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--device", default="local-sync", choices=["local-sync", "local-task"])
    parser.add_argument("--baseline-server", nargs=2, metavar=("VMFB", "PORT"),
                        help=argparse.SUPPRESS)  # the baseline server process's own entry
    arguments = parser.parse_args()
    if arguments.baseline_server:
        run_baseline_server(arguments.baseline_server[0], int(arguments.baseline_server[1]))
        return
    concurrencies = [int(value) for value in arguments.concurrency.split(",")]
    rows = numpy.random.default_rng(0).standard_normal((arguments.rows, 16)).astype(numpy.float32)
    with tempfile.TemporaryDirectory() as directory:
        vmfb = pathlib.Path(directory) / "classify.vmfb"
        compile_model(vmfb)
        ports = {"asyncvm": free_port(), "baseline": free_port()}
        servers = {
            "asyncvm": start([sys.executable, "-c", "import sys; from asyncvm.tools import main;"
                              " sys.exit(main())", "serve", f"--module={vmfb}",
                              f"--port={ports['asyncvm']}", f"--device={arguments.device}",
                              "--no-access-log", "--log-level=warning"]),
            "baseline": start([sys.executable, __file__, "--baseline-server", str(vmfb),
                               str(ports["baseline"])]),
        }
        try:
            urls = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
            for name, process in servers.items():
                wait_ready("http://" + urls[name], process)
                asyncio.run(check_answer(urls[name], vmfb, rows))
            results: dict[tuple[str, int], list[dict]] = {}
            for round_index in range(arguments.rounds):
                for concurrency in concurrencies:
                    order = ["asyncvm", "baseline"]
                    if round_index % 2:
                        order.reverse()
                    for name in order:
                        figures = asyncio.run(load(urls[name], rows, concurrency,
                                                   arguments.duration))
                        results.setdefault((name, concurrency), []).append(figures)
        finally:
            for process in servers.values():
                stop(process)
    print(f"{FUNCTION}({arguments.rows}x16xf32) over HTTP with tritonclient.http.aio, "
          f"median of {arguments.rounds} rounds x {arguments.duration:g} s, "
          f"{os.cpu_count()} cores shared by servers and client")
    print(f"  {'concurrency':>11}  {'server':<9} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for concurrency in concurrencies:
        medians = {}
        for name in ("asyncvm", "baseline"):
            runs = results[(name, concurrency)]
            medians[name] = {key: statistics.median(run[key] for run in runs)
                             for key in ("rps", "p50", "p99")}
            figures = medians[name]
            print(f"  {concurrency:>11}  {name:<9} {figures['rps']:>10.0f} "
                  f"{figures['p50']:>8.2f} {figures['p99']:>8.2f}")
        print(f"  {'':>11}  ratio asyncvm / baseline requests/s: "
              f"{medians['asyncvm']['rps'] / medians['baseline']['rps']:.2f}x")


if __name__ == "__main__":
    main()
