"""Metric attribution and A/B experiments through boto3 and HTTP: events carrying recommendationIds of two
campaigns produce AWS-format reports whose counts and sums equal what was sent; an experiment over the same two
campaigns, on planted data where one arm is better, reports that arm's lift with a confidence interval
excluding 0."""

from __future__ import annotations

import csv
import io
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from pertinent.config import load_settings
from tests.conftest import LiveServer, make_group, start_server, wait_for_status

HEADER = "METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP"


@dataclass
class World:
    server: LiveServer
    client: Any
    runtime: Any
    events: Any
    group: str
    good: str  # user-personalization campaign
    popular: str  # popularity-count campaign
    tracking_id: str
    tmp: Path


def _campaign(client: Any, group: str, recipe: str, name: str) -> str:
    solution = client.create_solution(
        name=name, datasetGroupArn=group, recipeArn=f"arn:aws:personalize:::recipe/{recipe}"
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    record = wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"], timeout=300
    )
    assert record["status"] == "ACTIVE", record
    campaign = client.create_campaign(name=name, solutionVersionArn=version)["campaignArn"]
    wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])
    return str(campaign)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("attribution")
    settings = load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05, metric_report_seconds=1.0)
    server, stop = start_server(settings)
    client = server.client()
    group = make_group(client, tmp, with_items=True)
    good = _campaign(client, group.arn, "aws-user-personalization", "good")
    popular = _campaign(client, group.arn, "aws-popularity-count", "popular")
    tracker = client.create_event_tracker(name="tracker", datasetGroupArn=group.arn)
    wait_for_status(
        lambda: client.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    yield World(
        server,
        client,
        server.client("personalize-runtime"),
        server.client("personalize-events"),
        group.arn,
        good,
        popular,
        tracker["trackingId"],
        tmp,
    )
    stop()


def year(item: str) -> float:
    return 1980.0 + int(item[1:]) % 40  # write_items_csv's YEAR


def read_reports(folder: Path) -> tuple[dict[tuple[str, str], float], list[dict[str, str]]]:
    sums: dict[tuple[str, str], float] = {}
    rows: list[dict[str, str]] = []
    for path in sorted(folder.glob("AggregatedAttributionMetrics-PutEvents-*.csv")):
        text = path.read_text()
        assert text.splitlines()[0] == HEADER
        for row in csv.DictReader(io.StringIO(text)):
            rows.append(row)
            key = (row["METRIC_NAME"], row["EVENT_ATTRIBUTION_SOURCE"])
            sums[key] = sums.get(key, 0.0) + float(row["VALUE"])
    return sums, rows


def test_metric_attribution_reports_equal_the_events_sent(world: World) -> None:
    client, folder = world.client, world.tmp / "reports"
    arn = client.create_metric_attribution(
        name="impact",
        datasetGroupArn=world.group,
        metrics=[
            {"eventType": "click", "metricName": "CLICKS", "expression": "SAMPLECOUNT()"},
            {
                "eventType": "click",
                "metricName": "CLICK_VALUE",
                "expression": "SUM(Interactions.EVENT_VALUE)",
            },
            {"eventType": "click", "metricName": "CLICK_YEARS", "expression": "SUM(Items.YEAR)"},
        ],
        metricsOutputConfig={
            "s3DataDestination": {"path": str(folder)},
            "roleArn": "arn:aws:iam::000000000000:role/personalize",
        },
    )["metricAttributionArn"]
    record = wait_for_status(
        lambda: client.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    )
    assert record["status"] == "ACTIVE" and record["metricsOutputConfig"]["s3DataDestination"]["path"] == str(
        folder
    )

    expected: dict[tuple[str, str], float] = {}

    def send(
        user: str,
        item: str,
        value: float,
        event_type: str = "click",
        rec_id: str | None = None,
        source: str | None = None,
    ) -> None:
        event: dict[str, Any] = {
            "eventType": event_type,
            "itemId": item,
            "eventValue": value,
            "sentAt": time.time(),
        }
        if rec_id:
            event["recommendationId"] = rec_id
        if source:
            event["metricAttribution"] = {"eventAttributionSource": source}
        world.events.put_events(
            trackingId=world.tracking_id, userId=user, sessionId=f"s-{user}", eventList=[event]
        )
        if event_type != "click":
            return
        attributed = source or {"good": world.good, "popular": world.popular}.get(
            rec_id_owner.get(rec_id or ""), ""
        )
        attributed = attributed or "SOURCE_NAME_UNDEFINED"
        for metric, amount in (("CLICKS", 1.0), ("CLICK_VALUE", value), ("CLICK_YEARS", year(item))):
            expected[(metric, attributed)] = expected.get((metric, attributed), 0.0) + amount

    rec_id_owner: dict[str, str] = {}
    for owner, campaign in (("good", world.good), ("popular", world.popular)):
        answer = world.runtime.get_recommendations(campaignArn=campaign, userId="u3", numResults=10)
        rec_id_owner[answer["recommendationId"]] = owner
        ids = [i["itemId"] for i in answer["itemList"]]
        count = 7 if owner == "good" else 4
        for k in range(count):
            send("u3", ids[k], 1.0 + k, rec_id=answer["recommendationId"])
        send(
            "u3", ids[0], 5.0, event_type="rating", rec_id=answer["recommendationId"]
        )  # not a click: not counted
    good_id = next(r for r, o in rec_id_owner.items() if o == "good")
    send("u5", "m4", 2.5, source="newsletter")
    send("u5", "m6", 3.0, source="newsletter")
    send("u7", "m8", 4.0, rec_id=good_id, source="partner")  # both: the explicit source wins
    send("u9", "m10", 0.5)  # neither: SOURCE_NAME_UNDEFINED

    deadline = time.monotonic() + 300  # generous: a loaded machine
    while True:
        sums, rows = read_reports(folder)
        if {k: round(v, 4) for k, v in sums.items()} == {k: round(v, 4) for k, v in expected.items()}:
            break
        assert time.monotonic() < deadline, (sums, expected)
        time.sleep(0.2)
    assert expected[("CLICKS", world.good)] == 7 and expected[("CLICKS", world.popular)] == 4
    assert {r["MATH_FUNCTION"] for r in rows} == {"samplecount", "sum"}
    assert {r["EVENT_TYPE"] for r in rows} == {"click"}
    assert all(int(r["TIMESTAMP"]) % 900 == 0 for r in rows)

    metrics_text = httpx.get(f"{world.server.url}/metrics").text
    line = (
        'pertinent_metric_attribution_value{event_type="click",metric_attribution="impact",'
        f'metric_name="CLICKS",source="{world.good}"}} 7.0'
    )
    assert line in metrics_text

    html = httpx.get(f"{world.server.url}/console/groups/movies/impact").text
    assert 'data-metric="CLICKS"' in html and 'data-source="good" data-total="7.0"' in html
    assert 'data-source="newsletter"' in html and "SOURCE_NAME_UNDEFINED" in html

    page = world.client.get_paginator("list_metric_attribution_metrics").paginate(
        metricAttributionArn=arn, PaginationConfig={"PageSize": 2}
    )
    assert [m["metricName"] for p in page for m in p["metrics"]] == ["CLICKS", "CLICK_VALUE", "CLICK_YEARS"]
    listed = client.list_metric_attributions(datasetGroupArn=world.group)["metricAttributions"]
    assert [m["metricAttributionArn"] for m in listed] == [arn]
    client.update_metric_attribution(
        metricAttributionArn=arn,
        addMetrics=[{"eventType": "rating", "metricName": "RATINGS", "expression": "SAMPLECOUNT()"}],
        removeMetrics=["CLICK_YEARS"],
    )
    names = [
        m["metricName"] for m in client.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]
    ]
    assert names == ["CLICKS", "CLICK_VALUE", "RATINGS"]


