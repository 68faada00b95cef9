"""The Open Inference Protocol's tensor datatypes and their numpy dtypes.

The protocol (KServe v2) names element types ``BOOL``, ``UINT8``...``INT64``,
``FP16``, ``FP32``, ``FP64``, ``BF16`` and ``BYTES``. Numeric tensors map one
to one onto numpy dtypes (``BF16`` onto ``ml_dtypes.bfloat16``); ``BYTES``
(strings) has no element type in a compiled program, so it is never served.
Nothing here suspends.
"""

from __future__ import annotations

import ml_dtypes
import numpy

from ._errors import ProtocolError

_DTYPE_BY_DATATYPE: dict[str, numpy.dtype] = {
    "BOOL": numpy.dtype(numpy.bool_),
    "UINT8": numpy.dtype(numpy.uint8),
    "UINT16": numpy.dtype(numpy.uint16),
    "UINT32": numpy.dtype(numpy.uint32),
    "UINT64": numpy.dtype(numpy.uint64),
    "INT8": numpy.dtype(numpy.int8),
    "INT16": numpy.dtype(numpy.int16),
    "INT32": numpy.dtype(numpy.int32),
    "INT64": numpy.dtype(numpy.int64),
    "FP16": numpy.dtype(numpy.float16),
    "FP32": numpy.dtype(numpy.float32),
    "FP64": numpy.dtype(numpy.float64),
    "BF16": numpy.dtype(ml_dtypes.bfloat16),
}
_DATATYPE_BY_DTYPE: dict[numpy.dtype, str] = {dtype: name for name, dtype
                                              in _DTYPE_BY_DATATYPE.items()}


def dtype_of(datatype: object, where: str) -> numpy.dtype:
    """The numpy dtype of a protocol datatype name; a 400 ProtocolError
    naming ``where`` for ``BYTES`` or an unknown name."""
    dtype = _DTYPE_BY_DATATYPE.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise ProtocolError(400, f"{where}: datatype {datatype!r} is not supported (expected "
                                 f"one of {', '.join(_DTYPE_BY_DATATYPE)})")
    return dtype


def datatype_of(dtype: numpy.dtype | None) -> str | None:
    """The protocol datatype of a numpy dtype, or None if the protocol has none."""
    if dtype is None:
        return None
    return _DATATYPE_BY_DTYPE.get(numpy.dtype(dtype))
