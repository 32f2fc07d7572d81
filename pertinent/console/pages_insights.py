"""The data insights page of a dataset group (``GET /console/groups/{name}/insights``): the figures that
decide model quality and a suggestion for each shortfall (pertinent.datasets.insights)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from pertinent.console.base import Console, Crumb, Page
from pertinent.console.pages_groups import group_crumbs
from pertinent.control.insights import dataset_group_insights

DISTRIBUTION = ("min", "p25", "median", "p75", "p90", "max", "mean")


def insights_page(console: Console, request: Request) -> Page:
    name = request.path_params["group"]
    group = console.record("dataset-group", name)
    result = dataset_group_insights(console.ctx, group["dataset_group_arn"])
    interactions = result["interactions"] or {}
    minimums = [
        ("Interactions", result["minimums"]["interactions"], interactions.get("rows", 0)),
        ("Users with 2+ interactions", result["minimums"]["users_with_two_or_more"],
         interactions.get("users_with_two_or_more", 0)),
    ]  # fmt: skip
    context = {
        "record": group,
        "result": result,
        "interactions": result["interactions"],
        "minimums": minimums,
        "distribution": DISTRIBUTION,
        "metadata": [(kind, result[kind.lower()]) for kind in ("Items", "Users") if result[kind.lower()]],
    }
    return Page(
        "insights.html",
        f"Data insights of {name}",
        context,
        group_crumbs(name, Crumb("Data insights")),
        group=name,
        section="insights",
    )


def routes(console: Console) -> list[BaseRoute]:
    return [Route("/console/groups/{group}/insights", console.page(insights_page), methods=["GET"])]
