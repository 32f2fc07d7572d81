"""Metric attribution: Create/Describe/List/Update/DeleteMetricAttribution, ListMetricAttributionMetrics, and
the reports (docs/metric-attribution.md).

A metric is ``SUM(Interactions.EVENT_VALUE)``, ``SUM(Items.<numeric column>)`` or ``SAMPLECOUNT()`` over the
interactions of one event type. Each event is attributed as Personalize documents
(https://docs.aws.amazon.com/personalize/latest/dg/event-metrics.html): its ``eventAttributionSource`` if it
has one, otherwise the campaign or recommender whose answer carried its ``recommendationId``, otherwise
``SOURCE_NAME_UNDEFINED``. Values are aggregated over 15-minute windows of the events' timestamps. Every
``settings.metric_report_seconds`` (900 s, as AWS) the events recorded since the previous report are
aggregated into a report: kept as a ``metric-report`` record (for /metrics and the console) and, when
``metricsOutputConfig.s3DataDestination.path`` is set (a local folder, ``file://`` or ``s3://``), written there
as ``AggregatedAttributionMetrics-PutEvents-<epoch>.csv`` in AWS's columns
(https://docs.aws.amazon.com/personalize/latest/dg/metric-attribution-results-s3.html):
``METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pertinent.control.common import (
    Operation,
    Record,
    insert_new,
    new_record,
    paginate,
    require,
    require_active,
    require_usable,
)
from pertinent.control.context import Context
from pertinent.datasets.avro_schema import normalize_dataset_type, parse_schema
from pertinent.datasets.locations import check_location, write_output
from pertinent.errors import InvalidInputException, LimitExceededException
from pertinent.resources.recommendation_ids import decode, source_index
from pertinent.resources.status import ACTIVE

KIND = "metric-attribution"
REPORT_KIND = "metric-report"
WINDOW_SECONDS = 900
UNDEFINED_SOURCE = "SOURCE_NAME_UNDEFINED"
MAX_METRICS = 10
_EXPRESSION = re.compile(
    r"^\s*(?:(SUM)\s*\(\s*(Interactions|Items)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)|(SAMPLECOUNT)\s*\(\s*\))\s*$",
    re.I,
)


def parse_expression(expression: str) -> tuple[str, str | None, str | None]:
    """``SUM(Items.PRICE)`` → ("sum", "ITEMS", "PRICE"); ``SAMPLECOUNT()`` → ("samplecount", None, None)."""
    match = _EXPRESSION.match(expression)
    if match is None:
        raise InvalidInputException(
            f"Metric expression {expression!r} is not valid: use SUM(Interactions.<column>), SUM(Items.<column>) "
            "or SAMPLECOUNT()."
        )
    if match[4]:
        return "samplecount", None, None
    return "sum", match[2].upper(), match[3].upper()


def _numeric_columns(ctx: Context, group_arn: str, dataset_type: str) -> set[str] | None:
    for dataset in ctx.store.list("dataset", group_arn):
        if normalize_dataset_type(dataset["dataset_type"]) == dataset_type:
            schema = ctx.store.get(dataset["schema_arn"], "schema")
            if schema is None:
                return None
            fields = parse_schema(schema["schema"]).fields
            return {f.name for f in fields if f.type in ("int", "long", "float", "double")}
    return None


def check_metrics(ctx: Context, group_arn: str, metrics: list[Record]) -> list[Record]:
    names: set[str] = set()
    checked = []
    for metric in metrics:
        name = metric["metric_name"]
        if name in names:
            raise InvalidInputException(f"Metric name {name!r} is used twice.")
        names.add(name)
        function, dataset_type, column = parse_expression(metric["expression"])
        if function == "sum" and dataset_type is not None:
            columns = _numeric_columns(ctx, group_arn, dataset_type)
            if (
                dataset_type == "INTERACTIONS"
                and column != "EVENT_VALUE"
                and columns is not None
                and column not in columns
            ):
                raise InvalidInputException(f"The Interactions dataset has no numeric column {column}.")
            if dataset_type == "ITEMS" and (columns is None or column not in columns):
                raise InvalidInputException(
                    f"SUM(Items.{column}) needs an Items dataset with a numeric column {column}."
                )
        checked.append(dict(metric))
    if len(checked) > MAX_METRICS:
        raise InvalidInputException(f"A metric attribution has at most {MAX_METRICS} metrics.")
    return checked


def _check_output(ctx: Context, config: Record) -> Record:
    """The destination must be one reports can be written to (s3://, file:// or a local path the server's
    location policy allows; --allow-path under --credentials), checked at request time."""
    path = (config.get("s3_data_destination") or {}).get("path")
    if path is not None:
        if not str(path).strip():
            raise InvalidInputException("metricsOutputConfig.s3DataDestination.path must not be empty.")
        check_location(str(path), ctx.location_policy())
    return dict(config)


def create_metric_attribution(
    ctx: Context, name: str, dataset_group_arn: str, metrics: list[Record], metrics_output_config: Record
) -> Record:
    require_usable(ctx, "dataset-group", dataset_group_arn)
    if ctx.store.count(KIND, dataset_group_arn):
        raise LimitExceededException("A dataset group can have only one metric attribution.")
    arn = ctx.arn(KIND, name)
    record = new_record(
        ctx,
        status=ACTIVE,  # nothing to build: reports are written as events arrive
        name=name,
        metric_attribution_arn=arn,
        dataset_group_arn=dataset_group_arn,
        metrics=check_metrics(ctx, dataset_group_arn, metrics),
        metrics_output_config=_check_output(ctx, metrics_output_config),
        report_seq=ctx.store.last_event_seq(dataset_group_arn),  # reports cover events from now on
        last_report=ctx.now(),
    )
    insert_new(ctx, KIND, arn, record, parent_arn=dataset_group_arn)
    return {"metric_attribution_arn": arn}


def describe_metric_attribution(ctx: Context, metric_attribution_arn: str) -> Record:
    return {"metric_attribution": require(ctx, KIND, metric_attribution_arn)}


def list_metric_attributions(
    ctx: Context,
    dataset_group_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, KIND, dataset_group_arn, next_token, max_results)
    return {"metric_attributions": page, "next_token": token}


def list_metric_attribution_metrics(
    ctx: Context,
    metric_attribution_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    if not metric_attribution_arn:
        raise InvalidInputException("metricAttributionArn is required.")
    metrics = require(ctx, KIND, metric_attribution_arn)["metrics"]
    offset = 0
    if next_token:
        try:
            offset = int(next_token)
        except ValueError:
            raise InvalidInputException("The token is not valid.") from None
    limit = max_results or 100
    page = metrics[offset : offset + limit]
    token = str(offset + limit) if offset + limit < len(metrics) else None
    return {"metrics": page, "next_token": token}


def update_metric_attribution(
    ctx: Context,
    metric_attribution_arn: str | None = None,
    add_metrics: list[Record] | None = None,
    remove_metrics: list[str] | None = None,
    metrics_output_config: Record | None = None,
) -> Record:
    if not metric_attribution_arn:
        raise InvalidInputException("metricAttributionArn is required.")
    record = require_active(ctx, KIND, metric_attribution_arn)
    metrics = list(record["metrics"])
    known = {m["metric_name"] for m in metrics}
    for name in remove_metrics or []:
        if name not in known:
            raise InvalidInputException(f"The metric attribution has no metric named {name!r}.")
    metrics = [m for m in metrics if m["metric_name"] not in set(remove_metrics or [])]
    metrics = check_metrics(ctx, record["dataset_group_arn"], metrics + list(add_metrics or []))
    changes: Record = {"metrics": metrics, "last_updated_date_time": ctx.now()}
    if metrics_output_config is not None:
        changes["metrics_output_config"] = _check_output(ctx, metrics_output_config)
    ctx.store.update(metric_attribution_arn, changes)
    return {"metric_attribution_arn": metric_attribution_arn}


def delete_metric_attribution(ctx: Context, metric_attribution_arn: str) -> dict[str, Any]:
    require(ctx, KIND, metric_attribution_arn)
    with ctx.store.write() as conn:
        for report in ctx.store.list(REPORT_KIND, metric_attribution_arn, conn=conn):
            ctx.store.delete(report["report_arn"], conn=conn)
        ctx.store.delete(metric_attribution_arn, conn=conn)
    return {}


OPERATIONS: dict[str, Operation] = {
    "CreateMetricAttribution": create_metric_attribution,
    "DescribeMetricAttribution": describe_metric_attribution,
    "ListMetricAttributions": list_metric_attributions,
    "ListMetricAttributionMetrics": list_metric_attribution_metrics,
    "UpdateMetricAttribution": update_metric_attribution,
    "DeleteMetricAttribution": delete_metric_attribution,
}


# -- attribution --------------------------------------------------------------------------------------
def known_sources(ctx: Context) -> dict[str, str]:
    """Source hash → ARN of every campaign and recommender (recommendationId → its source)."""
    arns = [c["campaign_arn"] for c in ctx.store.list("campaign")]
    arns += [r["recommender_arn"] for r in ctx.store.list("recommender")]
    return source_index(arns)


def event_source(body: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    explicit = body.get("EVENT_ATTRIBUTION_SOURCE")
    if explicit:
        return str(explicit)
    decoded = decode(body.get("RECOMMENDATION_ID"))
    if decoded is not None and decoded.source_code in sources:
        return sources[decoded.source_code]
    return UNDEFINED_SOURCE


def item_values(ctx: Context, group_arn: str, column: str) -> dict[str, float]:
    """ITEM_ID → the Items column's value (bulk data, then PutItems records)."""
    values: dict[str, float] = {}
    for dataset in ctx.store.list("dataset", group_arn):
        if normalize_dataset_type(dataset["dataset_type"]) != "ITEMS":
            continue
        bulk = ctx.bulk_file(dataset)
        if bulk.exists():
            table = pq.read_table(bulk)
            if column in table.column_names:
                for item, value in zip(table["ITEM_ID"].to_pylist(), table[column].to_pylist(), strict=True):
                    if value is not None:
                        values[str(item)] = float(value)
    for event in ctx.store.events_of_kind(group_arn, "item"):
        body = json.loads(event["body"]) if event["body"] else {}
        if body.get(column) is not None:
            values[str(event["item_id"])] = float(body[column])
    return values


