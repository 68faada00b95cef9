"""Checked arithmetic for parameter file headers, which may lie."""

from __future__ import annotations

from typing import Iterable


def bounded_element_count(shape: Iterable[int], limit: int) -> int:
    """The product of ``shape``, or ``limit + 1`` once it exceeds ``limit``
    (so a lying shape cannot make a reader multiply huge integers)."""
    shape = list(shape)
    if 0 in shape:
        return 0
    count = 1
    for dimension in shape:
        count *= dimension
        if count > limit:
            return limit + 1
    return count
