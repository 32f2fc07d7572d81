"""Personalized search through the server: plain and personalized query latency beside the engine's own.

    python benchmarks/search.py [--items 1000000] [--queries 300]

For ml-latest-small (movies + ratings) and a generated catalog, it imports the Items and Interactions
datasets, trains a personalized-ranking campaign, creates a search pipeline, and then measures, one query
at a time over HTTP on loopback:
  * indexing docs/s (the first search builds the index from the Items dataset),
  * p50/p99 of plain `_search` and of `_search?search_pipeline=…` (BM25 + GetPersonalizedRanking + blend),
  * p50/p99 of tantivy's raw search of the same queries on the same index, in this process;
the ratios show what our HTTP, DSL and personalization layers add to the engine.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from botocore.config import Config
from movielens import MOVIELENS  # $PERTINENT_TEST_DATA, as the tests resolve it

from pertinent.api.background import free_port, serve_in_background
from pertinent.config import load_settings
from pertinent.demo.catalog import (
    ADJECTIVES,
    GENRES,
    INTERACTIONS_SCHEMA,
    ITEMS_SCHEMA,
    NOUNS,
    from_movielens,
)
from pertinent.search.compare import for_user, pipeline_body
from pertinent.search.query_dsl import parse_search_body, raw_search

ROOT = Path(__file__).resolve().parents[1]


def generated(folder: Path, n_items: int, n_users: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    items, interactions = folder / "items.csv", folder / "interactions.csv"
    words = [w.lower() for w in ADJECTIVES + NOUNS]
    with items.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ITEM_ID", "TITLE", "GENRES", "DESCRIPTION", "YEAR"])
        for i in range(n_items):
            title = " ".join(words[j] for j in rng.integers(0, len(words), 3))
            genre = GENRES[i % len(GENRES)]
            writer.writerow([f"i{i}", title, genre, f"a {genre.lower()} story about {title}", 1950 + i % 75])
    known = min(n_items, 100_000)  # interactions touch the popular head; the rest of the catalog is cold
    popularity = 1.0 / np.arange(1, known + 1) ** 0.8
    popularity /= popularity.sum()
    with interactions.open("w") as f:
        f.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n")
        for u in range(n_users):
            genre = u % len(GENRES)
            chosen = rng.choice(known, size=20, replace=False, p=popularity)
            chosen = chosen[chosen % len(GENRES) == genre] if u % 2 else chosen
            f.write("".join(f"u{u},i{i},{1_600_000_000 + int(i)},click\n" for i in chosen))
    return items, interactions


def setup(client: Any, name: str, items: Path, interactions: Path) -> str:
    def wait(call: Any) -> None:
        while (record := call())["status"] != "ACTIVE":
            if record["status"] == "CREATE FAILED":
                raise RuntimeError(record.get("failureReason"))
            time.sleep(0.2)

    group = client.create_dataset_group(name=name)["datasetGroupArn"]
    wait(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    for kind, schema, path in (
        ("Interactions", INTERACTIONS_SCHEMA, interactions),
        ("Items", ITEMS_SCHEMA, items),
    ):
        schema_arn = client.create_schema(name=f"{name}-{kind}", schema=json.dumps(schema))["schemaArn"]
        dataset = client.create_dataset(
            name=f"{name}-{kind}", schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind
        )["datasetArn"]
        wait(lambda dataset=dataset: client.describe_dataset(datasetArn=dataset)["dataset"])
        job = client.create_dataset_import_job(
            jobName=f"{name}-{kind}", datasetArn=dataset, dataSource={"dataLocation": str(path)}
        )["datasetImportJobArn"]
        wait(lambda job=job: client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"])
    solution = client.create_solution(
        name=name, datasetGroupArn=group, recipeArn="arn:aws:personalize:::recipe/aws-personalized-ranking"
    )["solutionArn"]
    wait(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait(lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"])
    campaign = client.create_campaign(name=name, solutionVersionArn=version)["campaignArn"]
    wait(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])
    return str(campaign)


def request(conn: http.client.HTTPConnection, method: str, path: str, body: Any) -> Any:
    conn.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = json.loads(response.read())
    if response.status != 200:
        raise RuntimeError(data)
    return data


def pct(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pertinent-search-bench-"))
    settings = load_settings(data_dir=folder / "data", port=free_port(), worker_poll_seconds=0.05)
    server = serve_in_background(settings)
    app = server.app
    client = boto3.client(
        "personalize",
        endpoint_url=f"http://127.0.0.1:{settings.port}",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"max_attempts": 1}, read_timeout=900),
    )
    catalogs = []
    if MOVIELENS.exists():
        data = from_movielens(MOVIELENS, folder / "ml")
        catalogs.append(
            ("ml-latest-small", "ml", data.items_csv, data.interactions_csv, ["1", "2", "3", "4"])
        )
    started = time.monotonic()
    items_csv, interactions_csv = generated(folder / "gen", args.items, args.users)
    print(f"(generated {args.items:,} items in {time.monotonic() - started:.1f} s)")
    catalogs.append(
        (
            f"generated {args.items:,} items",
            "generated",
            items_csv,
            interactions_csv,
            [f"u{u}" for u in range(8)],
        )
    )
    rng = np.random.default_rng(0)
    words = [w.lower() for w in ADJECTIVES + NOUNS] + ["love", "man", "night", "story", "war"]
    print(
        f"\n{args.queries} queries each, one at a time over HTTP on loopback; engine = tantivy raw search "
        "of the same query on the same index\n"
    )
    print(
        f"{'catalog':<26}{'index docs/s':>13}{'':>3}{'path':<28}{'p50 ms':>9}{'p99 ms':>9}{'x engine p50':>14}"
    )
    for label, name, items, interactions, users in catalogs:
        campaign = setup(client, name, items, interactions)
        conn = http.client.HTTPConnection("127.0.0.1", settings.port, timeout=120)
        request(conn, "PUT", f"/search/_search/pipeline/{name}", pipeline_body(campaign, 0.5))
        t0 = time.perf_counter()
        request(conn, "POST", f"/search/{name}/_search", {"query": {"match_all": {}}, "size": 1})
        index_seconds = time.perf_counter() - t0
        index = app.state.search.index(name)
        n_docs = index.num_docs
        bodies = [
            {
                "query": {
                    "multi_match": {
                        "query": " ".join(rng.choice(words, 2)),
                        "fields": ["TITLE^2", "GENRES", "DESCRIPTION"],
                    }
                },
                "size": 20,
            }
            for _ in range(args.queries)
        ]
        plain, personalized, engine = [], [], []
        for n, body in enumerate(bodies):
            t0 = time.perf_counter()
            request(conn, "POST", f"/search/{name}/_search", body)
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            request(
                conn,
                "POST",
                f"/search/{name}/_search?search_pipeline={name}",
                for_user(body, users[n % len(users)]),
            )
            personalized.append(time.perf_counter() - t0)
            query = parse_search_body(index, body).query
            t0 = time.perf_counter()
            raw_search(index, query, 20)
            engine.append(time.perf_counter() - t0)
        base = pct(engine, 50)
        rows = (
            ("engine (tantivy raw)", engine),
            ("plain _search", plain),
            ("personalized _search", personalized),
        )
        for n, (path, samples) in enumerate(rows):
            head = f"{label:<26}{n_docs / index_seconds:>13,.0f}" if n == 0 else f"{'':<26}{'':>13}"
            print(
                f"{head}{'':>3}{path:<28}{pct(samples, 50):>9.2f}{pct(samples, 99):>9.2f}{pct(samples, 50) / base:>14.1f}"
            )
    server.stop()


if __name__ == "__main__":
    main()
