"""GetSolutionMetrics: the offline metrics of personalize_api.md §9, computed exactly as documented.

For each held-out user the model recommends 25 items from the user's input history (the input itself is
excluded); the user's newest items are the relevant ones. Per-user values are averaged over users.

* ``precision_at_K``: relevant items in the top K, divided by K.
* ``normalized_discounted_cumulative_gain_at_K``: sum of ``1/log(1 + position)`` over relevant items in the
  top K (positions start at 1), divided by the same sum for the ideal ranking (all relevant items first).
* ``mean_reciprocal_rank_at_25``: ``1/position`` of the first relevant item in the top 25, 0 if none.
* ``coverage``: distinct items recommended to the held-out users / items in Interactions + Items.

Worked example from the documentation: relevant items at ranks 2 and 5 give NDCG@5 = 0.6241, precision@5
= 0.4 and reciprocal rank 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pertinent.recipes.base import Recipe
from pertinent.training.splits import HoldoutSplit

__all__ = [
    "METRIC_NAMES",
    "coverage",
    "evaluate",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_metrics",
    "reciprocal_rank_at_k",
]

METRIC_NAMES: tuple[str, ...] = (
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
)

_CUTOFFS = (5, 10, 25)
_MAX_K = 25


def _hits(recommended: NDArray[Any], relevant: NDArray[Any], k: int) -> NDArray[np.bool_]:
    top = np.asarray(recommended)[:k]
    return np.isin(top, np.asarray(relevant)) & (top >= 0)


def precision_at_k(recommended: NDArray[Any], relevant: NDArray[Any], k: int) -> float:
    """Relevant items among the first ``k`` recommendations, divided by ``k``.

    Examples
    --------
    >>> precision_at_k(np.array([9, 1, 8, 7, 2]), np.array([1, 2]), 5)
    0.4
    """
    return float(np.count_nonzero(_hits(recommended, relevant, k))) / k


def ndcg_at_k(recommended: NDArray[Any], relevant: NDArray[Any], k: int) -> float:
    """Normalized discounted cumulative gain with weight ``1/log(1 + position)``.

    Examples
    --------
    >>> round(ndcg_at_k(np.array([9, 1, 8, 7, 2]), np.array([1, 2]), 5), 4)
    0.6241
    """
    n_relevant = len(np.unique(np.asarray(relevant)))
    if n_relevant == 0:
        return 0.0
    hits = _hits(recommended, relevant, k)
    positions = np.flatnonzero(hits) + 1
    dcg = float(np.sum(1.0 / np.log1p(positions)))
    ideal = float(np.sum(1.0 / np.log1p(np.arange(1, min(n_relevant, k) + 1))))
    return dcg / ideal


def reciprocal_rank_at_k(recommended: NDArray[Any], relevant: NDArray[Any], k: int = _MAX_K) -> float:
    """``1/position`` of the first relevant item within the top ``k``, 0 if there is none.

    Examples
    --------
    >>> reciprocal_rank_at_k(np.array([9, 1, 8, 7, 2]), np.array([1, 2]))
    0.5
    """
    positions = np.flatnonzero(_hits(recommended, relevant, k))
    return 0.0 if len(positions) == 0 else 1.0 / float(positions[0] + 1)


def coverage(recommended: Sequence[NDArray[Any]] | NDArray[Any], n_catalog_items: int) -> float:
    """Distinct items that appear in any recommendation list, divided by the catalog size."""
    if n_catalog_items <= 0:
        return 0.0
    lists = [np.asarray(r).ravel() for r in recommended]
    if not lists:
        return 0.0
    items = np.unique(np.concatenate(lists))
    return float(np.count_nonzero(items >= 0)) / n_catalog_items


def ranking_metrics(
    recommended: Sequence[NDArray[Any]] | NDArray[Any],
    relevant: Sequence[NDArray[Any]],
    n_catalog_items: int,
) -> dict[str, float]:
    """Every §9 metric, averaged over users (``recommended[u]`` is user u's top 25, best first)."""
    if len(recommended) != len(relevant):
        raise ValueError("recommended and relevant must have one entry per user")
    metrics = dict.fromkeys(METRIC_NAMES, 0.0)
    n_users = len(relevant)
    if n_users == 0:
        return metrics
    for rec, rel in zip(recommended, relevant, strict=True):
        rec_arr = np.asarray(rec)
        rel_arr = np.asarray(rel)
        metrics["mean_reciprocal_rank_at_25"] += reciprocal_rank_at_k(rec_arr, rel_arr, _MAX_K)
        for k in _CUTOFFS:
            metrics[f"normalized_discounted_cumulative_gain_at_{k}"] += ndcg_at_k(rec_arr, rel_arr, k)
            metrics[f"precision_at_{k}"] += precision_at_k(rec_arr, rel_arr, k)
    for name in METRIC_NAMES:
        metrics[name] /= n_users
    metrics["coverage"] = coverage(recommended, n_catalog_items)
    return metrics


def recommend_for_split(
    recipe: Recipe, split: HoldoutSplit, *, n: int = _MAX_K, batch_size: int = 512
) -> NDArray[np.int64]:
    """Top ``n`` for every scored user of ``split`` from their input history (input excluded)."""
    rows: list[NDArray[np.int64]] = []
    for start in range(0, len(split), batch_size):
        stop = start + batch_size
        ids, _ = recipe.recommend_batch(
            split.inputs[start:stop],
            n,
            exclude=split.inputs[start:stop],
            history_weights=split.input_weights[start:stop],
        )
        rows.append(ids)
    if not rows:
        return np.zeros((0, n), dtype=np.int64)
    return np.concatenate(rows, axis=0)


def evaluate(
    recipe: Recipe, split: HoldoutSplit, n_catalog_items: int, *, batch_size: int = 512
) -> dict[str, float]:
    """All GetSolutionMetrics values of a recipe fitted on ``split.train``.

    Parameters
    ----------
    recipe : Recipe
        A fitted recipe.
    split : HoldoutSplit
        The split it was fitted on.
    n_catalog_items : int
        Items in Interactions + Items (the coverage denominator).
    """
    recommended = recommend_for_split(recipe, split, batch_size=batch_size)
    return ranking_metrics(list(recommended), split.targets, n_catalog_items)
