"""aws-personalized-ranking: the user-personalization scorers over a caller's list of items."""

from __future__ import annotations

from typing import ClassVar

from pertinent.recipes.base import HyperParameter, RecipeType
from pertinent.recipes.user_personalization import (
    BPTT,
    ENGINE_HYPERPARAMETERS,
    HIDDEN_DIMENSION,
    HISTORY_PERCENTILES,
    RECENCY_MASK,
    UserPersonalization,
)

__all__ = ["PersonalizedRanking"]


class PersonalizedRanking(UserPersonalization):
    """Personalized-ranking: re-ranks GetPersonalizedRanking's ``inputList`` with EASE or iALS.

    Same models and hyperparameters as :class:`UserPersonalization` minus exploration; :meth:`rank`
    returns a softmax over the input items only (they sum to 1), as Personalize does.

    Examples
    --------
    >>> from pertinent.training.matrix import InteractionData
    >>> data = InteractionData.from_indices([0, 0, 1, 1, 2, 2, 3, 3], [0, 1, 0, 1, 2, 3, 2, 3])
    >>> ids, scores = PersonalizedRanking().fit(data, {"ease_min_item_users": "1"}).rank([0], [3, 1, 2])
    >>> int(ids[0]), round(float(scores.sum()), 6)
    (1, 1.0)
    """

    name: ClassVar[str] = "aws-personalized-ranking"
    recipe_type: ClassVar[RecipeType] = "PERSONALIZED_RANKING"
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = (
        HIDDEN_DIMENSION,
        BPTT,
        RECENCY_MASK,
        *HISTORY_PERCENTILES,
        *ENGINE_HYPERPARAMETERS,
    )
