"""aws-popularity-count: the same most popular items for everyone (Personalize's metrics baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from pertinent.recipes.base import Recipe, RecipeType, ScoreArray

if TYPE_CHECKING:
    from pertinent.training.matrix import InteractionData

__all__ = ["PopularityCount"]


class PopularityCount(Recipe):
    """Items ranked by how many unique users interacted with them; no hyperparameters.

    The history is ignored, so every user gets the same list (exclusions aside). Scores are the unique
    user counts (Personalize returns no scores for this recipe; serving may drop them).

    Examples
    --------
    >>> from pertinent.training.matrix import InteractionData
    >>> data = InteractionData.from_indices([0, 0, 1, 2], [1, 1, 1, 0])
    >>> ids, scores = PopularityCount().fit(data).recommend([1], n=2)
    >>> ids.tolist(), scores.tolist()
    ([1, 0], [2.0, 1.0])
    """

    name: ClassVar[str] = "aws-popularity-count"
    recipe_type: ClassVar[RecipeType] = "POPULAR_ITEMS"

    def _fit(self, data: InteractionData) -> None:
        pass  # item_popularity_ (set by fit) is the whole model

    def _score(
        self, histories: Sequence[NDArray[np.int64]], weights: Sequence[NDArray[np.float32]]
    ) -> ScoreArray:
        return np.broadcast_to(self.item_popularity_, (len(histories), self.n_items_))

    def _similar_scores(self, item: int) -> ScoreArray:
        return self.item_popularity_

    def _state(self) -> dict[str, NDArray[Any]]:
        return {}

    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        pass
