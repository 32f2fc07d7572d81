"""The Jinja2 environment of the console: autoescaped templates shipped in the package, and the filters
they use to show times, statuses and links."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jinja2

from pertinent.console import urls
from pertinent.resources.status import ACTIVE, CREATE_FAILED, CREATE_STOPPED, IN_FLIGHT
from pertinent.version import __version__

TEMPLATES = Path(__file__).parent / "templates"


def format_time(epoch: float | int | None) -> str:
    """``1700000000.5`` → ``2023-11-14 22:13:20 UTC``; empty for None."""
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(float(epoch), tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_number(value: float | int | None) -> str:
    """Thousands separated (``100,836``); empty for None."""
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4f}"
    return f"{int(value):,}"


def format_percent(fraction: float | int | None) -> str:
    return "" if fraction is None else f"{float(fraction) * 100:.0f}%"


def format_hours(hours: float | int | None) -> str:
    """Training time as people say it: ``42 s``, ``3.5 min``, ``1.2 h``."""
    if hours is None:
        return ""
    seconds = float(hours) * 3600
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def status_class(status: str | None) -> str:
    """A CSS modifier per lifecycle state: ok, busy, failed, stopped or unknown."""
    if status in (ACTIVE, "COMPLETED"):  # (COMPLETED, FAILED, PENDING, IN_PROGRESS: data deletion jobs)
        return "ok"
    if status in IN_FLIGHT or status in ("PENDING", "IN_PROGRESS"):
        return "busy"
    if status in (CREATE_FAILED, "FAILED"):
        return "failed"
    if status == CREATE_STOPPED:
        return "stopped"
    return "unknown"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def make_environment() -> jinja2.Environment:
    """The console's template environment. Records omit the fields they do not have (Personalize leaves
    them out of its answers too), so a missing field renders as blank rather than failing the page."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        time=format_time,
        number=format_number,
        percent=format_percent,
        hours=format_hours,
        status_class=status_class,
        pretty_json=pretty_json,
        console_url=urls.for_arn,
        name_of=urls.name_of,
    )
    env.globals.update(urls=urls, pertinent_version=__version__, in_flight=IN_FLIGHT, static=urls.STATIC)
    return env
