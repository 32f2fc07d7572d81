"""What the server is doing, as Prometheus metrics and structured log lines.

One :class:`Telemetry` per app (it hangs off the control-plane Context), with its own ``CollectorRegistry``:
no module-level metric and no use of prometheus-client's global default registry, so two apps in one process
(tests, the demo) count separately. Other parts register their own collectors into ``telemetry.registry``
(``Counter(..., registry=telemetry.registry)``) and ``GET /metrics`` serves them all.

Log lines are logfmt (``key=value``, values with spaces quoted) so they can be read and grepped:
``operation=AmazonPersonalize.CreateSolution status=200 seconds=0.004`` on ``pertinent.requests``, and
``job=train state=start|progress|end …`` on ``pertinent.jobs``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

request_log = logging.getLogger("pertinent.requests")
job_log = logging.getLogger("pertinent.jobs")

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
#: request latencies: sub-millisecond recommendations to multi-second control-plane writes
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: job durations: an activation takes milliseconds, a training on a large catalog hours
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
#: how far a job's progress must move before another progress line is logged
PROGRESS_LOG_STEP = 0.1


def logfmt(**fields: Any) -> str:
    """``key=value`` pairs in the given order; values with spaces, quotes or ``=`` are quoted."""
    parts = []
    for key, value in fields.items():
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        if not text or any(c in text for c in ' "=\n'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class _LabelFilter(Collector):
    """``registry``'s metric families with only the samples whose label values ``visible`` accepts."""

    def __init__(self, registry: CollectorRegistry, visible: Callable[[str], bool]) -> None:
        self.registry = registry
        self.visible = visible

    def describe(self) -> list[Metric]:
        return []  # names are not needed: this view is registered alone

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            kept = Metric(family.name, family.documentation, family.type, family.unit)
            kept.samples = [s for s in family.samples if all(map(self.visible, s.labels.values()))]
            yield kept


class Telemetry:
    """The app's metrics (one registry) and its request and job log lines."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "pertinent_requests", "Requests answered, by operation and HTTP status.", ["operation", "status"],
            registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "pertinent_request_duration_seconds", "Time to answer a request, by operation.", ["operation"],
            buckets=REQUEST_BUCKETS, registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "pertinent_errors", "Error responses, by operation and error type (the AWS error code).",
            ["operation", "error"], registry=r,
        )  # fmt: skip
        self.events_ingested = Counter(
            "pertinent_events_ingested",
            "Records accepted by PutEvents, PutItems and PutUsers, by kind (interaction, item, user).",
            ["kind"], registry=r,
        )  # fmt: skip
        self.jobs = Counter(
            "pertinent_jobs", "Jobs finished, by kind and the state they ended in.", ["kind", "state"],
            registry=r,
        )  # fmt: skip
        self.jobs_running = Gauge(
            "pertinent_jobs_running", "Jobs running now in this process, by kind.", ["kind"], registry=r
        )
        self.job_seconds = Histogram(
            "pertinent_job_duration_seconds", "Time a job ran, by kind.", ["kind"], buckets=JOB_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.model_cache = Counter(
            "pertinent_model_cache_lookups",
            "Lookups of a trained model for serving: hit (already in memory) or miss (loaded from disk).",
            ["result"], registry=r,
        )  # fmt: skip
        self.models_loaded = Gauge(
            "pertinent_models_loaded", "Trained model versions held in memory for serving.", registry=r
        )
        self.served = Counter(
            "pertinent_model_version_requests",
            "Recommendation and ranking requests answered, by the model version that answered them.",
            ["model_version"], registry=r,
        )  # fmt: skip
        self._progress_logged: dict[str, float] = {}
        self._lock = threading.Lock()

    def exposition(self, visible: Callable[[str], bool] | None = None) -> bytes:
        """The Prometheus text format of every collector in the registry; with ``visible``, only the
        samples whose every label value it accepts."""
        if visible is None:
            return bytes(generate_latest(self.registry))
        view = CollectorRegistry(auto_describe=False)
        view.register(_LabelFilter(self.registry, visible))
        return bytes(generate_latest(view))

    # -- requests -----------------------------------------------------------------------------------
    def request(self, operation: str, status: int, seconds: float, error: str | None) -> None:
        self.requests.labels(operation, str(status)).inc()
        self.request_seconds.labels(operation).observe(seconds)
        if error is not None:
            self.errors.labels(operation, error).inc()
        level = logging.WARNING if status >= 500 else logging.INFO
        if request_log.isEnabledFor(level):
            request_log.log(
                level,
                logfmt(operation=operation, status=status, seconds=round(seconds, 4), error=error or "-"),
            )

    # -- jobs ---------------------------------------------------------------------------------------
    @contextmanager
    def job(self, kind: str, arn: str, final_state: Any) -> Iterator[None]:
        """Count, time and log one job; ``final_state()`` names the state it ended in."""
        started = time.perf_counter()
        self.jobs_running.labels(kind).inc()
        job_log.info(logfmt(job=kind, state="start", arn=arn))
        state = "error"
        try:
            yield
            state = str(final_state() or "gone")
        finally:
            seconds = time.perf_counter() - started
            self.jobs_running.labels(kind).dec()
            self.jobs.labels(kind, state).inc()
            self.job_seconds.labels(kind).observe(seconds)
            with self._lock:
                self._progress_logged.pop(arn, None)
            job_log.info(logfmt(job=kind, state="end", arn=arn, result=state, seconds=round(seconds, 3)))

    def job_progress(self, kind: str, arn: str, fraction: float | None, message: str) -> None:
        """Log a job's progress when it moved by PROGRESS_LOG_STEP (``fraction`` None: rows, each call)."""
        with self._lock:
            if fraction is not None:
                last = self._progress_logged.get(arn, -1.0)
                if fraction - last < PROGRESS_LOG_STEP and fraction < 1.0:
                    return
                self._progress_logged[arn] = fraction
        fields: dict[str, Any] = {"job": kind, "state": "progress", "arn": arn}
        if fraction is not None:
            fields["fraction"] = round(fraction, 3)
        job_log.info(logfmt(**fields, message=message))
