"""asyncvm: run IREE-compiled programs as coroutines from asyncio or trio.

``asyncvm.load(path)`` gives a :class:`Program`; ``await program.invoke(name,
*args)`` calls it; :class:`Batcher` coalesces concurrent calls into batches. The core lives in :mod:`asyncvm.vm`; the public face is
loaded lazily so that lower layers can import ``asyncvm.vm`` without pulling
in the upper floors.
"""

from __future__ import annotations

from typing import Any

from .vm import StatusCode, VMError

__all__ = ["Batcher", "BatcherStatistics", "Program", "StatusCode", "VMError", "aligned_array", "load", "vm"]

_LAZY = {"load": "._program", "Program": "._program", "load_module": "._program",
         "aligned_array": "._program", "Batcher": "._batcher",
         "BatcherStatistics": "._batcher"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'asyncvm' has no attribute {name!r}")
