"""VMVX executables (``vmvx-bytecode-fb``): kernels as VM bytecode modules.

The compiler embeds each executable as a VM bytecode module whose exports
are the entry points. A dispatch calls the entry point once per workgroup,
with IREE's VMVX ABI:

    (local_memory: !vm.buffer, constants: !vm.buffer,
     bindings: !vm.list<!vm.buffer>,
     workgroup_id_x, _y, _z, workgroup_size_x, _y, _z,
     workgroup_count_x, _y, _z)        -- all i32

Bindings are ``vm.buffer`` views of the HAL buffers' byte ranges (no copy);
constants are an i32 array. Kernels built with microkernels import the
``vmvx`` module (numpy), registered before them in the executable's context.
Workgroups run in z, y, x order on the calling thread (``local-sync``, in
time slices of the event loop when given a budget that can pause) or in
slices on the device's workers (``local-task``); a cancelled budget stops
them at the kernel's next quantum check. Whoever assembles a device
registers :class:`VmvxExecutable` under :data:`FORMAT` in its loader table.
"""

from __future__ import annotations

import time

import numpy

from asyncvm.vm import (Context, Instance, StatusCode, TypeInfo, ValueKind, VMBuffer, VMError,
                        VMList, run_frames_sliced, run_frames_sync)
from asyncvm.hal import DispatchState
from asyncvm.modules.bytecode import BytecodeModule

from ._microkernels import create_vmvx_module

FORMAT = "vmvx-bytecode-fb"
_BUFFER_TYPE = TypeInfo("!vm.buffer", ValueKind.REF, VMBuffer)
# IREE_VMVX_ENTRY_SIGNATURE: (local_memory, constants, bindings, 9 x i32) -> ().
_ENTRY_SIGNATURE = "0rrriiiiiiiii_v"


class VmvxExecutable:
    """A loaded VMVX executable: one context over its kernel module."""

    format = FORMAT

    def __init__(self, data: bytes, constants: tuple[int, ...] = ()) -> None:
        try:
            self.module = BytecodeModule.load(data)
        except VMError as error:
            raise VMError(error.status, f"VMVX executable: {error.message}") from None
        modules = [self.module]
        if any(descriptor.module_name == "vmvx" for descriptor in self.module.imports):
            modules.insert(0, _microkernels())
        self.context = Context(Instance(), modules)
        # As IREE's VMVX loader: entry point i is export i of the kernel
        # module, every export counted in export order -- the compiler's
        # builtin dispatches (``__builtin_splat_i64``...) included -- and each
        # must have the VMVX calling convention.
        state = self.context.state_of(self.module.name)
        self.function_names = []
        self._functions = []
        for descriptor in self.module.exports:
            if descriptor.calling_convention != _ENTRY_SIGNATURE:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"VMVX executable: entry point {descriptor.name!r} does not match "
                              f"the expected calling convention; expected {_ENTRY_SIGNATURE!r} "
                              f"but got {descriptor.calling_convention!r}, possible ABI version "
                              "mismatch")
            self.function_names.append(descriptor.name)
            self._functions.append(state.lookup_function(descriptor.name))

    def dispatch(self, ordinal: int, state: DispatchState):
        """Runs every workgroup of entry point ``ordinal`` (VMError naming it
        on failure). With ``state.budget``: stops with the token's error at
        the kernel's next quantum check or workgroup once cancelled; a budget
        that can pause gets an iterator back, which runs the workgroups in
        order and yields at a quantum check once ``budget.end`` passed (see
        :class:`~asyncvm.hal.DispatchState`)."""
        function = self._functions[ordinal]
        count_x, count_y, count_z = state.workgroup_count
        constants = numpy.asarray(state.constants, dtype=numpy.uint32)
        constants_buffer = VMBuffer.wrap(constants.tobytes(), readonly=True)
        bindings = VMList(_BUFFER_TYPE, items=[
            VMBuffer.wrap(buffer.bytes_view(offset, length)) for buffer, offset, length
            in state.bindings])
        plane = count_x * count_y
        budget = state.budget
        name = self.function_names[ordinal]

        def arguments(index: int, local_memory: VMBuffer) -> tuple:
            z, rest = divmod(index, plane)
            y, x = divmod(rest, count_x)
            return (local_memory, constants_buffer, bindings, x, y, z, 1, 1, 1,
                    count_x, count_y, count_z)

        if budget is not None and budget.can_pause:
            return _named(name, self._in_slices(function, plane * count_z, arguments, budget))

        def run(first: int, end: int) -> None:
            local_memory = VMBuffer(0)
            for index in range(first, end):
                if budget is not None:
                    budget.check()
                run_frames_sync(function, arguments(index, local_memory), budget=budget)

        try:
            state.for_each(plane * count_z, run)
        except VMError as error:
            raise _renamed(name, error) from None
        return None

    @staticmethod
    def _in_slices(function, count: int, arguments, budget):
        """Every workgroup in order, pausing inside them at quantum checks
        and between them (short workgroups may have no quantum check)."""
        local_memory = VMBuffer(0)
        clock = time.perf_counter
        for index in range(count):
            budget.check()
            yield from run_frames_sliced(function, arguments(index, local_memory), budget)
            if clock() >= budget.end:
                yield


def _named(name: str, steps):
    """``steps`` with their VMError renamed as the dispatch's."""
    try:
        yield from steps
    except VMError as error:
        raise _renamed(name, error) from None


def _renamed(name: str, error: VMError) -> VMError:
    verb = "stopped" if error.status in (StatusCode.CANCELLED,
                                         StatusCode.DEADLINE_EXCEEDED) else "failed"
    return VMError(error.status, f"dispatch of {name} {verb}: {error.message}",
                   backtrace=error.backtrace)


_MICROKERNELS = []


def _microkernels():
    """The one shared ``vmvx`` module (stateless, so contexts can share it)."""
    if not _MICROKERNELS:
        _MICROKERNELS.append(create_vmvx_module())
    return _MICROKERNELS[0]

