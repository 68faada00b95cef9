"""Status codes and the one error type of the runtime.

Every failure the runtime reports — bad input, a failing program, a
cancelled wait — is a :class:`VMError` carrying a :class:`StatusCode` with
IREE's numbering, a message, and where known the VM backtrace of the
invocation that failed (innermost frame first).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class StatusCode(enum.IntEnum):
    """IREE's status codes (the same numbers as ``iree_status_code_t``)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16
    DEFERRED = 17
    INCOMPATIBLE = 18

    @classmethod
    def from_value(cls, value: int) -> "StatusCode":
        """Maps any integer to a code; values IREE does not define map to UNKNOWN."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True)
class FrameLocation:
    """One frame of a VM backtrace: ``module.function@pc`` plus source if known."""

    module: str
    function: str
    pc: int | None = None
    source: str | None = None

    def __str__(self) -> str:
        text = f"{self.module}.{self.function}"
        if self.pc is not None:
            text += f"@{self.pc}"
        if self.source:
            text += f" ({self.source})"
        return text


class VMError(Exception):
    """A runtime failure with an IREE status code.

    ``status`` is the :class:`StatusCode`; ``message`` the bare description;
    ``backtrace`` a list of :class:`FrameLocation`, innermost first (empty when
    the failure happened outside any invocation, for example while loading).
    ``str(error)`` gives ``STATUS: message`` followed by the backtrace.
    """

    def __init__(self, status: StatusCode | int, message: str, *,
                 backtrace: list[FrameLocation] | None = None) -> None:
        self.status = StatusCode.from_value(int(status))
        self.message = message
        self.backtrace: list[FrameLocation] = list(backtrace or [])
        super().__init__(message)

    @property
    def location(self) -> FrameLocation | None:
        """The innermost frame where the failure happened, if any."""
        return self.backtrace[0] if self.backtrace else None

    def with_backtrace(self, backtrace: list[FrameLocation]) -> "VMError":
        """Attaches a backtrace unless one is already present; returns self."""
        if not self.backtrace:
            self.backtrace = list(backtrace)
        return self

    def __reduce__(self):
        """Pickles as status, message and backtrace (so an error crosses
        process boundaries: multiprocessing, Ray's object store)."""
        return (_rebuild_vm_error, (type(self), int(self.status), self.message, self.backtrace))

    def __str__(self) -> str:
        text = f"{self.status.name}: {self.message}"
        if self.backtrace:
            text += "".join(f"\n    at {frame}" for frame in self.backtrace)
        return text


def _rebuild_vm_error(kind: type, status: int, message: str,
                      backtrace: list) -> VMError:
    error = VMError.__new__(kind)
    VMError.__init__(error, status, message, backtrace=backtrace)
    return error


def export_failure(where: str | None, error: BaseException) -> VMError:
    """The VMError for a Python exception that is not one, raised by ``where``
    (an export, ``module.function``; None if unknown).

    RecursionError and MemoryError are RESOURCE_EXHAUSTED, anything else
    INTERNAL; the message names ``where`` and the exception, which becomes
    the ``__cause__``. Callers raise the result; the invocation driver then
    attaches the VM backtrace.
    """
    prefix = f"{where}: " if where else ""
    if isinstance(error, RecursionError):
        converted = VMError(StatusCode.RESOURCE_EXHAUSTED, f"{prefix}host stack exhausted: {error}")
    elif isinstance(error, MemoryError):
        converted = VMError(StatusCode.RESOURCE_EXHAUSTED, f"{prefix}out of host memory")
    elif where:
        converted = VMError(StatusCode.INTERNAL, f"{where} raised {type(error).__name__}: {error}")
    else:
        converted = VMError(StatusCode.INTERNAL, f"unexpected {type(error).__name__}: {error}")
    converted.__cause__ = error
    return converted


def invalid_argument(message: str) -> VMError:
    return VMError(StatusCode.INVALID_ARGUMENT, message)


def out_of_range(message: str) -> VMError:
    return VMError(StatusCode.OUT_OF_RANGE, message)


def not_found(message: str) -> VMError:
    return VMError(StatusCode.NOT_FOUND, message)
