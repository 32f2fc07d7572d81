"""Riding out a database that is briefly away (a PostgreSQL restart or failover, a locked SQLite file).

Workers wrap their bookkeeping in :func:`retrying`: a passing database error is retried with exponential
backoff instead of killing the thread or failing the job; any other error is raised at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: first and largest pause between two tries, in seconds
FIRST_PAUSE, LONGEST_PAUSE = 0.2, 5.0


#: driver packages whose OperationalError / InterfaceError mean "unreachable or busy" (raised unwrapped by
#: reads that use a pooled driver connection directly)
DRIVERS = ("psycopg", "psycopg2", "sqlite3")


def is_transient(exc: BaseException) -> bool:
    """True for errors that say the database is unreachable or busy, not that the query is wrong."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and bool(exc.connection_invalidated):
        return True
    return any(
        cls.__name__ in ("OperationalError", "InterfaceError") and cls.__module__.split(".")[0] in DRIVERS
        for cls in type(exc).__mro__
    )


def retrying(
    action: Callable[[], T],
    what: str,
    give_up_after: float = 300.0,
    stop: threading.Event | None = None,
) -> T:
    """Run ``action``; on a passing database error wait (0.2 s, doubling up to 5 s) and try again, for at
    most ``give_up_after`` seconds (or until ``stop`` is set), then raise the last error."""
    deadline = time.monotonic() + give_up_after
    pause = FIRST_PAUSE
    while True:
        try:
            return action()
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + pause > deadline:
                raise
            log.warning("database unavailable while trying to %s (%s); retrying in %.1f s", what, exc, pause)
            if stop is not None and stop.wait(pause):
                raise
            if stop is None:
                time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
