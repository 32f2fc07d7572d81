"""Build and parse Personalize ARNs (``arn:aws:personalize:{region}:{account}:{kind}/{id}``)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from pertinent.errors import InvalidInputException

_ARN = re.compile(
    r"^arn:(?P<partition>[a-z\d-]+):personalize:(?P<region>[^:]*):(?P<account>[^:]*):(?P<rest>.+)$"
)

#: resource kinds as they appear in ARNs
KINDS = (
    "dataset-group",
    "schema",
    "dataset",
    "dataset-import-job",
    "dataset-export-job",
    "data-deletion-job",
    "event-tracker",
    "filter",
    "solution",
    "campaign",
    "recommender",
    "batch-inference-job",
    "batch-segment-job",
    "metric-attribution",
    "recipe",
    "algorithm",
    "feature-transformation",
)


@dataclass(frozen=True)
class Arn:
    """A parsed ARN. ``kind`` is e.g. ``solution``; ``path`` the part after ``kind/``."""

    partition: str
    region: str
    account: str
    kind: str
    path: str

    @property
    def parts(self) -> list[str]:
        return self.path.split("/")

    def __str__(self) -> str:
        return f"arn:{self.partition}:personalize:{self.region}:{self.account}:{self.kind}/{self.path}"


@functools.lru_cache(maxsize=4096)  # the serving path parses the same few ARNs on every request
def parse(arn: str) -> Arn:
    """Parse ``arn``; raise InvalidInputException naming it when it is not a Personalize ARN (an
    :class:`Arn` is immutable, so one parse is shared by every caller)."""
    match = _ARN.match(arn)
    if not match or "/" not in match["rest"]:
        raise InvalidInputException(f"{arn!r} is not a valid Amazon Personalize ARN.")
    kind, path = match["rest"].split("/", 1)
    return Arn(match["partition"], match["region"], match["account"], kind, path)


def build(region: str, account: str, kind: str, *path: str) -> str:
    """``build("us-east-1", "000000000000", "solution", "s", "abc")`` → ``…:solution/s/abc``."""
    return f"arn:aws:personalize:{region}:{account}:{kind}/{'/'.join(path)}"


def recipe_arn(name: str) -> str:
    """AWS-owned recipes have an empty region and account."""
    return f"arn:aws:personalize:::recipe/{name}"


def is_latest_alias(arn: str) -> bool:
    """``…:solution/{name}/$LATEST`` stands for a solution's newest ACTIVE version."""
    return arn.endswith("/$LATEST")
