"""``create_app(settings)``: the one ASGI app serving the control plane, runtime, events and extras."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pertinent.api.control_plane import ControlPlane
from pertinent.api.service_model import ServiceCodec
from pertinent.config import Settings
from pertinent.control import OPERATIONS, Context
from pertinent.store import MetadataStore
from pertinent.version import __version__
from pertinent.worker import Worker

ROLES = ("all", "api", "worker")


def served_operations() -> set[str]:
    """Names of the Personalize operations this app answers (for docs/api-coverage.md)."""
    return set(OPERATIONS)


def create_app(settings: Settings, role: str = "all") -> Starlette:
    """Build the app. ``role`` "all" (embedded default) runs the job worker inside the server process;
    "api" serves requests only; "worker" runs jobs and answers only ``/healthz``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = MetadataStore(settings.db_url)
    ctx = Context(settings=settings, store=store)
    worker = Worker(ctx) if role in ("all", "worker") else None

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "role": role})

    routes = [Route("/healthz", healthz, methods=["GET"])]
    if role != "worker":
        control = ControlPlane(
            ctx, OPERATIONS, ServiceCodec("personalize"), after_write=worker.wake if worker else lambda: None
        )
        routes.append(Route("/", control.handle, methods=["POST"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            store.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.ctx = ctx
    app.state.worker = worker
    return app
