"""The ``Module`` interface every module kind implements.

A module is immutable, shareable across contexts, and describes itself:
its name and version, the modules it depends on, the functions it exports
and imports (with IREE calling conventions) and the ref types it provides.
Registering it in a :class:`~asyncvm.vm.Context` calls
:meth:`Module.create_state` with its imports resolved; the returned
:class:`ModuleState` holds everything mutable (globals, resources) for that
one context.

The VM function protocol: a callable exported by a state is called with one
Python value per calling-convention argument (a variadic span is a list: of
values if the span has one kind, of tuples otherwise) and returns either a
tuple of results (it ran synchronously) or an object the invocation driver
runs to get that tuple: a generator (a bytecode frame, pushed on the
invocation's stack) or an awaitable (an async import, awaited: the one way an
invocation suspends besides ``vm.yield`` and the scheduling quantum).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ._calling_convention import CallingConvention, parse_calling_convention


def split_qualified_name(name: str) -> tuple[str, str]:
    """Splits ``module.function`` at the first dot: ``(module, function)``.

    How IREE names an import's module (``hal.devices.count`` is module
    ``hal``, function ``devices.count``). A name without a dot gives
    ``("", name)``. Resolving a name against the modules of a context uses
    :func:`resolve_qualified_name`, which also finds dotted module names.
    """
    module_name, dot, function_name = name.partition(".")
    if not dot:
        return "", name
    return module_name, function_name


def resolve_qualified_name(name: str, module_names: Iterable[str]) -> tuple[str, str] | None:
    """Splits ``module.function`` by the modules that exist: ``(module, function)``.

    The module is the longest of ``module_names`` that, followed by a dot,
    begins ``name``; the rest (dots and all) is the function's own name:
    with module ``hal``, ``hal.devices.count`` is ``("hal", "devices.count")``,
    and with module ``linked_module``, ``linked_module.i32i32.i32_dispatch_0``
    is that module's ``i32i32.i32_dispatch_0``. None if no module prefixes
    ``name``. When no module name has a dot this is IREE's split at the
    first dot.
    """
    best = None
    for module_name in module_names:
        if (len(name) > len(module_name) + 1 and name.startswith(module_name)
                and name[len(module_name)] == "."
                and (best is None or len(module_name) > len(best))):
            best = module_name
    if best is None:
        return None
    return best, name[len(best) + 1:]


@dataclass(frozen=True)
class Dependency:
    """A module this one needs, at ``minimum_version`` or newer."""

    name: str
    minimum_version: int = 0
    optional: bool = False


@dataclass(frozen=True)
class FunctionDescriptor:
    """A function's name, calling convention and reflection attributes."""

    name: str
    calling_convention: str
    attributes: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def signature(self) -> CallingConvention:
        return parse_calling_convention(self.calling_convention)


@dataclass(frozen=True)
class ImportDescriptor:
    """An import: fully qualified ``module.function`` name and convention."""

    full_name: str
    calling_convention: str
    optional: bool = False

    @property
    def module_name(self) -> str:
        return split_qualified_name(self.full_name)[0]

    @property
    def function_name(self) -> str:
        return split_qualified_name(self.full_name)[1]


@dataclass
class ResolvedImport:
    """An import bound to the export that satisfies it (``function`` is None if
    an optional import stayed unresolved)."""

    descriptor: ImportDescriptor
    function: Callable[..., Any] | None
    provider: str | None = None


class ModuleState:
    """The per-context state of a module.

    Subclasses override :meth:`lookup_function`, and may override
    :meth:`initialize` and :meth:`deinitialize` (coroutines run by the context
    in registration order, and in reverse order on close).
    """

    module: "Module"

    def lookup_function(self, name: str) -> Callable[..., Any] | None:
        """The callable implementing export ``name`` (VM function protocol)."""
        raise NotImplementedError

    def lookup_export(self, export: "FunctionDescriptor") -> Callable[..., Any] | None:
        """The callable for ``export`` as :meth:`Module.export_for_import`
        described it to an importer. Modules whose exports take the
        importer's calling convention override this to bind one callable per
        convention; the default is :meth:`lookup_function` by name."""
        return self.lookup_function(export.name)

    async def initialize(self, context: Any) -> None:
        """Runs once after every module of the context is registered."""

    async def deinitialize(self, context: Any) -> None:
        """Runs once when the context closes."""


class Module:
    """Base of every module kind. Subclasses set the attributes and override
    :meth:`create_state`."""

    name: str = ""
    version: int = 0

    @property
    def dependencies(self) -> list[Dependency]:
        return []

    @property
    def exports(self) -> list[FunctionDescriptor]:
        return []

    @property
    def imports(self) -> list[ImportDescriptor]:
        return []

    @property
    def provided_ref_types(self) -> dict[str, type]:
        """Ref types this module makes available to later modules (name -> class)."""
        return {}

    def create_state(self, context: Any, imports: list[ResolvedImport]) -> ModuleState:
        raise NotImplementedError

    def find_export(self, name: str) -> FunctionDescriptor | None:
        for descriptor in self.exports:
            if descriptor.name == name:
                return descriptor
        return None

    def export_for_import(self, name: str, calling_convention: str) -> FunctionDescriptor | None:
        """The export that satisfies an import of ``name`` declared with
        ``calling_convention``, or None if there is none; the context then
        checks that the conventions agree.

        The default is :meth:`find_export`. A module whose functions carry
        no VM calling convention of their own (a native library) overrides
        this to adopt the importer's, raising VMError INCOMPATIBLE when what
        it knows of the function contradicts it. Does not suspend.
        """
        return self.find_export(name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} v{self.version}>"
