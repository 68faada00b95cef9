"""``asyncvm compare``: run one function on two sides and find the first dispatch that differs.

The two sides are two devices (``--device=local-sync --device2=local-task``)
or two builds of one source (``--module=a.vmfb --module2=b.vmfb``; with
several ``--module`` flags, ``--module2`` replaces the last, the program), or
both. Each side loads its own program and parses the same ``--input`` flags
(``asyncvm run``'s syntax) into its own arguments, then calls ``--function``
once with an instrument (see :mod:`asyncvm._instrument`) that records every
dispatch in the order it ran: its executable export, workgroup count, and
after it ran a copy of every bound buffer range, noting which ranges the
dispatch changed.

Dispatch ``i`` (counting from 0) of A is compared with dispatch ``i`` of B:
the bindings that either side's dispatch wrote are compared, bytes read as
the element type the export's name ends with (``..._64_f32`` is f32; the
last of ``i8xf32``), as ``--element-type`` says, or as bytes. By default
they must be identical; ``--atol``/``--rtol`` allow ``|a - b| <= atol +
rtol * |b|`` (NaN equals NaN). The report names the first dispatch that
differs (its index, both export names, the binding, the largest absolute
difference and the first differing element), or a dispatch one side ran
and the other did not, or says that all N dispatches and the results match.
When every dispatch matches, the function's results are compared too. Exit
code 0 when everything matches, 1 otherwise (and 1 with ``error: ...`` if a
side fails).

Memory: every side keeps a copy of every binding of every dispatch, so very
large programs need as much memory again per side. Dispatches that run
concurrently (independent work on ``local-task``) are recorded in the order
they finished, which may differ between the sides. Memory a dispatch only
partly writes keeps what the allocator left there, which may differ
between runs.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import threading
import zlib
from dataclasses import dataclass
from typing import Any

import numpy

from asyncvm._instrument import InstrumentEvent, InstrumentKind, install_instrument
from asyncvm.hal import BufferView, ElementType
from asyncvm.vm import StatusCode, VMError

from . import _run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _run.add_arguments(parser)
    parser.add_argument("--module2", metavar="FILE",
                        help="side B's program (.vmfb), in place of the last --module "
                             "(default: the same as side A)")
    parser.add_argument("--device2", choices=["local-sync", "local-task"],
                        help="side B's HAL device (default: --device)")
    parser.add_argument("--atol", type=float, default=0.0,
                        help="absolute tolerance (default 0: exact)")
    parser.add_argument("--rtol", type=float, default=0.0,
                        help="relative tolerance (default 0: exact)")
    parser.add_argument("--element-type", metavar="TYPE",
                        help="read every binding as TYPE (f32, i32, ...) instead of the type "
                             "the export's name ends with")


@dataclass
class DispatchRecord:
    """One dispatch as it ran: its export, workgroup count, the bytes of
    every binding after it ran, and whether the dispatch changed each."""

    name: str
    workgroup_count: tuple[int, int, int]
    bindings: list[numpy.ndarray]
    changed: list[bool]


class DispatchRecorder:
    """The instrument of one side: records each dispatch (thread-safe:
    on local-task dispatches run on queue workers)."""

    def __init__(self) -> None:
        self.records: list[DispatchRecord] = []
        self._lock = threading.Lock()
        self._checksums = threading.local()

    def __call__(self, event: InstrumentEvent) -> None:
        if event.kind is not InstrumentKind.DISPATCH:
            return
        if event.before:
            # Dispatches nest in no other dispatch on one thread: one slot each.
            self._checksums.value = [zlib.crc32(binding.bytes()) for binding in event.bindings]
            return
        before = getattr(self._checksums, "value", None) or []
        copies = [binding.bytes().copy() for binding in event.bindings]
        changed = [index >= len(before) or zlib.crc32(copy) != before[index]
                   for index, copy in enumerate(copies)]
        with self._lock:
            self.records.append(DispatchRecord(event.name, event.workgroup_count, copies,
                                               changed))


@dataclass
class Side:
    label: str
    results: tuple
    records: list[DispatchRecord]


async def _run_side(arguments: argparse.Namespace, label: str) -> Side | None:
    prepared = _run.prepare_call(arguments)
    if prepared is None:
        return None
    program, function, values = prepared
    recorder = DispatchRecorder()
    install_instrument(program, recorder)
    try:
        try:
            results = await program.context.invoke(function, *values)
        except VMError as error:
            raise VMError(error.status, f"side {label}: {error.message}",
                          backtrace=error.backtrace) from error
        results = tuple(value.to_array().copy() if isinstance(value, BufferView) else value
                        for value in results)
    finally:
        install_instrument(program, None)
        await program.close()
    return Side(label, results, recorder.records)


def _side_arguments(arguments: argparse.Namespace, second: bool) -> argparse.Namespace:
    side = argparse.Namespace(**vars(arguments))
    if second:
        if arguments.module2:
            side.module = list(arguments.module[:-1]) + [arguments.module2]
        if arguments.device2:
            side.device = arguments.device2
    return side


def _describe(arguments: argparse.Namespace) -> str:
    return f"{pathlib.Path(arguments.module[-1]).name} on {arguments.device}"


async def run(arguments: argparse.Namespace) -> int:
    if arguments.atol < 0 or arguments.rtol < 0 or not (
            numpy.isfinite(arguments.atol) and numpy.isfinite(arguments.rtol)):
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      "--atol and --rtol must be finite and >= 0")
    forced = None
    if arguments.element_type:
        forced = _dtype_of(arguments.element_type)
        if forced is None:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"--element-type={arguments.element_type}: not a byte-aligned "
                          "element type (f32, i32, f16, i8...)")
    first, second = _side_arguments(arguments, False), _side_arguments(arguments, True)
    sides = []
    for label, side_arguments in (("A", first), ("B", second)):
        side = await _run_side(side_arguments, label)
        if side is None:
            return 1
        sides.append(side)
    a, b = sides
    print(f"compare: {arguments.function} with {len(arguments.input)} input(s)")
    print(f"  A: {_describe(first)}, {len(a.records)} dispatch(es)")
    print(f"  B: {_describe(second)}, {len(b.records)} dispatch(es)")
    tolerance = Tolerance(arguments.atol, arguments.rtol)
    for index, (record_a, record_b) in enumerate(zip(a.records, b.records)):
        difference = _compare_dispatch(record_a, record_b, tolerance, forced)
        if difference is not None:
            print(f"dispatch {index} differs: A {record_a.name}, B {record_b.name} "
                  f"(workgroups A {_workgroups(record_a)}, B {_workgroups(record_b)})")
            print(f"  {difference}")
            return 1
    if len(a.records) != len(b.records):
        longer, label = (a, "A") if len(a.records) > len(b.records) else (b, "B")
        shorter = min(len(a.records), len(b.records))
        print(f"dispatch {shorter} differs: only {label} runs it "
              f"({longer.records[shorter].name}); A runs {len(a.records)} dispatch(es), "
              f"B {len(b.records)}, and the first {shorter} match")
        return 1
    for index, (value_a, value_b) in enumerate(zip(a.results, b.results)):
        difference = _compare_values(value_a, value_b, tolerance)
        if difference is not None:
            print(f"all {len(a.records)} dispatch(es) match, but result {index} differs: "
                  f"{difference}")
            return 1
    if len(a.results) != len(b.results):
        print(f"all {len(a.records)} dispatch(es) match, but A returns {len(a.results)} "
              f"result(s) and B {len(b.results)}")
        return 1
    print(f"all {len(a.records)} dispatch(es) and {len(a.results)} result(s) match"
          + ("" if tolerance.exact else f" (atol {tolerance.atol:g}, rtol {tolerance.rtol:g})"))
    return 0


# -- comparing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float

    @property
    def exact(self) -> bool:
        return self.atol == 0 and self.rtol == 0


_TYPE_SUFFIX = re.compile(r"_([a-z0-9]+(?:x[a-z0-9]+)*)$")


def _dtype_of(type_name: str) -> numpy.dtype | None:
    """The numpy dtype of an element type name (``f32``), None if it is not
    one or is packed below a byte."""
    try:
        element = ElementType.parse(type_name)
    except VMError:
        return None
    if not element.is_byte_aligned:
        return None
    return numpy.dtype(element.dtype)


def element_dtype(export_name: str) -> numpy.dtype | None:
    """The element type an IREE dispatch name ends with (``..._64_f32``:
    f32; ``..._i8xf32``: the last, f32), or None."""
    match = _TYPE_SUFFIX.search(export_name)
    if match is None:
        return None
    last = match.group(1).split("x")[-1]
    return _dtype_of(last) if re.fullmatch(r"(?:[a-z]+)\d+", last) else None


def _workgroups(record: DispatchRecord) -> str:
    return "x".join(str(count) for count in record.workgroup_count)


def _compare_dispatch(a: DispatchRecord, b: DispatchRecord, tolerance: Tolerance,
                      forced: numpy.dtype | None) -> str | None:
    """Why dispatch records ``a`` and ``b`` differ, or None."""
    if len(a.bindings) != len(b.bindings):
        return f"A binds {len(a.bindings)} buffer(s), B {len(b.bindings)}"
    dtype = forced or element_dtype(a.name) or element_dtype(b.name)
    for index, (bytes_a, bytes_b) in enumerate(zip(a.bindings, b.bindings)):
        if not (a.changed[index] or b.changed[index]):
            continue  # read by both sides, written by neither: an input
        if bytes_a.size != bytes_b.size:
            return f"binding {index}: A holds {bytes_a.size} bytes, B {bytes_b.size}"
        if tolerance.exact and numpy.array_equal(bytes_a, bytes_b):
            continue
        element = dtype if dtype is not None and bytes_a.size % dtype.itemsize == 0 \
            else numpy.dtype(numpy.uint8)
        difference = _compare_arrays(bytes_a.view(element), bytes_b.view(element), tolerance)
        if difference is not None:
            return (f"binding {index} ({bytes_a.size // element.itemsize} x {element}, written "
                    f"by {'both' if a.changed[index] and b.changed[index] else 'one side'}): "
                    f"{difference}")
    return None


def _compare_values(a: Any, b: Any, tolerance: Tolerance) -> str | None:
    if isinstance(a, numpy.ndarray) and isinstance(b, numpy.ndarray):
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"A is {a.shape} {a.dtype}, B {b.shape} {b.dtype}"
        return _compare_arrays(a.reshape(-1), b.reshape(-1), tolerance)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return _compare_arrays(numpy.array([a]), numpy.array([b]), tolerance)
    return None if type(a) is type(b) else f"A is {type(a).__name__}, B {type(b).__name__}"


def _compare_arrays(a: numpy.ndarray, b: numpy.ndarray, tolerance: Tolerance) -> str | None:
    """Why flat arrays ``a`` and ``b`` (same dtype and size) differ, or None.
    Exact: the same bits, except that any NaN equals any NaN."""
    if a.dtype.kind == "c":  # complex: compare the real and imaginary parts
        a, b = a.view(a.real.dtype), b.view(b.real.dtype)
    wide_a, wide_b = _as_float64(a), _as_float64(b)
    if tolerance.exact:
        if a.dtype.itemsize in (1, 2, 4, 8):
            bits = numpy.dtype(f"u{a.dtype.itemsize}")
            same = a.view(bits) == b.view(bits)
        else:
            same = (a.view(numpy.uint8).reshape(a.size, -1)
                    == b.view(numpy.uint8).reshape(b.size, -1)).all(axis=1)
        same |= numpy.isnan(wide_a) & numpy.isnan(wide_b)
    else:
        same = numpy.isclose(wide_a, wide_b, rtol=tolerance.rtol, atol=tolerance.atol,
                             equal_nan=True)
    if bool(numpy.all(same)):
        return None
    first = int(numpy.argmin(same))
    with numpy.errstate(invalid="ignore", over="ignore"):
        differences = numpy.abs(wide_a - wide_b)
    finite = differences[numpy.isfinite(differences)]
    largest = float(finite.max()) if finite.size else float("nan")
    count = int(numpy.count_nonzero(~same))
    return (f"{count} of {a.size} element(s) differ, max abs difference {largest:g}, "
            f"first at element {first}: A {_element_text(a[first])} B {_element_text(b[first])}")


def _as_float64(values: numpy.ndarray) -> numpy.ndarray:
    try:
        return values.astype(numpy.float64)
    except (TypeError, ValueError):
        return values.view(numpy.uint8).astype(numpy.float64)


def _element_text(value: Any) -> str:
    if isinstance(value, (numpy.floating, float)):
        return f"{float(value):g}"
    return str(value)
