"""CreateDatasetGroup, DescribeDatasetGroup, ListDatasetGroups, DeleteDatasetGroup."""

from __future__ import annotations

from typing import Any

from pertinent.control.common import (
    Operation,
    Record,
    insert_new,
    new_record,
    paginate,
    require,
    tags_to_dict,
)
from pertinent.control.context import Context
from pertinent.errors import InvalidInputException, ResourceInUseException
from pertinent.resources.status import ACTIVE

KIND = "dataset-group"


def create_dataset_group(
    ctx: Context,
    name: str,
    role_arn: str | None = None,
    kms_key_arn: str | None = None,
    domain: str | None = None,
    tags: list[Record] | None = None,
) -> Record:
    if role_arn and not kms_key_arn:
        raise InvalidInputException("roleArn is only valid together with kmsKeyArn.")
    arn = ctx.arn(KIND, name)
    record = new_record(
        ctx,
        status=ACTIVE,
        name=name,
        dataset_group_arn=arn,
        role_arn=role_arn,
        kms_key_arn=kms_key_arn,
        domain=domain,
        tags=tags_to_dict(tags),
    )
    insert_new(ctx, KIND, arn, record)
    return {"dataset_group_arn": arn, "domain": domain}


def describe_dataset_group(ctx: Context, dataset_group_arn: str) -> Record:
    return {"dataset_group": require(ctx, KIND, dataset_group_arn)}


def list_dataset_groups(
    ctx: Context, next_token: str | None = None, max_results: int | None = None
) -> Record:
    page, token = paginate(ctx, KIND, None, next_token, max_results)
    return {"dataset_groups": page, "next_token": token}


def delete_dataset_group(ctx: Context, dataset_group_arn: str) -> dict[str, Any]:
    require(ctx, KIND, dataset_group_arn)
    for kind, noun in (
        ("dataset", "datasets"),
        ("solution", "solutions"),
        ("event-tracker", "event trackers"),
        ("filter", "filters"),
        ("recommender", "recommenders"),
        ("metric-attribution", "metric attribution"),
    ):
        if ctx.store.count(kind, dataset_group_arn):
            raise ResourceInUseException(
                f"Cannot delete dataset group {dataset_group_arn}: delete its {noun} first."
            )
    ctx.store.delete(dataset_group_arn)
    return {}


OPERATIONS: dict[str, Operation] = {
    "CreateDatasetGroup": create_dataset_group,
    "DescribeDatasetGroup": describe_dataset_group,
    "ListDatasetGroups": list_dataset_groups,
    "DeleteDatasetGroup": delete_dataset_group,
}
