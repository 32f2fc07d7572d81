"""Dataset groups (list → detail) and their datasets: schema fields, row counts, import jobs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from pertinent.console import urls
from pertinent.console.base import Console, Crumb, Page
from pertinent.control.common import Record
from pertinent.datasets.avro_schema import normalize_dataset_type, parse_schema
from pertinent.errors import InvalidInputException, ResourceNotFoundException
from pertinent.recipes.catalog import ALL_RECIPES
from pertinent.resources.status import IN_FLIGHT

HOME = Crumb("Dataset groups", urls.groups())


def group_crumbs(name: str, *rest: Crumb) -> tuple[Crumb, ...]:
    """Breadcrumbs of a page inside dataset group ``name``."""
    return (HOME, Crumb(name, urls.group(name)), *rest)


def groups_page(console: Console, request: Request) -> Page:
    store = console.ctx.store
    rows = [
        {
            "group": group,
            "datasets": store.count("dataset", group["dataset_group_arn"]),
            "solutions": store.count("solution", group["dataset_group_arn"]),
        }
        for group in store.list("dataset-group")
    ]
    return Page("groups.html", "Dataset groups", {"rows": rows}, (Crumb("Dataset groups"),))


def recipe_of(record: Record) -> dict[str, str]:
    """A solution's (or version's) recipe as the console shows it: name and type."""
    arn = str(record.get("recipe_arn") or "")
    info = ALL_RECIPES.get(arn)
    return {
        "name": urls.name_of(arn),
        "type": info.recipe_type if info else "",
        "description": info.description if info else "",
    }


def group_overview(console: Console, group_arn: str) -> dict[str, Any]:
    """Everything the group page lists: one store read per resource family (and per solution)."""
    store = console.ctx.store
    solutions = []
    campaigns = []
    for solution in store.list("solution", group_arn):
        versions = store.list("solution-version", solution["solution_arn"])
        solutions.append({"solution": solution, "recipe": recipe_of(solution), "versions": versions})
        campaigns += store.list("campaign", solution["solution_arn"])
    trackers = store.list("event-tracker", group_arn)
    return {
        "datasets": store.list("dataset", group_arn),
        "solutions": solutions,
        "campaigns": campaigns,
        "filters": store.list("filter", group_arn),
        "tracker": trackers[0] if trackers else None,
        "recommenders": store.list("recommender", group_arn),
    }


def group_page(console: Console, request: Request) -> Page:
    name = request.path_params["group"]
    group = console.record("dataset-group", name)
    context = {"record": group, **group_overview(console, group["dataset_group_arn"])}
    return Page(
        "group.html", f"Dataset group {name}", context, group_crumbs(name), group=name, section="overview"
    )


def dataset_page(console: Console, request: Request) -> Page:
    name = request.path_params["group"]
    group = console.record("dataset-group", name)
    try:
        kind = normalize_dataset_type(request.path_params["dataset_type"])
    except InvalidInputException:
        raise ResourceNotFoundException(
            f"{request.path_params['dataset_type']!r} is not a dataset type; use interactions, items, users, "
            "actions or action_interactions."
        ) from None
    dataset = console.record("dataset", name, kind)
    schema_record = console.ctx.store.get(dataset["schema_arn"], "schema")
    fields = parse_schema(schema_record["schema"]).fields if schema_record else ()
    jobs = console.ctx.store.list("dataset-import-job", dataset["dataset_arn"])
    exports = console.ctx.store.list("dataset-export-job", dataset["dataset_arn"])
    context = {
        "record": dataset,
        "group_record": group,
        "schema_record": schema_record,
        "fields": fields,
        "jobs": jobs,
        "exports": exports,
        "watch": [j["dataset_import_job_arn"] for j in jobs if j.get("status") in IN_FLIGHT],
    }
    title = f"{dataset['dataset_type']} dataset"
    return Page(
        "dataset.html",
        title,
        context,
        group_crumbs(name, Crumb(title)),
        group=name,
        section="overview",
    )


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/console/", console.page(groups_page), methods=["GET"]),
        Route("/console/groups/{group}", console.page(group_page), methods=["GET"]),
        Route("/console/groups/{group}/datasets/{dataset_type}", console.page(dataset_page), methods=["GET"]),
    ]
