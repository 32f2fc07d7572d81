"""``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Op>``: decode → control.<op> → encode."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from pertinent.api.errors import AMZ_JSON, control_plane_error, internal_error, json_response
from pertinent.api.ownership import refuse_foreign_arns
from pertinent.api.service_model import ServiceCodec
from pertinent.control import Context, Operation
from pertinent.control.batch_jobs import WIRE_EXTENSIONS
from pertinent.errors import (
    InvalidInputException,
    NotImplementedOperation,
    PersonalizeError,
    UnknownOperationException,
)

TARGET_PREFIX = "AmazonPersonalize."


class ControlPlane:
    """The ASGI endpoint for the JSON 1.1 control plane."""

    def __init__(
        self,
        ctx: Context,
        operations: Mapping[str, Operation],
        codec: ServiceCodec,
        after_write: Callable[[], None] = lambda: None,
    ) -> None:
        self.ctx = ctx
        self.operations = operations
        self.codec = codec
        self.after_write = after_write

    async def handle(self, request: Request) -> Response:
        try:
            operation = self._operation(request.headers.get("x-amz-target", ""))
            body = await request.body()
            try:
                data: Any = json.loads(body) if body.strip() else {}
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidInputException(f"The request body is not valid JSON: {exc}.") from None
            kwargs = self.codec.decode_input(operation, data)
            refuse_foreign_arns(kwargs)
            function = self.operations.get(operation)
            if function is None:
                raise NotImplementedOperation(
                    f"pertinent does not implement {operation} yet; see docs/api-coverage.md."
                )
            result = await run_in_threadpool(function, self.ctx, **kwargs)
            if not operation.startswith(("Describe", "List", "Get")):
                self.after_write()
            wire = self.codec.encode_output(operation, result)
            extend = WIRE_EXTENSIONS.get(operation)
            if extend is not None and result is not None:
                extend(result, wire)
            return json_response(wire, AMZ_JSON)
        except PersonalizeError as exc:
            return control_plane_error(exc)
        except Exception as exc:
            return internal_error(exc, rest=False)

    def _operation(self, target: str) -> str:
        if not target.startswith(TARGET_PREFIX):
            raise UnknownOperationException(
                f"Unknown X-Amz-Target {target!r}; expected AmazonPersonalize.<Operation>."
            )
        operation = target[len(TARGET_PREFIX) :]
        if operation not in self.codec.operation_names:
            raise UnknownOperationException(f"Amazon Personalize has no operation named {operation!r}.")
        return operation
