"""A restart keeps every resource and its data; a dead worker's job is retried after its lease, never stuck."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from sqlalchemy import select

from pertinent.config import load_settings
from pertinent.store.schema import jobs
from tests.conftest import (
    INTERACTIONS_SCHEMA,
    free_port,
    start_server,
    wait_for_status,
    write_interactions_csv,
)


def _client(url: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "personalize",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"max_attempts": 1}),
    )


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pertinent",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "PERTINENT_WORKER_POLL_SECONDS": "0.05"},
    )
    # poll until it answers or exits: start-up on a loaded machine may take long (pytest-timeout bounds a hang)
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(
                    f"pertinent serve exited with {process.returncode} before answering"
                ) from None
            time.sleep(0.1)


def test_restart_of_the_serve_command_keeps_resources_and_data(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}"
    process = _serve(data_dir, port)
    try:
        client = _client(url)
        group = client.create_dataset_group(name="durable")["datasetGroupArn"]
        wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
        schema = client.create_schema(name="s", schema=INTERACTIONS_SCHEMA)["schemaArn"]
        dataset = client.create_dataset(
            name="d", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
        )["datasetArn"]
        wait_for_status(lambda: client.describe_dataset(datasetArn=dataset)["dataset"])
        csv_path = tmp_path / "i.csv"
        write_interactions_csv(csv_path)
        job = client.create_dataset_import_job(
            jobName="j", datasetArn=dataset, dataSource={"dataLocation": str(csv_path)}
        )["datasetImportJobArn"]
        assert (
            wait_for_status(
                lambda: client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
            )["status"]
            == "ACTIVE"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)

    process = _serve(data_dir, port)
    try:
        client = _client(url)
        assert client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
        assert client.describe_schema(schemaArn=schema)["schema"]["schema"] == INTERACTIONS_SCHEMA
        assert (
            client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]["status"]
            == "ACTIVE"
        )
        assert (data_dir / "datasets" / "durable" / "INTERACTIONS" / "bulk.parquet").is_file()
    finally:
        process.kill()
        process.wait(30)


def _claimed_import(tmp_path: Path, data_dir: Path) -> str:
    """An import job claimed by a worker that then dies (its lease is never renewed)."""
    live, stop = start_server(load_settings(data_dir=data_dir, worker_threads=0))
    client = live.client()
    group = client.create_dataset_group(name="g")["datasetGroupArn"]
    live.app.state.worker.run_pending()
    schema = client.create_schema(name="s", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    dataset = client.create_dataset(
        name="d", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    live.app.state.worker.run_pending()
    csv_path = tmp_path / "i.csv"
    write_interactions_csv(csv_path)
    job = client.create_dataset_import_job(
        jobName="j", datasetArn=dataset, dataSource={"dataLocation": str(csv_path)}
    )["datasetImportJobArn"]
    claimed = live.app.state.ctx.store.claim(lease_seconds=1.0)  # a worker takes the job ... and dies
    assert claimed is not None and claimed.arn == job
    stop()
    return str(job)


def test_the_job_of_a_dead_worker_is_retried_once_its_lease_expires(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    job = _claimed_import(tmp_path, data_dir)
    # a worker that just started waits one lease period before it takes an expired lease over
    starting = time.time()
    live, stop = start_server(
        load_settings(data_dir=data_dir, worker_poll_seconds=0.05, job_lease_seconds=2.0)
    )
    try:
        client = live.client()
        record = wait_for_status(
            lambda: client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
        )
        assert record["status"] == "ACTIVE", record
        assert "failureReason" not in record
        with live.app.state.ctx.store.read() as conn:
            taken_over = conn.execute(select(jobs.c.started).where(jobs.c.arn == job)).scalar_one()
        assert taken_over >= starting + 2.0  # not before the new worker saw the database for a lease
        deadline = time.monotonic() + 60  # the worker marks the queue row done just after the status
        while live.app.state.ctx.store.running_jobs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.app.state.ctx.store.running_jobs() == []
    finally:
        stop()


def test_a_job_whose_workers_keep_dying_ends_failed_after_the_maximum_attempts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    job = _claimed_import(tmp_path, data_dir)
    live, stop = start_server(
        load_settings(data_dir=data_dir, worker_poll_seconds=0.05, job_max_attempts=1, job_lease_seconds=1.0)
    )
    try:
        client = live.client()
        record = wait_for_status(
            lambda: client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
        )
        assert record["status"] == "CREATE FAILED"
        assert "gave up after 1 attempts" in record["failureReason"], record
    finally:
        stop()
