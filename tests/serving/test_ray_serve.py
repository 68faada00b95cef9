"""asyncvm as a Ray Serve deployment (``asyncvm.serving.ray``), on one local
Ray instance (``num_cpus=2``) shared by the module's tests, 2 replicas:

* 200 concurrent requests through Ray's HTTP proxy with tritonclient, every
  answer IREE's, and both replicas served some;
* the same through a deployment handle from asyncio (``handle.infer``), with
  the model's refusals arriving as VMError;
* a replica killed (``ray.kill``) under load: every request ends in an answer
  or a clear error, none hangs, and the deployment answers again;
* a second ``.vmfb`` rolled in under load (``serve.run`` with the new file):
  no request fails, each answer is one version's, and the new one wins.

The clients are asyncio's (aiohttp, Ray's handles): these are sync tests
that run an asyncio client; Ray itself is the server. Ray's start-up takes
seconds, so the tests are few and the instance is shared.
"""

from __future__ import annotations

import asyncio
import pathlib
import socket
import time

import numpy
import pytest

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")
pytest.importorskip("iree.runtime")
pytest.importorskip("tritonclient.http")

import tritonclient.http as httpclient  # noqa: E402
import tritonclient.http.aio as aioclient  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from _batch_model import LLVM_CPU  # noqa: E402
from _iree_reference import iree_tensor_results  # noqa: E402
from asyncvm import StatusCode, VMError  # noqa: E402
from asyncvm.serving import ServeSettings  # noqa: E402
from asyncvm.serving.ray import deployment  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
APPLICATION = "asyncvm"
MODEL = "classify"
REQUEST_TIMEOUT = 30.0  # seconds any one request may take before the test calls it a hang
PROXY_TIMEOUT = 10.0  # Serve's request_timeout_s: what bounds a request Ray loses with a replica


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rows(seed: int, count: int) -> list[numpy.ndarray]:
    generator = numpy.random.default_rng(seed)
    return [generator.uniform(-2, 2, (int(generator.integers(1, 9)), 16)).astype(numpy.float32)
            for _ in range(count)]


def reference(vmfb: pathlib.Path, requests: list[numpy.ndarray]) -> list[numpy.ndarray]:
    (logits,) = iree_tensor_results(vmfb, MODEL, [numpy.concatenate(requests)])
    logits = numpy.array(logits, copy=True)  # IREE's array may not outlive its context
    return numpy.split(logits, numpy.cumsum([len(x) for x in requests])[:-1])


@pytest.fixture(scope="module")
def programs(compile_mlir) -> dict[str, pathlib.Path]:
    return {"first": compile_mlir(ROOT / "examples" / "serve_model.mlir", *LLVM_CPU),
            "doubled": compile_mlir(ROOT / "tests" / "programs" / "serve_classify_doubled.mlir",
                                    *LLVM_CPU)}


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance with Serve's HTTP proxy on a free port."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning",
             log_to_driver=False)
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port,
                                  "request_timeout_s": PROXY_TIMEOUT})
        yield f"127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def deploy(vmfb: pathlib.Path):
    """Two replicas of ``vmfb`` as the application; returns its handle once ready."""
    settings = ServeSettings(modules=[str(vmfb)], max_wait=0.005)
    return serve.run(deployment(settings, replicas=2, replica_cpus=0),
                     name=APPLICATION, route_prefix="/")


@pytest.fixture
def handle(cluster, programs):
    return deploy(programs["first"])


