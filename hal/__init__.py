"""The hardware abstraction layer: devices, buffers, fences and the ``hal`` VM module.

It stands on the core (``asyncvm.vm``) alone; executable formats register
their loaders with it from above (``hal.register_loader``).
"""

from ._allocator_statistics import AllocatorSnapshot
from ._buffer import Buffer, aligned_array
from ._buffer_view import BufferView
from ._command_buffer import CommandBuffer
from ._device import DRIVERS, Device
from ._element_type import ElementType
from ._executable import DispatchState, register_loader, supported_formats
from ._fence import Fence
from ._module import HAL_MODULE_VERSION, HalModule
from ._embedded_elf import EmbeddedElfExecutable
from ._native_library import SystemLibraryExecutable
from ._semaphore import MAX_VALUE, Semaphore
from ._wakeup import Wakeup

__all__ = ["AllocatorSnapshot", "Buffer", "BufferView", "CommandBuffer", "DRIVERS", "Device", "DispatchState",
           "EmbeddedElfExecutable",
           "ElementType", "Fence", "HAL_MODULE_VERSION", "HalModule", "MAX_VALUE", "Semaphore", "SystemLibraryExecutable",
           "Wakeup", "aligned_array", "register_loader", "supported_formats"]
