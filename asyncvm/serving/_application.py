"""The Open Inference Protocol (KServe v2) over HTTP/REST, as a Starlette app.

:func:`create_application` serves models (the public functions of a program,
or any :class:`~asyncvm.serving.Model`) at the protocol's endpoints:

* ``GET /v2/health/live``, ``GET /v2/health/ready``: 200, or 503 for
  readiness before start-up finished and while shutting down.
* ``GET /v2``: server metadata (name, version, extensions).
* ``GET /v2/models/{model}[/versions/1]``: model metadata;
  ``GET .../ready``: the model's readiness.
* ``POST /v2/models/{model}[/versions/1]/infer``: inference, with JSON
  tensors or the binary tensor data extension (see :mod:`._tensors`),
  request bodies optionally compressed (``Content-Encoding: gzip`` or
  ``deflate``, as tritonclient sends them).
* ``POST /v2/repository/index``: the models and their state.
* ``GET /metrics``: Prometheus metrics (:mod:`._metrics`).

Every failure answers the protocol's ``{"error": "..."}``: 400 for a request
that does not fit the protocol or the model, 404 for an unknown model or
path, 405 for a method a path does not take, 413 for a body over
``max_body_bytes``, 503 while shutting down, 504 past the request's deadline
(the smaller of ``request_timeout`` and the request's own
``parameters.timeout``), 500 for the program's own failures. One request's
failure never touches another's.

Access logs are JSON lines on the ``asyncvm.access`` logger (INFO): time,
client, method, path, status, bytes in and out, duration in milliseconds.

The application owns the models' lifetime through the ASGI lifespan: it
starts their batchers on start-up, and on shutdown (after the server has
stopped accepting and answered what it had) lets them finish.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import zlib
from typing import Iterable

import numpy
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from asyncvm._program import Program
from asyncvm.vm import StatusCode, VMError

from ._errors import ProtocolError, from_vm_error
from ._metrics import ServerMetrics
from ._models import Model, models_of_program
from ._tensors import HEADER_LENGTH, decode_request, encode_response

SERVER_NAME = "asyncvm"
EXTENSIONS = ["binary_tensor_data", "model_repository"]
DEFAULT_MAX_BODY_BYTES = 64 << 20

_access_log = logging.getLogger("asyncvm.access")
_log = logging.getLogger("asyncvm.serving")


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("asyncvm")
    except Exception:  # not installed as a distribution (a source tree)
        return "0"


class ServerState:
    """What the routes share: the models, settings, metrics and whether the
    server is ready (set on start-up, cleared when shutdown begins)."""

    def __init__(self, models: dict[str, Model], metrics: ServerMetrics, max_body_bytes: int,
                 request_timeout: float | None) -> None:
        self.models = models
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self.ready = False
        self.draining = False

    def begin_shutdown(self) -> None:
        """From now on readiness is 503 and new inference requests are refused
        with 503; requests already admitted run to their answer."""
        self.draining = True
        self.ready = False


def _json(payload, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status, headers,
                    media_type="application/json")


def _error(error: ProtocolError) -> Response:
    return _json({"error": error.message}, error.http_status, error.headers)


def _model(state: ServerState, request: Request) -> Model:
    name = request.path_params["model"]
    model = state.models.get(name)
    if model is None:
        raise ProtocolError(404, f"unknown model '{name}' (this server has: "
                                 f"{', '.join(state.models) or 'none'})")
    version = request.path_params.get("version")
    if version is not None and version != "1":
        raise ProtocolError(404, f"model '{name}' has no version '{version}' (only '1')")
    return model


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed; 413 past ``limit`` bytes (read or
    decompressed), 400 for a body that does not decompress or ends before
    its compressed stream does."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProtocolError(413, f"the request body has {declared} bytes; this server takes "
                                 f"at most {limit}")
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ProtocolError(413, f"the request body is over {limit} bytes, the most this "
                                     "server takes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise ProtocolError(400, f"unsupported Content-Encoding '{encoding}' "
                                 "(gzip and deflate are)")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        body = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise ProtocolError(400, f"the {encoding} body does not decompress: {error}") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise ProtocolError(413, f"the decompressed request body is over {limit} bytes, the "
                                 "most this server takes")
    if not inflater.eof:  # cut short: whatever came out is unchecked and maybe partial
        raise ProtocolError(400, f"the {encoding} body is truncated")
    return body


def _outputs(model: Model, results, inference) -> list[tuple[str, numpy.ndarray, bool]]:
    """The outputs to send: all of them, or those the request asks for."""
    arrays = {spec.name: numpy.asarray(value, spec.dtype)
              for spec, value in zip(model.outputs, results)}
    if inference.outputs is None:
        return [(name, array, inference.binary_output) for name, array in arrays.items()]
    chosen = []
    for name, binary in inference.outputs:
        if name not in arrays:
            raise ProtocolError(400, f"{model.name} has no output '{name}' (it has: "
                                     f"{', '.join(arrays)})")
        chosen.append((name, arrays[name], inference.binary_output if binary is None else binary))
    return chosen


async def _infer(request: Request) -> Response:
    state: ServerState = request.app.state.server
    metrics = state.metrics
    started = time.perf_counter()
    label = "unknown"
    code = 500
    admitted = None
    try:
        if not state.ready:  # shutting down, or the lifespan has not started the models
            raise ProtocolError(503, "the server is shutting down" if state.draining
                                else "the server is not ready (its lifespan has not started)")
        model = _model(state, request)
        label = model.name
        model.admitted += 1
        admitted = model
        body = await _read_body(request, state.max_body_bytes)
        inference = decode_request(body, request.headers.get(HEADER_LENGTH))
        arguments = model.arguments(inference.inputs)
        timeout = state.request_timeout
        if inference.timeout is not None:
            timeout = inference.timeout if timeout is None else min(timeout, inference.timeout)
        depth = metrics.queue_depth.labels(label)
        depth.inc()
        try:
            results = await model.call(arguments, timeout)
        except VMError as error:
            raise from_vm_error(error, model.name) from None
        finally:
            depth.dec()
        payload, header_length = encode_response(model.name, inference.id,
                                                 _outputs(model, results, inference))
        code = 200
        if header_length is None:
            return Response(payload, 200, media_type="application/json")
        return Response(payload, 200, {"Inference-Header-Content-Length": str(header_length)},
                        media_type="application/octet-stream")
    except ProtocolError as error:
        code = error.http_status
        return _error(error)
    except Exception:  # a bug here, not the request's fault: this request alone fails
        _log.exception("inference request failed")
        return _json({"error": "internal error (see the server's log)"}, 500)
    finally:
        if admitted is not None:
            admitted.admitted -= 1
        metrics.requests.labels(label, str(code)).inc()
        if label != "unknown":
            metrics.latency.labels(label).observe(time.perf_counter() - started)


async def _model_metadata(request: Request) -> Response:
    try:
        return _json(_model(request.app.state.server, request).metadata())
    except ProtocolError as error:
        return _error(error)


async def _model_ready(request: Request) -> Response:
    state: ServerState = request.app.state.server
    try:
        model = _model(state, request)
    except ProtocolError as error:
        return _error(error)
    return _json({"name": model.name, "ready": state.ready}, 200 if state.ready else 503)


async def _live(request: Request) -> Response:
    return _json({"live": True})


async def _ready(request: Request) -> Response:
    state: ServerState = request.app.state.server
    return _json({"ready": state.ready}, 200 if state.ready else 503)


async def _server_metadata(request: Request) -> Response:
    return _json({"name": SERVER_NAME, "version": _version(), "extensions": EXTENSIONS})


async def _repository_index(request: Request) -> Response:
    state: ServerState = request.app.state.server
    return _json([{"name": name, "version": "1", "state": "READY" if state.ready else
                   "UNAVAILABLE"} for name in state.models])


async def _metrics(request: Request) -> Response:
    body, content_type = request.app.state.server.metrics.exposition()
    return Response(body, 200, media_type=content_type)


async def _http_error(request: Request, error: HTTPException) -> Response:
    headers = dict(error.headers or {})
    message = {404: f"no such path: {request.url.path}",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(
        error.status_code, str(error.detail))
    return _json({"error": message}, error.status_code, headers)


class AccessLog:
    """ASGI middleware: one JSON line per HTTP request on ``asyncvm.access``,
    and the in-flight gauge."""

    def __init__(self, app, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        logging_on = _access_log.isEnabledFor(logging.INFO)
        inflight = self.metrics.inflight
        inflight.inc()
        if not logging_on:
            try:
                return await self.app(scope, receive, send)
            finally:
                inflight.dec()
        started = time.perf_counter()
        status = 500
        sent = 0
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def counting_send(message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            inflight.dec()
            client = scope.get("client")
            _access_log.info(json.dumps({
                "time": round(time.time(), 3), "client": f"{client[0]}:{client[1]}" if client
                else None, "method": scope["method"], "path": scope["path"], "status": status,
                "bytes_in": received, "bytes_out": sent,
                "duration_ms": round((time.perf_counter() - started) * 1e3, 3)},
                separators=(",", ":")))


def create_application(source: Program | Iterable[Model], *, max_batch_size: int = 64,
                       max_wait: float = 0.002,
                       max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                       request_timeout: float | None = None) -> Starlette:
    """An ASGI application serving ``source``: every public function of a
    program as a model (see :func:`models_of_program`; ``max_batch_size`` 0
    turns batching off), or the given models. ``request_timeout`` (seconds)
    bounds every inference request. The application's state is on
    ``app.state.server`` (a :class:`ServerState`). Raises VMError
    INVALID_ARGUMENT for a program with no servable function or two models
    of one name. Does not suspend; the models start with the ASGI lifespan,
    so run it under a server that speaks lifespan (uvicorn does)."""
    metrics = ServerMetrics()
    if isinstance(source, Program):
        models = models_of_program(source, max_batch_size=max_batch_size, max_wait=max_wait,
                                   on_batch=metrics.observe_batch)
    else:
        models = list(source)
    by_name: dict[str, Model] = {}
    for model in models:
        if model.name in by_name:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"two models are named '{model.name}'")
        by_name[model.name] = model
    if not by_name:
        raise VMError(StatusCode.INVALID_ARGUMENT, "nothing to serve: the program has no "
                                                   "function the inference protocol can carry")
    state = ServerState(by_name, metrics, max_body_bytes, request_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with contextlib.AsyncExitStack() as stack:
            for model in by_name.values():
                await stack.enter_async_context(model.running())
            state.ready = True
            try:
                yield
            finally:
                state.begin_shutdown()

    versioned = "/v2/models/{model}/versions/{version}"
    routes = [
        Route("/v2/health/live", _live, methods=["GET"]),
        Route("/v2/health/ready", _ready, methods=["GET"]),
        Route("/v2", _server_metadata, methods=["GET"]),
        Route("/v2/repository/index", _repository_index, methods=["POST", "GET"]),
        Route("/v2/models/{model}", _model_metadata, methods=["GET"]),
        Route(versioned, _model_metadata, methods=["GET"]),
        Route("/v2/models/{model}/ready", _model_ready, methods=["GET"]),
        Route(versioned + "/ready", _model_ready, methods=["GET"]),
        Route("/v2/models/{model}/infer", _infer, methods=["POST"]),
        Route(versioned + "/infer", _infer, methods=["POST"]),
        Route("/metrics", _metrics, methods=["GET"]),
    ]
    application = Starlette(routes=routes, lifespan=lifespan,
                            exception_handlers={HTTPException: _http_error})
    application.state.server = state
    application.add_middleware(AccessLog, metrics=metrics)
    return application
