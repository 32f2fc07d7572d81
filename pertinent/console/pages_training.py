"""Solutions and solution versions: status, training progress (refreshed while in flight), metric charts."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from pertinent import arns
from pertinent.console import urls
from pertinent.console.base import Console, Crumb, Page
from pertinent.console.charts import bar_chart, metric_label, sorted_metrics
from pertinent.console.pages_groups import group_crumbs, recipe_of
from pertinent.control.common import Record
from pertinent.resources.status import ACTIVE, IN_FLIGHT

#: the metric the solution page compares its versions by
HEADLINE_METRIC = "normalized_discounted_cumulative_gain_at_10"


def _group_name(record: Record) -> str:
    return arns.parse(record["dataset_group_arn"]).path


def solution_page(console: Console, request: Request) -> Page:
    name = request.path_params["solution"]
    solution = console.record("solution", name)
    store = console.ctx.store
    versions = store.list("solution-version", solution["solution_arn"])
    active = [
        v for v in versions if v.get("status") == ACTIVE and HEADLINE_METRIC in (v.get("metrics") or {})
    ]
    chart = None
    if active:
        values = [
            (urls.name_of(v["solution_version_arn"]), float(v["metrics"][HEADLINE_METRIC])) for v in active
        ]
        chart = bar_chart(
            f"{metric_label(HEADLINE_METRIC)} by version (newest first)", values, {k: k for k, _ in values}
        )
    group = _group_name(solution)
    context = {
        "record": solution,
        "recipe": recipe_of(solution),
        "versions": versions,
        "campaigns": store.list("campaign", solution["solution_arn"]),
        "chart": chart,
        "headline": HEADLINE_METRIC,
        "watch": [v["solution_version_arn"] for v in versions if v.get("status") in IN_FLIGHT],
    }
    return Page(
        "solution.html",
        f"Solution {name}",
        context,
        group_crumbs(group, Crumb(f"Solution {name}")),
        group=group,
        section="overview",
    )


def version_page(console: Console, request: Request) -> Page:
    name, version_id = request.path_params["solution"], request.path_params["version"]
    version = console.record("solution-version", name, version_id)
    metrics = sorted_metrics(version.get("metrics") or {})
    group = _group_name(version)
    context: dict[str, Any] = {
        "record": version,
        "recipe": recipe_of(version),
        "solution_name": name,
        "version_id": version_id,
        "metrics": [(key, metric_label(key), value) for key, value in metrics],
        "chart": bar_chart("Offline metrics (held-out users' newest interactions)", metrics)
        if metrics
        else None,
        "campaigns": [
            c
            for c in console.ctx.store.list("campaign", version.get("solution_arn"))
            if c.get("resolved_solution_version_arn") == version["solution_version_arn"]
        ],
        "watch": [version["solution_version_arn"]] if version.get("status") in IN_FLIGHT else [],
    }
    return Page(
        "version.html",
        f"Solution version {version_id}",
        context,
        group_crumbs(group, Crumb(f"Solution {name}", urls.solution(name)), Crumb(f"Version {version_id}")),
        group=group,
        section="overview",
    )


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/console/solutions/{solution}", console.page(solution_page), methods=["GET"]),
        Route(
            "/console/solutions/{solution}/versions/{version}", console.page(version_page), methods=["GET"]
        ),
    ]
