"""Serving speed: GetRecommendations and PutEvents under concurrent load, beside a no-op endpoint.

Starts `pertinent serve` in its own process, loads a campaign on ml-latest-small and on a generated
large catalog, then drives the server from client threads for a bounded time each:

    python benchmarks/serving.py [--seconds 10] [--clients 8] [--items 200000]

Prints p50/p99 latency and requests/s for POST /recommendations next to GET /healthz (a no-op endpoint
on the same server, same clients, same load): the ratio is the cost of a recommendation. Also prints
PutEvents throughput and the event-to-effect delay (a put followed by the next GetRecommendations).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from botocore.config import Config

from pertinent.api.background import free_port

ROOT = Path(__file__).resolve().parents[1]
MOVIELENS = ROOT.parent / "shared" / "datasets" / "ml-latest-small"
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


def wait(describe: Any, timeout: float = 1800) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        record: dict[str, Any] = describe()
        if record["status"] in ("ACTIVE", "CREATE FAILED"):
            if record["status"] != "ACTIVE":
                raise RuntimeError(record.get("failureReason"))
            return record
        if time.monotonic() > deadline:
            raise TimeoutError(record)
        time.sleep(0.2)


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
    """Power-law popularity with 50 taste clusters, so the model has structure to learn."""
    rng = np.random.default_rng(0)
    clusters = 50
    item_cluster = rng.integers(0, clusters, n_items)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    path = folder / "generated.csv"
    with path.open("w") as out:
        out.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n")
        by_cluster = [np.flatnonzero(item_cluster == c) for c in range(clusters)]
        for user in range(n_users):
            pool = by_cluster[user % clusters]
            weights = popularity[pool] / popularity[pool].sum()
            items = rng.choice(pool, size=min(per_user, len(pool)), replace=False, p=weights)
            ts = 1_600_000_000 + rng.integers(0, 10_000_000, len(items))
            out.write("".join(f"u{user},i{i},{t},click\n" for i, t in zip(items, ts, strict=True)))
    return path, [f"u{u}" for u in range(n_users)]


def setup_campaign(client: Any, name: str, csv_path: Path) -> tuple[str, str, float]:
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
        name=name, datasetGroupArn=group, recipeArn="arn:aws:personalize:::recipe/aws-user-personalization"
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
    return campaign, tracker["trackingId"], trained


def drive(port: int, seconds: float, clients: int, make_request: Any) -> dict[str, float]:
    """Each client thread keeps one connection and sends requests back to back until time is up."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop_at = time.monotonic() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        rng = np.random.default_rng(n)
        while time.monotonic() < stop_at:
            method, path, body = make_request(rng)
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            latencies[n].append(time.perf_counter() - t0)
            if response.status != 200:
                errors[n] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    flat = sorted(x for lat in latencies for x in lat)
    return {
        "rps": len(flat) / elapsed,
        "p50": 1000 * flat[len(flat) // 2],
        "p99": 1000 * flat[min(len(flat) - 1, int(len(flat) * 0.99))],
        "errors": float(sum(errors)),
        "n": float(len(flat)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=50_000)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="pertinent-bench-"))
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pertinent",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(folder / "data"),
            "--log-level",
            "warning",
        ],
        env={**os.environ},
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        client = boto3.client(
            "personalize",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="a",
            aws_secret_access_key="b",
            config=Config(retries={"max_attempts": 1}, read_timeout=600),
        )
        events = boto3.client(
            "personalize-events",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="a",
            aws_secret_access_key="b",
        )
        datasets = []
        if MOVIELENS.exists():
            datasets.append(("ml-latest-small", *movielens_csv(folder)))
        datasets.append(
            (
                f"generated-{args.items // 1000}k-items",
                *generated_csv(folder, args.items, args.users, per_user=40),
            )
        )
        rows = []
        for name, csv_path, users in datasets:
            campaign, tracking_id, train_seconds = setup_campaign(client, name.replace(".", "-"), csv_path)

            def recommend(
                rng: Any, campaign: str = campaign, users: list[str] = users
            ) -> tuple[str, str, bytes]:
                user = users[int(rng.integers(len(users)))]
                body = json.dumps({"campaignArn": campaign, "userId": user, "numResults": 25}).encode()
                return "POST", "/recommendations", body

            def noop(rng: Any) -> tuple[str, str, None]:
                return "GET", "/healthz", None

            def put(
                rng: Any, tracking_id: str = tracking_id, users: list[str] = users
            ) -> tuple[str, str, bytes]:
                user = users[int(rng.integers(len(users)))]
                body = json.dumps(
                    {
                        "trackingId": tracking_id,
                        "userId": user,
                        "sessionId": user,
                        "eventList": [{"eventType": "click", "itemId": "1", "sentAt": time.time()}],
                    }
                )
                return "POST", "/events", body.encode()

            drive(port, 2, args.clients, recommend)  # warm the campaign cache
            rec = drive(port, args.seconds, args.clients, recommend)
            base = drive(port, args.seconds, args.clients, noop)
            ev = drive(port, args.seconds, args.clients, put)
            delays = []
            for n in range(20):
                t0 = time.perf_counter()
                events.put_events(
                    trackingId=tracking_id,
                    userId=f"fresh-{n}",
                    sessionId=f"s{n}",
                    eventList=[{"eventType": "click", "itemId": "1", "sentAt": time.time()}],
                )
                conn = http.client.HTTPConnection("127.0.0.1", port)
                conn.request(
                    "POST",
                    "/recommendations",
                    body=json.dumps({"campaignArn": campaign, "userId": f"fresh-{n}", "numResults": 25}),
                )
                conn.getresponse().read()
                delays.append(1000 * (time.perf_counter() - t0))
            rows.append((name, train_seconds, rec, base, ev, statistics.median(delays)))

        print(
            f"\n{args.clients} concurrent clients, {args.seconds:.0f} s per measurement, server and clients "
            f"sharing {os.cpu_count()} CPUs\n"
        )
        print(
            f"{'dataset':<24}{'train s':>9}{'endpoint':>18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        )
        for name, train_seconds, rec, base, ev, delay in rows:
            for label, m in (("GetRecommendations", rec), ("no-op /healthz", base), ("PutEvents", ev)):
                print(
                    f"{name:<24}{train_seconds:>9.1f}{label:>18}{m['rps']:>9.0f}{m['p50']:>9.2f}{m['p99']:>9.2f}"
                    f"{m['errors']:>8.0f}"
                )
            print(
                f"{name:<24}{'':>9}{'ratio rec/no-op':>18}{rec['rps'] / base['rps']:>9.2f}"
                f"{rec['p50'] / base['p50']:>9.1f}x"
            )
            print(
                f"{name:<24}{'':>9}{'event→effect':>18}   next request; put+get round trip {delay:.1f} ms median"
            )
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
