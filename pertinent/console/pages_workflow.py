"""The console's write side: the whole workflow as in the AWS console's wizard.

``/console/create``: create a dataset group (custom, or a domain). ``/console/groups/{name}/setup``: one page
with the steps — datasets (a schema suggested from an uploaded CSV, then an import from the upload or a
path / s3:// URL, with live progress and the failure reason), a solution (recipe picker with one-line
descriptions, HPO on or off) trained with live progress, a campaign deployed from it, an event tracker with
a copyable snippet, and filters.

Every action is a ``POST /console/api/…`` with a JSON body that calls the same control-plane operation
boto3 would (``pertinent.control.OPERATIONS``), so what the console creates is what the API sees; errors
come back as ``{"error": {code, message}}``. The pages' script (``static/workflow.js``) polls
``/console/api/status`` for live progress.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pertinent import arns
from pertinent.console.base import Console, Crumb, JsonBody, Page, json_error
from pertinent.console.pages_groups import group_crumbs
from pertinent.control import OPERATIONS
from pertinent.control.insights import common_event_type
from pertinent.datasets.avro_schema import normalize_dataset_type
from pertinent.datasets.schema_suggestion import suggest_schema
from pertinent.errors import InvalidInputException, PersonalizeError
from pertinent.recipes.catalog import ALL_RECIPES
from pertinent.recipes.registry import RECIPE_CLASSES

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$")
DOMAINS = ("", "ECOMMERCE", "VIDEO_ON_DEMAND")
DATASET_TYPES = ("Interactions", "Items", "Users")
#: the largest CSV the browser may upload (the request guard's body limit applies too)
UPLOAD_LIMIT = 8 * 1024 * 1024


def _name(body: JsonBody, key: str = "name") -> str:
    value = body.get(key)
    if not isinstance(value, str) or not NAME.match(value):
        raise InvalidInputException(
            f"{key} must be 1 to 63 letters, digits, '-' or '_', starting with a letter or digit."
        )
    return value


def _text(body: JsonBody, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputException(f"{key} is required.")
    return value


def _call(console: Console, operation: str, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = OPERATIONS[operation](console.ctx, **kwargs)
    return result


def trainable_recipes() -> list[dict[str, str]]:
    """The custom recipes pertinent trains, with Personalize's one-line descriptions."""
    return [
        {"arn": r.arn, "name": r.name, "type": r.recipe_type, "description": r.description}
        for r in ALL_RECIPES.values()
        if r.domain is None and r.name in RECIPE_CLASSES
    ]


# -- pages --------------------------------------------------------------------------------------------
def create_page(console: Console, request: Request) -> Page:
    return Page(
        "create_group.html",
        "Create a dataset group",
        {"domains": DOMAINS},
        (Crumb("Dataset groups", "/console/"), Crumb("Create")),
    )


def setup_page(console: Console, request: Request) -> Page:
    name = request.path_params["group"]
    group = console.record("dataset-group", name)
    store = console.ctx.store
    group_arn = group["dataset_group_arn"]
    datasets = {normalize_dataset_type(d["dataset_type"]): d for d in store.list("dataset", group_arn)}
    solutions = store.list("solution", group_arn)
    versions = [v for s in solutions for v in store.list("solution-version", s["solution_arn"])]
    trackers = store.list("event-tracker", group_arn)
    context = {
        "record": group,
        "dataset_types": [(t, datasets.get(t.upper())) for t in DATASET_TYPES],
        "recipes": trainable_recipes(),
        "solutions": solutions,
        "versions": [v for v in versions if v.get("status") == "ACTIVE"],
        "campaigns": [c for c in store.list("campaign") if c.get("solution_version_arn") in
                      {v["solution_version_arn"] for v in versions}],
        "tracker": trackers[0] if trackers else None,
        "filters": store.list("filter", group_arn),
        "use_cases": [r for r in ALL_RECIPES.values() if r.domain and r.domain == group.get("domain")],
        "recommenders": store.list("recommender", group_arn),
        "endpoint": f"{request.url.scheme}://{request.url.netloc}",
        "event_type": common_event_type(console.ctx, group_arn) or "click",
    }  # fmt: skip
    return Page(
        "setup.html",
        f"Set up {name}",
        context,
        group_crumbs(name, Crumb("Set up")),
        group=name,
        section="setup",
    )


