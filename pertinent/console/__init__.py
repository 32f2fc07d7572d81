"""The web console: server-rendered pages under ``/console`` over the same store, recommender and event
ingest the API uses (see docs/console.md). Jinja2 templates, plain CSS and a little vanilla JavaScript in
``static/``; no build step."""

from __future__ import annotations

from pertinent.console.routes import console_routes

__all__ = ["console_routes"]
