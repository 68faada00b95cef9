"""``asyncvm serve`` as a real process, driven by ``tritonclient``.

The server is started as the console script would start it
(``asyncvm.tools:main`` with ``serve --module=...``) on a free port, serving
``examples/serve_model.mlir`` (``classify(tensor<?x16xf32>) ->
tensor<?x4xf32>``) compiled for llvm-cpu. Every answer is compared bit for
bit with IREE's own runtime (``iree.runtime``) running the same ``.vmfb``;
``classify`` computes each row on its own, so the reference runs once over
all the rows of a load and is cut back into the requests.

* metadata, liveness and readiness through tritonclient's synchronous client;
* 1,000 requests of 1-8 rows at concurrency 64, half with binary tensors and
  half with JSON tensors, all matching IREE, and batched (``/metrics``);
* bad requests (wrong shape, wrong datatype, unknown model, a truncated
  binary body, a body over ``--max-body-bytes``) mixed into a load: each
  gets its status and ``{"error": ...}``, the good ones beside them match,
  and the server stays ready;
* SIGTERM in the middle of a load: admitted requests are answered, requests
  sent after the signal are refused (503 or a closed connection), nothing
  hangs, the access log is JSON, and the process exits 0;
* ``--workers 2``: correct answers, ``/metrics`` sums both workers, SIGTERM
  stops the lot.

The load runs through ``tritonclient.http.aio`` (aiohttp), which is
asyncio-only, so these are synchronous tests that drive an asyncio client
with ``asyncio.run``; they do not use the anyio/trio parametrization of the
in-process serving tests. (tritonclient's gevent-based synchronous client
with ``concurrency=`` and ``async_infer`` serializes requests at ~11 ms each
on small machines whatever the server, so it is used only for single
requests.)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("iree.compiler")
pytest.importorskip("iree.runtime")
pytest.importorskip("tritonclient.http")
aiohttp = pytest.importorskip("aiohttp")
prometheus_parser = pytest.importorskip("prometheus_client.parser")

import tritonclient.http as httpclient  # noqa: E402
import tritonclient.http.aio as aioclient  # noqa: E402
from tritonclient.utils import InferenceServerException, np_to_triton_dtype  # noqa: E402

from _batch_model import LLVM_CPU  # noqa: E402
from _iree_reference import iree_tensor_results  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL_SOURCE = ROOT / "examples" / "serve_model.mlir"
MODEL = "classify"
FEATURES = 16
CLASSES = 4
LAUNCH = "import sys; from asyncvm.tools import main; sys.exit(main())"  # the console script
STARTUP_TIMEOUT = 60.0     # seconds until /v2/health/ready answers 200
SHUTDOWN_TIMEOUT = 10.0    # seconds from SIGTERM to the process's exit
REQUEST_TIMEOUT = 30.0     # seconds any one request may take (aiohttp's total timeout)
LOAD_TIMEOUT = 90.0        # seconds a whole load may take
MAX_BODY_BYTES = 65536


# -- the server process --------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass
class Server:
    url: str  # host:port, as tritonclient takes it (no scheme)
    process: subprocess.Popen
    stderr: pathlib.Path

    @property
    def http(self) -> str:
        return f"http://{self.url}"

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")


def _wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"asyncvm serve exited with {server.process.returncode} before it was "
                        f"ready; stderr:\n{server.log()}")
        try:
            if httpx.get(server.http + "/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"asyncvm serve was not ready after {STARTUP_TIMEOUT} s; stderr:\n{server.log()}")


def _stop_group(process: subprocess.Popen) -> None:
    """Ends what is left of a server started by :func:`running_server`: SIGTERM
    to the server if it still runs, then SIGKILL to its process group (its
    own session, so --workers children go too)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def running_server(vmfb: pathlib.Path, directory: pathlib.Path, *options: str):
    """``asyncvm serve --module=vmfb *options`` on a free port, ready; always
    ended (and its process group killed) on the way out."""
    port = free_port()
    stderr = directory / f"serve-{port}.stderr"
    with open(directory / f"serve-{port}.stdout", "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "serve", f"--module={vmfb}", f"--port={port}",
             *options],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
    server = Server(f"127.0.0.1:{port}", process, stderr)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        _stop_group(process)


