"""The job worker: threads that take queued jobs from the store and run them under a renewed lease.

Every job a thread claims carries this worker's name and a lease of ``settings.job_lease_seconds``; one
heartbeat thread renews the leases of all running jobs every third of that. No worker touches a job whose
lease is live; a job whose worker died is claimed again once its lease expired (``attempt`` counts the
claims) and ends CREATE FAILED after ``settings.job_max_attempts`` claims. Database errors never kill a
thread: claims back off and retry, and a job interrupted by one goes back to the queue without counting as
an attempt (up to :data:`FREE_RELEASES` times in a row).

A database outage longer than the lease stops every renewal, so after it a lease looks expired although its
worker is alive. A worker therefore takes over expired leases only once it has reached the database
without a failure for a whole lease period (a worker that just started waits as long): by then every live
holder has renewed its lease (it beats every third of the period), and only a dead holder's job is free.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from pertinent.control.common import set_status
from pertinent.control.context import Context
from pertinent.control.jobs import JobRunner
from pertinent.resources.status import CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, CREATE_STOPPING
from pertinent.store import Job
from pertinent.store.retry import LONGEST_PAUSE, is_transient, retrying
from pertinent.wake import WakeListener

log = logging.getLogger(__name__)

#: database interruptions of one job in a row that give it back to the queue without counting an attempt
FREE_RELEASES = 3


@dataclass
class Lease:
    """A job this process holds; ``lost`` is set when the heartbeat finds another worker took it."""

    job: Job
    lost: threading.Event = field(default_factory=threading.Event)


class Worker:
    """``settings.worker_threads`` threads polling the job queue until :meth:`stop`, plus a heartbeat."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.runner = JobRunner(ctx)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._leases: dict[int, Lease] = {}
        self._leases_guard = threading.Lock()
        self.runner.lease_lost = self._lease_lost
        #: since when (time.monotonic) this process has reached the database without a failure
        self._db_ok_since = time.monotonic()
        self._interruptions: dict[str, int] = {}  # job ARN → database interruptions in a row
        #: API processes nudge this worker when they queue a job (pertinent.wake); polling stays the fallback
        self._listener = WakeListener(ctx.settings.db_url, self.wake)

    # -- life cycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._db_ok_since = time.monotonic()
        for n in range(self.ctx.settings.worker_threads):
            self._spawn(self._loop, f"pertinent-worker-{n}")
        if self.ctx.settings.worker_threads:
            self.start_heartbeat()
            self._listener.start()

    def start_heartbeat(self) -> None:
        """Start only the lease heartbeat (for a caller that runs claimed jobs itself, like `pertinent train`)."""
        self._stop.clear()
        self._spawn(self._heartbeat, "pertinent-heartbeat")

    def _spawn(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def alive(self) -> bool:
        """True when every worker thread (and the heartbeat) is running (for ``/healthz/ready``)."""
        return all(t.is_alive() for t in self._threads) and len(self._threads) == (
            self.ctx.settings.worker_threads + (1 if self.ctx.settings.worker_threads else 0)
        )

    def wake(self) -> None:
        """Tell idle threads a job was queued (saves a poll interval)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._listener.stop()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    # -- running jobs -------------------------------------------------------------------------------
    def run_pending(self) -> int:
        """Run queued jobs in the calling thread until none is left, or only jobs waiting for a parent
        that no queued job will finish (for the CLI and tests); returns how many ran."""
        done = 0
        waiting: set[str] = set()
        while (job := self.ctx.store.claim(lease_seconds=self.ctx.settings.job_lease_seconds)) is not None:
            if self.run_claimed(job):
                done += 1
                waiting.clear()
            elif job.arn in waiting:
                break
            else:
                waiting.add(job.arn)
        return done

    def run_claimed(self, job: Job) -> bool:
        """Run a job this worker claimed, keeping its lease renewed; never raises. False when the job waits
        for a parent still being created: it went back to the end of the queue."""
        lease = Lease(job)
        with self._leases_guard:
            self._leases[job.id] = lease
        try:
            return self._run(job, lease)
        except Exception:  # the thread must survive anything, the database going away included
            log.exception("job %s for %s could not be finished", job.kind, job.arn)
            return True
        finally:
            with self._leases_guard:
                self._leases.pop(job.id, None)

    def _run(self, job: Job, lease: Lease) -> bool:
        settings = self.ctx.settings
        if job.attempt > settings.job_max_attempts:
            self._give_up(job)
            return True
        if job.attempt > 1:
            log.warning(
                "retrying job %s for %s (attempt %d; its lease held by %s expired)",
                job.kind,
                job.arn,
                job.attempt,
                job.previous_worker,
            )
        try:
            ran = self.runner.run(job.kind, job.arn)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # the database went away mid-job: give the job back so a worker retries it once it returns
            self._database_failed()
            interruptions = self._interruptions[job.arn] = self._interruptions.get(job.arn, 0) + 1
            log.warning(
                "job %s for %s interrupted by a database error (%s); it will be retried",
                job.kind,
                job.arn,
                exc,
            )
            retrying(
                lambda: self.ctx.store.release(job.id, count_attempt=interruptions > FREE_RELEASES),
                "release a job",
                settings.db_retry_seconds,
                self._stop,
            )
            return True
        self._interruptions.pop(job.arn, None)
        if lease.lost.is_set():
            return True  # another worker holds it now; its outcome counts
        if not ran:  # it waits for a parent another job is creating: back to the end of the queue
            retrying(
                lambda: self.ctx.store.requeue(job.id), "requeue a job", settings.db_retry_seconds, self._stop
            )
            return False
        retrying(
            lambda: self.ctx.store.finish(job.id, "done"),
            "finish a job",
            settings.db_retry_seconds,
            self._stop,
        )
        return True

    def _give_up(self, job: Job) -> None:
        """A job claimed more than the maximum number of times (its workers kept dying) ends failed."""
        settings = self.ctx.settings
        record = self.ctx.store.get(job.arn)
        status = (record or {}).get("status")
        if status in (CREATE_PENDING, CREATE_IN_PROGRESS, CREATE_STOPPING, "PENDING", "IN_PROGRESS"):
            set_status(
                self.ctx,
                job.arn,
                "FAILED"
                if status in ("PENDING", "IN_PROGRESS")
                else CREATE_FAILED,  # data deletion's spelling
                f"The worker running this job stopped {job.attempt - 1} times (its lease expired each "
                f"time; the last holder was {job.previous_worker}); gave up after "
                f"{settings.job_max_attempts} attempts.",
            )
        self.ctx.store.finish(job.id, "failed")

    def _lease_lost(self, arn: str) -> bool:
        with self._leases_guard:
            return any(lease.lost.is_set() for lease in self._leases.values() if lease.job.arn == arn)

    # -- threads ------------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        lease_seconds = self.ctx.settings.job_lease_seconds
        while not self._stop.wait(lease_seconds / 3.0):
            with self._leases_guard:
                held = dict(self._leases)
            if not held:
                continue
            try:
                kept = self.ctx.store.renew(list(held), lease_seconds)
            except Exception as exc:  # the next beat tries again; the lease outlasts a short outage
                self._database_failed()
                log.warning("could not renew job leases: %s", exc)
                continue
            for job_id, lease in held.items():
                if job_id not in kept and not lease.lost.is_set():
                    log.error(
                        "lost the lease of job %s for %s to another worker", lease.job.kind, lease.job.arn
                    )
                    lease.lost.set()

    def _database_failed(self) -> None:
        self._db_ok_since = time.monotonic()

    def may_take_expired(self) -> bool:
        """Whether this worker has reached the database for a whole lease period without a failure, so an
        expired lease it sees is a dead worker's, not one whose renewals an outage stopped."""
        return time.monotonic() - self._db_ok_since >= self.ctx.settings.job_lease_seconds

    def _loop(self) -> None:
        pause = self.ctx.settings.worker_poll_seconds
        lease_seconds = self.ctx.settings.job_lease_seconds
        while not self._stop.is_set():
            self.runner.periodic(time.monotonic())
            try:
                job = self.ctx.store.claim(lease_seconds=lease_seconds, take_expired=self.may_take_expired())
                pause = self.ctx.settings.worker_poll_seconds
            except Exception as exc:  # the database may be briefly locked or restarting: back off
                self._database_failed()
                log.warning("could not claim a job (%s); retrying in %.1f s", exc, pause)
                job = None
                self._stop.wait(pause)
                pause = min(max(pause, 0.2) * 2, LONGEST_PAUSE)
                continue
            if job is None:
                self._wake.wait(self.ctx.settings.worker_poll_seconds)
                self._wake.clear()
                continue
            if not self.run_claimed(job):
                # it waits for a parent that another job is creating: don't spin on it
                self._stop.wait(self.ctx.settings.worker_poll_seconds)
