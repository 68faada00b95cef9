"""Executables and the registry of loaders by executable format.

A loader turns the bytes the compiler embedded for one format (for example
``vmvx-bytecode-fb``) into an :class:`Executable` whose exported functions
run one workgroup per call. Higher floors register their loaders here (the
VMVX loader lives with the bytecode modules); the HAL itself knows no
formats. An unknown format is NOT_FOUND naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from asyncvm.vm import StatusCode, VMError


def run_in_order(count: int, body: Callable[[int, int], None]) -> None:
    """Runs ``body(first, end)`` over ``range(count)`` on this thread."""
    if count:
        body(0, count)


@dataclass(frozen=True)
class DispatchState:
    """What one dispatch hands every workgroup.

    ``for_each(count, body)`` runs ``body(first, end)`` over slices of the
    linear workgroup range — in order on this thread (local-sync) or spread
    over the device's workers (local-task) — and returns when all are done,
    raising the first failure.
    """

    workgroup_count: tuple[int, int, int]
    constants: tuple[int, ...]
    bindings: tuple  # (hal Buffer, byte offset, byte length) per binding
    for_each: Callable[[int, Callable[[int, int], None]], None] = run_in_order


class Executable(Protocol):
    """A loaded executable. ``function_names`` are its exports in ordinal order."""

    format: str
    function_names: list[str]

    def dispatch(self, ordinal: int, state: DispatchState) -> None:
        """Runs every workgroup of function ``ordinal``; raises VMError on failure.

        Runs synchronously on the calling (queue or worker) thread.
        """


Loader = Callable[[bytes, tuple[int, ...]], Executable]
_loaders: dict[str, Loader] = {}


def register_loader(format_name: str, loader: Loader) -> None:
    """Makes ``format_name`` loadable: ``loader(data, constants) -> Executable``."""
    _loaders[format_name] = loader


def supported_formats() -> list[str]:
    return sorted(_loaders)


def load_executable(format_name: str, data: bytes, constants: tuple[int, ...] = ()) -> Executable:
    loader = _loaders.get(format_name)
    if loader is None:
        raise VMError(StatusCode.NOT_FOUND,
                      f"no loader for executable format {format_name!r} "
                      f"(supported: {', '.join(supported_formats()) or 'none'})")
    return loader(data, constants)


def lookup_function(executable: Executable, name: str) -> int:
    try:
        return executable.function_names.index(name)
    except ValueError:
        raise VMError(StatusCode.NOT_FOUND,
                      f"executable ({executable.format}) has no function {name!r}") from None
