"""Domain recommenders through boto3: every ECOMMERCE use case on planted purchase/view data, a
VIDEO_ON_DEMAND recommender, the lifecycle (Stop → refused → Start → served) and unhappy paths."""

from __future__ import annotations

import csv
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pertinent.config import load_settings
from tests.conftest import LiveServer, start_server, wait_for_status

RECIPE = "arn:aws:personalize:::recipe/"
N_USERS, N_ITEMS = 100, 100
BEST_SELLER, MOST_VIEWED = "i7", "i42"
TRENDING = "v1"


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
    ],
)
ECOMM_ITEMS = _schema(
    "Items",
    [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "PRICE", "type": "float"},
        {"name": "CATEGORY_L1", "type": "string", "categorical": True},
    ],
)
VOD_ITEMS = _schema(
    "Items",
    [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRES", "type": "string", "categorical": True},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
    ],
)


def purchase_cluster(item: str) -> int:
    return int(item[1:]) % 10


def view_cluster(item: str) -> int:
    return int(item[1:]) // 10


def write_ecommerce(path: Path) -> dict[str, set[str]]:
    """User u buys from purchase cluster u % 10 (items with the same id % 10) and views view cluster
    (u // 10) % 10 (same id // 10): the two kinds of co-occurrence disagree, so a model trained on the
    wrong events is visible. Everyone also buys i7 and views i42. Returns each user's purchases."""
    rng = random.Random(3)
    purchases: dict[str, set[str]] = {}
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])
        for u in range(N_USERS):
            user = f"u{u}"
            bought = [f"i{c * 10 + u % 10}" for c in rng.sample(range(10), 6)] * 2 + [BEST_SELLER]
            viewed = [f"i{(u // 10) % 10 * 10 + c}" for c in range(10)] * 2 + [MOST_VIEWED]
            purchases[user] = set(bought)
            ts = 1_600_000_000 + u * 1000
            for k, item in enumerate(viewed):
                writer.writerow([user, item, ts + k, "View"])
            for k, item in enumerate(bought):
                writer.writerow([user, item, ts + 100 + k, "Purchase"])
    return purchases


def write_vod(path: Path, items_path: Path, event_type: str = "Watch") -> dict[str, set[str]]:
    rng = random.Random(5)
    watched: dict[str, set[str]] = {}
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])
        for u in range(60):
            pool = [f"v{i}" for i in range(80) if i % 2 == u % 2]
            items = rng.sample(pool, 25)
            watched[f"u{u}"] = set(items)
            for k, item in enumerate(items):
                writer.writerow([f"u{u}", item, 1_600_000_000 + u * 100 + k, event_type])
        for u in range(1, 13, 2):  # a late burst: v1 trends in the newest two-hour window
            writer.writerow([f"u{u}", TRENDING, 1_600_020_000 + u, event_type])
            watched[f"u{u}"].add(TRENDING)
    with items_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ITEM_ID", "GENRES", "CREATION_TIMESTAMP"])
        for i in range(80):
            writer.writerow([f"v{i}", "Drama" if i % 2 else "Comedy", 1_500_000_000 + i])
    return watched


def make_domain_group(
    client: Any, name: str, domain: str, interactions: Path, items: Path | None, items_schema: str
) -> str:
    group = client.create_dataset_group(name=name, domain=domain)["datasetGroupArn"]
    wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    for dataset_type, schema, data in (
        ("Interactions", INTERACTIONS, interactions),
        ("Items", items_schema, items),
    ):
        if data is None:
            continue
        schema_arn = client.create_schema(name=f"{name}-{dataset_type}", schema=schema, domain=domain)[
            "schemaArn"
        ]
        dataset = client.create_dataset(
            name=f"{name}-{dataset_type}",
            schemaArn=schema_arn,
            datasetGroupArn=group,
            datasetType=dataset_type,
        )["datasetArn"]
        wait_for_status(lambda d=dataset: client.describe_dataset(datasetArn=d)["dataset"])
        job = client.create_dataset_import_job(
            jobName=f"{name}-{dataset_type}", datasetArn=dataset, dataSource={"dataLocation": str(data)}
        )["datasetImportJobArn"]
        done = wait_for_status(
            lambda j=job: client.describe_dataset_import_job(datasetImportJobArn=j)["datasetImportJob"]
        )
        assert done["status"] == "ACTIVE", done
    return group


