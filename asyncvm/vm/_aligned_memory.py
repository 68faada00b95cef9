"""Host memory on the 64-byte boundary that IREE's buffers and kernels assume.

The core owns this rule because every floor needs it: the bytecode floor keeps
a module's bytes aligned so rodata views of them are aligned, and the HAL
allocates buffers with it. Nothing here suspends.
"""

from __future__ import annotations

import numpy

from ._address import address_of
from ._status import StatusCode, VMError

ALLOCATION_ALIGNMENT = 64
MAX_ALLOCATION_BYTES = 1 << 40


def allocate_storage(length: int, zeroed: bool = True) -> numpy.ndarray:
    """A 64-byte-aligned ``uint8`` array of ``length`` bytes (zeroed if asked;
    device allocations are not, as in IREE, which saves a pass over memory).

    Raises VMError RESOURCE_EXHAUSTED for a negative or impossible length or
    when the memory cannot be had. The caller owns the array.
    """
    block, start = aligned_block(length, zeroed)
    return block[start:start + length]


def aligned_block(length: int, zeroed: bool = True) -> tuple[numpy.ndarray, int]:
    """:func:`allocate_storage` without the final slice: a ``uint8`` block a
    little larger than ``length`` and the offset in it of the ``length``
    aligned bytes (for callers that keep an offset anyway, such as a HAL
    buffer: one array object fewer). Same errors; the caller owns the block.
    """
    if length < 0 or length > MAX_ALLOCATION_BYTES:
        raise VMError(StatusCode.RESOURCE_EXHAUSTED, f"cannot allocate {length} bytes")
    try:
        block = (numpy.zeros if zeroed else numpy.empty)(length + ALLOCATION_ALIGNMENT,
                                                         dtype=numpy.uint8)
    except MemoryError:
        raise VMError(StatusCode.RESOURCE_EXHAUSTED, f"out of memory allocating {length} bytes") \
            from None
    return block, -address_of(block) & (ALLOCATION_ALIGNMENT - 1)


def aligned_array(values, dtype=None) -> numpy.ndarray:
    """A C-contiguous copy of ``values`` on a 64-byte boundary.

    Arrays made this way are passed to programs without any further copy
    (kernels compiled for the host assume the HAL's 64-byte alignment).
    """
    values = numpy.asarray(values, dtype=dtype)
    length = values.nbytes
    if length < 0 or length > MAX_ALLOCATION_BYTES:
        raise VMError(StatusCode.RESOURCE_EXHAUSTED, f"cannot allocate {length} bytes")
    try:
        raw = numpy.empty(length + ALLOCATION_ALIGNMENT, dtype=numpy.uint8)
    except MemoryError:
        raise VMError(StatusCode.RESOURCE_EXHAUSTED, f"out of memory allocating {length} bytes") \
            from None
    # The typed array straight over the aligned bytes: two array objects
    # (the raw block and the result), not a chain of slices and views.
    array = numpy.ndarray(values.shape, values.dtype, raw,
                          (-address_of(raw)) % ALLOCATION_ALIGNMENT)
    numpy.copyto(array, values)
    return array
