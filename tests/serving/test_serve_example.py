"""examples/serve.py, the HTTP service: started as README says (a real
uvicorn process), driven over HTTP from asyncio and from trio by many
concurrent clients. Every answer is compared with IREE's runtime running the
very .vmfb the service serves (``--save-vmfb``); bad requests get the
documented HTTP status and JSON error and do not disturb the good requests
running beside them. The application is also driven in-process (ASGI
``lifespan`` by hand, ``httpx.ASGITransport``) under both backends."""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib
import re
import signal
import subprocess
import sys
import time

import anyio
import numpy
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("iree.compiler")
pytest.importorskip("iree.runtime")

from _iree_reference import iree_tensor_results  # noqa: E402

pytestmark = pytest.mark.anyio

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVE = ROOT / "examples" / "serve.py"
STARTUP_TIMEOUT = 120.0  # seconds: compiling the model and starting uvicorn
SHUTDOWN_TIMEOUT = 15.0
READY_LINE = re.compile(r"^serving classify on (http://\S+)$", re.MULTILINE)
FEATURES = 16
CLASSES = 4


@dataclasses.dataclass
class RunningService:
    url: str
    vmfb: pathlib.Path  # exactly the program the service runs
    process: subprocess.Popen


def _wait_until_ready(process: subprocess.Popen, stdout: pathlib.Path,
                      stderr: pathlib.Path) -> str:
    """The service's URL once /health answers 200; fails the test with the
    service's stderr if it exits or is not ready within STARTUP_TIMEOUT."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve.py exited with {process.returncode} before it was ready; "
                        f"stderr:\n{stderr.read_text()}")
        match = READY_LINE.search(stdout.read_text())
        if match:
            try:
                if httpx.get(match.group(1) + "/health", timeout=5).status_code == 200:
                    return match.group(1)
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    pytest.fail(f"serve.py was not ready after {STARTUP_TIMEOUT} s; stdout:\n"
                f"{stdout.read_text()}\nstderr:\n{stderr.read_text()}")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """One service for the module, on a free port (``--port 0``; the ready
    line names it), batching with a slightly longer max_wait than the
    default so that batches form on a busy machine too. Terminated at the
    end with SIGTERM, which must shut it down gracefully (lifespan shutdown
    included) within SHUTDOWN_TIMEOUT."""
    directory = tmp_path_factory.mktemp("serve")
    stdout, stderr = directory / "stdout.txt", directory / "stderr.txt"
    vmfb = directory / "classify.vmfb"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(SERVE), "--port", "0", "--max-wait", "0.005",
             "--save-vmfb", str(vmfb)],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        url = _wait_until_ready(process, stdout, stderr)
        yield RunningService(url, vmfb, process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"serve.py did not stop within {SHUTDOWN_TIMEOUT} s of SIGTERM")
    log = stderr.read_text()
    # uvicorn re-raises the SIGTERM it handled once it has shut down.
    assert process.returncode in (0, -signal.SIGTERM) and "Traceback" not in log, \
        f"serve.py exited with {process.returncode}; stderr:\n{log}"
    assert "stopped serving classify: " in stdout.read_text(), "no graceful shutdown"


def request_rows(seed: int, rows: int) -> numpy.ndarray:
    """float32 rows; as JSON (``tolist()``) each number is an exact double."""
    generator = numpy.random.default_rng(seed)
    return generator.uniform(-3, 3, size=(rows, FEATURES)).astype(numpy.float32)


def assert_matches_iree(outputs: list, vmfb: pathlib.Path, x: numpy.ndarray) -> None:
    """The service's answer is IREE's, bit for bit: the outputs are exact
    float32 values, and the model computes each row on its own (the same
    rows with or without batching, as tests/test_batcher.py also requires)."""
    got = numpy.array(outputs, dtype=numpy.float64)
    assert got.shape == (len(x), CLASSES)
    numpy.testing.assert_array_equal(got, got.astype(numpy.float32))  # float32 values
    (expected,) = iree_tensor_results(vmfb, "classify", [x])
    numpy.testing.assert_array_equal(got.astype(numpy.float32), expected)


async def statistics(client) -> dict:
    response = await client.get("/health")
    assert response.status_code == 200
    document = response.json()
    assert document["status"] == "ok" and document["function"] == "classify"
    return document["batcher"]


async def test_concurrent_predictions_are_batched_and_match_iree(service):
    requests = [request_rows(seed, 1 + seed % 3) for seed in range(240)]
    answers: dict[int, httpx.Response] = {}
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=service.url, timeout=30, limits=limits) as client:
        before = await statistics(client)

        async def predict(index: int) -> None:
            answers[index] = await client.post(
                "/predict", json={"inputs": requests[index].tolist()})

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for index in range(len(requests)):
                    group.start_soon(predict, index)
        after = await statistics(client)

    for index, x in enumerate(requests):
        response = answers[index]
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert_matches_iree(response.json()["outputs"], service.vmfb, x)
    served = {name: after[name] - before[name] for name in ("requests", "batches", "rows")}
    assert served["requests"] == len(requests)
    assert served["rows"] == sum(len(x) for x in requests)
    assert 0 < served["batches"] < len(requests), f"nothing was batched: {served}"
    assert 1 < after["largest_batch"] <= after["max_batch_size"] == 32


def _row(value: float = 0.5) -> list:
    return [value] * FEATURES


BAD_REQUESTS = [
    # (method, path, body, HTTP status, IREE status name)
    ("POST", "/predict", b"this is not JSON", 400, "INVALID_ARGUMENT"),
    ("POST", "/predict", b"\xff\xfe", 400, "INVALID_ARGUMENT"),
    ("POST", "/predict", {"inputs": [[1.0] * (FEATURES - 1)]}, 400, "INVALID_ARGUMENT"),
    ("POST", "/predict", {"inputs": [_row(), [1.0] * (FEATURES + 1)]}, 400, "INVALID_ARGUMENT"),
    ("POST", "/predict", {"inputs": []}, 400, "INVALID_ARGUMENT"),
    ("POST", "/predict", {"inputs": [[]]}, 400, "INVALID_ARGUMENT"),
    ("POST", "/predict", {"inputs": _row()}, 400, "INVALID_ARGUMENT"),
    ("POST", "/predict", {"rows": [_row()]}, 400, "INVALID_ARGUMENT"),
    ("POST", "/predict", [_row()], 400, "INVALID_ARGUMENT"),
    ("POST", "/predict", {"inputs": [[True] + _row()[1:]]}, 400, "INVALID_ARGUMENT"),
    ("POST", "/predict", {"inputs": [["1"] + _row()[1:]]}, 400, "INVALID_ARGUMENT"),
    ("POST", "/predict", b'{"inputs": [[NaN' + b", 0" * (FEATURES - 1) + b"]]}",
     400, "INVALID_ARGUMENT"),
    ("POST", "/predict", {"inputs": [[1e39] + _row()[1:]]}, 400, "INVALID_ARGUMENT"),
    # More rows than max_batch_size: rejected by the Batcher (a VMError).
    ("POST", "/predict", {"inputs": [_row()] * 33}, 400, "INVALID_ARGUMENT"),
    # Finite inputs whose logits overflow float32.
    ("POST", "/predict", {"inputs": [[3e38, -3e38, 3e38, 3e38] + _row(0.0)[4:]]},
     400, "OUT_OF_RANGE"),
    # One byte over the limit: the server has read the whole body when it
    # answers, so closing the connection cannot reset it under the answer.
    ("POST", "/predict", b"[" * ((1 << 20) + 1), 413, "RESOURCE_EXHAUSTED"),
    ("GET", "/predict", None, 405, "UNIMPLEMENTED"),
    ("PUT", "/predict", {"inputs": [_row()]}, 405, "UNIMPLEMENTED"),
    ("POST", "/health", None, 405, "UNIMPLEMENTED"),
    ("GET", "/", None, 404, "NOT_FOUND"),
    ("POST", "/predict/", {"inputs": [_row()]}, 404, "NOT_FOUND"),
]


async def _send(client, method: str, path: str, body) -> httpx.Response:
    if isinstance(body, bytes):
        return await client.request(method, path, content=body)
    if body is None:
        return await client.request(method, path)
    return await client.request(method, path, json=body)


async def test_bad_requests_fail_alone(service):
    good = [request_rows(1000 + seed, 1 + seed % 3) for seed in range(60)]
    good_answers: dict[int, httpx.Response] = {}
    bad_answers: dict[int, httpx.Response] = {}
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        async def predict(index: int) -> None:
            good_answers[index] = await client.post("/predict",
                                                    json={"inputs": good[index].tolist()})

        async def misbehave(index: int) -> None:
            method, path, body, _, _ = BAD_REQUESTS[index]
            bad_answers[index] = await _send(client, method, path, body)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:  # interleaved
                for index in range(max(len(good), len(BAD_REQUESTS))):
                    if index < len(good):
                        group.start_soon(predict, index)
                    if index < len(BAD_REQUESTS):
                        group.start_soon(misbehave, index)

        for index, (method, path, body, status, status_name) in enumerate(BAD_REQUESTS):
            response = bad_answers[index]
            what = f"{method} {path} {str(body)[:60]}"
            assert response.status_code == status, f"{what}: {response.text}"
            assert response.headers["content-type"] == "application/json", what
            document = response.json()
            assert document["status"] == status_name, f"{what}: {document}"
            assert isinstance(document["error"], str) and document["error"], what
            if status == 405:
                assert response.headers["allow"] == ("GET" if path == "/health" else "POST")
        for index, x in enumerate(good):
            assert good_answers[index].status_code == 200, good_answers[index].text
            assert_matches_iree(good_answers[index].json()["outputs"], service.vmfb, x)

        # Still serving afterwards.
        x = request_rows(7, 3)
        response = await client.post("/predict", json={"inputs": x.tolist()})
        assert response.status_code == 200, response.text
        assert_matches_iree(response.json()["outputs"], service.vmfb, x)
        await statistics(client)
    assert service.process.poll() is None


# -- the application in-process ----------------------------------------------------------

def _load_serve_module():
    spec = importlib.util.spec_from_file_location("serve_example", SERVE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def serve_module():
    return _load_serve_module()


async def test_app_follows_the_lifespan_protocol(service, serve_module):
    """No web server: the app under this test's event loop (asyncio or
    trio), its lifespan driven by hand. Before startup and after shutdown the
    model is unavailable (503); in between it serves."""
    app = serve_module.create_app(service.vmfb.read_bytes(), max_batch_size=4, max_wait=0.01)
    to_app, app_receive = anyio.create_memory_object_stream(4)
    app_send, from_app = anyio.create_memory_object_stream(4)
    transport = httpx.ASGITransport(app=app)
    x = request_rows(11, 2)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        for path, method in (("/health", "GET"), ("/predict", "POST")):
            response = await client.request(method, path, json={"inputs": x.tolist()})
            assert response.status_code == 503
            assert response.json()["status"] in ("UNAVAILABLE", "unavailable")

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(app, {"type": "lifespan", "asgi": {"version": "3.0"}},
                                 app_receive.receive, app_send.send)
                await to_app.send({"type": "lifespan.startup"})
                assert (await from_app.receive())["type"] == "lifespan.startup.complete"

                answers = {}

                async def predict(seed: int) -> None:
                    answers[seed] = await client.post(
                        "/predict", json={"inputs": request_rows(seed, 1).tolist()})

                async with anyio.create_task_group() as requests:
                    for seed in range(12):
                        requests.start_soon(predict, seed)
                for seed, response in answers.items():
                    assert response.status_code == 200, response.text
                    assert_matches_iree(response.json()["outputs"], service.vmfb,
                                        request_rows(seed, 1))
                batcher = (await client.get("/health")).json()["batcher"]
                assert batcher["requests"] == 12 and batcher["largest_batch"] <= 4
                assert batcher["batches"] < 12, "nothing was batched"
                response = await client.post("/predict", json={"inputs": [_row()] * 5})
                assert response.status_code == 400
                assert response.json()["status"] == "INVALID_ARGUMENT"

                await to_app.send({"type": "lifespan.shutdown"})
                assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"
        assert (await client.get("/health")).status_code == 503
    await app.program.close()


def test_vm_error_status_mapping(serve_module):
    StatusCode = serve_module.StatusCode
    assert serve_module.http_status_for(StatusCode.INVALID_ARGUMENT) == 400
    assert serve_module.http_status_for(StatusCode.OUT_OF_RANGE) == 400
    assert serve_module.http_status_for(StatusCode.DEADLINE_EXCEEDED) == 504
    assert serve_module.http_status_for(StatusCode.UNAVAILABLE) == 503
    for status in (StatusCode.INTERNAL, StatusCode.FAILED_PRECONDITION, StatusCode.UNKNOWN,
                   StatusCode.CANCELLED, StatusCode.NOT_FOUND):
        assert serve_module.http_status_for(status) == 500
    error = serve_module.RequestError.from_vm_error(
        serve_module.VMError(StatusCode.DEADLINE_EXCEEDED, "too slow"))
    assert (error.http_status, error.status_name, error.message) == \
        (504, "DEADLINE_EXCEEDED", "too slow")
