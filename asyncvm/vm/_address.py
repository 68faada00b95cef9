"""The address of an array's memory, for alignment checks and kernels.

:func:`address_of` is the C helper ``asyncvm.vm._memory_address`` when it
was built (``pip install`` builds it when a C compiler is there; tens of
nanoseconds), else numpy's ``__array_interface__`` (microseconds). Both take
numpy arrays and other buffer objects and give the address of the first
element; nothing here suspends.
"""

from __future__ import annotations

from typing import Any

import numpy

try:
    from ._memory_address import address_of as _fast_address_of
except ImportError:  # built without a C compiler
    _fast_address_of = None


def _numpy_address_of(array: Any) -> int:
    """The address of a numpy array's first element, or of another buffer
    object's first byte (the slow, portable way)."""
    interface = getattr(array, "__array_interface__", None)
    if interface is None:  # bytes, bytearray, memoryview: through numpy
        interface = numpy.frombuffer(array, dtype=numpy.uint8).__array_interface__
    return interface["data"][0]


address_of = _fast_address_of if _fast_address_of is not None else _numpy_address_of
"""``address_of(array) -> int``: where ``array``'s first element lives."""
