"""Ref types: the named kinds of object a ref register may hold.

A compiled module lists the types it uses by IREE name (``!vm.buffer``,
``!vm.list<i32>``, ``!hal.buffer``, ...). A :class:`RefTypeRegistry` maps
the names of ref types to Python classes; :func:`resolve_type_name` turns a
type-table entry into a :class:`TypeInfo`. Registries are filled when
modules providing types (the HAL, Python modules) are created; lookups never
suspend.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._status import StatusCode, VMError
from ._values import ValueKind

_PRIMITIVES = {
    "i8": ValueKind.I32, "i16": ValueKind.I32, "i32": ValueKind.I32,
    "i64": ValueKind.I64, "f32": ValueKind.F32, "f64": ValueKind.F64,
}


@dataclass(frozen=True)
class TypeInfo:
    """A resolved type-table entry.

    ``kind`` is the value kind; for refs ``ref_class`` is the Python class a
    value must be an instance of (``None`` for the wildcard ``?``), and for
    lists ``element`` is the element type.
    """

    name: str
    kind: ValueKind
    ref_class: type | None = None
    element: "TypeInfo | None" = None

    def accepts(self, value: object) -> bool:
        """Whether a ref value may be held under this type (``None`` always may)."""
        return value is None or self.ref_class is None or isinstance(value, self.ref_class)


ANY_REF = TypeInfo("?", ValueKind.REF)


class RefTypeRegistry:
    """Names of ref types to Python classes; ``!vm.buffer`` and ``!vm.list`` built in."""

    def __init__(self) -> None:
        self._classes: dict[str, type] = {}

    def register(self, name: str, cls: type) -> None:
        """Registers ``cls`` under ``name`` (for example ``"hal.buffer"``).

        Registering the same class twice is allowed; another class under a name
        already taken is ALREADY_EXISTS.
        """
        name = name.lstrip("!")
        existing = self._classes.get(name)
        if existing is not None and existing is not cls:
            raise VMError(StatusCode.ALREADY_EXISTS, f"ref type {name!r} already registered")
        self._classes[name] = cls

    def lookup(self, name: str) -> type | None:
        return self._classes.get(name.lstrip("!"))

    def names(self) -> list[str]:
        return sorted(self._classes)


def resolve_type_name(name: str, registry: RefTypeRegistry) -> TypeInfo:
    """Resolves an IREE type name; raises NOT_FOUND for an unregistered ref type."""
    if name in _PRIMITIVES:
        return TypeInfo(name, _PRIMITIVES[name])
    if name in ("?", "!vm.ref<?>", "!vm.opaque"):
        return TypeInfo(name, ValueKind.REF)
    bare = name.lstrip("!")
    if bare.startswith("vm.ref<") and bare.endswith(">"):
        inner = resolve_type_name(bare[len("vm.ref<"):-1], registry)
        return TypeInfo(name, ValueKind.REF, inner.ref_class, inner.element)
    if bare.startswith("vm.list<") and bare.endswith(">"):
        element = resolve_type_name(bare[len("vm.list<"):-1], registry)
        return TypeInfo(name, ValueKind.REF, registry.lookup("vm.list"), element)
    cls = registry.lookup(bare)
    if cls is None:
        raise VMError(StatusCode.NOT_FOUND, f"type {name!r} is not registered "
                      "(is the module that provides it registered in the context?)")
    return TypeInfo(name, ValueKind.REF, cls)
