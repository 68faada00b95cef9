"""The executable formats the HAL loads by itself: llvm-cpu's native libraries."""

from __future__ import annotations

from ._embedded_elf import EmbeddedElfExecutable
from ._executable import ExecutableLoaders
from ._native_library import SystemLibraryExecutable


def native_loaders() -> ExecutableLoaders:
    """A new table with ``embedded-elf-x86_64`` and ``system-elf-x86_64``;
    the caller owns it and may register more formats."""
    return ExecutableLoaders({
        EmbeddedElfExecutable.format: EmbeddedElfExecutable,
        SystemLibraryExecutable.format: SystemLibraryExecutable,
    })
