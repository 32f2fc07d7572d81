"""Personalize's recipe catalog as ListRecipes/DescribeRecipe report it (AWS-owned, read-only).

Which of these pertinent can train is decided by :mod:`pertinent.recipes.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pertinent.arns import recipe_arn


@dataclass(frozen=True)
class RecipeInfo:
    name: str
    recipe_type: str
    description: str
    algorithm: str | None = None
    feature_transformation: str | None = None
    domain: str | None = None

    @property
    def arn(self) -> str:
        return recipe_arn(self.name)

    @property
    def algorithm_arn(self) -> str:
        return f"arn:aws:personalize:::algorithm/{self.algorithm or self.name}"

    @property
    def feature_transformation_arn(self) -> str | None:
        if self.feature_transformation is None:
            return None
        return f"arn:aws:personalize:::feature-transformation/{self.feature_transformation}"


CUSTOM_RECIPES: tuple[RecipeInfo, ...] = (
    RecipeInfo(
        "aws-user-personalization",
        "USER_PERSONALIZATION",
        "Recommends items for a user from the user's whole history, including real-time events; "
        "explores new items.",
        feature_transformation="JSON-percentile-filtering",
    ),
    RecipeInfo(
        "aws-user-personalization-v2",
        "USER_PERSONALIZATION",
        "User-Personalization, second version: candidates from the v1 scorer, item-to-item transitions, "
        "session co-occurrence, metadata, popular, trending and new items, ranked by a LambdaMART model "
        "over live-history, context and metadata features.",
    ),
    RecipeInfo(
        "aws-personalized-ranking",
        "PERSONALIZED_RANKING",
        "Ranks a list of candidate items for a user.",
        feature_transformation="JSON-percentile-filtering",
    ),
    RecipeInfo(
        "aws-personalized-ranking-v2",
        "PERSONALIZED_RANKING",
        "Personalized-Ranking, second version: the v2 engine's LambdaMART ranker over the input list.",
    ),
    RecipeInfo(
        "aws-popularity-count",
        "USER_PERSONALIZATION",
        "The items with the most interactions from unique users; the baseline for metrics.",
        feature_transformation="sims",
    ),
    RecipeInfo(
        "aws-trending-now",
        "USER_PERSONALIZATION",
        "Items whose interactions grow fastest over the trend window.",
        algorithm="aws-trending-now-custom",
    ),
    RecipeInfo(
        "aws-similar-items",
        "RELATED_ITEMS",
        "Items similar to a given item, from co-occurrence blended with item metadata.",
    ),
    RecipeInfo(
        "aws-sims",
        "RELATED_ITEMS",
        "Item-to-item collaborative filtering on co-occurrence in user histories.",
        feature_transformation="sims",
    ),
    RecipeInfo(
        "aws-semantic-similarity",
        "RELATED_ITEMS",
        "Items similar in meaning from text embeddings of item metadata.",
    ),
    RecipeInfo(
        "aws-item-affinity",
        "USER_SEGMENTATION",
        "For each item, the users most likely to interact with it.",
        feature_transformation="item-affinity",
    ),
    RecipeInfo(
        "aws-item-attribute-affinity",
        "USER_SEGMENTATION",
        "For each item-attribute query, the users most likely to interact.",
        feature_transformation="item-attribute-affinity",
    ),
    RecipeInfo(
        "aws-next-best-action",
        "PERSONALIZED_ACTIONS",
        "Actions ranked by the user's propensity to take them.",
    ),
)

DOMAIN_RECIPES: tuple[RecipeInfo, ...] = tuple(
    RecipeInfo(name, recipe_type, description, domain=domain)
    for name, recipe_type, description, domain in (
        ("aws-ecomm-popular-items-by-views", "POPULAR_ITEMS", "Most viewed", "ECOMMERCE"),
        ("aws-ecomm-popular-items-by-purchases", "POPULAR_ITEMS", "Best sellers", "ECOMMERCE"),
        ("aws-ecomm-frequently-bought-together", "RELATED_ITEMS", "Frequently bought together", "ECOMMERCE"),
        (
            "aws-ecomm-customers-who-viewed-x-also-viewed",
            "RELATED_ITEMS",
            "Customers who viewed X also viewed",
            "ECOMMERCE",
        ),
        ("aws-ecomm-recommended-for-you", "USER_PERSONALIZATION", "Recommended for you", "ECOMMERCE"),
        ("aws-vod-because-you-watched-x", "RELATED_ITEMS", "Because you watched X", "VIDEO_ON_DEMAND"),
        ("aws-vod-more-like-x", "RELATED_ITEMS", "More like X", "VIDEO_ON_DEMAND"),
        ("aws-vod-most-popular", "POPULAR_ITEMS", "Most popular", "VIDEO_ON_DEMAND"),
        ("aws-vod-trending-now", "POPULAR_ITEMS", "Trending now", "VIDEO_ON_DEMAND"),
        ("aws-vod-top-picks", "USER_PERSONALIZATION", "Top picks for you", "VIDEO_ON_DEMAND"),
    )
)

ALL_RECIPES: dict[str, RecipeInfo] = {r.arn: r for r in CUSTOM_RECIPES + DOMAIN_RECIPES}
