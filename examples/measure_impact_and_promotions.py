"""AWS's "measure the impact of recommendations" and "promote items" flows, end to end, with boto3 only.

Run against a pertinent server (or, with real data locations and a role, against Amazon Personalize):

    python examples/measure_impact_and_promotions.py --endpoint-url http://127.0.0.1:8080 --work-dir /tmp/flow

It creates an ECOMMERCE dataset group (interactions with View and Purchase events, items with PRICE and
CATEGORY_L1), two recommenders ("Recommended for you", "Best sellers"), a metric attribution that sums the
PRICE of purchased items and counts views per source, an event tracker; records events carrying each
recommender's recommendationId (and some with a third-party eventAttributionSource); imports more
interactions with publishAttributionMetricsToS3; waits for the reports and checks their totals against
what was sent. Then it promotes a category with a filter and `promotions` in GetRecommendations. Every
call is a documented Amazon Personalize operation; it exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import boto3

RECIPE = "arn:aws:personalize:::recipe/"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"


def schema(name: str, fields: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "com.amazonaws.personalize.schema",
            "fields": fields,
            "version": "1.0",
        }
    )


INTERACTIONS = schema(
    "Interactions",
    [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},
    ],
)
ITEMS = schema(
    "Items",
    [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "PRICE", "type": "float"},
        {"name": "CATEGORY_L1", "type": "string", "categorical": True},
    ],
)


def wait(
    describe: Any, key: str, done: tuple[str, ...] = ("ACTIVE", "CREATE FAILED"), timeout: float = 600
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        record = describe()[key]
        if record["status"] in done:
            if record["status"] != "ACTIVE":
                raise SystemExit(f"{key} ended {record['status']}: {record.get('failureReason')}")
            return record
        if time.monotonic() > deadline:
            raise SystemExit(f"{key} still {record['status']} after {timeout} s")
        time.sleep(0.5)


def check(condition: bool, message: str) -> None:
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        raise SystemExit(1)


def write_data(folder: Path) -> dict[str, float]:
    """Interactions and items CSVs; returns the item prices."""
    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    prices = {f"p{i}": round(5 + i * 1.25, 2) for i in range(80)}
    with (folder / "items.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ITEM_ID", "PRICE", "CATEGORY_L1"])
        for item, price in prices.items():
            w.writerow([item, price, f"cat{int(item[1:]) % 4}"])
    with (folder / "interactions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_ATTRIBUTION_SOURCE"])
        for u in range(80):
            taste = [f"p{i}" for i in range(80) if i % 4 == u % 4]
            for k in range(30):
                w.writerow([f"user{u}", rng.choice(taste), 1_700_000_000 + u * 100 + k, "View", ""])
            for k in range(14):
                w.writerow([f"user{u}", rng.choice(taste), 1_700_000_050 + u * 100 + k, "Purchase", ""])
    return prices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--work-dir", required=True, type=Path, help="where data and reports go")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=args.region)
    personalize = session.client("personalize", endpoint_url=args.endpoint_url)
    runtime = session.client("personalize-runtime", endpoint_url=args.endpoint_url)
    events = session.client("personalize-events", endpoint_url=args.endpoint_url)
    data, reports = args.work_dir / "data", args.work_dir / "reports"
    prices = write_data(data)

    # 1. dataset group, schemas, datasets, imports
    group = personalize.create_dataset_group(name="impact-shop", domain="ECOMMERCE")["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group), "datasetGroup")
    datasets = {}
    for dataset_type, text, file in (
        ("Interactions", INTERACTIONS, "interactions.csv"),
        ("Items", ITEMS, "items.csv"),
    ):
        schema_arn = personalize.create_schema(
            name=f"impact-{dataset_type}", schema=text, domain="ECOMMERCE"
        )["schemaArn"]
        arn = personalize.create_dataset(
            name=f"impact-{dataset_type}",
            datasetGroupArn=group,
            schemaArn=schema_arn,
            datasetType=dataset_type,
        )["datasetArn"]
        wait(lambda arn=arn: personalize.describe_dataset(datasetArn=arn), "dataset")
        job = personalize.create_dataset_import_job(
            jobName=f"impact-{dataset_type}",
            datasetArn=arn,
            roleArn=ROLE,
            dataSource={"dataLocation": str(data / file)},
        )["datasetImportJobArn"]
        wait(
            lambda job=job: personalize.describe_dataset_import_job(datasetImportJobArn=job),
            "datasetImportJob",
        )
        datasets[dataset_type] = arn

    # 2. two recommenders to compare
    recommenders = {}
    for use_case in ("aws-ecomm-recommended-for-you", "aws-ecomm-popular-items-by-purchases"):
        recommenders[use_case] = personalize.create_recommender(
            name=use_case.replace("aws-ecomm-", "impact-"),
            datasetGroupArn=group,
            recipeArn=RECIPE + use_case,
            recommenderConfig={"enableMetadataWithRecommendations": True},
        )["recommenderArn"]
    for arn in recommenders.values():
        wait(lambda arn=arn: personalize.describe_recommender(recommenderArn=arn), "recommender")

    # 3. the metric attribution
    attribution = personalize.create_metric_attribution(
        name="impact",
        datasetGroupArn=group,
        metrics=[
            {"eventType": "Purchase", "metricName": "REVENUE", "expression": "SUM(Items.PRICE)"},
            {"eventType": "View", "metricName": "VIEWS", "expression": "SAMPLECOUNT()"},
        ],
        metricsOutputConfig={"roleArn": ROLE, "s3DataDestination": {"path": str(reports)}},
    )["metricAttributionArn"]
    wait(
        lambda: personalize.describe_metric_attribution(metricAttributionArn=attribution), "metricAttribution"
    )
    tracker = personalize.create_event_tracker(name="impact-tracker", datasetGroupArn=group)
    wait(
        lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"]), "eventTracker"
    )

    # 4. users act on recommendations; each event carries the recommendationId it came from
    expected: dict[tuple[str, str], float] = {}
    for u in range(10):
        user = f"user{u}"
        for arn in recommenders.values():
            answer = runtime.get_recommendations(recommenderArn=arn, userId=user, numResults=5)
            rid, items = answer["recommendationId"], [i["itemId"] for i in answer["itemList"]]
            sent = [
                {"eventType": "View", "itemId": items[0], "sentAt": time.time(), "recommendationId": rid},
                {"eventType": "Purchase", "itemId": items[1], "sentAt": time.time(), "recommendationId": rid},
            ]
            events.put_events(
                trackingId=tracker["trackingId"], userId=user, sessionId=f"s-{user}", eventList=sent
            )
            expected[("VIEWS", arn)] = expected.get(("VIEWS", arn), 0) + 1
            expected[("REVENUE", arn)] = expected.get(("REVENUE", arn), 0) + prices[items[1]]
    events.put_events(
        trackingId=tracker["trackingId"],
        userId="user1",
        sessionId="s-user1",
        eventList=[
            {
                "eventType": "Purchase",
                "itemId": "p3",
                "sentAt": time.time(),
                "metricAttribution": {"eventAttributionSource": "email-campaign"},
            }
        ],
    )
    expected[("REVENUE", "email-campaign")] = prices["p3"]

    # 5. bulk data with publishAttributionMetricsToS3
    bulk = data / "more-interactions.csv"
    with bulk.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_ATTRIBUTION_SOURCE"])
        for k in range(1000):
            w.writerow(
                [f"user{k % 50}", f"p{k % 80}", int(time.time()) - 3600 + k, "Purchase", "partner-site"]
            )
    job = personalize.create_dataset_import_job(
        jobName="impact-more",
        datasetArn=datasets["Interactions"],
        roleArn=ROLE,
        importMode="INCREMENTAL",
        dataSource={"dataLocation": str(bulk)},
        publishAttributionMetricsToS3=True,
    )["datasetImportJobArn"]
    wait(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job), "datasetImportJob")
    bulk_revenue = sum(prices[f"p{k % 80}"] for k in range(1000))

    # 6. the reports
    deadline = time.monotonic() + 120
    while True:
        streamed: dict[tuple[str, str], float] = {}
        imported: dict[tuple[str, str], float] = {}
        for path in reports.glob("AggregatedAttributionMetrics-*.csv"):
            target = imported if "-INCREMENTAL-" in path.name else streamed
            for row in csv.DictReader(io.StringIO(path.read_text())):
                key = (row["METRIC_NAME"], row["EVENT_ATTRIBUTION_SOURCE"])
                target[key] = target.get(key, 0.0) + float(row["VALUE"])
        if {k: round(v, 2) for k, v in streamed.items()} == {
            k: round(v, 2) for k, v in expected.items()
        } and imported:
            break
        if time.monotonic() > deadline:
            check(False, f"reports match the events sent: {streamed} != {expected}")
        time.sleep(0.5)
    for (metric, source), value in sorted(expected.items()):
        print(f"     {metric:8} {source.rsplit('/', 1)[-1]:32} {value:10.2f}")
    check(True, "streamed-event reports equal the events sent, per recommender and third party")
    check(
        round(imported.get(("REVENUE", "partner-site"), 0), 2) == round(bulk_revenue, 2),
        f"the bulk import's report sums its purchases ({bulk_revenue:.2f})",
    )

    # 7. promotions: a filter names the promoted items, GetRecommendations mixes them in
    promo = personalize.create_filter(
        name="promo-category",
        datasetGroupArn=group,
        filterExpression="INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CATEGORY)",
    )["filterArn"]
    wait(lambda: personalize.describe_filter(filterArn=promo), "filter")
    user = "user1"  # likes cat1
    answer = runtime.get_recommendations(
        recommenderArn=recommenders["aws-ecomm-recommended-for-you"],
        userId=user,
        numResults=10,
        promotions=[
            {
                "name": "cat2-week",
                "percentPromotedItems": 30,
                "filterArn": promo,
                "filterValues": {"CATEGORY": '"cat2"'},
            }
        ],
        metadataColumns={"ITEMS": ["CATEGORY_L1"]},
    )
    promoted = [i for i in answer["itemList"] if i.get("promotionName") == "cat2-week"]
    check(len(answer["itemList"]) == 10 and len(promoted) == 3, "30 % of 10 recommendations are promoted")
    check(
        all(i["metadata"]["CATEGORY_L1"] == "cat2" for i in promoted),
        "every promoted item is in the promoted category",
    )
    print("done")


if __name__ == "__main__":
    sys.exit(main())