def test_metric_attribution_unhappy_paths(world: World) -> None:
    client = world.client
    output = {"roleArn": "arn:aws:iam::000000000000:role/p"}

    def code(call: Any, **kwargs: Any) -> str:
        with pytest.raises(ClientError) as error:
            call(**kwargs)
        return str(error.value.response["Error"]["Code"])

    for expression in ("AVG(Interactions.EVENT_VALUE)", "SUM(Items.NOPE)", "SUM(Users.AGE)", "COUNT()"):
        assert code(
            client.create_metric_attribution,
            name="bad",
            datasetGroupArn=world.group,
            metrics=[{"eventType": "click", "metricName": "X", "expression": expression}],
            metricsOutputConfig=output,
        ) in ("InvalidInputException", "LimitExceededException")
    group2 = client.create_dataset_group(name="other")["datasetGroupArn"]
    wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group2)["datasetGroup"])
    assert (
        code(
            client.create_metric_attribution,
            name="bad",
            datasetGroupArn=group2,
            metrics=[{"eventType": "click", "metricName": "X", "expression": "SUM(Items.YEAR)"}],
            metricsOutputConfig=output,
        )
        == "InvalidInputException"
    )  # no Items dataset
    assert (
        code(
            client.create_metric_attribution,
            name="twice",
            datasetGroupArn=group2,
            metrics=[
                {"eventType": "click", "metricName": "X", "expression": "SAMPLECOUNT()"},
                {"eventType": "view", "metricName": "X", "expression": "SAMPLECOUNT()"},
            ],
            metricsOutputConfig=output,
        )
        == "InvalidInputException"
    )
    for bad_path in ("http://example.com/reports", "ftp://x/y", "s3://"):
        assert (
            code(
                client.create_metric_attribution,
                name="bad",
                datasetGroupArn=group2,
                metrics=[{"eventType": "click", "metricName": "X", "expression": "SAMPLECOUNT()"}],
                metricsOutputConfig={**output, "s3DataDestination": {"path": bad_path}},
            )
            == "InvalidInputException"
        )
    missing = world.group.replace("dataset-group", "metric-attribution") + "-gone"
    assert (
        code(client.describe_metric_attribution, metricAttributionArn=missing) == "ResourceNotFoundException"
    )
    first = client.create_metric_attribution(
        name="only",
        datasetGroupArn=group2,
        metrics=[{"eventType": "click", "metricName": "X", "expression": "SAMPLECOUNT()"}],
        metricsOutputConfig=output,
    )["metricAttributionArn"]
    assert (
        code(
            client.create_metric_attribution,
            name="second",
            datasetGroupArn=group2,
            metrics=[{"eventType": "click", "metricName": "X", "expression": "SAMPLECOUNT()"}],
            metricsOutputConfig=output,
        )
        == "LimitExceededException"
    )
    assert code(client.delete_dataset_group, datasetGroupArn=group2) == "ResourceInUseException"
    client.delete_metric_attribution(metricAttributionArn=first)
    assert code(client.describe_metric_attribution, metricAttributionArn=first) == "ResourceNotFoundException"
    client.delete_dataset_group(datasetGroupArn=group2)


