"""The ``pertinent`` command line: thin wrappers that parse options and hand over."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from pertinent.config import current_environ, load_settings
from pertinent.version import __version__


@click.group()
@click.version_option(__version__, prog_name="pertinent")
def main() -> None:
    """pertinent: a self-hosted personalization engine with Amazon Personalize's API."""


@main.command()
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [default: 8080].")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the database, datasets and models [default: ./pertinent-data].",
)
@click.option(
    "--db", default=None, help="Database URL (sqlite:///… or postgresql://…) [default: SQLite in data-dir]."
)
@click.option("--s3-endpoint-url", default=None, help="S3-compatible endpoint for s3:// data locations.")
@click.option(
    "--role",
    type=click.Choice(["all", "api", "worker"]),
    default="all",
    show_default=True,
    help="all: API and job worker in one process; api or worker for scale-out.",
)
@click.option("--log-level", default="info", show_default=True)
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    db: str | None,
    s3_endpoint_url: str | None,
    role: str,
    log_level: str,
) -> None:
    """Serve the Personalize API (control plane, runtime, events) on one port."""
    import uvicorn

    from pertinent.api.app import create_app

    settings = load_settings(
        current_environ(), host=host, port=port, data_dir=data_dir, db=db, s3_endpoint_url=s3_endpoint_url
    )
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, role=role)
    click.echo(
        f"pertinent {__version__} serving on http://{settings.host}:{settings.port} "
        f"(data: {settings.data_dir.resolve()}, role: {role})"
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level.lower())


if __name__ == "__main__":
    main()
