"""Group commit: concurrent writers share one transaction, so they share one fsync.

Each caller hands in its work and waits. If no commit is in progress the caller becomes the *leader*: it
takes every piece of work queued so far, applies it in one transaction and commits (one fsync), then wakes
the callers whose work it carried and hands leadership to the next waiting caller, if any. While a commit
runs, new work queues up, so under load each fsync carries many requests, and with no load a caller
commits alone at once, without waiting for a timer. Nobody returns before their work is durable.

If a shared transaction fails, each piece of work is retried in a transaction of its own, so one bad
request fails alone and nothing it wrote is kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Work = TypeVar("Work")


@dataclass(eq=False)
class _Ticket(Generic[Work]):
    work: Work
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    error: BaseException | None = None


class GroupCommit(Generic[Work]):
    """Runs ``commit(works)`` (one transaction for all of ``works``) for concurrent :meth:`submit` calls."""

    def __init__(self, commit: Callable[[Sequence[Work]], None]) -> None:
        self._commit = commit
        self._lock = threading.Lock()
        self._queue: list[_Ticket[Work]] = []
        self._leading = False
        #: transactions committed and pieces of work they carried (for benchmarks and tests)
        self.commits = 0
        self.works = 0

    def submit(self, work: Work) -> None:
        """Apply ``work`` durably; returns once its transaction committed, raises what it raised."""
        ticket = _Ticket(work)
        with self._lock:
            self._queue.append(ticket)
            if not self._leading:
                self._leading = ticket.lead = True
        while not ticket.lead:
            ticket.done.wait()
            if ticket.lead:  # handed leadership: our work is still queued
                break
            if ticket.error is not None:
                raise ticket.error
            return
        self._lead()
        if ticket.error is not None:
            raise ticket.error

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        self._run(batch)
        with self._lock:
            if self._queue:
                successor = self._queue[0]
                successor.lead = True
                successor.done.set()
            else:
                self._leading = False
        for ticket in batch:
            if not ticket.lead:
                ticket.done.set()

    def _run(self, batch: list[_Ticket[Work]]) -> None:
        try:
            self._commit([t.work for t in batch])
            self.commits += 1
            self.works += len(batch)
            return
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
        for ticket in batch:  # the shared transaction failed: find the culprit, commit the rest
            try:
                self._commit([ticket.work])
                self.commits += 1
                self.works += 1
            except BaseException as exc:
                ticket.error = exc
