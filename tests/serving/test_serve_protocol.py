"""The Open Inference Protocol (KServe v2 REST) application of
:mod:`asyncvm.serving`, driven in-process: ``httpx.ASGITransport`` in front
of :func:`asyncvm.serving.create_application`, the ASGI lifespan run by hand
(the models' batchers start in it), under asyncio and trio.

The program is ``tests/programs/serve_functions.mlir`` (llvm-cpu): a batched
function, static shapes with two inputs and two outputs, scalars with
tensors, i32/i64 and booleans, a function that fails a check and one that
counts for as long as it is told to. Every numeric answer is compared, bit
for bit, with IREE's own runtime on the same ``.vmfb``. Models that are not
programs (:class:`asyncvm.serving.Model` subclasses) test deadlines, the
status mapping of failures and the model lifetime. The codec functions
(``decode_request``, ``encode_response``) are tested on their own at the end.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import time
import zlib

import anyio
import ml_dtypes
import numpy
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
prometheus_parser = pytest.importorskip("prometheus_client.parser")
pytest.importorskip("iree.compiler")
pytest.importorskip("iree.runtime")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import asyncvm  # noqa: E402
from asyncvm.serving import (Model, ProtocolError, TensorSpec, create_application,  # noqa: E402
                             decode_request, encode_response)
from asyncvm.vm import StatusCode, VMError  # noqa: E402

from _batch_model import LLVM_CPU  # noqa: E402
from _iree_reference import iree_tensor_results  # noqa: E402

pytestmark = pytest.mark.anyio

FUNCTIONS = ["rows", "pair", "scale", "offset", "wide", "choose", "strict", "spin"]
DTYPES = {"BOOL": numpy.dtype(numpy.bool_), "UINT8": numpy.dtype(numpy.uint8),
          "UINT16": numpy.dtype(numpy.uint16), "UINT32": numpy.dtype(numpy.uint32),
          "UINT64": numpy.dtype(numpy.uint64), "INT8": numpy.dtype(numpy.int8),
          "INT16": numpy.dtype(numpy.int16), "INT32": numpy.dtype(numpy.int32),
          "INT64": numpy.dtype(numpy.int64), "FP16": numpy.dtype(numpy.float16),
          "FP32": numpy.dtype(numpy.float32), "FP64": numpy.dtype(numpy.float64),
          "BF16": numpy.dtype(ml_dtypes.bfloat16)}
DATATYPES = {dtype: name for name, dtype in DTYPES.items()}
HEADER = "Inference-Header-Content-Length"
MAX_BODY = 64 << 10
RANDOM = numpy.random.default_rng(20240607)


# -- the program, the application and IREE ----------------------------------------------

@pytest.fixture(scope="module")
def vmfb(compile_mlir):
    return compile_mlir("serve_functions.mlir", *LLVM_CPU)


@pytest.fixture
def program(vmfb):
    return asyncvm.load(vmfb)


@contextlib.asynccontextmanager
async def serving(app, *, start: bool = True):
    """A client of ``app`` (no server: ``httpx.ASGITransport``), with the
    app's ASGI lifespan driven by hand: started here (unless ``start`` is
    false: then the caller awaits ``client.startup()``) and shut down,
    checked, at the end."""
    to_app, app_receive = anyio.create_memory_object_stream(4)
    app_send, from_app = anyio.create_memory_object_stream(4)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app", timeout=60) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(app, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                             app_receive.receive, app_send.send)

            async def startup() -> None:
                await to_app.send({"type": "lifespan.startup"})
                message = await from_app.receive()
                assert message["type"] == "lifespan.startup.complete", message

            client.startup = startup
            if start:
                await startup()
            try:
                with anyio.fail_after(60):
                    yield client
            finally:
                with anyio.fail_after(30):
                    await to_app.send({"type": "lifespan.shutdown"})
                    message = await from_app.receive()
                assert message["type"] == "lifespan.shutdown.complete", message


def reference(vmfb, function: str, *arguments) -> list[numpy.ndarray]:
    """IREE's results (numpy arrays) of one call in a fresh context."""
    return iree_tensor_results(vmfb, function, list(arguments))


def assert_identical(got: numpy.ndarray, want: numpy.ndarray, what: str = "") -> None:
    """Same dtype, shape and bits (0.0 and -0.0 differ; NaNs with the same payload agree)."""
    want = numpy.asarray(want)
    assert got.dtype == want.dtype, f"{what}: {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: {got.shape} != {want.shape}"
    assert got.tobytes() == want.tobytes(), f"{what}:\n{got!r}\n!=\n{want!r}"


def json_input(name: str, array, datatype: str | None = None) -> dict:
    array = numpy.asarray(array)
    return {"name": name, "datatype": datatype or DATATYPES[array.dtype],
            "shape": list(array.shape), "data": array.reshape(-1).tolist()}


def binary_body(entries: list, *, pad: int = 0, **fields) -> tuple[bytes, dict]:
    """A binary-extension body: ``entries`` are ``(name, array)`` (sent in
    binary) or ready JSON input objects; ``pad`` spaces after the JSON move
    the binary data off alignment."""
    inputs, chunks = [], []
    for entry in entries:
        if isinstance(entry, dict):
            inputs.append(entry)
            continue
        name, array = entry
        data = numpy.ascontiguousarray(array).tobytes()
        inputs.append({"name": name, "datatype": DATATYPES[array.dtype],
                       "shape": list(array.shape), "parameters": {"binary_data_size": len(data)}})
        chunks.append(data)
    header = json.dumps({"inputs": inputs, **fields}).encode() + b" " * pad
    return header + b"".join(chunks), {HEADER: str(len(header))}


def parse_response(response: httpx.Response) -> tuple[dict, dict[str, numpy.ndarray]]:
    """The response's JSON document and its outputs as arrays, read
    independently of the server's codec: JSON ``data`` must hold exactly
    representable values of the datatype, binary data exactly its size."""
    assert response.status_code == 200, response.text
    body = response.content
    length = response.headers.get(HEADER)
    if length is None:
        assert response.headers["content-type"] == "application/json"
        end = len(body)
    else:
        assert response.headers["content-type"] == "application/octet-stream"
        end = int(length)
    document = json.loads(body[:end])
    offset = end
    arrays = {}
    for entry in document["outputs"]:
        dtype = DTYPES[entry["datatype"]]
        shape = tuple(entry["shape"])
        size = entry.get("parameters", {}).get("binary_data_size")
        if size is None:
            data = entry["data"]
            assert isinstance(data, list) and len(data) == math.prod(shape), entry
            if dtype == numpy.bool_:
                assert all(isinstance(v, bool) for v in data), data
                array = numpy.array(data, dtype)
            elif dtype.kind in "iu":
                assert all(isinstance(v, int) and not isinstance(v, bool) for v in data), data
                array = numpy.array(data, dtype)
                assert array.tolist() == data  # no value wrapped
            else:
                wide = numpy.array(data, numpy.float64)
                array = wide.astype(dtype)
                numpy.testing.assert_array_equal(array.astype(numpy.float64), wide)  # exact
            arrays[entry["name"]] = array.reshape(shape)
        else:
            assert "data" not in entry
            assert size == math.prod(shape) * dtype.itemsize
            arrays[entry["name"]] = numpy.frombuffer(body, dtype, math.prod(shape),
                                                     offset).reshape(shape)
            offset += size
    assert offset == len(body), "the response has bytes no output claims"
    return document, arrays


async def infer(client, model: str, inputs: list, **fields) -> httpx.Response:
    return await client.post(f"/v2/models/{model}/infer", json={"inputs": inputs, **fields})


def rows_input(seed: int, count: int) -> numpy.ndarray:
    return numpy.random.default_rng(seed).uniform(-3, 3, (count, 8)).astype(numpy.float32)


