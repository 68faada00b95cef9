"""Executables and the registry of loaders by executable format.

A loader turns the bytes the compiler embedded for one format (for example
``vmvx-bytecode-fb``) into an :class:`Executable` whose exported functions
run one workgroup per call. Each device owns an :class:`ExecutableLoaders`
table. The HAL's own formats (llvm-cpu's native libraries) are listed by
:func:`asyncvm.hal.native_loaders`; a higher floor's formats (VMVX, whose
kernels are bytecode) are added by whoever assembles the floors, never by an
import's side effect. An unknown format is NOT_FOUND naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from asyncvm.vm import Budget, StatusCode, VMError


def run_in_order(count: int, body: Callable[[int, int], None]) -> None:
    """Runs ``body(first, end)`` over ``range(count)`` on this thread."""
    if count:
        body(0, count)


@dataclass(slots=True)
class DispatchState:
    """What one dispatch hands every workgroup.

    ``for_each(count, body)`` runs ``body(first, end)`` over slices of the
    linear workgroup range — in order on this thread (local-sync) or spread
    over the device's workers (local-task) — and returns when all are done,
    raising the first failure.

    ``budget`` (an :class:`asyncvm.vm.Budget`, or None) bounds the dispatch:
    once its token is cancelled the dispatch stops at its next check (between
    workgroups; a VMVX kernel also at its quantum checks) and raises the
    token's error. When the budget can pause (local-sync on an event loop),
    the dispatch may instead return an iterator: the rest of the work, which
    yields whenever ``budget.end`` passes and is resumed (with a new end) by
    whoever drives it; it runs on this thread, in order, and ignores
    ``for_each``.

    Made once per dispatch on the hot path: a plain slotted record (not
    frozen, whose constructor pays ``object.__setattr__`` per field);
    executables read it and do not change it.
    """

    workgroup_count: tuple[int, int, int]
    constants: tuple[int, ...]
    bindings: tuple  # (hal Buffer, byte offset, byte length) per binding
    for_each: Callable[[int, Callable[[int, int], None]], None] = run_in_order
    budget: Budget | None = None


class Executable(Protocol):
    """A loaded executable. ``function_names`` are its exports in ordinal order:
    every export, the compiler's builtin dispatches (``__builtin_splat_i64``)
    included, as ``hal.executable.lookup.function`` finds them by name."""

    format: str
    function_names: list[str]

    def dispatch(self, ordinal: int, state: DispatchState) -> Iterator[None] | None:
        """Runs every workgroup of function ``ordinal``; raises VMError on failure.

        Runs synchronously on the calling (queue or worker) thread and
        returns None; or, given a budget that can pause, may return an
        iterator that runs the rest (see :class:`DispatchState`).
        """


Loader = Callable[[bytes, tuple[int, ...]], Executable]


class ExecutableLoaders:
    """Loaders by executable format: ``loader(data, constants) -> Executable``.

    A device holds one table and consults it for ``executable.create`` and
    for the ``hal.executable.format`` query. Registration is not
    thread-safe; fill the table before the device runs work.
    """

    __slots__ = ("_loaders",)

    def __init__(self, loaders: dict[str, Loader] | None = None) -> None:
        self._loaders: dict[str, Loader] = dict(loaders or {})

    def register(self, format_name: str, loader: Loader) -> None:
        """Makes ``format_name`` loadable (replacing an earlier loader of it)."""
        self._loaders[format_name] = loader

    def formats(self) -> list[str]:
        """The loadable formats, sorted."""
        return sorted(self._loaders)

    def __contains__(self, format_name: str) -> bool:
        return format_name in self._loaders

    def copy(self) -> "ExecutableLoaders":
        return ExecutableLoaders(self._loaders)

    def load(self, format_name: str, data: bytes, constants: tuple[int, ...] = ()) -> Executable:
        """Loads an executable; NOT_FOUND for an unknown format, the loader's
        VMError (INVALID_ARGUMENT for malformed bytes) otherwise."""
        loader = self._loaders.get(format_name)
        if loader is None:
            raise VMError(StatusCode.NOT_FOUND,
                          f"no loader for executable format {format_name!r} "
                          f"(supported: {', '.join(self.formats()) or 'none'})")
        return loader(data, constants)


def lookup_function(executable: Executable, name: str) -> int:
    try:
        return executable.function_names.index(name)
    except ValueError:
        raise VMError(StatusCode.NOT_FOUND,
                      f"executable ({executable.format}) has no function {name!r}") from None

