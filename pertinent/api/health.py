"""``/healthz/live`` and ``/healthz/ready``: for load balancers and Kubernetes probes.

*Live* answers 200 while the process serves HTTP at all (restart it when it does not). *Ready* answers 200
only when the database answers, the storage is reachable and (for a process with a worker) every worker
thread is alive; otherwise 503 with the failing check, so a balancer stops sending it traffic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pertinent.control import Context
from pertinent.version import __version__


def _check(action: Callable[[], Any]) -> str:
    try:
        action()
    except Exception as exc:
        return f"failing: {type(exc).__name__}: {exc}"[:300]
    return "ok"


def health_routes(ctx: Context, role: str, workers_alive: Callable[[], bool] | None) -> list[Route]:
    async def live(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "role": role})

    def checks() -> dict[str, str]:
        found = {"database": _check(ctx.store.ping), "storage": _check(ctx.storage.check)}
        if workers_alive is not None:
            found["worker_threads"] = "ok" if workers_alive() else "failing: a worker thread stopped"
        return found

    async def ready(request: Request) -> JSONResponse:
        found = await asyncio.to_thread(checks)
        ok = all(v == "ok" for v in found.values())
        body = {"status": "ok" if ok else "unavailable", "role": role, "checks": found}
        return JSONResponse(body, status_code=200 if ok else 503)

    return [Route("/healthz/live", live, methods=["GET"]), Route("/healthz/ready", ready, methods=["GET"])]
