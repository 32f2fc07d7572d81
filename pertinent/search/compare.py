"""Plain versus personalized results side by side, with each hit's rank change (like the plugin's
evaluation notebook)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ComparedHit:
    item_id: str
    label: str
    plain_rank: int  # 1-based
    personalized_rank: int

    @property
    def delta(self) -> int:
        """Positive: moved up by personalization."""
        return self.plain_rank - self.personalized_rank


def pipeline_body(campaign_arn: str, weight: float, region: str = "us-east-1") -> dict[str, Any]:
    """A search pipeline with one personalized_search_ranking processor (PUT it under a name: like the
    plugin, this processor cannot be given ad hoc inside a search request)."""
    return {"response_processors": [{"personalized_search_ranking": {
        "campaign_arn": campaign_arn, "recipe": "aws-personalized-ranking", "weight": weight,
        "aws_region": region}}]}


def for_user(query: Mapping[str, Any], user_id: str) -> dict[str, Any]:
    """``query`` with ``ext.personalize_request_parameters.user_id`` set."""
    return {**query, "ext": {"personalize_request_parameters": {"user_id": user_id}}}


def compare(
    plain: Mapping[str, Any], personalized: Mapping[str, Any], label_fields: Sequence[str] = ("TITLE",)
) -> list[ComparedHit]:
    """The personalized order, each hit with its plain and personalized rank."""
    plain_hits = plain["hits"]["hits"]
    plain_rank = {hit["_id"]: n for n, hit in enumerate(plain_hits, 1)}
    rows = []
    for n, hit in enumerate(personalized["hits"]["hits"], 1):
        source = hit.get("_source") or {}
        label = " · ".join(str(source[f]) for f in label_fields if source.get(f) is not None) or hit["_id"]
        rows.append(ComparedHit(hit["_id"], label, plain_rank.get(hit["_id"], 0), n))
    return rows
