"""Filters of a dataset group, with a tester: pick a campaign, a filter, its values and a user, and see the
recommendations without and with the filter side by side. A plain GET form, so it works without script
and every test is a URL that can be shared."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from pertinent.console.base import Console, Crumb, Page, int_param, text_param
from pertinent.console.pages_groups import group_crumbs, recipe_of
from pertinent.console.tryit import Question, ask, split_ids
from pertinent.control.common import Record
from pertinent.errors import InvalidInputException, PersonalizeError
from pertinent.filters.parser import parse_filter
from pertinent.resources.status import ACTIVE


def placeholders(expression: str) -> tuple[str, ...]:
    """The ``$NAMES`` (without ``$``) a filter expression takes, in order; none if it does not parse."""
    try:
        return parse_filter(expression).placeholders
    except PersonalizeError:
        return ()


def quote_values(text: str) -> str:
    """What a person types (``Comedy, Drama``) as Personalize's filterValues want it (``"Comedy","Drama"``).

    Text that already holds a double quote is taken as written, so any value Personalize accepts can be
    entered exactly."""
    if '"' in text:
        return text
    return ",".join('"' + part.strip() + '"' for part in text.split(",") if part.strip())


def value_field(filter_name: str, placeholder: str) -> str:
    """The form field holding a placeholder's values for one filter."""
    return f"v.{filter_name}.{placeholder}"


def _filter_values(query: QueryParams, record: Record) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in placeholders(record["filter_expression"]):
        typed = text_param(query, value_field(record["name"], name), limit=2000)
        if typed:
            values[name] = quote_values(typed)
    return values


#: how many catalog items the tester offers a ranking campaign to rank when none are typed
RANKING_SAMPLE = 20


def _ranking_sample(console: Console, campaign: Record) -> str:
    """A few of a ranking campaign's catalog items ("m1, m2, …"), so a Compare with a user id alone works;
    empty while the campaign cannot answer yet."""
    if campaign.get("status") != ACTIVE:
        return ""
    try:
        loaded = console.recommender.campaigns.get(campaign["campaign_arn"])
    except PersonalizeError:
        return ""
    return ", ".join(str(i) for i in loaded.model.item_ids[:RANKING_SAMPLE].tolist())


def _campaigns(console: Console, group_arn: str) -> list[Record]:
    """The group's campaigns, those that need no item list first: the tester's default must answer a user
    id alone. A personalized-ranking campaign carries a sample of its items to rank (``_sample``)."""
    found: list[Record] = []
    for solution in console.ctx.store.list("solution", group_arn):
        ranking = recipe_of(solution)["type"] == "PERSONALIZED_RANKING"
        for c in console.ctx.store.list("campaign", solution["solution_arn"]):
            found.append({**c, "_ranking": ranking, "_sample": _ranking_sample(console, c) if ranking else ""})
    return sorted(found, key=lambda c: bool(c["_ranking"]))


def _compare(without: list[dict[str, Any]], with_filter: list[dict[str, Any]]) -> dict[str, Any]:
    kept = {i["item_id"] for i in with_filter}
    before = {i["item_id"] for i in without}
    for item in without:
        item["removed"] = item["item_id"] not in kept
    for item in with_filter:
        item["added"] = item["item_id"] not in before
    return {
        "without": without,
        "with": with_filter,
        "removed": sum(1 for i in without if i["removed"]),
        "added": sum(1 for i in with_filter if i["added"]),
    }


def filters_page(console: Console, request: Request) -> Page:
    name = request.path_params["group"]
    group = console.record("dataset-group", name)
    filters = console.ctx.store.list("filter", group["dataset_group_arn"])
    campaigns = _campaigns(console, group["dataset_group_arn"])
    query = request.query_params
    chosen: dict[str, Any] = {
        "campaign": text_param(query, "campaign"),
        "filter": text_param(query, "filter"),
        "user_id": text_param(query, "user_id"),
        "item_id": text_param(query, "item_id"),
        "input_list": text_param(query, "input_list", limit=20_000),
        "num_results": int_param(query, "num_results", 10, 1, 50),
    }
    selected = next((c for c in campaigns if c["name"] == chosen["campaign"]), campaigns[0] if campaigns else None)
    sampled = False
    if selected is not None and selected["_ranking"] and selected["_sample"]:
        if not chosen["input_list"]:
            chosen["input_list"] = selected["_sample"]  # a ranking campaign needs items to rank
        sampled = split_ids(str(chosen["input_list"])) == split_ids(str(selected["_sample"]))
    result: dict[str, Any] | None = None
    error: PersonalizeError | None = None
    if chosen["campaign"] and chosen["filter"]:
        try:
            result = _run_test(console, query, filters, campaigns, chosen)
        except PersonalizeError as exc:  # shown beside the form, which keeps what was typed
            error = exc
    context = {
        "record": group,
        "filters": [{"record": f, "placeholders": placeholders(f["filter_expression"])} for f in filters],
        "campaigns": campaigns,
        "chosen": chosen,
        "query": query,
        "value_field": value_field,
        "result": result,
        "error": error,
        "sampled": sampled,
    }
    return Page(
        "filters.html",
        f"Filters of {name}",
        context,
        group_crumbs(name, Crumb("Filters")),
        group=name,
        section="filters",
    )


def _run_test(
    console: Console,
    query: QueryParams,
    filters: list[Record],
    campaigns: list[Record],
    chosen: dict[str, Any],
) -> dict[str, Any]:
    record = next((f for f in filters if f["name"] == chosen["filter"]), None)
    if record is None:
        raise InvalidInputException(f"The dataset group has no filter named {chosen['filter']!r}.")
    if record.get("status") != ACTIVE:
        raise InvalidInputException(f"Filter {record['name']} is {record.get('status')}, not ACTIVE.")
    campaign = next((c for c in campaigns if c["name"] == chosen["campaign"]), None)
    if campaign is None:
        raise InvalidInputException(f"The dataset group has no campaign named {chosen['campaign']!r}.")
    base = Question(
        user_id=chosen["user_id"],
        item_id=chosen["item_id"],
        input_list=split_ids(chosen["input_list"]),
        num_results=chosen["num_results"],
    )
    values = _filter_values(query, record)
    without = ask(console, campaign["campaign_arn"], base)
    with_filter = ask(
        console,
        campaign["campaign_arn"],
        Question(
            user_id=base.user_id,
            item_id=base.item_id,
            input_list=base.input_list,
            num_results=base.num_results,
            filter_arn=record["filter_arn"],
            filter_values=values or None,
        ),
    )
    return {**_compare(without.items, with_filter.items), "filter": record, "values": values}


def routes(console: Console) -> list[BaseRoute]:
    return [Route("/console/groups/{group}/filters", console.page(filters_page), methods=["GET"])]
