"""What the worker does with each kind of queued job. Every path ends in ACTIVE or CREATE FAILED."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pertinent.caller import Caller, acting_as
from pertinent.control import auto_training, metric_attributions, recommenders
from pertinent.control.common import Record, set_status
from pertinent.control.context import BULK_FILE, Context
from pertinent.control.training_process import run_training_process
from pertinent.datasets.avro_schema import normalize_dataset_type, parse_schema
from pertinent.datasets.locations import open_sources, write_output
from pertinent.errors import ImportFailure, TrainingFailure
from pertinent.resources.status import (
    ACTIVE,
    CREATE_FAILED,
    CREATE_IN_PROGRESS,
    CREATE_PENDING,
    CREATE_STOPPED,
    CREATE_STOPPING,
)
from pertinent.store.retry import is_transient, retrying

log = logging.getLogger(__name__)

#: dataset type → the event-log kind its Put* operation writes
EVENT_KINDS = {
    "INTERACTIONS": "interaction",
    "ITEMS": "item",
    "USERS": "user",
    "ACTIONS": "action",
    "ACTION_INTERACTIONS": "action_interaction",
}
#: jobs that train on a dataset group's data, so wait for its imports in flight
TRAINING_JOBS = frozenset({"train", recommenders.TRAIN_JOB, recommenders.RETRAIN_JOB})


class JobRunner:
    """Runs one queued job at a time per call; holds per-dataset locks so imports never interleave."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._dataset_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        #: whether this process lost the lease of ``arn``'s job to another worker (set by the Worker)
        self.lease_lost: Callable[[str], bool] = lambda arn: False
        self.handlers: dict[str, Callable[[str], None]] = {
            "activate": self.activate,
            "campaign": self.activate_campaign,
            "import": self.run_import,
            "export": self.run_export,
            "train": self.run_training,
            recommenders.TRAIN_JOB: lambda arn: recommenders.run_training(self, arn, retrain=False),
            recommenders.RETRAIN_JOB: lambda arn: recommenders.run_training(self, arn, retrain=True),
            recommenders.STATE_JOB: lambda arn: recommenders.run_state_change(self.ctx, arn),
        }
        #: checks run every ``PERIODIC_SECONDS`` by the worker (automatic retraining, reports)
        self.periodic_tasks: list[Callable[[], object]] = [
            lambda: recommenders.queue_due_retraining(ctx),
            lambda: metric_attributions.report_due(ctx),
            lambda: auto_training.queue_due_auto_training(ctx),
        ]
        self._periodic_lock = threading.Lock()
        self._periodic_last = 0.0
        self._recommender: Any = None  # built on the first batch job; keeps loaded models between jobs
        self._search: Any = None  # built on the first Items import with object storage
        self.handlers.update(self._batch_handlers())

    def periodic(self, now: float, every: float = 1.0) -> None:
        """Run the periodic checks if ``every`` seconds passed since the last run (one thread at a time)."""
        if now - self._periodic_last < every or not self._periodic_lock.acquire(blocking=False):
            return
        try:
            self._periodic_last = now
            for task in self.periodic_tasks:
                try:
                    task()
                except Exception:  # a failing check must not stop the worker
                    log.exception("periodic task failed")
        finally:
            self._periodic_lock.release()

    def run(self, kind: str, arn: str) -> bool:
        """Run one job; False when it must wait for a parent still being created (see :meth:`waiting_for`)
        and run again later. An unexpected error marks the resource CREATE FAILED instead of escaping.

        The job runs as the account that owns ``arn`` (see pertinent.caller): ARNs it creates are that
        account's and it sees only that account's records, exactly as the request that queued it.

        A passing database error (:func:`pertinent.store.retry.is_transient`) is raised instead, so the
        worker gives the job back to the queue rather than failing it. A handler may be called again for a
        job whose earlier worker died (the resource is then CREATE IN_PROGRESS): handlers are idempotent.
        """
        with acting_as(Caller.owner_of(arn)):
            if self.waiting_for(kind, arn) is not None:
                return False
            with self.ctx.telemetry.job(kind, arn, lambda: (self.ctx.store.get(arn) or {}).get("status")):
                try:
                    self.handlers[kind](arn)
                except Exception as exc:  # a bug must not leave a resource IN_PROGRESS forever
                    if is_transient(exc):
                        raise
                    log.exception("job %s for %s failed", kind, arn)
                    failed = (
                        "FAILED" if kind == "data-deletion" else CREATE_FAILED
                    )  # its lifecycle's spelling
                    reason = f"Internal error: {type(exc).__name__}: {exc}"
                    if not self.lease_lost(arn):
                        self._retrying(lambda: set_status(self.ctx, arn, failed, reason), "record a failure")
        return True

    def _retrying(self, action: Callable[[], Any], what: str) -> Any:
        return retrying(action, what, self.ctx.settings.db_retry_seconds)

    # -- batch jobs and data deletion (pertinent.control.batch_jobs, .data_deletion) -------------------
    def recommender(self) -> Any:
        from pertinent.serving.recommend import Recommender

        with self._locks_guard:
            if self._recommender is None:
                self._recommender = Recommender(self.ctx)
            return self._recommender

    def search_service(self) -> Any:
        from pertinent.search.service import SearchService

        recommender = self.recommender()
        with self._locks_guard:
            if self._search is None:
                self._search = SearchService(self.ctx, recommender)
            return self._search

    def store_search_snapshot(self, dataset_group_arn: str) -> None:
        """With object storage, after an Items import: build the group's search index and store its
        snapshot, so api replicas download it instead of building it on their first search. Best effort:
        a replica that finds no snapshot builds the index itself."""
        group = self.ctx.store.get(dataset_group_arn)
        if not self.ctx.settings.storage or group is None:
            return
        try:
            self.search_service().index(group["name"])
        except Exception:
            log.exception("could not build the search index snapshot of %s", dataset_group_arn)

    def _batch_handlers(self) -> dict[str, Callable[[str], None]]:
        from pertinent.control import batch_jobs, data_deletion

        return {
            "batch-inference": lambda arn: batch_jobs.run_batch_inference_job(
                self.ctx, arn, self.recommender()
            ),
            "batch-segment": lambda arn: batch_jobs.run_batch_segment_job(self.ctx, arn, self.recommender()),
            data_deletion.JOB: lambda arn: data_deletion.run_data_deletion_job(self, arn),
        }

    def _dataset_lock(self, dataset_arn: str) -> threading.Lock:
        with self._locks_guard:
            return self._dataset_locks.setdefault(dataset_arn, threading.Lock())

    # -- light resources ----------------------------------------------------------------------------
    def activate(self, arn: str) -> None:
        record = self.ctx.store.get(arn)
        if record is None or record.get("status") not in (CREATE_PENDING, CREATE_IN_PROGRESS):
            return  # deleted meanwhile
        set_status(self.ctx, arn, CREATE_IN_PROGRESS)
        set_status(self.ctx, arn, ACTIVE)

    def activate_campaign(self, arn: str) -> None:
        """A campaign created on a version still training: ACTIVE once the version is, failed if it fails
        (the worker runs this job only when the version is no longer in flight, see :meth:`waiting_for`)."""
        campaign = self.ctx.store.get(arn)
        if campaign is None or campaign.get("status") != CREATE_PENDING:
            return
        version = self.ctx.store.get(campaign["resolved_solution_version_arn"])
        status = None if version is None else version.get("status")
        if status != ACTIVE:
            reason = (version or {}).get("failure_reason") or f"the solution version is {status or 'deleted'}"
            set_status(self.ctx, arn, CREATE_FAILED, f"Solution version not usable: {reason}")
            return
        set_status(self.ctx, arn, ACTIVE)

    # -- waiting for parents ------------------------------------------------------------------------
    def waiting_for(self, kind: str, arn: str) -> str | None:
        """The ARN of the parent a queued job must wait for, or None when it can run now.

        Trainings (solution versions, recommenders) wait for the group's imports still pending or running;
        a campaign created on a version still training waits for the version. The worker puts a waiting job
        back at the end of the queue, so the jobs behind it (the parent's among them) go first.
        """
        if kind == "campaign":
            campaign = self.ctx.store.get(arn) or {}
            version_arn = campaign.get("resolved_solution_version_arn")
            version = self.ctx.store.get(version_arn) if version_arn else None
            in_flight = version is not None and version.get("status") in (CREATE_PENDING, CREATE_IN_PROGRESS)
            return str(version_arn) if in_flight else None
        if kind in TRAINING_JOBS:
            record = self.ctx.store.get(arn) or {}
            group = record.get("dataset_group_arn")
            return self.import_in_flight(str(group)) if group else None
        return None

    def import_in_flight(self, dataset_group_arn: str) -> str | None:
        """An import job of the group still pending or running, if any."""
        for dataset in self.ctx.store.list("dataset", dataset_group_arn):
            for job in self.ctx.store.list("dataset-import-job", dataset["dataset_arn"]):
                if job.get("status") in (CREATE_PENDING, CREATE_IN_PROGRESS):
                    return str(job["dataset_import_job_arn"])
        return None

    # -- imports and exports ------------------------------------------------------------------------
    def run_import(self, arn: str) -> None:
        from pertinent.datasets.csv_import import import_csv

        job = self.ctx.store.get(arn)
        if job is None or job.get("status") not in (CREATE_PENDING, CREATE_IN_PROGRESS):
            return  # deleted, or already ended under a worker that died before it said so
        dataset = self.ctx.store.get(job["dataset_arn"])
        if dataset is None:
            set_status(self.ctx, arn, CREATE_FAILED, f"Dataset {job['dataset_arn']} no longer exists.")
            return
        set_status(self.ctx, arn, CREATE_IN_PROGRESS)
        schema = parse_schema(self.ctx.store.get(dataset["schema_arn"])["schema"])  # type: ignore[index]
        key = f"{self.ctx.dataset_key(dataset['dataset_arn'])}/{BULK_FILE}"
        mode = job.get("import_mode", "FULL")
        old_version = str(dataset.get("bulk_version") or "")
        version = uuid.uuid4().hex[:12]  # each import writes a new version; readers fetch it once
        dest = self.ctx.storage.path(key, version)
        dest.parent.mkdir(parents=True, exist_ok=True)

        def progress(rows: int) -> None:
            self.ctx.store.update(arn, {"rows_read": rows})
            self.ctx.telemetry.job_progress("import", arn, None, f"{rows} rows read")

        try:
            with self._dataset_lock(dataset["dataset_arn"]):
                sources = open_sources(
                    job["data_source"]["data_location"],
                    self.ctx.settings.s3_endpoint_url,
                    policy=self.ctx.location_policy(reading=True),
                )
                current = self.ctx.bulk_file(dataset)
                if mode == "INCREMENTAL" and current.exists() and current != dest:
                    shutil.copyfile(current, dest)  # the increment appends to a copy of the current version
                result = import_csv(
                    sources,
                    schema,
                    normalize_dataset_type(dataset["dataset_type"]),
                    dest,
                    mode=mode,
                    progress=progress,
                )
                self.ctx.storage.publish(key, version)
        except ImportFailure as exc:
            if dest != self.ctx.bulk_file(dataset):
                dest.unlink(missing_ok=True)
            set_status(self.ctx, arn, CREATE_FAILED, str(exc))
            return
        self.ctx.store.update(
            dataset["dataset_arn"],
            {
                "rows_total": result.rows_total,
                "last_updated_date_time": self.ctx.now(),
                "bulk_version": version,
            },
        )
        self.ctx.storage.prune(key, keep={version, old_version})  # the previous one serves readers mid-switch
        if normalize_dataset_type(dataset["dataset_type"]) == "ITEMS":
            self.store_search_snapshot(dataset["dataset_group_arn"])  # stored before the import is ACTIVE
        set_status(self.ctx, arn, ACTIVE, rows_read=result.rows_imported)
        if job.get("publish_attribution_metrics_to_s3"):
            metric_attributions.publish_import(
                self.ctx, job, dataset, dest, result.rows_total - result.rows_imported
            )

    def run_export(self, arn: str) -> None:
        """Write the dataset's data as one CSV: BULK (imported), PUT (streamed by Put* calls) or ALL."""
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        job = self.ctx.store.get(arn)
        if job is None or job.get("status") not in (CREATE_PENDING, CREATE_IN_PROGRESS):
            return  # deleted, or already ended under a worker that died before it said so
        dataset = self.ctx.store.get(job["dataset_arn"])
        if dataset is None:
            set_status(self.ctx, arn, CREATE_FAILED, f"Dataset {job['dataset_arn']} no longer exists.")
            return
        set_status(self.ctx, arn, CREATE_IN_PROGRESS)
        mode = job.get("ingestion_mode", "PUT")
        schema_record = self.ctx.store.get(dataset["schema_arn"])
        assert schema_record is not None
        arrow_schema = parse_schema(schema_record["schema"]).arrow_schema()
        tables = []
        bulk = self.ctx.bulk_file(dataset)
        if mode in ("BULK", "ALL") and bulk.exists():
            tables.append(pq.read_table(bulk).cast(arrow_schema))
        if mode in ("PUT", "ALL"):
            kind = EVENT_KINDS.get(normalize_dataset_type(dataset["dataset_type"]))
            logged = [
                _logged_row(e)
                for e in self.ctx.store.events_of_kind(dataset["dataset_group_arn"], kind or "")
                if e["body"]
            ]
            if logged:
                tables.append(pa.Table.from_pylist(logged, schema=arrow_schema))
        if not tables:
            what = {"BULK": "bulk-imported", "PUT": "streamed (PutEvents/PutItems/PutUsers)", "ALL": "any"}[
                mode
            ]
            set_status(self.ctx, arn, CREATE_FAILED, f"The dataset has no {what} data to export.")
            return
        sink = pa.BufferOutputStream()
        pacsv.write_csv(pa.concat_tables(tables), sink)
        try:
            where = write_output(
                job["job_output"]["s3_data_destination"]["path"],
                f"{job['job_name']}.csv",
                sink.getvalue().to_pybytes(),
                self.ctx.settings.s3_endpoint_url,
                policy=self.ctx.location_policy(),
            )
        except ImportFailure as exc:
            set_status(self.ctx, arn, CREATE_FAILED, str(exc))
            return
        set_status(self.ctx, arn, ACTIVE, output_location=where)

    # -- training -----------------------------------------------------------------------------------
    def training_inputs(self, dataset_group_arn: str, work_dir: Path) -> tuple[dict[str, Path | None], int]:
        """Each dataset type's training data (bulk Parquet plus the event log) and the event watermark.

        Interactions and items recorded by PutEvents/PutItems/PutUsers up to the watermark are merged into
        the bulk data (written under ``work_dir``), so a retrained model learns from them too; serving adds
        only events after the watermark to a user's history.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        watermark = self.ctx.store.last_event_seq(dataset_group_arn)
        inputs: dict[str, Path | None] = dict.fromkeys(EVENT_KINDS)
        for dataset in self.ctx.store.list("dataset", dataset_group_arn):
            kind = normalize_dataset_type(dataset["dataset_type"])
            if kind not in inputs:
                continue
            bulk = self.ctx.bulk_file(dataset)
            logged = [
                _logged_row(e)
                for e in self.ctx.store.events_of_kind(dataset_group_arn, EVENT_KINDS[kind])
                if e["seq"] <= watermark and e["body"]
            ]
            if not logged:
                inputs[kind] = bulk if bulk.exists() else None
                continue
            schema_record = self.ctx.store.get(dataset["schema_arn"])
            assert schema_record is not None
            arrow_schema = parse_schema(schema_record["schema"]).arrow_schema()
            tables = [pq.read_table(bulk).cast(arrow_schema)] if bulk.exists() else []
            tables.append(pa.Table.from_pylist(logged, schema=arrow_schema))
            merged = work_dir / f"{kind.lower()}.parquet"
            work_dir.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(tables), merged)
            inputs[kind] = merged
        return inputs, watermark

    def run_training(self, arn: str) -> None:
        now = self.ctx.now()
        started_here: list[bool] = []

        def start(record: Record) -> Record:
            """CREATE PENDING → IN_PROGRESS in one transaction, so a stop that lands meanwhile is kept.
            CREATE IN_PROGRESS is a retry after the worker holding the job died; CREATE STOPPING then
            means a stop arrived meanwhile, which nobody else will finish."""
            status = record.get("status")
            if status == CREATE_STOPPING:
                return {**record, "status": CREATE_STOPPED, "last_updated_date_time": now}
            if status not in (CREATE_PENDING, CREATE_IN_PROGRESS):
                return record
            started_here.append(True)
            return {
                **record,
                "status": CREATE_IN_PROGRESS,
                "last_updated_date_time": now,
                "training_progress": {"fraction": 0.0, "message": "queued"},
                "training_started": now,  # lets a watcher show how long it has run (the demo does)
            }

        version = self.ctx.store.update(arn, start)
        if version is None or not started_here:
            return  # stopped or deleted before it started
        inputs, watermark = self.training_inputs(
            version["dataset_group_arn"], self.ctx.artifact_dir(arn) / "inputs"
        )

        started = self.ctx.now()

        def on_progress(fraction: float, message: str) -> bool:
            """Record progress (a negative fraction only checks); False when the version was asked to stop
            or another worker took the job over. Progress is best effort: while the database is away the
            training goes on."""
            if self.lease_lost(arn):
                return False
            try:
                if fraction < 0:
                    record = self.ctx.store.get(arn)
                else:
                    progress = {"fraction": round(fraction, 4), "message": message}
                    hours = round((self.ctx.now() - started) / 3600.0, 6)  # grows while training, as AWS's
                    record = self.ctx.store.update(
                        arn, {"training_progress": progress, "training_hours": hours}
                    )
                    self.ctx.telemetry.job_progress("train", arn, fraction, message)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("could not record training progress of %s: %s", arn, exc)
                return True
            return record is not None and record["status"] != CREATE_STOPPING

        try:
            if inputs["INTERACTIONS"] is None:
                raise TrainingFailure(
                    "The dataset group has no interactions data. Import an Interactions dataset first."
                )
            result = run_training_process(
                version, inputs, self.ctx.artifact_dir(arn), self.ctx.settings, on_progress
            )
        except TrainingFailure as exc:
            if self.lease_lost(arn):
                return  # another worker runs it now
            reason = str(exc)
            current = self._retrying(lambda: self.ctx.store.get(arn) or {}, "read a training's state")
            stopped = current.get("status") == CREATE_STOPPING
            self._retrying(
                lambda: set_status(
                    self.ctx, arn, CREATE_STOPPED if stopped else CREATE_FAILED, None if stopped else reason
                ),
                "record a training's end",
            )
            return
        # every replica downloads the artifact from the storage (a no-op with the local data folder)
        self._retrying(
            lambda: self.ctx.storage.publish_tree(self.ctx.artifact_key(arn), skip=("inputs",)),
            "publish a trained artifact",
        )
        hours = (self.ctx.now() - started) / 3600.0
        changes: Record = {
            "metrics": result["metrics"],
            "training_hours": round(hours, 6),
            "event_watermark": watermark,
            "training_progress": {"fraction": 1.0, "message": "done"},
            "algorithm": result.get("algorithm"),
        }
        if result.get("tuned_params"):
            changes["tuned_hpo_params"] = {"algorithm_hyper_parameters": result["tuned_params"]}
        if self.lease_lost(arn):
            return
        self._retrying(lambda: set_status(self.ctx, arn, ACTIVE, **changes), "record a trained version")
        auto_training.follow_latest(self.ctx, {**version, "solution_version_arn": arn})


def _logged_row(event: dict[str, Any]) -> dict[str, Any]:
    """An event-log row as a dataset row; an anonymous interaction counts under its session id (as
    Personalize lets a sessionId stand for the user until one is known), a merged one under its user."""
    row: dict[str, Any] = json.loads(event["body"])
    if event["kind"] in ("interaction", "action_interaction"):
        row["USER_ID"] = event["user_id"] or event["session_id"]
    return row
