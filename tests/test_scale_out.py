"""Share-nothing scale-out with real servers: PostgreSQL, an S3-compatible store (moto's server mode), two
``--role api`` replicas and two (then three) ``--role worker`` processes, each with its own data folder.

The processes share only the database and the object store. The tutorial flow runs through replica A;
replica B answers GetRecommendations and search from the object store and the event log. A worker killed
with SIGKILL mid-training takes its training child with it and another worker completes the job after the
lease expires; a third worker started meanwhile fails nothing; PostgreSQL restarted mid-job leaves the job
to end ACTIVE; events sent to A change B's next answer. docs/deploy.md lists the same processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from pertinent.store import MetadataStore
from tests import postgres_server
from tests.conftest import (
    INTERACTIONS_SCHEMA,
    ITEMS_SCHEMA,
    free_port,
    wait_for_status,
    write_interactions_csv,
    write_items_csv,
)

BUCKET, INPUT_BUCKET = "pertinent-store", "pertinent-input"
#: short, so the test sees a takeover soon, but several heartbeats long for a starved process
LEASE_SECONDS = 6

#: seven server processes and two trainings: minutes, not seconds, on a loaded 2-core machine
pytestmark = pytest.mark.timeout(1200)


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _post(url: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _poll(check: Callable[[], Any], what: str, timeout: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except Exception:  # a server still starting, or the database restarting
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _listening(process: subprocess.Popen[bytes], port: int) -> bool:
    """Wait until ``process`` accepts connections on ``port`` (False when it exited first)."""
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Cluster:
    tmp: Path
    pg: postgres_server.PostgresServer
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)

    def start(self, name: str, role: str) -> None:
        self.roles[name] = role
        port = free_port()
        log = (self.tmp / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pertinent",
                "serve",
                "--role",
                role,
                "--port",
                str(port),
                "--data-dir",
                str(self.tmp / f"data-{name}"),  # each process its own folder: only a cache
                "--log-level",
                "warning",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.urls[name] = f"http://127.0.0.1:{port}"

    def wait_ready(self, *names: str) -> None:
        for name in names:

            def ready(name: str = name) -> bool:
                process = self.processes[name]
                if process.poll() is not None:
                    log = (self.tmp / f"{name}.log").read_text(errors="replace")
                    if "address already in use" in log.lower():  # another test took the free port first
                        self.start(name, self.roles[name])
                        return False
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{log[-3000:]}")
                return _get(f"{self.urls[name]}/healthz/ready")[0] == 200

            deadline = time.monotonic() + 300  # four interpreters importing at once on a loaded machine
            while True:
                try:
                    if ready():
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    log = (self.tmp / f"{name}.log").read_text(errors="replace")
                    raise AssertionError(f"{name} never became ready:\n{log[-3000:]}")
                time.sleep(0.1)

    def client(self, name: str, service: str = "personalize") -> Any:
        return boto3.client(
            service,
            endpoint_url=self.urls[name],
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60),
        )

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        for process in self.processes.values():
            process.wait(30)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not postgres_server.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are required in CI")
        pytest.skip("PostgreSQL server binaries not installed")
    pg = postgres_server.PostgresServer()
    pg.start()
    for _ in range(5):  # another test may take the free port before moto binds it: then take another
        s3_port = free_port()
        s3 = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if _listening(s3, s3_port):
            break
    endpoint = f"http://127.0.0.1:{s3_port}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PERTINENT_DB": pg.url,
        "PERTINENT_STORAGE": f"s3://{BUCKET}/deploy",
        "PERTINENT_S3_ENDPOINT_URL": endpoint,
        "PERTINENT_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "PERTINENT_WORKER_POLL_SECONDS": "0.1",
        "PERTINENT_WORKER_THREADS": "1",
        "PERTINENT_WORKERS": "1",  # one API process per replica
    }
    env.pop("PERTINENT_DATA_DIR", None)
    found = Cluster(tmp_path, pg, env)
    try:
        s3_client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="t",
            aws_secret_access_key="t",
        )
        _poll(lambda: s3_client.list_buckets() is not None, "the S3 server")
        s3_client.create_bucket(Bucket=BUCKET)
        s3_client.create_bucket(Bucket=INPUT_BUCKET)
        write_interactions_csv(tmp_path / "interactions.csv", users=1200, items=1600, per_user=40)
        write_items_csv(tmp_path / "items.csv", items=1600)
        s3_client.upload_file(str(tmp_path / "interactions.csv"), INPUT_BUCKET, "in/interactions.csv")
        s3_client.upload_file(str(tmp_path / "items.csv"), INPUT_BUCKET, "in/items.csv")
        for name, role in (
            ("api-a", "api"),
            ("api-b", "api"),
            ("worker-1", "worker"),
            ("worker-2", "worker"),
        ):
            found.start(name, role)
        found.wait_ready("api-a", "api-b", "worker-1", "worker-2")
        yield found
    finally:
        found.stop_all()
        s3.kill()
        s3.wait(30)
        pg.stop()
        pg.remove()


def _dataset(client: Any, group: str, kind: str, schema: str, csv_key: str) -> str:
    schema_arn = client.create_schema(name=f"s-{kind}", schema=schema)["schemaArn"]
    dataset = client.create_dataset(
        name=f"d-{kind}", schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind
    )["datasetArn"]
    wait_for_status(lambda: client.describe_dataset(datasetArn=dataset)["dataset"])
    job = client.create_dataset_import_job(
        jobName=f"import-{kind}",
        datasetArn=dataset,
        dataSource={"dataLocation": f"s3://{INPUT_BUCKET}/{csv_key}"},
        roleArn="arn:aws:iam::000000000000:role/PersonalizeS3",
    )["datasetImportJobArn"]
    record = wait_for_status(
        lambda: client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"], timeout=300
    )
    assert record["status"] == "ACTIVE", record
    return str(dataset)


def test_replicas_and_workers_share_only_the_database_and_the_object_store(cluster: Cluster) -> None:
    client = cluster.client("api-a")
    group = client.create_dataset_group(name="shop")["datasetGroupArn"]
    wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    _dataset(client, group, "Interactions", INTERACTIONS_SCHEMA, "in/interactions.csv")
    _dataset(client, group, "Items", ITEMS_SCHEMA, "in/items.csv")
    solution = client.create_solution(
        name="for-you",
        datasetGroupArn=group,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]

    store = MetadataStore(cluster.pg.url)  # the test reads the job queue as an operator would
    try:

        def training_job() -> dict[str, Any] | None:
            return next((j for j in store.running_jobs() if j["arn"] == version), None)

        def describe() -> dict[str, Any]:
            return dict(client.describe_solution_version(solutionVersionArn=version)["solutionVersion"])

        # -- kill -9 the worker that trains, while its training child runs --------------------------------
        def holder_with_child() -> tuple[dict[str, Any], int, list[int]] | None:
            job = training_job()
            if job is None or not job["worker"]:
                return None
            pid = int(job["worker"].split(":")[1])
            children = [c for c in _children(pid) if b"spawn_main" in _cmdline(c)]  # the training process
            return (job, pid, children) if children else None

        first, holder, children = _poll(holder_with_child, "a worker training with a child process")
        assert describe()["status"] == "CREATE IN_PROGRESS"
        os.kill(holder, signal.SIGKILL)
        _poll(lambda: all(not _alive(c) for c in children), "the training child to die with its worker", 30)
        statuses = {describe()["status"]}
        # -- a third worker joins during the training: nothing fails ---------------------------------------
        cluster.start("worker-3", "worker")
        retried = _poll(
            lambda: (job := training_job()) is not None and job["attempts"] >= 2 and job,
            "another worker to take the job over after the lease expired",
        )
        assert retried["worker"] != first["worker"]
        statuses.add(describe()["status"])
        # -- PostgreSQL restarts mid-job ----------------------------------------------------------------
        cluster.pg.stop("fast")
        status, body = _get(f"{cluster.urls['api-a']}/healthz/ready")
        assert status == 503 and body["checks"]["database"].startswith("failing"), body
        assert _get(f"{cluster.urls['api-a']}/healthz/live")[0] == 200
        time.sleep(1.0)
        cluster.pg.start()
        cluster.wait_ready("worker-3")
        final = _poll(
            lambda: (r := describe())["status"] in ("ACTIVE", "CREATE FAILED") and r,
            "the training to end",
            600,
        )
        statuses.add(final["status"])
        assert final["status"] == "ACTIVE", final.get("failureReason")
        assert "failureReason" not in final
        assert statuses <= {"CREATE IN_PROGRESS", "ACTIVE"}, statuses
        survivors = [n for n, p in cluster.processes.items() if p.pid != holder]
        assert len(survivors) == 4
        for name in survivors:  # every survivor's threads are alive
            assert cluster.processes[name].poll() is None
            _poll(lambda n=name: _get(f"{cluster.urls[n]}/healthz/ready")[0] == 200, f"{name} ready again")
    finally:
        store.close()

    # -- replica B serves what A created, from the object store ----------------------------------------
    campaign = client.create_campaign(name="for-you", solutionVersionArn=version)["campaignArn"]
    wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"], timeout=300)
    runtime_a, runtime_b = (
        cluster.client("api-a", "personalize-runtime"),
        cluster.client("api-b", "personalize-runtime"),
    )

    def items(runtime: Any, user: str) -> list[str]:
        answer = runtime.get_recommendations(campaignArn=campaign, userId=user, numResults=10)
        return [entry["itemId"] for entry in answer["itemList"]]

    assert len(items(runtime_b, "u7")) == 10
    assert items(runtime_b, "u7") == items(runtime_a, "u7")
    assert {int(i[1:]) % 2 for i in items(runtime_b, "u7")} == {1}  # u7's taste: odd items
    artifact_cache = cluster.tmp / "data-api-b" / "cache" / "artifacts"
    assert any(artifact_cache.rglob("manifest.json"))  # downloaded into B's own cache
    assert not (cluster.tmp / "data-api-b" / "artifacts").exists()

    query = {"query": {"match": {"TITLE": "sequel"}}, "size": 5}
    status, found = _post(f"{cluster.urls['api-b']}/search/shop/_search", query)
    assert status == 200 and len(found["hits"]["hits"]) == 5, found

    # -- events on A change B's next answer; PutItems on A reach B's search index -------------------------
    tracker = client.create_event_tracker(name="t", datasetGroupArn=group)
    wait_for_status(
        lambda: client.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    )
    before = items(runtime_b, "newcomer")
    events_a = cluster.client("api-a", "personalize-events")
    events_a.put_events(
        trackingId=tracker["trackingId"],
        userId="newcomer",
        sessionId="s-newcomer",
        eventList=[
            {"eventType": "rating", "itemId": f"m{i}", "sentAt": time.time()} for i in (20, 22, 24, 26, 28)
        ],
    )
    after = items(runtime_b, "newcomer")
    assert after != before
    assert {int(i[1:]) % 2 for i in after} == {0}
    events_a.put_items(
        datasetArn=group.replace(":dataset-group/", ":dataset/") + "/ITEMS",
        items=[
            {"itemId": "zz1", "properties": json.dumps({"title": "Zanzibar lighthouse", "genres": "Drama"})}
        ],
    )
    status, found = _post(
        f"{cluster.urls['api-b']}/search/shop/_search", {"query": {"match": {"TITLE": "zanzibar"}}}
    )
    assert status == 200 and [h["_id"] for h in found["hits"]["hits"]] == ["zz1"], found
