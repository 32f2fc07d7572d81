"""What every console page and JSON endpoint shares: the dependencies, page results, error handling.

A page handler is a plain synchronous function ``(console, request) -> Page``; a JSON handler is
``(console, request, body) -> dict``. :meth:`Console.page` and :meth:`Console.api` turn them into Starlette
endpoints that run them in the thread pool (the store and the recommender block) and turn a
:class:`~pertinent.errors.PersonalizeError` into an error page or ``{"error": {"code", "message"}}`` —
never a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from pertinent.control.common import Record, require
from pertinent.control.context import Context
from pertinent.errors import InvalidInputException, PersonalizeError
from pertinent.events.ingest import EventIngest
from pertinent.search.service import SearchService
from pertinent.serving.recommend import Recommender

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
JsonBody = dict[str, Any]

#: the largest JSON body a console endpoint reads (an event, a form): anything bigger is a mistake
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Crumb:
    """One step of a page's breadcrumb trail; the last one has no link."""

    label: str
    url: str | None = None


@dataclass(frozen=True)
class Page:
    """A rendered page to be: template name, its variables, breadcrumbs and the HTTP status."""

    template: str
    title: str
    context: Mapping[str, Any] = field(default_factory=dict)
    crumbs: tuple[Crumb, ...] = ()
    status: int = 200
    #: the dataset group the page belongs to (its name), for the group navigation bar
    group: str | None = None
    #: which entry of the group navigation is the current one
    section: str | None = None


@dataclass(frozen=True)
class Console:
    """The console's dependencies, passed explicitly to every handler (no global state)."""

    ctx: Context
    recommender: Recommender
    ingest: EventIngest
    templates: jinja2.Environment
    search: SearchService | None = None

    # -- lookups ------------------------------------------------------------------------------------
    def arn(self, kind: str, *path: str) -> str:
        """The ARN of a resource named in a console URL."""
        return self.ctx.arn(kind, *path)

    def record(self, kind: str, *path: str) -> Record:
        """The record a console URL names, or ResourceNotFoundException (shown as a 404 page).

        A solution version's ARN has the kind ``solution`` (``…:solution/{name}/{id}``); every other
        resource's ARN kind is its record kind."""
        arn_kind = "solution" if kind == "solution-version" else kind
        return require(self.ctx, kind, self.arn(arn_kind, *path))

    # -- rendering ----------------------------------------------------------------------------------
    def render(self, page: Page) -> HTMLResponse:
        template = self.templates.get_template(page.template)
        html = template.render(
            title=page.title,
            crumbs=page.crumbs,
            group=page.group,
            section=page.section,
            **page.context,
        )
        return HTMLResponse(html, status_code=page.status, headers={"Cache-Control": "no-store"})

    def error_page(self, code: str, message: str, status: int) -> HTMLResponse:
        page = Page(
            "error.html",
            code,
            {"code": code, "message": message},
            (Crumb("Dataset groups", "/console/"), Crumb("Error")),
            status=status,
        )
        return self.render(page)

    # -- endpoint wrappers --------------------------------------------------------------------------
    def page(self, handler: Callable[[Console, Request], Page]) -> Endpoint:
        """A Starlette endpoint rendering ``handler``'s page; errors become an error page."""

        async def endpoint(request: Request) -> Response:
            try:
                page = await run_in_threadpool(handler, self, request)
                return await run_in_threadpool(self.render, page)
            except PersonalizeError as exc:
                return self.error_page(exc.code, exc.message, exc.http_status)
            except Exception as exc:
                log.error("console page %s failed", request.url.path, exc_info=exc)
                return self.error_page(
                    "InternalFailure",
                    f"Internal error: {type(exc).__name__}. The server log has details.",
                    500,
                )

        return endpoint

    def api(self, handler: Callable[[Console, Request, JsonBody], JsonBody]) -> Endpoint:
        """A Starlette endpoint answering ``handler``'s dict as JSON; errors become ``{"error": …}``."""

        async def endpoint(request: Request) -> Response:
            try:
                body = await read_body(request) if request.method == "POST" else {}
                result = await run_in_threadpool(handler, self, request, body)
                return JSONResponse(result, headers={"Cache-Control": "no-store"})
            except PersonalizeError as exc:
                return json_error(exc.code, exc.message, exc.http_status)
            except Exception as exc:
                log.error("console API %s failed", request.url.path, exc_info=exc)
                return json_error("InternalFailure", f"Internal error: {type(exc).__name__}", 500)

        return endpoint


def json_error(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def read_body(request: Request) -> JsonBody:
    """The JSON object a console script posted. Only ``application/json`` is accepted, which a plain
    cross-site HTML form cannot send, so another site cannot make a visitor's browser post events."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise InvalidInputException(
            "The console's endpoints take a JSON body (Content-Type: application/json)."
        )
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInputException(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise InvalidInputException("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidInputException("The body must be a JSON object.")
    return data


def text_param(source: Mapping[str, Any], name: str, *, required: bool = False, limit: int = 256) -> str:
    """A trimmed string parameter from a query string or a JSON body ("" when absent)."""
    value = source.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInputException(f"{name} is required.")
        return ""
    if not isinstance(value, str):
        raise InvalidInputException(f"{name} must be a string.")
    value = value.strip()
    if required and not value:
        raise InvalidInputException(f"{name} is required.")
    if len(value) > limit:
        raise InvalidInputException(f"{name} may be at most {limit} characters long.")
    return value


def int_param(source: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """An integer parameter between ``low`` and ``high`` (``default`` when absent)."""
    raw = source.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInputException(f"{name} must be an integer, not {raw!r}.") from None
    if not low <= value <= high:
        raise InvalidInputException(f"{name} must be between {low} and {high}, not {value}.")
    return value