@dataclass
class Domains:
    server: LiveServer
    client: Any
    runtime: Any
    ecommerce: str
    vod: str
    recommenders: dict[str, str]
    purchases: dict[str, set[str]]
    watched: dict[str, set[str]]
    watches: Counter[str]  # Watch events per video


ECOMMERCE_USE_CASES = (
    "aws-ecomm-popular-items-by-views",
    "aws-ecomm-popular-items-by-purchases",
    "aws-ecomm-frequently-bought-together",
    "aws-ecomm-customers-who-viewed-x-also-viewed",
    "aws-ecomm-recommended-for-you",
)


VOD_USE_CASES = (
    "aws-vod-top-picks",
    "aws-vod-more-like-x",
    "aws-vod-because-you-watched-x",
    "aws-vod-most-popular",
    "aws-vod-trending-now",
)


@pytest.fixture(scope="module")
def domains(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Domains]:
    tmp = tmp_path_factory.mktemp("domains")
    settings = load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05)
    server, stop = start_server(settings)
    client, runtime = server.client(), server.client("personalize-runtime")
    ecomm_csv, vod_csv, vod_items = tmp / "ecomm.csv", tmp / "vod.csv", tmp / "vod-items.csv"
    purchases = write_ecommerce(ecomm_csv)
    watched = write_vod(vod_csv, vod_items)
    ecomm_items = tmp / "ecomm-items.csv"
    with ecomm_items.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ITEM_ID", "PRICE", "CATEGORY_L1"])
        for i in range(N_ITEMS):
            writer.writerow([f"i{i}", 1.5 + i, f"cat{i % 4}"])
    ecommerce = make_domain_group(client, "shop", "ECOMMERCE", ecomm_csv, ecomm_items, ECOMM_ITEMS)
    vod = make_domain_group(client, "tv", "VIDEO_ON_DEMAND", vod_csv, vod_items, VOD_ITEMS)
    recommenders = {}
    for use_case in ECOMMERCE_USE_CASES:
        recommenders[use_case] = client.create_recommender(
            name=use_case.replace("aws-ecomm-", "shop-"),
            datasetGroupArn=ecommerce,
            recipeArn=RECIPE + use_case,
            recommenderConfig={
                "enableMetadataWithRecommendations": True,
                "minRecommendationRequestsPerSecond": 2,
            },
        )["recommenderArn"]
    for use_case in VOD_USE_CASES:
        recommenders[use_case] = client.create_recommender(
            name=use_case.replace("aws-vod-", "tv-"), datasetGroupArn=vod, recipeArn=RECIPE + use_case
        )["recommenderArn"]
    for arn in recommenders.values():
        record = wait_for_status(
            lambda arn=arn: client.describe_recommender(recommenderArn=arn)["recommender"], timeout=300
        )
        assert record["status"] == "ACTIVE", record
    with vod_csv.open(newline="") as f:
        watches = Counter(row["ITEM_ID"] for row in csv.DictReader(f) if row["EVENT_TYPE"] == "Watch")
    yield Domains(server, client, runtime, ecommerce, vod, recommenders, purchases, watched, watches)
    stop()


def items(answer: dict[str, Any]) -> list[str]:
    return [entry["itemId"] for entry in answer["itemList"]]