# -- actions ------------------------------------------------------------------------------------------
def create_group_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    domain = body.get("domain") or None
    if domain is not None and domain not in DOMAINS:
        raise InvalidInputException(f"domain must be ECOMMERCE or VIDEO_ON_DEMAND, not {domain!r}.")
    result = _call(console, "CreateDatasetGroup", name=_name(body), domain=domain)
    return {"arn": result["dataset_group_arn"], "next": f"/console/groups/{body['name']}/setup"}


def suggest_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    return suggest_schema(_text(body, "dataset_type"), _text(body, "sample"))


#: what an upload may be: a CSV to import or delete users by, JSON Lines for a batch job
UPLOAD_SUFFIXES = (".csv", ".json")


def save_upload(console: Console, text: str, suffix: str = ".csv") -> JsonBody:
    """Keep an uploaded file under the data folder; returns its path to import (or run a batch job on)."""
    if suffix not in UPLOAD_SUFFIXES:
        raise InvalidInputException(f"suffix must be one of {', '.join(UPLOAD_SUFFIXES)}, not {suffix!r}.")
    ctx = console.ctx
    if ctx.settings.storage:  # share-nothing: in the object store, where every worker can read it
        key = f"{ctx.uploads_key()}/{uuid.uuid4().hex}{suffix}"
        stored = ctx.storage.path(key)
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(text, encoding="utf-8")
        ctx.storage.publish(key)
        return {"path": f"{ctx.storage.url.rstrip('/')}/{key}", "bytes": stored.stat().st_size}
    folder = ctx.uploads_dir().resolve()  # the caller's account's own folder
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    path.write_text(text, encoding="utf-8")
    return {"path": str(path), "bytes": path.stat().st_size}


def create_dataset_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    group = console.record("dataset-group", request.path_params["group"])
    kind = _text(body, "dataset_type")
    if kind not in DATASET_TYPES:
        raise InvalidInputException(f"dataset_type must be one of {', '.join(DATASET_TYPES)}.")
    name = f"{group['name']}-{kind.lower()}"
    schema = _call(console, "CreateSchema", name=f"{name}-{uuid.uuid4().hex[:6]}", schema=_text(body, "schema"),
                   domain=group.get("domain"))  # fmt: skip
    result = _call(
        console, "CreateDataset", name=name, schema_arn=schema["schema_arn"],
        dataset_group_arn=group["dataset_group_arn"], dataset_type=kind,
    )  # fmt: skip
    return {"arn": result["dataset_arn"]}


def import_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    dataset_arn = _text(body, "dataset_arn")
    mode = body.get("import_mode") or "FULL"
    result = _call(
        console, "CreateDatasetImportJob", job_name=f"console-{uuid.uuid4().hex[:10]}", dataset_arn=dataset_arn,
        data_source={"data_location": _text(body, "data_location")}, import_mode=mode,
    )  # fmt: skip
    return {"arn": result["dataset_import_job_arn"]}


def create_solution_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    group = console.record("dataset-group", request.path_params["group"])
    recipe = _text(body, "recipe_arn")
    if recipe not in {r["arn"] for r in trainable_recipes()}:
        raise InvalidInputException(f"pertinent cannot train the recipe {recipe!r}; pick one from the list.")
    result = _call(
        console, "CreateSolution", name=_name(body), dataset_group_arn=group["dataset_group_arn"],
        recipe_arn=recipe, perform_hpo=bool(body.get("perform_hpo")),
    )  # fmt: skip
    return {"arn": result["solution_arn"]}


