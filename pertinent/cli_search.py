"""``pertinent search``: a query against a running server, plain and personalized side by side."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from rich.console import Console
from rich.table import Table

from pertinent.search.compare import compare, for_user, pipeline_body


def post(endpoint: str, path: str, body: Any, method: str = "POST") -> Any:
    request = urllib.request.Request(
        f"{endpoint}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = json.loads(error.read()).get("error", {})
        raise SystemExit(
            f"search failed ({error.code}): {detail.get('type')}: {detail.get('reason')}"
        ) from None
    except urllib.error.URLError as error:
        raise SystemExit(f"cannot reach {endpoint}: {error.reason}; is `pertinent serve` running?") from None


def run_search(
    endpoint: str,
    index: str,
    text: str,
    fields: list[str],
    user_id: str,
    campaign_arn: str,
    weight: float,
    size: int,
    console: Console,
) -> None:
    query = {"query": {"multi_match": {"query": text, "fields": fields}}, "size": size}
    plain = post(endpoint, f"/search/{index}/_search", query)
    name = f"pertinent-cli-{abs(hash((campaign_arn, weight))) % 10**8}"
    post(endpoint, f"/search/_search/pipeline/{name}", pipeline_body(campaign_arn, weight), method="PUT")
    personalized = post(endpoint, f"/search/{index}/_search?search_pipeline={name}", for_user(query, user_id))
    label_fields = [f.split("^")[0] for f in fields]
    table = Table(
        title=f"“{text}” for {user_id} — plain BM25 vs personalized (weight {weight})", title_justify="left"
    )
    table.add_column("plain", justify="right")
    table.add_column("personalized", justify="right")
    table.add_column("change", justify="right")
    table.add_column("item")
    for row in compare(plain, personalized, label_fields):
        change = (
            f"[green]▲{row.delta}[/green]"
            if row.delta > 0
            else (f"[red]▼{-row.delta}[/red]" if row.delta < 0 else "·")
        )
        table.add_row(str(row.plain_rank), str(row.personalized_rank), change, row.label)
    console.print(table)
