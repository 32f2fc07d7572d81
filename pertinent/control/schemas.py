"""CreateSchema, DescribeSchema, ListSchemas, DeleteSchema."""

from __future__ import annotations

from typing import Any

from pertinent.control.common import Operation, Record, insert_new, new_record, paginate, require
from pertinent.control.context import Context
from pertinent.datasets.avro_schema import parse_schema
from pertinent.errors import ResourceInUseException

KIND = "schema"


def create_schema(ctx: Context, name: str, schema: str, domain: str | None = None) -> Record:
    parse_schema(schema)  # raises InvalidInputException naming the field and the rule
    arn = ctx.arn(KIND, name)
    record = new_record(ctx, with_status=False, name=name, schema_arn=arn, schema=schema, domain=domain)
    insert_new(ctx, KIND, arn, record)
    return {"schema_arn": arn}


def describe_schema(ctx: Context, schema_arn: str) -> Record:
    return {"schema": require(ctx, KIND, schema_arn)}


def list_schemas(ctx: Context, next_token: str | None = None, max_results: int | None = None) -> Record:
    page, token = paginate(ctx, KIND, None, next_token, max_results)
    return {"schemas": page, "next_token": token}


def delete_schema(ctx: Context, schema_arn: str) -> dict[str, Any]:
    require(ctx, KIND, schema_arn)
    users = [d["dataset_arn"] for d in ctx.store.list("dataset") if d.get("schema_arn") == schema_arn]
    if users:
        raise ResourceInUseException(f"Cannot delete schema {schema_arn}: it is used by dataset {users[0]}.")
    ctx.store.delete(schema_arn)
    return {}


OPERATIONS: dict[str, Operation] = {
    "CreateSchema": create_schema,
    "DescribeSchema": describe_schema,
    "ListSchemas": list_schemas,
    "DeleteSchema": delete_schema,
}
