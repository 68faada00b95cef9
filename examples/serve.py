"""Serve a compiled model over HTTP, batching concurrent requests.

    pip install -e ".[test]" && python examples/serve.py [--port 8000] [--device local-task]

    curl -s http://127.0.0.1:8000/predict -H 'content-type: application/json' \\
        -d '{"inputs": [[0.5, -1, 0, 2, 1, 0, -0.5, 0.25, 1, 1, 0, 0, -2, 0.5, 0, 1]]}'
    # {"outputs": [[...4 logits...]]}
    curl -s http://127.0.0.1:8000/health
    # {"status": "ok", "function": "classify", "batcher": {"requests": 1, "batches": 1, ...}}

At startup ``serve_model.mlir`` (``classify``: rows x 16 features -> rows x 4
logits, a dynamic number of rows) is compiled for this machine's CPU
(llvm-cpu) into memory and loaded with ``asyncvm.load``. The application is
plain ASGI (no web framework) run by uvicorn on asyncio. For its lifetime
(the ASGI ``lifespan`` protocol) it keeps an ``asyncvm.Batcher`` open, so the
requests that arrive within ``--max-wait`` seconds of each other are run as
one call of ``classify`` of up to ``--max-batch-size`` rows, and each
request gets its own rows back.

HTTP interface:

* ``POST /predict`` with a JSON object ``{"inputs": [[16 numbers], ...]}``
  (1 to max_batch_size rows; numbers are rounded to float32 and must be
  finite there) answers 200 ``{"outputs": [[4 numbers], ...]}``, one row per
  input row. Each output number is the float32 result written as the
  shortest decimal that reads back as the same double, so
  ``numpy.float32(value)`` recovers it exactly.
* ``GET /health`` answers 200 ``{"status": "ok", "function": ..., "batcher":
  {requests, batches, rows, largest_batch, max_batch_size, max_wait}}`` while
  the batcher runs, 503 ``{"status": "unavailable"}`` otherwise.
* Errors are ``{"error": message, "status": STATUS_NAME}`` with IREE status
  names: a body that is not JSON, or inputs of the wrong shape or type, is
  400 ``INVALID_ARGUMENT``; a body over ``max_body_bytes`` is 413
  ``RESOURCE_EXHAUSTED``; a request that takes longer than
  ``request_timeout`` seconds is 504 ``DEADLINE_EXCEEDED``; an
  ``asyncvm.VMError`` from the model keeps its status name with the HTTP
  status of :func:`http_status_for`; an unknown path is 404 ``NOT_FOUND`` and
  a method a path does not take is 405 ``UNIMPLEMENTED`` (with ``Allow``).

``--save-vmfb PATH`` also writes the compiled program to PATH, so that other
runtimes (the tests use IREE's own) can run exactly the program being served.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any, Awaitable, Callable

import anyio
import numpy

import asyncvm
from asyncvm import StatusCode, VMError

HERE = pathlib.Path(__file__).resolve().parent
MODEL_SOURCE = HERE / "serve_model.mlir"
FUNCTION = "classify"
INPUT_FEATURES = 16

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def compile_model(source: pathlib.Path = MODEL_SOURCE) -> bytes:
    """Compiles the model for the local CPU (llvm-cpu, tuned for this host)
    with the iree-base-compiler package; returns the .vmfb bytes. Nothing is
    written to disk. Raises the compiler's error if it fails."""
    from iree.compiler import compile_file

    return compile_file(str(source), target_backends=["llvm-cpu"],
                        extra_args=["--iree-hal-target-device=local",
                                    "--iree-llvmcpu-target-cpu=host"])


# -- errors -----------------------------------------------------------------------------

_HTTP_STATUS_BY_CODE = {
    StatusCode.INVALID_ARGUMENT: 400,
    StatusCode.OUT_OF_RANGE: 400,
    StatusCode.RESOURCE_EXHAUSTED: 413,
    StatusCode.DEADLINE_EXCEEDED: 504,
    StatusCode.UNAVAILABLE: 503,
}


def http_status_for(status: StatusCode) -> int:
    """The HTTP status of a response that fails with an IREE status:
    INVALID_ARGUMENT and OUT_OF_RANGE are the client's fault (400),
    RESOURCE_EXHAUSTED is a request too large (413), DEADLINE_EXCEEDED is 504,
    UNAVAILABLE is 503; anything else (including FAILED_PRECONDITION from a
    batcher that is not running, and the program's own failures) is 500."""
    return _HTTP_STATUS_BY_CODE.get(status, 500)


class RequestError(Exception):
    """A request that cannot be served: HTTP status, IREE status name, message."""

    def __init__(self, http_status: int, status_name: str, message: str,
                 headers: list[tuple[bytes, bytes]] = ()) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status_name = status_name
        self.message = message
        self.headers = list(headers)

    @classmethod
    def from_vm_error(cls, error: VMError) -> "RequestError":
        return cls(http_status_for(error.status), error.status.name, error.message)


