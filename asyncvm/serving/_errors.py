"""Failures as the Open Inference Protocol reports them: an HTTP status and
``{"error": "..."}``.

A :class:`ProtocolError` is raised anywhere a request cannot be served and
turned into the response by the application. :func:`from_vm_error` maps a
program's :class:`~asyncvm.VMError` onto an HTTP status by its IREE status
code. Nothing here suspends.
"""

from __future__ import annotations

from asyncvm.vm import StatusCode, VMError

_HTTP_STATUS_BY_CODE = {
    StatusCode.INVALID_ARGUMENT: 400,
    StatusCode.OUT_OF_RANGE: 400,
    StatusCode.NOT_FOUND: 404,
    StatusCode.DEADLINE_EXCEEDED: 504,
    StatusCode.RESOURCE_EXHAUSTED: 503,
    StatusCode.UNAVAILABLE: 503,
    StatusCode.CANCELLED: 503,
    StatusCode.UNIMPLEMENTED: 501,
}


class ProtocolError(Exception):
    """A request that cannot be served: the HTTP status and the message of
    the protocol's error body; ``headers`` are added to the response."""

    def __init__(self, http_status: int, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message
        self.headers = headers or {}


def http_status_for(status: StatusCode) -> int:
    """The HTTP status of a response that fails with an IREE status: the
    caller's inputs (INVALID_ARGUMENT, OUT_OF_RANGE) are 400, DEADLINE_EXCEEDED
    is 504, RESOURCE_EXHAUSTED, UNAVAILABLE and CANCELLED (a server shutting
    down) are 503, UNIMPLEMENTED is 501; anything else is the program's own
    failure, 500."""
    return _HTTP_STATUS_BY_CODE.get(status, 500)


def from_vm_error(error: VMError, model: str) -> ProtocolError:
    """The protocol error of a failed call of ``model``: ``STATUS: message``
    (the VM backtrace stays in the server's log)."""
    status = http_status_for(error.status)
    if status == 404:  # the program's own lookup failed: not an unknown model
        status = 500
    return ProtocolError(status, f"{model}: {error.status.name}: {error.message}")
