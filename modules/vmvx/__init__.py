"""VMVX executables: kernels run by the bytecode interpreter. Importing this
package registers the ``vmvx-bytecode-fb`` loader with the HAL."""

from ._loader import FORMAT, VmvxExecutable

__all__ = ["FORMAT", "VmvxExecutable"]
