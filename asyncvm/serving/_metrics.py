"""Prometheus metrics of a server, written with ``prometheus_client``.

* ``asyncvm_inference_requests_total{model, code}``: inference requests by
  HTTP status.
* ``asyncvm_inference_request_duration_seconds{model}``: latency, from the
  request's arrival at the handler to its response body.
* ``asyncvm_batch_rows{model}`` and ``asyncvm_batch_requests{model}``: rows
  and requests per batched call.
* ``asyncvm_queue_depth{model}``: requests in the model's call: waiting
  for a batch or running.
* ``asyncvm_inflight_requests``: HTTP requests being handled.

In one process the metrics live in a registry of their own (so that several
applications can share a process). Under ``--workers N`` every worker writes
its values to ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess
mode) and ``/metrics`` of any worker reports the sum over all of them.
Nothing here suspends.
"""

from __future__ import annotations

import os

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def multiprocess_mode() -> bool:
    """Whether prometheus_client is set up to aggregate worker processes."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class ServerMetrics:
    """The metrics of one application; :meth:`exposition` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.shared = multiprocess_mode()
        # In multiprocess mode the values go to files, and exposition reads
        # them all back through a fresh registry; registering is not needed.
        self.registry = None if self.shared else CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter("asyncvm_inference_requests", "Inference requests by HTTP status",
                                ["model", "code"], registry=registry)
        self.latency = Histogram("asyncvm_inference_request_duration_seconds",
                                 "Latency of inference requests", ["model"],
                                 buckets=LATENCY_BUCKETS, registry=registry)
        self.batch_rows = Histogram("asyncvm_batch_rows", "Rows per batched call", ["model"],
                                    buckets=BATCH_BUCKETS, registry=registry)
        self.batch_requests = Histogram("asyncvm_batch_requests", "Requests per batched call",
                                        ["model"], buckets=BATCH_BUCKETS, registry=registry)
        self.queue_depth = Gauge("asyncvm_queue_depth", "Inference requests waiting for a "
                                 "batch or running", ["model"], registry=registry,
                                 multiprocess_mode="livesum")
        self.inflight = Gauge("asyncvm_inflight_requests", "HTTP requests being handled",
                              registry=registry, multiprocess_mode="livesum")

    def observe_batch(self, model: str, rows: int, requests: int) -> None:
        self.batch_rows.labels(model).observe(rows)
        self.batch_requests.labels(model).observe(requests)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of every metric, and its content type."""
        if self.shared:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST
