"""CreateEventTracker, DescribeEventTracker, ListEventTrackers, DeleteEventTracker."""

from __future__ import annotations

import uuid
from typing import Any

from pertinent.control.common import (
    Operation,
    Record,
    insert_new,
    new_record,
    paginate,
    require,
    require_usable,
    tags_to_dict,
)
from pertinent.control.context import Context
from pertinent.errors import ResourceAlreadyExistsException
from pertinent.resources.status import ACTIVE

KIND = "event-tracker"


def create_event_tracker(
    ctx: Context, name: str, dataset_group_arn: str, tags: list[Record] | None = None
) -> Record:
    require_usable(ctx, "dataset-group", dataset_group_arn)
    existing = ctx.store.list(KIND, dataset_group_arn)
    if existing:
        raise ResourceAlreadyExistsException(
            f"Dataset group {dataset_group_arn} already has event tracker {existing[0]['event_tracker_arn']}; "
            "a dataset group has at most one."
        )
    arn = ctx.arn(KIND, name)
    tracking_id = str(uuid.uuid4())
    record = new_record(
        ctx,
        status=ACTIVE,
        name=name,
        event_tracker_arn=arn,
        account_id=ctx.settings.account_id,
        tracking_id=tracking_id,
        dataset_group_arn=dataset_group_arn,
        tags=tags_to_dict(tags),
    )
    insert_new(ctx, KIND, arn, record, parent_arn=dataset_group_arn)
    return {"event_tracker_arn": arn, "tracking_id": tracking_id}


def describe_event_tracker(ctx: Context, event_tracker_arn: str) -> Record:
    return {"event_tracker": require(ctx, KIND, event_tracker_arn)}


def list_event_trackers(
    ctx: Context,
    dataset_group_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, KIND, dataset_group_arn, next_token, max_results)
    return {"event_trackers": page, "next_token": token}


def delete_event_tracker(ctx: Context, event_tracker_arn: str) -> dict[str, Any]:
    require(ctx, KIND, event_tracker_arn)
    ctx.store.delete(event_tracker_arn)
    return {}


OPERATIONS: dict[str, Operation] = {
    "CreateEventTracker": create_event_tracker,
    "DescribeEventTracker": describe_event_tracker,
    "ListEventTrackers": list_event_trackers,
    "DeleteEventTracker": delete_event_tracker,
}
