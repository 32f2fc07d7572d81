"""Real-time serving through boto3: campaigns, events that change the very next answer, filters,
ranking, related items, exploration, campaign updates and the convenience endpoints."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pertinent.api.background import serve_in_background
from pertinent.config import load_settings
from tests.conftest import Group, LiveServer, free_port, make_group, start_server, wait_for_status


@dataclass
class Trained:
    server: LiveServer
    group: Group
    personalize: Any
    runtime: Any
    events: Any
    campaign: str  # user-personalization
    ranking: str  # personalized-ranking
    sims: str  # sims
    tracking_id: str
    solution: str


def _campaign(client: Any, group: Group, recipe: str, name: str, **config: Any) -> tuple[str, str]:
    solution = client.create_solution(
        name=name, datasetGroupArn=group.arn, recipeArn=f"arn:aws:personalize:::recipe/{recipe}"
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    record = wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"], timeout=300
    )
    assert record["status"] == "ACTIVE", record.get("failureReason")
    campaign = client.create_campaign(name=name, solutionVersionArn=version, **config)["campaignArn"]
    assert (
        wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])["status"]
        == "ACTIVE"
    )
    return campaign, solution


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    tmp = tmp_path_factory.mktemp("serving")
    live, stop = start_server(load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05))
    client = live.client()
    group = make_group(client, tmp, with_items=True)
    campaign, solution = _campaign(
        client,
        group,
        "aws-user-personalization",
        "up",
        campaignConfig={
            "enableMetadataWithRecommendations": True,
            "itemExplorationConfig": {"explorationWeight": "0"},
        },
    )
    ranking, _ = _campaign(client, group, "aws-personalized-ranking", "ranking")
    sims, _ = _campaign(client, group, "aws-sims", "sims")
    tracker = client.create_event_tracker(name="tracker", datasetGroupArn=group.arn)
    wait_for_status(
        lambda: client.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    yield Trained(
        live,
        group,
        client,
        live.client("personalize-runtime"),
        live.client("personalize-events"),
        campaign,
        ranking,
        sims,
        tracker["trackingId"],
        solution,
    )
    stop()


def item_ids(answer: dict[str, Any], key: str = "itemList") -> list[str]:
    return [entry["itemId"] for entry in answer[key]]


def parity(item: str) -> int:
    return int(item[1:]) % 2


def test_an_event_changes_the_very_next_recommendation(trained: Trained) -> None:
    before = item_ids(
        trained.runtime.get_recommendations(campaignArn=trained.campaign, userId="newcomer", numResults=10)
    )
    assert len(before) == 10
    trained.events.put_events(
        trackingId=trained.tracking_id,
        userId="newcomer",
        sessionId="s-newcomer",
        eventList=[
            {"eventType": "rating", "itemId": item, "sentAt": time.time()}
            for item in ("m2", "m4", "m6", "m8", "m10")
        ],
    )
    after = trained.runtime.get_recommendations(
        campaignArn=trained.campaign, userId="newcomer", numResults=10
    )
    assert after["recommendationId"].startswith("RID-")
    assert {parity(i) for i in item_ids(after)} == {0}, item_ids(after)  # only the taste group just shown
    assert item_ids(after) != before
    assert all(0.0 <= e["score"] <= 1.0 for e in after["itemList"])


def test_known_user_gets_their_taste_group(trained: Trained) -> None:
    answer = trained.runtime.get_recommendations(campaignArn=trained.campaign, userId="u1", numResults=10)
    assert {parity(i) for i in item_ids(answer)} == {1}  # u1 rated only odd items


def test_filters_on_interactions_and_items(trained: Trained) -> None:
    client = trained.personalize
    unseen = client.create_filter(
        name="unseen",
        datasetGroupArn=trained.group.arn,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("rating")',
    )
    genre = client.create_filter(
        name="genre",
        datasetGroupArn=trained.group.arn,
        filterExpression="INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)",
    )
    for arn in (unseen["filterArn"], genre["filterArn"]):
        wait_for_status(lambda arn=arn: client.describe_filter(filterArn=arn)["filter"])
    plain = item_ids(
        trained.runtime.get_recommendations(campaignArn=trained.campaign, userId="u3", numResults=25)
    )
    rated = set(
        trained.server.app.state.recommender.data.user_interactions(trained.group.arn).of("u3")[0].tolist()
    )
    assert rated & set(plain)  # without the filter, seen items may come back (as in Personalize)
    filtered = item_ids(
        trained.runtime.get_recommendations(
            campaignArn=trained.campaign, userId="u3", numResults=25, filterArn=unseen["filterArn"]
        )
    )
    assert not rated & set(filtered)
    first = filtered[0]
    trained.events.put_events(
        trackingId=trained.tracking_id,
        userId="u3",
        sessionId="s3",
        eventList=[{"eventType": "rating", "itemId": first, "sentAt": time.time()}],
    )
    again = item_ids(
        trained.runtime.get_recommendations(
            campaignArn=trained.campaign, userId="u3", numResults=25, filterArn=unseen["filterArn"]
        )
    )
    assert first not in again
    comedies = trained.runtime.get_recommendations(
        campaignArn=trained.campaign,
        userId="u3",
        numResults=10,
        filterArn=genre["filterArn"],
        filterValues={"GENRE": '"Comedy"'},
        metadataColumns={"ITEMS": ["GENRES", "TITLE"]},
    )
    assert comedies["itemList"]
    assert all("Comedy" in e["metadata"]["GENRES"].split("|") for e in comedies["itemList"])
    assert all(e["metadata"]["TITLE"].startswith("Movie ") for e in comedies["itemList"])
    with pytest.raises(trained.runtime.exceptions.InvalidInputException):
        trained.runtime.get_recommendations(
            campaignArn=trained.campaign,
            userId="u3",
            filterArn=genre["filterArn"],
            filterValues={"GENRE": '"Comedy'},
        )


def test_personalized_ranking_orders_by_taste_and_appends_unknown(trained: Trained) -> None:
    answer = trained.runtime.get_personalized_ranking(
        campaignArn=trained.ranking, userId="u5", inputList=["m2", "m3", "m4", "m5", "unknown-item", "m7"]
    )
    ranked = item_ids(answer, "personalizedRanking")
    assert ranked[-1] == "unknown-item"
    assert "score" not in answer["personalizedRanking"][-1]
    assert {parity(i) for i in ranked[:3]} == {1}  # u5 likes odd items
    assert sorted(ranked[:-1]) == ["m2", "m3", "m4", "m5", "m7"]


def test_related_items(trained: Trained) -> None:
    answer = trained.runtime.get_recommendations(campaignArn=trained.sims, itemId="m11", numResults=10)
    related = item_ids(answer)
    assert "m11" not in related and len(related) == 10
    assert sum(parity(i) for i in related) >= 8  # co-occurrence stays in the odd group
    assert all("score" not in e for e in answer["itemList"])


def test_unhappy_paths_answer_with_aws_error_classes_and_store_nothing(trained: Trained) -> None:
    runtime, events = trained.runtime, trained.events
    store = trained.server.app.state.ctx.store
    before = store.last_event_seq(trained.group.arn)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_recommendations(
            campaignArn="arn:aws:personalize:us-east-1:000000000000:campaign/none", userId="u1"
        )
    for n in (0, 501):
        with pytest.raises(runtime.exceptions.InvalidInputException):
            runtime.get_recommendations(campaignArn=trained.campaign, userId="u1", numResults=n)
    with pytest.raises(runtime.exceptions.InvalidInputException):
        runtime.get_recommendations(campaignArn=trained.campaign)  # no userId
    with pytest.raises(runtime.exceptions.InvalidInputException):
        runtime.get_personalized_ranking(
            campaignArn=trained.ranking, userId="u1", inputList=[f"m{i}" for i in range(501)]
        )
    eleven = [{"eventType": "rating", "itemId": "m1", "sentAt": time.time()}] * 11
    with pytest.raises(events.exceptions.InvalidInputException):
        events.put_events(trackingId=trained.tracking_id, userId="u1", sessionId="s", eventList=eleven)
    with pytest.raises(events.exceptions.InvalidInputException) as raised:
        events.put_events(
            trackingId=trained.tracking_id,
            userId="u1",
            sessionId="s",
            eventList=[
                {"eventType": "rating", "itemId": "m1", "sentAt": time.time()},
                {"eventType": "rating", "itemId": "m3", "sentAt": time.time(), "properties": "{not json"},
            ],
        )
    assert "Error parsing properties json" in raised.value.response["Error"]["Message"]
    with pytest.raises(events.exceptions.InvalidInputException):
        events.put_events(
            trackingId="no-such-tracker",
            userId="u1",
            sessionId="s",
            eventList=[{"eventType": "rating", "itemId": "m1", "sentAt": time.time()}],
        )
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.put_items(
            datasetArn="arn:aws:personalize:us-east-1:000000000000:dataset/none/ITEMS",
            items=[{"itemId": "x", "properties": "{}"}],
        )
    assert store.last_event_seq(trained.group.arn) == before  # nothing stored from any rejected request


@pytest.mark.parametrize("config", [{"explorationWeight": "5"}, {"explorationWeight": "nan"},
                                    {"explorationWeight": "-0.5"}, {"explorationItemAgeCutOff": "inf"},
                                    {"explorationItemAgeCutOff": "-1"}, {"explorationRate": "0.1"}])  # fmt: skip
def test_an_exploration_config_getrecommendations_would_refuse_is_refused_at_once(
    trained: Trained, config: dict[str, str]
) -> None:
    """Refused by CreateCampaign and UpdateCampaign, not accepted to break every later request (a NaN weight
    was a 500 there)."""
    client = trained.personalize
    version = client.describe_campaign(campaignArn=trained.campaign)["campaign"]["solutionVersionArn"]
    with pytest.raises(client.exceptions.InvalidInputException) as raised:
        client.create_campaign(
            name="bad-exploration",
            solutionVersionArn=version,
            campaignConfig={"itemExplorationConfig": config},
        )
    assert "itemExplorationConfig" in raised.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.InvalidInputException):
        client.update_campaign(campaignArn=trained.campaign, campaignConfig={"itemExplorationConfig": config})
    assert "bad-exploration" not in [c["name"] for c in client.list_campaigns()["campaigns"]]
    assert trained.runtime.get_recommendations(campaignArn=trained.campaign, userId="u1")["itemList"]


def test_anonymous_session_merges_into_the_user(trained: Trained) -> None:
    trained.events.put_events(
        trackingId=trained.tracking_id,
        sessionId="anon-1",
        eventList=[
            {"eventType": "rating", "itemId": item, "sentAt": time.time()} for item in ("m12", "m14", "m16")
        ],
    )
    trained.events.put_events(
        trackingId=trained.tracking_id,
        userId="signed-up",
        sessionId="anon-1",
        eventList=[{"eventType": "rating", "itemId": "m18", "sentAt": time.time()}],
    )
    history = trained.server.app.state.ctx.store.user_events(trained.group.arn, "signed-up")
    assert [e["item_id"] for e in history] == ["m12", "m14", "m16", "m18"]
    answer = trained.runtime.get_recommendations(
        campaignArn=trained.campaign, userId="signed-up", numResults=5
    )
    assert {parity(i) for i in item_ids(answer)} == {0}


def test_new_items_are_explored_without_retraining(trained: Trained) -> None:
    client = trained.personalize
    trained.events.put_items(
        datasetArn=trained.group.items_arn,
        items=[
            {
                "itemId": "brand-new",
                "properties": json.dumps({"genres": "Comedy|Drama", "title": "A new film", "year": 2026}),
            }
        ],
    )
    explorer, _ = _campaign(
        client,
        trained.group,
        "aws-user-personalization",
        "explorer",
        campaignConfig={
            "itemExplorationConfig": {"explorationWeight": "0.2", "explorationItemAgeCutOff": "30"}
        },
    )
    answer = item_ids(trained.runtime.get_recommendations(campaignArn=explorer, userId="u7", numResults=10))
    assert "brand-new" in answer
    plain = item_ids(
        trained.runtime.get_recommendations(campaignArn=trained.campaign, userId="u7", numResults=10)
    )
    assert "brand-new" not in plain  # explorationWeight 0 on the first campaign


def test_update_campaign_swaps_without_failed_requests(trained: Trained) -> None:
    client = trained.personalize
    new_version = client.create_solution_version(solutionArn=trained.solution)["solutionVersionArn"]
    wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=new_version)["solutionVersion"],
        timeout=300,
    )
    failures: list[BaseException] = []
    answered = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal answered
        runtime = trained.server.client("personalize-runtime")
        while not stop.is_set():
            try:
                runtime.get_recommendations(campaignArn=trained.campaign, userId="u9", numResults=5)
                answered += 1
            except Exception as exc:
                failures.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    client.update_campaign(campaignArn=trained.campaign, solutionVersionArn=new_version)
    deadline = time.monotonic() + 300  # generous: the new version loads on a possibly loaded machine
    while (
        client.describe_campaign(campaignArn=trained.campaign)["campaign"]["solutionVersionArn"]
        != new_version
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    assert answered > 10
    assert trained.server.app.state.recommender.campaigns.get(trained.campaign).version_arn == new_version


def test_convenience_endpoints(trained: Trained) -> None:
    url = f"{trained.server.url}/getRecommendations?campaignArn={trained.campaign}&userId=u11&numResults=3"
    with urllib.request.urlopen(url) as response:
        answer = json.loads(response.read())
    assert len(answer["itemList"]) == 3
    body = json.dumps(
        {
            "userId": "u11",
            "itemId": "m40",
            "eventType": "click",
            "sentAt": time.time(),
            "trackingId": trained.tracking_id,
        }
    ).encode()
    request = urllib.request.Request(
        f"{trained.server.url}/data", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        assert json.loads(response.read()) == {"status": "recorded"}
    history = trained.server.app.state.ctx.store.user_events(trained.group.arn, "u11")
    assert history[-1]["item_id"] == "m40" and history[-1]["event_type"] == "click"
    bad = urllib.request.Request(f"{trained.server.url}/data", data=b'{"userId": "u11"}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(bad)
    assert raised.value.code == 400
    assert raised.value.headers["x-amzn-ErrorType"] == "InvalidInputException"


def test_promotions(trained: Trained) -> None:
    client = trained.personalize
    promo = client.create_filter(
        name="promo-even",
        datasetGroupArn=trained.group.arn,
        filterExpression='INCLUDE ItemID WHERE Items.GENRES IN ("Horror")',
    )
    wait_for_status(lambda: client.describe_filter(filterArn=promo["filterArn"])["filter"])
    answer = trained.runtime.get_recommendations(
        campaignArn=trained.campaign,
        userId="u13",
        numResults=10,
        promotions=[{"name": "horror-night", "percentPromotedItems": 30, "filterArn": promo["filterArn"]}],
    )
    promoted = [e for e in answer["itemList"] if e.get("promotionName") == "horror-night"]
    assert len(promoted) == 3
    assert len(answer["itemList"]) == 10
    assert len(set(item_ids(answer))) == 10


def test_an_event_sent_to_one_replica_changes_the_next_answer_from_another(trained: Trained) -> None:
    settings = dataclasses.replace(trained.server.settings, port=free_port())
    other = serve_in_background(settings, role="api")  # same database and data folder, no worker
    try:
        replica = LiveServer(other.url, settings, other.app)
        runtime_b = replica.client("personalize-runtime")
        before = item_ids(
            runtime_b.get_recommendations(campaignArn=trained.campaign, userId="roamer", numResults=10)
        )
        trained.events.put_events(
            trackingId=trained.tracking_id,
            userId="roamer",
            sessionId="s-roamer",
            eventList=[
                {"eventType": "rating", "itemId": i, "sentAt": time.time()}
                for i in ("m20", "m22", "m24", "m26")
            ],
        )  # sent to replica A
        after = item_ids(
            runtime_b.get_recommendations(campaignArn=trained.campaign, userId="roamer", numResults=10)
        )
        assert after != before
        assert {parity(i) for i in after} == {0}
    finally:
        other.stop()
