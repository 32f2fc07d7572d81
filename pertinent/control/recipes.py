"""ListRecipes and DescribeRecipe over the static catalog."""

from __future__ import annotations

from pertinent.control.common import Operation, Record
from pertinent.control.context import Context
from pertinent.errors import InvalidNextTokenException, ResourceNotFoundException
from pertinent.recipes.catalog import ALL_RECIPES, RecipeInfo

#: the catalog is AWS-owned; its timestamps are fixed
CATALOG_TIME = 1_546_300_800.0  # 2019-01-01


def _record(recipe: RecipeInfo) -> Record:
    return {
        "name": recipe.name,
        "recipe_arn": recipe.arn,
        "algorithm_arn": recipe.algorithm_arn,
        "feature_transformation_arn": recipe.feature_transformation_arn,
        "status": "ACTIVE",
        "description": recipe.description,
        "recipe_type": recipe.recipe_type,
        "domain": recipe.domain,
        "creation_date_time": CATALOG_TIME,
        "last_updated_date_time": CATALOG_TIME,
    }


def list_recipes(
    ctx: Context,
    recipe_provider: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
    domain: str | None = None,
) -> Record:
    recipes = [_record(r) for r in ALL_RECIPES.values() if domain is None or r.domain == domain]
    try:
        offset = int(next_token) if next_token else 0
    except ValueError:
        raise InvalidNextTokenException("The token is not valid.") from None
    if not 0 <= offset <= len(recipes):
        raise InvalidNextTokenException("The token is not valid.")
    limit = max_results or 100
    page = recipes[offset : offset + limit]
    token = str(offset + limit) if offset + limit < len(recipes) else None
    return {"recipes": page, "next_token": token}


def describe_recipe(ctx: Context, recipe_arn: str) -> Record:
    recipe = ALL_RECIPES.get(recipe_arn)
    if recipe is None:
        raise ResourceNotFoundException(f"Could not find recipe with ARN {recipe_arn}.")
    return {"recipe": _record(recipe)}


OPERATIONS: dict[str, Operation] = {"ListRecipes": list_recipes, "DescribeRecipe": describe_recipe}
