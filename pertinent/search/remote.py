"""Re-rank hits from a real OpenSearch or Elasticsearch cluster on the client side.

Runs the query on the cluster with opensearch-py, then applies the same ``personalized_search_ranking``
processor the server uses, asking any Personalize-compatible runtime (pertinent's, or AWS's own) for the
user's order::

    from opensearchpy import OpenSearch
    import boto3
    from pertinent.search.remote import personalized_search

    cluster = OpenSearch(hosts=[{"host": "localhost", "port": 9200}])
    runtime = boto3.client("personalize-runtime", endpoint_url="http://127.0.0.1:8080",
                           region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    hits = personalized_search(cluster, "movies", {"query": {"match": {"title": "love"}}},
                               runtime=runtime, campaign_arn=CAMPAIGN_ARN, user_id="429", weight=0.5)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pertinent.search.pipelines import PersonalizedRankingProcessor, apply_pipeline


def personalized_search(
    cluster: Any,
    index: str,
    body: Mapping[str, Any],
    *,
    runtime: Any,
    campaign_arn: str,
    user_id: str,
    weight: float,
    item_id_field: str | None = None,
    context: Mapping[str, str] | None = None,
    ignore_failure: bool = False,
    recipe: str = "aws-personalized-ranking",
) -> dict[str, Any]:
    """``cluster.search(index, body)`` re-ranked for ``user_id`` with the plugin's blend at ``weight``.

    ``cluster`` is an opensearch-py (or elasticsearch-py) client; ``runtime`` a boto3 ``personalize-runtime``
    client. ``item_id_field`` names the ``_source`` field holding the item id (default: the hit's ``_id``).
    """
    response = cluster.search(index=index, body=dict(body))
    processor = PersonalizedRankingProcessor(
        campaign_arn=campaign_arn,
        recipe=recipe,
        aws_region=runtime.meta.region_name,
        weight=weight,
        item_id_field=item_id_field,
        ignore_failure=ignore_failure,
    )

    def rank(user: str, item_ids: list[str], request_context: dict[str, str]) -> list[str]:
        kwargs: dict[str, Any] = {"campaignArn": campaign_arn, "userId": user, "inputList": item_ids}
        if request_context:
            kwargs["context"] = request_context
        answer = runtime.get_personalized_ranking(**kwargs)
        return [entry["itemId"] for entry in answer["personalizedRanking"]]

    return apply_pipeline(response, processor, rank, user_id, context)
