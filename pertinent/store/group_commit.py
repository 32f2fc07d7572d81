"""Group commit: concurrent writers share one transaction, so they share one fsync.

Callers hand in their work; one committer thread per process takes every piece queued so far, applies it
in one transaction and commits (one fsync), then completes the callers' futures. While a commit runs, new
work queues up, so under load each fsync carries many requests, and with no load a piece is committed
alone at once (the committer wakes when work arrives, never on a timer). Nobody is told their work is done
before it is durable. :meth:`GroupCommit.submit` waits for that; :meth:`GroupCommit.submit_later` returns
the future, so an event loop can await it without a thread of its own per request.

If a shared transaction fails, each piece of work is retried in a transaction of its own, so one bad
request fails alone and nothing it wrote is kept.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Work = TypeVar("Work")


@dataclass(eq=False)
class _Ticket(Generic[Work]):
    work: Work
    done: Future[None] = field(default_factory=Future)


class GroupCommit(Generic[Work]):
    """Runs ``commit(works)`` (one transaction for all of ``works``) for concurrent submissions."""

    def __init__(self, commit: Callable[[Sequence[Work]], None]) -> None:
        self._commit = commit
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: list[_Ticket[Work]] = []
        self._thread: threading.Thread | None = None
        self._closing = False
        self._pid = 0
        #: transactions committed and pieces of work they carried (for benchmarks and tests)
        self.commits = 0
        self.works = 0

    def submit(self, work: Work) -> None:
        """Apply ``work`` durably; returns once its transaction committed, raises what it raised."""
        self.submit_later(work).result()

    def submit_later(self, work: Work) -> Future[None]:
        """Queue ``work``; the future completes once its transaction committed (or with its error)."""
        ticket = _Ticket(work)
        with self._lock:
            self._queue.append(ticket)
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()  # (a forked child starts its own committer)
                self._closing = False
                self._thread = threading.Thread(target=self._loop, name="pertinent-group-commit", daemon=True)
                self._thread.start()
            else:
                self._wake.notify()
        return ticket.done

    def close(self) -> None:
        """End the committer thread once the queue is empty (a later submission starts a new one)."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(60)

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._wake.wait()
                if not self._queue:  # closing, and nothing left to commit
                    self._closing = False
                    self._thread = None
                    return
                batch, self._queue = self._queue, []
            self._run(batch)

    def _run(self, batch: list[_Ticket[Work]]) -> None:
        try:
            self._commit([t.work for t in batch])
            self.commits += 1
            self.works += len(batch)
            for ticket in batch:
                ticket.done.set_result(None)
            return
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].done.set_exception(exc)
                return
        for ticket in batch:  # the shared transaction failed: find the culprit, commit the rest
            try:
                self._commit([ticket.work])
                self.commits += 1
                self.works += 1
                ticket.done.set_result(None)
            except BaseException as exc:
                ticket.done.set_exception(exc)
