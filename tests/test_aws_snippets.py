"""Issue 9: code copied from AWS's documentation and blogs runs unchanged against a real server."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import INTERACTIONS_SCHEMA, LiveServer, export_dataset

# The Interactions schema of AWS's impressions examples: IMPRESSION and RECOMMENDATION_ID as plain strings
# (https://docs.aws.amazon.com/personalize/latest/dg/putevents-including-impressions-data.html)
IMPRESSIONS_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "EVENT_TYPE", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
            {"name": "IMPRESSION", "type": "string"},
            {"name": "RECOMMENDATION_ID", "type": "string"},
        ],
        "version": "1.0",
    }
)


def test_put_events_without_impression_records_implicit_impression_events(
    server: LiveServer, tmp_path: Path
) -> None:
    personalize, events = server.client("personalize"), server.client("personalize-events")
    group = personalize.create_dataset_group(name="impressions")["datasetGroupArn"]
    schema = personalize.create_schema(name="impressions", schema=IMPRESSIONS_SCHEMA)["schemaArn"]
    dataset = personalize.create_dataset(
        name="impressions", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    tracking_id = personalize.create_event_tracker(name="impressions", datasetGroupArn=group)["trackingId"]
    # implicit impressions: only the recommendationId of the response the user saw
    events.put_events(
        trackingId=tracking_id,
        userId="user-1",
        sessionId="session-1",
        eventList=[
            {"eventType": "click", "sentAt": 1553631760, "itemId": "item-7", "recommendationId": "RID-42"}
        ],
    )
    # explicit impressions still work, and an event with neither is accepted too
    events.put_events(
        trackingId=tracking_id,
        userId="user-1",
        sessionId="session-1",
        eventList=[
            {
                "eventType": "click",
                "sentAt": 1553631761,
                "itemId": "item-8",
                "impression": ["item-8", "item-9"],
            },
            {"eventType": "watch", "sentAt": 1553631762, "itemId": "item-9"},
        ],
    )
    exported = export_dataset(personalize, dataset, tmp_path / "export", "impressions-export")
    with exported.open(newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["TIMESTAMP"])
    assert [(r["ITEM_ID"], r["IMPRESSION"], r["RECOMMENDATION_ID"]) for r in rows] == [
        ("item-7", "", "RID-42"),
        ("item-8", "item-8|item-9", ""),
        ("item-9", "", ""),
    ]


def _curl(url: str, body: str) -> tuple[int, Any]:
    done = subprocess.run(
        [
            "curl",
            "-s",
            "-w",
            "\\n%{http_code}",
            "-X",
            "POST",
            url,
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text, status = done.stdout.rsplit("\n", 1)
    return int(status), json.loads(text)


def test_the_real_time_blogs_body_for_post_data_with_curl(server: LiveServer, tmp_path: Path) -> None:
    """The body of AWS's real-time blog (API Gateway → Kinesis PutRecord: stream-name, Data, PartitionKey),
    https://aws.amazon.com/blogs/machine-learning/implement-real-time-personalized-recommendations-using-amazon-personalize/
    """
    personalize = server.client("personalize")
    group = personalize.create_dataset_group(name="realtime")["datasetGroupArn"]
    schema = personalize.create_schema(name="realtime", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    dataset = personalize.create_dataset(
        name="realtime", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    tracking_id = personalize.create_event_tracker(name="realtime", datasetGroupArn=group)["trackingId"]
    body = (
        '{"stream-name": "realtime-personalize-stream", "Data": {"userId": "12345", "interactions": 3, '
        f'"itemId": "Item", "trackingId": "{tracking_id}", "eventType": "click", "sentAt": "1699999999"}}, '
        '"PartitionKey": "userId"}'
    )
    status, answer = _curl(f"{server.url}/data", body)
    assert status == 200
    assert answer == {"Message": "Event sent successfully", "data": json.loads(body)["Data"]}
    single = body.replace('"interactions": 3', '"interactions": 1').replace("1699999999", "1700000000")
    assert _curl(f"{server.url}/data", single)[0] == 200
    # the flat tutorial body still answers as before
    flat = json.dumps(
        {
            "userId": "12345",
            "itemId": "Other",
            "eventType": "watch",
            "sentAt": 1700000001,
            "trackingId": tracking_id,
        }
    )
    assert _curl(f"{server.url}/data", flat) == (200, {"status": "recorded"})
    bad = body.replace('"interactions": 3', '"interactions": 0')
    status, error = _curl(f"{server.url}/data", bad)
    assert status == 400 and "interactions must be a whole number" in error["message"]
    status, error = _curl(f"{server.url}/data", body.replace('"Data"', '"Dat"'))
    assert status == 400

    with export_dataset(personalize, dataset, tmp_path / "export", "realtime-export").open(newline="") as f:
        rows = [(r["USER_ID"], r["ITEM_ID"], r["EVENT_TYPE"], r["TIMESTAMP"]) for r in csv.DictReader(f)]
    assert sorted(rows) == sorted(
        [("12345", "Item", "click", "1699999999")] * 3
        + [("12345", "Item", "click", "1700000000"), ("12345", "Other", "watch", "1700000001")]
    )
