"""The inputs of the capacity model in docs/capacity.md, measured on this machine.

1. **Server CPU per request**: `pertinent serve` in its own process with an iALS campaign on a generated
   catalog; GetRecommendations and GET /healthz (a no-op, the baseline) sent back to back from client
   threads; the server process's own CPU seconds (``/proc/<pid>/stat``) divided by the requests answered.
2. **Memory per item and per user**: the server's resident memory before and after the campaign's model
   is loaded, and the artifact's files (item factors; per-user training histories).
3. **Event-log growth**: bytes per logged event in SQLite (file + WAL) and, when the PostgreSQL server
   binaries exist, in PostgreSQL (``pg_total_relation_size('events')``, indexes included).
4. **Training time against data size**: the same server's training time for the generated set (iALS, all
   of Personalize's protocol: split, metrics, refit); ``benchmarks/train_scale.py`` measures the engines
   at several sizes.

Then the projection for 100M users, 10M items, 1B events and 10k requests/s, computed from these figures.

Run: ``python benchmarks/capacity.py`` (``--help``; about 3-5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.serving import generated_csv, setup_campaign  # noqa: E402
from pertinent.api.background import free_port  # noqa: E402
from pertinent.store import MetadataStore  # noqa: E402

TARGET = {"users": 100e6, "items": 10e6, "events": 1e9, "rps": 10_000.0}
FACTORS = 128  # hidden_dimension's default


def _proc(pid: int) -> tuple[float, int]:
    """(CPU seconds, resident bytes) of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(fields[21]) * os.sysconf(
        "SC_PAGE_SIZE"
    )


def _hammer(url: str, body: bytes | None, n: int, clients: int) -> None:
    def one(k: int) -> None:
        for _ in range(k):
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()

    threads = [threading.Thread(target=one, args=(n // clients,)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def serving_inputs(folder: Path, items: int, users: int, requests: int) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "PERTINENT_EASE_MAX_ITEMS": "0", "PYTHONPATH": str(ROOT)}  # iALS, as at 10M items
    process = subprocess.Popen(
        [sys.executable, "-m", "pertinent", "serve", "--port", str(port), "--data-dir", str(folder / "data")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{url}/healthz/ready", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        client = boto3.client(
            "personalize",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"max_attempts": 1}, read_timeout=600),
        )
        csv_path, user_ids = generated_csv(folder, items, users, 30)
        interactions = sum(1 for _ in csv_path.open()) - 1
        campaign, _, trained = setup_campaign(client, "capacity", csv_path)
        _, rss_before = _proc(process.pid)
        body = json.dumps({"campaignArn": campaign, "userId": user_ids[1], "numResults": 25}).encode()
        _hammer(f"{url}/recommendations", body, 4, 1)  # loads the model
        _, rss_after = _proc(process.pid)
        cpu0, _ = _proc(process.pid)
        _hammer(f"{url}/healthz", None, requests, 4)
        cpu1, _ = _proc(process.pid)
        _hammer(f"{url}/recommendations", body, requests, 4)
        cpu2, _ = _proc(process.pid)
        artifacts = folder / "data" / "artifacts"
        factors_bytes = sum(f.stat().st_size for f in artifacts.rglob("model*") if f.is_file())
        data_bytes = sum(f.stat().st_size for f in artifacts.rglob("data.npz"))
        return {
            "items": items,
            "users": users,
            "interactions": interactions,
            "train_seconds": trained,
            "cpu_ms_noop": (cpu1 - cpu0) / requests * 1000,
            "cpu_ms_recommend": (cpu2 - cpu1) / requests * 1000,
            "model_rss_mib": (rss_after - rss_before) / 2**20,
            "factor_bytes_per_item": factors_bytes / items,
            "history_bytes_per_interaction": data_bytes / interactions,
        }
    finally:
        process.kill()
        process.wait(30)


def _events(n: int, start: int) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {
            "dataset_group_arn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/capacity",
            "kind": "interaction",
            "user_id": f"user-{(start + i) % 100_000}",
            "session_id": f"session-{(start + i) % 300_000}",
            "item_id": f"item-{(start + i * 7) % 1_000_000}",
            "event_type": "click",
            "event_value": None,
            "timestamp": now,
            "body": json.dumps({"USER_ID": f"user-{(start + i) % 100_000}", "ITEM_ID": f"item-{i}"}),
        }
        for i in range(n)
    ]


def event_log_bytes(url: str, n: int, size_of: Any) -> float:
    store = MetadataStore(url)
    try:
        before = size_of(store)
        for start in range(0, n, 500):
            store.append_events(_events(500, start))
        return float(size_of(store) - before) / n
    finally:
        store.close()


def sqlite_size(folder: Path) -> Any:
    def size(store: MetadataStore) -> int:
        store.engine.dispose()  # close the pool, then fold the WAL into the file
        with sqlite3.connect(folder / "events.db") as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in folder.glob("events.db*"))

    return size


