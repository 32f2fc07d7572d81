"""Waking the job worker of another process on this machine the moment a job is queued.

``pertinent serve --workers N`` runs the job worker in the supervising process and the API in N child
processes, so the API cannot call :meth:`Worker.wake` (as it does in one process): without a nudge, a job
waits up to ``worker_poll_seconds`` (0.2 s) before a worker looks — most of the time of a small batch job.
The worker therefore listens on a Unix datagram socket in Linux's abstract namespace, named after the
metadata database (the queue), and an API process sends it one byte after each write operation; the
worker then claims at once instead of at its next poll.

Best effort, never an error: where the name cannot be bound (not Linux, or another worker process of
the same database already holds it) or a send finds nobody, workers poll every ``worker_poll_seconds``
as before. A datagram carries no data — it only makes a worker look at the queue earlier — so a stray one
costs one claim query.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def wake_address(db_url: str) -> str:
    """The abstract socket name of the workers of the database ``db_url`` (no file on disk)."""
    return "\0pertinent-worker-" + hashlib.sha256(db_url.encode()).hexdigest()[:24]


class WakeListener:
    """A daemon thread that calls ``on_wake`` for every datagram sent to :func:`wake_address`."""

    def __init__(self, db_url: str, on_wake: Callable[[], None]) -> None:
        self.address = wake_address(db_url)
        self.on_wake = on_wake
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Bind the name and start listening; False (and polling only) where that is not possible."""
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        except (OSError, AttributeError):  # no Unix sockets here
            return False
        try:
            sock.bind(self.address)
        except OSError as exc:  # another worker of this database listens already, or no abstract names
            log.debug("not listening for worker wake-ups: %s", exc)
            sock.close()
            return False
        sock.settimeout(1.0)  # stop() ends the wait at once; this is only a fallback
        self._socket = sock
        self._thread = threading.Thread(target=self._listen, name="pertinent-wake", daemon=True)
        self._thread.start()
        return True

    def _listen(self) -> None:
        sock = self._socket
        while sock is not None and self._socket is not None:
            try:
                sock.recv(16)
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            if self._socket is None:
                return
            self.on_wake()

    def stop(self) -> None:
        sock, self._socket = self._socket, None
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)  # ends the blocking recv
        except OSError:
            pass
        sock.close()
        if self._thread is not None:
            self._thread.join(5)


def wake_sender(db_url: str) -> Callable[[], None]:
    """A function that nudges the worker listening for ``db_url`` (does nothing when none listens)."""
    address = wake_address(db_url)
    sock: socket.socket | None = None
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
    except (OSError, AttributeError):
        sock = None

    def send() -> None:
        if sock is None:
            return
        try:
            sock.sendto(b"!", address)
        except OSError:  # nobody listens (a worker elsewhere, or none), or its queue is full: it polls
            pass

    return send
