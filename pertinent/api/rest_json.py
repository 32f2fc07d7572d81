"""The REST-JSON services on the same port: personalize-runtime and personalize-events.

``POST /recommendations``, ``/personalize-ranking``, ``/events``, ``/items``, ``/users`` … exactly as the
boto3 clients send them; errors carry ``x-amzn-ErrorType`` and the model's HTTP status.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pertinent.api.errors import internal_error, json_response, rest_json_error
from pertinent.api.observability import REST_PREFIXES, name_endpoint
from pertinent.api.ownership import refuse_foreign_arns
from pertinent.api.service_model import ServiceCodec
from pertinent.errors import InvalidInputException, NotImplementedOperation, PersonalizeError
from pertinent.serving.inline import NeedsThread, inline

Handler = Callable[..., dict[str, Any] | Future[dict[str, Any]]]


async def read_json(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputException(f"The request body is not valid JSON: {exc}.") from None


class RestJsonService:
    """Routes for one REST-JSON service: decode with the service model, call the handler, encode."""

    def __init__(
        self, codec: ServiceCodec, handlers: Mapping[str, Handler], inline: frozenset[str] = frozenset()
    ) -> None:
        """``inline``: operations whose handler runs on the event loop until it would block
        (:mod:`pertinent.serving.inline`); the others run in a worker thread."""
        self.codec = codec
        self.handlers = handlers
        self.inline = inline

    def routes(self) -> list[Route]:
        return [
            Route(uri, self._endpoint(operation), methods=[method])
            for (method, uri), operation in sorted(self.codec.routes().items())
        ]

    def _endpoint(self, operation: str) -> Callable[[Request], Any]:
        on_loop = operation in self.inline

        async def endpoint(request: Request) -> Response:
            try:
                kwargs = self.codec.decode_input(operation, await read_json(request))
                refuse_foreign_arns(kwargs)
                handler = self.handlers.get(operation)
                if handler is None:
                    raise NotImplementedOperation(f"pertinent does not implement {operation} yet.")
                if on_loop:
                    try:
                        with inline():
                            result = handler(**kwargs)
                    except NeedsThread:  # something slow is due: the same request in a worker thread
                        result = await run_in_threadpool(handler, **kwargs)
                else:
                    result = await run_in_threadpool(handler, **kwargs)
                if isinstance(result, Future):  # answered once durable (PutEvents' group commit)
                    result = await asyncio.wrap_future(result)
                output = self.codec.encode_output(operation, result)
                if not output and self.codec.model.operation_model(operation).output_shape is None:
                    return Response(b"", status_code=200)
                return json_response(output, "application/json")
            except PersonalizeError as exc:
                return rest_json_error(exc)
            except Exception as exc:
                return internal_error(exc, rest=True)

        endpoint.__name__ = operation
        name_endpoint(endpoint, f"{REST_PREFIXES.get(self.codec.service_name, self.codec.service_name)}.{operation}")
        return endpoint
