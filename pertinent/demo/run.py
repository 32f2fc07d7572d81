"""Orchestrate the demo through the real API: the same boto3 calls a Personalize user would make."""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from pertinent.api.background import BackgroundServer, serve_in_background
from pertinent.config import Settings
from pertinent.demo.catalog import DemoData, from_movielens, generate
from pertinent.search.compare import compare

GROUP = "pertinent-demo"
RECIPES = {
    "demo-user-personalization": "aws-user-personalization",
    "demo-similar-items": "aws-similar-items",
    "demo-personalized-ranking": "aws-personalized-ranking",
}
DESCRIBE = {
    "dataset": ("describe_dataset", "datasetArn", "dataset"),
    "import": ("describe_dataset_import_job", "datasetImportJobArn", "datasetImportJob"),
    "solution": ("describe_solution", "solutionArn", "solution"),
    "version": ("describe_solution_version", "solutionVersionArn", "solutionVersion"),
    "campaign": ("describe_campaign", "campaignArn", "campaign"),
}
SEARCH_PIPELINE = "demo-personalized"
UNWATCHED = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")'


def http_json(url: str, body: Any, method: str = "POST") -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def start(settings: Settings) -> BackgroundServer:
    """Serve on settings.host:port in the background; a clear message when the port is taken."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError:
            raise SystemExit(
                f"port {settings.port} on {settings.host} is in use; pass --port to choose another"
            ) from None
    return serve_in_background(settings)


def clients(url: str) -> tuple[Any, Any, Any]:
    kw: dict[str, Any] = dict(
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
        config=Config(retries={"max_attempts": 1}),
    )
    return (
        boto3.client("personalize", **kw),
        boto3.client("personalize-runtime", **kw),
        boto3.client("personalize-events", **kw),
    )


class JobClock(ProgressColumn):
    """How long the job ran: the server's own measure (``seconds`` field) where the task has one, so
    overlapping trainings each show their own time, else the time since the task was added."""

    def render(self, task: Task) -> Text:
        seconds = task.fields.get("seconds")
        if seconds is not None:
            return Text(f"{seconds:7.1f} s", style="progress.elapsed")
        seconds = task.finished_time if task.finished else task.elapsed
        if seconds is None:
            return Text("-:--:--", style="progress.elapsed")
        whole = int(seconds)
        return Text(f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}", style="progress.elapsed")


class Demo:
    def __init__(self, server: BackgroundServer, console: Console) -> None:
        self.server = server
        self.console = console
        self.personalize, self.runtime, self.events = clients(server.url)
        self.store = server.app.state.ctx.store
        self.region_arn = server.app.state.ctx.arn

    # -- helpers ------------------------------------------------------------------------------------
    def wait(
        self, describe: Callable[[], dict[str, Any]], on_poll: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        while True:
            record = describe()
            if on_poll is not None:
                on_poll(record)
            if record["status"] == "ACTIVE":
                return record
            if record["status"] in ("CREATE FAILED", "CREATE STOPPED"):
                raise SystemExit(f"{record.get('name') or record}: {record.get('failureReason')}")
            time.sleep(0.1)

    def wait_for(
        self, kind: str, arn: str, on_poll: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Poll the Describe call of ``kind`` until the resource is ACTIVE (as Personalize tutorials do)."""
        operation, parameter, key = DESCRIBE[kind]
        call = getattr(self.personalize, operation)
        return self.wait(lambda: call(**{parameter: arn})[key], on_poll)

    def exists(self, arn: str) -> bool:
        return self.store.get(arn) is not None

    # -- setup --------------------------------------------------------------------------------------
    def setup(self, data: DemoData) -> None:
        p = self.personalize
        group = self.region_arn("dataset-group", GROUP)
        with self.progress() as progress:
            step = progress.add_task("dataset group, schemas, datasets", total=1.0, message="")
            p.create_dataset_group(name=GROUP)
            self.wait(lambda: p.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
            datasets = {}
            for kind, schema in (("Interactions", data.interactions_schema), ("Items", data.items_schema)):
                schema_arn = p.create_schema(name=f"{GROUP}-{kind.lower()}", schema=schema)["schemaArn"]
                arn = p.create_dataset(
                    name=f"{GROUP}-{kind.lower()}",
                    schemaArn=schema_arn,
                    datasetGroupArn=group,
                    datasetType=kind,
                )["datasetArn"]
                self.wait_for("dataset", arn)
                datasets[kind] = arn
            progress.update(step, completed=1.0)
            for kind, path, rows in (
                ("Interactions", data.interactions_csv, data.n_interactions),
                ("Items", data.items_csv, data.n_items),
            ):
                task = progress.add_task(f"import {kind.lower()}", total=rows, message="")
                job = p.create_dataset_import_job(
                    jobName=f"{GROUP}-{kind.lower()}",
                    datasetArn=datasets[kind],
                    dataSource={"dataLocation": str(path.resolve())},  # the API takes absolute paths only
                )["datasetImportJobArn"]

                def show(record: dict[str, Any], task: TaskID = task, job: str = job) -> None:
                    rows_read = (self.store.get(job) or {}).get("rows_read", 0)
                    progress.update(task, completed=rows_read, message=record["status"])

                self.wait_for("import", job, show)
            versions = {}
            for name, recipe in RECIPES.items():
                solution = p.create_solution(
                    name=name, datasetGroupArn=group, recipeArn=f"arn:aws:personalize:::recipe/{recipe}"
                )["solutionArn"]
                self.wait_for("solution", solution)
                versions[name] = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
            self.train_all(progress, versions)
            task = progress.add_task("campaigns, event tracker, filter", total=len(versions) + 2, message="")
            for name, version in versions.items():
                config = {"enableMetadataWithRecommendations": True}
                if RECIPES[name] == "aws-user-personalization":
                    config["itemExplorationConfig"] = {"explorationWeight": "0.1"}  # type: ignore[assignment]
                campaign = p.create_campaign(name=name, solutionVersionArn=version, campaignConfig=config)[
                    "campaignArn"
                ]
                self.wait_for("campaign", campaign)
                progress.advance(task)
            tracker = p.create_event_tracker(name=f"{GROUP}-tracker", datasetGroupArn=group)[
                "eventTrackerArn"
            ]
            self.wait(lambda: p.describe_event_tracker(eventTrackerArn=tracker)["eventTracker"])
            progress.advance(task)
            pipeline = {
                "description": "demo: BM25 blended with the user's taste",
                "response_processors": [
                    {
                        "personalized_search_ranking": {
                            "campaign_arn": self.region_arn("campaign", "demo-personalized-ranking"),
                            "recipe": "aws-personalized-ranking",
                            "weight": 0.6,
                            "aws_region": "us-east-1",
                        }
                    }
                ],
            }
            http_json(f"{self.server.url}/search/_search/pipeline/{SEARCH_PIPELINE}", pipeline, method="PUT")
            unwatched = p.create_filter(
                name=f"{GROUP}-unwatched", datasetGroupArn=group, filterExpression=UNWATCHED
            )["filterArn"]
            self.wait(lambda: p.describe_filter(filterArn=unwatched)["filter"])
            progress.advance(task)

    def train_all(self, progress: Progress, versions: dict[str, str]) -> None:
        """Follow every training at once: each bar's clock runs only while its training runs (they overlap
        on the worker's threads), and ends with the training time the server measured."""
        tasks = {
            name: progress.add_task(f"train {RECIPES[name]}", total=1.0, message="queued", seconds=0.0)
            for name in versions
        }
        waiting = dict(versions)
        while waiting:
            for name, version in list(waiting.items()):
                record = self.personalize.describe_solution_version(solutionVersionArn=version)[
                    "solutionVersion"
                ]
                status, task = record["status"], tasks[name]
                if status in ("CREATE FAILED", "CREATE STOPPED"):
                    raise SystemExit(f"training {name}: {record.get('failureReason')}")
                if status == "ACTIVE":
                    seconds = float(record.get("trainingHours") or 0.0) * 3600.0
                    progress.update(task, completed=1.0, message="ACTIVE", seconds=seconds)
                    del waiting[name]
                elif status == "CREATE IN_PROGRESS":
                    stored = self.store.get(version) or {}
                    state = stored.get("training_progress") or {}
                    started = stored.get("training_started")
                    progress.update(
                        task,
                        completed=min(0.99, max(0.0, float(state.get("fraction", 0.0)))),
                        message=str(state.get("message", status)),
                        seconds=None if started is None else max(0.0, time.time() - float(started)),
                    )
            time.sleep(0.1)

    def progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description:<34}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[message]}"),
            JobClock(),
            console=self.console,
        )

    # -- the show -----------------------------------------------------------------------------------
    def show(self, user: str) -> None:
        campaign = self.region_arn("campaign", "demo-user-personalization")
        similar = self.region_arn("campaign", "demo-similar-items")
        ranking = self.region_arn("campaign", "demo-personalized-ranking")
        unwatched = self.region_arn("filter", f"{GROUP}-unwatched")
        metrics = self.personalize.get_solution_metrics(
            solutionVersionArn=self.personalize.describe_campaign(campaignArn=campaign)["campaign"][
                "solutionVersionArn"
            ]
        )["metrics"]
        self.console.print(
            f"\nuser-personalization offline metrics: NDCG@10 "
            f"{metrics['normalized_discounted_cumulative_gain_at_10']:.3f}, precision@10 "
            f"{metrics['precision_at_10']:.3f}, coverage {metrics['coverage']:.3f}"
        )
        columns = {"ITEMS": ["TITLE", "GENRES"]}
        answer = self.runtime.get_recommendations(
            campaignArn=campaign, userId=user, numResults=8, filterArn=unwatched, metadataColumns=columns
        )
        self.table(f"Recommended for {user} (unwatched only)", answer["itemList"])
        first = answer["itemList"][0]
        related = self.runtime.get_recommendations(
            campaignArn=similar, itemId=first["itemId"], numResults=5, metadataColumns=columns
        )
        self.table(f"Similar to “{first['metadata']['TITLE']}”", related["itemList"])
        candidates = [e["itemId"] for e in related["itemList"]] + [first["itemId"]]
        ranked = self.runtime.get_personalized_ranking(
            campaignArn=ranking, userId=user, inputList=candidates, metadataColumns=columns
        )
        self.table(f"Those {len(candidates)} films ranked for {user}", ranked["personalizedRanking"])
        tracker = self.personalize.describe_event_tracker(
            eventTrackerArn=self.region_arn("event-tracker", f"{GROUP}-tracker")
        )["eventTracker"]["trackingId"]
        picks = [e["itemId"] for e in related["itemList"][:3]]
        self.events.put_events(
            trackingId=tracker,
            userId=user,
            sessionId=f"{user}-demo",
            eventList=[{"eventType": "watch", "itemId": item, "sentAt": time.time()} for item in picks],
        )
        after = self.runtime.get_recommendations(
            campaignArn=campaign, userId=user, numResults=8, filterArn=unwatched, metadataColumns=columns
        )
        self.table(
            f"After {user} watches {len(picks)} of those similar films (the very next request)",
            after["itemList"],
            before=[e["itemId"] for e in answer["itemList"]],
        )
        before_ids = [e["itemId"] for e in answer["itemList"]]
        after_ids = {e["itemId"] for e in after["itemList"]}
        left = [i for i in before_ids if i not in after_ids]
        moved_in = [e["itemId"] for e in after["itemList"] if e["itemId"] not in before_ids]
        self.console.print(
            f"One request later: {len(moved_in)} new in the list ({', '.join(moved_in) or 'none'}), "
            f"{len(left)} dropped out ({', '.join(left) or 'none'}); the films just watched "
            f"({', '.join(picks)}) are left out by the filter {GROUP}-unwatched."
        )

    def search(self, user: str, text: str) -> None:
        query = {
            "query": {
                "multi_match": {
                    "query": text,
                    "type": "most_fields",
                    "fields": ["TITLE^2", "GENRES", "DESCRIPTION"],
                }
            },
            "size": 10,
        }
        plain = http_json(f"{self.server.url}/search/{GROUP}/_search", query)
        body = {**query, "ext": {"personalize_request_parameters": {"user_id": user}}}
        personalized = http_json(
            f"{self.server.url}/search/{GROUP}/_search?search_pipeline={SEARCH_PIPELINE}", body
        )
        table = Table(
            title=f"Search “{text}” for {user}: plain BM25 vs personalized (pipeline "
            f"{SEARCH_PIPELINE}, weight 0.6)",
            title_justify="left",
        )
        for column in ("plain", "personalized", "change", "BM25", "title", "genres"):
            table.add_column(column, justify="left" if column in ("title", "genres") else "right")
        bm25 = {h["_id"]: h.get("_score") for h in plain["hits"]["hits"]}
        for row in compare(plain, personalized, ("TITLE",)):
            hit = next(h for h in personalized["hits"]["hits"] if h["_id"] == row.item_id)
            change = f"▲{row.delta}" if row.delta > 0 else (f"▼{-row.delta}" if row.delta < 0 else "·")
            table.add_row(
                str(row.plain_rank) if row.plain_rank else "–",
                str(row.personalized_rank),
                change if row.plain_rank else "new",
                score_text(bm25.get(row.item_id)),
                row.label,
                str(hit["_source"].get("GENRES", "")).replace("|", ", "),
            )
        self.console.print(table)

    def table(self, title: str, items: list[dict[str, Any]], before: list[str] | None = None) -> None:
        """Rank, item, title, genres and, when the recipe gives one, the score (similar-items gives none);
        with ``before`` (the previous answer's item ids), how each item moved since."""
        scored = any(entry.get("score") is not None for entry in items)
        table = Table(title=title, title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("item")
        table.add_column("title")
        table.add_column("genres")
        if scored:
            table.add_column("score", justify="right")
        if before is not None:
            table.add_column("change", justify="right")
        for n, entry in enumerate(items, 1):
            meta = entry.get("metadata", {})
            cells = [
                str(n),
                entry["itemId"],
                meta.get("TITLE") or "–",
                (meta.get("GENRES") or "–").replace("|", ", "),
            ]
            extra = [score_text(entry.get("score"))] if scored else []
            if before is not None:
                extra.append(change_text(before, entry["itemId"], n))
            table.add_row(*cells, *extra)
        self.console.print(table)


def change_text(before: list[str], item_id: str, rank: int) -> str:
    """``new``, ``▲2``, ``▼1`` or ``·``: where ``item_id`` (now at ``rank``) was in the previous answer."""
    if item_id not in before:
        return "new"
    delta = before.index(item_id) + 1 - rank
    return f"▲{delta}" if delta > 0 else (f"▼{-delta}" if delta < 0 else "·")


def score_text(score: float | None) -> str:
    """Every score with three significant digits (Personalize's scores over a large catalog are ~1e-3)."""
    return "–" if score is None else f"{score:.3g}"


class ConsoleLog(logging.Handler):
    """Print the server's request and job log lines on the demo's console while it serves."""

    LOGGERS = ("pertinent.requests", "pertinent.jobs")

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console
        self._levels: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        self.console.print(Text.assemble((stamp, "dim"), " ", record.getMessage()), highlight=False)

    def __enter__(self) -> ConsoleLog:
        self._levels = {}
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.INFO)
            logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(self)
            logger.setLevel(self._levels.get(name, logging.NOTSET))


