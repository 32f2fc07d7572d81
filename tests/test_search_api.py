"""Personalized search through the server: BM25 over the items, re-ranked per user by a pipeline."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import opensearchpy
import pytest
import requests
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
    cluster = OpenSearch(hosts=[{"host": "127.0.0.1", "port": port}], use_ssl=False)  # the root path
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


# -- OpenSearch's own paths at the root (issue 9): code written for an OpenSearch domain works unchanged ------
def test_opensearch_py_at_the_root_path_without_url_prefix(searchable: Searchable) -> None:
    port = int(searchable.server.url.rsplit(":", 1)[1])
    cluster = OpenSearch(hosts=[{"host": "127.0.0.1", "port": port}], use_ssl=False)
    assert cluster.ping() is True
    info = cluster.info()
    assert info["version"]["distribution"] == "opensearch" and info["tagline"].startswith("The OpenSearch")
    assert cluster.search_pipeline.put(id="root-pipe", body=pipeline(searchable.ranking, 1.0)) == {
        "acknowledged": True
    }
    assert cluster.search_pipeline.get(id="root-pipe") == {"root-pipe": pipeline(searchable.ranking, 1.0)}
    every = cluster.transport.perform_request("GET", "/_search/pipeline")
    assert "root-pipe" in every and every == cluster.search_pipeline.get()
    body = {k: v for k, v in QUERY.items() if k != "ext"}
    plain = cluster.search(index="movies", body=body)
    _, alias_plain = call(searchable.server, "POST", "/search/movies/_search", body)
    assert ids(plain) == ids(alias_plain) and len(ids(plain)) == 20
    personal = cluster.search(index="movies", body=QUERY, params={"search_pipeline": "root-pipe"})
    _, alias = call(searchable.server, "POST", "/search/movies/_search?search_pipeline=root-pipe", QUERY)
    assert ids(personal) == ids(alias) != ids(plain)
    # the nested settings form, read back nested and flat
    settings = {"index": {"search": {"default_pipeline": "root-pipe"}}}
    assert cluster.indices.put_settings(index="movies", body=settings) == {"acknowledged": True}
    read = cluster.indices.get_settings(index="movies")
    assert read["movies"]["settings"]["index"]["search"]["default_pipeline"] == "root-pipe"
    flat = cluster.indices.get_settings(index="movies", params={"flat_settings": "true"})
    assert flat["movies"]["settings"]["index.search.default_pipeline"] == "root-pipe"
    assert ids(cluster.search(index="movies", body=QUERY)) == ids(personal)  # the default applies
    assert ids(cluster.search(index="movies", body=QUERY, params={"search_pipeline": "_none"})) == ids(plain)
    cluster.indices.put_settings(index="movies", body={"index.search.default_pipeline": "_none"})
    assert "search" not in cluster.indices.get_settings(index="movies")["movies"]["settings"]["index"]
    assert cluster.search_pipeline.delete(id="root-pipe") == {"acknowledged": True}
    with pytest.raises(opensearchpy.NotFoundError):
        cluster.search_pipeline.get(id="root-pipe")


def test_requests_code_from_the_blog_with_and_without_trailing_slashes(searchable: Searchable) -> None:
    url = searchable.server.url
    headers = {"Content-Type": "application/json"}
    put = requests.put(
        f"{url}/_search/pipeline/blog", json=pipeline(searchable.ranking, 0.7), headers=headers, timeout=30
    )
    assert put.status_code == 200 and put.json() == {"acknowledged": True}
    for path in (
        "/_search/pipeline/blog",
        "/_search/pipeline/blog/",
        "/_search/pipeline/",
        "/_search/pipeline",
    ):
        got = requests.get(f"{url}{path}", allow_redirects=False, timeout=30)
        assert got.status_code == 200 and "blog" in got.json(), path
    answers = []
    for path in ("/movies/_search", "/movies/_search/"):
        for method in ("POST", "GET"):
            answer = requests.request(
                method,
                f"{url}{path}",
                params={"search_pipeline": "blog"},
                json=QUERY,
                headers=headers,
                allow_redirects=False,
                timeout=30,
            )
            assert answer.status_code == 200, (method, path, answer.text)
            answers.append(ids(answer.json()))
    _, alias = call(searchable.server, "POST", "/search/movies/_search?search_pipeline=blog", QUERY)
    assert answers == [ids(alias)] * 4
    settings = requests.put(
        f"{url}/movies/_settings/",
        json={"index.search.default_pipeline": "blog"},
        allow_redirects=False,
        timeout=30,
    )
    assert settings.status_code == 200
    assert requests.get(f"{url}/movies/_settings", timeout=30).json()["movies"]["settings"]["index"][
        "search"
    ] == {"default_pipeline": "blog"}
    requests.put(f"{url}/movies/_settings", json={"index": {"search.default_pipeline": "_none"}}, timeout=30)
    # the root: OpenSearch's info and ping for clients, the console for a browser, the control plane on POST
    assert requests.head(url, timeout=30).status_code == 200
    assert requests.get(url, timeout=30).json()["version"]["distribution"] == "opensearch"
    browser = requests.get(url, headers={"Accept": "text/html"}, allow_redirects=False, timeout=30)
    assert browser.status_code == 307 and browser.headers["location"] == "/console/"
    groups = searchable.server.client().list_dataset_groups()["datasetGroups"]
    assert [g["name"] for g in groups] == ["movies"]
    bad = requests.put(f"{url}/movies/_settings", json={"index": {"number_of_shards": 3}}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "illegal_argument_exception"


def test_no_index_name_is_shadowed_by_another_route(searchable: Searchable) -> None:
    """Every first path segment of the server's own routes, used as an index name, still reaches search."""
    segments = sorted(
        {
            route.path.strip("/").split("/")[0]
            for route in searchable.server.app.routes
            if route.path.strip("/") and not route.path.strip("/").startswith(("_", "{"))
        }
    )
    assert {"console", "search", "healthz", "recommendations", "events", "data"} <= set(segments)
    for name in segments:
        for method, path in (
            ("POST", "_search"),
            ("GET", "_search"),
            ("GET", "_settings"),
            ("PUT", "_settings"),
        ):
            answer = requests.request(method, f"{searchable.server.url}/{name}/{path}", json={}, timeout=30)
            assert answer.status_code == 404, (method, name, path, answer.text)
            assert answer.json()["error"]["type"] == "index_not_found_exception", (method, name, path)
