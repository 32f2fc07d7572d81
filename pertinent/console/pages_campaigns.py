"""Campaigns: the detail page with its "try it" panel, and the JSON endpoints the panel's script calls.

``GET  /console/api/campaigns/{name}/recommendations?user_id=&item_id=&input_list=&num_results=``
    the campaign's answer with titles and tags, plus the user's recent history beside it;
``POST /console/api/campaigns/{name}/events`` ``{"user_id", "item_id", "event_type", ...}``
    one PutEvents through the group's event tracker;
``GET  /console/api/campaigns/{name}/users``
    a few user ids of the training data to try.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from pertinent import arns
from pertinent.console import urls
from pertinent.console.base import Console, Crumb, JsonBody, Page, int_param, text_param
from pertinent.console.items import recent_history
from pertinent.console.pages_filters import quote_values
from pertinent.console.pages_groups import group_crumbs, recipe_of
from pertinent.console.tryit import Question, ask, labeler_for, loaded_target, pairs, send_event, split_ids
from pertinent.control.insights import common_event_type
from pertinent.errors import InvalidInputException
from pertinent.resources.status import IN_FLIGHT
from pertinent.serving.explain import explain

DEFAULT_EVENT_TYPE = "click"
SAMPLE_USERS = 8
#: history items and features an explanation shows
EXPLAIN_TOP = 5
#: recipes GET /explain answers for
EXPLAINABLE = ("USER_PERSONALIZATION", "PERSONALIZED_RANKING")
UNSEEN = re.compile(r'^\s*EXCLUDE\s+ItemID\s+WHERE\s+Interactions\.EVENT_TYPE\s+IN\s*\(\s*"[^$]*\)\s*$', re.I)


def unseen_filter(filters: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The group's filter that drops items the user already interacted with (fixed event types, no
    placeholder), which try-it applies by default: Personalize itself may recommend items a user has
    already interacted with, and documents filters as the way to leave them out
    (https://docs.aws.amazon.com/personalize/latest/dg/filter.html)."""
    return next((f for f in filters if UNSEEN.match(f.get("filter_expression", ""))), None)


def campaign_page(console: Console, request: Request) -> Page:
    name = request.path_params["campaign"]
    campaign = console.record("campaign", name)
    store = console.ctx.store
    version = store.get(campaign["resolved_solution_version_arn"], "solution-version") or {}
    solution = store.get(campaign["solution_arn"], "solution") or {}
    trackers = store.list("event-tracker", campaign["dataset_group_arn"])
    group = arns.parse(campaign["dataset_group_arn"]).path
    recipe = recipe_of(version or solution)
    filters = [f for f in store.list("filter", campaign["dataset_group_arn"]) if f.get("status") == "ACTIVE"]
    context = {
        "record": campaign,
        "version": version,
        "solution": solution,
        "recipe": recipe,
        "tracker": trackers[0] if trackers else None,
        "event_type": solution.get("event_type")
        or common_event_type(console.ctx, campaign["dataset_group_arn"])
        or DEFAULT_EVENT_TYPE,
        "filters": filters,
        "default_filter": unseen_filter(filters) if recipe["type"] == "USER_PERSONALIZATION" else None,
        "explainable": recipe["type"] in EXPLAINABLE,
        "watch": [campaign["campaign_arn"]] if campaign.get("status") in IN_FLIGHT else [],
        "api": f"/console/api/campaigns/{quote(name, safe='')}",
        "what": "campaign",
    }
    return Page(
        "campaign.html",
        f"Campaign {name}",
        context,
        group_crumbs(group, Crumb(f"Campaign {name}")),
        group=group,
        section="overview",
    )


def target(console: Console, request: Request) -> dict[str, Any]:
    """What a try-it endpoint asks: the campaign (``{campaign}`` in the route) or the domain recommender
    (``{recommender}``), as ``{name, campaign_arn, dataset_group_arn}`` (a recommender's ARN is asked
    like a campaign's)."""
    if "recommender" in request.path_params:
        record = console.record("recommender", request.path_params["recommender"])
        return {"name": record["name"], "campaign_arn": record["recommender_arn"],
                "dataset_group_arn": record["dataset_group_arn"]}  # fmt: skip
    return console.record("campaign", request.path_params["campaign"])


