"""Personalized search over HTTP, in OpenSearch's shapes and at OpenSearch's paths (see docs/search.md).

At the root, as an OpenSearch cluster answers them (so opensearch-py and ``requests`` code work with the
server's base URL): ``GET /`` (cluster info; a browser is sent to the console) and ``HEAD /`` (ping),
``POST|GET /{index}/_search[?search_pipeline=name]``, ``PUT|GET|DELETE /_search/pipeline/{id}``,
``GET /_search/pipeline`` (all), ``PUT|GET /{index}/_settings`` (``index.search.default_pipeline``). Each also
answers with a trailing slash, without a redirect. The same routes stay under ``/search/…`` (the paths of
earlier versions). The index is a dataset group's name; ``POST /`` stays the Personalize control plane.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from pertinent.errors import PersonalizeError
from pertinent.search.errors import SearchRequestError
from pertinent.search.service import SearchService
from pertinent.version import __version__

#: the OpenSearch release whose REST shapes these routes follow (search pipelines: 2.9 and later)
OPENSEARCH_VERSION = "2.19.0"

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


def cluster_info(service: SearchService) -> dict[str, Any]:
    """``GET /`` as OpenSearch answers it (opensearch-py's ``info()``)."""
    settings = service.ctx.settings
    cluster_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"pertinent:{settings.account_id}:{settings.region}")
    return {
        "name": "pertinent",
        "cluster_name": f"{settings.account_id}:pertinent",
        "cluster_uuid": str(cluster_uuid),
        "version": {
            "distribution": "opensearch",
            "number": OPENSEARCH_VERSION,
            "build_type": "pertinent",
            "build_hash": f"pertinent-{__version__}",
            "build_date": "2025-01-01T00:00:00.000000Z",
            "build_snapshot": False,
            "lucene_version": "9.12.1",
            "minimum_wire_compatibility_version": "7.10.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "The OpenSearch Project: https://opensearch.org/",
    }


def _with_slash(
    path: str, endpoint: Callable[[Request], Awaitable[Response]], methods: list[str]
) -> list[Route]:
    """The route and its trailing-slash twin: clients get the answer, never a redirect."""
    return [Route(path, endpoint, methods=methods), Route(f"{path}/", endpoint, methods=methods)]


def search_routes(service: SearchService, browser_home: str = "/console/") -> list[Route]:
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
        return await run_in_threadpool(service.get_pipelines, pipeline_id)

    async def all_pipelines(request: Request) -> Any:
        return await run_in_threadpool(service.get_pipelines, None)

    async def settings(request: Request) -> Any:
        index = request.path_params["index"]
        if request.method == "GET":
            flat = request.query_params.get("flat_settings", "false").lower() == "true"
            return await run_in_threadpool(service.get_settings, index, flat)
        return await run_in_threadpool(service.put_settings, index, await _body(request))

    async def root(request: Request) -> Response:
        if request.method == "HEAD":
            return Response(status_code=200)  # opensearch-py's ping()
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(browser_home, status_code=307)  # a browser: the console
        return JSONResponse(cluster_info(service))

    pipeline_methods = ["PUT", "GET", "DELETE"]
    routes: list[Route] = []
    for prefix in ("", "/search"):
        routes += _with_slash(f"{prefix}/_search/pipeline", _guard(all_pipelines), ["GET"])
        routes += _with_slash(
            f"{prefix}/_search/pipeline/{{pipeline_id}}", _guard(pipeline), pipeline_methods
        )
        routes += _with_slash(f"{prefix}/{{index}}/_search", _guard(do_search), ["GET", "POST"])
        routes += _with_slash(f"{prefix}/{{index}}/_settings", _guard(settings), ["GET", "PUT"])
    routes.append(Route("/", root, methods=["GET", "HEAD"]))
    return routes
