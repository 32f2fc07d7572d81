"""User segments through boto3 on planted data: aws-item-affinity and aws-item-attribute-affinity train with
Personalize's segment metrics, batch segment jobs return the users whose histories favour the item or the
attribute, UserID filters restrict them, bad lines get their own error and bad requests are refused."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pertinent.config import load_settings
from tests.conftest import INTERACTIONS_SCHEMA, ITEMS_SCHEMA, LiveServer, start_server, wait_for_status

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
COMEDY_USERS = {f"u{n}" for n in range(1, 41)}
BUYERS = {"u1", "u2", "u3", "u4", "u5", "u41", "u42"}


@dataclass
class Planted:
    server: LiveServer
    client: Any
    group: str
    affinity: str
    attribute: str
    filter: str
    tmp: Path


def _write(tmp: Path) -> tuple[Path, Path]:
    rng = random.Random(3)
    interactions, items = tmp / "interactions.csv", tmp / "items.csv"
    with items.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ITEM_ID", "GENRES", "TITLE", "YEAR"])
        for n in range(1, 201):
            writer.writerow([f"m{n}", "Comedy" if n <= 100 else "Horror", f"Movie {n}", 2000])
    with interactions.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"])
        for user in range(1, 81):
            pool = range(1, 101) if f"u{user}" in COMEDY_USERS else range(101, 201)
            for item in rng.sample(list(pool), 30):
                event = "purchase" if f"u{user}" in BUYERS and item % 5 == 0 else "watch"
                writer.writerow([f"u{user}", f"m{item}", 1_600_000_000 + rng.randrange(10**6), event, 1.0])
    return interactions, items


def _dataset(client: Any, group: str, kind: str, schema: str, path: Path) -> None:
    schema_arn = client.create_schema(name=kind, schema=schema)["schemaArn"]
    arn = client.create_dataset(name=kind, schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind)[
        "datasetArn"
    ]
    wait_for_status(lambda: client.describe_dataset(datasetArn=arn)["dataset"])
    job = client.create_dataset_import_job(
        jobName=kind, datasetArn=arn, dataSource={"dataLocation": str(path)}
    )
    record = wait_for_status(
        lambda: client.describe_dataset_import_job(datasetImportJobArn=job["datasetImportJobArn"])[
            "datasetImportJob"
        ]
    )
    assert record["status"] == "ACTIVE", record


def _version(client: Any, group: str, recipe: str) -> str:
    solution = client.create_solution(
        name=recipe,
        datasetGroupArn=group,
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}",
        performAutoTraining=False,
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version: str = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    record = wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"], timeout=300
    )
    assert record["status"] == "ACTIVE", record.get("failureReason")
    return version


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planted]:
    tmp = tmp_path_factory.mktemp("segments")
    live, stop = start_server(load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05))
    client = live.client()
    group = client.create_dataset_group(name="planted")["datasetGroupArn"]
    wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    interactions, items = _write(tmp)
    _dataset(client, group, "Interactions", INTERACTIONS_SCHEMA, interactions)
    _dataset(client, group, "Items", ITEMS_SCHEMA, items)
    affinity = _version(client, group, "aws-item-affinity")
    attribute = _version(client, group, "aws-item-attribute-affinity")
    buyers = client.create_filter(
        name="no-buyers",
        datasetGroupArn=group,
        filterExpression='EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("purchase")',
    )["filterArn"]
    wait_for_status(lambda: client.describe_filter(filterArn=buyers)["filter"])
    yield Planted(live, client, group, affinity, attribute, buyers, tmp)
    stop()


def _segment(p: Planted, name: str, version: str, lines: list[str], **extra: Any) -> list[dict[str, Any]]:
    folder = p.tmp / name
    (folder / "in").mkdir(parents=True)
    (folder / "in" / "queries.json").write_text("\n".join(lines) + "\n")
    arn = p.client.create_batch_segment_job(
        jobName=name,
        solutionVersionArn=version,
        jobInput={"s3DataSource": {"path": str(folder / "in") + "/"}},
        jobOutput={"s3DataDestination": {"path": f"file://{folder / 'out'}"}},
        roleArn=ROLE,
        **extra,
    )["batchSegmentJobArn"]
    job = wait_for_status(
        lambda: p.client.describe_batch_segment_job(batchSegmentJobArn=arn)["batchSegmentJob"]
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    listed = p.client.list_batch_segment_jobs(solutionVersionArn=version)["batchSegmentJobs"]
    assert arn in [j["batchSegmentJobArn"] for j in listed]
    text = (folder / "out" / "queries.json.out").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_segment_metrics_are_personalizes(planted: Planted) -> None:
    for version in (planted.affinity, planted.attribute):
        metrics = planted.client.get_solution_metrics(solutionVersionArn=version)["metrics"]
        assert set(metrics) == {"hit", "recall"}
        assert 0 < metrics["recall"] <= 1 and metrics["hit"] > 0


def test_item_affinity_segments_favour_the_items_taste(planted: Planted) -> None:
    lines = [
        json.dumps({"itemId": "m7"}),
        json.dumps({"itemId": "m150"}),
        "{oops",
        json.dumps({"itemId": "m999"}),
    ]
    rows = _segment(planted, "affinity", planted.affinity, lines, numResults=10)
    comedy, horror = rows[0]["output"]["recommendedUsers"], rows[1]["output"]["recommendedUsers"]
    assert rows[0]["input"] == {"itemId": "m7"} and rows[0]["error"] is None
    assert len(comedy) == 10 and set(comedy) <= COMEDY_USERS
    assert len(horror) == 10 and not set(horror) & COMEDY_USERS
    assert rows[2]["output"] is None and "not valid JSON" in rows[2]["error"]
    assert rows[3]["output"] is None and "m999" in rows[3]["error"]
    watched = {r[0] for r in csv.reader((planted.tmp / "interactions.csv").open()) if r[1] == "m7"}
    assert not set(comedy) & watched  # users who already interacted are not a segment for the item


def test_attribute_affinity_and_a_user_filter(planted: Planted) -> None:
    lines = [
        json.dumps({"itemAttributes": 'ITEMS.genres = "Horror"'}),
        json.dumps({"itemAttributes": 'ITEMS.GENRES = "Comedy"'}),
        json.dumps({"itemAttributes": 'ITEMS.TITLE = "Movie 1"'}),
        json.dumps({"itemAttributes": 'ITEMS.genres = "Western"'}),
    ]
    rows = _segment(planted, "attributes", planted.attribute, lines, numResults=30)
    assert rows[0]["itemAttributes"] == 'ITEMS.genres = "Horror"' and rows[0]["error"] is None
    horror, comedy = rows[0]["output"]["recommendedUsers"], rows[1]["output"]["recommendedUsers"]
    assert len(horror) == 30 and not set(horror) & COMEDY_USERS
    assert len(comedy) == 30 and set(comedy) <= COMEDY_USERS
    assert "textual" in rows[2]["error"] and "No item" in rows[3]["error"]

    filtered = _segment(
        planted, "filtered", planted.attribute, lines[:2], numResults=40, filterArn=planted.filter
    )
    for row in filtered:
        assert row["output"]["recommendedUsers"] and not set(row["output"]["recommendedUsers"]) & BUYERS
    assert set(comedy) & BUYERS  # the filter is what removed them


def test_bad_segment_requests_are_refused(planted: Planted) -> None:
    client = planted.client
    base = {
        "jobInput": {"s3DataSource": {"path": str(planted.tmp / "x") + "/"}},
        "jobOutput": {"s3DataDestination": {"path": str(planted.tmp / "y") + "/"}},
        "roleArn": ROLE,
    }
    with pytest.raises(client.exceptions.InvalidInputException) as info:
        client.create_batch_inference_job(jobName="seg", solutionVersionArn=planted.affinity, **base)
    assert "CreateBatchSegmentJob" in info.value.response["Error"]["Message"]
    item_filter = client.create_filter(
        name="items",
        datasetGroupArn=planted.group,
        filterExpression='EXCLUDE ItemID WHERE Items.GENRES IN ("Horror")',
    )["filterArn"]
    wait_for_status(lambda: client.describe_filter(filterArn=item_filter)["filter"])
    with pytest.raises(client.exceptions.InvalidInputException) as info:
        client.create_batch_segment_job(
            jobName="item-filter", solutionVersionArn=planted.affinity, filterArn=item_filter, **base
        )
    assert "UserID" in info.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.InvalidInputException):
        client.create_batch_segment_job(
            jobName="n", solutionVersionArn=planted.affinity, numResults=0, **base
        )
