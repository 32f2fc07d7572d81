"""Pieces every operation family shares: lifecycle fields, lookups, pagination, tags."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any

from pertinent.control.context import Context
from pertinent.errors import (
    InvalidNextTokenException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    ResourceNotFoundException,
    TooManyTagsException,
)
from pertinent.resources.status import ACTIVE, CREATE_IN_PROGRESS, CREATE_PENDING

Record = dict[str, Any]

#: a control-plane operation: (ctx, **snake_case members) -> snake_case response members
Operation = Callable[..., dict[str, Any]]

MAX_TAGS_PER_RESOURCE = 50

#: ARN kind → the noun Personalize uses in messages
NOUNS = {
    "dataset-group": "dataset group",
    "schema": "schema",
    "dataset": "dataset",
    "dataset-import-job": "dataset import job",
    "dataset-export-job": "dataset export job",
    "event-tracker": "event tracker",
    "filter": "filter",
    "solution": "solution",
    "solution-version": "solution version",
    "campaign": "campaign",
    "recommender": "recommender",
    "batch-inference-job": "batch inference job",
    "batch-segment-job": "batch segment job",
    "data-deletion-job": "data deletion job",
    "metric-attribution": "metric attribution",
}


def new_record(ctx: Context, with_status: bool = True, status: str = CREATE_PENDING, **fields: Any) -> Record:
    """A fresh record: the given fields plus creation times (and ``status``, CREATE PENDING unless told).

    Resources with no real work to do (dataset group, dataset, solution, filter, event tracker) are created
    ACTIVE at once, so the next call of a notebook never waits behind an import or a training job.
    """
    now = ctx.now()
    record: Record = {k: v for k, v in fields.items() if v is not None}
    record["creation_date_time"] = now
    record["last_updated_date_time"] = now
    if with_status:
        record["status"] = status
    return record


def require(ctx: Context, kind: str, arn: str) -> Record:
    """The record of ``kind`` at ``arn``, or ResourceNotFoundException in Personalize's words."""
    record = ctx.store.get(arn, kind)
    if record is None:
        raise ResourceNotFoundException(f"Could not find {NOUNS.get(kind, kind)} with ARN {arn}.")
    return record


def require_active(ctx: Context, kind: str, arn: str) -> Record:
    record = require(ctx, kind, arn)
    if record.get("status") != ACTIVE:
        raise ResourceInUseException(
            f"The {NOUNS.get(kind, kind)} {arn} is not in ACTIVE state (status: {record.get('status')})."
        )
    return record


def require_usable(ctx: Context, kind: str, arn: str) -> Record:
    """The record at ``arn`` if it is ACTIVE or still being created (work on it queues behind it).

    Personalize refuses children of a parent that is not ACTIVE yet; pertinent accepts them and lets the
    worker wait for the parent, so code written for Personalize (which polls first) works either way.
    """
    record = require(ctx, kind, arn)
    if record.get("status") not in (ACTIVE, CREATE_PENDING, CREATE_IN_PROGRESS):
        raise ResourceInUseException(
            f"The {NOUNS.get(kind, kind)} {arn} is not in ACTIVE state (status: {record.get('status')})."
        )
    return record


def set_status(ctx: Context, arn: str, status: str, failure_reason: str | None = None, **extra: Any) -> None:
    def change(record: Record) -> Record:
        record = {**record, **extra, "status": status, "last_updated_date_time": ctx.now()}
        if failure_reason is not None:
            record["failure_reason"] = failure_reason
        return record

    ctx.store.update(arn, change)


# -- pagination ---------------------------------------------------------------------------------------
def _encode_token(kind: str, parent: str | None, offset: int) -> str:
    raw = json.dumps({"k": kind, "p": parent, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str, kind: str, parent: str | None) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["k"] == kind and data["p"] == parent and isinstance(data["o"], int) and data["o"] >= 0:
            return int(data["o"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise InvalidNextTokenException("The token is not valid.")


def paginate(
    ctx: Context,
    kind: str,
    parent_arn: str | None,
    next_token: str | None,
    max_results: int | None,
    *,
    default_max: int = 100,
) -> tuple[list[Record], str | None]:
    """One page of ``kind`` records (newest first) and the token for the next, if any."""
    offset = _decode_token(next_token, kind, parent_arn) if next_token else 0
    limit = max_results or default_max
    page = ctx.store.list(kind, parent_arn, offset=offset, limit=limit + 1)
    token = _encode_token(kind, parent_arn, offset + limit) if len(page) > limit else None
    return page[:limit], token


# -- tags ---------------------------------------------------------------------------------------------
def tags_to_dict(tags: Sequence[Record] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for tag in tags or ():
        result[tag["tag_key"]] = tag.get("tag_value", "")
    if len(result) > MAX_TAGS_PER_RESOURCE:
        raise TooManyTagsException(
            f"You have exceeded the maximum number of tags ({MAX_TAGS_PER_RESOURCE}) for this resource."
        )
    return result


def insert_new(
    ctx: Context, kind: str, arn: str, record: Record, parent_arn: str | None = None, job: str | None = None
) -> None:
    """Store a new resource (and queue its job in the same transaction)."""
    try:
        with ctx.store.write() as conn:
            ctx.store.insert(kind, arn, record, parent_arn, conn=conn)
            if job is not None:
                ctx.store.enqueue(job, arn, conn=conn)
    except ResourceAlreadyExistsException:
        raise ResourceAlreadyExistsException(
            f"A {NOUNS.get(kind, kind)} with ARN {arn} already exists."
        ) from None