def invalid_argument(message: str) -> RequestError:
    return RequestError(400, StatusCode.INVALID_ARGUMENT.name, message)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def parse_inputs(body: bytes) -> numpy.ndarray:
    """The request's rows as a C-contiguous float32 array of shape
    (rows, INPUT_FEATURES), rows >= 1. Raises INVALID_ARGUMENT RequestError
    for a body that is not a UTF-8 JSON object with an ``inputs`` list of
    rows of INPUT_FEATURES numbers (booleans, strings, NaN and infinities are
    not numbers), or for numbers that are not finite as float32."""
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise invalid_argument(f"the body is not JSON: {error}") from None
    if not isinstance(document, dict) or "inputs" not in document:
        raise invalid_argument('the body must be a JSON object {"inputs": [[...], ...]}')
    inputs = document["inputs"]
    if not isinstance(inputs, list) or not inputs:
        raise invalid_argument("inputs must be a non-empty list of rows")
    for index, row in enumerate(inputs):
        if not isinstance(row, list) or len(row) != INPUT_FEATURES:
            raise invalid_argument(f"inputs[{index}] must be a list of {INPUT_FEATURES} numbers")
        for value in row:
            if type(value) not in (int, float):
                raise invalid_argument(f"inputs[{index}] holds {json.dumps(value)[:40]}, "
                                       "which is not a number")
    try:
        rows = numpy.array(inputs, dtype=numpy.float64)
    except OverflowError:
        raise invalid_argument("inputs hold an integer too large for float32") from None
    with numpy.errstate(over="ignore"):
        rows = rows.astype(numpy.float32)
    if not numpy.isfinite(rows).all():
        raise invalid_argument("inputs hold a number too large for float32")
    return numpy.ascontiguousarray(rows)


# -- the application ----------------------------------------------------------------------

