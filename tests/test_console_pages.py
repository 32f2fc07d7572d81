"""The console without a browser: its pure pieces (charts, URLs, value quoting, item labels) and its HTTP
behaviour (redirects, empty states, error pages and JSON errors, static files) against a live server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pertinent.console import urls
from pertinent.console.charts import bar_chart, metric_label, sorted_metrics
from pertinent.console.items import ItemLabeler
from pertinent.console.pages_filters import placeholders, quote_values
from pertinent.console.templating import format_hours, format_time, status_class
from pertinent.datasets.avro_schema import parse_schema
from pertinent.filters.evaluate import ItemTable
from pertinent.serving.group_data import Catalog
from tests.conftest import ITEMS_SCHEMA, LiveServer, make_group


# -- pure pieces ------------------------------------------------------------------------------------------
def test_metric_labels_and_order_follow_the_aws_console() -> None:
    assert metric_label("normalized_discounted_cumulative_gain_at_10") == "NDCG@10"
    assert metric_label("mean_reciprocal_rank_at_25") == "MRR@25"
    assert metric_label("coverage") == "Coverage"
    assert metric_label("some_new_metric") == "Some new metric"
    metrics = {"precision_at_5": 0.1, "coverage": 0.5, "zeta": 1, "flag": True, "nan": float("nan")}
    assert [k for k, _ in sorted_metrics(metrics)] == ["coverage", "precision_at_5", "zeta"]


def test_bar_widths_are_proportional_and_clamped() -> None:
    chart = bar_chart("t", [("coverage", 0.5), ("precision_at_5", 0.25), ("bad", -1.0)])
    plot = chart.plot_width
    assert [b.width for b in chart.bars] == [plot / 2, plot / 4, 0.0]
    assert chart.ticks[0][1] == "0" and chart.ticks[-1][1] == "1"
    assert chart.bars[1].y > chart.bars[0].y and chart.height > chart.axis_y
    big = bar_chart("t", [("a", 30.0), ("b", 15.0)])  # values above 1 get a round axis
    assert big.ticks[-1][1] == "50" and big.bars[0].width == pytest.approx(plot * 30 / 50)


def test_urls_round_trip_through_arns() -> None:
    base = "arn:aws:personalize:us-east-1:000000000000"
    assert urls.for_arn(f"{base}:dataset-group/movies") == "/console/groups/movies"
    assert (
        urls.for_arn(f"{base}:dataset/movies/INTERACTIONS") == "/console/groups/movies/datasets/interactions"
    )
    assert urls.for_arn(f"{base}:solution/up") == "/console/solutions/up"
    assert urls.for_arn(f"{base}:solution/up/abc123") == "/console/solutions/up/versions/abc123"
    assert urls.for_arn(f"{base}:solution/up/$LATEST") == "/console/solutions/up"
    assert urls.for_arn(f"{base}:campaign/c") == "/console/campaigns/c"
    assert urls.for_arn(f"{base}:schema/s") is None
    assert urls.for_arn("not an arn") is None and urls.for_arn(None) is None
    assert urls.group("a b/c") == "/console/groups/a%20b%2Fc"


def test_filter_values_are_quoted_as_personalize_wants_them() -> None:
    assert quote_values("Comedy, Drama") == '"Comedy","Drama"'
    assert quote_values(" 10 ") == '"10"'
    assert quote_values('"as","typed"') == '"as","typed"'
    assert quote_values(" , ") == ""
    assert placeholders("INCLUDE ItemID WHERE Items.GENRES IN ($GENRE) AND Items.YEAR < $MAX") == (
        "GENRE",
        "MAX",
    )
    assert placeholders("not a filter") == ()


def test_items_are_labelled_with_title_and_distinct_tags() -> None:
    rows: list[dict[str, Any]] = [
        {"ITEM_ID": "m1", "TITLE": "Movie 1", "GENRES": "Comedy|Drama|Comedy"},
        {"ITEM_ID": "m2", "TITLE": None, "GENRES": None},
    ]
    catalog = Catalog(
        np.asarray(["m1", "m2"], dtype=np.str_),
        {"m1": 0, "m2": 1},
        rows,
        ItemTable.from_rows(["m1", "m2"], rows, numeric_fields=[]),
        np.full(2, np.nan),
        2,
        ("GENRES", "TITLE"),
        ("TITLE",),
    )
    labeler = ItemLabeler(catalog, parse_schema(ITEMS_SCHEMA))
    assert labeler.view("m1").as_json() == {"item_id": "m1", "title": "Movie 1", "tags": ["Comedy", "Drama"]}
    assert labeler.view("m2").as_json() == {"item_id": "m2", "title": None, "tags": []}
    assert labeler.view("unknown").title is None
    assert ItemLabeler(catalog, None).view("m1").title is None  # no Items dataset: ids only


def test_template_filters() -> None:
    assert format_time(0) == "1970-01-01 00:00:00 UTC" and format_time(None) == ""
    assert format_hours(0.001) == "3.6 s" and format_hours(0.5) == "30.0 min" and format_hours(2) == "2.0 h"
    assert [status_class(s) for s in ("ACTIVE", "CREATE PENDING", "CREATE FAILED", None)] == [
        "ok",
        "busy",
        "failed",
        "unknown",
    ]


# -- over HTTP ----------------------------------------------------------------------------------------------
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(
    url: str, data: bytes | None = None, content_type: str | None = None, follow: bool = True
) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    request.add_header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")  # as a browser asks
    if content_type:
        request.add_header("Content-Type", content_type)
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_root_redirects_to_the_console_and_an_empty_server_says_how_to_start(server: LiveServer) -> None:
    status, headers, _ = fetch(f"{server.url}/", follow=False)
    assert status == 307 and headers["location"] == "/console/"
    status, headers, html = fetch(f"{server.url}/console")
    assert status == 200 and "No dataset groups yet" in html and "pertinent demo" in html
    assert headers["cache-control"] == "no-store"
    status, headers, css = fetch(f"{server.url}/console/static/console.css")
    assert status == 200 and headers["content-type"].startswith("text/css") and ".bar-chart" in css
    for script in ("tryit.js", "live.js", "watch.js", "filters.js"):
        assert fetch(f"{server.url}/console/static/{script}")[0] == 200


def test_errors_are_pages_or_json_with_code_and_message(server: LiveServer) -> None:
    status, _, html = fetch(f"{server.url}/console/groups/nothing-here")
    assert status == 404 and "ResourceNotFoundException" in html and "dataset-group/nothing-here" in html
    assert "Traceback" not in html
    status, _, html = fetch(f"{server.url}/console/no/such/page")
    assert status == 404 and "The console has no page at /console/no/such/page." in html
    status, _, body = fetch(f"{server.url}/console/api/status?arn=arn:aws:personalize:::campaign/x")
    assert status == 404 and json.loads(body)["error"]["code"] == "ResourceNotFoundException"
    status, _, body = fetch(f"{server.url}/console/api/status")
    assert status == 400 and json.loads(body)["error"] == {
        "code": "InvalidInputException",
        "message": "arn is required.",
    }
    status, _, body = fetch(f"{server.url}/console/api/nothing")
    assert status == 404 and json.loads(body)["error"]["code"] == "ResourceNotFoundException"


def test_event_posts_must_be_json(server: LiveServer) -> None:
    url = f"{server.url}/console/api/campaigns/c/events"
    status, _, body = fetch(url, b"user_id=1&item_id=2", "application/x-www-form-urlencoded")
    assert status == 400 and "Content-Type: application/json" in json.loads(body)["error"]["message"]
    status, _, body = fetch(url, b"[1]", "application/json")
    assert status == 400 and json.loads(body)["error"]["message"] == "The body must be a JSON object."
    status, _, body = fetch(url, json.dumps({"user_id": "1", "item_id": "2"}).encode(), "application/json")
    assert status == 404 and "campaign/c" in json.loads(body)["error"]["message"]


def test_group_pages_show_datasets_and_statuses(server: LiveServer, personalize: Any, tmp_path: Path) -> None:
    group = make_group(personalize, tmp_path, name="shop")
    status, _, html = fetch(f"{server.url}/console/groups/shop")
    assert status == 200 and 'href="/console/groups/shop/datasets/interactions"' in html
    assert "No solutions yet" in html and "No campaigns yet" in html and "No event tracker" in html
    status, _, html = fetch(f"{server.url}/console/groups/shop/datasets/interactions")
    assert status == 200 and "1,800" in html and 'data-field="EVENT_VALUE"' in html
    status, _, html = fetch(f"{server.url}/console/groups/shop/datasets/bogus")
    assert status == 404 and "not a dataset type" in html
    status, _, html = fetch(f"{server.url}/console/groups/shop/datasets/items")
    assert status == 404 and "dataset/shop/ITEMS" in html
    status, _, body = fetch(f"{server.url}/console/api/status?arn={group.interactions_arn}")
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "ACTIVE" and answer["in_flight"] is False
    status, _, body = fetch(f"{server.url}/console/api/groups/shop/events?after=0")
    assert status == 200 and json.loads(body) == {"events": [], "last_seq": 0}
    status, _, html = fetch(f"{server.url}/console/groups/shop/events")
    assert status == 200 and "No events yet" in html
    status, _, html = fetch(f"{server.url}/console/groups/shop/filters")
    assert status == 200 and "No filters yet" in html
