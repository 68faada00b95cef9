"""``asyncvm.Batcher``: coalesces concurrent calls into batched calls.

A program compiled with a batch dimension (the leading dimension of its
batched arguments and of every result) serves many small requests faster
as one larger call. A :class:`Batcher` collects the requests that arrive
within ``max_wait`` seconds of the oldest waiting one, up to
``max_batch_size`` rows, concatenates their arguments along the leading
axis, makes one call, and hands each caller its own rows of every result.
Given ``expected`` (how many more requests are on their way), it stops
waiting as soon as none are.

Contract:

* Use it inside ``async with Batcher(...) as batcher:``; the batches run in
  the batcher's own task group, so the callers' cancellation never cancels
  a batch that other callers share. Leaving the block runs what is already
  waiting, then returns; calls after that are FAILED_PRECONDITION.
* ``await batcher(*arguments)`` suspends until the request's batch is done.
  Each argument is a numpy array whose leading dimension is the request's
  row count (the same for all of them); ``fixed_arguments`` given at
  construction follow them in every call. Returns a tuple of numpy arrays,
  the caller's rows of each result (copies: they do not keep the batch's
  buffers alive).
* Requests batch together only with requests of the same dtypes and
  trailing shapes; a request that the program rejects fails with the
  program's VMError, and so do only the requests in its batch. Every caller
  gets an exception object of its own. Anything else a batch raises (numpy
  failing to concatenate, a bug in Python code around the call) fails that
  batch's requests alike, as VMError INTERNAL naming the cause (chained as
  ``__cause__``; RESOURCE_EXHAUSTED for MemoryError and RecursionError);
  the batcher serves on.
* A cancelled caller's request is dropped if its batch has not started; if
  it has, the batch runs on and the caller's rows are discarded.
* ``pad_to_max_batch_size=True`` serves programs compiled for one static
  batch size: every batch is padded with zero rows to ``max_batch_size``.
* At most ``max_concurrent_batches`` batches run at once; while they do,
  requests accumulate into the next batch.

Errors: INVALID_ARGUMENT for a request of no rows, more rows than
``max_batch_size``, arguments that are not arrays or disagree on the row
count, or the wrong number of arguments; FAILED_PRECONDITION outside the
``async with`` block; CANCELLED for requests still waiting when the block
is left by an exception; FAILED_PRECONDITION if a result has no leading
batch dimension of the batch's size.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import anyio
import numpy

from ._function import ProgramFunction
from ._program import Program
from .vm import StatusCode, VMError, export_failure


@dataclass
class BatcherStatistics:
    """What a batcher has done so far (for tests, logs and tuning)."""

    requests: int = 0
    batches: int = 0
    rows: int = 0
    padded_rows: int = 0
    dropped_requests: int = 0
    batch_sizes: collections.Counter = field(default_factory=collections.Counter)

    @property
    def largest_batch(self) -> int:
        return max(self.batch_sizes, default=0)


class _Request:
    __slots__ = ("arguments", "rows", "key", "arrival", "done", "results", "error",
                 "abandoned", "taken")

    def __init__(self, arguments: tuple, rows: int, key: tuple, arrival: float) -> None:
        self.arguments = arguments
        self.rows = rows
        self.key = key
        self.arrival = arrival
        self.done = anyio.Event()
        self.results: tuple | None = None
        self.error: VMError | None = None
        self.abandoned = False
        self.taken = False

    def finish(self, results: tuple | None, error: VMError | None) -> None:
        if not self.done.is_set():
            self.results = results
            self.error = error
            self.done.set()


class Batcher:
    """Coalesces concurrent calls of one function of a program into batches."""

    def __init__(self, program: Program, function: str | ProgramFunction, *, max_batch_size: int,
                 max_wait: float, fixed_arguments: tuple = (),
                 pad_to_max_batch_size: bool = False, max_concurrent_batches: int = 2,
                 on_batch: Callable[[int, int], None] | None = None,
                 expected: Callable[[], int] | None = None) -> None:
        """``function`` is a name or ``program[name]``. ``on_batch(rows,
        requests)``, if given, is called as each batch starts (for metrics; it
        must not raise or block). ``expected()``, if given, says how many
        more calls are on their way (a server: requests it has admitted that
        have not reached the batcher yet); while it is 0 a batch starts at
        once instead of waiting out ``max_wait`` for company that cannot
        come, so a lone request pays no batching delay. Raises INVALID_ARGUMENT
        for settings out of range and NOT_FOUND for a function the program
        does not export. Does not suspend."""
        if not isinstance(max_batch_size, int) or max_batch_size < 1:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"max_batch_size must be >= 1, got {max_batch_size!r}")
        if not isinstance(max_wait, (int, float)) or not 0 <= max_wait < math.inf:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"max_wait must be a finite number of seconds >= 0, got {max_wait!r}")
        if not isinstance(max_concurrent_batches, int) or max_concurrent_batches < 1:
            raise VMError(StatusCode.INVALID_ARGUMENT, "max_concurrent_batches must be >= 1, "
                          f"got {max_concurrent_batches!r}")
        self.program = program
        self.function = program.lookup(function)
        self.max_batch_size = max_batch_size
        self.max_wait = float(max_wait)
        self.fixed_arguments = tuple(fixed_arguments)
        self.pad_to_max_batch_size = pad_to_max_batch_size
        self.max_concurrent_batches = max_concurrent_batches
        self.statistics = BatcherStatistics()
        self.on_batch = on_batch
        self.expected = expected
        self._batched_count = len(self.function.signature.arguments) - len(self.fixed_arguments)
        if self._batched_count < 1:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{self.function.full_name} takes "
                          f"{len(self.function.signature.arguments)} argument(s): none is "
                          f"left to batch after {len(self.fixed_arguments)} fixed ones")
        self._pending: collections.deque[_Request] = collections.deque()
        self._waiting_rows: collections.Counter = collections.Counter()  # rows pending per kind
        self._abandoned = 0  # pending requests whose callers are gone
        self._arrived: anyio.Event | None = None
        self._group: anyio.abc.TaskGroup | None = None
        self._slots: anyio.Semaphore | None = None
        self._open = False
        self._closing = False

    # -- lifetime ---------------------------------------------------------------------

    async def __aenter__(self) -> "Batcher":
        if self._open or self._closing:
            raise VMError(StatusCode.FAILED_PRECONDITION, "a batcher can be entered once")
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._slots = anyio.Semaphore(self.max_concurrent_batches)
        self._arrived = anyio.Event()
        self._open = True
        self._group.start_soon(self._collect)
        return self

    async def __aexit__(self, kind, error, traceback) -> bool | None:
        """Runs what is waiting (suspends until it is done); if the block
        failed, cancels instead and lets the block's own exception through."""
        self._closing = True
        self._arrived.set()
        try:
            if kind is None:
                return await self._group.__aexit__(None, None, None)
            # Fail what is waiting before the collector can start it.
            self._fail_waiting(StatusCode.CANCELLED, "the batcher closed before this request ran")
            self._group.cancel_scope.cancel()
            await self._group.__aexit__(None, None, None)
            return None
        finally:
            self._open = False
            self._fail_waiting(StatusCode.CANCELLED, "the batcher closed before this request ran")

    # -- calls ------------------------------------------------------------------------

    async def __call__(self, *arguments: Any) -> tuple:
        """Runs one request as part of a batch; returns its rows of every result."""
        if not self._open or self._closing:
            raise VMError(StatusCode.FAILED_PRECONDITION,
                          "the batcher is not running (use it inside `async with`)")
        request = self._make_request(arguments)
        self._pending.append(request)
        self._waiting_rows[request.key] += request.rows
        self.statistics.requests += 1
        self._arrived.set()
        try:
            await request.done.wait()
        except BaseException:
            request.abandoned = True
            if not request.taken:
                self._abandoned += 1
                self._waiting_rows[request.key] -= request.rows
            raise
        if request.error is not None:
            raise request.error
        return request.results

    def _make_request(self, arguments: tuple) -> _Request:
        name = self.function.full_name
        if len(arguments) != self._batched_count:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"batched {name} takes {self._batched_count} batched argument(s), "
                          f"got {len(arguments)}")
        rows = None
        key = []
        for index, argument in enumerate(arguments):
            if not isinstance(argument, numpy.ndarray) or argument.ndim < 1:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"batched {name} argument {index}: expected a numpy array with a "
                              f"leading batch dimension, got {type(argument).__name__}")
            if rows is None:
                rows = argument.shape[0]
            elif argument.shape[0] != rows:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"batched {name} argument {index} has {argument.shape[0]} rows, "
                              f"argument 0 has {rows}")
            key.append((argument.dtype, argument.shape[1:]))  # dtype.str is "<V1" for every f8 and int4
        if not 1 <= rows <= self.max_batch_size:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"batched {name}: a request has {rows} rows; it must have between 1 "
                          f"and max_batch_size ({self.max_batch_size})")
        return _Request(arguments, rows, tuple(key), anyio.current_time())

    # -- collecting and running batches -------------------------------------------------

    async def _collect(self) -> None:
        """Forms batches until the batcher closes and nothing is waiting."""
        while True:
            await self._slots.acquire()
            try:
                batch = await self._next_batch()
            except BaseException:
                self._slots.release()
                raise
            if batch is None:
                self._slots.release()
                return
            self._group.start_soon(self._run_batch, batch)

    async def _next_batch(self) -> list[_Request] | None:
        while True:
            self._drop_abandoned()
            if self._pending:
                break
            if self._closing:
                return None
            self._arrived = anyio.Event()
            await self._arrived.wait()
        oldest = self._pending[0]
        deadline = oldest.arrival + self.max_wait
        while not self._closing and self._rows_ready(oldest.key) < self.max_batch_size:
            if self.expected is not None and self.expected() <= 0:
                break  # nobody else is coming: waiting would only add latency
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                break
            self._arrived = anyio.Event()
            with anyio.move_on_after(remaining):
                await self._arrived.wait()
            self._drop_abandoned()
            if not self._pending:
                return await self._next_batch()
            if self._pending[0] is not oldest:
                oldest = self._pending[0]
                deadline = oldest.arrival + self.max_wait
        return self._take(self._pending[0].key)

    def _rows_ready(self, key: tuple) -> int:
        return self._waiting_rows[key]

    def _take(self, key: tuple) -> list[_Request]:
        """Removes the oldest requests of one kind, up to max_batch_size rows."""
        batch: list[_Request] = []
        rows = 0
        kept: collections.deque[_Request] = collections.deque()
        while self._pending:
            request = self._pending.popleft()
            if request.key == key and rows + request.rows <= self.max_batch_size:
                batch.append(request)
                rows += request.rows
                request.taken = True
                self._waiting_rows[key] -= request.rows
            else:
                kept.append(request)
                if request.key == key:
                    break
        kept.extend(self._pending)
        self._pending = kept
        return batch

    def _drop_abandoned(self) -> None:
        if self._abandoned:
            kept = collections.deque(r for r in self._pending if not r.abandoned)
            self.statistics.dropped_requests += len(self._pending) - len(kept)
            self._pending = kept
            self._abandoned = 0

    async def _run_batch(self, batch: list[_Request]) -> None:
        try:
            try:
                answers = await self._call_batch(batch)
            except VMError as error:
                for request in batch:
                    request.finish(None, _copy_error(error))
                return
            except Exception as error:  # a bug, not the program's failure: this batch only
                for request in batch:
                    request.finish(None, export_failure(f"batched {self.function.full_name}", error))
                return
            for request, answer in zip(batch, answers):
                request.finish(answer, None)
        finally:
            self._slots.release()
            for request in batch:
                request.finish(None, VMError(StatusCode.CANCELLED,
                                             "the batch was cancelled before it finished"))

    async def _call_batch(self, batch: list[_Request]) -> list[tuple]:
        """Concatenates the batch's arguments, makes the call, and returns
        each request's rows of every result (copies)."""
        rows = sum(request.rows for request in batch)
        total = max(rows, self.max_batch_size) if self.pad_to_max_batch_size else rows
        self.statistics.batches += 1
        self.statistics.rows += rows
        self.statistics.padded_rows += total - rows
        self.statistics.batch_sizes[rows] += 1
        if self.on_batch is not None:
            self.on_batch(rows, len(batch))
        arguments = []
        for index in range(self._batched_count):
            parts = [request.arguments[index] for request in batch]
            if total > rows:
                parts.append(numpy.zeros((total - rows,) + parts[0].shape[1:], parts[0].dtype))
            arguments.append(numpy.concatenate(parts) if len(parts) > 1 else parts[0])
        results = await self.program.invoke(self.function, *arguments, *self.fixed_arguments)
        for index, result in enumerate(results):
            if not isinstance(result, numpy.ndarray) or result.ndim < 1 \
                    or result.shape[0] != total:
                raise VMError(StatusCode.FAILED_PRECONDITION,
                              f"batched {self.function.full_name}: result {index} has "
                              f"no leading batch dimension of {total}")
        answers = []
        start = 0
        for request in batch:
            end = start + request.rows
            answers.append(tuple(result[start:end].copy() for result in results))
            start = end
        return answers

    def _fail_waiting(self, status: StatusCode, message: str) -> None:
        while self._pending:
            self._pending.popleft().finish(None, VMError(status, message))
        self._waiting_rows.clear()


def _copy_error(error: VMError) -> VMError:
    """A VMError of its own for one caller: same status, message and backtrace."""
    copy = VMError(error.status, error.message, backtrace=error.backtrace)
    copy.__cause__ = error.__cause__
    return copy