def run_demo(
    settings: Settings, movielens: Path | None, console: Console, serve_forever: bool = True
) -> None:
    server = start(settings)
    try:
        demo = Demo(server, console)
        console.print(f"pertinent demo — server on {server.url}, data in {settings.data_dir.resolve()}")
        if demo.exists(server.app.state.ctx.arn("campaign", "demo-user-personalization")):
            console.print("the demo is already set up in this data folder; reusing it")
        else:
            folder = settings.data_dir / "demo-input"
            if movielens is not None:
                data = from_movielens(movielens, folder)
                console.print(
                    f"MovieLens from {movielens}: {data.n_interactions:,} ratings, {data.n_items:,} movies"
                )
            else:
                data = generate(folder)
                console.print(
                    f"generated catalog: {data.n_items:,} films, {data.n_users:,} users, "
                    f"{data.n_interactions:,} watch events"
                )
            demo.setup(data)
        user = "user-1" if movielens is None else "1"
        demo.show(user)
        demo.search(user, "love" if movielens is not None else "summer kingdom")
        if serve_forever:
            console.print(
                f"\n[bold]Console:[/bold] {server.url}/console/   [bold]API endpoint_url:[/bold] {server.url}"
            )
            console.print("Serving; press Ctrl-C to stop. What the server does from now on:")
            with ConsoleLog(console):
                while True:
                    time.sleep(3600)
        else:
            console.print(
                f"\nDone; the server stops now. `pertinent serve --data-dir {settings.data_dir}` serves this "
                "data again, with the web console at /console/."
            )
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
