"""Running the application under uvicorn: ``asyncvm serve`` and :func:`serve`.

:class:`ServeSettings` is everything the command line says. :func:`serve`
loads the program (in each worker, with ``workers > 1``) and runs uvicorn
until SIGTERM or SIGINT. Shutdown is graceful: at the signal the server stops
accepting connections, readiness turns 503 and inference requests that
arrive on open connections are refused with 503; requests already admitted
run to their answer (for at most ``graceful_timeout`` seconds), then the
batchers finish and the process exits 0 (after SIGINT it ends as Ctrl-C does).

With ``workers > 1`` that many processes share the listening socket
(:mod:`._workers`; uvicorn's own supervisor would run plain uvicorn servers,
without the draining above); each loads its own copy of the program (one
device each), and ``/metrics`` sums them all (prometheus_client's
multiprocess mode, in a temporary directory the supervisor owns). The
settings reach the workers through the environment variable
``ASYNCVM_SERVE_SETTINGS`` (JSON).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field

import uvicorn

from asyncvm._program import load, parameter_index

from ._application import DEFAULT_MAX_BODY_BYTES, create_application
from ._workers import supervise

SETTINGS_VARIABLE = "ASYNCVM_SERVE_SETTINGS"
_FACTORY = "asyncvm.serving._server:application_from_environment"
_log = logging.getLogger("asyncvm.serving")


@dataclass
class ServeSettings:
    """What ``asyncvm serve`` is told. ``modules`` are module sources in
    registration order (the last ``.vmfb`` is the program); ``parameters``
    are ``[SCOPE=]FILE`` specs; ``memory_limit`` bounds the bytes each
    worker's device holds at once (None: no limit; see ``asyncvm.load``)."""

    modules: list[str]
    parameters: list[str] = field(default_factory=list)
    device: str = "local-sync"
    memory_limit: int | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch_size: int = 64
    max_wait: float = 0.002
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    request_timeout: float | None = None
    workers: int = 1
    access_log: bool = True
    graceful_timeout: float = 30.0
    log_level: str = "info"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServeSettings":
        return cls(**json.loads(text))


def build_application(settings: ServeSettings):
    """Loads the program the settings name and returns its application.
    Raises VMError if a file cannot be loaded or nothing can be served
    (INVALID_ARGUMENT for a ``memory_limit`` that is not a positive int)."""
    from asyncvm.modules.io_parameters import split_scope

    index = None
    if settings.parameters:
        scopes: dict[str, list[str]] = {}
        for spec in settings.parameters:
            scope, path = split_scope(spec)
            scopes.setdefault(scope, []).append(path)
        index = parameter_index(scopes)
    program = load(settings.modules[-1], modules=settings.modules[:-1], device=settings.device,
                   parameters=index, memory_limit=settings.memory_limit)
    return create_application(program, max_batch_size=settings.max_batch_size,
                              max_wait=settings.max_wait,
                              max_body_bytes=settings.max_body_bytes,
                              request_timeout=settings.request_timeout)


def application_from_environment():
    """The application of the settings in ``ASYNCVM_SERVE_SETTINGS`` (the
    factory each worker process calls)."""
    settings = ServeSettings.from_json(os.environ[SETTINGS_VARIABLE])
    _configure_logging(settings)
    return build_application(settings)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which at the exit signal also marks the application
    as shutting down (readiness 503, new inference requests 503) before it
    stops accepting and waits for what is in flight. After a graceful
    SIGTERM the process exits 0 (uvicorn would raise the signal again and
    die of it); SIGINT is raised again, so Ctrl-C still ends it as one."""

    def handle_exit(self, sig, frame) -> None:
        application = self.config.loaded_app
        while application is not None:
            state = getattr(getattr(application, "state", None), "server", None)
            if state is not None:
                state.begin_shutdown()
                break
            application = getattr(application, "app", None)
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:
            self._captured_signals.remove(sig)


def _configure_logging(settings: ServeSettings) -> None:
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    for name in ("asyncvm.serving", "asyncvm.access"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.propagate = False
        logger.setLevel(level)
    logging.getLogger("asyncvm.access").disabled = not settings.access_log


def _config(settings: ServeSettings, application) -> uvicorn.Config:
    return uvicorn.Config(application, host=settings.host, port=settings.port,
                          factory=isinstance(application, str),
                          access_log=False, log_level=settings.log_level, lifespan="on",
                          timeout_graceful_shutdown=settings.graceful_timeout)


def serve(settings: ServeSettings) -> None:
    """Serves until SIGTERM or SIGINT (see the module docstring). Raises
    VMError if the program cannot be loaded or served (before listening)."""
    _configure_logging(settings)
    if settings.workers <= 1:
        application = build_application(settings)
        DrainingServer(_config(settings, application)).run()
        return
    build_application(settings)  # fail here, once, rather than in every worker
    metrics_directory = tempfile.mkdtemp(prefix="asyncvm-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_directory
    os.environ[SETTINGS_VARIABLE] = settings.to_json()
    try:
        listening = _config(settings, _FACTORY).bind_socket()
        supervise(settings.workers, run_worker, listening)
    finally:
        shutil.rmtree(metrics_directory, ignore_errors=True)


def run_worker(listening) -> None:
    """One worker process of ``--workers N``: the settings from the
    environment, the application loaded here, served on ``listening``."""
    settings = ServeSettings.from_json(os.environ[SETTINGS_VARIABLE])
    _configure_logging(settings)
    try:
        DrainingServer(_config(settings, _FACTORY)).run(sockets=[listening])
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the supervisor reports
        pass
