"""s3:// data locations are read through boto3 from any S3-compatible endpoint (moto's server here)."""

from __future__ import annotations

from pathlib import Path

import boto3

from pertinent.config import load_settings
from tests.conftest import make_group, start_server, wait_for_status, write_interactions_csv
from tests.s3_replicas import s3_endpoint

__all__ = ["s3_endpoint"]  # the fixture


def test_import_from_s3_file_and_prefix(s3_endpoint: str, tmp_path: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="personalize-data")
    csv_path = tmp_path / "interactions.csv"
    rows = write_interactions_csv(csv_path)
    s3.upload_file(str(csv_path), "personalize-data", "movies/part-1.csv")
    s3.upload_file(str(csv_path), "personalize-data", "movies/part-2.csv")

    live, stop = start_server(
        load_settings(data_dir=tmp_path / "data", s3_endpoint_url=s3_endpoint, worker_poll_seconds=0.05)
    )
    try:
        client = live.client()
        group = make_group(client, tmp_path, interactions_csv=csv_path)
        one = client.create_dataset_import_job(
            jobName="from-s3",
            datasetArn=group.interactions_arn,
            dataSource={"dataLocation": "s3://personalize-data/movies/part-1.csv"},
        )["datasetImportJobArn"]
        record = wait_for_status(
            lambda: client.describe_dataset_import_job(datasetImportJobArn=one)["datasetImportJob"]
        )
        assert record["status"] == "ACTIVE", record.get("failureReason")
        both = client.create_dataset_import_job(
            jobName="prefix",
            datasetArn=group.interactions_arn,
            importMode="INCREMENTAL",
            dataSource={"dataLocation": "s3://personalize-data/movies/"},
        )["datasetImportJobArn"]
        record = wait_for_status(
            lambda: client.describe_dataset_import_job(datasetImportJobArn=both)["datasetImportJob"]
        )
        assert record["status"] == "ACTIVE", record.get("failureReason")
        store = live.app.state.ctx.store
        assert store.get(group.interactions_arn)["rows_total"] == 3 * rows  # FULL, then +2 files appended
        missing = client.create_dataset_import_job(
            jobName="missing",
            datasetArn=group.interactions_arn,
            dataSource={"dataLocation": "s3://personalize-data/nothing-here.csv"},
        )["datasetImportJobArn"]
        record = wait_for_status(
            lambda: client.describe_dataset_import_job(datasetImportJobArn=missing)["datasetImportJob"]
        )
        assert record["status"] == "CREATE FAILED"
        assert "nothing-here.csv" in record["failureReason"]
        assert store.get(group.interactions_arn)["rows_total"] == 3 * rows  # untouched by the failure
    finally:
        stop()
