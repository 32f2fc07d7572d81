"""Search-index snapshots in the object store: a replica downloads the index another built, then keeps it
current from the event log. Two real servers with their own data folders share only a database file and
an S3-compatible store (moto's server); boto3 and plain HTTP drive them."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import ITEMS_SCHEMA, wait_for_status, write_items_csv
from tests.s3_replicas import BUCKET, replica_settings, s3_endpoint, start_replica

__all__ = ["s3_endpoint"]  # the fixture


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
    a, stop_a = start_replica(replica_settings(tmp_path, "a", s3_endpoint), "all")
    b, stop_b = start_replica(replica_settings(tmp_path, "b", s3_endpoint), "api")
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

        # the worker that ran the import stored the index as a snapshot before the import was ACTIVE
        first = _snapshots(s3)
        assert len(first) == 1
        worker_search = a.app.state.worker.runner.search_service()
        assert (worker_search.indexes_built, worker_search.snapshots_restored) == (1, 0)

        # neither replica builds: A opens the index its own worker left in their common data folder, B
        # (its own folder) downloads the snapshot; both answer alike
        search_a, search_b = a.app.state.search, b.app.state.search
        sequels = _search(a.url, "sequel")
        assert len(sequels) == 40
        assert _search(b.url, "sequel") == sequels
        assert (search_a.indexes_built, search_a.snapshots_restored) == (0, 0)
        assert (search_b.indexes_built, search_b.snapshots_restored) == (0, 1)
        assert any((tmp_path / "data-b" / "cache" / "search" / "shop").rglob("snapshot.json"))

        # an item put through A after the snapshot reaches B's index from the event log
        a.client("personalize-events").put_items(
            datasetArn=dataset,
            items=[{"itemId": "zz1", "properties": json.dumps({"title": "Zanzibar lighthouse"})}],
        )
        assert _search(b.url, "zanzibar") == ["zz1"]
        assert _search(a.url, "zanzibar") == ["zz1"]

        # a new bulk import: a new snapshot replaces the old one; both replicas switch to it and still
        # hold the item put before it
        with (tmp_path / "items2.csv").open("w") as f:
            f.write(
                "ITEM_ID,GENRES,TITLE,YEAR\nn1,Drama,A prequel,1999\nn2,Comedy,The prequel returns,2001\n"
            )
        import_items(tmp_path / "items2.csv", "second")
        second = _snapshots(s3)
        assert len(second) == 1 and second != first
        assert _search(b.url, "prequel") == ["n1", "n2"]
        assert _search(b.url, "sequel") == []
        assert _search(a.url, "prequel") == ["n1", "n2"]
        assert (search_a.indexes_built, search_a.snapshots_restored) == (0, 1)
        assert (search_b.indexes_built, search_b.snapshots_restored) == (0, 2)
        assert _search(a.url, "zanzibar") == _search(b.url, "zanzibar") == ["zz1"]

        # a replica that finds no snapshot builds the index itself and stores one
        for key in s3.list_objects_v2(Bucket=BUCKET, Prefix="p/search/")["Contents"]:
            s3.delete_object(Bucket=BUCKET, Key=key["Key"])
        c, stop_c = start_replica(replica_settings(tmp_path, "c", s3_endpoint), "api")
        try:
            assert _search(c.url, "prequel") == ["n1", "n2"]
            assert _search(c.url, "zanzibar") == ["zz1"]
            assert (c.app.state.search.indexes_built, c.app.state.search.snapshots_restored) == (1, 0)
            assert _snapshots(s3) == second  # the same Items version and schema: the same snapshot name
        finally:
            stop_c()
    finally:
        stop_b()
        stop_a()
