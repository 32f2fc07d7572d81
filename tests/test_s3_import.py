"""s3:// data locations are read through boto3 from any S3-compatible endpoint (moto's server here)."""

from __future__ import annotations

import csv
import io
import time
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


def test_a_prefix_import_is_bounded_like_a_folder(s3_endpoint: str, tmp_path: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="many-parts")
    for n in range(3):
        s3.put_object(Bucket="many-parts", Key=f"movies/part-{n}.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\n")
    live, stop = start_server(
        load_settings(
            data_dir=tmp_path / "data",
            s3_endpoint_url=s3_endpoint,
            worker_poll_seconds=0.05,
            max_import_files=2,
        )
    )
    try:
        client = live.client()
        group = make_group(client, tmp_path)
        job = client.create_dataset_import_job(
            jobName="too-many",
            datasetArn=group.interactions_arn,
            importMode="INCREMENTAL",
            dataSource={"dataLocation": "s3://many-parts/movies/"},
        )["datasetImportJobArn"]
        record = wait_for_status(
            lambda: client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
        )
        assert record["status"] == "CREATE FAILED" and "more than 2 .csv objects" in record["failureReason"]
    finally:
        stop()


def test_metric_attribution_reports_are_written_to_an_s3_destination(
    s3_endpoint: str, tmp_path: Path
) -> None:
    """metricsOutputConfig.s3DataDestination on an S3-compatible store: the report object holds AWS's header
    and the count and sum of the events sent."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="attribution-reports")
    settings = load_settings(
        data_dir=tmp_path / "data",
        s3_endpoint_url=s3_endpoint,
        worker_poll_seconds=0.05,
        metric_report_seconds=1.0,
    )
    live, stop = start_server(settings)
    try:
        client = live.client()
        group = make_group(client, tmp_path)
        client.create_metric_attribution(
            name="to-s3",
            datasetGroupArn=group.arn,
            metrics=[
                {"eventType": "click", "metricName": "CLICKS", "expression": "SAMPLECOUNT()"},
                {"eventType": "click", "metricName": "VALUE", "expression": "SUM(Interactions.EVENT_VALUE)"},
            ],
            metricsOutputConfig={
                "roleArn": "arn:aws:iam::123456789012:role/R",
                "s3DataDestination": {"path": "s3://attribution-reports/impact/"},
            },
        )
        tracking_id = client.create_event_tracker(name="t", datasetGroupArn=group.arn)["trackingId"]
        live.client("personalize-events").put_events(
            trackingId=tracking_id,
            userId="u1",
            sessionId="s1",
            eventList=[
                {
                    "eventType": "click",
                    "itemId": f"m{k}",
                    "eventValue": 1.5 * k,
                    "sentAt": 1_700_000_000 + k,
                    "metricAttribution": {"eventAttributionSource": "newsletter"},
                }
                for k in range(1, 5)
            ],
        )
        deadline = time.monotonic() + 300
        while not (
            keys := [o["Key"] for o in s3.list_objects_v2(Bucket="attribution-reports").get("Contents", [])]
        ):
            assert time.monotonic() < deadline, "no report was written to the S3 destination"
            time.sleep(0.5)
        assert keys[0].startswith("impact/AggregatedAttributionMetrics-PutEvents-") and keys[0].endswith(
            ".csv"
        )
        text = s3.get_object(Bucket="attribution-reports", Key=keys[0])["Body"].read().decode()
        rows = list(csv.DictReader(io.StringIO(text)))
        assert (
            text.splitlines()[0]
            == "METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP"
        )
        totals = {(r["METRIC_NAME"], r["MATH_FUNCTION"], r["EVENT_ATTRIBUTION_SOURCE"]): 0.0 for r in rows}
        for r in rows:
            totals[(r["METRIC_NAME"], r["MATH_FUNCTION"], r["EVENT_ATTRIBUTION_SOURCE"])] += float(r["VALUE"])
        assert totals == {("CLICKS", "samplecount", "newsletter"): 4.0, ("VALUE", "sum", "newsletter"): 15.0}
    finally:
        stop()
