"""Why an item is recommended to a user (native ``GET /explain``; Personalize has no such operation).

For a v2 campaign: the ranker's features that moved the item's score most (LightGBM's per-feature SHAP
contributions, with the feature's value for this request) and the user's history items most related
to it (transition, session co-occurrence and v1 item-item weights). For a v1 campaign: the history
items most similar to it by the model. Computed from the live history, like the recommendation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pertinent.errors import InvalidInputException, ResourceNotFoundException
from pertinent.recipes.v2.two_stage import TwoStageRecipe
from pertinent.serving.recommend import Recommender

__all__ = ["explain"]


def explain(
    recommender: Recommender,
    campaign_arn: str,
    user_id: str,
    item_id: str,
    context: Mapping[str, str] | None = None,
    top: int = 5,
) -> dict[str, Any]:
    if not campaign_arn or not user_id or not item_id:
        raise InvalidInputException("explain needs campaignArn, userId and itemId.")
    loaded = recommender.campaigns.get(campaign_arn)
    if loaded.recipe_type not in ("USER_PERSONALIZATION", "PERSONALIZED_RANKING"):
        raise InvalidInputException(
            f"Campaign {campaign_arn} uses {loaded.recipe_name}; explanations are for user-personalization "
            "and personalized-ranking campaigns."
        )
    model_item = loaded.model.item_index.get(item_id)
    if model_item is None:
        raise ResourceNotFoundException(f"Item {item_id!r} is not in the model of campaign {campaign_arn}.")
    catalog = recommender.data.catalog(loaded.dataset_group_arn, loaded.version_arn, loaded.model.item_ids)
    history = recommender.history(loaded, catalog, user_id)
    recipe = loaded.model.recipe
    ids = loaded.model.item_ids
    answer: dict[str, Any] = {"campaignArn": campaign_arn, "userId": user_id, "itemId": item_id}
    answer["recipe"] = loaded.recipe_name
    if isinstance(recipe, TwoStageRecipe):
        state = recommender._v2_state(loaded, recipe, user_id, history, context)
        found = recipe.explain_state(state, model_item, top=top)
        answer["score"] = found["score"]
        answer["baseline"] = found["baseline"]
        answer["features"] = found["features"]
        answer["signals"] = found["signals"]  # every feature's value for this request
        related = found["related_history"]
    else:
        if context:
            raise InvalidInputException(f"{loaded.recipe_name} does not use context; train a -v2 recipe.")
        similar = recipe._similar_scores(model_item)
        unique = np.unique(history.items)
        order = np.argsort(-similar[unique])[:top] if len(unique) else np.zeros(0, dtype=np.int64)
        related = [
            (int(unique[i]), float(similar[unique[i]])) for i in order.tolist() if similar[unique[i]] > 0
        ]
        answer["features"] = []
    answer["relatedHistory"] = [{"itemId": str(ids[i]), "strength": round(s, 6)} for i, s in related]
    return answer
