"""Next best action through boto3, on planted data: users who took A mostly take B next (and C → D);
GetActionRecommendations ranks B first for them, live after PutActionInteractions; an expired action is never
returned; REPEAT_FREQUENCY holds an action back; ActionID filters; PutActions adds actions at once."""

from __future__ import annotations

import csv
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pertinent.config import load_settings
from tests.conftest import LiveServer, start_server, wait_for_status

DAY = 86400
NOW = int(time.time())
START = NOW - 400 * DAY
ACTIONS = "ABCDEFGH"
NEXT = {"A": "B", "C": "D"}


def _schema(name: str, fields: list[dict[str, Any]]) -> str:
    return json.dumps(
        {"type": "record", "name": name, "namespace": "com.amazonaws.personalize.schema", "fields": fields}
    )


SCHEMAS = {
    "Interactions": _schema(
        "Interactions",
        [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
        ],
    ),
    "Actions": _schema(
        "Actions",
        [
            {"name": "ACTION_ID", "type": "string"},
            {"name": "VALUE", "type": ["null", "long"]},
            {"name": "EXPIRATION_TIMESTAMP", "type": ["null", "long"]},
            {"name": "REPEAT_FREQUENCY", "type": ["null", "long"]},
            {"name": "CATEGORY", "type": "string", "categorical": True},
        ],
    ),
    "Action_Interactions": _schema(
        "ActionInteractions",
        [
            {"name": "USER_ID", "type": "string"},
            {"name": "ACTION_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
            {"name": "EVENT_TYPE", "type": "string"},
        ],
    ),
}


def write_data(tmp: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Returns the CSV files and each user's last TAKEN action."""
    rng = random.Random(11)
    files = {name: tmp / f"{name}.csv" for name in SCHEMAS}
    with files["Interactions"].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP"])
        for u in range(200):
            for k in range(6):
                writer.writerow([f"u{u}", f"i{rng.randrange(50)}", START + k * DAY])
    with files["Actions"].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ACTION_ID", "VALUE", "EXPIRATION_TIMESTAMP", "REPEAT_FREQUENCY", "CATEGORY"])
        for action in ACTIONS:
            expiration = NOW - DAY if action == "G" else ""
            repeat = 30 if action == "B" else ""
            writer.writerow([action, 10, expiration, repeat, "promo" if action == "H" else "core"])
    last: dict[str, str] = {}
    with files["Action_Interactions"].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["USER_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE"])
        ordinary = [a for a in ACTIONS if a != "G"]
        for u in range(200):
            user, ts = f"u{u}", START + rng.randrange(5) * DAY
            writer.writerow([user, "G", ts, "Taken"])  # everyone took G once: popular, now expired
            action = rng.choice("ACEFH")
            for _ in range(8):
                ts += 20 * DAY
                writer.writerow([user, action, ts, "Taken"])
                writer.writerow([user, rng.choice([a for a in ordinary if a != action]), ts, "Not taken"])
                last[user] = action
                if action in NEXT and rng.random() < 0.85:
                    action = NEXT[action]
                else:
                    action = rng.choice(ordinary)
    return files, last


@dataclass
class Nba:
    server: LiveServer
    client: Any
    runtime: Any
    events: Any
    group: str
    campaign: str
    tracking_id: str
    actions_dataset: str
    last_taken: dict[str, str]


@pytest.fixture(scope="module")
def nba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nba]:
    tmp = tmp_path_factory.mktemp("nba")
    server, stop = start_server(load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05))
    client = server.client()
    files, last = write_data(tmp)
    group = client.create_dataset_group(name="nba")["datasetGroupArn"]
    wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    datasets = {}
    for name, schema in SCHEMAS.items():
        schema_arn = client.create_schema(name=f"nba-{name}", schema=schema)["schemaArn"]
        dataset = client.create_dataset(
            name=f"nba-{name}", schemaArn=schema_arn, datasetGroupArn=group, datasetType=name.upper()
        )["datasetArn"]
        wait_for_status(lambda d=dataset: client.describe_dataset(datasetArn=d)["dataset"])
        job = client.create_dataset_import_job(
            jobName=f"nba-{name}", datasetArn=dataset, dataSource={"dataLocation": str(files[name])}
        )["datasetImportJobArn"]
        done = wait_for_status(
            lambda j=job: client.describe_dataset_import_job(datasetImportJobArn=j)["datasetImportJob"]
        )
        assert done["status"] == "ACTIVE", done
        datasets[name] = dataset
    tracker = client.create_event_tracker(name="nba-tracker", datasetGroupArn=group)
    wait_for_status(
        lambda: client.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    solution = client.create_solution(
        name="nba", datasetGroupArn=group, recipeArn="arn:aws:personalize:::recipe/aws-next-best-action"
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    record = wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"], timeout=300
    )
    assert record["status"] == "ACTIVE", record
    campaign = client.create_campaign(name="nba", solutionVersionArn=version)["campaignArn"]
    wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])
    yield Nba(
        server,
        client,
        server.client("personalize-runtime"),
        server.client("personalize-events"),
        group,
        campaign,
        tracker["trackingId"],
        datasets["Actions"],
        last,
    )
    stop()