def assert_error(response: httpx.Response, status: int, *fragments: str) -> str:
    """The response is the protocol's JSON error with ``status``; returns the message."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert list(document) == ["error"], document
    message = document["error"]
    assert isinstance(message, str) and message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


async def assert_still_serving(client, vmfb) -> None:
    assert (await client.get("/v2/health/ready")).status_code == 200
    x = rows_input(99, 2)
    _, outputs = parse_response(await infer(client, "rows", [json_input("input0", x)]))
    assert_identical(outputs["output0"], reference(vmfb, "rows", x)[0], "rows after")


def metric_values(text: str) -> dict[tuple, float]:
    """``{(sample name, ((label, value), ...)): value}`` of a text exposition."""
    values = {}
    for family in prometheus_parser.text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return values


# -- health, metadata, versions, repository --------------------------------------------

EXPECTED_METADATA = {
    "rows": ([("FP32", [-1, 8])], [("FP32", [-1, 4])]),
    "pair": ([("FP32", [2, 3]), ("FP32", [2, 3])], [("FP32", [2, 3]), ("FP32", [2, 3])]),
    "scale": ([("FP32", []), ("FP32", [4])], [("FP32", [4])]),
    "offset": ([("INT32", []), ("INT32", [-1])], [("INT32", [-1])]),
    "wide": ([("INT64", [-1, 2])], [("INT64", [-1, 2])]),
    "choose": ([("BOOL", [5]), ("FP32", [5])], [("FP32", [5]), ("BOOL", [5])]),
    "strict": ([("FP32", [4])], [("FP32", [4])]),
    "spin": ([("INT32", [])], [("INT32", [])]),
}


async def test_health_metadata_versions_and_repository(program, vmfb):
    app = create_application(program, max_batch_size=8, max_wait=0.001)
    state = app.state.server
    assert sorted(state.models) == sorted(FUNCTIONS)
    assert {name for name, model in state.models.items() if model.max_batch_size} == \
        {"rows", "wide"}
    async with serving(app, start=False) as client:
        # Before the lifespan's start-up: alive, not ready.
        response = await client.get("/v2/health/live")
        assert (response.status_code, response.json()) == (200, {"live": True})
        response = await client.get("/v2/health/ready")
        assert (response.status_code, response.json()) == (503, {"ready": False})
        response = await client.get("/v2/models/rows/ready")
        assert (response.status_code, response.json()) == (503, {"name": "rows", "ready": False})
        index = (await client.post("/v2/repository/index")).json()
        assert {entry["state"] for entry in index} == {"UNAVAILABLE"}
        assert state.models["rows"].batcher is None
        x0 = rows_input(1, 1)
        assert_error(await infer(client, "rows", [json_input("input0", x0)]), 503, "not ready")

        await client.startup()
        assert state.models["rows"].batcher is not None
        response = await client.get("/v2/health/ready")
        assert (response.status_code, response.json()) == (200, {"ready": True})
        assert (await client.get("/v2/health/live")).status_code == 200

        server = (await client.get("/v2")).json()
        assert server["name"] == "asyncvm" and isinstance(server["version"], str)
        assert {"binary_tensor_data", "model_repository"} <= set(server["extensions"])

        for name, (inputs, outputs) in EXPECTED_METADATA.items():
            response = await client.get(f"/v2/models/{name}")
            assert response.status_code == 200, response.text
            metadata = response.json()
            assert metadata == {
                "name": name, "versions": ["1"], "platform": "asyncvm",
                "inputs": [{"name": f"input{i}", "datatype": datatype, "shape": shape}
                           for i, (datatype, shape) in enumerate(inputs)],
                "outputs": [{"name": f"output{i}", "datatype": datatype, "shape": shape}
                            for i, (datatype, shape) in enumerate(outputs)]}
            versioned = await client.get(f"/v2/models/{name}/versions/1")
            assert (versioned.status_code, versioned.json()) == (200, metadata)
            ready = await client.get(f"/v2/models/{name}/versions/1/ready")
            assert (ready.status_code, ready.json()) == (200, {"name": name, "ready": True})

        assert_error(await client.get("/v2/models/rows/versions/2"), 404, "rows", "'2'")
        assert_error(await client.get("/v2/models/rows/versions/2/ready"), 404, "'2'")
        assert_error(await client.get("/v2/models/nope"), 404, "unknown model 'nope'", "rows")
        assert_error(await client.get("/v2/models/nope/ready"), 404, "nope")

        # Inference at the versioned path; version 2 does not exist.
        x = rows_input(1, 3)
        response = await client.post("/v2/models/rows/versions/1/infer",
                                     json={"inputs": [json_input("input0", x)]})
        document, outputs = parse_response(response)
        assert (document["model_name"], document["model_version"]) == ("rows", "1")
        assert_identical(outputs["output0"], reference(vmfb, "rows", x)[0])
        assert_error(await client.post("/v2/models/rows/versions/2/infer",
                                       json={"inputs": [json_input("input0", x)]}), 404, "'2'")

        for method in ("POST", "GET"):
            response = await client.request(method, "/v2/repository/index")
            assert response.status_code == 200
            assert sorted(response.json(), key=lambda entry: entry["name"]) == [
                {"name": name, "version": "1", "state": "READY"} for name in sorted(FUNCTIONS)]

        # Shutdown begins: not ready, new inference refused; alive still.
        state.begin_shutdown()
        response = await client.get("/v2/health/ready")
        assert (response.status_code, response.json()) == (503, {"ready": False})
        assert (await client.get("/v2/models/rows/ready")).status_code == 503
        assert (await client.get("/v2/health/live")).status_code == 200
        assert_error(await infer(client, "rows", [json_input("input0", x)]), 503, "shutting down")
        assert_error(await infer(client, "pair", []), 503, "shutting down")
        index = (await client.get("/v2/repository/index")).json()
        assert {entry["state"] for entry in index} == {"UNAVAILABLE"}
    assert state.models["rows"].batcher is None  # the lifespan's shutdown stopped it
    assert not state.ready


# -- inference ----------------------------------------------------------------------------

async def test_json_inference_of_every_function_matches_iree(program, vmfb):
    x2 = numpy.arange(6, dtype=numpy.float32).reshape(2, 3) / 3
    cases = {
        "rows": [rows_input(2, 5)],
        "pair": [x2, numpy.full((2, 3), 0.7, numpy.float32) - x2],
        "scale": [numpy.float32(1.7), RANDOM.standard_normal(4).astype(numpy.float32)],
        "offset": [numpy.int32(-7), numpy.array([1, 2**31 - 1, -3, -2**31], numpy.int32)],
        "wide": [numpy.array([[1, 2**62], [-5, 7], [-2**63, 2**63 - 1]], numpy.int64)],
        "choose": [numpy.array([True, False, True, False, True]),
                   numpy.array([1.5, -2, 3, -0.0, 0.1], numpy.float32)],
        "strict": [numpy.array([0.0, -1, 2.5, 1e30], numpy.float32)],
    }
    app = create_application(program, max_batch_size=8, max_wait=0.001)
    async with serving(app) as client:
        for name, arguments in cases.items():
            request = [json_input(f"input{i}", a) for i, a in enumerate(arguments)]
            document, outputs = parse_response(await infer(client, name, request))
            assert document["model_name"] == name and "id" not in document
            # Scalars go to IREE as Python numbers (as the server passes them).
            expected = reference(vmfb, name, *[a.item() if a.ndim == 0 else a for a in arguments])
            assert list(outputs) == [f"output{i}" for i in range(len(expected))]
            for i, want in enumerate(expected):
                assert_identical(outputs[f"output{i}"], want, f"{name} output{i}")
            # A scalar may also come as shape [1].
            if name == "scale":
                request[0] = {**request[0], "shape": [1]}
                _, again = parse_response(await infer(client, name, request))
                assert_identical(again["output0"], expected[0], "scale with shape [1]")

        # A scalar result: shape [] (IREE gives a Python int).
        document, outputs = parse_response(await infer(client, "spin", [json_input(
            "input0", numpy.int32(1000))]))
        assert document["outputs"] == [{"name": "output0", "datatype": "INT32", "shape": [],
                                        "data": [1000]}]
        assert int(reference(vmfb, "spin", 1000)[0]) == 1000

        # The batched i64 function, a row at a time and several rows.
        for count in (1, 4):
            x = RANDOM.integers(-2**40, 2**40, (count, 2), dtype=numpy.int64)
            _, outputs = parse_response(await infer(client, "wide", [json_input("input0", x)]))
            assert_identical(outputs["output0"], reference(vmfb, "wide", x)[0])


async def test_binary_tensor_data_in_and_out(program, vmfb):
    a = RANDOM.standard_normal((2, 3)).astype(numpy.float32)
    b = RANDOM.standard_normal((2, 3)).astype(numpy.float32)
    want_sum, want_product = reference(vmfb, "pair", a, b)
    app = create_application(program, max_batch_size=8, max_wait=0.001)
    async with serving(app) as client:
        async def post(model: str, body: bytes, headers: dict) -> httpx.Response:
            return await client.post(f"/v2/models/{model}/infer", content=body, headers=headers)

        # Binary inputs (the data off 4-byte alignment too), JSON outputs.
        for pad in (0, 1, 3):
            body, headers = binary_body([("input0", a), ("input1", b)], pad=pad, id="req-7")
            document, outputs = parse_response(await post("pair", body, headers))
            assert document["id"] == "req-7"
            assert all("data" in entry for entry in document["outputs"])
            assert_identical(outputs["output0"], want_sum)
            assert_identical(outputs["output1"], want_product)

        # One input in binary, one in JSON, in either order.
        for entries in ([("input0", a), json_input("input1", b)],
                        [json_input("input0", a), ("input1", b)]):
            body, headers = binary_body(entries)
            _, outputs = parse_response(await post("pair", body, headers))
            assert_identical(outputs["output0"], want_sum)

        # Every output in binary (parameters.binary_data_output).
        body, headers = binary_body([("input0", a), ("input1", b)],
                                    parameters={"binary_data_output": True})
        response = await post("pair", body, headers)
        document, outputs = parse_response(response)
        assert [entry["parameters"] for entry in document["outputs"]] == \
            [{"binary_data_size": 24}, {"binary_data_size": 24}]
        assert int(response.headers[HEADER]) + 48 == len(response.content)
        assert_identical(outputs["output0"], want_sum)
        assert_identical(outputs["output1"], want_product)

        # Per output: binary_data decides over the request's default.
        request = {"inputs": [json_input("input0", a), json_input("input1", b)],
                   "parameters": {"binary_data_output": True},
                   "outputs": [{"name": "output1", "parameters": {"binary_data": False}},
                               {"name": "output0"}]}
        document, outputs = parse_response(await client.post("/v2/models/pair/infer",
                                                             json=request))
        assert [entry["name"] for entry in document["outputs"]] == ["output1", "output0"]
        assert "data" in document["outputs"][0] and "data" not in document["outputs"][1]
        assert_identical(outputs["output0"], want_sum)
        assert_identical(outputs["output1"], want_product)

        # A subset of the outputs; JSON unless asked.
        request = {"inputs": [json_input("input0", a), json_input("input1", b)], "id": "x",
                   "outputs": [{"name": "output1"}]}
        document, outputs = parse_response(await client.post("/v2/models/pair/infer",
                                                             json=request))
        assert list(outputs) == ["output1"] and document["id"] == "x"
        assert_identical(outputs["output1"], want_product)
        request["outputs"] = [{"name": "output0", "parameters": {"binary_data": True}}]
        response = await client.post("/v2/models/pair/infer", json=request)
        _, outputs = parse_response(response)
        assert list(outputs) == ["output0"] and HEADER in response.headers
        assert_identical(outputs["output0"], want_sum)

        # Booleans in binary both ways; a batched function in binary.
        mask = numpy.array([True, True, False, False, True])
        x = numpy.array([-1.0, 2, -3, 4, float("nan")], numpy.float32)
        body, headers = binary_body([("input0", mask), ("input1", x)],
                                    parameters={"binary_data_output": True})
        _, outputs = parse_response(await post("choose", body, headers))
        for got, want in zip(outputs.values(), reference(vmfb, "choose", mask, x)):
            assert_identical(got, want, "choose")
        rows = rows_input(5, 6)
        body, headers = binary_body([("input0", rows)], pad=1,
                                    parameters={"binary_data_output": True})
        _, outputs = parse_response(await post("rows", body, headers))
        assert_identical(outputs["output0"], reference(vmfb, "rows", rows)[0])

        # A scalar in binary: shape [] takes one element's bytes.
        body, headers = binary_body([("input0", numpy.array(2, numpy.int32)),
                                     ("input1", numpy.arange(5, dtype=numpy.int32))])
        _, outputs = parse_response(await post("offset", body, headers))
        assert_identical(outputs["output0"],
                         reference(vmfb, "offset", 2, numpy.arange(5, dtype=numpy.int32))[0])


async def test_compressed_request_bodies(program, vmfb):
    x = rows_input(8, 3)
    want = reference(vmfb, "rows", x)[0]
    request = json.dumps({"inputs": [json_input("input0", x)], "id": "zipped"}).encode()
    binary, binary_headers = binary_body([("input0", x)])
    app = create_application(program, max_batch_size=8, max_wait=0.001)
    async with serving(app) as client:
        async def post(body: bytes, **headers) -> httpx.Response:
            return await client.post("/v2/models/rows/infer", content=body, headers=headers)

        for encoding, compress in (("gzip", gzip.compress), ("deflate", zlib.compress),
                                   ("GZip", gzip.compress), ("identity", bytes)):
            document, outputs = parse_response(
                await post(compress(request), **{"Content-Encoding": encoding}))
            assert document["id"] == "zipped", encoding
            assert_identical(outputs["output0"], want, encoding)
        # The JSON length counts decompressed bytes.
        _, outputs = parse_response(await post(gzip.compress(binary), **binary_headers,
                                               **{"Content-Encoding": "gzip"}))
        assert_identical(outputs["output0"], want)

        assert_error(await post(request, **{"Content-Encoding": "br"}), 400, "'br'")
        assert_error(await post(b"not gzip at all", **{"Content-Encoding": "gzip"}), 400,
                     "gzip", "decompress")
        assert_error(await post(zlib.compress(request), **{"Content-Encoding": "gzip"}), 400,
                     "gzip")
        # Cut short (the gzip trailer missing): the whole JSON came out, unchecked.
        assert_error(await post(gzip.compress(request)[:-8], **{"Content-Encoding": "gzip"}),
                     400, "truncated")
        assert_error(await post(zlib.compress(request)[:-20], **{"Content-Encoding": "deflate"}),
                     400)
        await assert_still_serving(client, vmfb)


async def test_concurrent_requests_are_batched_and_match_iree(program, vmfb):
    requests = [rows_input(1000 + index, 1 + index % 8) for index in range(100)]
    answers: dict[int, httpx.Response] = {}
    app = create_application(program, max_batch_size=16, max_wait=0.005)
    model = app.state.server.models["rows"]
    async with serving(app) as client:
        batcher = model.batcher
        limiter = anyio.Semaphore(32)

        async def send(index: int) -> None:
            async with limiter:
                x = requests[index]
                if index % 2:
                    answers[index] = await infer(client, "rows", [json_input("input0", x)])
                else:
                    body, headers = binary_body([("input0", x)], pad=index % 4,
                                                parameters={"binary_data_output": index % 4 == 0})
                    answers[index] = await client.post("/v2/models/rows/infer", content=body,
                                                       headers=headers)

        async with anyio.create_task_group() as group:
            for index in range(len(requests)):
                group.start_soon(send, index)
        metrics = metric_values((await client.get("/metrics")).text)

    for index, x in enumerate(requests):
        _, outputs = parse_response(answers[index])
        assert_identical(outputs["output0"], reference(vmfb, "rows", x)[0], f"request {index}")
    statistics = batcher.statistics
    rows = sum(len(x) for x in requests)
    assert statistics.requests == 100 and statistics.rows == rows
    assert statistics.largest_batch <= 16
    assert statistics.batches < 100, "nothing was batched"
    label = (("model", "rows"),)
    assert metrics["asyncvm_batch_requests_sum", label] == 100
    assert metrics["asyncvm_batch_requests_count", label] == statistics.batches
    assert metrics["asyncvm_batch_rows_sum", label] == rows
    assert metrics["asyncvm_batch_rows_count", label] == statistics.batches
    assert metrics["asyncvm_inference_requests_total", (("code", "200"), ("model", "rows"))] \
        == 100
    assert metrics["asyncvm_queue_depth", label] == 0


# -- bad requests ---------------------------------------------------------------------------

def _rows(count: int = 1, columns: int = 8) -> dict:
    return json_input("input0", numpy.ones((count, columns), numpy.float32))


def _json(inputs, **fields) -> bytes:
    return json.dumps({"inputs": inputs, **fields}).encode()


_GOOD_PAIR = [json_input("input0", numpy.ones((2, 3), numpy.float32)),
              json_input("input1", numpy.ones((2, 3), numpy.float32))]
_TRUNCATED, _TRUNCATED_HEADERS = binary_body([("input0", numpy.ones((2, 8), numpy.float32))])
_EXTRA, _EXTRA_HEADERS = binary_body([("input0", numpy.ones((2, 8), numpy.float32))])
_BOMB = gzip.compress(b" " * (4 * MAX_BODY) + _json([_rows()]))

BAD_REQUESTS = [
    # (what, method, path, body, headers, status, fragments of the error)
    ("wrong shape", "POST", "/v2/models/rows/infer", _json([_rows(2, 7)]), {}, 400,
     ["input0", "[2, 7]", "[-1, 8]"]),
    ("wrong rank", "POST", "/v2/models/rows/infer", _json([json_input(
        "input0", numpy.ones(8, numpy.float32))]), {}, 400, ["shape [8]"]),
    ("static shape", "POST", "/v2/models/pair/infer", _json([_GOOD_PAIR[0], json_input(
        "input1", numpy.ones((3, 2), numpy.float32))]), {}, 400, ["input1", "[3, 2]"]),
    ("wrong datatype", "POST", "/v2/models/rows/infer", _json([json_input(
        "input0", numpy.ones((1, 8)))]), {}, 400, ["input0", "FP64", "FP32"]),
    ("int for float", "POST", "/v2/models/offset/infer", _json([json_input(
        "input0", numpy.int64(1)), json_input("input1", numpy.ones(2, numpy.int32))]), {},
     400, ["input0", "INT64", "INT32"]),
    ("scalar of two", "POST", "/v2/models/scale/infer", _json([json_input(
        "input0", numpy.ones(2, numpy.float32)), json_input(
        "input1", numpy.ones(4, numpy.float32))]), {}, 400, ["input0", "scalar"]),
    ("missing input", "POST", "/v2/models/pair/infer", _json(_GOOD_PAIR[:1]), {}, 400,
     ["takes inputs [input0, input1]", "got [input0]"]),
    ("extra input", "POST", "/v2/models/rows/infer", _json([_rows(), {
        **_rows(), "name": "input1"}]), {}, 400, ["takes inputs [input0]"]),
    ("misnamed input", "POST", "/v2/models/rows/infer", _json([{**_rows(), "name": "x"}]), {},
     400, ["got [x]"]),
    ("duplicate input", "POST", "/v2/models/pair/infer", _json([_GOOD_PAIR[0]] * 2), {}, 400,
     ["given twice"]),
    ("no inputs", "POST", "/v2/models/rows/infer", _json([]), {}, 400, ["'inputs'"]),
    ("unknown model", "POST", "/v2/models/nope/infer", _json([_rows()]), {}, 404,
     ["unknown model 'nope'"]),
    ("unknown path", "GET", "/v2/nothing/here", None, {}, 404, ["/v2/nothing/here"]),
    ("unknown path POST", "POST", "/v3/models/rows/infer", _json([_rows()]), {}, 404,
     ["no such path"]),
    ("GET infer", "GET", "/v2/models/rows/infer", None, {}, 405, ["GET", "not allowed"]),
    ("POST metadata", "POST", "/v2/models/rows", _json([_rows()]), {}, 405, ["POST"]),
    ("PUT ready", "PUT", "/v2/health/ready", b"", {}, 405, ["PUT"]),
    ("truncated binary", "POST", "/v2/models/rows/infer", _TRUNCATED[:-5],
     _TRUNCATED_HEADERS, 400, ["truncated", "5 bytes"]),
    ("leftover bytes", "POST", "/v2/models/rows/infer", _EXTRA + b"\0\0\0", _EXTRA_HEADERS,
     400, ["3 bytes", "unclaimed"]),
    ("header length past the body", "POST", "/v2/models/rows/infer", _json([_rows()]),
     {HEADER: "100000"}, 400, ["Inference-Header-Content-Length"]),
    ("header length not a number", "POST", "/v2/models/rows/infer", _json([_rows()]),
     {HEADER: "ten"}, 400, ["'ten'"]),
    ("binary size mismatch", "POST", "/v2/models/rows/infer", _json([{
        **{k: v for k, v in _rows().items() if k != "data"},
        "parameters": {"binary_data_size": 31}}]) + bytes(31), {HEADER: str(len(_json([{
            **{k: v for k, v in _rows().items() if k != "data"},
            "parameters": {"binary_data_size": 31}}])))}, 400, ["binary_data_size is 31",
                                                                 "needs 32"]),
    ("bad JSON", "POST", "/v2/models/rows/infer", b'{"inputs": [', {}, 400,
     ["not valid JSON"]),
    ("not UTF-8", "POST", "/v2/models/rows/infer", b"\xff\xfe\xfd", {}, 400,
     ["not valid JSON"]),
    ("deeply nested JSON", "POST", "/v2/models/rows/infer", b"[" * 20_000, {}, 400,
     ["not valid JSON"]),
    ("not an object", "POST", "/v2/models/rows/infer", b"[1, 2]", {}, 400, ["JSON object"]),
    ("BYTES", "POST", "/v2/models/rows/infer", _json([{
        "name": "input0", "datatype": "BYTES", "shape": [1], "data": ["abc"]}]), {}, 400,
     ["'BYTES'", "not supported"]),
    ("unknown datatype", "POST", "/v2/models/rows/infer", _json([{**_rows(),
                                                                  "datatype": "FP8"}]),
     {}, 400, ["'FP8'"]),
    ("too few elements", "POST", "/v2/models/rows/infer", _json([{
        **_rows(2), "data": [1.0] * 15}]), {}, 400, ["15 elements", "needs 16"]),
    ("too many elements", "POST", "/v2/models/pair/infer", _json([_GOOD_PAIR[0], {
        **_GOOD_PAIR[1], "data": [1.0] * 7}]), {}, 400, ["7 elements"]),
    ("strings for FP32", "POST", "/v2/models/rows/infer", _json([{
        **_rows(), "data": ["1.5"] * 8}]), {}, 400, ["expected numbers"]),
    ("null for FP32", "POST", "/v2/models/rows/infer", _json([{
        **_rows(), "data": [None] * 8}]), {}, 400, ["expected numbers"]),
    ("out of range INT32", "POST", "/v2/models/offset/infer", _json([json_input(
        "input0", numpy.int32(0)), {"name": "input1", "datatype": "INT32", "shape": [2],
                                    "data": [1, 2**31]}]), {}, 400, ["out of range"]),
    ("fraction for INT64", "POST", "/v2/models/wide/infer", _json([{
        "name": "input0", "datatype": "INT64", "shape": [1, 2], "data": [1, 2.5]}]), {}, 400,
     ["fractional"]),
    ("numbers for BOOL", "POST", "/v2/models/choose/infer", _json([{
        "name": "input0", "datatype": "BOOL", "shape": [5], "data": [1, 0, 1, 0, 1]},
        json_input("input1", numpy.ones(5, numpy.float32))]), {}, 400, ["true or false"]),
    ("negative dimension", "POST", "/v2/models/rows/infer", _json([{**_rows(),
                                                                    "shape": [-1, 8]}]),
     {}, 400, ["shape"]),
    ("more rows than a batch", "POST", "/v2/models/rows/infer", _json([_rows(17)]), {}, 400,
     ["INVALID_ARGUMENT"]),
    ("no rows", "POST", "/v2/models/rows/infer", _json([{**_rows(), "shape": [0, 8],
                                                         "data": []}]), {}, 400,
     ["INVALID_ARGUMENT"]),
    ("unknown output", "POST", "/v2/models/rows/infer", _json([_rows()],
                                                              outputs=[{"name": "logits"}]),
     {}, 400, ["no output 'logits'", "output0"]),
    ("bad timeout", "POST", "/v2/models/rows/infer", _json([_rows()],
                                                           parameters={"timeout": -5}),
     {}, 400, ["parameters.timeout"]),
    ("unknown encoding", "POST", "/v2/models/rows/infer", _json([_rows()]),
     {"Content-Encoding": "zstd"}, 400, ["zstd"]),
    ("oversized", "POST", "/v2/models/rows/infer", b" " * (MAX_BODY + 1) + _json([_rows()]),
     {}, 413, [str(MAX_BODY)]),
    ("gzip bomb", "POST", "/v2/models/rows/infer", _BOMB, {"Content-Encoding": "gzip"}, 413,
     ["decompressed", str(MAX_BODY)]),
    ("failing check", "POST", "/v2/models/strict/infer", _json([json_input(
        "input0", numpy.array([-1, 2, 3, 4], numpy.float32))]), {}, 500,
     ["strict: FAILED_PRECONDITION", "the first element is negative"]),
]


async def test_bad_requests_fail_alone_with_their_status(program, vmfb):
    good = [rows_input(2000 + index, 1 + index % 4) for index in range(40)]
    good_strict = [numpy.array([index, -1, 2, 3], numpy.float32) for index in range(10)]
    answers: dict[str, httpx.Response] = {}
    app = create_application(program, max_batch_size=16, max_wait=0.002,
                             max_body_bytes=MAX_BODY)
    async with serving(app) as client:
        async def good_rows(index: int) -> None:
            answers[f"rows {index}"] = await infer(client, "rows",
                                                   [json_input("input0", good[index])])

        async def good_check(index: int) -> None:
            answers[f"strict {index}"] = await infer(client, "strict",
                                                     [json_input("input0", good_strict[index])])

        async def bad(index: int) -> None:
            what, method, path, body, headers, _, _ = BAD_REQUESTS[index]
            answers[what] = await client.request(method, path, content=body, headers=headers)

        async with anyio.create_task_group() as group:  # interleaved
            for index in range(max(len(good), len(BAD_REQUESTS))):
                if index < len(good):
                    group.start_soon(good_rows, index)
                if index < len(BAD_REQUESTS):
                    group.start_soon(bad, index)
                if index < len(good_strict):
                    group.start_soon(good_check, index)

        for what, method, path, body, headers, status, fragments in BAD_REQUESTS:
            assert_error(answers[what], status, *fragments)
            if status == 405:
                allowed = {method.strip() for method in answers[what].headers["allow"].split(",")}
                assert allowed == ({"POST"} if path.endswith("infer") else {"GET", "HEAD"})
        for index, x in enumerate(good):
            _, outputs = parse_response(answers[f"rows {index}"])
            assert_identical(outputs["output0"], reference(vmfb, "rows", x)[0])
        for index, x in enumerate(good_strict):
            _, outputs = parse_response(answers[f"strict {index}"])
            assert_identical(outputs["output0"], reference(vmfb, "strict", x)[0])

        # A body without Content-Length (chunked) over the limit: 413 while reading.
        async def chunks():
            for _ in range(MAX_BODY // 1024 + 2):
                yield b" " * 1024

        response = await client.post("/v2/models/rows/infer", content=chunks())
        assert "content-length" not in response.request.headers
        assert_error(response, 413, str(MAX_BODY))
        # Just at the limit is fine.
        body = _json([_rows()])
        response = await client.post("/v2/models/rows/infer",
                                     content=body + b" " * (MAX_BODY - len(body)))
        assert response.status_code == 200, response.text

        await assert_still_serving(client, vmfb)
        # A failed check fails that call alone: the function still answers.
        x = numpy.array([1, 2, 3, 4], numpy.float32)
        _, outputs = parse_response(await infer(client, "strict", [json_input("input0", x)]))
        assert_identical(outputs["output0"], reference(vmfb, "strict", x)[0])
        metrics = metric_values((await client.get("/metrics")).text)
    counts = {labels: value for (name, labels), value in metrics.items()
              if name == "asyncvm_inference_requests_total"}
    assert counts[("code", "404"), ("model", "unknown")] == 1  # the unknown model
    assert counts[("code", "500"), ("model", "strict")] == 1
    assert counts[("code", "413"), ("model", "rows")] == 3


# -- deadlines ----------------------------------------------------------------------------

async def test_deadlines_answer_504(program, vmfb):
    forever = [json_input("input0", numpy.int32(2**31 - 1))]
    app = create_application(program, max_batch_size=8, max_wait=0.001, request_timeout=0.6)
    async with serving(app) as client:
        # The server's request_timeout, while other requests are answered meanwhile.
        answers = {}

        async def slow() -> None:
            started = time.monotonic()
            answers["slow"] = await infer(client, "spin", forever)
            answers["slow seconds"] = time.monotonic() - started

        async def quick(index: int) -> None:
            answers[index] = await infer(client, "rows", [json_input("input0",
                                                                     rows_input(index, 2))])

        async with anyio.create_task_group() as group:
            group.start_soon(slow)
            for index in range(10):
                group.start_soon(quick, index)
        assert_error(answers["slow"], 504, "spin: DEADLINE_EXCEEDED")
        assert 0.55 <= answers["slow seconds"] < 10
        for index in range(10):
            _, outputs = parse_response(answers[index])
            assert_identical(outputs["output0"],
                             reference(vmfb, "rows", rows_input(index, 2))[0])

        # The request's own parameters.timeout (microseconds), when smaller.
        started = time.monotonic()
        response = await infer(client, "spin", forever, parameters={"timeout": 50_000})
        assert_error(response, 504, "DEADLINE_EXCEEDED")
        assert time.monotonic() - started < 0.5  # not request_timeout's 0.6 s
        # A longer one than request_timeout does not extend it.
        started = time.monotonic()
        response = await infer(client, "spin", forever, parameters={"timeout": 60_000_000})
        assert_error(response, 504, "DEADLINE_EXCEEDED")
        assert time.monotonic() - started < 10

        # The function still answers within the deadline, and so does the server.
        document, _ = parse_response(await infer(client, "spin", [json_input(
            "input0", numpy.int32(5000))], parameters={"timeout": 20_000_000}))
        assert document["outputs"][0]["data"] == [int(reference(vmfb, "spin", 5000)[0])]
        await assert_still_serving(client, vmfb)
        metrics = metric_values((await client.get("/metrics")).text)
    assert metrics["asyncvm_inference_requests_total", (("code", "504"), ("model", "spin"))] \
        == 3


# -- models that are not programs ------------------------------------------------------------

class SleepyModel(Model):
    """Not a program: sleeps for the request's ``seconds``, then answers
    ``x * 2`` and how many calls it has had. Honours the deadline as the
    Model contract says (DEADLINE_EXCEEDED)."""

    name = "sleepy"
    platform = "python"
    inputs = (TensorSpec("seconds", "FP64", (1,), numpy.dtype(numpy.float64)),
              TensorSpec("x", "INT16", (-1,), numpy.dtype(numpy.int16)))
    outputs = (TensorSpec("doubled", "INT16", (-1,), numpy.dtype(numpy.int16)),
               TensorSpec("calls", "UINT32", (), numpy.dtype(numpy.uint32)))

    def __init__(self) -> None:
        self.lifetime = "created"
        self.calls = 0
        self.sleeping = 0

    @contextlib.asynccontextmanager
    async def running(self):
        self.lifetime = "running"
        try:
            yield self
        finally:
            self.lifetime = "stopped"

    async def call(self, arguments, timeout):
        seconds, x = arguments
        self.calls += 1
        calls = self.calls
        self.sleeping += 1
        try:
            with anyio.move_on_after(timeout) as scope:
                await anyio.sleep(float(seconds[0]))
        finally:
            self.sleeping -= 1
        if scope.cancelled_caught:
            raise VMError(StatusCode.DEADLINE_EXCEEDED, f"slept past {timeout:g} s")
        return [x * 2, calls]  # a list, and a Python int for the scalar


class FailingModel(Model):
    """Fails with the IREE status its input names (a bug for -1; answers for 0)."""

    name = "failing"
    inputs = (TensorSpec("code", "INT32", (1,), numpy.dtype(numpy.int32)),)
    outputs = (TensorSpec("same", "INT32", (1,), numpy.dtype(numpy.int32)),)

    async def call(self, arguments, timeout):
        (code,) = arguments
        await anyio.sleep(0.01)
        if code[0] == 0:
            return (code,)
        if code[0] < 0:
            raise RuntimeError("a bug in the model")
        status = StatusCode(int(code[0]))
        raise VMError(status, f"failed with {status.name}")


def sleepy_request(seconds: float, x, **fields) -> dict:
    return {"inputs": [{"name": "seconds", "datatype": "FP64", "shape": [1], "data": [seconds]},
                       json_input("x", numpy.asarray(x, numpy.int16))], **fields}


async def test_models_that_are_not_programs():
    sleepy, failing = SleepyModel(), FailingModel()
    app = create_application([sleepy, failing], request_timeout=5)
    assert sleepy.lifetime == "created"
    async with serving(app, start=False) as client:
        await client.startup()
        assert sleepy.lifetime == "running"
        metadata = (await client.get("/v2/models/sleepy")).json()
        assert metadata == {
            "name": "sleepy", "versions": ["1"], "platform": "python",
            "inputs": [{"name": "seconds", "datatype": "FP64", "shape": [1]},
                       {"name": "x", "datatype": "INT16", "shape": [-1]}],
            "outputs": [{"name": "doubled", "datatype": "INT16", "shape": [-1]},
                        {"name": "calls", "datatype": "UINT32", "shape": []}]}
        response = await client.post("/v2/models/sleepy/infer",
                                     json=sleepy_request(0, [1, -2, 30000], id="s1"))
        document, outputs = parse_response(response)
        assert document["id"] == "s1"
        assert_identical(outputs["doubled"], numpy.array([2, -4, -5536], numpy.int16))
        assert_identical(outputs["calls"], numpy.array(1, numpy.uint32))

        # Deadlines: the request's own (microseconds), and the server's.
        started = time.monotonic()
        response = await client.post("/v2/models/sleepy/infer", json=sleepy_request(
            30, [1], parameters={"timeout": 100_000}))
        assert_error(response, 504, "sleepy: DEADLINE_EXCEEDED", "slept past 0.1 s")
        assert time.monotonic() - started < 4

        # The status of each failure; the other requests are answered meanwhile.
        statuses = {StatusCode.INVALID_ARGUMENT: 400, StatusCode.OUT_OF_RANGE: 400,
                    StatusCode.NOT_FOUND: 500, StatusCode.DEADLINE_EXCEEDED: 504,
                    StatusCode.RESOURCE_EXHAUSTED: 503, StatusCode.UNAVAILABLE: 503,
                    StatusCode.CANCELLED: 503, StatusCode.UNIMPLEMENTED: 501,
                    StatusCode.INTERNAL: 500, StatusCode.FAILED_PRECONDITION: 500,
                    StatusCode.ABORTED: 500, StatusCode.UNKNOWN: 500}
        answers = {}

        async def fail(code: int) -> None:
            answers[code] = await client.post("/v2/models/failing/infer", json={"inputs": [
                {"name": "code", "datatype": "INT32", "shape": [1], "data": [code]}]})

        async def nap(index: int) -> None:
            answers[f"nap {index}"] = await client.post(
                "/v2/models/sleepy/infer", json=sleepy_request(0.02, [index]))

        async with anyio.create_task_group() as group:
            for code in [int(status) for status in statuses] + [0, -1]:
                group.start_soon(fail, code)
            for index in range(8):
                group.start_soon(nap, index)
        for status, http_status in statuses.items():
            assert_error(answers[int(status)], http_status,
                         f"failing: {status.name}: failed with {status.name}")
        assert_error(answers[-1], 500, "internal error")  # no Python details leak
        assert "bug" not in answers[-1].text
        _, outputs = parse_response(answers[0])
        assert_identical(outputs["same"], numpy.array([0], numpy.int32))
        for index in range(8):
            _, outputs = parse_response(answers[f"nap {index}"])
            assert_identical(outputs["doubled"], numpy.array([2 * index], numpy.int16))

        # While a request sleeps, the queue depth and in-flight gauges show it.
        async with anyio.create_task_group() as group:
            async def long_nap() -> None:
                answers["long"] = await client.post("/v2/models/sleepy/infer",
                                                    json=sleepy_request(0.3, [7]))

            group.start_soon(long_nap)
            while not sleepy.sleeping:
                await anyio.sleep(0.005)
            metrics = metric_values((await client.get("/metrics")).text)
            assert metrics["asyncvm_queue_depth", (("model", "sleepy"),)] == 1
            assert metrics["asyncvm_inflight_requests", ()] >= 2  # it, and /metrics
            # Shutdown begins: new requests are refused, the admitted one is answered.
            app.state.server.begin_shutdown()
            assert_error(await client.post("/v2/models/sleepy/infer",
                                           json=sleepy_request(0, [1])), 503, "shutting down")
        _, outputs = parse_response(answers["long"])
        assert_identical(outputs["doubled"], numpy.array([14], numpy.int16))
        metrics = metric_values((await client.get("/metrics")).text)
        assert metrics["asyncvm_queue_depth", (("model", "sleepy"),)] == 0
        assert sleepy.lifetime == "running"
    assert sleepy.lifetime == "stopped"


JUDGED = """
func.func private @host.judge(tensor<4xf32>) -> tensor<4xf32>
func.func @judged(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = call @host.judge(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %z = arith.addf %y, %x : tensor<4xf32>
  return %z : tensor<4xf32>
}
"""


async def test_python_module_failures_fail_their_request_alone(compile_mlir, tmp_path):
    """The program's import is a Python function: its VMError keeps its
    status (503 for RESOURCE_EXHAUSTED), any other exception is INTERNAL
    (500); concurrent calls that pass are answered."""
    source = tmp_path / "judged.mlir"
    source.write_text(JUDGED)
    host = asyncvm.PythonModule("host")

    @host.export("0r_r")
    def judge(x):
        if x[0] < 0:
            raise VMError(StatusCode.RESOURCE_EXHAUSTED, "no room for negatives")
        if x[0] > 100:
            raise ValueError("far too big")
        return x * 2

    app = create_application(asyncvm.load(compile_mlir(source), modules=[host]))
    assert list(app.state.server.models) == ["judged"]
    inputs = {index: numpy.array([index, 0.1, -0.3, 1e-3], numpy.float32) for index in range(12)}
    inputs["negative"] = numpy.array([-1, 0, 0, 0], numpy.float32)
    inputs["big"] = numpy.array([1000, 0, 0, 0], numpy.float32)
    answers = {}
    async with serving(app) as client:
        async def send(key) -> None:
            answers[key] = await infer(client, "judged", [json_input("input0", inputs[key])])

        async with anyio.create_task_group() as group:
            for key in inputs:
                group.start_soon(send, key)
        assert_error(answers["negative"], 503, "judged: RESOURCE_EXHAUSTED",
                     "no room for negatives")
        assert_error(answers["big"], 500, "judged: INTERNAL", "far too big")
        for index in range(12):
            _, outputs = parse_response(answers[index])
            x = inputs[index]
            assert_identical(outputs["output0"], x * numpy.float32(2) + x)
        assert (await client.get("/v2/health/ready")).status_code == 200


# -- metrics ---------------------------------------------------------------------------------

async def test_metrics_count_requests_latency_and_queue(program, vmfb):
    app = create_application(program, max_batch_size=8, max_wait=0.001)
    async with serving(app) as client:
        for seed in range(3):
            parse_response(await infer(client, "rows", [json_input("input0",
                                                                   rows_input(seed, 2))]))
        assert_error(await infer(client, "rows", [_rows(1, 5)]), 400)
        assert_error(await infer(client, "ghost", [_rows()]), 404)
        parse_response(await infer(client, "pair", _GOOD_PAIR))
        await client.get("/v2/health/ready")  # not an inference request
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'asyncvm_inference_requests_total{code="200",model="rows"} 3.0' in text
    assert 'asyncvm_inference_requests_total{code="400",model="rows"} 1.0' in text
    assert 'asyncvm_inference_requests_total{code="404",model="unknown"} 1.0' in text
    assert 'asyncvm_inference_requests_total{code="200",model="pair"} 1.0' in text
    assert 'asyncvm_queue_depth{model="rows"} 0.0' in text
    values = metric_values(text)
    requests = {labels: value for (name, labels), value in values.items()
                if name == "asyncvm_inference_requests_total"}
    assert sum(requests.values()) == 6
    # Latency: one observation per request of a known model, in ordered buckets.
    latency = "asyncvm_inference_request_duration_seconds"
    assert values[f"{latency}_count", (("model", "rows"),)] == 4
    assert values[f"{latency}_count", (("model", "pair"),)] == 1
    assert (f"{latency}_count", (("model", "unknown"),)) not in values
    assert 0 < values[f"{latency}_sum", (("model", "rows"),)] < 60
    buckets = sorted((float(dict(labels)["le"]), value) for (name, labels), value
                     in values.items() if name == f"{latency}_bucket"
                     and dict(labels)["model"] == "rows")
    assert buckets[-1] == (math.inf, 4)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    assert values["asyncvm_batch_requests_sum", (("model", "rows"),)] == 3
    assert values["asyncvm_batch_rows_sum", (("model", "rows"),)] == 6
    assert values["asyncvm_inflight_requests", ()] == 1  # the /metrics request itself


# -- create_application ----------------------------------------------------------------------

UNSERVABLE = """
func.func @size(%l: !util.list<?>) -> index {
  %n = util.list.size %l : !util.list<?>
  return %n : index
}
"""


def test_create_application_refuses_nothing_to_serve_and_duplicate_names(compile_mlir,
                                                                          tmp_path, program):
    source = tmp_path / "unservable.mlir"
    source.write_text(UNSERVABLE)
    with pytest.raises(VMError) as caught:
        create_application(asyncvm.load(compile_mlir(source)))
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "nothing to serve" in caught.value.message

    with pytest.raises(VMError) as caught:
        create_application([])
    assert caught.value.status == StatusCode.INVALID_ARGUMENT

    with pytest.raises(VMError) as caught:
        create_application([SleepyModel(), FailingModel(), SleepyModel()])
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "two models are named 'sleepy'" in caught.value.message

    # max_batch_size 0: nothing batches.
    app = create_application(program, max_batch_size=0)
    assert all(model.max_batch_size == 0 for model in app.state.server.models.values())


async def test_unbatched_application_serves_the_same_answers(program, vmfb):
    app = create_application(program, max_batch_size=0)
    async with serving(app) as client:
        assert app.state.server.models["rows"].batcher is None
        x = rows_input(3, 40)  # more rows than a batch would take
        _, outputs = parse_response(await infer(client, "rows", [json_input("input0", x)]))
        assert_identical(outputs["output0"], reference(vmfb, "rows", x)[0])


# -- the codec on its own ---------------------------------------------------------------------

def request_body(*inputs, **fields) -> bytes:
    return json.dumps({"inputs": list(inputs), **fields}).encode()


def decode_error(body: bytes, header_length: str | None = None) -> str:
    with pytest.raises(ProtocolError) as caught:
        decode_request(body, header_length)
    assert caught.value.http_status == 400
    return caught.value.message


def json_round_trip(array: numpy.ndarray) -> numpy.ndarray:
    """``array`` as the server writes it in a JSON response, read back as a
    JSON request of the same datatype."""
    payload, header_length = encode_response("m", None, [("y", array, False)])
    assert header_length is None
    (entry,) = json.loads(payload)["outputs"]
    assert entry["datatype"] == DATATYPES[array.dtype] and entry["shape"] == list(array.shape)
    return decode_request(request_body(entry), None).inputs["y"]


def binary_round_trip(array: numpy.ndarray) -> numpy.ndarray:
    payload, header_length = encode_response("m", "id", [("y", array, True)])
    document = json.loads(payload[:header_length])
    assert document["id"] == "id"
    (entry,) = document["outputs"]
    assert entry["parameters"] == {"binary_data_size": array.nbytes}
    assert len(payload) == header_length + array.nbytes
    header = request_body(entry)  # the response's output, sent back as an input
    return decode_request(header + payload[header_length:], str(len(header))).inputs["y"]


def same_values(got: numpy.ndarray, want: numpy.ndarray) -> bool:
    """Bit-identical, except that any NaN equals any NaN (JSON has one NaN)."""
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    if want.dtype.kind in "biu":
        return got.tobytes() == want.tobytes()
    nan = numpy.isnan(want.astype(numpy.float64))
    return bool((numpy.isnan(got.astype(numpy.float64)) == nan).all()) and \
        got[~nan].tobytes() == want[~nan].tobytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bits=hnp.arrays(numpy.uint16, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)),
       datatype=st.sampled_from(["FP16", "BF16"]))
def test_half_floats_round_trip_exactly(bits, datatype):
    array = bits.view(DTYPES[datatype])  # every bit pattern: NaNs, infinities, -0, subnormals
    assert same_values(json_round_trip(array), array)
    assert binary_round_trip(array).tobytes() == array.tobytes()  # NaN payloads too


@settings(max_examples=60, deadline=None)
@given(array=st.sampled_from(["INT8", "UINT8", "INT16", "UINT16", "INT32", "UINT32", "INT64",
                              "UINT64", "BOOL", "FP32", "FP64"]).flatmap(
    lambda datatype: hnp.arrays(DTYPES[datatype],
                                hnp.array_shapes(min_dims=0, max_dims=3, max_side=5))))
def test_every_datatype_round_trips(array):
    assert same_values(json_round_trip(array), array)
    assert binary_round_trip(array).tobytes() == array.tobytes()


def test_bf16_and_fp16_from_json_round_to_nearest():
    values = [1.0, 1.00390625, 1.01171875, 3.0e38, -0.0, 1e-40, float("inf"), 65520.0]
    for datatype in ("BF16", "FP16"):
        dtype = DTYPES[datatype]
        with numpy.errstate(over="ignore"):  # past FP16's range: infinity
            got = decode_request(request_body({"name": "x", "datatype": datatype,
                                               "shape": [len(values)], "data": values}),
                                 None).inputs["x"]
            assert got.tobytes() == numpy.array(values, numpy.float64).astype(dtype).tobytes()
        assert got.dtype == dtype
        # Ties to even: 1 + 2**-8 and 1 + 3 * 2**-8 lie halfway between BF16 values.
        assert got.astype(numpy.float64).tolist()[:3] == (
            [1.0, 1.0, 1.015625] if datatype == "BF16" else [1.0, 1.00390625, 1.01171875])
    assert numpy.isinf(got[3]) and numpy.isinf(got[7])  # FP16 overflows to infinity
    # BF16 as JSON: float32 values, which read back as the same bf16 bits.
    array = numpy.array([1.5, -3.140625, 1e-38], ml_dtypes.bfloat16)
    payload, _ = encode_response("m", None, [("y", array, False)])
    assert json.loads(payload)["outputs"][0]["data"] == [float(v) for v in
                                                         array.astype(numpy.float32)]


def test_bool_json():
    entry = {"name": "m", "datatype": "BOOL", "shape": [2, 2],
             "data": [[True, False], [False, True]]}
    got = decode_request(request_body(entry), None).inputs["m"]
    assert got.dtype == numpy.bool_ and got.tolist() == [[True, False], [False, True]]
    for data in ([1, 0, 0, 1], ["true", "false", "true", "false"], [True, False, None, True],
                 [True, 1, 0, False]):
        assert "true or false" in decode_error(request_body({**entry, "data": data})) or \
            "bad 'data'" in decode_error(request_body({**entry, "data": data}))
    payload, _ = encode_response("m", None, [("b", numpy.array([True, False]), False)])
    assert b'"data":[true,false]' in payload
    assert json.loads(payload)["outputs"][0]["datatype"] == "BOOL"


@pytest.mark.parametrize("datatype, data, fragment", [
    ("INT8", [127, 128], "out of range for int8"),
    ("INT8", [-129, 0], "out of range for int8"),
    ("UINT8", [-1, 0], "out of range for uint8"),
    ("UINT16", [65536, 0], "out of range"),
    ("INT32", [2**31, 0], "out of range"),
    ("UINT32", [2**32, 0], "out of range"),
    ("INT64", [2**63, 0], "out of range"),
    ("INT64", [-2**63 - 1, 0], "out of range"),
    ("INT64", [2**63, -1], "out of range"),
    ("UINT64", [2**64, 0], "out of range"),
    ("UINT64", [-1, 2**64 - 1], "out of range"),
    ("INT64", [10**30, 1], "out of range"),
    ("INT32", [1.5, 2], "fractional"),
    ("INT32", [1, float("nan")], "fractional"),
    ("INT32", ["1", "2"], "expected numbers"),
    ("INT32", [None, 2], "expected numbers"),
    ("INT32", [True, False], "expected numbers"),
    ("FP32", ["1.0", "2.0"], "expected numbers"),
    ("FP32", [None, 1.0], "expected numbers"),
    ("FP32", [True, False], "expected numbers"),
    ("FP32", [1.0, [2.0]], "bad 'data'"),
    ("FP32", [1.0], "1 elements"),
    ("FP32", [1e39, 0.0], "out of range for float32"),
    ("FP16", [65520.0, 0.0], "out of range for float16"),
    ("BF16", [1e39, 0.0], "out of range for bfloat16"),
])
def test_json_data_errors(datatype, data, fragment):
    message = decode_error(request_body({"name": "v", "datatype": datatype, "shape": [2],
                                         "data": data}))
    assert "input 'v'" in message and fragment in message, message


def test_json_integers_at_the_limits_of_their_types():
    for datatype, data in [("INT8", [-128, 127]), ("UINT8", [0, 255]),
                           ("INT64", [-2**63, 2**63 - 1]), ("UINT64", [0, 2**64 - 1]),
                           ("UINT64", [2**63, 1]), ("UINT32", [2**32 - 1, 7])]:
        got = decode_request(request_body({"name": "v", "datatype": datatype, "shape": [2],
                                           "data": data}), None).inputs["v"]
        assert got.dtype == DTYPES[datatype] and got.tolist() == data, datatype
    # Integers past 64 bits are fine for float tensors (rounded, once).
    got = decode_request(request_body({"name": "v", "datatype": "FP32", "shape": [3],
                                       "data": [10**20, 2**64 + 1, 1.5]}), None).inputs["v"]
    assert got.tolist() == [numpy.float32(1e20), numpy.float32(2.0**64), 1.5]


def test_decode_request_structure():
    good = {"name": "x", "datatype": "FP32", "shape": [2], "data": [1.0, 2.0]}
    request = decode_request(request_body(
        good, id="abc", outputs=[{"name": "a"}, {"name": "b", "parameters": {"binary_data": 1}},
                                 {"name": "c", "parameters": {"binary_data": False}}],
        parameters={"binary_data_output": True, "timeout": 250_000}), None)
    assert request.id == "abc" and request.binary_output is True
    assert request.outputs == [("a", None), ("b", True), ("c", False)]
    assert request.timeout == 0.25
    assert list(request.inputs) == ["x"]
    request = decode_request(request_body(good, id=7), None)
    assert (request.id, request.outputs, request.binary_output, request.timeout) == \
        (None, None, False, None)
    # Nested data reads row-major.
    nested = decode_request(request_body({"name": "x", "datatype": "INT16", "shape": [2, 2],
                                          "data": [[1, 2], [3, 4]]}), None).inputs["x"]
    assert nested.tolist() == [[1, 2], [3, 4]]

    for body, fragment in [
        (b"[" * 50_000 + b"]" * 50_000, "not valid JSON"),
        (b"null", "JSON object"),
        (request_body(), "non-empty 'inputs'"),
        (json.dumps({"inputs": {"x": 1}}).encode(), "'inputs'"),
        (request_body("x"), "input 0"),
        (request_body({**good, "shape": "2"}), "'shape'"),
        (request_body({**good, "shape": [True, 1]}), "'shape'"),
        (request_body({**good, "data": "1,2"}), "'data' must be a list"),
        (request_body({k: v for k, v in good.items() if k != "data"}), "neither"),
        (request_body({**good, "parameters": []}), "'parameters'"),
        (request_body({**good, "parameters": {"binary_data_size": -1}}), "binary_data_size"),
        (request_body({**good, "parameters": {"binary_data_size": True}}), "binary_data_size"),
        (request_body(good, outputs={"name": "a"}), "'outputs' must be a list"),
        (request_body(good, outputs=[{"nom": "a"}]), "requested output 0"),
        (request_body(good, parameters={"timeout": 0}), "timeout"),
        (request_body(good, parameters={"timeout": "1s"}), "timeout"),
        (request_body(good, parameters={"timeout": True}), "timeout"),
        (request_body(good, parameters=[]), "'parameters'"),
    ]:
        assert fragment in decode_error(body), body[:80]

    # The binary extension: sizes, order, truncation, leftovers.
    x = numpy.arange(3, dtype=numpy.int32)
    y = numpy.array([1.5], numpy.float64)
    header = request_body({"name": "x", "datatype": "INT32", "shape": [3],
                           "parameters": {"binary_data_size": 12}},
                          {"name": "y", "datatype": "FP64", "shape": [1],
                           "parameters": {"binary_data_size": 8}})
    body = header + x.tobytes() + y.tobytes()
    inputs = decode_request(body, str(len(header))).inputs
    assert inputs["x"].tolist() == [0, 1, 2] and inputs["y"].tolist() == [1.5]
    assert "truncated" in decode_error(body[:-1], str(len(header)))
    assert "1 bytes of binary data" in decode_error(body + b"\0", str(len(header)))
    assert "Inference-Header-Content-Length" in decode_error(body, str(len(body) + 1))
    assert "Inference-Header-Content-Length" in decode_error(body, "-1")
    assert "not valid JSON" in decode_error(body, None)  # binary without the header


def test_encode_response_layout():
    a = numpy.array([[1.5, -0.0]], numpy.float32)
    b = numpy.array([7, 8, 9], numpy.uint8)
    payload, header_length = encode_response("m", "r1", [("a", a, False), ("b", b, True),
                                                         ("c", a, True)])
    document = json.loads(payload[:header_length])
    assert document == {"model_name": "m", "model_version": "1", "id": "r1", "outputs": [
        {"name": "a", "datatype": "FP32", "shape": [1, 2], "data": [1.5, -0.0]},
        {"name": "b", "datatype": "UINT8", "shape": [3], "parameters": {"binary_data_size": 3}},
        {"name": "c", "datatype": "FP32", "shape": [1, 2],
         "parameters": {"binary_data_size": 8}}]}
    assert payload[header_length:] == b.tobytes() + a.tobytes()
    assert math.copysign(1, document["outputs"][0]["data"][1]) == -1
    payload, header_length = encode_response("m", None, [("a", a, False)])
    assert header_length is None and "id" not in json.loads(payload)
    # Non-finite floats as Python's JSON writes them; read back the same.
    special = numpy.array([numpy.nan, numpy.inf, -numpy.inf], numpy.float32)
    assert same_values(json_round_trip(special), special)
