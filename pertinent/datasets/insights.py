"""Data insights: the figures of a dataset group's data that decide model quality, each with a suggestion.

Like Personalize's data insights (https://docs.aws.amazon.com/personalize/latest/dg/data-insights.html),
computed with pyarrow from the stored data: the bulk-imported tables plus the interactions streamed by
PutEvents from known (non-anonymous) users. The training minimums are Personalize's documented ones
(https://docs.aws.amazon.com/personalize/latest/dg/domain-use-cases.html): at least 1,000 interactions and
25 users with two or more each; 50,000 interactions from 1,000 such users recommended.

Pure functions over ``pa.Table`` (no store, no HTTP); ``pertinent.control.insights`` gathers the tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MIN_INTERACTIONS = 1000
RECOMMENDED_INTERACTIONS = 50_000
MIN_ACTIVE_USERS = 25  # users with at least two interactions
RECOMMENDED_ACTIVE_USERS = 1000
#: a share of cold items or users above this is reported
COLD_SHARE_WARNING = 0.10
#: metadata columns filled for fewer rows than this are reported
COVERAGE_WARNING = 0.80
#: data whose newest interaction is older than this many days is reported as stale
STALE_DAYS = 90
#: TIMESTAMP values above this are almost surely milliseconds, not seconds (year 5138 in seconds)
MILLISECONDS_THRESHOLD = 10**11
DAY = 86_400.0
ID_COLUMNS = ("USER_ID", "ITEM_ID")


@dataclass(frozen=True)
class Insight:
    code: str  # stable, for programs: TOO_FEW_INTERACTIONS, COLD_ITEMS …
    dataset: str  # INTERACTIONS, ITEMS or USERS
    severity: str  # "blocking" (training fails) or "warning" (quality suffers)
    message: str  # what is wrong, with the figure
    suggestion: str  # what to do about it


def _distribution(counts: pa.Array) -> dict[str, float]:
    """min, quartiles, p90, max and mean of per-user (or per-item) interaction counts."""
    if len(counts) == 0:
        return {"min": 0, "p25": 0, "median": 0, "p75": 0, "p90": 0, "max": 0, "mean": 0.0}
    q = pc.quantile(counts, q=[0.25, 0.5, 0.75, 0.9], interpolation="nearest").to_pylist()
    return {
        "min": int(pc.min(counts).as_py()),
        "p25": int(q[0]),
        "median": int(q[1]),
        "p75": int(q[2]),
        "p90": int(q[3]),
        "max": int(pc.max(counts).as_py()),
        "mean": round(float(pc.mean(counts).as_py()), 2),
    }


def _filled(column: pa.ChunkedArray) -> int:
    """Rows with a value: not null and, for strings, not empty."""
    valid = pc.is_valid(column)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        valid = pc.and_(valid, pc.not_equal(pc.utf8_length(pc.fill_null(column, "")), 0))
    return int(pc.sum(valid).as_py() or 0)


def coverage(table: pa.Table) -> dict[str, float]:
    """Share of rows with a value, per metadata column (the ID column excluded)."""
    rows = table.num_rows
    return {
        name: round(_filled(table[name]) / rows, 4) if rows else 0.0
        for name in table.column_names
        if name not in ID_COLUMNS
    }


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


def interaction_figures(
    interactions: pa.Table, now: float, streamed: pa.Table | None = None
) -> tuple[dict[str, Any], list[Insight]]:
    """Figures and insights of the interactions (bulk rows, then ``streamed`` rows in arrival order)."""
    insights: list[Insight] = []
    columns = [
        c
        for c in ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE")
        if c in interactions.column_names
    ]
    table = interactions.select(columns)
    if streamed is not None and streamed.num_rows:
        table = pa.concat_tables([table, streamed.select(columns).cast(table.schema)])
    rows = table.num_rows
    per_user = table.group_by("USER_ID").aggregate([("ITEM_ID", "count")])
    per_item = table.group_by("ITEM_ID").aggregate([("USER_ID", "count")])
    user_counts = per_user["ITEM_ID_count"].combine_chunks() if rows else pa.array([], pa.int64())
    item_counts = per_item["USER_ID_count"].combine_chunks() if rows else pa.array([], pa.int64())
    active_users = int(pc.sum(pc.greater_equal(user_counts, 2)).as_py() or 0) if rows else 0
    figures: dict[str, Any] = {
        "rows": rows,
        "streamed_rows": 0 if streamed is None else streamed.num_rows,
        "users": per_user.num_rows,
        "items": per_item.num_rows,
        "users_with_two_or_more": active_users,
        "per_user": _distribution(user_counts),
        "per_item": _distribution(item_counts),
        "items_with_one_interaction": int(pc.sum(pc.equal(item_counts, 1)).as_py() or 0) if rows else 0,
    }
    if rows < MIN_INTERACTIONS:
        insights.append(Insight(
            "TOO_FEW_INTERACTIONS", "INTERACTIONS", "blocking",
            f"The interactions data has only {rows:,} interactions; training needs at least "
            f"{MIN_INTERACTIONS:,} (50,000 recommended).",
            f"Import at least {MIN_INTERACTIONS - rows:,} more unique interactions before training.",
        ))  # fmt: skip
    elif rows < RECOMMENDED_INTERACTIONS:
        insights.append(Insight(
            "FEW_INTERACTIONS", "INTERACTIONS", "warning",
            f"The interactions data has {rows:,} interactions; {RECOMMENDED_INTERACTIONS:,} are recommended for "
            "quality recommendations.",
            "Import more history (a longer time span, more event types) or stream events with PutEvents.",
        ))  # fmt: skip
    if active_users < MIN_ACTIVE_USERS:
        insights.append(Insight(
            "TOO_FEW_USERS", "INTERACTIONS", "blocking",
            f"Only {active_users:,} users have two or more interactions; training needs at least "
            f"{MIN_ACTIVE_USERS} such users ({RECOMMENDED_ACTIVE_USERS:,} recommended).",
            f"Import at least 2 interactions for each of {MIN_ACTIVE_USERS - active_users} more users.",
        ))  # fmt: skip
    elif active_users < RECOMMENDED_ACTIVE_USERS:
        insights.append(Insight(
            "FEW_USERS", "INTERACTIONS", "warning",
            f"{active_users:,} users have two or more interactions; {RECOMMENDED_ACTIVE_USERS:,} are recommended.",
            "Import the interactions of more users, or stream their events with PutEvents.",
        ))  # fmt: skip

    # event types and values
    types: list[dict[str, Any]] = []
    if "EVENT_TYPE" in columns and rows:
        aggregations: list[tuple[str, str]] = [("USER_ID", "count")]
        if "EVENT_VALUE" in columns:
            aggregations += [("EVENT_VALUE", "min"), ("EVENT_VALUE", "max"), ("EVENT_VALUE", "mean"),
                             ("EVENT_VALUE", "count")]  # fmt: skip
        grouped = table.group_by("EVENT_TYPE").aggregate(aggregations).to_pylist()
        for entry in sorted(grouped, key=lambda e: -int(e["USER_ID_count"])):
            item: dict[str, Any] = {"event_type": entry["EVENT_TYPE"], "count": int(entry["USER_ID_count"])}
            if "EVENT_VALUE" in columns:
                with_value = int(entry["EVENT_VALUE_count"])
                item["with_value"] = with_value
                if with_value:
                    item["value"] = {
                        "min": round(float(entry["EVENT_VALUE_min"]), 4),
                        "max": round(float(entry["EVENT_VALUE_max"]), 4),
                        "mean": round(float(entry["EVENT_VALUE_mean"]), 4),
                    }
            types.append(item)
    figures["event_types"] = types
    if "EVENT_TYPE" not in columns:
        insights.append(Insight(
            "NO_EVENT_TYPE", "INTERACTIONS", "warning",
            "The interactions have no EVENT_TYPE column, so every interaction counts the same and no filter or "
            "recommender can tell a click from a purchase.",
            "Add an EVENT_TYPE column (watch, click, purchase …) to the schema and data.",
        ))  # fmt: skip

    # duplicates: the same user, item, time and event type more than once
    keys = [c for c in ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE") if c in columns]
    distinct = table.group_by(keys).aggregate([]).num_rows if rows else 0
    duplicates = rows - distinct
    figures["duplicates"] = duplicates
    if duplicates:
        insights.append(Insight(
            "DUPLICATE_INTERACTIONS", "INTERACTIONS", "warning",
            f"{duplicates:,} interactions ({_pct(duplicates / rows)}) repeat another one exactly (same user, "
            "item, time and event type); they weigh those items twice.",
            "Remove the duplicates from the source data (or check that an import did not run twice in "
            "INCREMENTAL mode) and import again in FULL mode.",
        ))  # fmt: skip

    # timestamps: span, recency, milliseconds, the future, and streamed events older than their predecessor
    ts = table["TIMESTAMP"] if "TIMESTAMP" in columns else None
    out_of_order = 0
    if streamed is not None and streamed.num_rows > 1:
        order = streamed.select(["USER_ID", "TIMESTAMP"]).to_pydict()
        last: dict[str, float] = {}
        for user, stamp in zip(order["USER_ID"], order["TIMESTAMP"], strict=True):
            if user in last and stamp < last[user]:
                out_of_order += 1
            last[user] = max(stamp, last.get(user, stamp))
    figures["out_of_order"] = out_of_order
    if out_of_order:
        insights.append(Insight(
            "OUT_OF_ORDER_EVENTS", "INTERACTIONS", "warning",
            f"{out_of_order:,} streamed events arrived with a sentAt older than an event already recorded for "
            "the same user.",
            "Send sentAt as the time the interaction happened and send events as they happen; batched or "
            "replayed events with late timestamps blur the user's recent history.",
        ))  # fmt: skip
    if ts is not None and rows:
        first, newest = (float(v.as_py()) for v in pc.min_max(ts).values())
        milliseconds = int(pc.sum(pc.greater(ts, MILLISECONDS_THRESHOLD)).as_py() or 0)
        future = int(pc.sum(pc.greater(ts, now + DAY)).as_py() or 0)
        figures["timestamps"] = {
            "first": first,
            "last": newest,
            "span_days": round((newest - first) / DAY, 1),
            "days_since_last": round((now - newest) / DAY, 1),
            "in_milliseconds": milliseconds,
            "in_future": future,
        }
        if milliseconds:
            insights.append(Insight(
                "MILLISECOND_TIMESTAMPS", "INTERACTIONS", "blocking",
                f"{milliseconds:,} interactions have a TIMESTAMP above 10^11: milliseconds, where Personalize "
                "expects Unix epoch seconds.",
                "Divide those timestamps by 1000 and import again.",
            ))  # fmt: skip
        elif future:
            insights.append(Insight(
                "FUTURE_TIMESTAMPS", "INTERACTIONS", "warning",
                f"{future:,} interactions are dated more than a day in the future.",
                "Check the clock or time zone of the system that records them; TIMESTAMP is UTC epoch seconds.",
            ))  # fmt: skip
        if (now - newest) / DAY > STALE_DAYS:
            insights.append(Insight(
                "STALE_INTERACTIONS", "INTERACTIONS", "warning",
                f"The newest interaction is {(now - newest) / DAY:,.0f} days old; recommendations follow "
                "today's tastes only with recent data.",
                "Import recent interactions, and record new ones with an event tracker and PutEvents.",
            ))  # fmt: skip
        if newest - first < DAY and rows >= MIN_INTERACTIONS:
            insights.append(Insight(
                "SHORT_TIME_SPAN", "INTERACTIONS", "warning",
                "All interactions fall within one day, so the time-based validation split and trending "
                "recipes have no history to learn from.",
                "Import a longer history (weeks or months) with each interaction's real time.",
            ))  # fmt: skip
    return figures, insights


def metadata_figures(
    kind: str, table: pa.Table, interaction_ids: pa.Array | None
) -> tuple[dict[str, Any], list[Insight]]:
    """Figures and insights of an Items or Users table: rows, cold share, coverage per column."""
    id_column = "ITEM_ID" if kind == "ITEMS" else "USER_ID"
    noun = "items" if kind == "ITEMS" else "users"
    insights: list[Insight] = []
    rows = table.num_rows
    ids = pc.unique(table[id_column].combine_chunks()) if rows else pa.array([], pa.string())
    cold = (
        len(ids)
        if interaction_ids is None
        else int(pc.sum(pc.invert(pc.is_in(ids, interaction_ids))).as_py() or 0)
    )
    share = cold / len(ids) if len(ids) else 0.0
    filled = coverage(table)
    figures: dict[str, Any] = {"rows": rows, "cold": cold, "cold_share": round(share, 4), "coverage": filled}
    if share > COLD_SHARE_WARNING:
        if kind == "ITEMS":
            suggestion = (
                "Check that every interaction was imported and that the item IDs match between the Items and "
                "interactions data; aws-user-personalization explores cold items "
                "(campaignConfig.itemExplorationConfig), and their metadata lets similar-items and search find them."
            )
        else:
            suggestion = (
                "Check that the user IDs match between the Users and interactions data; users without "
                "interactions get popular items until they interact."
            )
        insights.append(Insight(
            f"COLD_{kind}", kind, "warning",
            f"{_pct(share)} of {noun} ({cold:,} of {len(ids):,}) have no interactions.", suggestion,
        ))  # fmt: skip
    for column, value in filled.items():
        if value < COVERAGE_WARNING:
            insights.append(Insight(
                "LOW_METADATA_COVERAGE", kind, "warning",
                f"{column} is empty for {_pct(1 - value)} of {noun}.",
                f"Fill {column} for more {noun} (or drop it from the schema): models and filters use only the "
                "values that are there.",
            ))  # fmt: skip
    return figures, insights


def analyze(
    interactions: pa.Table | None,
    items: pa.Table | None,
    users: pa.Table | None,
    now: float,
    streamed: pa.Table | None = None,
) -> dict[str, Any]:
    """Every figure and insight of a dataset group's data, as a JSON-ready dict."""
    result: dict[str, Any] = {
        "minimums": {
            "interactions": {"required": MIN_INTERACTIONS, "recommended": RECOMMENDED_INTERACTIONS},
            "users_with_two_or_more": {"required": MIN_ACTIVE_USERS, "recommended": RECOMMENDED_ACTIVE_USERS},
        },
        "interactions": None,
        "items": None,
        "users": None,
    }
    insights: list[Insight] = []
    ids: dict[str, pa.Array | None] = {"ITEM_ID": None, "USER_ID": None}
    if interactions is None and (streamed is None or streamed.num_rows == 0):
        insights.append(Insight(
            "NO_INTERACTIONS", "INTERACTIONS", "blocking",
            "The dataset group has no interactions data; every recipe trains on interactions.",
            "Create an Interactions dataset and import your interaction history (CreateDatasetImportJob).",
        ))  # fmt: skip
    else:
        base = interactions if interactions is not None else streamed
        assert base is not None
        figures, found = interaction_figures(base, now, streamed if interactions is not None else None)
        result["interactions"] = figures
        insights += found
        combined = base if interactions is None or streamed is None else pa.concat_tables(
            [interactions.select(["USER_ID", "ITEM_ID"]), streamed.select(["USER_ID", "ITEM_ID"]).cast(
                interactions.select(["USER_ID", "ITEM_ID"]).schema)]
        )  # fmt: skip
        for column in ids:
            ids[column] = pc.unique(combined[column].combine_chunks())
    if items is None:
        if result["interactions"] is not None:
            insights.append(Insight(
                "NO_ITEMS_DATASET", "ITEMS", "warning",
                "There is no Items dataset: items are known only through interactions, so new items cannot "
                "be recommended and filters and search have no item metadata.",
                "Create an Items dataset with the catalog's metadata (genres, categories, description) and "
                "import it.",
            ))  # fmt: skip
    else:
        result["items"], found = metadata_figures("ITEMS", items, ids["ITEM_ID"])
        insights += found
    if users is not None:
        result["users"], found = metadata_figures("USERS", users, ids["USER_ID"])
        insights += found
    result["insights"] = [asdict(i) for i in insights]
    return result
