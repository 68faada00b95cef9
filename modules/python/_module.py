"""Modules written in Python.

    host = PythonModule("host", version=1)

    @host.export("0ii_i")
    def add(a, b):
        return a + b

    @host.export("0i_i")
    async def fetch(key):          # an async export is a suspension point
        await anyio.sleep(0.01)
        return key * 2

An export receives one Python value per calling-convention argument (a span
is a list) and returns its results: a tuple, or for a single result the bare
value, or ``None`` for none. An ``async def`` export is awaited by the
invocation driver, so a bytecode caller suspends there without blocking the
event loop. Raise VMError to fail with a status; any other exception becomes
INTERNAL with the VM backtrace of the caller.
"""

from __future__ import annotations

from asyncvm.vm import NativeModule, NativeModuleState


class PythonModule(NativeModule):
    """A user module of Python callables; see the module docstring."""


PythonModuleState = NativeModuleState
