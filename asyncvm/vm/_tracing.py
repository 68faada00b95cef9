"""Chrome / Perfetto traces of invocations, suspensions, queue work and kernels.

``with tracing() as tracer: ...`` records events from every layer into one
:class:`Tracer` until the block ends; ``tracer.write(path)`` saves the JSON
that chrome://tracing and ui.perfetto.dev open. Invocations and their
suspensions are async events (one track per invocation, so interleaving on a
single thread shows as overlapping tracks); queue work and kernel runs are
complete events on the thread that ran them (a dispatch's event names its
executable export and gives its format, workgroup count and bytes bound).
:meth:`Tracer.set_metadata` adds entries to the trace's ``metadata`` object
(a profile report goes there, see :mod:`asyncvm._profile`), and
:meth:`Tracer.counter` records counter tracks. With no tracer installed every
hook is a single ``None`` check. Recording is thread-safe.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
import time
from typing import Any, Iterator


class Tracer:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._origin = time.perf_counter_ns()
        self.metadata: dict[str, Any] = {}

    def now(self) -> float:
        """Microseconds since the tracer started."""
        return (time.perf_counter_ns() - self._origin) / 1000.0

    def _add(self, event: dict) -> None:
        event.setdefault("pid", os.getpid())
        event.setdefault("tid", threading.get_ident())
        with self._lock:
            self.events.append(event)

    def new_id(self) -> int:
        return next(self._ids)

    def begin_async(self, name: str, category: str, identifier: int, **args: Any) -> None:
        self._add({"name": name, "cat": category, "ph": "b", "id": identifier,
                   "ts": self.now(), "args": args})

    def end_async(self, name: str, category: str, identifier: int, **args: Any) -> None:
        self._add({"name": name, "cat": category, "ph": "e", "id": identifier,
                   "ts": self.now(), "args": args})

    def complete(self, name: str, category: str, start: float, **args: Any) -> None:
        """A finished span that began at ``start`` (from :meth:`now`) on this thread."""
        self._add({"name": name, "cat": category, "ph": "X", "ts": start,
                   "dur": self.now() - start, "args": args})

    def instant(self, name: str, category: str, **args: Any) -> None:
        self._add({"name": name, "cat": category, "ph": "i", "s": "t", "ts": self.now(),
                   "args": args})

    def counter(self, name: str, category: str, **values: float) -> None:
        """A sample of counter track ``name`` (one series per keyword)."""
        self._add({"name": name, "cat": category, "ph": "C", "ts": self.now(), "args": values})

    def set_metadata(self, key: str, value: Any) -> None:
        """Sets ``metadata[key]`` (JSON-serializable) in the written trace."""
        with self._lock:
            self.metadata[key] = value

    def write(self, path: str | os.PathLike) -> None:
        """Writes the JSON trace: ``traceEvents``, and ``metadata`` when set."""
        with self._lock:
            events = list(self.events)
            metadata = dict(self.metadata)
        document: dict[str, Any] = {"traceEvents": events, "displayTimeUnit": "ms"}
        if metadata:
            document["metadata"] = metadata
        with open(path, "w", encoding="utf-8") as file:
            json.dump(document, file)


_active: Tracer | None = None


def active_tracer() -> Tracer | None:
    """The tracer recording now, or None."""
    return _active


@contextlib.contextmanager
def tracing() -> Iterator[Tracer]:
    """Installs a new tracer for the duration of the block (one at a time)."""
    global _active
    previous, tracer = _active, Tracer()
    _active = tracer
    try:
        yield tracer
    finally:
        _active = previous
