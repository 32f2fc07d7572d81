"""Batch jobs of a dataset group: batch inference, batch segment and data deletion jobs.

``/console/groups/{group}/batch`` lists the three kinds with a create form each (the fields the API takes:
job name, solution version, input and output locations, role, number of results, filter; a deletion job
takes its CSV of USER_IDs); ``/console/batch-jobs/{kind}/{name}`` describes one job — status, progress
followed live while it runs, the failure reason, ``numDeleted`` for a deletion. Creating posts JSON to
``/console/api/groups/{group}/batch-jobs``, which calls the same control-plane operation boto3 would
(CreateBatchInferenceJob, CreateBatchSegmentJob, CreateDataDeletionJob).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from pertinent import arns
from pertinent.console import urls
from pertinent.console.base import Console, Crumb, JsonBody, Page
from pertinent.console.pages_groups import group_crumbs, recipe_of
from pertinent.control import OPERATIONS
from pertinent.control.batch_jobs import MAX_INFERENCE_RESULTS, MAX_SEGMENT_USERS, NO_BATCH_INFERENCE
from pertinent.control.common import Record
from pertinent.errors import InvalidInputException
from pertinent.resources.status import ACTIVE, IN_FLIGHT

#: kind in the URL → (record kind, ARN field, create operation, label)
KINDS = {
    "inference": ("batch-inference-job", "batch_inference_job_arn", "CreateBatchInferenceJob",
                  "Batch inference job"),
    "segment": ("batch-segment-job", "batch_segment_job_arn", "CreateBatchSegmentJob", "Batch segment job"),
    "deletion": ("data-deletion-job", "data_deletion_job_arn", "CreateDataDeletionJob", "Data deletion job"),
}  # fmt: skip
#: a data deletion job's own lifecycle (PENDING → IN_PROGRESS → COMPLETED | FAILED)
DELETION_IN_FLIGHT = frozenset({"PENDING", "IN_PROGRESS"})
JOB_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,62}$")
ROLE_ARN = re.compile(r"^arn:([a-z\d-]+):iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")


def in_flight(record: Record) -> bool:
    return record.get("status") in IN_FLIGHT or record.get("status") in DELETION_IN_FLIGHT


def default_role(console: Console) -> str:
    """A role ARN to start from: Personalize requires one; pertinent reads the data itself and keeps it."""
    account = arns.parse(console.ctx.arn("dataset-group", "x")).account  # the caller's account
    return f"arn:aws:iam::{account}:role/PersonalizeBatchRole"


def _versions(console: Console, group_arn: str) -> list[dict[str, Any]]:
    """The group's ACTIVE solution versions with their recipe (name, type)."""
    found = []
    for solution in console.ctx.store.list("solution", group_arn):
        for version in console.ctx.store.list("solution-version", solution["solution_arn"]):
            if version.get("status") != ACTIVE:
                continue
            arn = version["solution_version_arn"]
            recipe = recipe_of(version)
            found.append(
                {"arn": arn, "label": arns.parse(arn).path, "recipe": recipe["name"], "type": recipe["type"]}
            )
    return found


def _jobs(console: Console, kind: str, parents: list[str]) -> list[Record]:
    jobs = [job for parent in parents for job in console.ctx.store.list(KINDS[kind][0], parent)]
    return sorted(jobs, key=lambda j: -float(j.get("creation_date_time") or 0))


def batch_page(console: Console, request: Request) -> Page:
    name = request.path_params["group"]
    group = console.record("dataset-group", name)
    group_arn = group["dataset_group_arn"]
    versions = _versions(console, group_arn)
    version_arns = [v["arn"] for v in console_versions(console, group_arn)]  # any status: jobs outlive it
    filters = [f for f in console.ctx.store.list("filter", group_arn) if f.get("status") == ACTIVE]
    # local paths need --allow-path with keys, and are refused with object storage (any worker runs the job)
    confined = bool(console.ctx.settings.credentials) or bool(console.ctx.settings.storage)
    context = {
        "record": group,
        "inference_versions": [
            v for v in versions if v["type"] != "USER_SEGMENTATION" and v["recipe"] not in NO_BATCH_INFERENCE
        ],
        "segment_versions": [v for v in versions if v["type"] == "USER_SEGMENTATION"],
        "filters": filters,
        "jobs": {kind: _jobs(console, kind, [group_arn] if kind == "deletion" else version_arns) for kind in KINDS},
        "role": default_role(console),
        "output_default": "" if confined else f"{(console.ctx.settings.data_dir / 'batch-output').resolve()}/",
        "max_inference": MAX_INFERENCE_RESULTS,
        "max_segment": MAX_SEGMENT_USERS,
        "in_flight_job": in_flight,
    }  # fmt: skip
    return Page(
        "batch.html",
        f"Batch jobs of {name}",
        context,
        group_crumbs(name, Crumb("Batch jobs")),
        group=name,
        section="batch",
    )


