"""The console's URLs, in one place: resources are addressed by name, as in the AWS console.

Personalize names (``[a-zA-Z0-9][a-zA-Z0-9_-]*``) and version ids are URL-safe; they are quoted anyway so a
hand-made record can never break a link.
"""

from __future__ import annotations

from urllib.parse import quote

from pertinent import arns
from pertinent.errors import InvalidInputException

ROOT = "/console/"
#: the ARN kind of a batch or deletion job → its kind in the console's URL
BATCH_KINDS = {"batch-inference-job": "inference", "batch-segment-job": "segment", "data-deletion-job": "deletion"}
STATIC = "/console/static"


def _q(part: str) -> str:
    return quote(part, safe="")


def groups() -> str:
    return ROOT


def group(name: str) -> str:
    return f"{ROOT}groups/{_q(name)}"


def dataset(group_name: str, dataset_type: str) -> str:
    return f"{group(group_name)}/datasets/{_q(dataset_type.lower())}"


def filters(group_name: str) -> str:
    return f"{group(group_name)}/filters"


def events(group_name: str) -> str:
    return f"{group(group_name)}/events"


def search(group_name: str) -> str:
    return f"{group(group_name)}/search"


def solution(name: str) -> str:
    return f"{ROOT}solutions/{_q(name)}"


def version(solution_name: str, version_id: str) -> str:
    return f"{solution(solution_name)}/versions/{_q(version_id)}"


def campaign(name: str) -> str:
    return f"{ROOT}campaigns/{_q(name)}"


def for_arn(arn: str | None) -> str | None:
    """The console page of the resource ``arn`` names, or None when the console has no page for it."""
    if not arn:
        return None
    try:
        parsed = arns.parse(arn)
    except InvalidInputException:
        return None
    parts = parsed.parts
    if parsed.kind == "dataset-group" and len(parts) == 1:
        return group(parts[0])
    if parsed.kind == "dataset" and len(parts) == 2:
        return dataset(parts[0], parts[1])
    if parsed.kind == "solution" and len(parts) == 1:
        return solution(parts[0])
    if parsed.kind == "solution" and len(parts) == 2 and not arns.is_latest_alias(arn):
        return version(parts[0], parts[1])
    if parsed.kind == "solution" and len(parts) == 2:
        return solution(parts[0])
    if parsed.kind == "campaign" and len(parts) == 1:
        return campaign(parts[0])
    if parsed.kind == "recommender" and len(parts) == 1:
        return f"{ROOT}recommenders/{_q(parts[0])}"
    if parsed.kind in BATCH_KINDS and len(parts) == 1:
        return f"{ROOT}batch-jobs/{BATCH_KINDS[parsed.kind]}/{_q(parts[0])}"
    return None


def name_of(arn: str | None) -> str:
    """The last part of an ARN's path (a resource's name or a version's id), for display."""
    if not arn:
        return ""
    return arn.rsplit("/", 1)[-1]