def test_describe_and_list_recommenders(domains: Domains) -> None:
    arn = domains.recommenders["aws-ecomm-recommended-for-you"]
    record = domains.client.describe_recommender(recommenderArn=arn)["recommender"]
    assert record["recipeArn"] == RECIPE + "aws-ecomm-recommended-for-you"
    assert record["datasetGroupArn"] == domains.ecommerce
    assert record["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 2
    assert 0.0 <= record["modelMetrics"]["precision_at_5"] <= 1.0
    assert set(record["modelMetrics"]) >= {"coverage", "normalized_discounted_cumulative_gain_at_10"}
    listed = domains.client.list_recommenders(datasetGroupArn=domains.ecommerce)["recommenders"]
    assert {r["recommenderArn"] for r in listed} == {domains.recommenders[u] for u in ECOMMERCE_USE_CASES}
    assert all(r["status"] == "ACTIVE" for r in listed)


def test_popular_items_by_views_and_by_purchases_count_their_own_event_type(domains: Domains) -> None:
    views = items(
        domains.runtime.get_recommendations(
            recommenderArn=domains.recommenders["aws-ecomm-popular-items-by-views"], userId="u1", numResults=5
        )
    )
    purchases = items(
        domains.runtime.get_recommendations(
            recommenderArn=domains.recommenders["aws-ecomm-popular-items-by-purchases"],
            userId="u1",
            numResults=5,
        )
    )
    assert views[0] == MOST_VIEWED and BEST_SELLER not in views
    assert purchases[0] == BEST_SELLER and MOST_VIEWED not in purchases


def test_frequently_bought_together_learns_only_from_purchases(domains: Domains) -> None:
    arn = domains.recommenders["aws-ecomm-frequently-bought-together"]
    for item in ("i13", "i25", "i58"):
        answer = domains.runtime.get_recommendations(recommenderArn=arn, itemId=item, numResults=8)
        got = items(answer)
        assert got and all("score" not in entry for entry in answer["itemList"])  # domain answers: no scores
        assert MOST_VIEWED not in got  # viewed by everyone, bought by no one
        together = [i for i in got if i != BEST_SELLER]
        assert sum(purchase_cluster(i) == purchase_cluster(item) for i in together[:5]) >= 4, got
    with pytest.raises(ClientError) as error:
        domains.runtime.get_recommendations(recommenderArn=arn, userId="u1")
    assert error.value.response["Error"]["Code"] == "InvalidInputException"
    assert "itemId" in error.value.response["Error"]["Message"]


def test_customers_who_viewed_x_learns_from_views_and_leaves_out_purchases(domains: Domains) -> None:
    arn = domains.recommenders["aws-ecomm-customers-who-viewed-x-also-viewed"]
    got = items(domains.runtime.get_recommendations(recommenderArn=arn, itemId="i13", numResults=8))
    assert sum(view_cluster(i) == view_cluster("i13") for i in got[:5]) >= 4, got
    user = "u0"  # views view-cluster 0 (i0…i9), buys some of them (i0 is purchase cluster 0)
    got = items(
        domains.runtime.get_recommendations(recommenderArn=arn, itemId="i3", userId=user, numResults=20)
    )
    assert got and not set(got) & domains.purchases[user]


def test_recommended_for_you_needs_a_user_and_leaves_out_purchases(domains: Domains) -> None:
    arn = domains.recommenders["aws-ecomm-recommended-for-you"]
    for user in ("u3", "u44", "u87"):
        answer = domains.runtime.get_recommendations(
            recommenderArn=arn,
            userId=user,
            numResults=10,
            metadataColumns={"ITEMS": ["PRICE", "CATEGORY_L1"]},
        )
        got = items(answer)
        assert len(got) == 10 and not set(got) & domains.purchases[user]
        assert set(answer["itemList"][0]["metadata"]) == {"PRICE", "CATEGORY_L1"}
        assert answer["recommendationId"]
    with pytest.raises(ClientError) as error:
        domains.runtime.get_recommendations(recommenderArn=arn)
    assert "userId" in error.value.response["Error"]["Message"]


def test_video_on_demand_top_picks_leaves_out_watched_videos(domains: Domains) -> None:
    arn = domains.recommenders["aws-vod-top-picks"]
    for user in ("u2", "u5"):
        got = items(domains.runtime.get_recommendations(recommenderArn=arn, userId=user, numResults=10))
        assert len(got) == 10 and not set(got) & domains.watched[user]
        same_taste = sum(int(i[1:]) % 2 == int(user[1:]) % 2 for i in got)
        assert same_taste >= 8, got
    more_like = items(
        domains.runtime.get_recommendations(
            recommenderArn=domains.recommenders["aws-vod-more-like-x"],
            itemId="v4",
            userId="u1",
            numResults=10,
        )
    )
    assert more_like and not set(more_like) & domains.watched["u1"]


def test_video_on_demand_because_you_watched_most_popular_and_trending_now(domains: Domains) -> None:
    runtime, recs = domains.runtime, domains.recommenders
    because = runtime.get_recommendations(
        recommenderArn=recs["aws-vod-because-you-watched-x"], itemId="v4", userId="u2", numResults=10
    )
    got = items(because)
    assert len(got) == 10 and not set(got) & domains.watched["u2"]  # watched videos are left out
    assert sum(int(i[1:]) % 2 == 0 for i in got) >= 8, got  # co-watched with v4: the even videos
    assert all("score" not in entry for entry in because["itemList"])
    popular = items(runtime.get_recommendations(recommenderArn=recs["aws-vod-most-popular"], numResults=5))
    assert domains.watches[popular[0]] == max(domains.watches.values()), (popular, domains.watches)
    assert [domains.watches[i] for i in popular] == sorted(
        (domains.watches[i] for i in popular), reverse=True
    )
    trending = items(runtime.get_recommendations(recommenderArn=recs["aws-vod-trending-now"], numResults=5))
    assert trending[0] == TRENDING and TRENDING != popular[0]
    same = runtime.get_recommendations(recommenderArn=recs["aws-vod-trending-now"], userId="u9", numResults=5)
    assert items(same) == trending  # not personalized


def test_filters_apply_to_recommender_answers(domains: Domains) -> None:
    client, runtime = domains.client, domains.runtime
    category = client.create_filter(
        name="shop-category",
        datasetGroupArn=domains.ecommerce,
        filterExpression="INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CATEGORY)",
    )["filterArn"]
    no_comedy = client.create_filter(
        name="tv-no-comedy",
        datasetGroupArn=domains.vod,
        filterExpression='EXCLUDE ItemID WHERE Items.GENRES IN ("Comedy")',
    )["filterArn"]
    for arn in (category, no_comedy):
        wait_for_status(lambda arn=arn: client.describe_filter(filterArn=arn)["filter"])
    answer = runtime.get_recommendations(
        recommenderArn=domains.recommenders["aws-ecomm-recommended-for-you"],
        userId="u3",
        numResults=10,
        filterArn=category,
        filterValues={"CATEGORY": '"cat2"'},
    )
    assert len(items(answer)) == 10 and all(int(i[1:]) % 4 == 2 for i in items(answer)), items(answer)
    answer = runtime.get_recommendations(
        recommenderArn=domains.recommenders["aws-vod-most-popular"], numResults=10, filterArn=no_comedy
    )
    assert len(items(answer)) == 10 and all(int(i[1:]) % 2 == 1 for i in items(answer))  # Drama only
    with pytest.raises(ClientError) as error:
        runtime.get_recommendations(
            recommenderArn=domains.recommenders["aws-ecomm-recommended-for-you"],
            userId="u3",
            filterArn=category,
        )
    assert error.value.response["Error"]["Code"] == "InvalidInputException"  # $CATEGORY has no value


def test_stop_refuses_requests_until_start(domains: Domains) -> None:
    client, arn = domains.client, domains.recommenders["aws-vod-top-picks"]
    client.stop_recommender(recommenderArn=arn)
    record = wait_for_status(
        lambda: client.describe_recommender(recommenderArn=arn)["recommender"], ("INACTIVE",)
    )
    assert "modelMetrics" in record
    with pytest.raises(ClientError) as error:
        domains.runtime.get_recommendations(recommenderArn=arn, userId="u2")
    assert error.value.response["Error"]["Code"] == "InvalidInputException"
    assert "INACTIVE" in error.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as error:
        client.stop_recommender(recommenderArn=arn)
    assert error.value.response["Error"]["Code"] == "InvalidInputException"
    client.start_recommender(recommenderArn=arn)
    wait_for_status(lambda: client.describe_recommender(recommenderArn=arn)["recommender"], ("ACTIVE",))
    assert items(domains.runtime.get_recommendations(recommenderArn=arn, userId="u2", numResults=3))


def test_update_recommender_exploration_and_training_data_config(domains: Domains) -> None:
    client, arn = domains.client, domains.recommenders["aws-ecomm-recommended-for-you"]
    before = client.describe_recommender(recommenderArn=arn)["recommender"]
    client.update_recommender(
        recommenderArn=arn,
        recommenderConfig={
            "itemExplorationConfig": {"explorationWeight": "0.0"},
            "trainingDataConfig": {"excludedDatasetColumns": {"Items": ["PRICE"]}},
        },
    )
    record = wait_for_status(
        lambda: client.describe_recommender(recommenderArn=arn)["recommender"]["latestRecommenderUpdate"],
        ("ACTIVE", "CREATE FAILED"),
        timeout=300,
    )
    assert record["status"] == "ACTIVE", record
    after = client.describe_recommender(recommenderArn=arn)["recommender"]
    assert after["status"] == "ACTIVE"
    assert after["recommenderConfig"]["itemExplorationConfig"] == {"explorationWeight": "0.0"}
    assert after["recommenderConfig"]["trainingDataConfig"]["excludedDatasetColumns"] == {"Items": ["PRICE"]}
    assert after["creationDateTime"] == before["creationDateTime"]
    assert items(domains.runtime.get_recommendations(recommenderArn=arn, userId="u3", numResults=3))
    with pytest.raises(ClientError) as error:
        client.update_recommender(
            recommenderArn=arn,
            recommenderConfig={
                "trainingDataConfig": {"excludedDatasetColumns": {"Interactions": ["USER_ID"]}}
            },
        )
    assert error.value.response["Error"]["Code"] == "InvalidInputException"


def test_unhappy_paths(domains: Domains) -> None:
    client = domains.client

    def code(call: Any, **kwargs: Any) -> str:
        with pytest.raises(ClientError) as error:
            call(**kwargs)
        return str(error.value.response["Error"]["Code"])

    assert (
        code(
            client.create_recommender,
            name="x",
            datasetGroupArn=domains.ecommerce,
            recipeArn=RECIPE + "aws-vod-top-picks",
        )
        == "InvalidInputException"
    )  # wrong domain
    assert (
        code(
            client.create_recommender,
            name="x",
            datasetGroupArn=domains.ecommerce,
            recipeArn=RECIPE + "aws-user-personalization",
        )
        == "InvalidInputException"
    )  # not a use case
    assert (
        code(
            client.create_recommender,
            name="x",
            datasetGroupArn=domains.ecommerce,
            recipeArn=RECIPE + "aws-nope",
        )
        == "ResourceNotFoundException"
    )
    assert (
        code(
            client.create_recommender,
            name="shop-recommended-for-you",
            datasetGroupArn=domains.ecommerce,
            recipeArn=RECIPE + "aws-ecomm-recommended-for-you",
        )
        == "ResourceAlreadyExistsException"
    )
    assert (
        code(
            client.create_solution,
            name="s",
            datasetGroupArn=domains.ecommerce,
            recipeArn=RECIPE + "aws-ecomm-recommended-for-you",
        )
        == "InvalidInputException"
    )
    missing = domains.recommenders["aws-vod-top-picks"].replace("tv-top-picks", "gone")
    assert code(client.describe_recommender, recommenderArn=missing) == "ResourceNotFoundException"
    assert (
        code(domains.runtime.get_recommendations, recommenderArn=missing, userId="u1")
        == "ResourceNotFoundException"
    )
    assert code(domains.runtime.get_recommendations, userId="u1") == "InvalidInputException"
    with pytest.raises(ClientError) as error:  # tv-most-popular was created without metadata enabled
        domains.runtime.get_recommendations(
            recommenderArn=domains.recommenders["aws-vod-most-popular"], metadataColumns={"ITEMS": ["GENRES"]}
        )
    assert "recommenderConfig.enableMetadataWithRecommendations" in error.value.response["Error"]["Message"]
    assert code(client.start_recommender, recommenderArn=domains.recommenders["aws-vod-more-like-x"]) == (
        "InvalidInputException"
    )
    assert code(client.delete_dataset_group, datasetGroupArn=domains.vod) == "ResourceInUseException"
    for exploration in (
        {"explorationWeight": "5"},
        {"explorationWeight": "nan"},
        {"explorationItemAgeCutOff": "-1"},
    ):
        assert (
            code(
                client.create_recommender,
                name="bad-exploration",
                datasetGroupArn=domains.vod,
                recipeArn=RECIPE + "aws-vod-top-picks",
                recommenderConfig={"itemExplorationConfig": exploration},
            )
            == "InvalidInputException"
        )  # as GetRecommendations would refuse it on every request (NaN was a 500 there)
        assert (
            code(
                client.update_recommender,
                recommenderArn=domains.recommenders["aws-vod-top-picks"],
                recommenderConfig={"itemExplorationConfig": exploration},
            )
            == "InvalidInputException"
        )


def test_a_use_case_without_its_event_type_fails_with_a_reason(domains: Domains, tmp_path: Path) -> None:
    client = domains.client
    clicks, vod_items = tmp_path / "clicks.csv", tmp_path / "items.csv"
    write_vod(clicks, vod_items, event_type="Click")
    group = make_domain_group(client, "clicks", "VIDEO_ON_DEMAND", clicks, vod_items, VOD_ITEMS)
    arn = client.create_recommender(
        name="clicks-because", datasetGroupArn=group, recipeArn=RECIPE + "aws-vod-because-you-watched-x"
    )["recommenderArn"]
    record = wait_for_status(
        lambda: client.describe_recommender(recommenderArn=arn)["recommender"], timeout=300
    )
    assert record["status"] == "CREATE FAILED"
    assert "Watch" in record["failureReason"] and "1000" in record["failureReason"]
    assert "modelMetrics" not in record
    client.delete_recommender(recommenderArn=arn)
    with pytest.raises(ClientError) as error:
        client.describe_recommender(recommenderArn=arn)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_active_recommenders_are_queued_for_retraining_once_the_interval_passed(tmp_path: Path) -> None:
    from pertinent.control.context import Context
    from pertinent.control.recommenders import RETRAIN_JOB, queue_due_retraining
    from pertinent.store import MetadataStore

    now = [1_700_000_000.0]
    settings = load_settings(data_dir=tmp_path, recommender_retrain_seconds=7 * 86400.0)
    store = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    ctx = Context(settings=settings, store=store, clock=lambda: now[0])
    for name, status in (("fresh", "ACTIVE"), ("stopped", "INACTIVE")):
        arn = ctx.arn("recommender", name)
        record = {"recommender_arn": arn, "name": name, "status": status, "last_trained": now[0],
                  "creation_date_time": now[0]}  # fmt: skip
        store.insert("recommender", arn, record)
    assert queue_due_retraining(ctx) == []
    now[0] += 7 * 86400.0 + 1
    assert queue_due_retraining(ctx) == [ctx.arn("recommender", "fresh")]  # an INACTIVE one is not retrained
    job = store.claim((RETRAIN_JOB,))
    assert job is not None and job.arn == ctx.arn("recommender", "fresh")
    assert queue_due_retraining(ctx) == []  # the clock restarted when it was queued
    store.close()


def test_automatic_retraining_learns_the_events_streamed_since(tmp_path: Path) -> None:
    """End to end: with a short retrain interval the worker retrains an ACTIVE recommender on its own, on the
    bulk data plus the events streamed since, and the recommender keeps serving meanwhile."""
    settings = load_settings(
        data_dir=tmp_path / "data", worker_poll_seconds=0.05, recommender_retrain_seconds=3.0
    )
    server, stop = start_server(settings)
    try:
        client, runtime = server.client(), server.client("personalize-runtime")
        events = server.client("personalize-events")
        write_ecommerce(tmp_path / "shop.csv")
        group = make_domain_group(client, "retrain", "ECOMMERCE", tmp_path / "shop.csv", None, ECOMM_ITEMS)
        arn = client.create_recommender(
            name="retrain-views", datasetGroupArn=group, recipeArn=RECIPE + "aws-ecomm-popular-items-by-views"
        )["recommenderArn"]
        first = wait_for_status(
            lambda: client.describe_recommender(recommenderArn=arn)["recommender"], timeout=300
        )
        assert first["status"] == "ACTIVE", first
        assert items(runtime.get_recommendations(recommenderArn=arn, numResults=3))[0] == MOST_VIEWED
        tracking_id = client.create_event_tracker(name="retrain", datasetGroupArn=group)["trackingId"]
        for n in range(130):  # views of i99 by 130 users, more than MOST_VIEWED's 100 viewers
            events.put_events(
                trackingId=tracking_id,
                userId=f"fan{n}",
                sessionId=f"s{n}",
                eventList=[{"eventType": "View", "itemId": "i99", "sentAt": 1_700_000_000 + n}],
            )
        deadline = time.monotonic() + 300
        while items(runtime.get_recommendations(recommenderArn=arn, numResults=3))[0] != "i99":
            assert time.monotonic() < deadline, "the recommender was not retrained on the streamed views"
            time.sleep(0.5)
        record = client.describe_recommender(recommenderArn=arn)["recommender"]
        assert record["status"] == "ACTIVE" and record["lastUpdatedDateTime"] > first["lastUpdatedDateTime"]
        assert record["creationDateTime"] == first["creationDateTime"]
    finally:
        stop()
