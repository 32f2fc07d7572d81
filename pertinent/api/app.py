"""``create_app(settings)``: the one ASGI app serving the control plane, runtime, events and extras."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from threadpoolctl import threadpool_limits

from pertinent.api.attribution_metrics import register_attribution_metrics
from pertinent.api.console_session import sign_in_routes
from pertinent.api.control_plane import ControlPlane
from pertinent.api.convenience import convenience_routes
from pertinent.api.experiments_routes import experiment_routes
from pertinent.api.explain_routes import explain_routes
from pertinent.api.guard import RequestGuard
from pertinent.api.health import health_routes
from pertinent.api.insights_routes import insights_routes
from pertinent.api.observability import RequestTelemetry, metrics_route
from pertinent.api.rest_json import RestJsonService
from pertinent.api.search_routes import search_routes
from pertinent.api.service_model import ServiceCodec, load_service_model
from pertinent.api.surfaces import HANDLERS as SURFACE_HANDLERS
from pertinent.config import Settings
from pertinent.console import console_routes
from pertinent.control import OPERATIONS, Context
from pertinent.credentials import KeyRing, read_bearer_token
from pertinent.events.ingest import EventIngest
from pertinent.search.service import SearchService
from pertinent.serving.actions import ActionRecommender
from pertinent.serving.recommend import Recommender
from pertinent.store import MetadataStore
from pertinent.version import __version__
from pertinent.wake import wake_sender
from pertinent.worker import Worker

ROLES = ("all", "api", "worker")


RUNTIME_OPERATIONS = ("GetRecommendations", "GetPersonalizedRanking", "GetActionRecommendations")
EVENTS_OPERATIONS = ("PutEvents", "PutItems", "PutUsers", "PutActions", "PutActionInteractions")


def served_operations() -> set[str]:
    """Names of the Personalize operations this app answers (for docs/api-coverage.md)."""
    return set(OPERATIONS) | set(RUNTIME_OPERATIONS) | set(EVENTS_OPERATIONS)


def create_app(settings: Settings, role: str = "all") -> Starlette:
    """Build the app. ``role`` "all" (embedded default) runs the job worker inside the server process;
    "api" serves requests only; "worker" runs jobs and answers only ``/healthz``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    if not 0.0 < settings.ann_target_recall <= 1.0:  # refused at start, not at the first ANN training
        raise ValueError(f"ann_target_recall must be in (0, 1], not {settings.ann_target_recall}")
    keys = KeyRing(Path(settings.credentials)) if settings.credentials else None  # before any side effect
    metrics_token = read_bearer_token(Path(settings.metrics_token_file)) if settings.metrics_token_file else None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = MetadataStore(settings.db_url)
    ctx = Context(settings=settings, store=store)
    worker = Worker(ctx) if role in ("all", "worker") else None

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "role": role, "pid": os.getpid()})

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"]), metrics_route(ctx.telemetry)]
    routes += health_routes(ctx, role, worker.alive if worker else None)
    app_state: dict[str, object] = {}
    if role != "worker":
        # a request's products are small: BLAS threads cost more than they give (8 ms against 0.26 ms
        # for 10k items × 128 factors) and fight the other API processes for the cores
        threadpool_limits(1, "blas")
        # without a worker here (`serve --workers N`: it runs in the supervisor), nudge it over a socket
        nudge = worker.wake if worker else wake_sender(settings.db_url)
        control = ControlPlane(ctx, OPERATIONS, ServiceCodec("personalize"), after_write=nudge)
        routes.append(Route("/", control.handle, methods=["POST"]))
        recommender = Recommender(ctx)
        ingest = EventIngest(ctx)
        runtime_codec, events_codec = ServiceCodec("personalize-runtime"), ServiceCodec("personalize-events")
        runtime = RestJsonService(
            runtime_codec,
            {
                "GetRecommendations": recommender.get_recommendations,
                "GetPersonalizedRanking": recommender.get_personalized_ranking,
                "GetActionRecommendations": ActionRecommender(ctx, recommender).get_action_recommendations,
            },
            inline=frozenset({"GetRecommendations", "GetPersonalizedRanking"}),  # on the loop when warm
        )
        events = RestJsonService(
            events_codec,
            {
                "PutEvents": ingest.put_events_later,  # validated on the loop, awaited until durable
                "PutItems": ingest.put_items,
                "PutUsers": ingest.put_users,
                "PutActions": ingest.put_actions,
                "PutActionInteractions": ingest.put_action_interactions,
            },
            inline=frozenset({"PutEvents"}),
        )
        hot_routes = runtime.routes() + events.routes()  # tried first (below): Starlette matches in order
        routes += insights_routes(ctx)
        routes += explain_routes(recommender)
        routes += convenience_routes(recommender, ingest, runtime_codec, events_codec)

        searcher = SearchService(ctx, recommender)
        # OpenSearch's paths come right after /healthz and /metrics: a path ending in /_search or /_settings
        # is always search's, whatever its first segment (docs/search.md, "Index names")
        routes[2:2] = search_routes(searcher)
        routes[1:1] = hot_routes  # exact paths no other route has
        routes += sign_in_routes(keys, settings.region)
        routes += console_routes(ctx, recommender, ingest, searcher)
        routes += experiment_routes(ctx, recommender, runtime_codec)
        register_attribution_metrics(ctx)
        app_state["search"] = searcher
        app_state["recommender"] = recommender

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

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestGuard, settings=settings, keys=keys, metrics_token=metrics_token)],
        exception_handlers=dict(SURFACE_HANDLERS),
    )
    control_names = load_service_model("personalize").operation_names
    app.add_middleware(RequestTelemetry, telemetry=ctx.telemetry, control_operations=control_names)
    app.state.ctx = ctx
    app.state.worker = worker
    app.state.recommender = app_state.get("recommender")
    app.state.search = app_state.get("search")
    return app
