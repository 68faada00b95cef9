"""The hardware abstraction layer: devices, buffers, fences and the ``hal`` VM module."""
