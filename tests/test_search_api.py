"""Personalized search through the server: BM25 over the items, re-ranked per user by a pipeline."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opensearchpy import OpenSearch

from pertinent.config import load_settings
from pertinent.search.remote import personalized_search
from tests.conftest import Group, LiveServer, make_group, start_server, wait_for_status


@dataclass
class Searchable:
    server: LiveServer
    group: Group
    ranking: str


@pytest.fixture(scope="module")
def searchable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Searchable]:
    tmp = tmp_path_factory.mktemp("search")
    live, stop = start_server(load_settings(data_dir=tmp / "data", worker_poll_seconds=0.05))
    client = live.client()
    group = make_group(client, tmp, with_items=True)
    solution = client.create_solution(
        name="rank",
        datasetGroupArn=group.arn,
        recipeArn="arn:aws:personalize:::recipe/aws-personalized-ranking",
    )["solutionArn"]
    wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait_for_status(
        lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"], timeout=300
    )
    campaign = client.create_campaign(name="rank", solutionVersionArn=version)["campaignArn"]
    wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"])
    yield Searchable(live, group, campaign)
    stop()


def call(server: LiveServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{server.url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def ids(response: dict[str, Any]) -> list[str]:
    return [hit["_id"] for hit in response["hits"]["hits"]]


def pipeline(campaign: str, weight: float, **extra: Any) -> dict[str, Any]:
    return {
        "response_processors": [
            {
                "personalized_search_ranking": {
                    "campaign_arn": campaign,
                    "recipe": "aws-personalized-ranking",
                    "weight": weight,
                    "aws_region": "us-east-1",
                    **extra,
                }
            }
        ]
    }


QUERY = {
    "query": {"multi_match": {"query": "sequel comedy", "fields": ["TITLE^2", "GENRES"]}},
    "size": 20,
    "ext": {"personalize_request_parameters": {"user_id": "u1"}},
}


def test_weight_moves_the_users_taste_up_and_weight_zero_is_plain_bm25(searchable: Searchable) -> None:
    status, plain = call(
        searchable.server, "POST", "/search/movies/_search", {k: v for k, v in QUERY.items() if k != "ext"}
    )
    assert status == 200 and len(plain["hits"]["hits"]) == 20
    odd_share = []
    for weight in (0.0, 0.3, 0.7, 1.0):
        status, _ = call(
            searchable.server,
            "PUT",
            f"/search/_search/pipeline/w{int(weight * 10)}",
            pipeline(searchable.ranking, weight),
        )
        assert status == 200
        status, answer = call(
            searchable.server, "POST", f"/search/movies/_search?search_pipeline=w{int(weight * 10)}", QUERY
        )
        assert status == 200, answer
        if weight == 0.0:
            assert ids(answer) == ids(plain)
        assert sorted(ids(answer)) == sorted(ids(plain))  # re-ranking never adds or drops hits
        top = ids(answer)[:10]
        odd_share.append(sum(int(i[1:]) % 2 for i in top) / len(top))  # u1 likes odd items
    assert odd_share == sorted(odd_share), odd_share
    assert odd_share[-1] > odd_share[0]
    assert odd_share[-1] >= 0.9


def test_pipeline_errors_and_ignore_failure(searchable: Searchable) -> None:
    server = searchable.server
    status, error = call(server, "PUT", "/search/_search/pipeline/bad", pipeline(searchable.ranking, 1.5))
    assert status == 400 and "weight" in json.dumps(error)
    status, error = call(server, "POST", "/search/movies/_search?search_pipeline=nope", QUERY)
    assert status == 404
    call(server, "PUT", "/search/_search/pipeline/p", pipeline(searchable.ranking, 0.5))
    status, error = call(
        server, "POST", "/search/movies/_search?search_pipeline=p", {"query": {"match": {"TITLE": "sequel"}}}
    )
    assert status == 400 and "user_id" in json.dumps(error)
    status, error = call(server, "POST", "/search/movies/_search", {"query": {"matchh": {"TITLE": "x"}}})
    assert status == 400 and error["error"]["type"] == "parsing_exception"
    missing = "arn:aws:personalize:us-east-1:000000000000:campaign/missing"
    call(server, "PUT", "/search/_search/pipeline/lenient", pipeline(missing, 0.5, ignore_failure=True))
    call(server, "PUT", "/search/_search/pipeline/strict", pipeline(missing, 0.5))
    _, plain = call(server, "POST", "/search/movies/_search", {k: v for k, v in QUERY.items() if k != "ext"})
    status, lenient = call(server, "POST", "/search/movies/_search?search_pipeline=lenient", QUERY)
    assert status == 200 and ids(lenient) == ids(plain)
    status, strict = call(server, "POST", "/search/movies/_search?search_pipeline=strict", QUERY)
    assert status == 400 and "campaign/missing" in json.dumps(
        strict
    )  # the plugin turns Personalize 4xx into 400
    status, error = call(server, "POST", "/search/no-such-group/_search", {})
    assert status == 404 and error["error"]["type"] == "index_not_found_exception"


def test_default_pipeline_and_new_items(searchable: Searchable) -> None:
    server = searchable.server
    call(server, "PUT", "/search/_search/pipeline/default", pipeline(searchable.ranking, 1.0))
    status, _ = call(server, "PUT", "/search/movies/_settings", {"index.search.default_pipeline": "default"})
    assert status == 200
    status, answer = call(server, "POST", "/search/movies/_search", QUERY)
    assert {int(i[1:]) % 2 for i in ids(answer)[:5]} == {1}
    call(server, "PUT", "/search/movies/_settings", {"index.search.default_pipeline": "_none"})
    server.client("personalize-events").put_items(
        datasetArn=searchable.group.items_arn,
        items=[
            {
                "itemId": "fresh",
                "properties": json.dumps({"genres": "Western", "title": "Zanzibar express", "year": 2026}),
            }
        ],
    )
    status, answer = call(
        server, "POST", "/search/movies/_search", {"query": {"match": {"TITLE": "zanzibar"}}}
    )
    assert status == 200 and ids(answer) == ["fresh"]


def test_client_side_helper_on_hits_from_an_opensearch_client(searchable: Searchable) -> None:
    port = int(searchable.server.url.rsplit(":", 1)[1])
    cluster = OpenSearch(hosts=[{"host": "127.0.0.1", "port": port, "url_prefix": "search"}], use_ssl=False)
    runtime = searchable.server.client("personalize-runtime")
    body = {k: v for k, v in QUERY.items() if k != "ext"}
    remote = personalized_search(
        cluster, "movies", body, runtime=runtime, campaign_arn=searchable.ranking, user_id="u1", weight=0.7
    )
    call(searchable.server, "PUT", "/search/_search/pipeline/same", pipeline(searchable.ranking, 0.7))
    _, server_side = call(searchable.server, "POST", "/search/movies/_search?search_pipeline=same", QUERY)
    assert ids(remote) == ids(server_side)
    assert time.time() > 0


def test_search_command_prints_both_orders(searchable: Searchable) -> None:
    from click.testing import CliRunner

    from pertinent.cli import main

    result = CliRunner().invoke(
        main,
        [
            "search",
            "sequel comedy",
            "--index",
            "movies",
            "--user-id",
            "u1",
            "--campaign-arn",
            searchable.ranking,
            "--weight",
            "1",
            "--endpoint",
            searchable.server.url,
            "--size",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "plain BM25 vs personalized" in result.output
    assert "▲" in result.output and "Movie " in result.output
    missing = CliRunner().invoke(
        main,
        [
            "search",
            "x",
            "--index",
            "nope",
            "--user-id",
            "u1",
            "--campaign-arn",
            searchable.ranking,
            "--endpoint",
            searchable.server.url,
        ],
    )
    assert missing.exit_code == 1 and "index_not_found_exception" in missing.output
