"""A data deletion job erases a user from next-best-action data (bulk action interactions, PutActionInteractions
events, the model's action histories) and from the v2 engine's per-user state, while every other user's
answers stay identical: the next GetActionRecommendations / GetRecommendations for the erased user is a
cold user's, and the other users keep their own per-user rows (nothing shifts)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pertinent.config import load_settings
from tests.conftest import LiveServer, export_dataset, start_server, train_campaign, wait_for_status
from tests.test_next_best_action import NOW, SCHEMAS, write_data

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
ERASED = "u0"
OTHERS = ["u1", "u2", "u3", "u10", "u57", "u199"]


@dataclass
class World:
    server: LiveServer
    client: Any
    runtime: Any
    group: str
    datasets: dict[str, str]
    nba: str
    v2: str
    tmp: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("erase-everywhere")
    server, stop = start_server(load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05))
    client = server.client()
    files, _ = write_data(tmp)
    group = client.create_dataset_group(name="erase")["datasetGroupArn"]
    wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    datasets = {}
    for name, schema in SCHEMAS.items():
        schema_arn = client.create_schema(name=f"erase-{name}", schema=schema)["schemaArn"]
        dataset = client.create_dataset(
            name=f"erase-{name}", schemaArn=schema_arn, datasetGroupArn=group, datasetType=name.upper()
        )["datasetArn"]
        wait_for_status(lambda d=dataset: client.describe_dataset(datasetArn=d)["dataset"])
        job = client.create_dataset_import_job(
            jobName=f"erase-{name}", datasetArn=dataset, dataSource={"dataLocation": str(files[name])}
        )["datasetImportJobArn"]
        done = wait_for_status(
            lambda j=job: client.describe_dataset_import_job(datasetImportJobArn=j)["datasetImportJob"]
        )
        assert done["status"] == "ACTIVE", done
        datasets[name] = dataset
    _, nba = train_campaign(client, group, "aws-next-best-action", "nba")
    _, v2 = train_campaign(client, group, "aws-user-personalization-v2", "v2")
    tracker = client.create_event_tracker(name="erase-tracker", datasetGroupArn=group)["eventTrackerArn"]
    tracking_id = wait_for_status(
        lambda: client.describe_event_tracker(eventTrackerArn=tracker)["eventTracker"]
    )["trackingId"]
    server.client("personalize-events").put_action_interactions(
        trackingId=tracking_id,
        actionInteractions=[
            {
                "actionId": "C",
                "userId": user,
                "sessionId": f"s-{user}",
                "timestamp": NOW - 60,
                "eventType": "Taken",
            }
            for user in (ERASED, "u1")
        ],
    )
    yield World(server, client, server.client("personalize-runtime"), group, datasets, nba, v2, tmp)
    stop()


def _actions(world: World, user: str) -> list[tuple[str, float]]:
    answer = world.runtime.get_action_recommendations(campaignArn=world.nba, userId=user, numResults=5)
    return [(a["actionId"], a.get("score", 0.0)) for a in answer["actionList"]]


def _items(world: World, user: str) -> list[tuple[str, float]]:
    answer = world.runtime.get_recommendations(campaignArn=world.v2, userId=user, numResults=10)
    return [(i["itemId"], i.get("score", 0.0)) for i in answer["itemList"]]


def _export(world: World, name: str) -> list[str]:
    dataset = world.datasets["Action_Interactions"]
    return (
        export_dataset(world.client, dataset, world.tmp / "exports", name, ROLE, "ALL")
        .read_text()
        .splitlines()
    )


def _owner(line: str) -> str:
    return next(csv.reader([line]))[0]


def _v2_user_rows(world: World) -> dict[str, tuple[float, int, list[int]]]:
    """Each model user's own rows of the v2 state: last event time and type, impressed items."""
    version = world.client.describe_campaign(campaignArn=world.v2)["campaign"]["solutionVersionArn"]
    ctx = world.server.app.state.ctx
    folder = ctx.trained_artifact(version, ctx.artifact_revision(ctx.store.get(world.group)))
    with np.load(folder / "data.npz") as data, np.load(folder / "model.npz") as model:
        users = data["user_ids"].tolist()
        indptr, indices = model["user_impressions__indptr"], model["user_impressions__indices"]
        assert len(model["user_last_time"]) == len(users) == len(indptr) - 1
        return {
            u: (
                float(model["user_last_time"][n]),
                int(model["user_last_event_type"][n]),
                indices[indptr[n] : indptr[n + 1]].tolist(),
            )
            for n, u in enumerate(users)
        }


def test_erasure_reaches_next_best_action_and_v2_state_and_nobody_else(world: World) -> None:
    cold_actions, cold_items = _actions(world, "never-seen"), _items(world, "never-seen")
    before_actions = {u: _actions(world, u) for u in [ERASED, *OTHERS]}
    before_items = {u: _items(world, u) for u in [ERASED, *OTHERS]}
    assert before_actions[ERASED] != cold_actions and before_items[ERASED] != cold_items
    before_rows = _v2_user_rows(world)
    before_export = _export(world, "action-interactions-before")
    assert sum(_owner(line) == ERASED for line in before_export) == 18  # 17 bulk rows and one event

    source = world.tmp / "erase.csv"
    source.write_text(f"USER_ID\n{ERASED}\n")
    arn = world.client.create_data_deletion_job(
        jobName="erase-u0",
        datasetGroupArn=world.group,
        dataSource={"dataLocation": str(source)},
        roleArn=ROLE,
    )["dataDeletionJobArn"]
    job = wait_for_status(
        lambda: world.client.describe_data_deletion_job(dataDeletionJobArn=arn)["dataDeletionJob"],
        done=("COMPLETED", "FAILED"),
    )
    assert job["status"] == "COMPLETED" and job["numDeleted"] == 1, job

    assert _v2_user_rows(world) == {u: row for u, row in before_rows.items() if u != ERASED}
    assert _export(world, "action-interactions-after") == [x for x in before_export if _owner(x) != ERASED]
    assert _actions(world, ERASED) == cold_actions
    assert _items(world, ERASED) == cold_items
    for user in OTHERS:  # their own histories, features and per-user rows, unchanged
        assert _actions(world, user) == before_actions[user], user
        assert _items(world, user) == before_items[user], user
