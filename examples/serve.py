"""Serve a compiled model over the Open Inference Protocol and call it with tritonclient.

    pip install -e ".[test]" && python examples/serve.py [--device local-task]

Compiles ``serve_model.mlir`` (``classify``: rows x 16 features -> rows x 4
logits, a dynamic number of rows) for this machine's CPU, then does what a
user does on the command line::

    asyncvm serve --module=classify.vmfb --port=8000

and talks to the server with ``tritonclient``, the client of Triton's
servers, which asyncvm's server speaks to unchanged: metadata, one request,
then 64 concurrent requests of 1 to 8 rows, which the server batches into
shared calls (``asyncvm_batch_*`` in ``/metrics``). Every answer is checked
against IREE's own runtime running the same ``.vmfb`` on the request's rows. Then SIGTERM stops the
server gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy
import tritonclient.http as http
import tritonclient.http.aio as aio

HERE = pathlib.Path(__file__).resolve().parent


def compile_model(path: pathlib.Path) -> None:
    from iree.compiler import compile_file

    # For a generic CPU, a row's logits do not depend on which rows share its
    # batch. Tuned for this host, IREE's kernels treat a batch's last rows
    # apart from the others (a vector tail), and the last bit of a row can
    # differ between alone and batched, in IREE's runtime as in asyncvm.
    compile_file(str(HERE / "serve_model.mlir"), output_file=str(path),
                 target_backends=["llvm-cpu"],
                 extra_args=["--iree-hal-target-device=local", "--iree-llvmcpu-target-cpu=generic"])


def start_server(vmfb: pathlib.Path, port: int, device: str) -> subprocess.Popen:
    """``asyncvm serve`` as its own process; returns once it is ready."""
    server = subprocess.Popen([sys.executable, "-m", "asyncvm", "serve",
                               f"--module={vmfb}", f"--port={port}", f"--device={device}",
                               "--no-access-log"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1)
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not become ready")


def reference(vmfb: pathlib.Path):
    """``classify`` in IREE's own runtime, for checking the answers."""
    import iree.runtime as runtime

    return runtime.load_vm_flatbuffer_file(str(vmfb), driver="local-sync")["classify"]


def request_of(rows: numpy.ndarray) -> http.InferInput:
    tensor = http.InferInput("input0", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)  # binary tensor data
    return tensor


async def concurrent_requests(url: str, batches: list[numpy.ndarray]) -> list[numpy.ndarray]:
    client = aio.InferenceServerClient(url, conn_limit=len(batches))
    try:
        results = await asyncio.gather(*[client.infer("classify", [request_of(rows)])
                                         for rows in batches])
        return [result.as_numpy("output0") for result in results]
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="local-sync", choices=["local-sync", "local-task"])
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, socket.socket() as probe:
        vmfb = pathlib.Path(directory) / "classify.vmfb"
        compile_model(vmfb)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        server = start_server(vmfb, port, arguments.device)
        try:
            url = f"127.0.0.1:{port}"
            iree_classify = reference(vmfb)
            client = http.InferenceServerClient(url)
            metadata = client.get_model_metadata("classify")
            print("model:", metadata["name"], "inputs", metadata["inputs"],
                  "outputs", metadata["outputs"])

            rows = numpy.random.default_rng(0).standard_normal((3, 16)).astype(numpy.float32)
            logits = client.infer("classify", [request_of(rows)]).as_numpy("output0")
            print("logits of 3 rows:\n", logits)
            assert numpy.array_equal(logits, iree_classify(rows).to_host())

            generator = numpy.random.default_rng(1)
            batches = [generator.standard_normal((generator.integers(1, 9), 16))
                       .astype(numpy.float32) for _ in range(64)]
            answers = asyncio.run(concurrent_requests(url, batches))
            for rows, answer in zip(batches, answers):
                assert numpy.array_equal(answer, iree_classify(rows).to_host())
            metrics = urllib.request.urlopen(f"http://{url}/metrics").read().decode()
            calls = next(line.split()[-1] for line in metrics.splitlines()
                         if line.startswith("asyncvm_batch_requests_count"))
            print(f"64 concurrent requests: answers match iree.runtime; the server made "
                  f"{float(calls):.0f} batched calls for the 65 requests")
        finally:
            server.send_signal(signal.SIGTERM)  # graceful: in-flight requests finish
            print("server exited with", server.wait(timeout=30))


if __name__ == "__main__":
    main()
