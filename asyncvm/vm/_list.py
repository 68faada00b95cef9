"""``vm.list``: a growable list of values, typed or variant.

A typed list (``!vm.list<i32>``) holds values of one kind; a variant list
(``!vm.list<?>``) holds any mix of primitives and refs. Elements of a fresh
or grown range are zero (primitives) or ``None`` (refs). Indices are checked:
an index outside ``[0, size)`` is OUT_OF_RANGE; storing a value of the wrong
kind is INVALID_ARGUMENT. Reading a ref as another ref type gives ``None``,
as in IREE (see :meth:`VMList.get_ref`). Nothing here suspends.
"""

from __future__ import annotations

from ._ref_types import TypeInfo
from ._status import StatusCode, VMError
from ._values import ValueKind, round_f32, wrap_i32, wrap_i64

_ZERO = {ValueKind.I32: 0, ValueKind.I64: 0, ValueKind.F32: 0.0, ValueKind.F64: 0.0}
_MAX_CAPACITY = 1 << 24


class VMList:
    """A list of VM values. Iterating or indexing gives Python values."""

    __slots__ = ("element_type", "_items", "capacity", "__weakref__")

    def __init__(self, element_type: TypeInfo | None = None, capacity: int = 0,
                 items: list | None = None) -> None:
        self.element_type = element_type
        self._items: list = list(items) if items is not None else []
        if capacity < 0 or capacity > _MAX_CAPACITY:
            raise VMError(StatusCode.RESOURCE_EXHAUSTED, f"list capacity {capacity} out of range")
        self.capacity = max(capacity, len(self._items))

    @property
    def element_kind(self) -> ValueKind | None:
        return self.element_type.kind if self.element_type is not None else None

    def _zero(self) -> object:
        kind = self.element_kind
        return _ZERO.get(kind) if kind is not None else None

    # -- VM operations ---------------------------------------------------------

    def reserve(self, minimum_capacity: int) -> None:
        if minimum_capacity > _MAX_CAPACITY:
            raise VMError(StatusCode.RESOURCE_EXHAUSTED,
                          f"list capacity {minimum_capacity} out of range")
        if minimum_capacity > self.capacity:
            self.capacity = minimum_capacity

    def resize(self, new_size: int) -> None:
        if new_size < 0 or new_size > _MAX_CAPACITY:
            raise VMError(StatusCode.OUT_OF_RANGE, f"list size {new_size} out of range")
        items = self._items
        if new_size < len(items):
            del items[new_size:]
        else:
            items.extend([self._zero()] * (new_size - len(items)))
        if new_size > self.capacity:
            self.capacity = new_size

    def size(self) -> int:
        return len(self._items)

    def _index_error(self, index: int) -> VMError:
        return VMError(StatusCode.OUT_OF_RANGE,
                       f"list index {index} out of bounds of size {len(self._items)}")

    def get_value(self, index: int, kind: ValueKind) -> object:
        """Reads element ``index`` as a primitive of ``kind`` (converting like IREE)."""
        if not 0 <= index < len(self._items):
            raise self._index_error(index)
        value = self._items[index]
        if value is None or not isinstance(value, (int, float)):
            if value is None and self.element_kind is None:
                return _ZERO[kind]
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"list element {index} is a ref, not {kind.name.lower()}")
        # As IREE: integers convert among themselves (truncating or extending),
        # floats among themselves; between integers and floats the answer is 0.
        if kind is ValueKind.I32 or kind is ValueKind.I64:
            if value.__class__ is float:
                return 0
            return wrap_i32(value) if kind is ValueKind.I32 else wrap_i64(value)
        if value.__class__ is not float:
            return 0.0
        return round_f32(value) if kind is ValueKind.F32 else value

    def set_value(self, index: int, value: object, kind: ValueKind) -> None:
        """Writes a primitive of ``kind`` at ``index`` (converting to the element kind)."""
        if not 0 <= index < len(self._items):
            raise self._index_error(index)
        element = self.element_kind
        if element is not None and element is not kind:
            if element is ValueKind.REF:
                raise VMError(StatusCode.FAILED_PRECONDITION, "list cannot store values")
            if element.is_integer:
                value = 0 if kind.is_float else (
                    wrap_i32(value) if element is ValueKind.I32 else wrap_i64(value))
            else:
                value = 0.0 if kind.is_integer else (
                    round_f32(value) if element is ValueKind.F32 else float(value))
        self._items[index] = value

    def get_ref(self, index: int, type_info: TypeInfo | None = None) -> object:
        """Reads a ref element (``vm.list.get.ref``); ``None`` for a null one.

        As IREE (``iree_vm_list_get_ref_retain_or_move`` and the bytecode
        op): an index outside ``[0, size)`` is OUT_OF_RANGE; a list of
        primitives, or a primitive element of a variant list, is
        FAILED_PRECONDITION. With ``type_info`` (the op's result type) an
        element of another ref type reads as ``None`` -- not an error, and
        the element stays in the list. IREE compares exact ref types, so
        ``!vm.ref<?>`` (``!vm.opaque``, no ref type of its own) and a
        primitive type match nothing, while every ``!vm.list<...>`` matches
        every list (lists share one ref type whatever their elements).
        """
        if not 0 <= index < len(self._items):
            raise self._index_error(index)
        value = self._items[index]
        if value is None:
            return None
        if isinstance(value, (int, float)):
            if self.element_type is not None:
                raise VMError(StatusCode.FAILED_PRECONDITION,
                              f"list of {self.element_type.name} does not store refs")
            raise VMError(StatusCode.FAILED_PRECONDITION,
                          f"list element {index} is a value, not a ref")
        if type_info is not None and (type_info.kind is not ValueKind.REF
                                      or type_info.ref_class is None
                                      or not isinstance(value, type_info.ref_class)):
            return None
        return value

    def set_ref(self, index: int, value: object) -> None:
        if not 0 <= index < len(self._items):
            raise self._index_error(index)
        element = self.element_type
        if element is not None:
            if element.kind is not ValueKind.REF:
                raise VMError(StatusCode.FAILED_PRECONDITION,
                              f"list of {element.name} cannot store refs")
            if not element.accepts(value):
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"cannot store {type(value).__name__} in a list of {element.name}")
        self._items[index] = value

    # -- Python sequence protocol ------------------------------------------------

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> object:
        return self._items[index]

    def __iter__(self):
        return iter(self._items)

    def append(self, value: object) -> None:
        """Appends a Python value (host-side convenience, not a VM op)."""
        self._items.append(value)
        self.capacity = max(self.capacity, len(self._items))

    def __repr__(self) -> str:
        name = self.element_type.name if self.element_type else "?"
        return f"<vm.list<{name}> {self._items!r}>"