def actions(answer: dict[str, Any]) -> list[str]:
    return [a["actionId"] for a in answer["actionList"]]


def test_users_who_took_a_get_b_first(nba: Nba) -> None:
    after = {a: [u for u, last in nba.last_taken.items() if last == a] for a in NEXT}
    for taken, expected in NEXT.items():
        assert len(after[taken]) >= 5
        for user in after[taken][:5]:
            answer = nba.runtime.get_action_recommendations(
                campaignArn=nba.campaign, userId=user, numResults=3
            )
            assert actions(answer)[0] == expected, (user, answer["actionList"])
            assert all(0.0 <= a["score"] <= 1.0 for a in answer["actionList"])
            assert answer["recommendationId"]


def test_an_action_interaction_changes_the_next_answer(nba: Nba) -> None:
    user = "fresh-user"
    nba.events.put_action_interactions(
        trackingId=nba.tracking_id,
        actionInteractions=[
            {"actionId": "C", "userId": user, "sessionId": "s1", "timestamp": NOW - 60, "eventType": "Taken"}
        ],
    )
    assert actions(nba.runtime.get_action_recommendations(campaignArn=nba.campaign, userId=user))[0] == "D"
    nba.events.put_action_interactions(
        trackingId=nba.tracking_id,
        actionInteractions=[
            {"actionId": "A", "userId": user, "sessionId": "s1", "timestamp": NOW - 30, "eventType": "Taken"}
        ],
    )
    assert actions(nba.runtime.get_action_recommendations(campaignArn=nba.campaign, userId=user))[0] == "B"


def test_expired_action_is_never_returned(nba: Nba) -> None:
    for user in list(nba.last_taken)[:20] + ["nobody"]:
        got = actions(
            nba.runtime.get_action_recommendations(campaignArn=nba.campaign, userId=user, numResults=100)
        )
        assert "G" not in got and len(got) == len(ACTIONS) - 1


def test_repeat_frequency_holds_an_action_back(nba: Nba) -> None:
    user = "repeat-user"

    def take(action: str, when: int) -> None:
        nba.events.put_action_interactions(
            trackingId=nba.tracking_id,
            actionInteractions=[
                {
                    "actionId": action,
                    "userId": user,
                    "sessionId": "s2",
                    "timestamp": when,
                    "eventType": "Taken",
                }
            ],
        )

    take("A", NOW - 120)
    assert actions(nba.runtime.get_action_recommendations(campaignArn=nba.campaign, userId=user))[0] == "B"
    take("B", NOW - 60)  # B repeats every 30 days at most
    take("A", NOW - 30)  # …so even right after A it is held back
    got = actions(
        nba.runtime.get_action_recommendations(campaignArn=nba.campaign, userId=user, numResults=100)
    )
    assert "B" not in got and "A" in got  # A has no REPEAT_FREQUENCY: it may come again
    old = "repeat-old"
    nba.events.put_action_interactions(
        trackingId=nba.tracking_id,
        actionInteractions=[
            {
                "actionId": "B",
                "userId": old,
                "sessionId": "s3",
                "timestamp": NOW - 40 * DAY,
                "eventType": "Taken",
            },
            {"actionId": "A", "userId": old, "sessionId": "s3", "timestamp": NOW - 60, "eventType": "Taken"},
        ],
    )
    assert "B" in actions(
        nba.runtime.get_action_recommendations(campaignArn=nba.campaign, userId=old, numResults=100)
    )


