"""Run the app on a uvicorn server in a background thread (the demo, tests and benchmarks use it)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from pertinent.config import Settings


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class BackgroundServer:
    url: str
    app: Any
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self, timeout: float = 20.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)


def serve_in_background(
    settings: Settings, role: str = "all", timeout: float | None = None
) -> BackgroundServer:
    """Serve ``create_app(settings, role)`` on settings.host:port in a daemon thread; returns once it listens.

    It waits until the server listens or its thread ends (a taken port, a failed start-up) rather than for a
    fixed time, because start-up on a loaded machine may take long; ``timeout`` caps the wait when given."""
    from pertinent.api.app import create_app

    app = create_app(settings, role=role)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning"))

    def run() -> None:
        try:
            server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; the wait below reports it
            pass

    thread = threading.Thread(target=run, name=f"pertinent-server-{settings.port}", daemon=True)
    thread.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or (deadline is not None and time.monotonic() > deadline):
            raise RuntimeError(f"the server did not start on {settings.host}:{settings.port}")
        time.sleep(0.02)
    return BackgroundServer(f"http://{settings.host}:{settings.port}", app, server, thread)
