"""Search-index snapshots in the object store: a replica downloads the index another built, then keeps it
current from the event log. Two real servers with their own data folders share only a database file and
an S3-compatible store (moto's server); boto3 and plain HTTP drive them."""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from pertinent.api.background import serve_in_background
from pertinent.config import Settings, load_settings
from tests.conftest import ITEMS_SCHEMA, LiveServer, free_port, wait_for_status, write_items_csv

BUCKET = "pertinent-store"


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def _replica(settings: Settings, role: str) -> tuple[LiveServer, Callable[[], None]]:
    for attempt in range(3):  # a fresh port when another process took the chosen one in between
        actual = dataclasses.replace(settings, host="127.0.0.1", port=free_port())
        try:
            background = serve_in_background(actual, role=role)
        except RuntimeError:
            if attempt == 2:
                raise
            continue
        return LiveServer(background.url, actual, background.app), background.stop
    raise AssertionError("unreachable")


def _search(url: str, text: str) -> list[str]:
    request = urllib.request.Request(
        f"{url}/search/shop/_search",
        data=json.dumps({"query": {"match": {"TITLE": text}}, "size": 50}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return sorted(hit["_id"] for hit in json.loads(response.read())["hits"]["hits"])


def _snapshots(s3: Any) -> set[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="p/search/shop/").get("Contents", [])
    return {item["Key"].split("/")[3] for item in listed}


def test_a_replica_downloads_the_search_index_snapshot_and_keeps_it_current(
    s3_endpoint: str, tmp_path: Path
) -> None:
    shared = {
        "db": f"sqlite:///{tmp_path / 'shared.db'}",
        "storage": f"s3://{BUCKET}/p",
        "s3_endpoint_url": s3_endpoint,
        "worker_poll_seconds": 0.05,
    }
    a, stop_a = _replica(load_settings(data_dir=tmp_path / "data-a", **shared), "all")
    b, stop_b = _replica(load_settings(data_dir=tmp_path / "data-b", **shared), "api")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    try:
        client = a.client()
        group = client.create_dataset_group(name="shop")["datasetGroupArn"]
        wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
        schema = client.create_schema(name="items", schema=ITEMS_SCHEMA)["schemaArn"]
        dataset = client.create_dataset(
            name="items", schemaArn=schema, datasetGroupArn=group, datasetType="Items"
        )["datasetArn"]
        wait_for_status(lambda: client.describe_dataset(datasetArn=dataset)["dataset"])

        def import_items(csv_path: Path, name: str) -> None:
            s3.upload_file(str(csv_path), BUCKET, f"in/{name}.csv")
            job = client.create_dataset_import_job(
                jobName=name,
                datasetArn=dataset,
                dataSource={"dataLocation": f"s3://{BUCKET}/in/{name}.csv"},
                roleArn="arn:aws:iam::000000000000:role/PersonalizeS3",
            )["datasetImportJobArn"]
            record = wait_for_status(
                lambda: client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"],
                timeout=300,
            )
            assert record["status"] == "ACTIVE", record

        write_items_csv(tmp_path / "items.csv", items=40)
        import_items(tmp_path / "items.csv", "first")

        # replica A builds the index and stores it as a snapshot
        sequels = _search(a.url, "sequel")
        assert len(sequels) == 40
        search_a, search_b = a.app.state.search, b.app.state.search
        assert (search_a.indexes_built, search_a.snapshots_restored) == (1, 0)
        first = _snapshots(s3)
        assert len(first) == 1

        # replica B downloads it instead of building, and answers the same
        assert _search(b.url, "sequel") == sequels
        assert (search_b.indexes_built, search_b.snapshots_restored) == (0, 1)
        assert any((tmp_path / "data-b" / "cache" / "search" / "shop").rglob("snapshot.json"))

        # an item put through A after the snapshot reaches B's index from the event log
        a.client("personalize-events").put_items(
            datasetArn=dataset,
            items=[{"itemId": "zz1", "properties": json.dumps({"title": "Zanzibar lighthouse"})}],
        )
        assert _search(b.url, "zanzibar") == ["zz1"]
        assert _search(a.url, "zanzibar") == ["zz1"]

        # a new bulk import: B, searching first this time, builds and stores the new snapshot (the old
        # one goes) and A downloads it; both still hold the item put before
        with (tmp_path / "items2.csv").open("w") as f:
            f.write(
                "ITEM_ID,GENRES,TITLE,YEAR\nn1,Drama,A prequel,1999\nn2,Comedy,The prequel returns,2001\n"
            )
        import_items(tmp_path / "items2.csv", "second")
        assert _search(b.url, "prequel") == ["n1", "n2"]
        assert _search(b.url, "sequel") == []
        assert (search_b.indexes_built, search_b.snapshots_restored) == (1, 1)
        second = _snapshots(s3)
        assert len(second) == 1 and second != first
        assert _search(a.url, "prequel") == ["n1", "n2"]
        assert (search_a.indexes_built, search_a.snapshots_restored) == (1, 1)
        assert _search(a.url, "zanzibar") == _search(b.url, "zanzibar") == ["zz1"]
    finally:
        stop_b()
        stop_a()