def console_versions(console: Console, group_arn: str) -> list[Record]:
    """Every solution version of the group (any status): the parents batch jobs are listed under."""
    return [
        {"arn": v["solution_version_arn"]}
        for s in console.ctx.store.list("solution", group_arn)
        for v in console.ctx.store.list("solution-version", s["solution_arn"])
    ]


def job_page(console: Console, request: Request) -> Page:
    kind = request.path_params["kind"]
    if kind not in KINDS:
        raise InvalidInputException(f"The job kind must be inference, segment or deletion, not {kind!r}.")
    record_kind, arn_field, _, label = KINDS[kind]
    job = console.record(record_kind, request.path_params["name"])
    if kind == "deletion":
        group_arn = job["dataset_group_arn"]
    else:
        version = console.ctx.store.get(job["solution_version_arn"], "solution-version") or {}
        group_arn = version.get("dataset_group_arn") or ""
    group = arns.parse(group_arn).path if group_arn else ""
    context = {
        "record": job,
        "kind": kind,
        "label": label,
        "arn": job[arn_field],
        "running": in_flight(job),
        "group_name": group,
    }
    return Page(
        "batch_job.html",
        f"{label} {job['job_name']}",
        context,
        group_crumbs(group, Crumb("Batch jobs", f"{urls.group(group)}/batch"), Crumb(job["job_name"])),
        group=group or None,
        section="batch",
    )


# -- creating -----------------------------------------------------------------------------------------
def _text(body: JsonBody, key: str, limit: int = 2048) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputException(f"{key} is required.")
    if len(value) > limit:
        raise InvalidInputException(f"{key} may be at most {limit} characters long.")
    return value.strip()


def _count(body: JsonBody, high: int) -> int | None:
    raw = body.get("num_results")
    if raw in (None, ""):
        return None
    try:
        value = int(str(raw))
    except ValueError:
        raise InvalidInputException(f"num_results must be a whole number, not {raw!r}.") from None
    if not 1 <= value <= high:
        raise InvalidInputException(f"num_results must be between 1 and {high}, not {value}.")
    return value


def create_job_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    group = console.record("dataset-group", request.path_params["group"])
    kind = body.get("kind")
    if kind not in KINDS:
        raise InvalidInputException("kind must be inference, segment or deletion.")
    job_name = _text(body, "job_name", 63)
    if not JOB_NAME.match(job_name):
        raise InvalidInputException(
            "job_name must be 1 to 63 letters, digits, '-' or '_', starting with a letter or digit."
        )
    role_arn = _text(body, "role_arn")
    if not ROLE_ARN.match(role_arn):
        raise InvalidInputException(
            f"role_arn must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), not {role_arn!r}."
        )
    _, arn_field, operation, _ = KINDS[kind]
    args: dict[str, Any] = {"job_name": job_name, "role_arn": role_arn}
    if kind == "deletion":
        args.update(dataset_group_arn=group["dataset_group_arn"],
                    data_source={"data_location": _text(body, "data_location")})  # fmt: skip
    else:
        version_arn = _text(body, "solution_version_arn")
        versions = {v["arn"]: v for v in _versions(console, group["dataset_group_arn"])}
        if version_arn not in versions:
            raise InvalidInputException(
                f"{version_arn!r} is not an ACTIVE solution version of this dataset group."
            )
        args.update(
            solution_version_arn=version_arn,
            job_input={"s3_data_source": {"path": _text(body, "input_path")}},
            job_output={"s3_data_destination": {"path": _text(body, "output_path")}},
            num_results=_count(body, MAX_INFERENCE_RESULTS if kind == "inference" else MAX_SEGMENT_USERS),
        )
        filter_name = body.get("filter")
        if filter_name:
            args["filter_arn"] = console.record("filter", str(filter_name))["filter_arn"]
    result: dict[str, Any] = OPERATIONS[operation](console.ctx, **args)
    return {"arn": result[arn_field], "page": job_url(kind, job_name)}


def job_url(kind: str, name: str) -> str:
    return f"{urls.ROOT}batch-jobs/{kind}/{quote(name, safe='')}"


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/console/groups/{group}/batch", console.page(batch_page), methods=["GET"]),
        Route("/console/batch-jobs/{kind}/{name}", console.page(job_page), methods=["GET"]),
        Route("/console/api/groups/{group}/batch-jobs", console.api(create_job_api), methods=["POST"]),
    ]
