"""tvm-ffi type schemas and how they meet VM calling conventions.

A library built with ``TVM_FFI_DLL_EXPORT_INCLUDE_METADATA`` describes each
function as JSON, for example
``{"type": "ffi.Function", "named_args": {"return": [{"type": "ffi.Tensor"}],
"params": [{"type": "DLTensor*"}, {"type": "float"}]}}``. This file reads
that into a :class:`NativeSignature` and checks it against the convention
an importing module declares:

===========================================  =================================
tvm-ffi type                                  VM slot
===========================================  =================================
``int``, ``bool``                             ``i`` or ``I``
``float``                                     ``f`` or ``F``
``DLTensor*``, ``ffi.Tensor``, ``Optional``   ``r`` (a buffer view; null only
of one                                        where ``Optional``)
``Any``                                       any slot
``None`` (return)                             no result
``Tuple``/``ffi.Tuple`` (return)              one result per element
===========================================  =================================

Any other type (strings, arrays, maps, objects) has no VM counterpart and
is INCOMPATIBLE. Without metadata nothing is checked at link time; tvm-ffi
then checks each call (INVALID_ARGUMENT).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from asyncvm.vm import CallingConvention, Span, StatusCode, ValueKind, VMError

_INTEGER = frozenset({ValueKind.I32, ValueKind.I64})
_FLOAT = frozenset({ValueKind.F32, ValueKind.F64})
_TENSORS = frozenset({"DLTensor*", "ffi.Tensor", "ffi.TensorView", "Tensor"})
_SLOTS = {"int": _INTEGER, "bool": _INTEGER, "float": _FLOAT}
_NATURAL = {"int": "I", "bool": "i", "float": "F"}


@dataclass(frozen=True)
class NativeType:
    """One parameter or result type of a schema: its name and, for
    ``Optional``/``Tuple``, its arguments."""

    name: str
    arguments: tuple["NativeType", ...] = ()

    @classmethod
    def parse(cls, node: object) -> "NativeType":
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            raise ValueError(f"a type is an object with a 'type' string, not {node!r}")
        return cls(node["type"], tuple(cls.parse(item) for item in node.get("args", ())))

    def __str__(self) -> str:
        if not self.arguments:
            return self.name
        return f"{self.name}<{', '.join(str(argument) for argument in self.arguments)}>"

    @property
    def is_tensor(self) -> bool:
        return self.name in _TENSORS or (
            self.name == "Optional" and len(self.arguments) == 1 and self.arguments[0].is_tensor)

    def accepts(self, slot: object) -> bool:
        """Whether a value of VM slot ``slot`` can stand for this type."""
        if self.name == "Any":
            return True
        if isinstance(slot, Span):
            return False
        if self.is_tensor:
            return slot is ValueKind.REF
        return slot in _SLOTS.get(self.name, ())

    @property
    def natural_slot(self) -> str | None:
        """The convention character a VM caller would use, or None."""
        if self.is_tensor or self.name == "Any":
            return "r"
        return _NATURAL.get(self.name)


@dataclass(frozen=True)
class NativeSignature:
    """A function's parameter and result types."""

    parameters: tuple[NativeType, ...]
    results: tuple[NativeType, ...]

    @classmethod
    def from_metadata(cls, metadata: object) -> "NativeSignature | None":
        """The signature in a function's metadata (as tvm-ffi returns it), or
        None when there is none or it cannot be read."""
        if not isinstance(metadata, dict) or "type_schema" not in metadata:
            return None
        try:
            schema = json.loads(metadata["type_schema"])
            named = schema["named_args"]
            parameters = tuple(NativeType.parse(node) for node in named.get("params", ()))
            returned = [NativeType.parse(node) for node in named.get("return", ())]
        except (ValueError, TypeError, KeyError):
            return None
        results: tuple[NativeType, ...] = ()
        if returned:
            value = returned[0]
            if value.name in ("Tuple", "ffi.Tuple"):
                results = value.arguments
            elif value.name != "None":
                results = (value,)
        return cls(parameters, results)

    def __str__(self) -> str:
        parameters = ", ".join(str(item) for item in self.parameters)
        results = ", ".join(str(item) for item in self.results)
        return f"({parameters}) -> ({results})"

    @property
    def natural_convention(self) -> str | None:
        """The VM calling convention matching this signature (``int`` as i64,
        ``float`` as f64), or None if a type has no VM counterpart."""
        arguments = [item.natural_slot for item in self.parameters]
        results = [item.natural_slot for item in self.results]
        if None in arguments or None in results:
            return None
        return f"0{''.join(arguments) or 'v'}_{''.join(results) or 'v'}"

    def check(self, where: str, convention: CallingConvention) -> None:
        """INCOMPATIBLE naming ``where`` and the first disagreement, unless a
        caller with ``convention`` can call a function of this signature."""
        if len(convention.arguments) != len(self.parameters):
            raise VMError(StatusCode.INCOMPATIBLE,
                          f"{where} takes {len(self.parameters)} argument(s) {self}, but it is "
                          f"imported with {len(convention.arguments)} ({convention})")
        if len(convention.results) != len(self.results):
            raise VMError(StatusCode.INCOMPATIBLE,
                          f"{where} returns {len(self.results)} result(s) {self}, but it is "
                          f"imported with {len(convention.results)} ({convention})")
        for what, types, slots in (("argument", self.parameters, convention.arguments),
                                   ("result", self.results, convention.results)):
            for index, (native, slot) in enumerate(zip(types, slots)):
                if not native.accepts(slot):
                    shown = slot.name.lower() if isinstance(slot, ValueKind) else str(slot)
                    raise VMError(StatusCode.INCOMPATIBLE,
                                  f"{where} {what} {index} is {native} in the library, but it "
                                  f"is imported as {shown} ({convention})")