def test_ab_experiment_reports_the_better_arms_lift(world: World) -> None:
    http = httpx.Client(base_url=world.server.url, timeout=60)
    created = http.post(
        "/experiments",
        json={
            "name": "ab",
            "arms": [
                {"name": "popular", "campaignArn": world.popular},
                {"name": "personal", "campaignArn": world.good},
            ],
            "metrics": [{"metricName": "CLICKS", "eventType": "click", "expression": "SAMPLECOUNT()"}],
        },
    )
    assert created.status_code == 200, created.text
    experiment = http.get("/experiments/ab").json()["experiment"]
    assert experiment["status"] == "ACTIVE" and [a["name"] for a in experiment["arms"]] == [
        "popular",
        "personal",
    ]
    rng = random.Random(1)
    arms: dict[str, str] = {}
    for u in range(1, 61):
        user = f"u{u}"
        answer = http.post("/experiments/ab/recommendations", json={"userId": user, "numResults": 10}).json()
        arms[user] = answer["arm"]
        again = http.post("/experiments/ab/recommendations", json={"userId": user, "numResults": 10}).json()
        assert again["arm"] == answer["arm"]  # deterministic split
        taste = u % 2  # write_interactions_csv: users like items of their parity
        clicks = [
            {
                "eventType": "click",
                "itemId": i["itemId"],
                "sentAt": time.time(),
                "eventValue": 1.0,
                "recommendationId": answer["recommendationId"],
            }
            for i in answer["itemList"]
            if int(i["itemId"][1:]) % 2 == taste and rng.random() < 0.6
        ]
        for start in range(0, len(clicks), 10):
            world.events.put_events(
                trackingId=world.tracking_id,
                userId=user,
                sessionId=f"ab-{user}",
                eventList=clicks[start : start + 10],
            )
    assert 15 <= sum(a == "personal" for a in arms.values()) <= 45
    results = http.get("/experiments/ab/results").json()
    by_arm = {a["name"]: a for a in results["arms"]}
    assert results["controlArm"] == "popular" and results["metricsFrom"] == "experiment"
    assert by_arm["personal"]["users"] + by_arm["popular"]["users"] == 60
    lift = by_arm["personal"]["metrics"]["CLICKS"]["lift"]
    assert lift["relative"] > 0 and lift["relativeConfidenceInterval"][0] > 0, results
    assert lift["differenceConfidenceInterval"][0] > 0 and lift["significant"] is True
    low, high = by_arm["personal"]["metrics"]["CLICKS"]["confidenceInterval"]
    assert low < by_arm["personal"]["metrics"]["CLICKS"]["mean"] < high
    assert by_arm["popular"]["metrics"]["CLICKS"]["lift"] is None
    assert 'pertinent_experiment_arm_users{arm="personal",experiment="ab"}' in http.get("/metrics").text

    html = http.get("/console/experiments/ab").text
    assert 'data-arm="personal"' in html and "significant" in html
    assert "/console/experiments/ab" in http.get("/console/groups/movies/impact").text

    stopped = http.post("/experiments/ab/stop").json()["experiment"]
    assert stopped["status"] == "STOPPED"
    refused = http.post("/experiments/ab/recommendations", json={"userId": "u1"})
    assert refused.status_code == 400 and refused.json()["__type"] == "InvalidInputException"
    assert http.get("/experiments/ab/results").status_code == 200
    assert [e["name"] for e in http.get("/experiments").json()["experiments"]] == ["ab"]


