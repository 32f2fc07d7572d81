"""Issue 9: code copied from AWS's documentation and blogs runs unchanged against a real server."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.conftest import LiveServer, wait_for_status

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
    out = tmp_path / "export"
    job = personalize.create_dataset_export_job(
        jobName="impressions-export",
        datasetArn=dataset,
        roleArn="arn:aws:iam::123456789012:role/PersonalizeRole",
        jobOutput={"s3DataDestination": {"path": str(out)}},
    )["datasetExportJobArn"]
    done = wait_for_status(
        lambda: personalize.describe_dataset_export_job(datasetExportJobArn=job)["datasetExportJob"]
    )
    assert done["status"] == "ACTIVE", done.get("failureReason")
    with (out / "impressions-export.csv").open(newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["TIMESTAMP"])
    assert [(r["ITEM_ID"], r["IMPRESSION"], r["RECOMMENDATION_ID"]) for r in rows] == [
        ("item-7", "", "RID-42"),
        ("item-8", "item-8|item-9", ""),
        ("item-9", "", ""),
    ]
