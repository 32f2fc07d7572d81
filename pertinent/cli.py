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
@click.option(
    "--storage",
    default=None,
    help="s3://bucket/prefix for datasets, models and outputs (data-dir is then a cache) [default: data-dir].",
)
@click.option(
    "--training-engine",
    type=click.Choice(["local", "spark"]),
    default=None,
    help="spark: train the factor recipes with Spark MLlib ALS [default: local].",
)
@click.option(
    "--spark-master", default=None, help="Spark master URL for --training-engine spark [default: local[2]]."
)
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--credentials",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="CSV of access keys (access_key_id,secret_access_key,account_id): every request must be signed.",
)
@click.option(
    "--allow-path",
    "allow_paths",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="With --credentials: a folder local imports/exports may use (repeatable).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="Bound to loopback: a Host name to accept besides localhost (a reverse proxy's; repeatable).",
)
@click.option(
    "--metrics-token-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="With --credentials: GET /metrics also takes this file's token as a bearer token (Prometheus).",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Allow a non-loopback --host without --credentials (anyone who can reach it can do anything).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="API processes sharing the port (the job worker stays single) [default: one per core].",
)
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    db: str | None,
    s3_endpoint_url: str | None,
    role: str,
    storage: str | None,
    training_engine: str | None,
    spark_master: str | None,
    log_level: str,
    workers: int | None,
    credentials: Path | None,
    allow_paths: tuple[Path, ...],
    allowed_hosts: tuple[str, ...],
    metrics_token_file: Path | None,
    insecure_no_auth: bool,
) -> None:
    """Serve the Personalize API (control plane, runtime, events) on one port."""
    import os

    from pertinent.api import processes
    from pertinent.api.app import create_app
    from pertinent.api.guard import bind_refusal
    from pertinent.credentials import CredentialsError

    settings = load_settings(
        current_environ(),
        host=host,
        port=port,
        data_dir=data_dir,
        db=db,
        s3_endpoint_url=s3_endpoint_url,
        credentials=str(credentials) if credentials else None,
        allowed_paths=os.pathsep.join(str(p) for p in allow_paths) if allow_paths else None,
        workers=workers,
        allowed_hosts=",".join(allowed_hosts) if allowed_hosts else None,
        storage=storage,
        training_engine=training_engine,
        spark_master=spark_master,
        metrics_token_file=str(metrics_token_file) if metrics_token_file else None,
    )
    refusal = bind_refusal(settings, insecure_no_auth)
    if refusal:
        raise click.UsageError(refusal)
    try:
        app = create_app(settings, role=role)
    except (CredentialsError, ValueError) as exc:  # a bad credentials file, --storage or --training-engine
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    auth = f"SigV4 keys from {settings.credentials}" if settings.credentials else "no auth, account 000000000000"
    if settings.credentials and settings.metrics_token_file:
        auth += f"; /metrics also by the bearer token in {settings.metrics_token_file}"
    count = 1 if role == "worker" else settings.workers or processes.default_workers()
    click.echo(
        f"pertinent {__version__} serving on http://{settings.host}:{settings.port} "
        f"(data: {settings.data_dir.resolve()}, role: {role}, {auth}, API processes: {count})"
    )
    # the app built above checked the configuration; with N processes each builds its own
    processes.serve(settings, role, count, log_level.lower(), "pertinent.cli:api_process_app", app)


def api_process_app() -> object:
    """The app of one API process under ``serve --workers N`` (settings from its environment)."""
    from pertinent.api.app import create_app
    from pertinent.api.processes import exit_with_parent

    exit_with_parent()
    return create_app(load_settings(current_environ()), role="api")


@main.command()
@click.option(
    "--movielens",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="A MovieLens folder (ratings.csv, movies.csv) to use instead of the generated catalog.",
)
@click.option("--host", default=None, help="[default: 127.0.0.1]")
@click.option("--port", type=int, default=None, help="[default: 8080]")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="[default: ./pertinent-data]")
@click.option("--no-serve", is_flag=True, help="Exit after the walk-through instead of serving.")
def demo(
    movielens: Path | None, host: str | None, port: int | None, data_dir: Path | None, no_serve: bool
) -> None:
    """Set up a complete example (import, train, campaigns, search) and serve it with the console."""
    from rich.console import Console

    from pertinent.demo.run import run_demo

    logging.basicConfig(level="WARNING")
    from pertinent.api.guard import bind_refusal

    settings = load_settings(current_environ(), host=host, port=port, data_dir=data_dir)
    if bind_refusal(settings):
        raise click.UsageError(str(bind_refusal(settings)))
    run_demo(settings, movielens, Console(), serve_forever=not no_serve)


