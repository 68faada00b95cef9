"""Declarative export tables, as IREE writes a module's ``exports.inl``.

A native module lists its exports once, in one table sorted by name:

    EXPORTS = export_table("hal", [
        Export("buffer.length", "0r_I", buffer_length),
        Export("devices.count", "0v_i", devices_count),
        ...
    ])

Each function is a module-level function. When the module is created with
``state_argument=True`` every function takes the module's per-context state
first (as IREE's shims pass ``module`` and ``state``), then one Python value
per calling-convention argument. :func:`export_table` checks the table when
the module is defined: names sorted and unique, calling conventions that
parse. A broken table is INVALID_ARGUMENT naming the row, so a slip is found
at import, not at the first call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from ._calling_convention import parse_calling_convention
from ._status import StatusCode, VMError


@dataclass(frozen=True)
class Export:
    """One row: the export's name, its IREE calling convention, the function,
    optional reflection attributes, and ``yields``: whether the function may
    return an awaitable for the invocation to suspend on (IREE marks such
    imports ``vm.yield``; ``hal.fence.await`` is one), which must resolve to
    the result tuple. A row that does not yield returns its results
    directly: its calls skip the awaitable test (see
    :func:`~asyncvm.vm.direct_export`)."""

    name: str
    calling_convention: str
    function: Callable
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    yields: bool = False


def export_table(module_name: str, rows: Iterable[Export]) -> tuple[Export, ...]:
    """Checks and freezes a table of exports; returns it as a tuple.

    Raises VMError INVALID_ARGUMENT if a row is not an :class:`Export`, a
    calling convention does not parse, or the names are not strictly sorted
    (which also rules out duplicates). Does not suspend.
    """
    table = tuple(rows)
    previous = None
    for row in table:
        if not isinstance(row, Export):
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"export table of {module_name!r}: {row!r} is not an Export")
        try:
            parse_calling_convention(row.calling_convention)
        except VMError as error:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"export table of {module_name!r}: {row.name}: {error.message}") from None
        if previous is not None and not previous < row.name:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"export table of {module_name!r} is not sorted by name: "
                          f"{row.name!r} follows {previous!r}")
        previous = row.name
    return table
