"""Import jobs end to end: real files in, ACTIVE or CREATE FAILED with a reason, old data intact."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import LiveServer, convert_movielens_ratings, make_group, needs_movielens, wait_for_status


def _import(client: Any, dataset_arn: str, path: Path, name: str, mode: str = "FULL") -> dict[str, Any]:
    arn = client.create_dataset_import_job(
        jobName=name, datasetArn=dataset_arn, importMode=mode, dataSource={"dataLocation": str(path)}
    )["datasetImportJobArn"]
    return wait_for_status(
        lambda: client.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    )


BAD_FILES = {
    "wrong-header": b"USER,ITEM,WHEN,EVENT_TYPE,EVENT_VALUE\nu1,m1,1500000000,rating,4\n",
    "bad-timestamp": b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\nu1,m1,1500000000,rating,4\nu2,m2,yesterday,rating,4\n",
    "missing-column": b"USER_ID,ITEM_ID,EVENT_TYPE\nu1,m1,rating\n",
    "non-utf8": b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\nu1,m1,1500000000,rating,4\nu\xff\xfe2,m2,1500000000,rating,4\n",
    "empty": b"",
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_fail_with_a_reason_and_keep_the_previous_data(
    personalize: Any, server: LiveServer, tmp_path: Path, case: str
) -> None:
    group = make_group(personalize, tmp_path)
    bulk = server.settings.data_dir / "datasets" / "movies" / "INTERACTIONS" / "bulk.parquet"
    before = hashlib.sha256(bulk.read_bytes()).hexdigest()
    bad = tmp_path / f"{case}.csv"
    bad.write_bytes(BAD_FILES[case])
    record = _import(personalize, group.interactions_arn, bad, f"bad-{case}")
    assert record["status"] == "CREATE FAILED"
    reason = record["failureReason"]
    assert f"{case}.csv" in reason
    if case == "bad-timestamp":
        assert "line 3" in reason and "TIMESTAMP" in reason
    if case == "non-utf8":
        assert "line 3" in reason
    assert hashlib.sha256(bulk.read_bytes()).hexdigest() == before
    assert personalize.describe_dataset(datasetArn=group.interactions_arn)["dataset"]["status"] == "ACTIVE"


def test_ten_megabytes_of_garbage_fail_cleanly(personalize: Any, tmp_path: Path) -> None:
    group = make_group(personalize, tmp_path)
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(os.urandom(10 * 2**20))
    record = _import(personalize, group.interactions_arn, garbage, "garbage")
    assert record["status"] == "CREATE FAILED"
    assert record["failureReason"]


def test_incremental_appends_interactions(personalize: Any, server: LiveServer, tmp_path: Path) -> None:
    group = make_group(personalize, tmp_path)
    extra = tmp_path / "extra.csv"
    extra.write_text("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\nnewbie,m1,1600000000,rating,5\n")
    assert _import(personalize, group.interactions_arn, extra, "inc", "INCREMENTAL")["status"] == "ACTIVE"
    table = pq.read_table(server.settings.data_dir / "datasets" / "movies" / "INTERACTIONS" / "bulk.parquet")
    assert table.num_rows == 60 * 30 + 1
    assert "newbie" in table.column("USER_ID").to_pylist()


@pytest.mark.slow
@needs_movielens
def test_movielens_ratings_import_reaches_active(
    personalize: Any, server: LiveServer, tmp_path: Path
) -> None:
    ratings = tmp_path / "ratings.csv"
    rows = convert_movielens_ratings(ratings)
    assert rows == 100_836
    group = make_group(personalize, tmp_path, name="ml", interactions_csv=ratings)
    table = pq.read_table(server.settings.data_dir / "datasets" / "ml" / "INTERACTIONS" / "bulk.parquet")
    assert table.num_rows == 100_836
    assert table.schema.field("TIMESTAMP").type == "int64"
    assert len(set(table.column("USER_ID").to_pylist())) == 610
    described = personalize.describe_dataset_import_job(
        datasetImportJobArn=personalize.list_dataset_import_jobs(datasetArn=group.interactions_arn)[
            "datasetImportJobs"
        ][0]["datasetImportJobArn"]
    )["datasetImportJob"]
    assert described["status"] == "ACTIVE"


def test_export_jobs_write_bulk_streamed_and_all_data(
    personalize: Any, server: LiveServer, tmp_path: Path
) -> None:
    import csv
    import time

    group = make_group(personalize, tmp_path)
    tracker = personalize.create_event_tracker(name="t", datasetGroupArn=group.arn)
    wait_for_status(
        lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    server.client("personalize-events").put_events(
        trackingId=tracker["trackingId"],
        userId="streamer",
        sessionId="s",
        eventList=[{"eventType": "rating", "itemId": "m1", "sentAt": time.time()}],
    )
    rows = {}
    for mode in ("BULK", "PUT", "ALL"):
        out = tmp_path / f"export-{mode}"
        arn = personalize.create_dataset_export_job(
            jobName=f"export-{mode.lower()}",
            datasetArn=group.interactions_arn,
            ingestionMode=mode,
            roleArn="arn:aws:iam::123456789012:role/PersonalizeRole",
            jobOutput={"s3DataDestination": {"path": f"file://{out}/"}},
        )["datasetExportJobArn"]
        record = wait_for_status(
            lambda arn=arn: personalize.describe_dataset_export_job(datasetExportJobArn=arn)[
                "datasetExportJob"
            ]
        )
        assert record["status"] == "ACTIVE", record.get("failureReason")
        with (out / f"export-{mode.lower()}.csv").open(newline="") as f:
            rows[mode] = list(csv.DictReader(f))
    assert len(rows["BULK"]) == 60 * 30
    assert [r["USER_ID"] for r in rows["PUT"]] == ["streamer"]
    assert len(rows["ALL"]) == 60 * 30 + 1


def test_a_pandas_frame_written_with_its_index_and_extra_columns_imports(
    personalize: Any, server: LiveServer, tmp_path: Path, movielens: Path
) -> None:
    """AWS's sample notebooks build the file with pandas; ``to_csv(path)`` keeps the index and any
    column the schema lacks (here MovieLens's own ``title``): both are ignored, the rest imports, its
    header names matched to the schema's fields in any letter case."""
    import pandas as pd

    group = make_group(personalize, tmp_path)
    ratings = pd.read_csv(movielens / "ratings.csv", nrows=500)
    movies = pd.read_csv(movielens / "movies.csv")
    frame = ratings.merge(movies, on="movieId").rename(
        columns={"userId": "user_id", "movieId": "Item_Id", "timestamp": "TIMESTAMP", "rating": "event_value"}
    )
    frame["Event_Type"] = "rating"
    path = tmp_path / "from-pandas.csv"
    frame.to_csv(path)  # index=True: AWS's samples pass index=False, a new user often forgets
    header = path.read_text().splitlines()[0]
    assert header.startswith(",user_id,Item_Id,") and "title" in header and "genres" in header
    job = _import(personalize, group.interactions_arn, path, "pandas-import")
    assert job["status"] == "ACTIVE", job.get("failureReason")
    bulk = server.settings.data_dir / "datasets" / "movies" / "INTERACTIONS" / "bulk.parquet"
    table = pq.read_table(bulk)
    assert table.column_names == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]
    assert table.num_rows == len(frame)
    assert sorted(table.column("EVENT_VALUE").to_pylist()) == sorted(frame["event_value"].tolist())
    assert set(table.column("EVENT_TYPE").to_pylist()) == {"rating"}
