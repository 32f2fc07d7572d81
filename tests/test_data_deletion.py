"""Data deletion jobs through boto3: an erased user leaves bulk interactions, the event log, the Users
dataset and the models' per-user data (checked by export and by recommendations: the next answer is a cold
user's); everyone else's exported data is byte-identical; bad input fails the job with a reason."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pertinent.config import load_settings
from tests.conftest import Group, LiveServer, export_dataset, make_group, start_server, wait_for_status

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
USERS_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Users",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "MEMBERSHIP", "type": ["null", "string"], "categorical": True},
        ],
        "version": "1.0",
    }
)
ERASED = "u1"


@dataclass
class World:
    server: LiveServer
    personalize: Any
    runtime: Any
    group: Group
    users_dataset: str
    campaign: str
    solution: str
    tmp: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("deletion")
    live, stop = start_server(load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05))
    client = live.client()
    group = make_group(client, tmp, with_items=True)
    schema = client.create_schema(name="users", schema=USERS_SCHEMA)["schemaArn"]
    users_dataset = client.create_dataset(
        name="users", schemaArn=schema, datasetGroupArn=group.arn, datasetType="Users"
    )["datasetArn"]
    wait_for_status(lambda: client.describe_dataset(datasetArn=users_dataset)["dataset"])
    users_csv = tmp / "users.csv"
    with users_csv.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["USER_ID", "MEMBERSHIP"])
        for user in range(1, 61):
            writer.writerow([f"u{user}", "gold" if user % 3 == 0 else "basic"])
    job = client.create_dataset_import_job(
        jobName="users", datasetArn=users_dataset, dataSource={"dataLocation": str(users_csv)}
    )["datasetImportJobArn"]
    assert (
        wait_for_status(
            lambda: client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
        )["status"]
        == "ACTIVE"
    )
    solution = client.create_solution(
        name="up",
        datasetGroupArn=group.arn,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
        performAutoTraining=False,
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    record = wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"], timeout=300
    )
    assert record["status"] == "ACTIVE", record.get("failureReason")
    campaign = client.create_campaign(
        name="up",
        solutionVersionArn=version,
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "0"}},
    )["campaignArn"]
    wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])

    tracker = client.create_event_tracker(name="tracker", datasetGroupArn=group.arn)["eventTrackerArn"]
    tracking_id = wait_for_status(
        lambda: client.describe_event_tracker(eventTrackerArn=tracker)["eventTracker"]
    )["trackingId"]
    events = live.client("personalize-events")
    now = time.time()
    for user, items in ((ERASED, ["m2", "m4", "m6"]), ("u2", ["m1", "m3"])):
        events.put_events(
            trackingId=tracking_id,
            userId=user,
            sessionId=f"s-{user}",
            eventList=[
                {"eventType": "rating", "itemId": item, "sentAt": now + n, "eventValue": 4.0}
                for n, item in enumerate(items)
            ],
        )
    # an anonymous session whose id is the erased user's (Personalize lets a session id stand for a user)
    events.put_events(
        trackingId=tracking_id,
        sessionId=ERASED,
        eventList=[{"eventType": "rating", "itemId": "m8", "sentAt": now + 9, "eventValue": 3.0}],
    )
    events.put_users(
        datasetArn=users_dataset,
        users=[
            {"userId": ERASED, "properties": json.dumps({"membership": "gold"})},
            {"userId": "u77", "properties": json.dumps({"membership": "gold"})},
        ],
    )
    yield World(
        live, client, live.client("personalize-runtime"), group, users_dataset, campaign, solution, tmp
    )
    stop()


def _export(world: World, dataset: str, name: str) -> list[str]:
    csv_file = export_dataset(world.personalize, dataset, world.tmp / "exports", name, ROLE, "ALL")
    return csv_file.read_text().splitlines()


def _delete(world: World, name: str, text: str) -> dict[str, Any]:
    source = world.tmp / f"{name}.csv"
    source.write_text(text)
    arn = world.personalize.create_data_deletion_job(
        jobName=name, datasetGroupArn=world.group.arn, dataSource={"dataLocation": str(source)}, roleArn=ROLE
    )["dataDeletionJobArn"]
    job: dict[str, Any] = wait_for_status(
        lambda: world.personalize.describe_data_deletion_job(dataDeletionJobArn=arn)["dataDeletionJob"],
        done=("COMPLETED", "FAILED"),
    )
    assert job["jobName"] == name and job["datasetGroupArn"] == world.group.arn
    return job


def _items(world: World, user: str) -> list[str]:
    answer = world.runtime.get_recommendations(campaignArn=world.campaign, userId=user, numResults=20)
    return [i["itemId"] for i in answer["itemList"]]


def _owner(line: str) -> str:
    return next(csv.reader([line]))[0]


def test_deletion_erases_one_user_everywhere_and_nothing_else(world: World) -> None:
    cold = _items(world, "never-seen")
    before_recs = {u: _items(world, u) for u in (ERASED, "u2", "u3")}
    assert before_recs[ERASED] != cold
    before_interactions = _export(world, world.group.interactions_arn, "interactions-before")
    before_users = _export(world, world.users_dataset, "users-before")
    assert any(_owner(x) == ERASED for x in before_interactions[1:])
    assert sum(_owner(x) == ERASED for x in before_users[1:]) == 2  # bulk row and PutUsers record

    job = _delete(world, "erase-u1", f"USER_ID\n{ERASED}\nghost-user\n{ERASED}\n")
    assert job["status"] == "COMPLETED", job.get("failureReason")
    assert job["numDeleted"] == 1

    after_interactions = _export(world, world.group.interactions_arn, "interactions-after")
    after_users = _export(world, world.users_dataset, "users-after")
    assert after_interactions == [x for x in before_interactions if _owner(x) != ERASED]
    assert after_users == [x for x in before_users if _owner(x) != ERASED]
    assert _items(world, ERASED) == cold  # the next answer is a cold user's
    assert _items(world, "u2") == before_recs["u2"] and _items(world, "u3") == before_recs["u3"]

    listed = world.personalize.list_data_deletion_jobs(datasetGroupArn=world.group.arn)["dataDeletionJobs"]
    assert [j["jobName"] for j in listed] == ["erase-u1"] and listed[0]["status"] == "COMPLETED"

    # the next training has never seen the user
    version = world.personalize.create_solution_version(solutionArn=world.solution)["solutionVersionArn"]
    wait_for_status(
        lambda: world.personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"],
        timeout=300,
    )
    manifest = json.loads((world.server.app.state.ctx.artifact_dir(version) / "manifest.json").read_text())
    assert manifest["n_users"] == 59


def test_bad_deletion_input_fails_with_a_reason(world: World) -> None:
    job = _delete(world, "wrong-header", "ITEM_ID\nm1\n")
    assert job["status"] == "FAILED" and "USER_ID" in job["failureReason"]
    assert "numDeleted" not in job
    job = _delete(world, "two-columns", "USER_ID\nu5,u6\n")
    assert job["status"] == "FAILED" and "line 2" in job["failureReason"]
    assert _items(world, "u5") != _items(world, "never-seen")  # nothing was erased
    client = world.personalize
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.create_data_deletion_job(
            jobName="nowhere",
            datasetGroupArn="arn:aws:personalize:us-east-1:000000000000:dataset-group/none",
            dataSource={"dataLocation": "/tmp/x.csv"},
            roleArn=ROLE,
        )
    with pytest.raises(client.exceptions.InvalidInputException):
        client.create_data_deletion_job(
            jobName="http",
            datasetGroupArn=world.group.arn,
            dataSource={"dataLocation": "https://x/y.csv"},
            roleArn=ROLE,
        )
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_data_deletion_job(
            dataDeletionJobArn="arn:aws:personalize:us-east-1:000000000000:data-deletion-job/none"
        )
