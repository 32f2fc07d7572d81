"""Domain use cases (recommender recipes) and how our recipes serve them: pure data.

Each row follows AWS's use-case pages: the event type a use case trains on ("Required event types"), the
events whose items the answer automatically leaves out for the user ("Amazon Personalize automatically
filters …"), and which of ``userId`` / ``itemId`` GetRecommendations needs. docs/recommenders.md cites them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pertinent.errors import InvalidInputException


@dataclass(frozen=True)
class UseCase:
    """How one domain use case is served by our recipes (docs/recommenders.md)."""

    domain: str
    base_recipe: str  # the recipe that trains it
    event_type: str | None  # trains only on this event type (None: every event type)
    exclude_event_type: str | None  # items the user had events of this type on are not recommended
    needs_user: bool
    needs_item: bool


USE_CASES: dict[str, UseCase] = {
    # ECOMMERCE (https://docs.aws.amazon.com/personalize/latest/dg/ECOMMERCE-use-cases.html)
    "aws-ecomm-popular-items-by-views": UseCase(
        "ECOMMERCE", "aws-popularity-count", "View", None, False, False
    ),
    "aws-ecomm-popular-items-by-purchases": UseCase(
        "ECOMMERCE", "aws-popularity-count", "Purchase", None, False, False
    ),
    "aws-ecomm-frequently-bought-together": UseCase("ECOMMERCE", "aws-sims", "Purchase", None, False, True),
    "aws-ecomm-customers-who-viewed-x-also-viewed": UseCase(
        "ECOMMERCE", "aws-sims", "View", "Purchase", False, True
    ),
    "aws-ecomm-recommended-for-you": UseCase(
        "ECOMMERCE", "aws-user-personalization", None, "Purchase", True, False
    ),
    # VIDEO_ON_DEMAND (https://docs.aws.amazon.com/personalize/latest/dg/VIDEO_ON_DEMAND-use-cases.html)
    "aws-vod-because-you-watched-x": UseCase("VIDEO_ON_DEMAND", "aws-sims", "Watch", "Watch", False, True),
    "aws-vod-more-like-x": UseCase("VIDEO_ON_DEMAND", "aws-similar-items", None, "Watch", False, True),
    "aws-vod-most-popular": UseCase("VIDEO_ON_DEMAND", "aws-popularity-count", "Watch", None, False, False),
    "aws-vod-trending-now": UseCase("VIDEO_ON_DEMAND", "aws-trending-now", None, None, False, False),
    "aws-vod-top-picks": UseCase("VIDEO_ON_DEMAND", "aws-user-personalization", None, "Watch", True, False),
}


def use_case_of(recipe_arn: str) -> UseCase:
    name = recipe_arn.rsplit("/", 1)[-1]
    use_case = USE_CASES.get(name)
    if use_case is None:
        raise InvalidInputException(f"{recipe_arn} is not a domain recipe (use case) for a recommender.")
    return use_case
