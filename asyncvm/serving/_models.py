"""What a server serves: models, each one function of a program.

:class:`Model` is the protocol's view of a callable: a name, input and
output tensors (:class:`TensorSpec`: name, datatype, shape with ``-1`` for a
dynamic dimension), and ``infer``. It checks a request's inputs against its
specs (400 naming the input) before calling. :class:`ProgramModel` is a
public function of an asyncvm program: its specs come from the function's
reflection attributes (``iree.abi.declaration``), with generic names
(``input0``..., ``output0``...) where the program has none. A function whose
every argument and result is a tensor with a dynamic leading dimension is
served through an :class:`asyncvm.Batcher`, so that concurrent requests
share calls; others are called directly.

Other runtimes can be served by the same application through their own
:class:`Model` subclass (the benchmarks do this with IREE's runtime).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import anyio
import numpy

from asyncvm._batcher import Batcher
from asyncvm._program import Program
from asyncvm._signature import ScalarType, TensorType
from asyncvm.vm import StatusCode, VMError

from ._datatypes import datatype_of
from ._errors import ProtocolError

_log = logging.getLogger("asyncvm.serving")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: ``shape`` has -1 for each dynamic dimension (and
    is ``[-1]`` with ``ranked=False`` for a tensor of any rank); ``scalar``
    marks a scalar argument (shape ``[]``; ``[1]`` is accepted too)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    dtype: numpy.dtype
    ranked: bool = True
    scalar: bool = False

    def metadata(self) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    def check(self, array: numpy.ndarray, model: str) -> None:
        """A 400 ProtocolError unless ``array`` fits this spec."""
        where = f"{model}: input '{self.name}'"
        if array.dtype != self.dtype:
            raise ProtocolError(400, f"{where} is {datatype_of(array.dtype)}; the model takes "
                                     f"{self.datatype}")
        if self.scalar:
            if array.size != 1 or array.ndim > 1:
                raise ProtocolError(400, f"{where} is a scalar: shape [] or [1], got "
                                         f"{list(array.shape)}")
            return
        if not self.ranked:
            return
        if len(array.shape) != len(self.shape) or any(
                want != -1 and got != want for got, want in zip(array.shape, self.shape)):
            raise ProtocolError(400, f"{where} has shape {list(array.shape)}; the model takes "
                                     f"{list(self.shape)}")


class Model:
    """A model as the protocol sees it. Subclasses set ``name``, ``inputs``,
    ``outputs`` and ``max_batch_size`` (0 for a model that is not batched),
    and implement :meth:`call`; they may override :meth:`running` to hold
    resources for the server's lifetime."""

    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch_size: int = 0
    platform: str = "asyncvm"
    #: Requests for this model the server has admitted and not yet answered
    #: (kept by the application; a batching model need not wait for company
    #: when every admitted request has reached it).
    admitted: int = 0

    def metadata(self) -> dict:
        """The protocol's model metadata object."""
        return {"name": self.name, "versions": ["1"], "platform": self.platform,
                "inputs": [spec.metadata() for spec in self.inputs],
                "outputs": [spec.metadata() for spec in self.outputs]}

    def arguments(self, inputs: dict[str, numpy.ndarray]) -> list[numpy.ndarray]:
        """The request's arrays in argument order, each checked against its
        spec; a 400 ProtocolError naming what is missing, unknown or wrong."""
        if len(inputs) != len(self.inputs) or any(spec.name not in inputs
                                                  for spec in self.inputs):
            expected = ", ".join(spec.name for spec in self.inputs)
            given = ", ".join(inputs)
            raise ProtocolError(400, f"{self.name} takes inputs [{expected}], got [{given}]")
        arguments = []
        for spec in self.inputs:
            array = inputs[spec.name]
            spec.check(array, self.name)
            arguments.append(array)
        return arguments

    async def call(self, arguments: list[numpy.ndarray],
                   timeout: float | None) -> Sequence[numpy.ndarray]:
        """Runs the model; suspends until done. Raises VMError (its status
        decides the HTTP status), DEADLINE_EXCEEDED after ``timeout`` seconds."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def running(self):
        """Holds what the model needs while the server runs (nothing here)."""
        yield self


def _spec(name: str, value_type) -> TensorSpec | None:
    if isinstance(value_type, TensorType):
        datatype = datatype_of(value_type.dtype)
        if datatype is None:
            return None
        if value_type.shape is None:
            return TensorSpec(name, datatype, (-1,), value_type.dtype, ranked=False)
        shape = tuple(-1 if d is None else d for d in value_type.shape)
        return TensorSpec(name, datatype, shape, value_type.dtype)
    if isinstance(value_type, ScalarType):
        datatype = datatype_of(value_type.dtype)
        if datatype is None:
            return None
        return TensorSpec(name, datatype, (), value_type.dtype, scalar=True)
    return None


def _specs(parameters, prefix: str, source: str) -> tuple[TensorSpec, ...] | None:
    specs = []
    for index, parameter in enumerate(parameters):
        name = parameter.name if source != "calling convention" else f"{prefix}{index}"
        spec = _spec(name, parameter.type)
        if spec is None:
            return None
        specs.append(spec)
    return tuple(specs)


class ProgramModel(Model):
    """A public function of a program, served as a model named after it."""

    def __init__(self, program: Program, name: str, *, max_batch_size: int = 64,
                 max_wait: float = 0.002,
                 on_batch: Callable[[int, int], None] | None = None) -> None:
        """Raises VMError INVALID_ARGUMENT for a function whose arguments or
        results are not all tensors or scalars with a protocol datatype
        (:func:`models_of_program` skips those). ``max_batch_size`` 0 turns
        batching off."""
        function = program[name]
        signature = function.signature
        inputs = _specs(signature.arguments, "input", signature.source)
        outputs = _specs(signature.results, "output", signature.source)
        if inputs is None or outputs is None:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{function.full_name} {signature} has values the inference protocol "
                          "cannot carry (only tensors and scalars of its datatypes)")
        self.program = program
        self.function = function
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        batchable = bool(inputs) and all(
            spec.ranked and not spec.scalar and spec.shape and spec.shape[0] == -1
            for spec in inputs + outputs)
        self.max_batch_size = max_batch_size if batchable and max_batch_size > 0 else 0
        self.max_wait = max_wait
        self.on_batch = on_batch
        self.batcher: Batcher | None = None
        self._queued = 0

    @contextlib.asynccontextmanager
    async def running(self):
        """Runs the batcher (if the model batches) while the server runs; on
        the way out, what is waiting still runs."""
        if not self.max_batch_size:
            yield self
            return
        async with Batcher(self.program, self.function, max_batch_size=self.max_batch_size,
                           max_wait=self.max_wait, on_batch=self.on_batch,
                           expected=self._expected) as batcher:
            self.batcher = batcher
            try:
                yield self
            finally:
                self.batcher = None

    async def call(self, arguments, timeout):
        arguments = [array.item() if spec.scalar else array
                     for spec, array in zip(self.inputs, arguments)]
        self._queued += 1
        try:
            if self.batcher is None:
                return await self.function(*arguments, timeout=timeout)
            if timeout is None:
                return await self.batcher(*arguments)
            with anyio.move_on_after(timeout):
                return await self.batcher(*arguments)
            raise VMError(StatusCode.DEADLINE_EXCEEDED,
                          f"{self.name} did not finish within {timeout:g} s")
        finally:
            self._queued -= 1

    def _expected(self) -> int:
        """Admitted requests that have not reached :meth:`call` yet."""
        return self.admitted - self._queued


def models_of_program(program: Program, *, max_batch_size: int = 64, max_wait: float = 0.002,
                      on_batch: Callable[[str, int, int], None] | None = None,
                      names: Iterable[str] | None = None) -> list[ProgramModel]:
    """One :class:`ProgramModel` per public function of ``program`` (or per
    name of ``names``), skipping (with a warning on the ``asyncvm.serving``
    logger) functions the protocol cannot carry. ``on_batch(model, rows,
    requests)`` observes each batch."""
    models = []
    for name in names if names is not None else program.export_names:
        hook = None if on_batch is None else (
            lambda rows, requests, name=name: on_batch(name, rows, requests))
        try:
            models.append(ProgramModel(program, name, max_batch_size=max_batch_size,
                                       max_wait=max_wait, on_batch=hook))
        except VMError as error:
            if names is not None:
                raise
            _log.warning("not serving %s: %s", name, error.message)
    return models


__all__ = ["Model", "ProgramModel", "TensorSpec", "models_of_program"]
