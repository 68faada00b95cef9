"""VMVX executables: kernels run by the bytecode interpreter.

Nothing registers itself on import: add :class:`VmvxExecutable` to a device's
loaders (``loaders.register(FORMAT, VmvxExecutable)``), as
:func:`asyncvm.default_loaders` does.
"""

from ._loader import FORMAT, VmvxExecutable

__all__ = ["FORMAT", "VmvxExecutable"]
