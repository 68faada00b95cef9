"""The hardware abstraction layer: devices, buffers, fences and the ``hal`` VM module.

It stands on the core (``asyncvm.vm``) alone. A device loads the formats in
its :class:`ExecutableLoaders` table: the HAL's own native formats by
default, and higher floors' formats (VMVX) where the program is assembled.
"""

from ._allocator_statistics import AllocatorSnapshot
from ._buffer import Buffer
from ._buffer_view import BufferView
from ._command_buffer import CommandBuffer
from ._device import DEFAULT_INLINE_LIMIT, DRIVERS, Device
from ._element_type import ElementType
from ._executable import DispatchState, Executable, ExecutableLoaders
from ._fence import Fence
from ._module import HAL_MODULE_VERSION, HalModule
from ._embedded_elf import EmbeddedElfExecutable
from ._native_library import SystemLibraryExecutable, WorkgroupLoopWarning
from ._native_loaders import native_loaders
from ._semaphore import MAX_VALUE, Semaphore
from ._wakeup import Wakeup

__all__ = ["AllocatorSnapshot", "Buffer", "BufferView", "CommandBuffer", "DEFAULT_INLINE_LIMIT",
           "DRIVERS", "Device", "DispatchState",
           "EmbeddedElfExecutable",
           "ElementType", "Fence", "HAL_MODULE_VERSION", "HalModule", "MAX_VALUE", "Semaphore", "SystemLibraryExecutable",
           "Wakeup", "WorkgroupLoopWarning", "native_loaders", "Executable", "ExecutableLoaders"]
