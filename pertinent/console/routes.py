"""Everything the console mounts: pages by family, their JSON endpoints, static files, a 404 page."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from pertinent.console import (
    pages_batch,
    pages_campaigns,
    pages_events,
    pages_filters,
    pages_groups,
    pages_impact,
    pages_insights,
    pages_search,
    pages_training,
    pages_workflow,
    status_api,
    urls,
)
from pertinent.console.base import Console, json_error
from pertinent.console.templating import make_environment
from pertinent.control.context import Context
from pertinent.events.ingest import EventIngest
from pertinent.search.service import SearchService
from pertinent.serving.recommend import Recommender

STATIC_DIR = Path(__file__).parent / "static"


def console_routes(ctx: Context, recommender: Recommender, ingest: EventIngest,
                   search: SearchService | None = None) -> list[BaseRoute]:
    """The console's routes, to add to the app's (all under ``/console``)."""
    console = Console(ctx, recommender, ingest, make_environment(), search)

    async def to_console(request: Request) -> Response:
        return RedirectResponse(urls.ROOT, status_code=307)

    async def not_found(request: Request) -> Response:
        message = f"The console has no page at {request.url.path}."
        if request.url.path.startswith("/console/api/"):
            return json_error("ResourceNotFoundException", message, 404)
        return console.error_page("ResourceNotFoundException", message, 404)

    routes: list[BaseRoute] = [Route("/console", to_console, methods=["GET"])]
    for family in (pages_groups, pages_training, pages_campaigns, pages_filters, pages_events, pages_search,
                   pages_impact, pages_insights, pages_workflow, pages_batch):
        routes += family.routes(console)
    routes += status_api.routes(console)
    routes.append(Mount(urls.STATIC, StaticFiles(directory=STATIC_DIR), name="console-static"))
    routes.append(Route("/console/{rest:path}", not_found, methods=["GET", "POST"]))
    return routes

