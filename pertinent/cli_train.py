"""``pertinent train``: create a solution version and follow its training with a progress bar."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pertinent.config import Settings
from pertinent.control.context import Context
from pertinent.control.solutions import create_solution, create_solution_version
from pertinent.resources.status import ACTIVE, CREATE_FAILED, CREATE_STOPPED
from pertinent.store import MetadataStore
from pertinent.worker import Worker

FINAL = (ACTIVE, CREATE_FAILED, CREATE_STOPPED)


def run_now(ctx: Context, arn: str) -> threading.Thread | None:
    """Run the queued job of ``arn`` in this process (None when a server's worker already took it)."""
    job = ctx.store.claim_arn(arn, lease_seconds=ctx.settings.job_lease_seconds)
    if job is None:
        return None
    worker = Worker(ctx)
    worker.start_heartbeat()

    def work() -> None:
        try:
            worker.run_claimed(job)
        finally:
            worker.stop()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def follow(ctx: Context, arn: str, console: Console, label: str) -> dict[str, Any]:
    """Show the job's recorded progress until it ends; returns the final record."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(label, total=1.0, message="queued")
        while True:
            record = ctx.store.get(arn) or {}
            state = record.get("training_progress") or {}
            progress.update(
                task, completed=float(state.get("fraction", 0.0)), message=str(state.get("message", ""))
            )
            if record.get("status") in FINAL:
                if record.get("status") == ACTIVE:
                    progress.update(task, completed=1.0, message="done")
                return record
            time.sleep(0.2)


def train(
    settings: Settings,
    solution_arn: str | None,
    dataset_group_arn: str | None,
    recipe: str | None,
    name: str | None,
    training_mode: str,
    console: Console,
) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = MetadataStore(settings.db_url)
    ctx = Context(settings=settings, store=store)
    try:
        if solution_arn is None:
            assert dataset_group_arn and recipe and name
            solution_arn = create_solution(
                ctx,
                name=name,
                dataset_group_arn=dataset_group_arn,
                recipe_arn=f"arn:aws:personalize:::recipe/{recipe}",
            )["solution_arn"]  # ACTIVE at once: a solution has no work to wait for
        version_arn = create_solution_version(ctx, solution_arn=solution_arn, training_mode=training_mode)[
            "solution_version_arn"
        ]
        console.print(f"solution version [bold]{version_arn}[/bold]")
        worker = run_now(ctx, version_arn)
        record = follow(ctx, version_arn, console, "training")
        if worker is not None:
            worker.join()
        if record["status"] != ACTIVE:
            console.print(f"[red]{record['status']}[/red]: {record.get('failure_reason', '')}")
            return 1
        table = Table(title=f"{record.get('algorithm') or ''} — offline metrics (Personalize's protocol)")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for metric, value in sorted(record.get("metrics", {}).items()):
            table.add_row(metric, f"{value:.4f}")
        console.print(table)
        return 0
    finally:
        store.close()
