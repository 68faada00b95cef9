"""Several server processes on one listening socket (``asyncvm serve --workers N``).

:func:`supervise` starts ``count`` processes (``spawn``: each imports and
loads afresh, nothing of the parent's state is shared) that all accept on
the one socket the parent bound, so the kernel spreads connections over
them. The parent only supervises: a worker that dies while the server runs
is replaced (and logged); SIGTERM or SIGINT is passed on to every worker as
SIGTERM (each shuts down gracefully), and the parent returns once all have
exited. It blocks the calling thread and must run on the main thread (it
installs signal handlers, restoring the old ones on return).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from typing import Callable

_log = logging.getLogger("asyncvm.serving")
_POLL_SECONDS = 0.5


def supervise(count: int, target: Callable[[socket.socket], None],
              listening: socket.socket) -> None:
    """Runs ``target(listening)`` in ``count`` worker processes until a
    termination signal, then waits for them to finish (see the module
    docstring). ``target`` must be a module-level function."""
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def on_signal(number, frame) -> None:
        stopping.set()

    previous = {number: signal.signal(number, on_signal)
                for number in (signal.SIGTERM, signal.SIGINT)}

    def start():
        worker = context.Process(target=target, args=(listening,), daemon=False)
        worker.start()
        return worker

    workers = [start() for _ in range(count)]
    try:
        while not stopping.wait(_POLL_SECONDS):
            for index, worker in enumerate(workers):
                if not worker.is_alive() and not stopping.is_set():
                    _log.warning("worker process %s exited with %s; starting another",
                                 worker.pid, worker.exitcode)
                    workers[index] = start()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: a graceful shutdown in the worker
        for worker in workers:
            worker.join()
        for number, handler in previous.items():
            signal.signal(number, handler)
