"""Host memory on the 64-byte boundary that IREE's buffers and kernels assume.

The core owns this rule because every floor needs it: the bytecode floor keeps
a module's bytes aligned so rodata views of them are aligned, and the HAL
allocates buffers with it. Nothing here suspends.
"""

from __future__ import annotations

import numpy

from ._address import address_of
from ._status import StatusCode, VMError

try:
    from ._aligned_blocks import Counters as BlockCounters
    from ._aligned_blocks import block as _native_block, copied as _native_copied
except ImportError:  # built without a C compiler: the numpy code below does it
    _native_block = _native_copied = BlockCounters = None
# ``BlockCounters(limit)``, when the C helper was built: blocks counted as
# allocated, and as freed when their memory is released, with no Python
# call (see asyncvm/vm/_aligned_blocks.c; the HAL's allocator statistics).

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
        if _native_block is not None:
            return _native_block(length, zeroed)
        block = (numpy.zeros if zeroed else numpy.empty)(length + ALLOCATION_ALIGNMENT,
                                                         dtype=numpy.uint8)
    except MemoryError:
        raise _out_of_memory(length) from None
    return block, -address_of(block) & (ALLOCATION_ALIGNMENT - 1)


def aligned_copy(array: numpy.ndarray) -> tuple[numpy.ndarray, int]:
    """:func:`aligned_block` holding a copy of ``array``'s elements in C
    order (a numpy array of a plain dtype: numbers, booleans, bytes; not
    objects). Same errors, and INVALID_ARGUMENT for an array holding Python
    objects; the caller owns the block. One native call for a C-contiguous
    array when the C helper was built."""
    if _native_copied is not None:
        try:
            made = _native_copied(array, array.nbytes)
        except MemoryError:
            raise _out_of_memory(array.nbytes) from None
        if made is not None:
            return made
    if array.dtype.hasobject:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"cannot copy an array of {array.dtype} into device memory")
    block, start = aligned_block(array.nbytes, zeroed=False)
    # The typed array over the block for numpy to copy into (numpy reads
    # the block through the buffer protocol for it and keeps a buffer-info
    # record of about 56 bytes on the block).
    numpy.ndarray(array.shape, array.dtype, block, start)[...] = array
    return block, start


def _out_of_memory(length: int) -> VMError:
    return VMError(StatusCode.RESOURCE_EXHAUSTED, f"out of memory allocating {length} bytes")


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
        raise _out_of_memory(length) from None
    # The typed array straight over the aligned bytes: two array objects
    # (the raw block and the result), not a chain of slices and views.
    array = numpy.ndarray(values.shape, values.dtype, raw,
                          (-address_of(raw)) % ALLOCATION_ALIGNMENT)
    numpy.copyto(array, values)
    return array
