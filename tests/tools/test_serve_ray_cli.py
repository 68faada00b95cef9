"""``asyncvm serve --ray`` as one command: it starts a local Ray instance,
deploys the program behind the Open Inference Protocol, answers tritonclient
with IREE's answers, and on SIGTERM deletes the application, stops Ray and
exits 0."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy
import pytest

pytest.importorskip("ray.serve")
pytest.importorskip("iree.runtime")
httpclient = pytest.importorskip("tritonclient.http")

from _batch_model import LLVM_CPU  # noqa: E402
from _iree_reference import iree_tensor_results  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_serve_ray_one_command(compile_mlir, tmp_path):
    vmfb = compile_mlir(ROOT / "examples" / "serve_model.mlir", *LLVM_CPU)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "asyncvm", "serve", "--ray", f"--module={vmfb}",
             f"--port={port}", "--replicas=2", "--replica-cpus=0"],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "serving on Ray Serve" not in stdout.read_text():
            assert process.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline, "not ready: " + stderr.read_text()
            time.sleep(0.2)
        assert f"http://127.0.0.1:{port} (2 replicas)" in stdout.read_text()
        client = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
        assert client.is_server_ready() and client.is_model_ready("classify")
        x = numpy.random.default_rng(0).uniform(-2, 2, (5, 16)).astype(numpy.float32)
        tensor = httpclient.InferInput("input0", [5, 16], "FP32")
        tensor.set_data_from_numpy(x)
        answer = client.infer("classify", [tensor]).as_numpy("output0")
        (expected,) = iree_tensor_results(vmfb, "classify", [x])
        numpy.testing.assert_array_equal(answer, numpy.array(expected, copy=True))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, stderr.read_text()
    finally:
        # Its own session: whatever of it and its Ray processes is left goes.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
