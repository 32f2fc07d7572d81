"""CreateFilter, DescribeFilter, ListFilters, DeleteFilter (expressions are validated here)."""

from __future__ import annotations

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
from pertinent.datasets.avro_schema import Field, parse_schema
from pertinent.filters.parser import parse_filter, validate_against_schemas
from pertinent.resources.status import ACTIVE

KIND = "filter"

_DATASET_NAMES = {"Interactions": "Interactions", "Items": "Items", "Users": "Users", "Actions": "Actions"}


def _field_kind(field: Field) -> str:
    if field.type == "boolean":
        return "boolean"
    if field.type != "string":
        return "numeric"
    if field.textual:
        return "textual"
    return "categorical" if field.categorical else "string"


def dataset_fields(ctx: Context, dataset_group_arn: str) -> dict[str, dict[str, str]]:
    """Dataset name → field → kind, for the datasets of a group (what filters may refer to)."""
    fields: dict[str, dict[str, str]] = {}
    for dataset in ctx.store.list("dataset", dataset_group_arn):
        name = _DATASET_NAMES.get(dataset["dataset_type"])
        if name is None:
            continue
        schema = parse_schema(require(ctx, "schema", dataset["schema_arn"])["schema"])
        fields[name] = {f.name: _field_kind(f) for f in schema.fields}
    return fields


def create_filter(
    ctx: Context, name: str, dataset_group_arn: str, filter_expression: str, tags: list[Record] | None = None
) -> Record:
    require_usable(ctx, "dataset-group", dataset_group_arn)
    chain = parse_filter(filter_expression)
    validate_against_schemas(chain, dataset_fields(ctx, dataset_group_arn))
    arn = ctx.arn(KIND, name)
    record = new_record(
        ctx,
        status=ACTIVE,
        name=name,
        filter_arn=arn,
        dataset_group_arn=dataset_group_arn,
        filter_expression=filter_expression,
        tags=tags_to_dict(tags),
    )
    insert_new(ctx, KIND, arn, record, parent_arn=dataset_group_arn)
    return {"filter_arn": arn}


def describe_filter(ctx: Context, filter_arn: str) -> Record:
    return {"filter": require(ctx, KIND, filter_arn)}


def list_filters(
    ctx: Context,
    dataset_group_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, KIND, dataset_group_arn, next_token, max_results)
    return {"filters": page, "next_token": token}


def delete_filter(ctx: Context, filter_arn: str) -> dict[str, Any]:
    require(ctx, KIND, filter_arn)
    ctx.store.delete(filter_arn)
    return {}


OPERATIONS: dict[str, Operation] = {
    "CreateFilter": create_filter,
    "DescribeFilter": describe_filter,
    "ListFilters": list_filters,
    "DeleteFilter": delete_filter,
}
