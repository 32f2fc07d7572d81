"""aws-similar-items and aws-sims: item-item neighbours from co-occurrence, blended with item metadata.

An item's neighbours are ranked by ``(1 - w)·cf + w·meta`` where

* ``cf`` is the co-occurrence similarity ``C_ij / (n_i·n_j)^p`` (``C_ij``: users who interacted with both
  items, at least ``min_cointeraction_count`` of them; ``n_i``: users of item ``i``; ``p``:
  ``popularity_discount_factor``, 0.5 gives cosine);
* ``meta`` is the cosine of the items' TF-IDF metadata vectors (categorical values, textual words, numeric
  bins: :func:`pertinent.training.matrix.build_item_features`), so items nobody interacted with yet still
  get neighbours;
* ``w`` is ``metadata_weight`` (aws-similar-items: 0.2; aws-sims, which Personalize documents as pure
  co-occurrence: 0).

Only the ``max_neighbors`` best neighbours per item are kept (a sparse ``items × items`` matrix). Items
without neighbours fall back to popular items (ties are broken by popularity). A history scores the
recency-weighted sum of its items' neighbour rows, which makes these recipes usable for
GetRecommendations with a userId as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from pertinent.recipes.base import (
    HyperParameter,
    Recipe,
    RecipeType,
    ScoreArray,
    history_matrix,
    recency_weights,
)

if TYPE_CHECKING:
    from pertinent.training.matrix import InteractionData

__all__ = ["Sims", "SimilarItems", "item_neighbors"]

_SHARED: tuple[HyperParameter, ...] = (
    HyperParameter(
        "popularity_discount_factor",
        "float",
        0.5,
        low=0.0,
        high=1.0,
        description="Exponent p of the co-occurrence normalization C_ij/(n_i·n_j)^p; 0.5 is cosine.",
    ),
    HyperParameter(
        "max_neighbors",
        "int",
        100,
        low=1,
        high=1000,
        tunable=False,
        description="Neighbours kept per item.",
    ),
)


def _metadata_weight(default: float) -> HyperParameter:
    return HyperParameter(
        "metadata_weight",
        "float",
        default,
        low=0.0,
        high=1.0,
        description="Share of item-metadata similarity in the blend (the rest is co-occurrence).",
    )


def _min_cointeraction(default: int) -> HyperParameter:
    return HyperParameter(
        "min_cointeraction_count",
        "int",
        default,
        low=0,
        high=10,
        description="Co-occurrences below this count are ignored.",
    )


class SimilarItems(Recipe):
    """Related items from co-occurrence blended with item metadata (aws-similar-items).

    Attributes
    ----------
    neighbors_ : scipy.sparse.csr_matrix
        ``n_items × n_items``; row ``i`` holds item ``i``'s best neighbours and their blended similarity.

    Examples
    --------
    >>> from pertinent.training.matrix import InteractionData
    >>> data = InteractionData.from_indices([0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 2, 3])
    >>> model = SimilarItems().fit(data, {"min_cointeraction_count": "1"})
    >>> model.similar_items(0, n=1)[0].tolist()
    [1]
    """

    name: ClassVar[str] = "aws-similar-items"
    recipe_type: ClassVar[RecipeType] = "RELATED_ITEMS"
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = (
        HyperParameter(
            "item_id_hidden_dim",
            "int",
            100,
            low=30,
            high=200,
            tunable=False,
            description="Accepted for compatibility with Personalize's neural model; unused here.",
        ),
        HyperParameter(
            "item_metadata_hidden_dim",
            "int",
            100,
            low=30,
            high=200,
            tunable=False,
            description="Accepted for compatibility with Personalize's neural model; unused here.",
        ),
        _metadata_weight(0.2),
        _min_cointeraction(1),
        *_SHARED,
        HyperParameter(
            "recency_half_life",
            "float",
            40.0,
            low=1.0,
            high=10_000.0,
            log_scale=True,
            description="Scoring a history, an event weighs half as much every this many newer events.",
        ),
    )

    neighbors_: sp.csr_matrix

    def _fit(self, data: InteractionData) -> None:
        matrix = self._training_matrix(data)
        self.neighbors_ = item_neighbors(
            matrix,
            data.item_features,
            metadata_weight=float(self.params_["metadata_weight"]),
            popularity_discount=float(self.params_["popularity_discount_factor"]),
            min_cointeraction=int(self.params_["min_cointeraction_count"]),
            max_neighbors=int(self.params_["max_neighbors"]),
        )

    def _training_matrix(self, data: InteractionData) -> sp.csr_matrix:
        return data.csr()

    def _score(
        self, histories: Sequence[NDArray[np.int64]], weights: Sequence[NDArray[np.float32]]
    ) -> ScoreArray:
        half_life = float(self.params_.get("recency_half_life", 0.0))
        combined = [w * recency_weights(len(h), half_life) for h, w in zip(histories, weights, strict=True)]
        x = history_matrix(histories, combined, self.n_items_, aggregate="max")
        return np.asarray((x @ self.neighbors_).toarray(), dtype=np.float32)

    def _similar_scores(self, item: int) -> ScoreArray:
        return np.asarray(self.neighbors_[item].toarray().ravel(), dtype=np.float32)

    def _state(self) -> dict[str, NDArray[Any]]:
        return {
            "neighbors_indptr_": self.neighbors_.indptr,
            "neighbors_indices_": self.neighbors_.indices,
            "neighbors_data_": self.neighbors_.data,
        }

    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        self.neighbors_ = sp.csr_matrix(
            (arrays["neighbors_data_"], arrays["neighbors_indices_"], arrays["neighbors_indptr_"]),
            shape=(self.n_items_, self.n_items_),
        )


class Sims(SimilarItems):
    """aws-sims: item-item collaborative filtering on co-occurrence in user histories.

    Personalize's hyperparameters are honoured: users outside the history-length percentiles and items
    below ``min_item_interaction_count_percentile`` are left out of the co-occurrence counts.
    ``max_item_interaction_count_percentile`` is accepted but not applied: dropping the most popular
    items would keep them out of every list. Metadata is off by default (``metadata_weight`` 0).

    Examples
    --------
    >>> from pertinent.training.matrix import InteractionData
    >>> data = InteractionData.from_indices([0, 0, 1, 1, 2, 2, 3, 3], [0, 1] * 4, n_items=3)
    >>> Sims().fit(data).similar_items(0, n=2)[0].tolist()  # item 2 has no co-occurrence: fallback
    [1, 2]
    """

    name: ClassVar[str] = "aws-sims"
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = (
        *_SHARED,
        _min_cointeraction(3),
        HyperParameter(
            "min_user_history_length_percentile",
            "float",
            0.005,
            low=0.0,
            high=1.0,
            tunable=False,
            description="Users with fewer interactions than this percentile are left out.",
        ),
        HyperParameter(
            "max_user_history_length_percentile",
            "float",
            0.995,
            low=0.0,
            high=1.0,
            tunable=False,
            description="Users with more interactions than this percentile are left out.",
        ),
        HyperParameter(
            "min_item_interaction_count_percentile",
            "float",
            0.01,
            low=0.0,
            high=1.0,
            tunable=False,
            description="Items with fewer interactions than this percentile are left out.",
        ),
        HyperParameter(
            "max_item_interaction_count_percentile",
            "float",
            0.9,
            low=0.0,
            high=1.0,
            tunable=False,
            description="Accepted for compatibility; pertinent keeps popular items.",
        ),
        _metadata_weight(0.0),
    )

    def _training_matrix(self, data: InteractionData) -> sp.csr_matrix:
        matrix = data.csr()
        lengths = np.diff(matrix.indptr)
        active = lengths > 0
        if active.any():
            lo = np.quantile(lengths[active], float(self.params_["min_user_history_length_percentile"]))
            hi = np.quantile(lengths[active], float(self.params_["max_user_history_length_percentile"]))
            active &= (lengths >= lo) & (lengths <= hi)
        item_counts = np.asarray(matrix.sum(axis=0)).ravel()
        items = item_counts > 0
        if items.any():
            lo_item = np.quantile(
                item_counts[items], float(self.params_["min_item_interaction_count_percentile"])
            )
            items &= item_counts >= lo_item
        result = sp.csr_matrix(
            sp.diags(active.astype(np.float32)) @ matrix @ sp.diags(items.astype(np.float32))
        )
        result.eliminate_zeros()
        return result


def item_neighbors(
    matrix: sp.csr_matrix,
    item_features: sp.csr_matrix | None,
    *,
    metadata_weight: float,
    popularity_discount: float,
    min_cointeraction: int,
    max_neighbors: int,
    block: int = 512,
) -> sp.csr_matrix:
    """Sparse ``items × items`` matrix of each item's ``max_neighbors`` best blended neighbours.

    ``matrix`` is the binary user×item matrix. Computed a block of items at a time, so memory stays at a
    ``block × items`` dense array.
    """
    n_items = matrix.shape[1]
    binary = matrix.copy()
    binary.data[:] = 1.0
    item_users = binary.T.tocsr()
    counts = np.asarray(binary.sum(axis=0)).ravel().astype(np.float64)
    norm = np.where(counts > 0, counts, 1.0) ** popularity_discount
    inv_norm = (1.0 / norm).astype(np.float32)
    features = item_features if metadata_weight > 0 and item_features is not None else None
    features_t = features.T.tocsr() if features is not None else None
    k = min(max_neighbors, max(n_items - 1, 0))
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    vals: list[NDArray[np.float32]] = []
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        co = (item_users[start:stop] @ binary).toarray().astype(np.float32)
        if min_cointeraction > 1:
            co[co < min_cointeraction] = 0.0
        sims = co * inv_norm[start:stop, None] * inv_norm[None, :]
        if features is not None and features_t is not None:
            meta = (features[start:stop] @ features_t).toarray().astype(np.float32)
            sims = (1.0 - metadata_weight) * sims + metadata_weight * meta
        local = np.arange(stop - start)
        sims[local, start + local] = 0.0
        if k == 0:
            continue
        top = (
            np.argpartition(-sims, k - 1, axis=1)[:, :k]
            if k < n_items
            else np.tile(np.arange(n_items), (len(local), 1))
        )
        top_vals = np.take_along_axis(sims, top, axis=1)
        keep = top_vals > 0
        rows.append(np.repeat(start + local, keep.sum(axis=1)))
        cols.append(top[keep].astype(np.int64))
        vals.append(top_vals[keep].astype(np.float32))
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    result = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    result.sort_indices()
    return result
