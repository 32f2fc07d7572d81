"""Personalized search over HTTP, in OpenSearch's shapes (see docs/search.md).

``POST|GET /search/{index}/_search[?search_pipeline=name]``, ``PUT|GET|DELETE /search/_search/pipeline/{id}``,
``PUT /search/{index}/_settings`` (``index.search.default_pipeline``). The index is a dataset group's name.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pertinent.errors import PersonalizeError
from pertinent.search.errors import SearchRequestError
from pertinent.search.service import SearchService

log = logging.getLogger(__name__)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SearchRequestError("parse_exception", f"request body is not valid JSON: {exc}") from None


def _guard(call: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await call(request))
        except SearchRequestError as exc:
            return JSONResponse(exc.to_dict(), status_code=exc.status)
        except PersonalizeError as exc:
            error = SearchRequestError(
                "illegal_argument_exception",
                f"{exc.code}: {exc.message}",
                status=404 if exc.http_status == 404 else 400,
            )
            return JSONResponse(error.to_dict(), status_code=error.status)
        except Exception as exc:  # a bug: still OpenSearch's error body, never a bare 500 page
            log.error("search request failed", exc_info=exc)
            error = SearchRequestError("exception", f"internal error: {type(exc).__name__}", status=500)
            return JSONResponse(error.to_dict(), status_code=500)

    return endpoint


def search_routes(service: SearchService) -> list[Route]:
    async def do_search(request: Request) -> Any:
        body = await _body(request)
        return await run_in_threadpool(
            service.search, request.path_params["index"], body, request.query_params.get("search_pipeline")
        )

    async def pipeline(request: Request) -> Any:
        pipeline_id = request.path_params["pipeline_id"]
        if request.method == "PUT":
            body = await _body(request)
            return await run_in_threadpool(service.put_pipeline, pipeline_id, body)
        if request.method == "DELETE":
            return await run_in_threadpool(service.delete_pipeline, pipeline_id)
        return await run_in_threadpool(service.get_pipeline, pipeline_id)

    async def settings(request: Request) -> Any:
        return await run_in_threadpool(
            service.put_settings, request.path_params["index"], await _body(request)
        )

    return [
        Route("/search/_search/pipeline/{pipeline_id}", _guard(pipeline), methods=["PUT", "GET", "DELETE"]),
        Route("/search/{index}/_search", _guard(do_search), methods=["GET", "POST"]),
        Route("/search/{index}/_settings", _guard(settings), methods=["PUT"]),
    ]
