"""TagResource, UntagResource, ListTagsForResource on any resource this server holds."""

from __future__ import annotations

from typing import Any

from pertinent.control.common import MAX_TAGS_PER_RESOURCE, Operation, Record, tags_to_dict
from pertinent.control.context import Context
from pertinent.errors import ResourceNotFoundException, TooManyTagKeysException, TooManyTagsException


def _require_any(ctx: Context, resource_arn: str) -> Record:
    record = ctx.store.get(resource_arn)
    if record is None:
        raise ResourceNotFoundException(f"Could not find resource with ARN {resource_arn}.")
    return record


def tag_resource(ctx: Context, resource_arn: str, tags: list[Record]) -> dict[str, Any]:
    current = dict(_require_any(ctx, resource_arn).get("tags") or {})
    current.update(tags_to_dict(tags))
    if len(current) > MAX_TAGS_PER_RESOURCE:
        raise TooManyTagsException(
            f"You have exceeded the maximum number of tags ({MAX_TAGS_PER_RESOURCE}) for {resource_arn}."
        )
    ctx.store.update(resource_arn, {"tags": current})
    return {}


def untag_resource(ctx: Context, resource_arn: str, tag_keys: list[str]) -> dict[str, Any]:
    if len(tag_keys) > MAX_TAGS_PER_RESOURCE:
        raise TooManyTagKeysException(
            f"You can remove at most {MAX_TAGS_PER_RESOURCE} tag keys in one request."
        )
    current = dict(_require_any(ctx, resource_arn).get("tags") or {})
    for key in tag_keys:
        current.pop(key, None)
    ctx.store.update(resource_arn, {"tags": current})
    return {}


def list_tags_for_resource(ctx: Context, resource_arn: str) -> Record:
    tags = _require_any(ctx, resource_arn).get("tags") or {}
    return {"tags": [{"tag_key": k, "tag_value": v} for k, v in sorted(tags.items())]}


OPERATIONS: dict[str, Operation] = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
