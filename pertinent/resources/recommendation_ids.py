"""Recommendation IDs that say where they came from, without a write per request.

A GetRecommendations answer's ``recommendationId`` is shaped like ``RID-<uuid>`` (40 characters, the most
PutEvents accepts back). pertinent puts the first 8 hex digits of a hash of the serving campaign's or
recommender's ARN in the first group and, for an A/B experiment, 3 hex digits of the experiment's ARN plus the
arm's index in the second group; the rest is random. Metric attribution reads the source back from an event's
``recommendationId`` (as Personalize does, docs/metric-attribution.md) by hashing the known sources.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

NO_TAG = "0000"
_PATTERN = re.compile(r"^RID-([0-9a-f]{8})-([0-9a-f]{4})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@functools.lru_cache(maxsize=1024)  # hashed on every answer, of a few ARNs
def source_code(arn: str) -> str:
    return hashlib.sha256(arn.encode()).hexdigest()[:8]


def experiment_code(arn: str) -> str:
    return hashlib.sha256(arn.encode()).hexdigest()[:3]


def new_recommendation_id(source_arn: str, experiment_arn: str | None = None, arm: int = 0) -> str:
    """``RID-<source hash>-<experiment tag>-<random>``; ``arm`` is 0–15."""
    tag = f"{experiment_code(experiment_arn)}{arm:x}" if experiment_arn is not None else NO_TAG
    rest = uuid.uuid4().hex
    return f"RID-{source_code(source_arn)}-{tag}-{rest[:4]}-{rest[4:8]}-{rest[8:20]}"


@dataclass(frozen=True)
class DecodedId:
    source_code: str
    experiment_code: str | None  # None: not served by an experiment
    arm: int


def decode(recommendation_id: str | None) -> DecodedId | None:
    """The parts of an ID pertinent issued, or None for any other string."""
    match = _PATTERN.match(recommendation_id or "")
    if match is None:
        return None
    tag = match[2]
    if tag == NO_TAG:
        return DecodedId(match[1], None, 0)
    return DecodedId(match[1], tag[:3], int(tag[3], 16))


def source_index(arns: Iterable[str]) -> dict[str, str]:
    """Source hash → ARN for the given campaign and recommender ARNs."""
    return {source_code(arn): arn for arn in arns}
