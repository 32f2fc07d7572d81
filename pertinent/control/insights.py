"""Data insights of a dataset group (``pertinent.datasets.insights``) from its stored data.

Reads each dataset's bulk Parquet and the interactions streamed by PutEvents from known users (anonymous
sessions are left out until a userId claims them, as Personalize does).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pertinent.control.context import Context
from pertinent.datasets.avro_schema import normalize_dataset_type
from pertinent.datasets.insights import analyze
from pertinent.errors import ResourceNotFoundException

STREAMED_SCHEMA = pa.schema(
    [("USER_ID", pa.string()), ("ITEM_ID", pa.string()), ("TIMESTAMP", pa.float64()),
     ("EVENT_TYPE", pa.string()), ("EVENT_VALUE", pa.float64())]
)  # fmt: skip


def _streamed(ctx: Context, group_arn: str) -> pa.Table:
    rows = [e for e in ctx.store.events_of_kind(group_arn, "interaction") if e.get("user_id")]
    return pa.table(
        {
            "USER_ID": [e["user_id"] for e in rows],
            "ITEM_ID": [e["item_id"] for e in rows],
            "TIMESTAMP": [float(e["timestamp"]) for e in rows],
            "EVENT_TYPE": [e["event_type"] for e in rows],
            "EVENT_VALUE": [e["event_value"] for e in rows],
        },
        schema=STREAMED_SCHEMA,
    )


def common_event_type(ctx: Context, dataset_group_arn: str) -> str | None:
    """The group's most frequent EVENT_TYPE (bulk interactions and streamed events), None without one."""
    counts: dict[str, int] = {}
    for dataset in ctx.store.list("dataset", dataset_group_arn):
        bulk = ctx.bulk_file(dataset)
        if normalize_dataset_type(dataset["dataset_type"]) != "INTERACTIONS" or not bulk.exists():
            continue
        if "EVENT_TYPE" not in pq.read_schema(bulk).names:
            continue
        column = pq.read_table(bulk, columns=["EVENT_TYPE"])["EVENT_TYPE"]
        for entry in pc.value_counts(column.combine_chunks()).to_pylist():
            if entry["values"] is not None:
                counts[entry["values"]] = counts.get(entry["values"], 0) + int(entry["counts"])
    for event in ctx.store.events_of_kind(dataset_group_arn, "interaction"):
        if event.get("event_type"):
            counts[event["event_type"]] = counts.get(event["event_type"], 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def dataset_group_insights(ctx: Context, dataset_group_arn: str) -> dict[str, Any]:
    """The figures and insights of the group's data (see pertinent.datasets.insights.analyze)."""
    group = ctx.store.get(dataset_group_arn, "dataset-group")
    if group is None:
        raise ResourceNotFoundException(f"Could not find dataset group with ARN {dataset_group_arn}.")
    tables: dict[str, pa.Table | None] = {"INTERACTIONS": None, "ITEMS": None, "USERS": None}
    for dataset in ctx.store.list("dataset", dataset_group_arn):
        kind = normalize_dataset_type(dataset["dataset_type"])
        bulk = ctx.bulk_file(dataset)
        if kind in tables and bulk.exists():
            tables[kind] = pq.read_table(bulk)
    streamed = _streamed(ctx, dataset_group_arn)
    interactions = tables["INTERACTIONS"]
    if interactions is not None and streamed.num_rows:
        wanted = [c for c in STREAMED_SCHEMA.names if c in interactions.column_names]
        interactions = interactions.select(wanted).cast(pa.schema([STREAMED_SCHEMA.field(c) for c in wanted]))
        streamed = streamed.select(wanted)
    result = analyze(
        interactions, tables["ITEMS"], tables["USERS"], ctx.now(), streamed if streamed.num_rows else None
    )
    return {"datasetGroupArn": dataset_group_arn, "name": group.get("name"), **result}
