"""Devices as a program needs them: the HAL's native formats plus VMVX.

This is where the floors are assembled. The HAL cannot know VMVX (its
kernels are bytecode, a higher floor), so the face adds the VMVX loader to
each device's table here, explicitly, instead of relying on an import's side
effect.
"""

from __future__ import annotations

from .hal import Device, ExecutableLoaders, native_loaders
from .modules import vmvx


def default_loaders() -> ExecutableLoaders:
    """A new loader table with every format asyncvm runs: the HAL's native
    llvm-cpu libraries and VMVX. The caller owns it."""
    loaders = native_loaders()
    loaders.register(vmvx.FORMAT, vmvx.VmvxExecutable)
    return loaders


def create_device(driver: str = "local-sync", *, workers: int | None = None,
                  memory_limit: int | None = None) -> Device:
    """A ``local-sync`` or ``local-task`` device that loads every format
    (:func:`default_loaders`); the caller owns it. ``memory_limit`` (bytes,
    a positive int; None for none) bounds the live bytes of the device's
    allocations: one past it fails RESOURCE_EXHAUSTED (see
    :meth:`asyncvm.hal.Device.allocate` for what counts). Does not suspend.
    VMError NOT_FOUND for an unknown driver, INVALID_ARGUMENT for a bad
    limit."""
    return Device(driver, workers=workers, loaders=default_loaders(), memory_limit=memory_limit)
