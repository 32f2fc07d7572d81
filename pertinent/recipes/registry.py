"""Recipe name → class: what a solution's ``recipeArn`` trains (``arn:aws:personalize:::recipe/<name>``)."""

from __future__ import annotations

from pathlib import Path

from pertinent.recipes.base import Recipe, read_recipe_name
from pertinent.recipes.item_affinity import ItemAffinity, ItemAttributeAffinity
from pertinent.recipes.personalized_ranking import PersonalizedRanking
from pertinent.recipes.popularity_count import PopularityCount
from pertinent.recipes.similar_items import SimilarItems, Sims
from pertinent.recipes.trending_now import TrendingNow
from pertinent.recipes.user_personalization import UserPersonalization
from pertinent.recipes.v2.two_stage import PersonalizedRankingV2, UserPersonalizationV2

__all__ = ["RECIPE_CLASSES", "UnknownRecipeError", "get_recipe_class", "load_recipe"]

RECIPE_CLASSES: dict[str, type[Recipe]] = {
    cls.name: cls
    for cls in (
        PopularityCount,
        TrendingNow,
        UserPersonalization,
        UserPersonalizationV2,
        PersonalizedRanking,
        PersonalizedRankingV2,
        SimilarItems,
        Sims,
        ItemAffinity,
        ItemAttributeAffinity,
    )
}


class UnknownRecipeError(KeyError):
    """No trainable recipe has that name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown recipe"


def get_recipe_class(name: str) -> type[Recipe]:
    """The class for a recipe name or recipe ARN (``arn:aws:personalize:::recipe/aws-sims``).

    Examples
    --------
    >>> get_recipe_class("arn:aws:personalize:::recipe/aws-sims").__name__
    'Sims'
    """
    key = name.rsplit("/", 1)[-1] if name.startswith("arn:") else name
    try:
        return RECIPE_CLASSES[key]
    except KeyError:
        known = ", ".join(sorted(RECIPE_CLASSES))
        raise UnknownRecipeError(
            f"Recipe {name!r} cannot be trained by pertinent; trainable recipes: {known}."
        ) from None


def load_recipe(path: str | Path) -> Recipe:
    """Load a model saved with :meth:`Recipe.save`, whatever its recipe."""
    return get_recipe_class(read_recipe_name(path)).load(path)
