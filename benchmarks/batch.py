"""Batch inference speed: users/s of one batch inference job beside a loop of GetRecommendations over HTTP.

Starts `pertinent serve` in its own process, trains aws-user-personalization on ml-latest-small and on a
generated set (200,000 users by default), then for each:

* **HTTP loop (baseline)**: one boto3 client calls GetRecommendations for ``--loop-users`` users, one after
  another, as a script that fills an email list would (after one request that loads the model);
* **batch job**: CreateBatchInferenceJob over every user of the set (a JSON Lines file), polled every
  20 ms until ACTIVE (after a one-line job that loads the model into the worker, as the loop's first
  request loads it into the API process; a second one-line job shows a job's fixed cost).

Both run against the same server (``pertinent serve``: its API processes and the job worker) and the same
solution version (the loop through a campaign on it), with the same numResults. Prints users/s (wall, as
the client sees it; for the job also from its own creation and completion times), the server's CPU ms per
user (every server process's utime + stime from /proc, so the client's own cost is not counted; for the
job also the worker's part alone, without the API processes answering the client's Describe polls), and
the ratios batch / loop, with the load average:

    python benchmarks/batch.py [--sets ml,generated] [--users 200000] [--items 5000] [--per-user 15]
                               [--loop-users 1000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import cpu_seconds as tree_cpu_seconds
from serving import generated_csv, movielens_csv, process_tree, wait

from pertinent.api.background import free_port

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the server: its supervisor, API processes and anything they started."""
    return tree_cpu_seconds(process_tree(pid))


def run_job(client: Any, folder: Path, name: str, version: str, users: list[str]) -> dict[str, Any]:
    source = folder / f"{name}-in"
    source.mkdir()
    (source / "users.json").write_text("".join(json.dumps({"userId": u}) + "\n" for u in users))
    arn = client.create_batch_inference_job(
        jobName=name,
        solutionVersionArn=version,
        numResults=25,
        jobInput={"s3DataSource": {"path": str(source) + "/"}},
        jobOutput={"s3DataDestination": {"path": str(folder / f"{name}-out") + "/"}},
        roleArn=ROLE,
    )["batchInferenceJobArn"]
    job = wait(
        lambda: client.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"], poll=0.02
    )
    lines = (folder / f"{name}-out" / "users.json.out").read_text().count("\n")
    assert lines == len(users), (lines, len(users))
    return job


def setup(client: Any, name: str, csv_path: Path) -> tuple[str, str]:
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
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
        performAutoTraining=False,
    )["solutionArn"]
    wait(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait(lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"])
    campaign = client.create_campaign(name=name, solutionVersionArn=version)["campaignArn"]
    wait(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])
    return version, campaign


def measure(
    client: Any,
    runtime: Any,
    pid: int,
    folder: Path,
    name: str,
    version: str,
    campaign: str,
    users: list[str],
    loop_users: int,
) -> dict[str, float]:
    sample = users[:: max(1, len(users) // loop_users)][:loop_users]
    runtime.get_recommendations(campaignArn=campaign, userId=sample[0])  # load the model first
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    for user in sample:
        runtime.get_recommendations(campaignArn=campaign, userId=user, numResults=25)
    loop_wall, loop_cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0

    run_job(client, folder, f"{name}-warm", version, users[:1])  # loads the model into the worker
    t0 = time.perf_counter()  # a job's fixed cost, as the client sees it: pick-up, files, status, polling
    run_job(client, folder, f"{name}-one", version, users[:1])
    one_line = time.perf_counter() - t0
    cpu0, worker0, t0 = cpu_seconds(pid), tree_cpu_seconds([pid]), time.perf_counter()
    job = run_job(client, folder, f"{name}-batch", version, users)
    batch_wall, batch_cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    worker_cpu = tree_cpu_seconds([pid]) - worker0
    job_seconds = (job["lastUpdatedDateTime"] - job["creationDateTime"]).total_seconds()
    return {
        "loop_users": len(sample),
        "loop_rate": len(sample) / loop_wall,
        "loop_cpu_ms": 1000 * loop_cpu / len(sample),
        "batch_users": len(users),
        "batch_rate": len(users) / batch_wall,
        "job_rate": len(users) / max(job_seconds, 1e-3),
        "batch_cpu_ms": 1000 * batch_cpu / len(users),
        "worker_cpu_ms": 1000 * worker_cpu / len(users),
        "one_line_ms": 1000 * one_line,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200_000, help="users of the generated set")
    parser.add_argument("--items", type=int, default=5_000, help="items of the generated set")
    parser.add_argument("--per-user", type=int, default=15, help="interactions per generated user")
    parser.add_argument("--loop-users", type=int, default=1000, help="users asked one by one over HTTP")
    parser.add_argument("--sets", default="ml,generated", help="ml, generated or both (comma-separated)")
    parser.add_argument("--rounds", type=int, default=1, help="loop-then-job measurements per set")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="pertinent-batch-bench-"))
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
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        kw: dict[str, Any] = dict(
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="a",
            aws_secret_access_key="b",
            config=Config(retries={"max_attempts": 1}, read_timeout=600),
        )
        client, runtime = boto3.client("personalize", **kw), boto3.client("personalize-runtime", **kw)
        chosen = args.sets.split(",")
        sets = [("ml-latest-small", *movielens_csv(folder))] if "ml" in chosen else []
        if "generated" in chosen:
            sets.append(
                (
                    f"generated {args.users:,} users",
                    *generated_csv(folder, args.items, args.users, args.per_user),
                )
            )
        rows = []
        for n, (label, path, users) in enumerate(sets):
            version, campaign = setup(client, f"set{n}", path)
            for round_ in range(args.rounds):  # loop and job in turn: both see the load of the moment
                result = measure(
                    client,
                    runtime,
                    server.pid,
                    folder,
                    f"set{n}r{round_}",
                    version,
                    campaign,
                    users,
                    args.loop_users,
                )
                load_now = ", ".join(f"{x:.1f}" for x in os.getloadavg())
                rows.append((label if args.rounds == 1 else f"{label}, round {round_ + 1}", result))
                print(f"{label}: {result} (load average {load_now})", flush=True)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\n{os.cpu_count()} CPUs shared by server and client; numResults 25; load average {load}\n")
        print(
            "| set | HTTP loop users/s | batch users/s (client; job's own times) | × users/s | "
            "loop server CPU ms/user | batch server CPU ms/user (of which the worker) | × CPU | "
            "one-line job ms |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, r in rows:
            print(
                f"| {label} ({r['batch_users']:,} in the job, {r['loop_users']:,} in the loop) | "
                f"{r['loop_rate']:,.0f} | {r['batch_rate']:,.0f}; {r['job_rate']:,.0f} | "
                f"{r['batch_rate'] / r['loop_rate']:.1f} | {r['loop_cpu_ms']:.2f} | "
                f"{r['batch_cpu_ms']:.3f} ({r['worker_cpu_ms']:.3f}) | "
                f"{r['loop_cpu_ms'] / r['batch_cpu_ms']:.1f} | "
                f"{r['one_line_ms']:.0f} |"
            )
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
