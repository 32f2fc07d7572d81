"""The live view of a dataset group's incoming events (PutEvents, PutItems, PutUsers).

The page renders the newest events; its script then polls
``GET /console/api/groups/{name}/events?after=SEQ`` for the ones logged since and puts them on top.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from pertinent.console.base import Console, Crumb, JsonBody, Page, int_param
from pertinent.console.pages_groups import group_crumbs
from pertinent.store import MetadataStore

PAGE_SIZE = 50
POLL_MS = 1000


def newest_events(
    store: MetadataStore, dataset_group_arn: str, after_seq: int = 0, limit: int = PAGE_SIZE
) -> list[dict[str, Any]]:
    """The group's newest ``limit`` logged events after ``after_seq``, newest first."""
    return store.recent_events(dataset_group_arn, after_seq, limit)


def events_page(console: Console, request: Request) -> Page:
    name = request.path_params["group"]
    group = console.record("dataset-group", name)
    rows = newest_events(console.ctx.store, group["dataset_group_arn"])
    trackers = console.ctx.store.list("event-tracker", group["dataset_group_arn"])
    context = {
        "record": group,
        "events": rows,
        "last_seq": rows[0]["seq"] if rows else 0,
        "tracker": trackers[0] if trackers else None,
        "poll_ms": POLL_MS,
        "page_size": PAGE_SIZE,
    }
    return Page(
        "events.html",
        f"Live events of {name}",
        context,
        group_crumbs(name, Crumb("Live events")),
        group=name,
        section="events",
    )


def events_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    group = console.record("dataset-group", request.path_params["group"])
    after = int_param(request.query_params, "after", 0, 0, 2**62)
    rows = newest_events(console.ctx.store, group["dataset_group_arn"], after_seq=after)
    return {"events": rows, "last_seq": rows[0]["seq"] if rows else after}


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/console/groups/{group}/events", console.page(events_page), methods=["GET"]),
        Route("/console/api/groups/{group}/events", console.api(events_api), methods=["GET"]),
    ]
