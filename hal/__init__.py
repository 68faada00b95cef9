"""The hardware abstraction layer: devices, buffers, fences and the ``hal`` VM module.

So far: timeline semaphores and fences, whose waits suspend only the waiting
coroutine and can be signalled from any thread.
"""

from ._fence import Fence
from ._semaphore import MAX_VALUE, Semaphore
from ._wakeup import Wakeup

__all__ = ["Fence", "MAX_VALUE", "Semaphore", "Wakeup"]