@main.group("keys")
def keys_group() -> None:
    """Access keys for `pertinent serve --credentials FILE`."""


@keys_group.command("create")
@click.option("--account", "account_id", required=True, help="The 12-digit account id the key acts for.")
@click.option(
    "--credentials",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The credentials file to append to [default: $PERTINENT_CREDENTIALS].",
)
def keys_create(account_id: str, credentials: Path | None) -> None:
    """Print a new access key pair for ACCOUNT and append it to the credentials file."""
    from pertinent.credentials import CredentialsError, create_key

    path = credentials or Path(load_settings(current_environ()).credentials or "")
    if not str(path) or str(path) == ".":
        raise click.UsageError("give --credentials FILE (or set PERTINENT_CREDENTIALS)")
    try:
        key = create_key(path, account_id)
    except (CredentialsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"aws_access_key_id = {key.access_key_id}")
    click.echo(f"aws_secret_access_key = {key.secret_access_key}")
    click.echo(f"account_id = {key.account_id}  (appended to {path})")


@keys_group.command("metrics-token")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def keys_metrics_token(path: Path) -> None:
    """Write a random bearer token to PATH (mode 600) for `serve --metrics-token-file PATH`."""
    from pertinent.credentials import create_bearer_token

    try:
        create_bearer_token(path)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; a token file is never overwritten") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    click.echo(f"wrote a metrics token to {path}; give Prometheus the same file as credentials_file")


@main.command("search")
@click.argument("text")
@click.option("--index", required=True, help="The dataset group's name.")
@click.option("--user-id", required=True)
@click.option("--campaign-arn", required=True, help="A personalized-ranking campaign.")
@click.option("--weight", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True)
@click.option("--fields", default="TITLE^2,GENRES", show_default=True, help="Comma-separated, with ^boost.")
@click.option("--size", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--endpoint", default="http://127.0.0.1:8080", show_default=True, envvar="PERTINENT_ENDPOINT")
def search_command(
    text: str,
    index: str,
    user_id: str,
    campaign_arn: str,
    weight: float,
    fields: str,
    size: int,
    endpoint: str,
) -> None:
    """Search the catalog; print plain and personalized results side by side with each rank change."""
    from rich.console import Console

    from pertinent.cli_search import run_search

    run_search(
        endpoint.rstrip("/"),
        index,
        text,
        [f.strip() for f in fields.split(",") if f.strip()],
        user_id,
        campaign_arn,
        weight,
        size,
        Console(),
    )


@main.command("train")
@click.option("--solution-arn", default=None, help="Train a new version of this solution.")
@click.option(
    "--dataset-group-arn", default=None, help="With --recipe and --name: create the solution first."
)
@click.option("--recipe", default=None, help="Recipe name, e.g. aws-user-personalization.")
@click.option("--name", default=None, help="Name of the solution to create.")
@click.option("--training-mode", type=click.Choice(["FULL", "UPDATE"]), default="FULL", show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="[default: ./pertinent-data]")
@click.option("--db", default=None, help="Database URL [default: SQLite in data-dir].")
def train_command(
    solution_arn: str | None,
    dataset_group_arn: str | None,
    recipe: str | None,
    name: str | None,
    training_mode: str,
    data_dir: Path | None,
    db: str | None,
) -> None:
    """Train a solution version with a progress bar, then print its offline metrics."""
    from rich.console import Console

    from pertinent.cli_train import train
    from pertinent.errors import PersonalizeError

    if solution_arn is None and not (dataset_group_arn and recipe and name):
        raise click.UsageError("give --solution-arn, or --dataset-group-arn with --recipe and --name")
    settings = load_settings(current_environ(), data_dir=data_dir, db=db)
    try:
        code = train(settings, solution_arn, dataset_group_arn, recipe, name, training_mode, Console())
    except PersonalizeError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    raise SystemExit(code)


if __name__ == "__main__":
    main()
