"""Inference requests and responses of the Open Inference Protocol, REST.

A request body is JSON, optionally followed by binary tensor data (the
protocol's binary tensor data extension, which ``tritonclient`` uses for
numpy arrays): the ``Inference-Header-Content-Length`` header gives the
length of the JSON part, and each input whose ``parameters`` carry
``binary_data_size`` takes that many bytes, in input order, from what
follows. Responses are written the same way: outputs asked for in binary
(``parameters.binary_data`` on a requested output, or
``parameters.binary_data_output`` on the request) follow the JSON.

:func:`decode_request` raises :class:`ProtocolError` 400 for anything that
does not follow the protocol (with what was wrong and where); it never
raises anything else. Nothing here suspends.
"""

from __future__ import annotations

import json
import math

import numpy

from ._datatypes import datatype_of, dtype_of
from ._errors import ProtocolError

HEADER_LENGTH = "inference-header-content-length"


class InferenceRequest:
    """A decoded request: ``inputs`` maps each input's name to its array (in
    request order); ``outputs`` is None (all outputs) or the requested
    outputs' names with whether each goes in binary (None where the request
    does not say); ``binary_output`` is the default for outputs that do not say; ``timeout`` is the request's own
    deadline in seconds (Triton's ``parameters.timeout``, in microseconds on
    the wire) or None."""

    __slots__ = ("id", "inputs", "outputs", "binary_output", "timeout")

    def __init__(self, id: str | None, inputs: dict[str, numpy.ndarray],
                 outputs: list[tuple[str, bool | None]] | None, binary_output: bool,
                 timeout: float | None) -> None:
        self.id = id
        self.inputs = inputs
        self.outputs = outputs
        self.binary_output = binary_output
        self.timeout = timeout


def _bad(message: str) -> ProtocolError:
    return ProtocolError(400, message)


def _shape_of(entry: dict, where: str) -> tuple[int, ...]:
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise _bad(f"{where}: 'shape' must be a list of non-negative integers, got {shape!r}")
    return tuple(shape)


def _parameters_of(entry: dict, where: str) -> dict:
    parameters = entry.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _bad(f"{where}: 'parameters' must be an object")
    return parameters


def _json_numbers(data: list, dtype: numpy.dtype) -> numpy.ndarray:
    """The numbers of ``data`` (JSON ints and floats, nested or flat) as
    ``dtype``; ValueError for anything else (strings, null, data of
    booleans; numpy reads a boolean among numbers as 0 or 1), for fractional
    numbers where ``dtype`` is an integer type and for numbers out of its
    range (a finite float that would round to infinity included)."""
    array = numpy.asarray(data)  # not as dtype yet: that reads "1.5" and null as floats
    if array.size and (array.dtype == object or array.dtype.kind == "f" and dtype.kind in "iu"):
        # numpy gives objects for integers past 64 bits (and for null), and
        # floats for int64 and uint64 values together: the values decide.
        exact = numpy.asarray(data, dtype=object)
        types = {type(value) for value in exact.flat}
        if not types <= {int, float}:
            others = ", ".join(sorted(kind.__name__ for kind in types - {int, float}))
            raise ValueError(f"expected numbers, got {others} values")
        if dtype.kind in "iu" and float in types:
            raise ValueError("expected integers, got fractional numbers")
        array = exact if dtype.kind in "iu" else exact.astype(numpy.float64)
    elif array.size and array.dtype.kind not in "iuf":
        raise ValueError(f"expected numbers, got {array.dtype} values")
    if dtype.kind in "iu":
        if array.size and (array.min() < numpy.iinfo(dtype).min or
                           array.max() > numpy.iinfo(dtype).max):
            raise ValueError(f"a value is out of range for {dtype}")
        return array.astype(dtype)
    array = array.astype(numpy.float64)  # integers too: rounded once, from float64
    with numpy.errstate(over="ignore"):
        result = array.astype(dtype)
    if array.size and not numpy.isfinite(result).all() and numpy.isfinite(array).all():
        raise ValueError(f"a value is out of range for {dtype}")  # it would become infinity
    return result


def _json_tensor(data, dtype: numpy.dtype, shape: tuple[int, ...], where: str) -> numpy.ndarray:
    """The array of a JSON ``data`` list (flat or nested, row-major)."""
    if not isinstance(data, list):
        raise _bad(f"{where}: 'data' must be a list")
    try:
        if dtype == numpy.bool_:
            values = numpy.asarray(data)
            if values.size and values.dtype != numpy.bool_:
                raise ValueError("BOOL data must be true or false")
            array = values.astype(numpy.bool_)
        else:
            array = _json_numbers(data, dtype)
    except (ValueError, TypeError, OverflowError) as error:
        raise _bad(f"{where}: bad 'data': {error}") from None
    if array.size != math.prod(shape):
        raise _bad(f"{where}: 'data' has {array.size} elements, shape {list(shape)} needs "
                   f"{math.prod(shape)}")
    return array.reshape(shape)


