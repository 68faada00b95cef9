"""asyncvm on Ray Serve: a program served by replicas across a Ray cluster.

:func:`deployment` gives a Ray Serve application whose replicas each load
the program and serve it with the very application of ``asyncvm serve``
(mounted with ``serve.ingress``), so its HTTP ingress speaks the Open
Inference Protocol and a client cannot tell one machine from a cluster.
Inside a replica, concurrent requests interleave on the replica's event
loop and share batched calls through :class:`asyncvm.Batcher`; a replica
therefore takes many requests at once (``max_ongoing_requests``, 256 by
default). Python callers use a deployment handle::

    handle = serve.run(deployment(settings), name="asyncvm", route_prefix="/")
    outputs = await handle.infer.remote("classify", {"input0": rows})

``infer`` returns ``{output name: numpy array}``; a request the model
refuses raises :class:`asyncvm.VMError` (INVALID_ARGUMENT, NOT_FOUND...)
wrapped by Ray as the cause of a ``RayTaskError``.

How the files travel: the program (and other ``.vmfb``/``.py`` modules) are
read once by the caller and passed to the replicas as bytes through Ray's
object store, so only the caller needs them on disk; they are small.
Parameter files are passed by path and each replica maps them itself, so
they must be at the same path on every node (a shared filesystem, or copied
beforehand): they can be gigabytes, and mapping a file shares its pages
between replicas on a node, where copying through the object store would
hold a copy per node in the store and another per replica. Native ``.so``
modules are passed by path too (a shared library must be a file to load).

Needs the ``ray`` extra (``ray[serve]``) besides ``serve``.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy
from ray import serve

from asyncvm.vm import StatusCode, VMError

from ._errors import ProtocolError
from ._server import ServeSettings

DEFAULT_MAX_ONGOING_REQUESTS = 256


def _portable_module(source: str) -> tuple[str, Any]:
    """A module source as it travels to a replica: ``("bytes", (name,
    data))`` for .vmfb and .py files, ``("path", source)`` for the rest."""
    path = pathlib.Path(source.split("=", 1)[-1])
    if path.suffix in (".vmfb", ".py") and "=" not in source:
        return "bytes", (path.name, path.read_bytes())
    return "path", source


@serve.deployment(max_ongoing_requests=DEFAULT_MAX_ONGOING_REQUESTS)
@serve.ingress()
class ProgramDeployment:
    """One replica: the program loaded here, served over HTTP by the
    application of ``asyncvm serve`` and to Python callers by :meth:`infer`."""

    def __init__(self, modules: list[tuple[str, Any]], settings: dict) -> None:
        import tempfile

        from ._server import build_application

        self.settings = ServeSettings(**settings)
        sources: list[Any] = []
        for kind, value in modules:
            if kind == "path":
                sources.append(value)
            elif value[0].endswith(".py"):  # a Python file is run from a file
                directory = tempfile.mkdtemp(prefix="asyncvm-replica-")
                path = pathlib.Path(directory) / value[0]
                path.write_bytes(value[1])
                sources.append(str(path))
            else:
                sources.append(value[1])
        self.settings.modules = sources
        self.application = build_application(self.settings)
        self.state = self.application.state.server

    def __serve_build_asgi_app__(self):
        return self.application

    async def infer(self, model: str, inputs: dict[str, numpy.ndarray],
                    timeout: float | None = None) -> dict[str, numpy.ndarray]:
        """Runs ``model`` on ``inputs`` (input name -> array); returns output
        name -> array. Raises VMError: NOT_FOUND for an unknown model,
        INVALID_ARGUMENT for inputs that do not fit it, UNAVAILABLE before
        the replica is ready or while it shuts down, and the program's own
        failures with their status. Suspends until the call is done."""
        state = self.state
        if not state.ready:
            raise VMError(StatusCode.UNAVAILABLE, "the replica is not serving")
        served = state.models.get(model)
        if served is None:
            raise VMError(StatusCode.NOT_FOUND, f"unknown model '{model}' (this deployment has: "
                                                f"{', '.join(state.models)})")
        try:
            arguments = served.arguments({name: numpy.asarray(value)
                                          for name, value in dict(inputs).items()})
        except ProtocolError as error:
            raise VMError(StatusCode.INVALID_ARGUMENT, error.message) from None
        if timeout is None:
            timeout = self.settings.request_timeout
        served.admitted += 1
        try:
            results = await served.call(arguments, timeout)
        finally:
            served.admitted -= 1
        return {spec.name: numpy.asarray(value, spec.dtype)
                for spec, value in zip(served.outputs, results)}


    async def describe(self) -> dict:
        """This replica: its actor's name (``ray.get_actor(name,
        namespace="serve")``), process id, whether it is ready, and per model
        the requests and batches its batcher has run."""
        import os

        context = serve.get_replica_context()
        return {"replica": context.replica_id.to_full_id_str(),
                "pid": os.getpid(), "ready": self.state.ready,
                "models": {name: {"requests": model.batcher.statistics.requests,
                                  "batches": model.batcher.statistics.batches}
                           for name, model in self.state.models.items()
                           if getattr(model, "batcher", None) is not None}}


def deployment(settings: ServeSettings, *, replicas: int | None = 1,
               autoscale: tuple[int, int] | None = None,
               max_ongoing_requests: int = DEFAULT_MAX_ONGOING_REQUESTS,
               replica_cpus: float = 1.0) -> serve.Application:
    """The Ray Serve application of ``settings`` (its modules, parameters,
    device and batching; host, port and workers are Ray's business): a fixed
    number of ``replicas``, or with ``autoscale=(min, max)`` as many as Ray's
    autoscaler decides. Each replica asks Ray for ``replica_cpus`` CPUs (its
    event loop is one thread; 0 lets replicas share a node's CPUs freely,
    as the tests do on a small machine). Deploying other files under the
    same application name with ``serve.run`` replaces the replicas one by
    one (Ray sees the new arguments and rolls them). Reads the module files here (see the module docstring).
    Raises VMError NOT_FOUND for a file that cannot be read."""
    modules = []
    for source in settings.modules:
        try:
            modules.append(_portable_module(source))
        except OSError as error:
            raise VMError(StatusCode.NOT_FOUND,
                          f"cannot read module '{source}': {error.strerror}") from None
    options: dict[str, Any] = {"max_ongoing_requests": max_ongoing_requests,
                               "ray_actor_options": {"num_cpus": replica_cpus}}
    if autoscale is not None:
        low, high = autoscale
        options["autoscaling_config"] = {"min_replicas": low, "max_replicas": high,
                                         "target_ongoing_requests": max(1, max_ongoing_requests // 4)}
    else:
        options["num_replicas"] = replicas
    fields = {key: value for key, value in vars(settings).items() if key != "modules"}
    return ProgramDeployment.options(**options).bind(modules, {"modules": [], **fields})


__all__ = ["DEFAULT_MAX_ONGOING_REQUESTS", "ProgramDeployment", "deployment"]
