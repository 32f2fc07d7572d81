"""``pertinent serve --workers N``: N API processes on one listening socket, the job worker kept single.

One Python process serves one request at a time per core (the GIL), so the API runs as N processes that
uvicorn starts on the same socket (the kernel spreads connections between them). They share nothing but the
database and the data folder: each keeps its own caches, kept current by the store's change probe
(:mod:`pertinent.store.cached_reads`), and maps the same model files read-only
(:mod:`pertinent.serving.shared_models`). With role ``all`` the embedded job worker runs once, in the
supervising process, never in the N API processes. uvloop and httptools are used where installed.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from typing import Any

from pertinent.config import Settings


def default_workers() -> int:
    """One API process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def settings_environ(settings: Settings) -> dict[str, str]:
    """``PERTINENT_*`` variables that rebuild ``settings`` in a child process (only non-defaults)."""
    environ: dict[str, str] = {}
    for f in dataclasses.fields(Settings):
        value = getattr(settings, f.name)
        if value != f.default:
            environ[f"PERTINENT_{f.name.upper()}"] = str(value)
    return environ


def exit_with_parent(poll_seconds: float = 0.5) -> None:
    """End this API process when its supervisor is gone (even killed with SIGKILL), so no orphan keeps
    the port; called in each child."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown
        time.sleep(10)
        os._exit(1)

    threading.Thread(target=watch, name="pertinent-parent-watch", daemon=True).start()


def uvicorn_options() -> dict[str, Any]:
    """The fastest event loop and HTTP parser installed (uvloop, httptools), else asyncio and h11."""
    options: dict[str, Any] = {"loop": "asyncio", "http": "h11"}
    try:
        import uvloop  # noqa: F401

        options["loop"] = "uvloop"
    except ImportError:
        pass
    try:
        import httptools  # noqa: F401

        options["http"] = "httptools"
    except ImportError:
        pass
    return options


def serve(
    settings: Settings, role: str, workers: int, log_level: str, app_factory: str, app: Any = None
) -> None:
    """Serve ``role`` with ``workers`` API processes (1: everything in this process, ``app`` if given).

    ``app_factory`` is the import string of a function building the API app from the environment in each
    child process (the CLI's, which is where the environment is read)."""
    import uvicorn

    from pertinent.api.app import create_app

    if workers <= 1 or role == "worker":
        app = app if app is not None else create_app(settings, role=role)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            access_log=False,  # pertinent.requests logs each request under its operation's name
            **uvicorn_options(),
        )
        return
    from pertinent.control import Context
    from pertinent.store import MetadataStore
    from pertinent.worker import Worker

    os.environ.update(settings_environ(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = MetadataStore(settings.db_url)  # creates or upgrades the schema before the children start
    worker = Worker(Context(settings=settings, store=store)) if role == "all" else None
    if worker is not None:  # the embedded job worker, once, beside the API processes
        worker.start()
    try:
        uvicorn.run(
            app_factory,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            **uvicorn_options(),
        )
    finally:
        if worker is not None:
            worker.stop()
        store.close()