def access_log(server: Server) -> list[dict]:
    """The server's JSON access-log lines (asserting their form); uvicorn's
    own lines (``INFO: ...``) are skipped; nothing else may be there."""
    entries = []
    for line in server.log().splitlines():
        if not line.strip():
            continue
        if line.startswith("{"):
            entry = json.loads(line)
            assert {"time", "client", "method", "path", "status", "bytes_in", "bytes_out",
                    "duration_ms"} <= set(entry), line
            assert isinstance(entry["status"], int) and 100 <= entry["status"] < 600, line
            entries.append(entry)
        else:
            assert line.startswith("INFO:"), f"unexpected line on stderr: {line!r}\n{server.log()}"
    return entries


def metric_samples(server: Server) -> dict:
    """``/metrics`` (on a connection of its own) as ``{(sample name, labels): value}``."""
    response = httpx.get(server.http + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    samples = {}
    for family in prometheus_parser.text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def requests_counted(samples: dict, code: str) -> float:
    return samples.get(("asyncvm_inference_requests_total",
                        (("code", code), ("model", MODEL))), 0.0)


# -- requests and the reference ---------------------------------------------------------------

def request_rows(generator: numpy.random.Generator, count: int) -> list[numpy.ndarray]:
    """``count`` requests of 1-8 float32 rows."""
    return [generator.uniform(-3, 3, size=(int(generator.integers(1, 9)), FEATURES))
            .astype(numpy.float32) for _ in range(count)]


def reference_outputs(vmfb: pathlib.Path, requests: list[numpy.ndarray]) -> list[numpy.ndarray]:
    """IREE's answers to every request: one call over all the rows, split."""
    (logits,) = iree_tensor_results(vmfb, MODEL, [numpy.concatenate(requests)])
    # A copy: IREE's array can be a view of device memory that goes away with its context.
    logits = numpy.array(logits, copy=True)
    assert logits.dtype == numpy.float32 and logits.shape == (sum(map(len, requests)), CLASSES)
    return numpy.split(logits, numpy.cumsum([len(x) for x in requests])[:-1])


def inference(x: numpy.ndarray, binary: bool):
    """tritonclient's inputs and requested outputs for ``x``: binary tensors
    both ways, or JSON both ways."""
    tensor = httpclient.InferInput("input0", list(x.shape), np_to_triton_dtype(x.dtype))
    tensor.set_data_from_numpy(x, binary_data=binary)
    outputs = None if binary else [httpclient.InferRequestedOutput("output0", binary_data=False)]
    return [tensor], outputs


def assert_answer(result, x: numpy.ndarray, expected: numpy.ndarray, binary: bool,
                  where: str) -> None:
    """The answer is IREE's bit for bit, in the encoding the request asked for."""
    output = result.get_output("output0")
    assert output is not None, f"{where}: no output0 in {result.get_response()}"
    assert output["datatype"] == "FP32" and output["shape"] == [len(x), CLASSES], where
    if binary:
        assert output["parameters"]["binary_data_size"] == len(x) * CLASSES * 4, where
    else:
        assert "data" in output and "parameters" not in output, where
    got = result.as_numpy("output0")
    assert got.dtype == numpy.float32, where
    numpy.testing.assert_array_equal(got.view(numpy.uint32), expected.view(numpy.uint32),
                                     err_msg=where)


@dataclasses.dataclass
class Outcome:
    """What became of one request: its answer, or the HTTP status of its
    error (``InferenceServerException.status()``), or the connection error."""

    index: int
    sent: float = 0.0  # time.time() just before the request was handed to the client
    done: float = 0.0
    result: object = None
    status: str | None = None
    message: str | None = None
    error: BaseException | None = None
    timed_out: bool = False


async def _attempt(outcome: Outcome, call) -> Outcome:
    outcome.sent = time.time()
    try:
        outcome.result = await call()
        outcome.status = "200"
    except InferenceServerException as error:
        outcome.status, outcome.message, outcome.error = error.status(), error.message(), error
    except TimeoutError as error:  # asyncio's and aiohttp's timeouts (before ClientError)
        outcome.timed_out, outcome.error = True, error
    except aiohttp.ClientConnectionError as error:
        outcome.error = error
    outcome.done = time.time()
    return outcome


async def run_load(url: str, calls: list, concurrency: int = 64, on_done=None) -> list[Outcome]:
    """Runs ``calls`` (each ``async call(client) -> result``) at most
    ``concurrency`` at a time through one aio client; ``on_done(count)``
    after each."""
    semaphore = asyncio.Semaphore(concurrency)
    finished = 0
    async with aioclient.InferenceServerClient(url, conn_limit=concurrency,
                                               conn_timeout=REQUEST_TIMEOUT) as client:
        async def one(index: int, call) -> Outcome:
            nonlocal finished
            async with semaphore:
                outcome = await _attempt(Outcome(index), lambda: call(client))
            finished += 1
            if on_done is not None:
                on_done(finished)
            return outcome

        return await asyncio.wait_for(
            asyncio.gather(*(one(index, call) for index, call in enumerate(calls))), LOAD_TIMEOUT)


def infer_call(x: numpy.ndarray, binary: bool, model: str = MODEL):
    inputs, outputs = inference(x, binary)
    return lambda client: client.infer(model, inputs, outputs=outputs)


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vmfb(compile_mlir) -> pathlib.Path:
    return compile_mlir(MODEL_SOURCE, *LLVM_CPU)


@pytest.fixture(scope="module")
def server(vmfb, tmp_path_factory):
    """One server for the metadata, load and bad-request tests, with a small
    body limit (for 413) and a max_wait that lets batches form."""
    with running_server(vmfb, tmp_path_factory.mktemp("serve"), "--max-wait=0.005",
                        f"--max-body-bytes={MAX_BODY_BYTES}") as running:
        yield running
    log = running.log()
    assert "Traceback" not in log and "ERROR" not in log, log
    assert access_log(running), "no access log"


# -- the tests ---------------------------------------------------------------------------------

def test_metadata_and_health(server, vmfb):
    client = httpclient.InferenceServerClient(server.url, network_timeout=REQUEST_TIMEOUT)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready(MODEL)
        assert client.is_model_ready(MODEL, "1")
        metadata = client.get_server_metadata()
        assert metadata["name"] == "asyncvm"
        assert {"binary_tensor_data", "model_repository"} <= set(metadata["extensions"])
        assert isinstance(metadata["version"], str)
        model = client.get_model_metadata(MODEL)
        assert model["name"] == MODEL and model["versions"] == ["1"]
        assert model["inputs"] == [{"name": "input0", "datatype": "FP32", "shape": [-1, 16]}]
        assert model["outputs"] == [{"name": "output0", "datatype": "FP32", "shape": [-1, 4]}]
        assert client.get_model_metadata(MODEL, "1") == model
        assert [entry["name"] for entry in client.get_model_repository_index()] == [MODEL]
        with pytest.raises(InferenceServerException) as info:
            client.get_model_metadata("no_such_model")
        assert info.value.status() == "404"
        assert not client.is_model_ready("no_such_model")

        # Single requests through the synchronous client, both encodings.
        requests = request_rows(numpy.random.default_rng(1), 4)
        for index, (x, expected) in enumerate(zip(requests, reference_outputs(vmfb, requests))):
            binary = index % 2 == 0
            inputs, outputs = inference(x, binary)
            result = client.infer(MODEL, inputs, outputs=outputs)
            assert_answer(result, x, expected, binary, f"request {index}")
    finally:
        client.close()


def test_load_matches_iree_and_batches(server, vmfb):
    requests = request_rows(numpy.random.default_rng(20240601), 1000)
    expected = reference_outputs(vmfb, requests)
    before = metric_samples(server)
    started = time.perf_counter()
    outcomes = asyncio.run(run_load(server.url, [infer_call(x, index % 2 == 0)
                                                 for index, x in enumerate(requests)]))
    elapsed = time.perf_counter() - started
    for outcome in outcomes:
        x = requests[outcome.index]
        binary = outcome.index % 2 == 0
        assert outcome.status == "200", f"request {outcome.index}: {outcome}"
        assert_answer(outcome.result, x, expected[outcome.index], binary,
                      f"request {outcome.index}")

    after = metric_samples(server)
    labels = (("model", MODEL),)
    served = requests_counted(after, "200") - requests_counted(before, "200")
    assert served == len(requests)
    calls = (after["asyncvm_batch_requests_count", labels]
             - before.get(("asyncvm_batch_requests_count", labels), 0.0))
    batched = (after["asyncvm_batch_requests_sum", labels]
               - before.get(("asyncvm_batch_requests_sum", labels), 0.0))
    rows = (after["asyncvm_batch_rows_sum", labels]
            - before.get(("asyncvm_batch_rows_sum", labels), 0.0))
    assert batched == len(requests) and rows == sum(map(len, requests))
    assert after["asyncvm_batch_requests_sum", labels] > after["asyncvm_batch_requests_count",
                                                               labels]
    assert calls < len(requests), f"nothing was batched: {calls} calls for {batched} requests"
    print(f"\n1000 requests in {elapsed:.2f} s; {calls:.0f} batched calls")


async def _truncated_binary(url: str) -> httpx.Response:
    """A binary request whose body ends 10 bytes before the data its header
    declares (``binary_data_size``)."""
    x = numpy.ones((3, FEATURES), numpy.float32)
    header = json.dumps({"inputs": [{"name": "input0", "datatype": "FP32", "shape": [3, 16],
                                     "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    async with httpx.AsyncClient(base_url=f"http://{url}", timeout=REQUEST_TIMEOUT) as client:
        return await client.post(f"/v2/models/{MODEL}/infer", content=header + x.tobytes()[:-10],
                                 headers={"Inference-Header-Content-Length": str(len(header)),
                                          "Content-Type": "application/octet-stream"})


def test_bad_requests_fail_alone(server, vmfb):
    generator = numpy.random.default_rng(7)
    good = request_rows(generator, 200)
    expected = reference_outputs(vmfb, good)
    oversized = generator.uniform(-3, 3, size=(MAX_BODY_BYTES // (FEATURES * 4) + 8, FEATURES)
                                  ).astype(numpy.float32)
    bad_kinds = [
        # (what, call, expected HTTP status)
        ("wrong shape (binary)",
         infer_call(numpy.ones((2, FEATURES - 1), numpy.float32), True), "400"),
        ("wrong shape (JSON)",
         infer_call(numpy.ones((3, FEATURES + 1), numpy.float32), False), "400"),
        ("wrong rank", infer_call(numpy.ones((FEATURES,), numpy.float32), True), "400"),
        ("wrong datatype FP64", infer_call(numpy.ones((2, FEATURES), numpy.float64), True), "400"),
        ("wrong datatype INT32", infer_call(numpy.ones((2, FEATURES), numpy.int32), False), "400"),
        ("unknown model", infer_call(good[0], True, model="no_such_model"), "404"),
        ("truncated binary body", None, "400"),
        ("oversized body", infer_call(oversized, True), "413"),
    ]
    calls, kinds = [], []
    for index, x in enumerate(good):
        calls.append(infer_call(x, index % 2 == 0))
        kinds.append(None)
        if index % 5 == 4:  # 40 bad requests, each kind five times, among the good ones
            kind = (index // 5) % len(bad_kinds)
            what, call, _ = bad_kinds[kind]
            if call is None:
                async def call(client, url=server.url):
                    response = await _truncated_binary(url)
                    if response.status_code == 200:
                        return response
                    assert response.headers["content-type"] == "application/json"
                    raise InferenceServerException(response.json()["error"],
                                                   str(response.status_code))
            calls.append(call)
            kinds.append(kind)

    outcomes = asyncio.run(run_load(server.url, calls))

    good_index = 0
    seen = set()
    for outcome, kind in zip(outcomes, kinds):
        if kind is None:
            where = f"good request {good_index}"
            assert outcome.status == "200", f"{where}: {outcome}"
            assert_answer(outcome.result, good[good_index], expected[good_index],
                          good_index % 2 == 0, where)
            good_index += 1
            continue
        what, _, status = bad_kinds[kind]
        seen.add(what)
        assert not outcome.timed_out and outcome.status == status, f"{what}: {outcome}"
        # A body that is not {"error": "..."} becomes a message about decoding with details.
        assert outcome.error.debug_details() is None, f"{what}: {outcome.error.debug_details()}"
        assert isinstance(outcome.message, str) and outcome.message, what
    assert good_index == len(good) and seen == {what for what, _, _ in bad_kinds}

    # The error body itself, once each through a raw client.
    response = asyncio.run(_truncated_binary(server.url))
    assert response.status_code == 400 and "truncated" in response.json()["error"]
    response = httpx.post(server.http + f"/v2/models/{MODEL}/infer", content=b"x" * (
        MAX_BODY_BYTES + 1), timeout=REQUEST_TIMEOUT)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["error"], str)
    response = httpx.post(server.http + "/v2/models/no_such_model/infer",
                          json={"inputs": []}, timeout=REQUEST_TIMEOUT)
    assert response.status_code == 404 and "no_such_model" in response.json()["error"]

    client = httpclient.InferenceServerClient(server.url, network_timeout=REQUEST_TIMEOUT)
    try:
        assert client.is_server_ready() and client.is_model_ready(MODEL)
    finally:
        client.close()
    assert server.process.poll() is None
    samples = metric_samples(server)
    assert requests_counted(samples, "413") >= 6 and requests_counted(samples, "400") >= 25


def test_sigterm_during_load(vmfb, tmp_path):
    """SIGTERM when about 80 of 200 requests (concurrency 64) are answered.

    What is certain, and asserted: every 200 is IREE's answer; every other
    outcome is a 503 or a connection error, never a timeout; a request the
    client had its answer to before the signal got 200; a request sent after
    the signal did not get 200 (503, or a refused or closed connection);
    every request the server had begun handling before the signal (by the
    access log's start times) was answered 200, and the client got as many
    200s as the log shows (no admitted answer was lost); the process exits
    within SHUTDOWN_TIMEOUT, with code 0.

    Requests sent just before the signal may still be refused: the server
    had not read them yet (they sat in a socket when it stopped), which the
    protocol allows."""
    requests = request_rows(numpy.random.default_rng(99), 200)
    expected = reference_outputs(vmfb, requests)
    signal_after = 80
    with running_server(vmfb, tmp_path, "--max-wait=0.02") as server:
        signalled = {}

        def on_done(count: int) -> None:
            if count == signal_after:
                signalled["before"] = time.time()
                server.process.send_signal(signal.SIGTERM)
                signalled["after"] = time.time()

        outcomes = asyncio.run(run_load(server.url, [infer_call(x, index % 2 == 0)
                                                     for index, x in enumerate(requests)],
                                        on_done=on_done))
        try:
            returncode = server.process.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not exit within {SHUTDOWN_TIMEOUT} s of SIGTERM; "
                        f"stderr:\n{server.log()}")
        stopped = time.time() - signalled["before"]
        entries = access_log(server)
        log = server.log()

    before, after = signalled["before"], signalled["after"]
    answered = [outcome for outcome in outcomes if outcome.status == "200"]
    refused = [outcome for outcome in outcomes if outcome.status == "503"]
    disconnected = [outcome for outcome in outcomes if outcome.status is None]
    for outcome in outcomes:
        where = f"request {outcome.index} (sent {outcome.sent - before:+.3f} s from SIGTERM)"
        assert not outcome.timed_out, f"{where} hung: {outcome.error!r}"
        assert outcome.status in ("200", "503", None), f"{where}: {outcome}"
        if outcome.status == "200":
            assert_answer(outcome.result, requests[outcome.index], expected[outcome.index],
                          outcome.index % 2 == 0, where)
        else:
            assert outcome.done > before, f"{where} failed before the signal: {outcome}"
        if outcome.status is None:
            assert isinstance(outcome.error, aiohttp.ClientConnectionError), where
        if outcome.sent > after:
            assert outcome.status != "200", f"{where} was admitted after SIGTERM"
    assert len(answered) >= signal_after
    assert any(outcome.sent > after for outcome in outcomes), "nothing was sent after SIGTERM"
    assert len(answered) + len(refused) + len(disconnected) == len(requests)

    infer_path = f"/v2/models/{MODEL}/infer"
    logged = [entry for entry in entries if entry["path"] == infer_path]
    for entry in logged:
        start = entry["time"] - entry["duration_ms"] / 1e3
        if start < before - 0.002:  # the log's times are rounded to the millisecond
            assert entry["status"] == 200, f"admitted before SIGTERM but answered {entry}"
        assert entry["status"] in (200, 503), entry
    assert sum(entry["status"] == 200 for entry in logged) == len(answered)
    assert sum(entry["status"] == 503 for entry in logged) >= len(refused)
    assert "Traceback" not in log and "ERROR" not in log, log
    assert "Application shutdown complete" in log, log
    assert stopped < SHUTDOWN_TIMEOUT
    print(f"\nSIGTERM after {signal_after} answers: {len(answered)} answered, {len(refused)} "
          f"refused with 503, {len(disconnected)} connection errors; exit "
          f"{returncode} after {stopped:.2f} s")
    assert returncode == 0, log


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux's /proc), or [] where unknown."""
    try:
        return [int(child) for child in
                pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _metric_writers(worker_pids: list[int]) -> set[int] | None:
    """The workers that wrote counters to the multiprocess metrics directory
    (prometheus_client names the files ``counter_PID.db``), or None where the
    directory cannot be found."""
    for pid in worker_pids:
        try:
            environ = pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for variable in environ:
            if variable.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                directory = pathlib.Path(os.fsdecode(variable.split(b"=", 1)[1]))
                return {int(path.stem.rsplit("_", 1)[1]) for path in
                        directory.glob("counter_*.db")} & set(worker_pids)
    return None


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_two_workers(vmfb, tmp_path):
    """Two worker processes: every answer is IREE's; ``/metrics``, whichever
    worker answers it, counts the requests of both; SIGTERM to the
    supervisor ends both workers and exits 0."""
    requests = request_rows(numpy.random.default_rng(5), 240)
    expected = reference_outputs(vmfb, requests)
    concurrent = 120
    with running_server(vmfb, tmp_path, "--workers=2", "--max-wait=0.005") as server:
        def writers() -> set[int] | None:
            # The children are the workers and multiprocessing's resource tracker.
            return _metric_writers(_children(server.process.pid))

        # One request at a time, each on a connection of its own, until both
        # workers have answered some (which one accepts is the kernel's choice).
        sequential = 0
        while sequential < 20 or (sequential < len(requests) - concurrent
                                  and writers() is not None and len(writers()) < 2):
            x, binary = requests[sequential], sequential % 2 == 0
            client = httpclient.InferenceServerClient(server.url,
                                                      network_timeout=REQUEST_TIMEOUT)
            try:
                inputs, outputs = inference(x, binary)
                result = client.infer(MODEL, inputs, outputs=outputs)
            finally:
                client.close()
            assert_answer(result, x, expected[sequential], binary, f"request {sequential}")
            sequential += 1
            time.sleep(0.01)
        answered_by = writers()
        if answered_by is not None:  # the metrics directory was found (Linux)
            assert len(answered_by) == 2, f"after {sequential} requests only worker " \
                                          f"{answered_by} had answered"
        requests = requests[:sequential + concurrent]
        outcomes = asyncio.run(run_load(server.url, [
            infer_call(x, index % 2 == 0)
            for index, x in enumerate(requests[sequential:], sequential)], concurrency=16))
        for outcome in outcomes:
            index = outcome.index + sequential
            assert outcome.status == "200", f"request {index}: {outcome}"
            assert_answer(outcome.result, requests[index], expected[index], index % 2 == 0,
                          f"request {index}")

        # Both workers have answered requests; each /metrics, on a connection
        # of its own and answered by either worker, counts them all.
        labels = (("model", MODEL),)
        for _ in range(8):
            samples = metric_samples(server)
            assert requests_counted(samples, "200") == len(requests)
            assert samples["asyncvm_batch_requests_sum", labels] == len(requests)
            assert samples["asyncvm_batch_rows_sum", labels] == sum(map(len, requests))
        client = httpclient.InferenceServerClient(server.url, network_timeout=REQUEST_TIMEOUT)
        try:
            assert client.is_server_ready() and client.is_model_ready(MODEL)
        finally:
            client.close()

        workers = _children(server.process.pid)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            returncode = server.process.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"--workers 2 did not exit within {SHUTDOWN_TIMEOUT} s of SIGTERM; "
                        f"stderr:\n{server.log()}")
        stopped = time.monotonic() - started
        log = server.log()
        access_log(server)
        # The workers are joined by the supervisor; multiprocessing's resource
        # tracker ends once the supervisor's end of its pipe closes.
        deadline = time.monotonic() + 5
        while [pid for pid in workers if _alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)], "a child outlived the supervisor"
        with pytest.raises(httpx.TransportError):  # nothing listens any more
            httpx.get(server.http + "/v2/health/live", timeout=2)
    assert "Traceback" not in log and "ERROR" not in log, log
    assert log.count("Application shutdown complete") == 2, log
    print(f"\n--workers 2 stopped {stopped:.2f} s after SIGTERM")
    assert returncode == 0, log
