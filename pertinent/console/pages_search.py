"""The search comparison: keyword (BM25) hits beside the same hits re-ranked for a user, with rank changes
and a weight slider (``GET /console/groups/{name}/search``; the slider calls
``GET /console/api/groups/{name}/search``).

It runs the same ``personalized_search_ranking`` processor as a search pipeline, without storing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from pertinent.console.base import Console, Crumb, JsonBody, Page, text_param
from pertinent.console.pages_groups import group_crumbs
from pertinent.errors import InvalidInputException
from pertinent.recipes.catalog import ALL_RECIPES
from pertinent.search.compare import compare
from pertinent.search.errors import SearchRequestError
from pertinent.search.pipelines import PersonalizedRankingProcessor, apply_pipeline

RANKING_TYPES = ("PERSONALIZED_RANKING", "USER_PERSONALIZATION")
SCORELESS = ("aws-popularity-count", "aws-trending-now")


def ranking_campaigns(console: Console, group_arn: str) -> list[dict[str, Any]]:
    """The group's ACTIVE campaigns that can rank a list of items."""
    found = []
    for solution in console.ctx.store.list("solution", group_arn):
        recipe = ALL_RECIPES.get(solution.get("recipe_arn", ""))
        if recipe is None or recipe.recipe_type not in RANKING_TYPES or recipe.name in SCORELESS:
            continue
        found += [
            c for c in console.ctx.store.list("campaign", solution["solution_arn"]) if c["status"] == "ACTIVE"
        ]
    return found


def _weight(source: Mapping[str, Any]) -> float:
    raw = source.get("weight") or "0.5"
    try:
        weight = float(raw)
    except ValueError:
        raise InvalidInputException(f"weight must be a number between 0 and 1, not {raw!r}.") from None
    if not 0.0 <= weight <= 1.0:
        raise InvalidInputException(f"weight must be between 0 and 1, not {raw}.")
    return weight


def comparison(console: Console, group: Mapping[str, Any], source: Mapping[str, Any]) -> JsonBody:
    """Plain and personalized hits for the request's q / user_id / campaign / weight."""
    if console.search is None:
        raise InvalidInputException("Search is not available in this server role.")
    name = group["name"]
    query_text = text_param(source, "q", required=True, limit=500)
    user_id = text_param(source, "user_id", required=True)
    campaign_name = text_param(source, "campaign", required=True)
    weight = _weight(source)
    campaign = console.record("campaign", campaign_name)
    index = console.search.index(name)
    fields = [
        f"{f.name}^2" if f.name == "TITLE" else f.name
        for f in index.fields
        if f.kind in ("text", "categorical")
    ]
    body = {"query": {"multi_match": {"query": query_text, "fields": fields}}, "size": 20}
    try:
        plain = console.search.search(name, body)
        processor = PersonalizedRankingProcessor(
            campaign_arn=campaign["campaign_arn"],
            recipe="aws-personalized-ranking",
            aws_region=console.ctx.settings.region,
            weight=weight,
        )
        personalized = apply_pipeline(
            plain, processor, console.search.ranker_for(campaign["campaign_arn"]), user_id, None
        )
    except SearchRequestError as exc:
        raise InvalidInputException(f"{exc.type}: {exc.reason}") from None
    sources = {hit["_id"]: hit.get("_source") or {} for hit in plain["hits"]["hits"]}

    def entry(item_id: str, plain_rank: int, rank: int) -> JsonBody:
        row = sources.get(item_id, {})
        genres = str(row.get("GENRES") or "")
        return {
            "item_id": item_id,
            "title": str(row.get("TITLE") or item_id),
            "tags": [g for g in genres.split("|") if g],
            "plain_rank": plain_rank,
            "rank": rank,
            "delta": plain_rank - rank,
        }

    rows = compare(plain, personalized, ("TITLE",))
    return {
        "query": query_text,
        "user_id": user_id,
        "campaign": campaign_name,
        "weight": weight,
        "plain": [entry(h["_id"], n, n) for n, h in enumerate(plain["hits"]["hits"], 1)],
        "personalized": [entry(r.item_id, r.plain_rank, r.personalized_rank) for r in rows],
    }


def search_page(console: Console, request: Request) -> Page:
    name = request.path_params["group"]
    group = console.record("dataset-group", name)
    campaigns = ranking_campaigns(console, group["dataset_group_arn"])
    query = request.query_params
    chosen = {
        "q": query.get("q", ""),
        "user_id": query.get("user_id", ""),
        "campaign": query.get("campaign") or (campaigns[0]["name"] if campaigns else ""),
        "weight": query.get("weight") or "0.5",
    }
    result, error = None, None
    if chosen["q"] and chosen["user_id"] and chosen["campaign"]:
        try:
            result = comparison(console, group, chosen)
        except InvalidInputException as exc:
            error = {"code": exc.code, "message": exc.message}
    return Page(
        "search.html",
        f"Search {name}",
        {"record": group, "campaigns": campaigns, "chosen": chosen, "result": result, "error": error},
        group_crumbs(name, Crumb("Search")),
        group=name,
        section="search",
    )


def search_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    group = console.record("dataset-group", request.path_params["group"])
    return comparison(console, group, request.query_params)


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/console/groups/{group}/search", console.page(search_page), methods=["GET"]),
        Route("/console/api/groups/{group}/search", console.api(search_api), methods=["GET"]),
    ]
