"""aws-trending-now: the items whose interactions grow fastest between the last two trend windows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from pertinent.recipes.base import HyperParameter, Recipe, RecipeType, ScoreArray

if TYPE_CHECKING:
    from pertinent.training.matrix import InteractionData

__all__ = ["TREND_WINDOWS", "TrendingNow"]

#: Personalize's "Trend discovery frequency" choices, in seconds.
TREND_WINDOWS: dict[str, int] = {
    "30 minutes": 1800,
    "1 hour": 3600,
    "2 hours": 2 * 3600,
    "3 hours": 3 * 3600,
    "1 day": 86400,
}


class TrendingNow(Recipe):
    """Trending items: the largest increase in interactions from the previous window to the latest one.

    With ``W`` the trend discovery frequency and ``t`` the newest timestamp in the data, an item's score
    is ``max(0, count(t-W, t] - count(t-2W, t-W])``. Items that do not grow tie at 0 and fall back to
    overall popularity, so with no interactions in the last two windows the recipe returns popular
    items, as Personalize does. The history is ignored.

    Examples
    --------
    >>> from pertinent.training.matrix import InteractionData
    >>> day = 86400
    >>> data = InteractionData.from_indices(
    ...     [0, 1, 2, 3, 4, 5], [0, 0, 0, 1, 1, 1], timestamps=[0, 0, 0, day, day, day])
    >>> TrendingNow().fit(data, {"trend_discovery_frequency": "1 day"}).recommend([], n=2)[0].tolist()
    [1, 0]
    """

    name: ClassVar[str] = "aws-trending-now"
    recipe_type: ClassVar[RecipeType] = "POPULAR_ITEMS"
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = (
        HyperParameter(
            "trend_discovery_frequency",
            "categorical",
            "2 hours",
            values=tuple(TREND_WINDOWS),
            tunable=False,
            description="Length of the trend window (Personalize's Trend discovery frequency; AWS passes it "
            "in featureTransformationParameters, which the training pipeline honours).",
        ),
    )

    trend_scores_: NDArray[np.float32]
    window_end_: int

    def _fit(self, data: InteractionData) -> None:
        window = TREND_WINDOWS[str(self.params_["trend_discovery_frequency"])]
        end = int(data.timestamps.max()) if data.n_interactions else 0
        latest = (data.timestamps > end - window) & (data.timestamps <= end)
        previous = (data.timestamps > end - 2 * window) & (data.timestamps <= end - window)
        growth = np.bincount(data.item_idx[latest], minlength=data.n_items).astype(np.float64)
        growth -= np.bincount(data.item_idx[previous], minlength=data.n_items)
        self.trend_scores_ = np.maximum(growth, 0.0).astype(np.float32)
        self.window_end_ = end

    def _score(
        self, histories: Sequence[NDArray[np.int64]], weights: Sequence[NDArray[np.float32]]
    ) -> ScoreArray:
        return np.broadcast_to(self.trend_scores_, (len(histories), self.n_items_))

    def _similar_scores(self, item: int) -> ScoreArray:
        return self.trend_scores_

    def _state(self) -> dict[str, NDArray[Any]]:
        return {"trend_scores_": self.trend_scores_}

    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        self.trend_scores_ = arrays["trend_scores_"].astype(np.float32)
        self.window_end_ = int(meta["window_end"])

    def _meta(self) -> dict[str, Any]:
        return {"window_end": self.window_end_}
