"""Every request counted, timed and logged under its operation's name; ``GET /metrics`` for Prometheus.

The operation is ``AmazonPersonalize.<Op>`` for the control plane (from ``X-Amz-Target``), the REST-JSON
services' ``AmazonPersonalizeRuntime.<Op>`` / ``AmazonPersonalizeEvents.<Op>``, and ``<METHOD> <route path
template>`` for everything else (``GET /console/campaigns/{name}``), so the label set stays bounded.
The error type is the AWS error code the response carries in ``x-amzn-ErrorType``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pertinent.caller import Caller, acting_as, current_caller
from pertinent.telemetry import METRICS_CONTENT_TYPE, Telemetry

CONTROL_PLANE_PREFIX = "AmazonPersonalize."
#: REST-JSON service name (botocore) → the prefix its operations are logged under
REST_PREFIXES = {
    "personalize-runtime": "AmazonPersonalizeRuntime",
    "personalize-events": "AmazonPersonalizeEvents",
}


def name_endpoint(endpoint: object, operation: str) -> None:
    """Label a route's endpoint with the operation name the metrics and logs use."""
    setattr(endpoint, "operation_name", operation)  # noqa: B010 (a function attribute, read back below)


class RequestTelemetry:
    """ASGI middleware: one metrics sample and one log line per HTTP request."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry, control_operations: Iterable[str]) -> None:
        self.app = app
        self.telemetry = telemetry
        self.control_targets = {CONTROL_PLANE_PREFIX + name for name in control_operations}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response: dict[str, object] = {"status": 500, "error": None}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                for key, value in message.get("headers", ()):
                    if key.lower() == b"x-amzn-errortype":
                        response["error"] = value.decode("latin-1").split(":", 1)[0]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            response["error"] = type(exc).__name__
            raise
        finally:
            status = int(response["status"])  # type: ignore[call-overload]
            error = response["error"] or (f"HTTP{status}" if status >= 400 else None)
            self.telemetry.request(self.operation(scope), status, time.perf_counter() - started, error)  # type: ignore[arg-type]

    def operation(self, scope: Scope) -> str:
        for key, value in scope.get("headers", ()):
            if key == b"x-amz-target":
                target = value.decode("latin-1")
                return target if target in self.control_targets else CONTROL_PLANE_PREFIX + "Unknown"
        named = getattr(scope.get("endpoint"), "operation_name", None)
        if isinstance(named, str):
            return named
        route = scope.get("route")
        path = getattr(route, "path", None)
        return f"{scope.get('method', '')} {path}" if isinstance(path, str) else "unmatched"


def metrics_route(telemetry: Telemetry) -> Route:
    """``GET /metrics``. A signed caller sees only samples whose ARN labels are its own (another account's
    model versions stay hidden, docs/security.md); the operator's scraper (the bearer token) sees every
    account's."""

    async def metrics(request: Request) -> Response:
        caller = current_caller()
        if caller is None or caller.operator:
            with acting_as(None):  # the collectors that read the store see every account too
                return Response(telemetry.exposition(), media_type=METRICS_CONTENT_TYPE)
        seen = caller

        def visible(label: str) -> bool:
            return Caller.owner_of(label) is None or seen.may_read(label)

        return Response(telemetry.exposition(visible), media_type=METRICS_CONTENT_TYPE)

    return Route("/metrics", metrics, methods=["GET"])
