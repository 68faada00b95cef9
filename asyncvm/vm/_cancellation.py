"""The cancellation of one invocation, as the work it started sees it.

Every :meth:`Context.invoke` makes a :class:`CancellationToken` and makes it
current (a context variable, so each task sees its own invocation's) while
the invocation runs. Whoever starts work on the invocation's behalf that may
outlive a suspension point — a HAL queue operation, whose dispatches run on
worker threads or in later slices of the event loop — takes
:func:`current_cancellation` with it. When the invocation is cancelled or
passes its deadline, :meth:`Context.invoke` cancels the token, and that work
stops at its next check with the token's error: a VMVX kernel at its next
quantum check, a native dispatch after the workgroup it is running.

An invocation that fails or returns normally does not cancel its token:
work it submitted and left running (an asynchronous calling convention)
finishes, as in IREE.
"""

from __future__ import annotations

import contextvars
import ctypes

from ._status import StatusCode, VMError


class CancellationToken:
    """A one-way switch from running to cancelled, with the error that says why.

    ``cancel`` may be called from any thread; the first call wins. Readers
    poll :attr:`error` (Python) or the 32-bit flag at :attr:`flag_address`
    (native code, which may read it without the GIL: 0 running, 1
    cancelled). Does not suspend anything itself.
    """

    __slots__ = ("error", "_flag")

    def __init__(self) -> None:
        self.error: VMError | None = None
        self._flag: ctypes.c_int32 | None = None  # made when native code first asks

    def cancel(self, error: VMError) -> None:
        """Cancels with ``error`` (its status is DEADLINE_EXCEEDED or CANCELLED
        by convention) unless already cancelled."""
        if self.error is not None:
            return
        self.error = error
        flag = self._flag
        if flag is not None:
            flag.value = 1

    @property
    def cancelled(self) -> bool:
        return self.error is not None

    def check(self) -> None:
        """Raises a copy of the cancellation error if cancelled (a copy: the
        same error may be raised on several threads at once)."""
        error = self.error
        if error is not None:
            raise VMError(error.status, error.message)

    @property
    def flag_address(self) -> int:
        """The address of a 32-bit int that turns 1 once cancelled; stays
        valid as long as the token lives."""
        flag = self._flag
        if flag is None:
            flag = ctypes.c_int32(0)
            self._flag = flag
            # ``cancel`` may have run on another thread between the read of
            # ``_flag`` above and its store: read the error again after it.
            if self.error is not None:
                flag.value = 1
        return ctypes.addressof(flag)


_current: contextvars.ContextVar[CancellationToken | None] = contextvars.ContextVar(
    "asyncvm_cancellation", default=None)

current_cancellation = _current.get
"""``current_cancellation()``: the token of the invocation running in this
task, or None outside any invocation (synchronous use of a device)."""

set_current_cancellation = _current.set
reset_current_cancellation = _current.reset


def cancellation_error(function_name: str, deadline: bool) -> VMError:
    """The error a token is cancelled with when ``function_name``'s
    invocation passed its deadline (``deadline``) or was cancelled."""
    if deadline:
        return VMError(StatusCode.DEADLINE_EXCEEDED,
                       f"the invocation of {function_name} passed its deadline")
    return VMError(StatusCode.CANCELLED, f"the invocation of {function_name} was cancelled")
