"""``asyncvm serve --ray``: deploy a program on Ray Serve and keep it there until told to stop.

Starts a local Ray instance (or joins the cluster at ``--ray-address``),
starts Serve's HTTP proxy on ``--host``/``--port`` (on every node of a
cluster; see :func:`proxy_timeout` for its request timeout), deploys :func:`asyncvm.serving.ray.deployment` as the Serve
application ``asyncvm`` at route ``/``, prints ``serving N models on Ray
Serve at http://HOST:PORT`` and waits. SIGTERM or SIGINT deletes the
application (Ray drains its replicas: requests in flight are answered) and,
for a local instance, shuts Ray down; the process then exits 0.
"""

from __future__ import annotations

import signal
import threading

from ._server import ServeSettings, _configure_logging

APPLICATION_NAME = "asyncvm"


PROXY_TIMEOUT_DEFAULT = 60.0


def proxy_timeout(settings: ServeSettings) -> float:
    """Serve's ``request_timeout_s``: a second past ``--request-timeout`` (so
    the replica's own 504 comes first), else a minute. It also bounds a
    request Ray loses track of when a replica dies under it (answered 408)."""
    if settings.request_timeout is not None:
        return settings.request_timeout + 1.0
    return PROXY_TIMEOUT_DEFAULT


def serve_on_ray(settings: ServeSettings, *, address: str | None, replicas: int,
                 autoscale: tuple[int, int] | None, replica_cpus: float) -> int:
    """Deploys and waits for a termination signal (see the module docstring);
    returns the exit code. Raises VMError if a module file cannot be read."""
    import ray
    from ray import serve

    from .ray import deployment

    _configure_logging(settings)
    application = deployment(settings, replicas=replicas, autoscale=autoscale,
                             replica_cpus=replica_cpus)
    stop = threading.Event()
    ray.init(address=address, logging_level="warning", log_to_driver=False)
    previous = {}
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port,
                                  "request_timeout_s": proxy_timeout(settings)})
        serve.run(application, name=APPLICATION_NAME, route_prefix="/", blocking=False)
        # Only now: Ray installs handlers of its own on the way here.
        previous = {number: signal.signal(number, lambda *_: stop.set())
                    for number in (signal.SIGTERM, signal.SIGINT)}
        print(f"serving on Ray Serve at http://{settings.host}:{settings.port} "
              f"({'autoscaling %d-%d' % autoscale if autoscale else f'{replicas}'} replicas)",
              flush=True)
        while not stop.wait(0.5):
            pass
        serve.delete(APPLICATION_NAME)
        if address is None:
            serve.shutdown()
        return 0
    finally:
        ray.shutdown()
        for number, handler in previous.items():
            signal.signal(number, handler)