def test_action_filters_and_new_actions(nba: Nba) -> None:
    client = nba.client
    flt = client.create_filter(
        name="no-promo",
        datasetGroupArn=nba.group,
        filterExpression='EXCLUDE ActionID WHERE Actions.CATEGORY IN ("promo")',
    )["filterArn"]
    wait_for_status(lambda: client.describe_filter(filterArn=flt)["filter"])
    got = actions(
        nba.runtime.get_action_recommendations(
            campaignArn=nba.campaign, userId="u1", numResults=100, filterArn=flt
        )
    )
    assert "H" not in got and "A" in got
    nba.events.put_actions(
        datasetArn=nba.actions_dataset,
        actions=[{"actionId": "Z", "properties": json.dumps({"value": 99, "category": "core"})}],
    )
    answer = nba.runtime.get_action_recommendations(campaignArn=nba.campaign, userId="u1", numResults=100)
    scores = {a["actionId"]: a["score"] for a in answer["actionList"]}
    assert scores["Z"] == 0.0  # no interactions yet: recommended without a propensity, as AWS does
    nba.events.put_actions(
        datasetArn=nba.actions_dataset,
        actions=[
            {"actionId": "A", "properties": json.dumps({"expirationTimestamp": NOW - 10, "category": "core"})}
        ],
    )
    assert "A" not in actions(
        nba.runtime.get_action_recommendations(campaignArn=nba.campaign, userId="u1", numResults=100)
    )


def test_offline_metrics_and_unhappy_paths(nba: Nba) -> None:
    campaign = nba.client.describe_campaign(campaignArn=nba.campaign)["campaign"]
    metrics = nba.client.get_solution_metrics(solutionVersionArn=campaign["solutionVersionArn"])["metrics"]
    assert metrics["mean_reciprocal_rank_at_25"] > 0.35 and 0 < metrics["coverage"] <= 1.0
    assert set(metrics) >= {"precision_at_5", "normalized_discounted_cumulative_gain_at_10"}

    def code(call: Any, **kwargs: Any) -> str:
        with pytest.raises(ClientError) as error:
            call(**kwargs)
        return str(error.value.response["Error"]["Code"])

    rt = nba.runtime
    assert code(rt.get_recommendations, campaignArn=nba.campaign, userId="u1") == "InvalidInputException"
    assert code(rt.get_action_recommendations, campaignArn=nba.campaign) == "InvalidInputException"
    assert code(rt.get_action_recommendations, campaignArn=nba.campaign, userId="u1", numResults=101) == (
        "InvalidInputException"
    )
    missing = nba.campaign + "-gone"
    assert (
        code(rt.get_action_recommendations, campaignArn=missing, userId="u1") == "ResourceNotFoundException"
    )
    assert (
        code(
            nba.events.put_action_interactions,
            trackingId="nope",
            actionInteractions=[{"actionId": "A", "sessionId": "s", "timestamp": NOW, "eventType": "Taken"}],
        )
        == "InvalidInputException"
    )
    assert (
        code(
            nba.events.put_actions,
            datasetArn=nba.actions_dataset,
            actions=[{"actionId": "Y", "properties": "{not json"}],
        )
        == "InvalidInputException"
    )


def test_batch_inference_over_next_best_action_is_refused_as_in_personalize(nba: Nba) -> None:
    """AWS: "You can't get batch recommendations with the Trending-Now or Next-Best-Action recipes"."""
    version = nba.client.describe_campaign(campaignArn=nba.campaign)["campaign"]["solutionVersionArn"]
    with pytest.raises(ClientError) as info:
        nba.client.create_batch_inference_job(
            jobName="nba-batch",
            solutionVersionArn=version,
            jobInput={"s3DataSource": {"path": "/tmp/nba-batch-in/"}},
            jobOutput={"s3DataDestination": {"path": "/tmp/nba-batch-out/"}},
            roleArn="arn:aws:iam::000000000000:role/PersonalizeRole",
        )
    error = info.value.response["Error"]
    assert error["Code"] == "InvalidInputException"
    assert "Next-Best-Action" in error["Message"] and "GetActionRecommendations" in error["Message"]
    assert nba.client.list_batch_inference_jobs(solutionVersionArn=version)["batchInferenceJobs"] == []