async def http_load(url: str, requests: list[numpy.ndarray], concurrency: int = 64,
                    during=None) -> list:
    """Each request's outcome (output array or the exception), sent
    ``concurrency`` at a time; ``during`` (a coroutine function) runs once
    the first answers are in."""
    client = aioclient.InferenceServerClient(url, conn_limit=concurrency)
    slots = asyncio.Semaphore(concurrency)
    answered = asyncio.Event()

    async def one(x):
        tensor = httpclient.InferInput("input0", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        async with slots:
            try:
                result = await asyncio.wait_for(client.infer(MODEL, [tensor]), REQUEST_TIMEOUT)
                answered.set()
                return result.as_numpy("output0")
            except (InferenceServerException, OSError, asyncio.TimeoutError) as error:
                return error
            except Exception as error:  # aiohttp's errors when a connection drops
                return error

    async def side():
        if during is not None:
            await answered.wait()
            await during()

    try:
        outcomes, _ = await asyncio.gather(asyncio.gather(*[one(x) for x in requests]), side())
        return outcomes
    finally:
        await client.close()


def replicas(handle) -> set[str]:
    async def ask():
        seen = set()
        for _ in range(40):
            seen.add((await handle.describe.remote())["replica"])
        return seen
    return asyncio.run(ask())


def test_http_with_tritonclient(handle, cluster, programs):
    requests = rows(1, 200)
    expected = reference(programs["first"], requests)
    metadata = httpclient.InferenceServerClient(cluster).get_model_metadata(MODEL)
    assert metadata["inputs"] == [{"name": "input0", "datatype": "FP32", "shape": [-1, 16]}]
    outcomes = asyncio.run(http_load(cluster, requests))
    for x, answer, want in zip(requests, outcomes, expected):
        assert isinstance(answer, numpy.ndarray), f"a request failed: {answer!r}"
        numpy.testing.assert_array_equal(answer, want)

    async def statistics():
        described = {}
        for _ in range(40):
            report = await handle.describe.remote()
            described[report["replica"]] = report["models"][MODEL]
        return described
    described = asyncio.run(statistics())
    assert len(described) == 2, "both replicas should answer"
    served = sum(entry["requests"] for entry in described.values())
    batches = sum(entry["batches"] for entry in described.values())
    assert served == 200 and 0 < batches < 200, described  # batched within replicas


def test_handle_from_asyncio(handle, programs):
    requests = rows(2, 200)
    expected = reference(programs["first"], requests)

    async def main():
        answers = await asyncio.gather(*[handle.infer.remote(MODEL, {"input0": x})
                                         for x in requests])
        for answer, want in zip(answers, expected):
            assert list(answer) == ["output0"]
            numpy.testing.assert_array_equal(answer["output0"], want)
        with pytest.raises(VMError) as caught:
            await handle.infer.remote("nope", {"input0": requests[0]})
        assert caught.value.status == StatusCode.NOT_FOUND and "nope" in str(caught.value)
        with pytest.raises(VMError) as caught:
            await handle.infer.remote(MODEL, {"input0": numpy.zeros((2, 15), numpy.float32)})
        assert caught.value.status == StatusCode.INVALID_ARGUMENT
        assert "[-1, 16]" in str(caught.value)
        # The replica that refused serves on.
        answer = await handle.infer.remote(MODEL, {"input0": requests[0]})
        numpy.testing.assert_array_equal(answer["output0"], expected[0])

    asyncio.run(main())


def test_replica_killed_under_load(handle, cluster, programs):
    victims = replicas(handle)
    assert len(victims) == 2
    victim = sorted(victims)[0]
    requests = rows(3, 300)
    expected = reference(programs["first"], requests)

    async def kill():
        ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=False)

    began = time.monotonic()
    outcomes = asyncio.run(http_load(cluster, requests, during=kill))
    assert time.monotonic() - began < REQUEST_TIMEOUT
    failures = []
    for answer, want in zip(outcomes, expected):
        if isinstance(answer, numpy.ndarray):
            numpy.testing.assert_array_equal(answer, want)
        else:
            assert not isinstance(answer, asyncio.TimeoutError), "a request hung"
            failures.append(answer)
    answered = len(outcomes) - len(failures)
    assert answered >= len(requests) // 2, f"only {answered} answered: {failures[:3]}"
    for failure in failures:
        # A clear error: Ray's proxy answers 500 for a request whose replica
        # died under it, 408 after request_timeout_s for one Ray lost track
        # of (its bodies are plain text, not the protocol's JSON), 503 while
        # no replica can take it; or the connection drops.
        if isinstance(failure, InferenceServerException):
            assert failure.status() in ("408", "500", "503"), failure
            assert failure.message(), failure

    # Ray replaces the replica; the deployment answers again, from two replicas.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = serve.status().applications[APPLICATION].status
        if status == "RUNNING" and len(replicas(handle)) == 2:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the deployment did not recover: {serve.status()}")
    again = rows(4, 20)
    outcomes = asyncio.run(http_load(cluster, again))
    for answer, want in zip(outcomes, reference(programs["first"], again)):
        numpy.testing.assert_array_equal(answer, want)


def test_rolling_in_a_second_program(handle, cluster, programs):
    """Requests keep flowing (32 at a time) from before ``serve.run`` of the
    second program until after it returns: none fails, each answer is one
    version's, both versions answer some, and afterwards only the new one."""
    requests = rows(5, 4000)
    first = reference(programs["first"], requests)
    sent: list[int] = []
    rolled = asyncio.Event()

    async def main():
        client = aioclient.InferenceServerClient(cluster, conn_limit=32)
        position = iter(range(len(requests)))
        outcomes = {}
        settle = None

        async def worker():
            while True:
                if settle is not None and asyncio.get_running_loop().time() > settle:
                    return
                index = next(position, None)
                if index is None:
                    return
                tensor = httpclient.InferInput("input0", list(requests[index].shape), "FP32")
                tensor.set_data_from_numpy(requests[index])
                try:
                    result = await asyncio.wait_for(client.infer(MODEL, [tensor]),
                                                    REQUEST_TIMEOUT)
                    outcomes[index] = result.as_numpy("output0")
                except Exception as error:  # noqa: BLE001 (any failure fails the test below)
                    outcomes[index] = error
                sent.append(index)

        async def roll():
            nonlocal settle
            while len(sent) < 50:
                await asyncio.sleep(0.01)
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: deploy(programs["doubled"]))
            rolled.set()
            settle = asyncio.get_running_loop().time() + 1.0  # and a second more of load

        try:
            await asyncio.gather(roll(), *[worker() for _ in range(32)])
        finally:
            await client.close()
        return outcomes

    outcomes = asyncio.run(main())
    assert rolled.is_set() and len(outcomes) < len(requests), "the load ended before the roll"
    versions = []
    for index in sent:
        answer = outcomes[index]
        assert isinstance(answer, numpy.ndarray), f"a request failed during the roll: {answer!r}"
        if numpy.array_equal(answer, requests[index][:, :4] * 2):
            versions.append(2)
        else:
            numpy.testing.assert_array_equal(answer, first[index])
            versions.append(1)
    assert versions[:50] == [1] * 50 and 2 in versions, versions
    after = rows(6, 10)
    outcomes = asyncio.run(http_load(cluster, after))
    for answer, x in zip(outcomes, after):
        numpy.testing.assert_array_equal(answer, x[:, :4] * 2)
