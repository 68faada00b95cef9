"""Profiles: where a program's calls spend their time, per function, import and dispatch.

``with asyncvm.profile(program) as report: await program.invoke(...)``
records every call made while the block runs, through an observer on the
program's instrument hooks (see :mod:`asyncvm._instrument`: it coexists
with an instrument set by ``program.set_instrument``), and ``print(report)``
shows a table in the manner of TVM's profiler report (here ten calls of
tests/programs/profile_work.mlir on VMVX, some import rows left out)::

  Name                                 Kind      Calls  Total (ms)  Mean (us)   Share  Workgroups  Bytes/call
  -----------------------------------  --------  -----  ----------  ---------  ------  ----------  ----------
  module.work                          function     10      93.789    9378.93  100.0%
  hal.device.queue.execute.indirect    import       30      87.912    2930.40   93.7%
  work_dispatch_0_matmul_16x16x16_f32  dispatch     10      78.551    7855.07   83.8%  1x1x1            3,072
  work_dispatch_1_elementwise_256_f32  dispatch     10       3.655     365.54    3.9%  4x1x1            3,072
  work_dispatch_2_reduction_16x16_f32  dispatch     10       3.606     360.57    3.8%  1x1x1            1,088
  hal.device.queue.alloca              import       30       0.932      31.07    1.0%
  hal.fence.await                      import       30       0.251       8.38    0.3%
  ...
  -----------------------------------  --------  -----  ----------  ---------  ------  ----------  ----------
  Total                                             10      93.789    9378.93  100.0%
  10 invocation(s) took 93.789 ms of 95.655 ms wall time; imports and dispatches run within them

One row per exported function invoked (``module.function``), per import
called by the program's bytecode (``hal.fence.await``) and per dispatched
executable export, sorted by total time. Rows nest: a function's time
includes the imports it called, and an import that executes a command
buffer includes its dispatches when they finish within one time slice (on
``local-sync``; a longer dispatch goes on in later slices of the event loop
while the invocation waits in ``hal.fence.await``, and on ``local-task``
dispatches run on worker threads, overlapping the invocation's other work,
mostly its ``hal.fence.await``). *Share* is a row's
total over the Total row, the summed time of the exported invocations (so
the function rows' shares add up to 100% and the others are parts of it).
Dispatches also show their workgroup count (the most frequent, ``+N`` when
calls differed) and the bytes bound per call.

``report.table()``, ``report.csv()`` and ``report.json()`` give the three
formats; ``report.rows`` the :class:`ProfileRow` objects. The report is live
while the block runs and final after it. When a Chrome/Perfetto trace is
being recorded (:func:`asyncvm.vm.tracing`) as the block ends, the report
goes into the trace's metadata (``asyncvm.profile``), next to the per-dispatch
events the trace has anyway. Times exclude the profile's own bookkeeping of
the call itself, not that of the calls nested in it (a few microseconds per
import). Does not suspend; thread-safe.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from ._instrument import InstrumentEvent, InstrumentKind, set_callback
from .vm import StatusCode, VMError, active_tracer

FORMATS = ("table", "csv", "json")
"""What :meth:`ProfileReport.format` (and ``asyncvm benchmark --profile=``) writes."""

_KIND_ORDER = {InstrumentKind.FUNCTION: 0, InstrumentKind.IMPORT: 1, InstrumentKind.DISPATCH: 2}


@dataclass
class ProfileRow:
    """The calls of one function, import or dispatched export.

    ``total_seconds`` sums the calls' times; ``failed`` and ``skipped``
    count calls that raised or that an instrument skipped (included in
    ``calls``). Dispatches count their ``workgroup_counts`` (count ->
    calls) and the bytes bound over all calls.
    """

    kind: InstrumentKind
    name: str
    calls: int = 0
    total_seconds: float = 0.0
    minimum_seconds: float = float("inf")
    maximum_seconds: float = 0.0
    failed: int = 0
    skipped: int = 0
    bytes_bound: int = 0
    workgroup_counts: collections.Counter = field(default_factory=collections.Counter)

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / self.calls if self.calls else 0.0

    @property
    def bytes_per_call(self) -> float:
        return self.bytes_bound / self.calls if self.calls else 0.0

    @property
    def workgroup_count(self) -> tuple[int, int, int] | None:
        """The most frequent workgroup count (None for other kinds)."""
        if not self.workgroup_counts:
            return None
        return self.workgroup_counts.most_common(1)[0][0]

    def workgroups_text(self) -> str:
        common = self.workgroup_count
        if common is None:
            return ""
        text = "x".join(str(count) for count in common)
        others = len(self.workgroup_counts) - 1
        return f"{text} +{others}" if others else text

    def add(self, event: InstrumentEvent) -> None:
        elapsed = event.elapsed or 0.0
        self.calls += 1
        self.total_seconds += elapsed
        self.minimum_seconds = min(self.minimum_seconds, elapsed)
        self.maximum_seconds = max(self.maximum_seconds, elapsed)
        if event.error is not None:
            self.failed += 1
        if event.skipped:
            self.skipped += 1
        if event.kind is InstrumentKind.DISPATCH:
            self.bytes_bound += event.bytes_bound
            self.workgroup_counts[event.workgroup_count] += 1

    def copy(self) -> "ProfileRow":
        copied = ProfileRow(self.kind, self.name, self.calls, self.total_seconds,
                            self.minimum_seconds, self.maximum_seconds, self.failed,
                            self.skipped, self.bytes_bound)
        copied.workgroup_counts = collections.Counter(self.workgroup_counts)
        return copied


class ProfileReport:
    """What :func:`profile` recorded: rows by (kind, name), the time of the
    exported invocations (``total_seconds``) and the block's wall time
    (``wall_seconds``, up to now while it runs)."""

    def __init__(self, title: str = "") -> None:
        self.title = title
        self._rows: dict[tuple[InstrumentKind, str], ProfileRow] = {}
        self._lock = threading.Lock()
        self._began = time.perf_counter()
        self._ended: float | None = None

    # -- recording ----------------------------------------------------------------------

    def record(self, event: InstrumentEvent) -> None:
        """Adds an after-event (before-events are ignored). Thread-safe."""
        if event.before:
            return
        key = (event.kind, event.name)
        with self._lock:
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = ProfileRow(event.kind, event.name)
            row.add(event)

    def finish(self) -> None:
        """Stops the wall clock (the block ended)."""
        if self._ended is None:
            self._ended = time.perf_counter()

    # -- reading ------------------------------------------------------------------------

    @property
    def rows(self) -> list[ProfileRow]:
        """Copies of the rows, by total time (longest first)."""
        with self._lock:
            rows = [row.copy() for row in self._rows.values()]
        rows.sort(key=lambda row: (-row.total_seconds, _KIND_ORDER[row.kind], row.name))
        return rows

    def row(self, name: str, kind: InstrumentKind | str | None = None) -> ProfileRow:
        """The row of ``name`` (of ``kind``, when names repeat across kinds).
        NOT_FOUND if nothing of that name was called."""
        for row in self.rows:
            if row.name == name and (kind is None or row.kind == kind):
                return row
        raise VMError(StatusCode.NOT_FOUND, f"the profile has no row {name!r}"
                      + (f" of kind {kind}" if kind is not None else ""))

    def rows_of(self, kind: InstrumentKind | str) -> list[ProfileRow]:
        return [row for row in self.rows if row.kind == kind]

    @property
    def total_seconds(self) -> float:
        """Summed time of the exported invocations (the Total row)."""
        with self._lock:
            return sum(row.total_seconds for row in self._rows.values()
                       if row.kind is InstrumentKind.FUNCTION)

    @property
    def calls(self) -> int:
        """Exported invocations recorded."""
        with self._lock:
            return sum(row.calls for row in self._rows.values()
                       if row.kind is InstrumentKind.FUNCTION)

    @property
    def wall_seconds(self) -> float:
        end = self._ended if self._ended is not None else time.perf_counter()
        return end - self._began

    def _whole(self) -> float:
        whole = self.total_seconds
        return whole if whole > 0 else self.wall_seconds

    # -- formats ------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The report as plain data (what :meth:`json` writes)."""
        whole = self._whole()
        rows = []
        for row in self.rows:
            entry = {"name": row.name, "kind": row.kind.value, "calls": row.calls,
                     "total_seconds": row.total_seconds, "mean_seconds": row.mean_seconds,
                     "min_seconds": row.minimum_seconds if row.calls else 0.0,
                     "max_seconds": row.maximum_seconds,
                     "share": row.total_seconds / whole if whole else 0.0,
                     "failed": row.failed, "skipped": row.skipped}
            if row.kind is InstrumentKind.DISPATCH:
                entry["workgroup_count"] = list(row.workgroup_count or ())
                entry["workgroup_counts"] = [
                    {"workgroup_count": list(count), "calls": calls}
                    for count, calls in row.workgroup_counts.most_common()]
                entry["bytes_bound_per_call"] = row.bytes_per_call
                entry["bytes_bound"] = row.bytes_bound
            rows.append(entry)
        return {"title": self.title, "calls": self.calls, "total_seconds": self.total_seconds,
                "wall_seconds": self.wall_seconds, "rows": rows}

    def json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def csv(self) -> str:
        """One line per row, with a header: name, kind, calls, total_seconds,
        mean_seconds, share (a fraction), workgroup_count (``XxYxZ``),
        bytes_per_call, failed, skipped."""
        whole = self._whole()
        output = io.StringIO()
        writer = csv.writer(output, lineterminator="\n")
        writer.writerow(["name", "kind", "calls", "total_seconds", "mean_seconds", "share",
                         "workgroup_count", "bytes_per_call", "failed", "skipped"])
        for row in self.rows:
            dispatch = row.kind is InstrumentKind.DISPATCH
            writer.writerow([row.name, row.kind.value, row.calls, f"{row.total_seconds:.9f}",
                             f"{row.mean_seconds:.9f}",
                             f"{row.total_seconds / whole if whole else 0.0:.6f}",
                             "x".join(map(str, row.workgroup_count)) if dispatch else "",
                             f"{row.bytes_per_call:g}" if dispatch else "",
                             row.failed, row.skipped])
        return output.getvalue()

    def table(self) -> str:
        """Aligned columns, longest total first, then a Total row."""
        whole = self._whole()
        header = ["Name", "Kind", "Calls", "Total (ms)", "Mean (us)", "Share", "Workgroups",
                  "Bytes/call"]
        right = [False, False, True, True, True, True, False, True]
        lines = []
        for row in self.rows:
            dispatch = row.kind is InstrumentKind.DISPATCH
            lines.append([row.name, row.kind.value, str(row.calls),
                          f"{row.total_seconds * 1e3:.3f}", f"{row.mean_seconds * 1e6:.2f}",
                          _percent(row.total_seconds, whole), row.workgroups_text(),
                          f"{row.bytes_per_call:,.0f}" if dispatch else ""])
        calls = self.calls
        total = self.total_seconds
        footer = ["Total", "", str(calls), f"{total * 1e3:.3f}",
                  f"{total / calls * 1e6:.2f}" if calls else "", _percent(total, whole), "", ""]
        widths = [max(len(cells[column]) for cells in [header, footer, *lines])
                  for column in range(len(header))]

        def render(cells: list[str]) -> str:
            return "  ".join(cell.rjust(width) if align else cell.ljust(width)
                             for cell, width, align in zip(cells, widths, right)).rstrip()

        rule = "  ".join("-" * width for width in widths)
        text = [self.title] if self.title else []
        text += [render(header), rule, *map(render, lines), rule, render(footer)]
        text.append(f"{calls} invocation(s) took {total * 1e3:.3f} ms of "
                    f"{self.wall_seconds * 1e3:.3f} ms wall time; imports and dispatches "
                    "run within them")
        return "\n".join(text)

    def format(self, kind: str = "table") -> str:
        """:meth:`table`, :meth:`csv` or :meth:`json` by name;
        INVALID_ARGUMENT for another."""
        if kind not in FORMATS:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"unknown profile format {kind!r} (expected one of {', '.join(FORMATS)})")
        return getattr(self, kind)()

    def write_to_trace(self, tracer: Any) -> None:
        """Puts the report (:meth:`to_dict`) into the trace's metadata, under
        ``asyncvm.profile``."""
        tracer.set_metadata("asyncvm.profile", self.to_dict())

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (f"<ProfileReport {self.calls} invocation(s), {len(self._rows)} rows, "
                f"{self.total_seconds * 1e3:.3f} ms>")


def _percent(part: float, whole: float) -> str:
    return f"{part / whole * 100:.1f}%" if whole else "-"


_keys = itertools.count(1)


@contextlib.contextmanager
def profile(program: Any, *, title: str = "") -> Iterator[ProfileReport]:
    """Profiles every call ``program`` (a Program or Context) makes while
    the block runs; the report is final when it ends (see the module
    docstring). Profiles may nest and coexist with an instrument; each
    adds its own observer. When a trace is being recorded as the block
    ends, the report is also written into its metadata. Raises VMError
    INVALID_ARGUMENT if ``program`` is neither. Does not suspend."""
    report = ProfileReport(title)
    key = f"profile-{next(_keys)}"
    set_callback(program, key, report.record)
    try:
        yield report
    finally:
        report.finish()
        set_callback(program, key, None)
        tracer = active_tracer()
        if tracer is not None:
            report.write_to_trace(tracer)


__all__ = ["FORMATS", "ProfileReport", "ProfileRow", "profile"]
