"""The v2 engine end to end through boto3: one click reacts on the very next request (long histories
too), anonymous sessions, context and user metadata used or refused, personalized-ranking-v2."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import pyarrow as pa
import pyarrow.csv as pv
import pytest

from pertinent.config import load_settings
from pertinent.datasets.planted import PlantedData, planted_data
from tests.conftest import LiveServer, start_server, wait_for_status


def _schema(name: str, fields: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "com.amazonaws.personalize.schema",
            "fields": fields,
            "version": "1.0",
        }
    )


INTERACTIONS = _schema(
    "Interactions",
    [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
        {"name": "IMPRESSION", "type": ["null", "string"]},
    ],
)
ITEMS = _schema(
    "Items", [{"name": "ITEM_ID", "type": "string"}, {"name": "GENRE", "type": "string", "categorical": True}]
)
USERS = _schema(
    "Users",
    [{"name": "USER_ID", "type": "string"}, {"name": "SEGMENT", "type": "string", "categorical": True}],
)


@dataclass
class Engine:
    server: LiveServer
    data: PlantedData
    client: Any
    runtime: Any
    events: Any
    campaign: str
    ranking: str
    unseen: str
    tracking_id: str
    group: str = ""


def _dataset(client: Any, group: str, kind: str, schema: str, table: pa.Table, tmp: Path) -> None:
    schema_arn = client.create_schema(name=f"v2-{kind}", schema=schema)["schemaArn"]
    arn = client.create_dataset(
        name=f"v2-{kind}", schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind
    )["datasetArn"]
    wait_for_status(lambda: client.describe_dataset(datasetArn=arn)["dataset"])
    path = tmp / f"{kind}.csv"
    pv.write_csv(table, path)
    job = client.create_dataset_import_job(
        jobName=f"v2-{kind}", datasetArn=arn, dataSource={"dataLocation": str(path)}
    )
    record = wait_for_status(
        lambda: client.describe_dataset_import_job(datasetImportJobArn=job["datasetImportJobArn"])[
            "datasetImportJob"
        ]
    )
    assert record["status"] == "ACTIVE", record


def _campaign(client: Any, group: str, recipe: str) -> str:
    solution = client.create_solution(
        name=recipe, datasetGroupArn=group, recipeArn=f"arn:aws:personalize:::recipe/{recipe}"
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    record = wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"], timeout=300
    )
    assert record["status"] == "ACTIVE", record.get("failureReason")
    campaign = client.create_campaign(name=recipe, solutionVersionArn=version)["campaignArn"]
    wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])
    return campaign


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    tmp = tmp_path_factory.mktemp("engine-v2")
    live, stop = start_server(load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05))
    client = live.client()
    data = planted_data(n_users=240, mean_events=40, sequential=0.7, context_signal=True, user_signal=True)
    group = client.create_dataset_group(name="v2")["datasetGroupArn"]
    wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    _dataset(client, group, "Interactions", INTERACTIONS, data.interactions, tmp)
    _dataset(client, group, "Items", ITEMS, data.items, tmp)
    _dataset(client, group, "Users", USERS, data.users, tmp)
    campaign = _campaign(client, group, "aws-user-personalization-v2")
    ranking = _campaign(client, group, "aws-personalized-ranking-v2")
    unseen = client.create_filter(
        name="unseen",
        datasetGroupArn=group,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
    )["filterArn"]
    wait_for_status(lambda: client.describe_filter(filterArn=unseen)["filter"])
    tracker = client.create_event_tracker(name="tracker", datasetGroupArn=group)
    wait_for_status(
        lambda: client.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    yield Engine(
        live,
        data,
        client,
        live.client("personalize-runtime"),
        live.client("personalize-events"),
        campaign,
        ranking,
        unseen,
        tracker["trackingId"],
        group,
    )
    stop()


def top(engine: Engine, user: str, **extra: Any) -> list[str]:
    answer = engine.runtime.get_recommendations(
        campaignArn=engine.campaign, userId=user, numResults=10, filterArn=engine.unseen, **extra
    )
    return [e["itemId"] for e in answer["itemList"]]


def history_clusters(engine: Engine, user: str) -> set[int]:
    table = engine.data.interactions
    items = [
        i
        for u, i in zip(table["USER_ID"].to_pylist(), table["ITEM_ID"].to_pylist(), strict=True)
        if u == user
    ]
    return {engine.data.cluster_of[i] for i in items}


def test_one_click_outside_the_users_taste_moves_related_items_into_the_top_10(engine: Engine) -> None:
    users = ["u3", "u17", "u42", "u88", "u150"]
    n_clusters = 1 + max(engine.data.cluster_of.values())
    for user in users:
        before = top(engine, user)
        assert len(before) == 10
        outside = next(c for c in range(n_clusters) if c not in history_clusters(engine, user))
        clicked = f"i{outside * 20}"
        engine.events.put_events(
            trackingId=engine.tracking_id,
            userId=user,
            sessionId=f"s-{user}",
            eventList=[
                {
                    "eventType": "click",
                    "itemId": clicked,
                    "sentAt": time.time(),
                    "properties": '{"device": "tv"}',
                }
            ],
        )
        after = top(engine, user)
        new = [i for i in after if i not in before]
        assert len(new) >= 2, (user, before, after)
        related = [i for i in new if engine.data.cluster_of[i] == outside]
        assert len(related) >= len(new) / 2, (user, clicked, new)
        assert clicked not in after  # the filter excludes what the user just clicked


def test_an_anonymous_session_gets_session_based_recommendations_from_its_first_event(engine: Engine) -> None:
    engine.events.put_events(
        trackingId=engine.tracking_id,
        sessionId="anon-1",
        eventList=[
            {
                "eventType": "click",
                "itemId": "i45",
                "sentAt": time.time(),
                "properties": '{"device": "mobile"}',
            }
        ],
    )
    answer = engine.runtime.get_recommendations(campaignArn=engine.campaign, userId="anon-1", numResults=10)
    items = [e["itemId"] for e in answer["itemList"]]
    same = [i for i in items if engine.data.cluster_of[i] == 2]
    assert len(same) >= 5, items
    assert "i46" in items[:3], items  # the planted successor


def test_context_changes_the_ranking_and_unknown_keys_are_refused(engine: Engine) -> None:
    tv = top(engine, "u5", context={"DEVICE": "tv"})
    mobile = top(engine, "u5", context={"DEVICE": "mobile"})
    assert tv != mobile
    half = lambda items: sum(int(i[1:]) % 20 < 10 for i in items)  # noqa: E731  tv items: first half of a cluster
    assert half(tv) > half(mobile), (tv, mobile)
    with pytest.raises(botocore.exceptions.ClientError, match="DEVICES.*valid keys: DEVICE"):
        top(engine, "u5", context={"DEVICES": "tv"})


def test_user_metadata_in_context_overrides_the_users_dataset(engine: Engine) -> None:
    own = top(engine, "newcomer-1")
    segment = top(engine, "newcomer-1", context={"SEGMENT": "s2"})
    assert own != segment


def test_personalized_ranking_v2_ranks_the_input_list_with_distinct_scores(engine: Engine) -> None:
    items = [f"i{i}" for i in range(0, 160, 7)]
    answer = engine.runtime.get_personalized_ranking(
        campaignArn=engine.ranking, userId="u3", inputList=items, context={"DEVICE": "tv"}
    )
    ranked = answer["personalizedRanking"]
    assert sorted(e["itemId"] for e in ranked) == sorted(items)
    scores = [e["score"] for e in ranked]
    assert scores == sorted(scores, reverse=True)
    assert abs(sum(scores) - 1.0) < 1e-3


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_explain_names_the_features_and_history_items_behind_a_recommendation(engine: Engine) -> None:
    user = "u7"
    item = top(engine, user)[0]
    query = urllib.parse.urlencode({"campaignArn": engine.campaign, "userId": user, "itemId": item})
    status, body = _get(f"{engine.server.url}/explain?{query}")
    assert status == 200, body
    assert body["itemId"] == item and body["recipe"] == "aws-user-personalization-v2"
    names = [f["name"] for f in body["features"]]
    assert names and all(isinstance(f["contribution"], float) for f in body["features"])
    history = {
        i
        for u, i in zip(
            *(engine.data.interactions[c].to_pylist() for c in ("USER_ID", "ITEM_ID")), strict=True
        )
        if u == user
    }
    related = [r["itemId"] for r in body["relatedHistory"]]
    assert related and set(related) <= history | {"i100", "i101"}  # history (plus events sent by other tests)
    bad = urllib.parse.urlencode({"campaignArn": engine.campaign, "userId": user})
    status, body = _get(f"{engine.server.url}/explain?{bad}")
    assert status == 400 and "itemId" in body["message"]
    missing = urllib.parse.urlencode({"campaignArn": engine.campaign, "userId": user, "itemId": "nope"})
    assert _get(f"{engine.server.url}/explain?{missing}")[0] == 404
    status, body = _get(f"{engine.server.url}/explain?{query}&context=DEVICE")
    assert status == 400, body


def _stored_impressions(engine: Engine, user: str) -> list[str]:
    store = engine.server.app.state.ctx.store
    return [json.loads(e["body"]).get("IMPRESSION") or "" for e in store.user_events(engine.group, user)]


def test_an_event_with_a_recommendation_id_and_no_impression_counts_that_list_as_shown(engine: Engine) -> None:
    user = "u11"
    answer = engine.runtime.get_recommendations(
        campaignArn=engine.campaign, userId=user, numResults=10, filterArn=engine.unseen
    )
    shown = [e["itemId"] for e in answer["itemList"]]  # none of them in the user's history
    rid = answer["recommendationId"]

    def send(**extra: Any) -> None:
        event = {"eventType": "click", "itemId": shown[0], "sentAt": time.time(), **extra}
        engine.events.put_events(trackingId=engine.tracking_id, userId=user, sessionId="s-imp", eventList=[event])

    send(recommendationId=rid)  # implicit: the 10 items that recommendation showed
    send(recommendationId=rid, impression=shown[:2])  # an explicit list is kept as sent
    send(recommendationId="RID-not-served-here")  # an ID this server never answered: no impressions
    assert _stored_impressions(engine, user)[-3:] == ["|".join(shown), "|".join(shown[:2]), ""]
    # the next request sees them: an item shown twice and not clicked carries that count (its signals)
    query = urllib.parse.urlencode({"campaignArn": engine.campaign, "userId": user, "itemId": shown[1]})
    status, body = _get(f"{engine.server.url}/explain?{query}")
    assert status == 200, body
    assert body["signals"]["impressions_without_click"] == 2.0, body["signals"]
    query = urllib.parse.urlencode({"campaignArn": engine.campaign, "userId": user, "itemId": shown[5]})
    assert _get(f"{engine.server.url}/explain?{query}")[1]["signals"]["impressions_without_click"] == 1.0
