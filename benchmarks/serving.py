"""Serving speed: server CPU per request, latency at a fixed offered rate, and the same run's floors.

Starts `pertinent serve --workers N` in its own process group, loads a campaign per dataset, then measures:

* **server CPU ms per request**: the server processes' own CPU time (``/proc/<pid>/stat`` utime + stime of
  the supervisor and every API process) over a fixed number of requests, divided by that number;
* **open loop**: requests scheduled at a fixed offered rate (``--rate``) whatever the answers' speed; a
  request's latency counts from its scheduled time, so queueing shows (no coordinated omission);
* **closed loop**: ``--clients`` connections back to back: the maximum sustainable req/s;
* **floors, same run**: the bare endpoint (``GET /healthz``: HTTP + framework) and numpy-only scoring of the
  same model in this process (EASE: ``x·B`` over the history's rows; iALS: the full ``U·Vᵀ`` product);
* **cost against the log size**: server CPU per request with ~1k and with ``--logged`` events in the log
  (the extra events are appended with ``MetadataStore.append_events``, PutEvents' own store call);
* **PutEvents**: events/s acknowledged (each durable before its 200) from concurrent clients.

    python benchmarks/serving.py [--datasets ml,200k,1m] [--seconds 5] [--rate 300] [--workers 2]

``ml-v2`` serves ml-latest-small through aws-user-personalization-v2; with ``ml`` in the same run the
report adds v2's server CPU per request against v1's.

Clients and server share the machine: say how loaded it was (the script prints the load average).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from botocore.config import Config
from movielens import MOVIELENS  # $PERTINENT_TEST_DATA, as the tests resolve it

from pertinent.api.background import free_port

ROOT = Path(__file__).resolve().parents[1]
V1 = "aws-user-personalization"  # the recipe every dataset but ml-v2 is served by
SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
            {"name": "EVENT_TYPE", "type": "string"},
        ],
        "version": "1.0",
    }
)
Request = tuple[str, str, bytes | None]
TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- server CPU from /proc
def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICKS


# ---------------------------------------------------------------------- data
def wait(describe: Callable[[], dict[str, Any]], timeout: float = 3600, poll: float = 0.5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        record = describe()
        if record["status"] in ("ACTIVE", "CREATE FAILED"):
            if record["status"] != "ACTIVE":
                raise RuntimeError(record.get("failureReason"))
            return record
        if time.monotonic() > deadline:
            raise TimeoutError(record)
        time.sleep(poll)


def movielens_csv(folder: Path) -> tuple[Path, list[str]]:
    path = folder / "ml.csv"
    users = []
    with (MOVIELENS / "ratings.csv").open() as src, path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])
        for row in csv.DictReader(src):
            writer.writerow([row["userId"], row["movieId"], row["timestamp"], "rating"])
            users.append(row["userId"])
    return path, sorted(set(users))


def generated_csv(folder: Path, n_items: int, n_users: int, per_user: int) -> tuple[Path, list[str]]:
    """Power-law popularity with 50 taste clusters; every item appears at least once."""
    rng = np.random.default_rng(0)
    clusters = 50
    item_cluster = np.arange(n_items) % clusters
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    path = folder / f"generated-{n_items}.csv"
    by_cluster = [np.flatnonzero(item_cluster == c) for c in range(clusters)]
    with path.open("w") as out:
        out.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n")
        for user in range(n_users):
            pool = by_cluster[user % clusters]
            weights = popularity[pool] / popularity[pool].sum()
            items = rng.choice(pool, size=min(per_user, len(pool)), replace=False, p=weights)
            ts = 1_600_000_000 + rng.integers(0, 10_000_000, len(items))
            out.write("".join(f"u{user},i{i},{t},click\n" for i, t in zip(items, ts, strict=True)))
        covered = n_users * per_user  # the long tail: each remaining item once, by a rotating user
        for i in range(n_items):
            if i >= covered // 4:
                out.write(f"u{i % n_users},i{i},1600000000,click\n")
    return path, [f"u{u}" for u in range(n_users)]


def setup_campaign(
    client: Any, name: str, csv_path: Path, params: dict[str, str], recipe: str = V1
) -> tuple[str, str, str, float]:
    group = client.create_dataset_group(name=name)["datasetGroupArn"]
    wait(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    schema = client.create_schema(name=f"{name}-schema", schema=SCHEMA)["schemaArn"]
    dataset = client.create_dataset(
        name=name, schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    wait(lambda: client.describe_dataset(datasetArn=dataset)["dataset"])
    job = client.create_dataset_import_job(
        jobName=name, datasetArn=dataset, dataSource={"dataLocation": str(csv_path)}
    )["datasetImportJobArn"]
    wait(lambda: client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"])
    solution = client.create_solution(
        name=name,
        datasetGroupArn=group,
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}",
        solutionConfig={"algorithmHyperParameters": params},
    )["solutionArn"]
    wait(lambda: client.describe_solution(solutionArn=solution)["solution"])
    started = time.monotonic()
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait(lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"])
    trained = time.monotonic() - started
    campaign = client.create_campaign(name=name, solutionVersionArn=version)["campaignArn"]
    wait(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])
    tracker = client.create_event_tracker(name=name, datasetGroupArn=group)
    wait(lambda: client.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    return campaign, tracker["trackingId"], version, trained


def existing_campaign(client: Any, name: str) -> tuple[str, str, str, float]:
    campaign = next(c for c in client.list_campaigns()["campaigns"] if c["name"] == name)
    record = client.describe_campaign(campaignArn=campaign["campaignArn"])["campaign"]
    version = record["solutionVersionArn"]
    described = client.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    tracker = next(t for t in client.list_event_trackers()["eventTrackers"] if t["name"] == name)
    tracking = client.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    return campaign["campaignArn"], tracking["trackingId"], version, float(described.get("trainingHours", 0)) * 3600


# ---------------------------------------------------------------------- load
def send(conn: http.client.HTTPConnection, request: Request) -> int:
    method, path, body = request
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def percentiles(latencies: list[float]) -> tuple[float, float]:
    flat = sorted(latencies)
    if not flat:
        return float("nan"), float("nan")
    return 1000 * flat[len(flat) // 2], 1000 * flat[min(len(flat) - 1, int(len(flat) * 0.99))]


def closed_loop(port: int, seconds: float, clients: int, make: Callable[[Any], Request]) -> dict[str, float]:
    """``clients`` connections sending back to back until time is up: the sustainable req/s."""
    latencies: list[float] = []
    errors = [0]
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        rng = np.random.default_rng(n)
        mine = []
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            status = send(conn, make(rng))
            mine.append(time.perf_counter() - t0)
            if status != 200:
                errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    p50, p99 = percentiles(latencies)
    return {"rps": len(latencies) / (time.monotonic() - began), "p50": p50, "p99": p99, "errors": errors[0]}


def open_loop(
    port: int, rate: float, seconds: float, make: Callable[[Any], Request], threads: int = 48
) -> dict[str, float]:
    """Request ``i`` is due at ``start + i / rate``; its latency counts from then, queueing included."""
    counter = itertools.count()
    start = time.perf_counter() + 0.2
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        rng = np.random.default_rng(1000 + n)
        mine = []
        while (i := next(counter)) < total:
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if send(conn, make(rng)) != 200:
                errors[0] += 1
            mine.append(time.perf_counter() - due)
        conn.close()
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    p50, p99 = percentiles(latencies)
    return {"rps": len(latencies) / elapsed, "p50": p50, "p99": p99, "errors": errors[0]}


def cpu_per_request(
    server: int, port: int, make: Callable[[Any], Request], requests: int, clients: int = 4
) -> float:
    """Server CPU ms per request over ``requests`` requests from ``clients`` connections."""
    pids = process_tree(server)
    counter = itertools.count()
    before = cpu_seconds(pids)

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        rng = np.random.default_rng(2000 + n)
        while next(counter) < requests:
            send(conn, make(rng))
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.3)  # let the server finish its accounting of the last answers
    return 1000 * (cpu_seconds(pids) - before) / requests


# ---------------------------------------------------------------------- numpy floors
def numpy_floor(data_dir: Path, version_arn: str, histories: list[np.ndarray]) -> tuple[str, float]:
    """CPU ms of the bare numpy scoring of the same model for the same histories (+ top 25)."""
    from threadpoolctl import threadpool_limits

    from pertinent.training.pipeline import load_trained_model

    path = data_dir / "artifacts" / version_arn.split(":solution/", 1)[1]
    model = load_trained_model(path).recipe
    base = getattr(getattr(model, "generators_", None), "base", None)
    if base is not None:  # v2: the floor is its v1 scorer's product (the ranker's own work is v2's cost)
        model = base
    with threadpool_limits(1, "blas"):
        if model.algorithm == "ease":
            weights = np.asarray(model.ease_weights_)
            position = np.full(model.n_items_, -1)
            position[model.active_items_] = np.arange(len(model.active_items_))
            rows = [np.unique(position[h][position[h] >= 0]) for h in histories]
            t0 = time.process_time()
            for r in rows:
                scores = np.ones(len(r), dtype=np.float32) @ weights[r]
                np.argpartition(-scores, 25)[:25]
            return "EASE x·B", 1000 * (time.process_time() - t0) / len(rows)
        factors = np.asarray(model.item_factors_)
        users = factors[[h[0] for h in histories]]
        t0 = time.process_time()
        for u in users:
            scores = factors @ u
            np.argpartition(-scores, 25)[:25]
        return "iALS U·Vᵀ", 1000 * (time.process_time() - t0) / len(users)


def histories_of(data_dir: Path, version_arn: str, users: list[str], n: int) -> list[np.ndarray]:
    from pertinent.training.pipeline import load_trained_model

    model = load_trained_model(data_dir / "artifacts" / version_arn.split(":solution/", 1)[1])
    out = []
    for user in users[:n]:
        items, _ = model.user_history(user)
        out.append(items.astype(np.int64) if len(items) else np.zeros(1, dtype=np.int64))
    return out


def append_logged_events(db_url: str, group_arn: str, total: int) -> float:
    """Append ``total`` interaction events of other users through the store (PutEvents' own call, in
    batches); returns seconds."""
    from pertinent.store import MetadataStore

    store = MetadataStore(db_url)
    rng = np.random.default_rng(9)
    began = time.monotonic()
    batch = min(total, 20_000)
    now = time.time()
    for _ in range(0, total, batch):
        picks = rng.integers(0, 50_000, batch)
        rows = [
            {
                "dataset_group_arn": group_arn,
                "kind": "interaction",
                "user_id": f"logged-{p}",
                "session_id": f"s{p}",
                "item_id": f"i{p % 1000}",
                "event_type": "click",
                "timestamp": now,
            }
            for p in picks.tolist()
        ]
        store.append_events(rows)
    store.close()
    return time.monotonic() - began


# ---------------------------------------------------------------------- main
#: key → (label, hyperparameters, recipe); ml and ml-v2 import ml-latest-small, the others generate
DATASETS: dict[str, tuple[str, dict[str, str], str]] = {
    "ml": ("ml-latest-small (EASE)", {}, V1),
    # the same data through aws-user-personalization-v2 (its v1 scorer is EASE): v2's cost as served
    "ml-v2": ("ml-latest-small (v2 two-stage)", {}, "aws-user-personalization-v2"),
    # generated data has no temporal dynamics: recency off (its fit-time probe scores whole catalogs)
    "200k": (
        "generated 200k items (iALS)",
        {"hidden_dimension": "128", "als_iterations": "10", "recency_mask": "false"},
        V1,
    ),
    "1m": (
        "generated 1M items (iALS)",
        {"hidden_dimension": "64", "als_iterations": "6", "recency_mask": "false"},
        V1,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="ml,200k,1m")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=300.0, help="offered req/s of the open loop")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--logged", type=int, default=1_000_000, help="events in the log for the last check")
    parser.add_argument("--cpu-requests", type=int, default=1500)
    parser.add_argument(
        "--put-clients",
        default="",
        help="also measure one-event PutEvents from these numbers of concurrent clients (e.g. 8,32,64)",
    )
    parser.add_argument(
        "--attach",
        nargs=3,
        metavar=("PORT", "PID", "DATA_DIR"),
        help="measure a running server (its pid, data folder) whose bench-* campaigns an earlier run made",
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="pertinent-bench-"))
    if args.attach:
        port, data_dir = int(args.attach[0]), Path(args.attach[2])
        server: Any = argparse.Namespace(pid=int(args.attach[1]))
    else:
        data_dir = folder / "data"
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "pertinent", "serve", "--port", str(port), "--data-dir", str(data_dir)]
            + ["--log-level", "warning", "--workers", str(args.workers)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            start_new_session=True,
        )
    rows: list[dict[str, Any]] = []
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        config = Config(retries={"max_attempts": 1}, read_timeout=900)
        keys = {"region_name": "us-east-1", "aws_access_key_id": "a", "aws_secret_access_key": "b"}
        client = boto3.client("personalize", endpoint_url=f"http://127.0.0.1:{port}", config=config, **keys)
        for key in args.datasets.split(","):
            label, params, recipe = DATASETS[key]
            t0 = time.monotonic()
            if key in ("ml", "ml-v2"):
                csv_path, users = movielens_csv(folder)
            elif args.attach:
                csv_path, users = Path(), [f"u{u}" for u in range(args.users)]
            else:
                n_items = 200_000 if key == "200k" else 1_000_000
                csv_path, users = generated_csv(folder, n_items, args.users, per_user=40)
            if args.attach:
                campaign, tracking_id, version, train_s = existing_campaign(client, f"bench-{key}")
            else:
                campaign, tracking_id, version, train_s = setup_campaign(
                    client, f"bench-{key}", csv_path, params, recipe
                )
            print(f"{label}: set up in {time.monotonic() - t0:.0f} s (training {train_s:.0f} s)", flush=True)
            first = json.dumps({"campaignArn": campaign, "userId": users[0], "numResults": 25}).encode()
            first_ms = []
            for _ in range(2 * args.workers):  # the model load in each process (the ANN index: training's)
                t0 = time.perf_counter()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1800)
                send(conn, ("POST", "/recommendations", first))
                conn.close()
                first_ms.append(1000 * (time.perf_counter() - t0))

            def recommend(rng: Any, campaign: str = campaign, users: list[str] = users) -> Request:
                user = users[int(rng.integers(len(users)))]
                body = json.dumps({"campaignArn": campaign, "userId": user, "numResults": 25}).encode()
                return "POST", "/recommendations", body

            def healthz(rng: Any) -> Request:
                return "GET", "/healthz", None

            def put(rng: Any, events: int = 1, tracking_id: str = tracking_id, users: list[str] = users) -> Request:
                user = users[int(rng.integers(len(users)))]
                body = {
                    "trackingId": tracking_id,
                    "userId": user,
                    "sessionId": user,
                    "eventList": [
                        {"eventType": "click", "itemId": f"i{int(rng.integers(1000))}", "sentAt": time.time()}
                        for _ in range(events)
                    ],
                }
                return "POST", "/events", json.dumps(body).encode()

            closed_loop(port, 2, args.clients, recommend)  # warm every process's caches
            row: dict[str, Any] = {"label": label, "train_s": train_s, "first_ms": max(first_ms)}
            db_url = f"sqlite:///{data_dir / 'pertinent.db'}"
            group_arn = campaign.replace(":campaign/", ":dataset-group/")
            if key == "1m" and args.logged:  # other users' events: the log grows, these users' do not
                append_logged_events(db_url, group_arn, 1000)
                closed_loop(port, 1, args.clients, recommend)
            row["cpu"] = cpu_per_request(server.pid, port, recommend, args.cpu_requests)
            row["cpu_floor"] = cpu_per_request(server.pid, port, healthz, args.cpu_requests)
            row["open"] = open_loop(port, args.rate, args.seconds, recommend)
            row["closed"] = closed_loop(port, args.seconds, args.clients, recommend)
            hist = histories_of(data_dir, version, users, 300)
            row["numpy"] = numpy_floor(data_dir, version, hist)
            put_1 = closed_loop(port, args.seconds, 16, put)
            put_10 = closed_loop(port, args.seconds, 16, lambda rng: put(rng, 10))
            row["put"] = (put_1["rps"], 10 * put_10["rps"], put_1["p99"], put_10["errors"] + put_1["errors"])
            row["put_by_clients"] = {
                int(n): closed_loop(port, args.seconds, int(n), put)["rps"]
                for n in args.put_clients.split(",")
                if n.strip()
            }
            # what the server spends per durable one-event PutEvents, and what these client threads can
            # send at all (the same 16 connections against the bare endpoint): which of the two bounds put_1
            row["put_cpu"] = cpu_per_request(server.pid, port, put, args.cpu_requests, clients=16)
            row["client_ceiling"] = closed_loop(port, args.seconds, 16, healthz)["rps"]
            delays = []
            for n in range(10):
                t0 = time.perf_counter()
                conn = http.client.HTTPConnection("127.0.0.1", port)
                send(conn, put(np.random.default_rng(n), 1, tracking_id, [f"fresh-{n}"]))
                body = json.dumps({"campaignArn": campaign, "userId": f"fresh-{n}", "numResults": 25}).encode()
                send(conn, ("POST", "/recommendations", body))
                conn.close()
                delays.append(1000 * (time.perf_counter() - t0))
            row["effect_ms"] = statistics.median(delays)
            if key == "1m" and args.logged:
                seconds = append_logged_events(db_url, group_arn, args.logged)
                closed_loop(port, 2, args.clients, recommend)
                row["cpu_big_log"] = cpu_per_request(server.pid, port, recommend, args.cpu_requests)
                row["logged"] = (1000, args.logged, seconds)
            rows.append(row)
            print(json.dumps(row, default=str), flush=True)
    finally:
        if not args.attach:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    report(rows, args)


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(
        f"\n`pertinent serve --workers {args.workers}`; clients in this process; {os.cpu_count()} CPUs shared; "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n"
    )
    print(
        "| dataset | server CPU ms/req | bare endpoint CPU ms/req | numpy-only scoring ms | "
        f"open loop {args.rate:.0f} req/s: achieved, p50 / p99 ms | closed loop max req/s (p50 ms) | "
        "PutEvents events/s (1 / 10 per call) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o, c, p = r["open"], r["closed"], r["put"]
        print(
            f"| {r['label']} | {r['cpu']:.2f} | {r['cpu_floor']:.2f} | {r['numpy'][1]:.2f} ({r['numpy'][0]}) | "
            f"{o['rps']:.0f}, {o['p50']:.1f} / {o['p99']:.1f} | {c['rps']:.0f} ({c['p50']:.1f}) | "
            f"{p[0]:.0f} / {p[1]:.0f} |"
        )
    for r in rows:
        print(
            f"{r['label']}: ratio server CPU / bare endpoint {r['cpu'] / r['cpu_floor']:.1f}x; "
            f"event→effect (put + get round trip) {r['effect_ms']:.1f} ms median; slowest first request "
            f"(model load) {r['first_ms']:.0f} ms; training {r['train_s']:.0f} s; errors "
            f"{r['open']['errors'] + r['closed']['errors'] + r['put'][3]}"
        )
        cores = os.cpu_count() or 1
        if r["put_by_clients"]:
            print(
                f"{r['label']}: one-event PutEvents, events/s by concurrent clients: "
                + ", ".join(
                    f"{n}: {rate:,.0f}"
                    for n, rate in sorted({16: r["put"][0], **r["put_by_clients"]}.items())
                )
            )
        print(
            f"{r['label']}: PutEvents (one event a call) costs {r['put_cpu']:.2f} ms of server CPU, "
            f"{1000 * cores / r['put_cpu']:,.0f} events/s if the server had the {cores} cores to itself; "
            f"these 16 client threads send at most {r['client_ceiling']:,.0f} req/s to the bare endpoint"
        )
        if "logged" in r:
            before, after, seconds = r["logged"]
            print(
                f"{r['label']}: server CPU per GetRecommendations with {before:,} logged events "
                f"{r['cpu']:.2f} ms, with {after:,} more ({seconds:.0f} s to append) "
                f"{r['cpu_big_log']:.2f} ms (ratio {r['cpu_big_log'] / r['cpu']:.2f})"
            )
    by_label = {r["label"]: r for r in rows}
    v1, v2 = by_label.get(DATASETS["ml"][0]), by_label.get(DATASETS["ml-v2"][0])
    if v1 and v2:
        print(
            f"ml-latest-small: server CPU per GetRecommendations v2 {v2['cpu']:.2f} ms / v1 {v1['cpu']:.2f} ms "
            f"= {v2['cpu'] / v1['cpu']:.2f}x (same run, same server)"
        )


if __name__ == "__main__":
    main()