class ModelService:
    """The ASGI application (ASGI 3, ``http`` and ``lifespan`` scopes).

    Serves ``FUNCTION`` of ``program`` through a :class:`asyncvm.Batcher`
    that the lifespan protocol opens at startup and closes at shutdown
    (running the requests still waiting). HTTP requests that arrive while
    no batcher runs (before startup, after shutdown, or under a server that
    does not speak lifespan) are 503 UNAVAILABLE, and so is ``/health``.
    Requests are handled concurrently on the server's event loop.
    """

    def __init__(self, program: asyncvm.Program, *, max_batch_size: int, max_wait: float,
                 request_timeout: float, max_body_bytes: int) -> None:
        self.program = program
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.request_timeout = request_timeout
        self.max_body_bytes = max_body_bytes
        self.batcher: asyncvm.Batcher | None = None
        #: The statistics of the batcher of the last startup (kept after shutdown).
        self.statistics: asyncvm.BatcherStatistics | None = None
        self._routes = {
            "/predict": {"POST": self._predict},
            "/health": {"GET": self._health},
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:  # websocket and future scope types are not served
            raise RuntimeError(f"unsupported ASGI scope type {scope['type']!r}")

    # -- lifespan ---------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Holds the batcher open from ``lifespan.startup`` to ``lifespan.shutdown``."""
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        try:
            batcher = asyncvm.Batcher(self.program, FUNCTION,
                                      max_batch_size=self.max_batch_size,
                                      max_wait=self.max_wait)
        except VMError as error:
            await send({"type": "lifespan.startup.failed", "message": str(error)})
            return
        shutting_down = False
        try:
            async with batcher:
                self.batcher = batcher
                self.statistics = batcher.statistics
                await send({"type": "lifespan.startup.complete"})
                while (await receive())["type"] != "lifespan.shutdown":
                    pass
                shutting_down = True
                self.batcher = None  # new requests now fail; waiting ones still run
        except Exception as error:
            if not shutting_down:
                raise  # the batcher failed while serving: the server logs it
            await send({"type": "lifespan.shutdown.failed", "message": repr(error)})
            return
        finally:
            self.batcher = None
        await send({"type": "lifespan.shutdown.complete"})

    # -- http -------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            methods = self._routes.get(scope["path"])
            if methods is None:
                raise RequestError(404, StatusCode.NOT_FOUND.name,
                                   f"no such path: {scope['path']}")
            handler = methods.get(scope["method"])
            if handler is None:
                allowed = ", ".join(sorted(methods)).encode()
                raise RequestError(405, StatusCode.UNIMPLEMENTED.name,
                                   f"{scope['path']} takes {', '.join(sorted(methods))}, "
                                   f"not {scope['method']}", headers=[(b"allow", allowed)])
            status, document = await handler(receive)
            await _send_json(send, status, document)
        except RequestError as error:
            await _send_json(send, error.http_status,
                             {"error": error.message, "status": error.status_name},
                             error.headers)

    async def _read_body(self, receive: Receive) -> bytes:
        """The whole request body; RESOURCE_EXHAUSTED past max_body_bytes."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError(400, StatusCode.CANCELLED.name,
                                   "the client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise RequestError(413, StatusCode.RESOURCE_EXHAUSTED.name,
                                   f"the body is larger than {self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _predict(self, receive: Receive) -> tuple[int, dict]:
        rows = parse_inputs(await self._read_body(receive))
        batcher = self.batcher
        if batcher is None:
            raise RequestError(503, StatusCode.UNAVAILABLE.name,
                               "the model is not being served (no lifespan startup, "
                               "or shutting down)")
        try:
            with anyio.fail_after(self.request_timeout):
                (logits,) = await batcher(rows)
        except TimeoutError:
            raise RequestError(504, StatusCode.DEADLINE_EXCEEDED.name,
                               f"no answer within {self.request_timeout} s") from None
        except VMError as error:
            raise RequestError.from_vm_error(error) from None
        if not numpy.isfinite(logits).all():
            raise RequestError(400, StatusCode.OUT_OF_RANGE.name,
                               "the outputs overflow float32 for these inputs")
        return 200, {"outputs": logits.tolist()}

    async def _health(self, receive: Receive) -> tuple[int, dict]:
        batcher = self.batcher
        if batcher is None:
            return 503, {"status": "unavailable", "function": FUNCTION}
        statistics = batcher.statistics
        return 200, {"status": "ok", "function": FUNCTION, "batcher": {
            "requests": statistics.requests,
            "batches": statistics.batches,
            "rows": statistics.rows,
            "largest_batch": statistics.largest_batch,
            "max_batch_size": batcher.max_batch_size,
            "max_wait": batcher.max_wait,
        }}


async def _send_json(send: Send, status: int, document: Any,
                     headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps(document, allow_nan=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def create_app(program_or_vmfb_bytes: asyncvm.Program | bytes, *, max_batch_size: int = 32,
               max_wait: float = 0.002, device: str = "local-task",
               request_timeout: float = 30.0, max_body_bytes: int = 1 << 20) -> ModelService:
    """The ASGI application serving ``classify`` of a program.

    ``program_or_vmfb_bytes`` is an ``asyncvm.Program`` or the bytes of a
    .vmfb (loaded here on ``device``) exporting
    ``classify(tensor<?x16xf32>) -> tensor<?x4xf32>``. ``max_batch_size``
    bounds both a batch and a request (rows); ``max_wait`` is how long the
    oldest waiting request waits for others (seconds). Raises VMError if the
    program does not load; the batcher's settings are checked at startup
    (a bad setting fails the lifespan startup).
    """
    if isinstance(program_or_vmfb_bytes, asyncvm.Program):
        program = program_or_vmfb_bytes
    else:
        program = asyncvm.load(bytes(program_or_vmfb_bytes), device=device)
    return ModelService(program, max_batch_size=max_batch_size, max_wait=max_wait,
                        request_timeout=request_timeout, max_body_bytes=max_body_bytes)


# -- command line -------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    """Compiles and loads the model, then serves it until interrupted.
    Prints ``serving classify on http://HOST:PORT`` once the socket listens
    (``--port 0`` picks a free port and prints it) and ``stopped serving
    classify: R requests in B batches`` after a graceful shutdown (SIGINT or
    SIGTERM; uvicorn then re-raises the signal, so the exit status is the
    signal's)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--device", default="local-task", choices=["local-task", "local-sync"])
    parser.add_argument("--max-batch-size", type=int, default=32, help="rows (default 32)")
    parser.add_argument("--max-wait", type=float, default=0.002,
                        help="seconds a request waits for others (default 0.002)")
    parser.add_argument("--request-timeout", type=float, default=30.0,
                        help="seconds before a request fails with 504 (default 30)")
    parser.add_argument("--save-vmfb", type=pathlib.Path, metavar="PATH",
                        help="also write the compiled program to PATH")
    arguments = parser.parse_args(argv)

    vmfb = compile_model()
    if arguments.save_vmfb is not None:
        arguments.save_vmfb.write_bytes(vmfb)
    app = create_app(vmfb, max_batch_size=arguments.max_batch_size,
                     max_wait=arguments.max_wait, device=arguments.device,
                     request_timeout=arguments.request_timeout)

    class Server(uvicorn.Server):
        """uvicorn's server, announcing when it listens and when it stopped."""

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:
                host, port = self.servers[0].sockets[0].getsockname()[:2]
                host = f"[{host}]" if ":" in host else host
                print(f"serving {FUNCTION} on http://{host}:{port}", flush=True)

        async def shutdown(self, sockets=None) -> None:
            await super().shutdown(sockets)
            statistics = app.statistics
            if statistics is not None:
                print(f"stopped serving {FUNCTION}: {statistics.requests} requests in "
                      f"{statistics.batches} batches", flush=True)

    config = uvicorn.Config(app, host=arguments.host, port=arguments.port,
                            log_level="warning", lifespan="on")
    Server(config).run()


if __name__ == "__main__":
    sys.exit(main())
