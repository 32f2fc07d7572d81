"""Data insights find the problems planted in the data, each with its figure and a suggestion."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pertinent.datasets.insights import analyze
from tests.conftest import LiveServer, make_group, wait_for_status

NOW = 1_750_000_000.0
DAY = 86_400


def interactions(rows: list[tuple[str, str, int, str, float | None]]) -> pa.Table:
    users, items, stamps, types, values = zip(*rows, strict=True)
    return pa.table(
        {"USER_ID": list(users), "ITEM_ID": list(items), "TIMESTAMP": pa.array(stamps, pa.int64()),
         "EVENT_TYPE": list(types), "EVENT_VALUE": pa.array(values, pa.float32())}
    )  # fmt: skip


def planted() -> tuple[pa.Table, pa.Table, pa.Table]:
    """600 interactions; 20 users with 29 each, 10 users with one; 10 exact duplicates; 5 millisecond stamps;
    items m0..m99 of which 38 never interacted; GENRES missing for 30 items; 3 late streamed events."""
    rows: list[tuple[str, str, int, str, float | None]] = []
    for u in range(20):
        for k in range(29):
            kind, value = ("click", None) if k % 4 == 0 else ("watch", float(k % 5 + 1))
            rows.append((f"u{u}", f"m{(u * 3 + k) % 62}", int(NOW) - 30 * DAY + u * 1000 + k, kind, value))
    for u in range(20, 30):
        rows.append((f"u{u}", "m1", int(NOW) - DAY, "watch", 2.0))
    assert len(rows) == 590
    rows += rows[:8] + [rows[8], rows[8]]  # 10 rows repeat another one (row 8 three times)
    for n in range(5):
        user, item, _, kind, value = rows[100 + n]
        rows[100 + n] = (user, item, int(NOW) * 1000 + n, kind, value)
    table = interactions(rows)
    items = pa.table({
        "ITEM_ID": [f"m{i}" for i in range(100)],
        "GENRES": [None if i % 10 < 3 else "Drama" for i in range(100)],
        "TITLE": [f"Film {i}" for i in range(100)],
    })  # fmt: skip
    streamed = pa.table({
        "USER_ID": ["u1", "u1", "u1", "u2", "u2", "u2", "u2"],
        "ITEM_ID": ["m1", "m2", "m3", "m4", "m5", "m6", "m7"],
        "TIMESTAMP": pa.array([NOW - 10, NOW - 20, NOW - 5, NOW - 3, NOW - 9, NOW - 8, NOW - 1], pa.int64()),
        "EVENT_TYPE": ["watch"] * 7,
        "EVENT_VALUE": pa.array([None] * 7, pa.float32()),
    })  # fmt: skip
    return table, items, streamed


def by_code(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["code"]: i for i in result["insights"]}


def test_planted_problems_are_found_with_figures_and_suggestions() -> None:
    table, items, streamed = planted()
    result = analyze(table, items, None, NOW, streamed)
    figures = result["interactions"]
    assert figures["rows"] == 607 and figures["streamed_rows"] == 7
    assert figures["users"] == 30 and figures["users_with_two_or_more"] == 20
    assert figures["per_user"]["min"] == 1 and figures["per_user"]["max"] >= 29
    assert figures["duplicates"] == 10
    assert figures["out_of_order"] == 3  # u1's second and u2's second and third
    assert figures["timestamps"]["in_milliseconds"] == 5
    types = {t["event_type"]: t for t in figures["event_types"]}
    assert set(types) == {"watch", "click"}
    assert types["click"]["with_value"] == 0 and "value" not in types["click"]
    assert types["watch"]["value"]["min"] == 1.0 and types["watch"]["value"]["max"] == 5.0
    assert result["items"]["cold"] == 38 and result["items"]["cold_share"] == 0.38
    assert result["items"]["coverage"] == {"GENRES": 0.7, "TITLE": 1.0}

    found = by_code(result)
    assert found["TOO_FEW_INTERACTIONS"]["severity"] == "blocking"
    assert "only 607 interactions" in found["TOO_FEW_INTERACTIONS"]["message"]
    assert "at least 393 more" in found["TOO_FEW_INTERACTIONS"]["suggestion"]
    assert "Only 20 users" in found["TOO_FEW_USERS"]["message"]
    assert "5 more users" in found["TOO_FEW_USERS"]["suggestion"]
    assert found["COLD_ITEMS"]["message"].startswith("38 % of items (38 of 100) have no interactions")
    assert "itemExplorationConfig" in found["COLD_ITEMS"]["suggestion"]
    assert found["LOW_METADATA_COVERAGE"]["message"] == "GENRES is empty for 30 % of items."
    assert found["DUPLICATE_INTERACTIONS"]["message"].startswith("10 interactions")
    assert (
        found["MILLISECOND_TIMESTAMPS"]["suggestion"] == "Divide those timestamps by 1000 and import again."
    )
    assert found["OUT_OF_ORDER_EVENTS"]["message"].startswith("3 streamed events")
    assert all(i["suggestion"] for i in result["insights"])


def test_clean_data_gets_no_blocking_insight() -> None:
    rows = [
        (f"u{u}", f"m{(u * 7 + k) % 300}", int(NOW) - (k + 1) * DAY // 3 - u, "watch", None)
        for u in range(100) for k in range(20)
    ]  # fmt: skip
    table = interactions(rows)
    items = pa.table({"ITEM_ID": [f"m{i}" for i in range(300)], "GENRES": ["Drama"] * 300})
    result = analyze(table, items, None, NOW)
    codes = set(by_code(result))
    assert not {i["code"] for i in result["insights"] if i["severity"] == "blocking"}, codes
    assert codes <= {"FEW_INTERACTIONS", "FEW_USERS"}, codes  # the recommended, not required, amounts
    assert result["interactions"]["duplicates"] == 0 and result["items"]["cold"] == 0


def test_stale_and_missing_parts_are_reported() -> None:
    rows = [(f"u{u}", f"m{k}", int(NOW) - 400 * DAY - k, "watch", None) for u in range(60) for k in range(20)]
    result = analyze(interactions(rows), None, None, NOW)
    found = by_code(result)
    assert "STALE_INTERACTIONS" in found and "400 days old" in found["STALE_INTERACTIONS"]["message"]
    assert "NO_ITEMS_DATASET" in found
    assert by_code(analyze(None, None, None, NOW))["NO_INTERACTIONS"]["severity"] == "blocking"


def get_json(url: str) -> tuple[int, Any, Any]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def test_the_endpoint_reads_the_stored_data_and_streamed_events(
    server: LiveServer, personalize: Any, tmp_path: Path
) -> None:
    group = make_group(personalize, tmp_path)  # 60 users × 30 ratings, no Items dataset
    tracker = personalize.create_event_tracker(name="t", datasetGroupArn=group.arn)
    wait_for_status(
        lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    events = server.client("personalize-events")
    events.put_events(
        trackingId=tracker["trackingId"], userId="u1", sessionId="s",
        eventList=[{"eventType": "rating", "itemId": "m2", "sentAt": time.time()}],
    )  # fmt: skip
    events.put_events(  # anonymous: left out, as Personalize does
        trackingId=tracker["trackingId"], sessionId="anon",
        eventList=[{"eventType": "rating", "itemId": "m4", "sentAt": time.time()}],
    )  # fmt: skip
    status, _, body = get_json(f"{server.url}/insights/movies")
    assert status == 200, body
    assert body["datasetGroupArn"] == group.arn
    assert body["interactions"]["rows"] == 60 * 30 + 1 and body["interactions"]["streamed_rows"] == 1
    assert body["interactions"]["users_with_two_or_more"] == 60
    assert [t["event_type"] for t in body["interactions"]["event_types"]] == ["rating"]
    codes = {i["code"] for i in body["insights"]}
    assert "NO_ITEMS_DATASET" in codes and "TOO_FEW_INTERACTIONS" not in codes
    with urllib.request.urlopen(f"{server.url}/console/groups/movies/insights") as response:
        page = response.read().decode()
    assert 'data-code="NO_ITEMS_DATASET"' in page and "Suggestion:" in page and "Create an Items dataset" in page
    assert "<code>rating</code>" in page  # the event types table
    status, headers, body = get_json(f"{server.url}/insights/no-such-group")
    assert status == 404 and headers["x-amzn-ErrorType"] == "ResourceNotFoundException", body


@pytest.mark.parametrize("name", ["..", "%2e%2e", "a" * 200])
def test_odd_names_are_refused_cleanly(server: LiveServer, name: str) -> None:
    status, _, body = get_json(f"{server.url}/insights/{name}")
    assert status in (400, 404) and "message" in body