def decode_request(body: bytes, header_length: str | None) -> InferenceRequest:
    """Decodes a request body; ``header_length`` is the value of the
    ``Inference-Header-Content-Length`` header, if the request has one."""
    if header_length is not None:
        try:
            json_length = int(header_length)
        except ValueError:
            json_length = -1
        if not 0 <= json_length <= len(body):
            raise _bad(f"Inference-Header-Content-Length is {header_length!r}; the body has "
                       f"{len(body)} bytes")
    else:
        json_length = len(body)
    try:
        header = json.loads(body[:json_length])
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # too deeply nested
        raise _bad(f"the request is not valid JSON: {error}") from None
    if not isinstance(header, dict):
        raise _bad("the request must be a JSON object")
    parameters = _parameters_of(header, "the request")
    entries = header.get("inputs")
    if not isinstance(entries, list) or not entries:
        raise _bad("the request must have a non-empty 'inputs' list")
    offset = json_length
    inputs: dict[str, numpy.ndarray] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _bad(f"input {index} must be an object with a 'name'")
        name = entry["name"]
        where = f"input '{name}'"
        if name in inputs:
            raise _bad(f"{where} is given twice")
        dtype = dtype_of(entry.get("datatype"), where)
        shape = _shape_of(entry, where)
        size = _parameters_of(entry, where).get("binary_data_size")
        if size is None:
            if "data" not in entry:
                raise _bad(f"{where} has neither 'data' nor binary data")
            inputs[name] = _json_tensor(entry["data"], dtype, shape, where)
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _bad(f"{where}: binary_data_size must be a non-negative integer")
        needed = math.prod(shape) * dtype.itemsize
        if size != needed:
            raise _bad(f"{where}: binary_data_size is {size} bytes; shape {list(shape)} of "
                       f"{entry['datatype']} needs {needed}")
        if offset + size > len(body):
            raise _bad(f"{where}: the body ends {offset + size - len(body)} bytes before its "
                       "binary data does (truncated request)")
        inputs[name] = numpy.frombuffer(body, dtype, math.prod(shape), offset).reshape(shape)
        offset += size
    if offset != len(body):
        raise _bad(f"{len(body) - offset} bytes of binary data follow the inputs unclaimed")
    outputs = None
    if "outputs" in header:
        requested = header["outputs"]
        if not isinstance(requested, list):
            raise _bad("'outputs' must be a list")
        outputs = []
        for index, entry in enumerate(requested):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise _bad(f"requested output {index} must be an object with a 'name'")
            binary = _parameters_of(entry, f"output '{entry['name']}'").get("binary_data")
            outputs.append((entry["name"], None if binary is None else bool(binary)))
    timeout = parameters.get("timeout")
    if timeout is not None:
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            raise _bad(f"parameters.timeout must be a positive number of microseconds, "
                       f"got {timeout!r}")
        timeout = timeout / 1e6
    request_id = header.get("id")
    return InferenceRequest(request_id if isinstance(request_id, str) else None, inputs,
                            outputs, bool(parameters.get("binary_data_output", False)), timeout)


def _json_data(array: numpy.ndarray) -> list:
    """Row-major JSON values; floats print as the shortest decimal that reads
    back as the same value (exact for FP16, BF16 and FP32 as well)."""
    if array.dtype.kind == "f" and array.dtype.itemsize < 4 or array.dtype.name == "bfloat16":
        array = array.astype(numpy.float32)
    return array.reshape(-1).tolist()


def encode_response(model: str, request_id: str | None,
                    outputs: list[tuple[str, numpy.ndarray, bool]]) -> tuple[bytes, int | None]:
    """The response body for ``(name, array, binary)`` outputs, and the length
    of its JSON part when binary data follows (the value of the
    ``Inference-Header-Content-Length`` response header), else None."""
    entries = []
    chunks = []
    for name, array, binary in outputs:
        entry = {"name": name, "datatype": datatype_of(array.dtype), "shape": list(array.shape)}
        if binary:
            data = numpy.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            entry["data"] = _json_data(array)
        entries.append(entry)
    response = {"model_name": model, "model_version": "1", "outputs": entries}
    if request_id is not None:
        response["id"] = request_id
    # NaN and infinities are written as Python's json writes them (NaN,
    # Infinity), which Python's and rapidjson's readers accept.
    text = json.dumps(response, separators=(",", ":")).encode()
    if not chunks:
        return text, None
    return b"".join([text, *chunks]), len(text)