def test_experiment_unhappy_paths(world: World) -> None:
    http = httpx.Client(base_url=world.server.url, timeout=30)

    def error(response: httpx.Response) -> tuple[int, str]:
        return response.status_code, response.json()["__type"]

    one_arm = {"name": "x", "arms": [{"campaignArn": world.good}]}
    assert error(http.post("/experiments", json=one_arm)) == (400, "InvalidInputException")
    gone = {"name": "x", "arms": [{"campaignArn": world.good}, {"campaignArn": world.good + "-gone"}]}
    assert error(http.post("/experiments", json=gone))[1] == "ResourceNotFoundException"
    both = {
        "name": "x",
        "arms": [{"campaignArn": world.good, "recommenderArn": world.good}, {"campaignArn": world.good}],
    }
    assert error(http.post("/experiments", json=both)) == (400, "InvalidInputException")
    weight = {
        "name": "x",
        "arms": [{"campaignArn": world.good, "weight": -1}, {"campaignArn": world.popular}],
    }
    assert error(http.post("/experiments", json=weight)) == (400, "InvalidInputException")
    arms = [{"campaignArn": world.good}, {"campaignArn": world.popular}]
    for metrics in (
        [{"metricName": "X", "eventType": "click", "expression": "SUM(Items.NOPE)"}],  # no such column
        [{"metricName": "X", "eventType": "click", "expression": "SUM(Items.TITLE)"}],  # not numeric
        [{"metricName": "X", "eventType": "click", "expression": "SAMPLECOUNT()"}] * 2,  # a name twice
    ):  # refused as CreateMetricAttribution refuses them, not accepted to report zeros
        assert error(http.post("/experiments", json={"name": "x", "arms": arms, "metrics": metrics})) == (
            400,
            "InvalidInputException",
        )
    huge = {"name": "huge", "arms": [{**arm, "weight": 1e308} for arm in arms]}
    assert http.post("/experiments", json=huge).status_code == 200
    split = {
        http.post("/experiments/huge/recommendations", json={"userId": f"u{u}", "numResults": 1}).json()[
            "arm"
        ]
        for u in range(1, 41)
    }
    assert split == {"arm0", "arm1"}  # equal weights split users, however large (their sum was inf)
    assert error(http.post("/experiments", content=b"{not json")) == (400, "InvalidInputException")
    assert error(http.post("/experiments", json=[1, 2])) == (400, "InvalidInputException")
    assert error(http.get("/experiments/nope"))[1] == "ResourceNotFoundException"
    ok = {"name": "x", "arms": [{"campaignArn": world.good}, {"campaignArn": world.popular}]}
    assert http.post("/experiments", json=ok).status_code == 200
    assert error(http.post("/experiments", json=ok))[1] == "ResourceAlreadyExistsException"
    assert error(http.post("/experiments/x/recommendations", json={"numResults": 3})) == (
        400,
        "InvalidInputException",
    )
    assert (
        error(http.post("/experiments/x/recommendations", json={"userId": "u1", "numResults": "many"}))[0]
        == 400
    )
    answer = http.post("/experiments/x/recommendations", json={"userId": "u2", "numResults": 3}).json()
    assert len(answer["itemList"]) == 3 and answer["recommendationId"].startswith("RID-")
    assert http.get("/experiments/x/results").json()["arms"][0]["name"] == "arm0"