def postgres_size(store: MetadataStore) -> int:
    with store.read() as conn:
        return int(conn.exec_driver_sql("SELECT pg_total_relation_size('events')").scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pertinent-capacity-"))
    print(f"machine: {os.cpu_count()} cores")

    sqlite_bytes = event_log_bytes(f"sqlite:///{folder / 'events.db'}", args.events, sqlite_size(folder))
    print(f"event log, SQLite: {sqlite_bytes:.0f} bytes per event ({args.events:,} events)")
    pg_bytes = None
    try:
        from tests import postgres_server

        if postgres_server.available():
            server = postgres_server.PostgresServer()
            server.start()
            try:
                pg_bytes = event_log_bytes(server.url, args.events, postgres_size)
            finally:
                server.stop()
                server.remove()
            print(f"event log, PostgreSQL: {pg_bytes:.0f} bytes per event, indexes included")
    except ImportError:
        pass

    s = serving_inputs(folder, args.items, args.users, args.requests)
    print(
        f"serving ({s['items']:,} items, {s['users']:,} users, {s['interactions']:,} interactions, iALS k={FACTORS}):"
        f" server CPU {s['cpu_ms_recommend']:.2f} ms per GetRecommendations, {s['cpu_ms_noop']:.2f} ms per"
        f" no-op request (ratio {s['cpu_ms_recommend'] / max(s['cpu_ms_noop'], 1e-9):.1f})"
    )
    print(
        f"memory: model loaded +{s['model_rss_mib']:.0f} MiB resident; artifact {s['factor_bytes_per_item']:.0f}"
        f" bytes per item (factors), {s['history_bytes_per_interaction']:.1f} bytes per training interaction"
        " (per-user histories)"
    )
    per_million = s["train_seconds"] / (s["interactions"] / 1e6)
    print(
        f"training (split, metrics, refit): {s['train_seconds']:.0f} s for {s['interactions']:,} interactions"
        f" = {per_million:.0f} s per million interactions on this machine"
    )

    # -- projection ---------------------------------------------------------------------------------
    cores_needed = TARGET["rps"] * s["cpu_ms_recommend"] / 1000
    replicas = cores_needed / (4 * 0.6)  # 4-core replicas run at 60 % to absorb peaks
    factors_gib = TARGET["items"] * FACTORS * 4 / 2**30
    histories_gib = TARGET["events"] * s["history_bytes_per_interaction"] / 2**30
    log_gib = TARGET["events"] * (pg_bytes or sqlite_bytes) / 2**30
    train_hours = per_million * TARGET["events"] / 1e6 / 3600
    print("projection for 100M users, 10M items, 1B events, 10k requests/s:")
    print(f"  api CPU: {cores_needed:.0f} cores busy -> {replicas:.0f} api replicas of 4 cores at 60 %")
    print(f"  item factors: {factors_gib:.1f} GiB per replica (10M x {FACTORS} float32)")
    print(
        f"  per-user training histories as today's artifact holds them: {histories_gib:.0f} GiB per replica"
    )
    print(f"  event log: {log_gib:.0f} GiB for 1B events ({'PostgreSQL' if pg_bytes else 'SQLite'} figure)")
    print(f"  training at this machine's rate: {train_hours:.0f} h on 2 cores for 1B interactions")


if __name__ == "__main__":
    main()