def train_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    result = _call(console, "CreateSolutionVersion", solution_arn=_text(body, "solution_arn"))
    arn = result["solution_version_arn"]
    parsed = arns.parse(arn).path.split("/")
    return {"arn": arn, "page": f"/console/solutions/{parsed[0]}/versions/{parsed[-1]}"}


def deploy_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    name = _name(body)
    result = _call(
        console, "CreateCampaign", name=name, solution_version_arn=_text(body, "solution_version_arn")
    )
    return {"arn": result["campaign_arn"], "page": f"/console/campaigns/{name}"}


def recommender_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    group = console.record("dataset-group", request.path_params["group"])
    recipe = _text(body, "recipe_arn")
    allowed = {r.arn for r in ALL_RECIPES.values() if r.domain and r.domain == group.get("domain")}
    if recipe not in allowed:
        raise InvalidInputException(f"{recipe!r} is not a use case of this dataset group's domain.")
    result = _call(console, "CreateRecommender", name=_name(body), dataset_group_arn=group["dataset_group_arn"],
                   recipe_arn=recipe)  # fmt: skip
    return {"arn": result["recommender_arn"]}


def tracker_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    group = console.record("dataset-group", request.path_params["group"])
    result = _call(
        console, "CreateEventTracker", name=_name(body), dataset_group_arn=group["dataset_group_arn"]
    )
    return {"arn": result["event_tracker_arn"], "tracking_id": result["tracking_id"]}


def filter_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    group = console.record("dataset-group", request.path_params["group"])
    result = _call(
        console, "CreateFilter", name=_name(body), dataset_group_arn=group["dataset_group_arn"],
        filter_expression=_text(body, "filter_expression"),
    )  # fmt: skip
    return {"arn": result["filter_arn"]}


def upload_endpoint(console: Console) -> Any:
    """``POST /console/api/uploads`` with JSON ``{"text": <the CSV>}``: a larger body than the other
    console endpoints take (UPLOAD_LIMIT), JSON so that no cross-site form can send it."""

    async def endpoint(request: Request) -> Response:
        try:
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                raise InvalidInputException("The upload takes a JSON body (Content-Type: application/json).")
            raw = await request.body()
            if len(raw) > UPLOAD_LIMIT:
                raise InvalidInputException(
                    f"The file is larger than {UPLOAD_LIMIT >> 20} MiB; import it from a path or an s3:// URL."
                )
            try:
                data = json.loads(raw)
            except ValueError:
                raise InvalidInputException("The body is not valid JSON.") from None
            if not isinstance(data, dict):
                raise InvalidInputException("The body must be a JSON object.")
            suffix = data.get("suffix") or ".csv"
            result = await run_in_threadpool(save_upload, console, _text(data, "text"), str(suffix))
            return JSONResponse(result, headers={"Cache-Control": "no-store"})
        except PersonalizeError as exc:
            return json_error(exc.code, exc.message, exc.http_status)

    return endpoint


def routes(console: Console) -> list[BaseRoute]:
    post = ["POST"]
    return [
        Route("/console/create", console.page(create_page), methods=["GET"]),
        Route("/console/groups/{group}/setup", console.page(setup_page), methods=["GET"]),
        Route("/console/api/dataset-groups", console.api(create_group_api), methods=post),
        Route("/console/api/schema-suggestion", console.api(suggest_api), methods=post),
        Route("/console/api/uploads", upload_endpoint(console), methods=post),
        Route("/console/api/groups/{group}/datasets", console.api(create_dataset_api), methods=post),
        Route("/console/api/import-jobs", console.api(import_api), methods=post),
        Route("/console/api/groups/{group}/solutions", console.api(create_solution_api), methods=post),
        Route("/console/api/solution-versions", console.api(train_api), methods=post),
        Route("/console/api/campaigns", console.api(deploy_api), methods=post),
        Route("/console/api/groups/{group}/event-trackers", console.api(tracker_api), methods=post),
        Route("/console/api/groups/{group}/recommenders", console.api(recommender_api), methods=post),
        Route("/console/api/groups/{group}/filters", console.api(filter_api), methods=post),
    ]
