"""``asyncvm serve``: serve a program's functions over the Open Inference Protocol.

Every public function is a model named after it (KServe v2 REST: health,
metadata, ``/v2/models/NAME/infer`` with JSON or binary tensors, and
Prometheus ``/metrics``). Functions whose tensors all have a dynamic leading
dimension are batched: concurrent requests that arrive within ``--max-wait``
seconds share one call of up to ``--max-batch-size`` rows. SIGTERM or
Ctrl-C shuts down gracefully (in-flight requests are answered). With
``--ray`` the program is deployed on Ray Serve instead (``--replicas`` or
``--autoscale``, on a local Ray instance or the cluster at ``--ray-address``),
behind the same protocol. ``--memory-limit=BYTES`` bounds what each
worker's device holds at once: a request whose call would pass it is
answered 503 with ``RESOURCE_EXHAUSTED``, and other requests go on.
"""

from __future__ import annotations

import argparse
import sys

from . import _run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--module", action="append", required=True,
                        help="a .vmfb, .py (Python modules) or .so (tvm-ffi library; NAME=PATH "
                             "names it) file; repeat to register several in order (the last "
                             ".vmfb is the program)")
    parser.add_argument("--device", default="local-sync", choices=["local-sync", "local-task"],
                        help="the HAL device of each worker (default local-sync)")
    _run.add_parameters_argument(parser)
    _run.add_memory_limit_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--max-batch-size", type=int, default=64,
                        help="rows per batched call; 0 turns batching off (default 64)")
    parser.add_argument("--max-wait", type=float, default=0.002,
                        help="seconds a request waits for others to share its batch "
                             "(default 0.002)")
    parser.add_argument("--max-body-bytes", type=int, default=64 << 20,
                        help="largest request body; larger ones get 413 (default 64 MiB)")
    parser.add_argument("--request-timeout", type=float, default=None,
                        help="seconds an inference request may take before it fails with 504 "
                             "(a request's own parameters.timeout can shorten it)")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes sharing the port, each with its own program "
                             "(default 1)")
    parser.add_argument("--graceful-timeout", type=float, default=30.0,
                        help="seconds to finish in-flight requests after SIGTERM (default 30)")
    parser.add_argument("--no-access-log", dest="access_log", action="store_false",
                        help="do not write the JSON access log to stderr")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    ray = parser.add_argument_group("Ray Serve (the ray extra)")
    ray.add_argument("--ray", action="store_true",
                     help="deploy on Ray Serve instead of serving in this process")
    ray.add_argument("--ray-address", default=None,
                     help="the cluster to join (default: start a local Ray instance)")
    ray.add_argument("--replicas", type=int, default=None,
                     help="a fixed number of replicas (default 1; not with --autoscale)")
    ray.add_argument("--autoscale", default=None, metavar="MIN,MAX",
                     help="let Ray's autoscaler run MIN to MAX replicas")
    ray.add_argument("--replica-cpus", type=float, default=1.0,
                     help="CPUs Ray reserves per replica (default 1)")


def settings_from(arguments: argparse.Namespace):
    from asyncvm.serving import ServeSettings

    return ServeSettings(
        modules=list(arguments.module), parameters=list(arguments.parameters),
        device=arguments.device, memory_limit=arguments.memory_limit, host=arguments.host,
        port=arguments.port,
        max_batch_size=arguments.max_batch_size, max_wait=arguments.max_wait,
        max_body_bytes=arguments.max_body_bytes, request_timeout=arguments.request_timeout,
        workers=arguments.workers, access_log=arguments.access_log,
        graceful_timeout=arguments.graceful_timeout, log_level=arguments.log_level)


def main(arguments: argparse.Namespace) -> int:
    """Runs the server in this thread (uvicorn owns the event loop); returns
    the exit code."""
    problems = []
    if arguments.max_batch_size < 0:
        problems.append("--max-batch-size must be >= 0")
    if arguments.max_wait < 0:
        problems.append("--max-wait must be >= 0")
    if arguments.workers < 1:
        problems.append("--workers must be >= 1")
    if arguments.max_body_bytes < 1:
        problems.append("--max-body-bytes must be >= 1")
    if arguments.request_timeout is not None and arguments.request_timeout <= 0:
        problems.append("--request-timeout must be > 0")
    if arguments.memory_limit is not None and arguments.memory_limit < 1:
        problems.append("--memory-limit must be >= 1 byte")
    autoscale = None
    if arguments.autoscale is not None:
        try:
            low, high = (int(part) for part in arguments.autoscale.split(","))
            if not 0 <= low <= high or high < 1:
                raise ValueError
            autoscale = (low, high)
        except ValueError:
            problems.append("--autoscale must be MIN,MAX with 0 <= MIN <= MAX, MAX >= 1")
    if arguments.replicas is not None and arguments.replicas < 1:
        problems.append("--replicas must be >= 1")
    if arguments.replicas is not None and autoscale is not None:
        problems.append("--replicas and --autoscale exclude each other")
    if problems:
        print("error: " + "; ".join(problems), file=sys.stderr)
        return 2
    if arguments.ray:
        try:
            from asyncvm.serving._ray_command import serve_on_ray
        except ImportError as error:
            print(f"error: asyncvm serve --ray needs the ray extra (pip install "
                  f"'asyncvm[ray]'): {error}", file=sys.stderr)
            return 1
        return serve_on_ray(settings_from(arguments), address=arguments.ray_address,
                            replicas=arguments.replicas or 1, autoscale=autoscale,
                            replica_cpus=arguments.replica_cpus)
    try:
        from asyncvm.serving import serve
    except ImportError as error:
        print(f"error: asyncvm serve needs the serve extra (pip install 'asyncvm[serve]'): "
              f"{error}", file=sys.stderr)
        return 1
    serve(settings_from(arguments))
    return 0
