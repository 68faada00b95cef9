"""asyncvm on Ray Serve: requests/s with 1 and 2 replicas, beside one ``asyncvm serve`` process.

    python bench/ray_serve.py [--duration SECONDS] [--repeats R] [--rows N]
        [--concurrency N]

Compiles examples/serve_model.mlir (``classify``) for this host's CPU and
drives, with tritonclient.http.aio from this process (``--concurrency``
requests in flight, ``--rows`` rows each, binary tensors):

* ``asyncvm serve`` as one process (before and after the Ray runs, to
  bracket the machine's drift);
* a local Ray instance (``ray.init``) with Serve's HTTP proxy in front of
  ``asyncvm.serving.ray.deployment`` with 1 replica, then 2 replicas, then
  Ray Serve's own floor: one replica of a Starlette app that answers with a
  fixed body and runs nothing.

Every configuration is measured ``--repeats`` times for ``--duration``
seconds; the table gives the median requests/s and p50/p99 latency. Before
timing, one answer of each configuration is compared with IREE's runtime.
On a 2-core machine the client, Ray's proxy and the replicas share two
cores, so this shows the cost of Ray's extra hop more than any scaling;
across machines, Ray places replicas on nodes with free resources and the
proxies (one per node) route each request to a replica with capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import statistics
import sys
import tempfile

import numpy

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import serve as serve_bench  # noqa: E402  (bench/serve.py: compile, load, check, start)


def measure(url: str, rows: numpy.ndarray, arguments) -> dict:
    runs = [asyncio.run(serve_bench.load(url, rows, arguments.concurrency, arguments.duration))
            for _ in range(arguments.repeats)]
    return {key: statistics.median(run[key] for run in runs) for key in ("rps", "p50", "p99")}


def single_process(vmfb: pathlib.Path, rows: numpy.ndarray, arguments) -> dict:
    port = serve_bench.free_port()
    server = serve_bench.start([sys.executable, "-m", "asyncvm", "serve", f"--module={vmfb}",
                                f"--port={port}", "--no-access-log", "--log-level=warning"])
    try:
        serve_bench.wait_ready(f"http://127.0.0.1:{port}", server)
        asyncio.run(serve_bench.check_answer(f"127.0.0.1:{port}", vmfb, rows))
        return measure(f"127.0.0.1:{port}", rows, arguments)
    finally:
        serve_bench.stop(server)


def echo_deployment():
    """Ray Serve's own floor: a replica whose Starlette app answers every
    ``classify`` request with a fixed body (no program, no batching)."""
    from ray import serve
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    body = ('{"model_name":"classify","model_version":"1","outputs":[{"name":"output0",'
            '"datatype":"FP32","shape":[1,4],"data":[0.0,0.0,0.0,0.0]}]}')

    async def answer(request):
        await request.body()
        return Response(body, media_type="application/json")

    @serve.deployment(max_ongoing_requests=256, ray_actor_options={"num_cpus": 0})
    @serve.ingress()
    class Echo:
        def __serve_build_asgi_app__(self):
            return Starlette(routes=[Route("/v2/models/classify/infer", answer,
                                           methods=["POST"])])

    return Echo.bind()


def on_ray(vmfb: pathlib.Path, rows: numpy.ndarray, arguments) -> dict:
    import ray
    from ray import serve

    from asyncvm.serving import ServeSettings
    from asyncvm.serving.ray import deployment

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="error",
             log_to_driver=False)
    port = serve_bench.free_port()
    url = f"127.0.0.1:{port}"
    results = {}
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        for replicas in (1, 2):
            settings = ServeSettings(modules=[str(vmfb)], access_log=False)
            serve.run(deployment(settings, replicas=replicas, replica_cpus=0), name="asyncvm",
                      route_prefix="/")
            asyncio.run(serve_bench.check_answer(url, vmfb, rows))
            results[replicas] = measure(url, rows, arguments)
        serve.run(echo_deployment(), name="asyncvm", route_prefix="/")
        results["echo"] = measure(url, rows, arguments)
    finally:
        serve.shutdown()
        ray.shutdown()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    arguments = parser.parse_args()
    rows = numpy.random.default_rng(0).standard_normal((arguments.rows, 16)).astype(numpy.float32)
    with tempfile.TemporaryDirectory() as directory:
        vmfb = pathlib.Path(directory) / "classify.vmfb"
        serve_bench.compile_model(vmfb)
        before = single_process(vmfb, rows, arguments)
        ray_results = on_ray(vmfb, rows, arguments)
        after = single_process(vmfb, rows, arguments)
    print(f"classify({arguments.rows}x16xf32) with tritonclient.http.aio, concurrency "
          f"{arguments.concurrency}, median of {arguments.repeats} x {arguments.duration:g} s, "
          f"{os.cpu_count()} cores shared by client and servers")
    print(f"  {'server':<28} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    rows_out = [("asyncvm serve (before)", before), ("Ray Serve, 1 replica", ray_results[1]),
                ("Ray Serve, 2 replicas", ray_results[2]),
                ("Ray Serve, echo (no model)", ray_results["echo"]),
                ("asyncvm serve (after)", after)]
    for name, figures in rows_out:
        print(f"  {name:<28} {figures['rps']:>10.0f} {figures['p50']:>8.2f} {figures['p99']:>8.2f}")
    single = statistics.mean([before["rps"], after["rps"]])
    print(f"  Ray 2 replicas / 1 replica: {ray_results[2]['rps'] / ray_results[1]['rps']:.2f}x; "
          f"Ray 1 replica / asyncvm serve: {ray_results[1]['rps'] / single:.2f}x; "
          f"Ray 1 replica / Ray echo: {ray_results[1]['rps'] / ray_results['echo']['rps']:.2f}x")


if __name__ == "__main__":
    main()