def metric_value(
    metric: Mapping[str, Any],
    event: Mapping[str, Any],
    body: Mapping[str, Any],
    items: Mapping[str, Mapping[str, float]],
) -> float | None:
    function, dataset_type, column = parse_expression(metric["expression"])
    if function == "samplecount":
        return 1.0
    if dataset_type == "ITEMS":
        return items.get(str(column), {}).get(str(event["item_id"]))
    raw = event["event_value"] if column == "EVENT_VALUE" else body.get(str(column))
    return None if raw is None else float(raw)


def aggregate(
    ctx: Context, record: Mapping[str, Any], events: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """AWS-format rows (15-minute windows by event timestamp) for ``events`` under ``record``'s metrics."""
    sources = known_sources(ctx)
    group = record["dataset_group_arn"]
    metrics = record["metrics"]
    items = {
        str(column): item_values(ctx, group, str(column))
        for _, dataset_type, column in (parse_expression(m["expression"]) for m in metrics)
        if dataset_type == "ITEMS"
    }
    totals: dict[tuple[str, str, str, str, int], float] = {}
    for event in events:
        body = json.loads(event["body"]) if event.get("body") else {}
        event_type = str(event["event_type"] or "")
        for metric in metrics:
            if metric["event_type"].lower() != event_type.lower():
                continue
            value = metric_value(metric, event, body, items)
            if value is None or not math.isfinite(value):
                continue
            function = parse_expression(metric["expression"])[0]
            window = int(float(event["timestamp"]) // WINDOW_SECONDS * WINDOW_SECONDS)
            key = (metric["metric_name"], metric["event_type"], function, event_source(body, sources), window)
            totals[key] = totals.get(key, 0.0) + value
    return [
        {
            "METRIC_NAME": name,
            "EVENT_TYPE": event_type,
            "VALUE": round(value, 6),
            "MATH_FUNCTION": function,
            "EVENT_ATTRIBUTION_SOURCE": source,
            "TIMESTAMP": window,
        }
        for (name, event_type, function, source, window), value in sorted(
            totals.items(), key=lambda kv: (kv[0][4], kv[0][0], kv[0][3])
        )
    ]


COLUMNS = ("METRIC_NAME", "EVENT_TYPE", "VALUE", "MATH_FUNCTION", "EVENT_ATTRIBUTION_SOURCE", "TIMESTAMP")


def to_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([float(row[c]) if c == "VALUE" else row[c] for c in COLUMNS])
    return out.getvalue().encode()


def report(ctx: Context, arn: str, force: bool = False) -> Record | None:
    """Aggregate the events recorded since the last report; store and publish it. None when not due or
    another worker took it."""
    record = ctx.store.get(arn, KIND)
    if record is None or record.get("status") != ACTIVE:
        return None
    now = ctx.now()
    if not force and now - float(record.get("last_report") or 0) < ctx.settings.metric_report_seconds:
        return None
    group = record["dataset_group_arn"]
    start = int(record.get("report_seq") or 0)
    end = ctx.store.last_event_seq(group, "interaction")
    claimed = False

    def claim(current: Record) -> Record:
        nonlocal claimed
        if int(current.get("report_seq") or 0) != start:
            return current
        claimed = True
        return {**current, "report_seq": max(start, end), "last_report": now}

    ctx.store.update(arn, claim)
    if not claimed:
        return None
    events = [e for e in ctx.store.events_of_kind(group, "interaction", after_seq=start) if e["seq"] <= end]
    rows = aggregate(ctx, record, events)
    report_arn = f"{arn}/report/{int(now * 1000)}"
    report_record: Record = {
        "report_arn": report_arn,
        "creation_date_time": now,
        "rows": rows,
        "events": len(events),
    }
    path = (record.get("metrics_output_config", {}).get("s3_data_destination") or {}).get("path")
    if path and rows:
        try:
            report_record["location"] = write_output(
                path,
                f"AggregatedAttributionMetrics-PutEvents-{int(now)}.csv",
                to_csv(rows),
                ctx.settings.s3_endpoint_url,
                policy=ctx.location_policy(),
            )
        except Exception as exc:  # a destination problem shows on the resource, the report is kept
            ctx.store.update(arn, {"failure_reason": f"Could not write the report to {path}: {exc}"})
    ctx.store.insert(REPORT_KIND, report_arn, report_record, parent_arn=arn)
    return report_record


def report_due(ctx: Context) -> None:
    """The worker's periodic check: every ACTIVE metric attribution whose interval has passed reports."""
    for record in ctx.store.list(KIND):
        report(ctx, record["metric_attribution_arn"])


def totals(ctx: Context, arn: str) -> dict[tuple[str, str, str], float]:
    """(metric name, event type, source) → the value summed over every report so far."""
    out: dict[tuple[str, str, str], float] = {}
    for rep in ctx.store.list(REPORT_KIND, arn):
        for row in rep["rows"]:
            key = (row["METRIC_NAME"], row["EVENT_TYPE"], row["EVENT_ATTRIBUTION_SOURCE"])
            out[key] = out.get(key, 0.0) + float(row["VALUE"])
    return out


def publish_import(
    ctx: Context, job: Mapping[str, Any], dataset: Mapping[str, Any], bulk: Path, rows_before: int
) -> str | None:
    """``publishAttributionMetricsToS3`` on an Interactions import job: the report of the imported rows, as
    ``AggregatedAttributionMetrics-<FULL|INCREMENTAL>-<epoch>.csv`` in the metric attribution's destination
    (AWS publishes bulk-data reports this way). Returns where it went, or None (no attribution/destination)."""
    if normalize_dataset_type(dataset["dataset_type"]) != "INTERACTIONS":
        return None
    record = next(iter(ctx.store.list(KIND, dataset["dataset_group_arn"])), None)
    path = ((record or {}).get("metrics_output_config", {}).get("s3_data_destination") or {}).get("path")
    if record is None or not path:
        return None
    table = pq.read_table(bulk)
    mode = str(job.get("import_mode") or "FULL")
    rows = table.slice(rows_before if mode == "INCREMENTAL" else 0).to_pylist()
    events = [
        {
            "body": json.dumps(row, default=str),
            "event_type": row.get("EVENT_TYPE"),
            "event_value": row.get("EVENT_VALUE"),
            "item_id": row.get("ITEM_ID"),
            "timestamp": row.get("TIMESTAMP") or 0,
        }
        for row in rows
    ]
    report_rows = aggregate(ctx, record, events)
    name = f"AggregatedAttributionMetrics-{mode}-{int(ctx.now())}.csv"
    try:
        return write_output(
            path, name, to_csv(report_rows), ctx.settings.s3_endpoint_url, policy=ctx.location_policy()
        )
    except Exception as exc:  # the import itself succeeded; the problem shows on the metric attribution
        ctx.store.update(
            record["metric_attribution_arn"], {"failure_reason": f"Could not write {name} to {path}: {exc}"}
        )
        return None
