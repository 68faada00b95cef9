"""The VM instance: what contexts share — the registry of ref types.

One instance usually serves a whole process. Creating one is cheap and does
not suspend. It starts with the built-in types ``vm.buffer`` and ``vm.list``;
modules that provide more (the HAL) add theirs when registered in a context.
"""

from __future__ import annotations

from ._buffer import VMBuffer
from ._list import VMList
from ._ref_types import RefTypeRegistry


class Instance:
    """Holds the ref-type registry shared by the contexts made from it."""

    def __init__(self) -> None:
        self.ref_types = RefTypeRegistry()
        self.ref_types.register("vm.buffer", VMBuffer)
        self.ref_types.register("vm.list", VMList)

    def __repr__(self) -> str:
        return f"<Instance types={self.ref_types.names()}>"
