"""Which surface a request is for, and an error in that surface's own format.

The request guard refuses some requests before any route runs (not signed, body too large, JSON too deep…);
each refusal must still look like the surface's ordinary errors so clients parse it:

- ``control``: the JSON 1.1 control plane (``POST /``): HTTP status, ``{"__type", "message"}``;
- ``rest``: the REST-JSON runtime, events and convenience routes: ``x-amzn-ErrorType`` and ``{"message"}``;
- ``search``: the OpenSearch-style API: ``{"error": {"root_cause", "type", "reason"}, "status"}``;
- ``console``: console pages and ``/console/api`` (``{"error": {"code", "message"}}``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from pertinent.api.errors import AMZ_JSON, json_response
from pertinent.search.errors import SearchRequestError

CONTROL, REST, SEARCH, CONSOLE = "control", "rest", "search", "console"

#: the REST-JSON routes that change state from an event stream; they take JSON bodies only
EVENT_PATHS = frozenset({"/events", "/items", "/users", "/actions", "/action-interactions", "/data"})

#: OpenSearch's error type for each refusal, by the AWS code the other surfaces use
_SEARCH_TYPES = {
    "RequestEntityTooLargeException": "content_too_long_exception",
    "InvalidInputException": "parse_exception",
    "AccessDeniedException": "security_exception",
}


def surface_of(path: str, method: str) -> str:
    if path == "/":
        return CONTROL if method == "POST" else CONSOLE
    if path == "/console" or path.startswith("/console/"):
        return CONSOLE
    if path.startswith("/search/") or any(part.startswith("_") for part in path.split("/")):
        return SEARCH  # OpenSearch's endpoints are the segments that start with "_" (_search, _plugins…)
    return REST


def error_response(surface: str, code: str, message: str, status: int) -> Response:
    if surface == CONTROL:
        return json_response(
            {"__type": code, "message": message}, AMZ_JSON, status=status, headers={"x-amzn-ErrorType": code}
        )
    if surface == SEARCH:
        kind = _SEARCH_TYPES.get(code, "security_exception")
        error = SearchRequestError(kind, f"{code}: {message}", status=status)
        return json_response(
            error.to_dict(), "application/json", status=status, headers={"x-amzn-ErrorType": code}
        )
    if surface == CONSOLE:
        return json_response(
            {"error": {"code": code, "message": message}},
            "application/json",
            status=status,
            headers={"x-amzn-ErrorType": code},
        )
    return json_response(
        {"message": message, "__type": code},
        "application/json",
        status=status,
        headers={"x-amzn-ErrorType": code},
    )


async def not_routed(request: Request, exc: Exception) -> Response:
    """404 (no route) and 405 (wrong method) in the surface's own format, not Starlette's plain text."""
    status = int(getattr(exc, "status_code", 404))
    path, method = request.url.path, request.method
    surface = surface_of(path, method)
    if surface == SEARCH:
        kind = "index_not_found_exception" if status == 404 else "illegal_argument_exception"
        reason = f"no handler found for uri [{path[:200]}] and method [{method}]"
        error = SearchRequestError(kind, reason, status=status)
        return json_response(error.to_dict(), "application/json", status=status)
    code = "UnknownOperationException" if status == 404 else "InvalidInputException"
    message = (
        f"No operation at {method} {path[:200]}."
        if status == 404
        else f"{method} is not allowed on {path[:200]}."
    )
    return error_response(surface, code, message, status)


async def internal(request: Request, exc: Exception) -> Response:
    """An unexpected error anywhere: InternalFailure in the surface's format (the traceback is logged)."""
    surface = surface_of(request.url.path, request.method)
    if surface == SEARCH:
        error = SearchRequestError("exception", f"internal error: {type(exc).__name__}", status=500)
        return json_response(error.to_dict(), "application/json", status=500)
    return error_response(surface, "InternalFailure", f"Internal error: {type(exc).__name__}", 500)


#: Starlette's exception_handlers for the app
HANDLERS = {404: not_routed, 405: not_routed, 500: internal}
