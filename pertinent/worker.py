"""The embedded job worker: threads that take queued jobs from the store and run them."""

from __future__ import annotations

import logging
import threading
import time

from pertinent.control.context import Context
from pertinent.control.jobs import JobRunner

log = logging.getLogger(__name__)


class Worker:
    """``settings.worker_threads`` threads polling the job queue until :meth:`stop`."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.runner = JobRunner(ctx)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        failed = self.runner.fail_orphans()
        if failed:
            log.warning("marked %d jobs left running by a previous process as failed", len(failed))
        for n in range(self.ctx.settings.worker_threads):
            thread = threading.Thread(target=self._loop, name=f"pertinent-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """Tell idle threads a job was queued (saves a poll interval)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def run_pending(self) -> int:
        """Run queued jobs in the calling thread until none is left, or only jobs waiting for a parent
        that no queued job will finish (for the CLI and tests); returns how many ran."""
        done = 0
        waiting: set[str] = set()
        while (job := self.ctx.store.claim()) is not None:
            if self._run(job.id, job.kind, job.arn):
                done += 1
                waiting.clear()
            elif job.arn in waiting:
                break
            else:
                waiting.add(job.arn)
        return done

    def _run(self, job_id: int, kind: str, arn: str) -> bool:
        """Run one claimed job; a job waiting for its parent goes back to the end of the queue (False)."""
        if self.runner.run(kind, arn):
            self.ctx.store.finish(job_id, "done")
            return True
        self.ctx.store.requeue(job_id)
        return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.runner.periodic(time.monotonic())
            try:
                job = self.ctx.store.claim()
            except Exception:  # the database may be briefly locked or restarting
                log.exception("could not claim a job")
                job = None
            if job is None:
                self._wake.wait(self.ctx.settings.worker_poll_seconds)
                self._wake.clear()
                continue
            if not self._run(job.id, job.kind, job.arn):
                # it waits for a parent that another job is creating: don't spin on it
                self._stop.wait(self.ctx.settings.worker_poll_seconds)
