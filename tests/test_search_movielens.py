"""On ml-latest-small: a generic query moves a one-genre user's genre up as the weight grows, and the order
at weight 0 is plain BM25."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from pertinent.config import load_settings
from pertinent.demo.catalog import from_movielens
from pertinent.search.compare import for_user, pipeline_body
from tests.conftest import MOVIELENS, needs_movielens, start_server, wait_for_status
from tests.test_search_api import call, ids

pytestmark = [pytest.mark.slow, needs_movielens]


def one_genre_user() -> tuple[str, str]:
    """The user (≥ 40 ratings) whose ratings fall most into a single genre, and that genre."""
    genres = {}
    with (MOVIELENS / "movies.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            genres[row["movieId"]] = row["genres"].split("|")
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    with (MOVIELENS / "ratings.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            totals[row["userId"]] += 1
            counts[row["userId"]].update(genres[row["movieId"]])
    best = max(
        (c.most_common(1)[0][1] / totals[u], u, c.most_common(1)[0][0])
        for u, c in counts.items()
        if totals[u] >= 40 and c.most_common(1)[0][0] != "Drama"
    )
    return best[1], best[2]


def test_generic_query_moves_the_users_genre_up(tmp_path: Path) -> None:
    data = from_movielens(MOVIELENS, tmp_path / "ml")
    live, stop = start_server(load_settings(data_dir=tmp_path / "data", worker_poll_seconds=0.05))
    try:
        client = live.client()
        group = client.create_dataset_group(name="ml")["datasetGroupArn"]
        wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
        for kind, schema, path in (
            ("Interactions", data.interactions_schema, data.interactions_csv),
            ("Items", data.items_schema, data.items_csv),
        ):
            schema_arn = client.create_schema(name=kind, schema=schema)["schemaArn"]
            dataset = client.create_dataset(
                name=kind, schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind
            )["datasetArn"]
            wait_for_status(lambda dataset=dataset: client.describe_dataset(datasetArn=dataset)["dataset"])
            job = client.create_dataset_import_job(
                jobName=kind, datasetArn=dataset, dataSource={"dataLocation": str(path)}
            )["datasetImportJobArn"]
            assert (
                wait_for_status(
                    lambda job=job: client.describe_dataset_import_job(datasetImportJobArn=job)[
                        "datasetImportJob"
                    ]
                )["status"]
                == "ACTIVE"
            )
        solution = client.create_solution(
            name="rank",
            datasetGroupArn=group,
            recipeArn="arn:aws:personalize:::recipe/aws-personalized-ranking",
        )["solutionArn"]
        wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
        version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        assert (
            wait_for_status(
                lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"],
                timeout=600,
            )["status"]
            == "ACTIVE"
        )
        campaign = client.create_campaign(name="rank", solutionVersionArn=version)["campaignArn"]
        wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])

        user, genre = one_genre_user()
        query = {"query": {"multi_match": {"query": "the", "fields": ["TITLE"]}}, "size": 100}
        status, plain = call(live, "POST", "/search/ml/_search", query)
        assert status == 200 and len(plain["hits"]["hits"]) == 100
        shares = []
        for weight in (0.0, 0.25, 0.5, 0.75, 1.0):
            call(live, "PUT", f"/search/_search/pipeline/w{weight}", pipeline_body(campaign, weight))
            status, answer = call(
                live, "POST", f"/search/ml/_search?search_pipeline=w{weight}", for_user(query, user)
            )
            assert status == 200, answer
            if weight == 0.0:
                assert ids(answer) == ids(plain)
            top = answer["hits"]["hits"][:10]
            shares.append(sum(genre in hit["_source"]["GENRES"].split("|") for hit in top) / 10)
        assert shares == sorted(shares), (user, genre, shares)
        assert shares[-1] > shares[0], (user, genre, shares)
        print(json.dumps({"user": user, "genre": genre, "top10_share_by_weight": shares}))
    finally:
        stop()