def recommendations_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    started = time.perf_counter()
    campaign = target(console, request)
    query = request.query_params
    user_id = text_param(query, "user_id")
    filter_name = text_param(query, "filter")
    filter_arn = None
    if filter_name:
        filter_arn = console.record("filter", filter_name)["filter_arn"]
    values = {k: quote_values(v) for k, v in pairs(text_param(query, "filter_values", limit=2000)).items()}
    question = Question(
        user_id=user_id,
        item_id=text_param(query, "item_id"),
        input_list=split_ids(text_param(query, "input_list", limit=20_000)),
        num_results=int_param(query, "num_results", 10, 1, 50),
        filter_arn=filter_arn,
        filter_values=values or None,
        context=pairs(text_param(query, "context", limit=2000)) or None,
    )
    answer = ask(console, campaign["campaign_arn"], question)
    history, total = (
        recent_history(console.ctx.store, answer.loaded, answer.labeler, user_id) if user_id else ([], 0)
    )
    return {
        "campaign": campaign["name"],
        "user_id": user_id,
        "recommendation_id": answer.recommendation_id,
        "items": answer.items,
        "history": [h.as_json() for h in history],
        "history_total": total,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def events_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    campaign = target(console, request)
    raw_value = body.get("event_value")
    value: float | None = None
    if raw_value not in (None, ""):
        try:
            value = float(raw_value)
        except (TypeError, ValueError):
            raise InvalidInputException(f"event_value must be a number, not {raw_value!r}.") from None
        if not math.isfinite(value):
            raise InvalidInputException("event_value must be a finite number.")
    sent = send_event(
        console,
        campaign["dataset_group_arn"],
        user_id=text_param(body, "user_id", required=True),
        item_id=text_param(body, "item_id", required=True),
        event_type=text_param(body, "event_type") or DEFAULT_EVENT_TYPE,
        event_value=value,
        recommendation_id=text_param(body, "recommendation_id") or None,
    )
    return {"sent": sent}


def explain_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    """Why the campaign recommends ``item_id`` to ``user_id`` (the native ``GET /explain``), with titles."""
    campaign = console.record("campaign", request.path_params["campaign"])
    query = request.query_params
    found = explain(
        console.recommender,
        campaign["campaign_arn"],
        text_param(query, "user_id", required=True),
        text_param(query, "item_id", required=True),
        pairs(text_param(query, "context", limit=2000)) or None,
        top=EXPLAIN_TOP,
    )
    labeler = labeler_for(console, console.recommender.campaigns.get(campaign["campaign_arn"]))
    related = [
        {**labeler.view(r["itemId"]).as_json(), "strength": r["strength"]} for r in found["relatedHistory"]
    ]
    return {
        "item_id": found["itemId"],
        "user_id": found["userId"],
        "recipe": found["recipe"],
        "related_history": related,
        "features": found.get("features", [])[:EXPLAIN_TOP],
        "score": found.get("score"),
    }


def users_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    campaign = target(console, request)
    loaded = loaded_target(console, campaign["campaign_arn"])
    users = list(dict.fromkeys(loaded.model.user_ids[:SAMPLE_USERS].tolist()))
    return {"users": [str(u) for u in users]}


def recommender_page(console: Console, request: Request) -> Page:
    """A domain recommender: status, use case, training progress while in flight, and the try-it panel."""
    name = request.path_params["recommender"]
    record = console.record("recommender", name)
    store = console.ctx.store
    group = arns.parse(record["dataset_group_arn"]).path
    trackers = store.list("event-tracker", record["dataset_group_arn"])
    use_case = urls.name_of(record.get("recipe_arn"))
    kind = ""
    if record.get("status") == "ACTIVE":
        kind = loaded_target(console, record["recommender_arn"]).recipe_type
    filters = [f for f in store.list("filter", record["dataset_group_arn"]) if f.get("status") == "ACTIVE"]
    context = {
        "record": record,
        "use_case": use_case,
        "recipe": {"name": use_case, "type": kind},
        "tracker": trackers[0] if trackers else None,
        "event_type": common_event_type(console.ctx, record["dataset_group_arn"]) or DEFAULT_EVENT_TYPE,
        "filters": filters,
        "default_filter": unseen_filter(filters) if kind == "USER_PERSONALIZATION" else None,
        "explainable": False,  # GET /explain answers for campaigns
        "running": record.get("status") in IN_FLIGHT,
        "api": f"/console/api/recommenders/{quote(name, safe='')}",
        "what": "recommender",
    }
    return Page(
        "recommender.html",
        f"Recommender {name}",
        context,
        group_crumbs(group, Crumb(f"Recommender {name}")),
        group=group,
        section="overview",
    )


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/console/recommenders/{recommender}", console.page(recommender_page), methods=["GET"]),
        Route("/console/api/recommenders/{recommender}/recommendations", console.api(recommendations_api),
              methods=["GET"]),
        Route("/console/api/recommenders/{recommender}/events", console.api(events_api), methods=["POST"]),
        Route("/console/api/recommenders/{recommender}/users", console.api(users_api), methods=["GET"]),
        Route("/console/campaigns/{campaign}", console.page(campaign_page), methods=["GET"]),
        Route(
            "/console/api/campaigns/{campaign}/recommendations",
            console.api(recommendations_api),
            methods=["GET"],
        ),
        Route("/console/api/campaigns/{campaign}/events", console.api(events_api), methods=["POST"]),
        Route("/console/api/campaigns/{campaign}/users", console.api(users_api), methods=["GET"]),
        Route("/console/api/campaigns/{campaign}/explain", console.api(explain_api), methods=["GET"]),
    ]
