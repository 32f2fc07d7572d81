"""CreateDataset, DescribeDataset, ListDatasets, UpdateDataset, DeleteDataset."""

from __future__ import annotations

from typing import Any

from pertinent.control.common import (
    Operation,
    Record,
    insert_new,
    new_record,
    paginate,
    require,
    require_active,
    require_usable,
    tags_to_dict,
)
from pertinent.control.context import Context
from pertinent.datasets.avro_schema import check_schema_for_dataset, normalize_dataset_type, parse_schema
from pertinent.errors import InvalidInputException, ResourceInUseException
from pertinent.resources.status import ACTIVE, IN_FLIGHT

KIND = "dataset"

#: DescribeDataset reports the type as the caller wrote it in Personalize's docs
DISPLAY_TYPE = {
    "INTERACTIONS": "Interactions",
    "ITEMS": "Items",
    "USERS": "Users",
    "ACTIONS": "Actions",
    "ACTION_INTERACTIONS": "Action_Interactions",
}


def _checked_schema(ctx: Context, schema_arn: str, dataset_type: str, group: Record) -> None:
    schema_record = require(ctx, "schema", schema_arn)
    schema_domain = schema_record.get("domain")
    if schema_domain != group.get("domain"):
        raise InvalidInputException(
            f"The schema's domain ({schema_domain or 'none'}) does not match the dataset group's domain "
            f"({group.get('domain') or 'none'})."
        )
    check_schema_for_dataset(parse_schema(schema_record["schema"]), dataset_type, group.get("domain"))


def create_dataset(
    ctx: Context,
    name: str,
    schema_arn: str,
    dataset_group_arn: str,
    dataset_type: str,
    tags: list[Record] | None = None,
) -> Record:
    group = require_usable(ctx, "dataset-group", dataset_group_arn)
    kind = normalize_dataset_type(dataset_type)
    _checked_schema(ctx, schema_arn, kind, group)
    arn = ctx.arn(KIND, group["name"], kind)
    record = new_record(
        ctx,
        status=ACTIVE,
        name=name,
        dataset_arn=arn,
        dataset_group_arn=dataset_group_arn,
        dataset_type=DISPLAY_TYPE[kind],
        schema_arn=schema_arn,
        tags=tags_to_dict(tags),
    )
    insert_new(ctx, KIND, arn, record, parent_arn=dataset_group_arn)
    return {"dataset_arn": arn}


def describe_dataset(ctx: Context, dataset_arn: str) -> Record:
    return {"dataset": require(ctx, KIND, dataset_arn)}


def list_datasets(
    ctx: Context,
    dataset_group_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, KIND, dataset_group_arn, next_token, max_results)
    return {"datasets": page, "next_token": token}


def update_dataset(ctx: Context, dataset_arn: str, schema_arn: str) -> Record:
    dataset = require_active(ctx, KIND, dataset_arn)
    group = require(ctx, "dataset-group", dataset["dataset_group_arn"])
    kind = normalize_dataset_type(dataset["dataset_type"])
    _checked_schema(ctx, schema_arn, kind, group)
    old = {f.name for f in parse_schema(require(ctx, "schema", dataset["schema_arn"])["schema"]).fields}
    new = parse_schema(require(ctx, "schema", schema_arn)["schema"])
    missing = sorted(old - set(new.names))
    if missing and dataset.get("rows_total"):
        raise InvalidInputException(
            f"The new schema must keep every field of the imported data; it drops {', '.join(missing)}."
        )
    now = ctx.now()
    update = {
        "schema_arn": schema_arn,
        "status": "ACTIVE",
        "creation_date_time": now,
        "last_updated_date_time": now,
    }
    ctx.store.update(
        dataset_arn,
        {"schema_arn": schema_arn, "last_updated_date_time": now, "latest_dataset_update": update},
    )
    return {"dataset_arn": dataset_arn}


def delete_dataset(ctx: Context, dataset_arn: str) -> dict[str, Any]:
    require(ctx, KIND, dataset_arn)
    for job in ctx.store.list("dataset-import-job", dataset_arn):
        if job["status"] in IN_FLIGHT:
            raise ResourceInUseException(
                f"Cannot delete dataset {dataset_arn}: import job {job['dataset_import_job_arn']} is "
                f"{job['status']}."
            )
    with ctx.store.write() as conn:
        for job in ctx.store.list("dataset-import-job", dataset_arn, conn=conn):
            ctx.store.delete(job["dataset_import_job_arn"], conn=conn)
        ctx.store.delete(dataset_arn, conn=conn)
    ctx.storage.delete_tree(ctx.dataset_key(dataset_arn))
    return {}


OPERATIONS: dict[str, Operation] = {
    "CreateDataset": create_dataset,
    "DescribeDataset": describe_dataset,
    "ListDatasets": list_datasets,
    "UpdateDataset": update_dataset,
    "DeleteDataset": delete_dataset,
}
