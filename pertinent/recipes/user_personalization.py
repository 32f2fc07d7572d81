"""aws-user-personalization: EASE for catalogs up to ``ease_max_items``, iALS beyond.

Both models score a history that was never seen in training, which is how serving turns a PutEvents
call into a different next recommendation:

* **EASE** (Steck 2019): ``B = I - P·diag(1/diag P)`` with ``P = (XᵀX + λI)⁻¹``, diagonal zeroed; a
  history ``x`` scores ``x·B``. Closed form, float32, O(items²) memory: only for up to ``ease_max_items``
  items with interactions.
* **iALS** (Hu, Koren & Volinsky 2008) trained with ``implicit.cpu.als.AlternatingLeastSquares``; a history
  is folded in by solving the user's least-squares problem against the item factors
  (``(YᵀY + Yᵀ(C-I)Y + λI) x = YᵀC·1``), exactly the half-step ALS does in training.

Recent events weigh more when scoring (``recency_mask`` / ``apply_recency_bias``): an event ``age`` events
older than the newest weighs ``1 / (1 + age / h)``. How much recency helps depends on the data (a lot on
MovieLens, nothing on logs without temporal dynamics), so by default (``recency_half_life`` = 0) ``h`` is
chosen at fit time: the newest interaction of a sample of training users is held out, the model is fitted
on the rest, and the ``h`` (or none) that ranks those held-out items best wins. The held-out interactions
are a tiny share of the data and stay out of the model. Event weights from ``eventsConfig`` multiply in.

Scores are a softmax over the whole catalog, as Personalize returns them (they sum to 1 before filtering).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import scipy.linalg.lapack as lapack
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits

from pertinent.recipes.ann import FactorIndex, top_by_index
from pertinent.recipes.base import (
    HyperParameter,
    HyperParameterValue,
    Recipe,
    RecipeType,
    ScoreArray,
    history_csr,
    history_matrix,
    recency_weights,
    recency_weights_csr,
)

if TYPE_CHECKING:
    from pertinent.training.matrix import InteractionData

__all__ = [
    "ENGINE_HYPERPARAMETERS",
    "FALLBACK_HALF_LIFE",
    "RECENCY_CANDIDATES",
    "RecencyProbe",
    "UserPersonalization",
    "fit_ease",
    "fold_in",
]

Algorithm = Literal["ease", "ials"]
#: ``solve(weights, factors, regularization, alpha, iterations, seed) -> item factors (n_items × factors)``
FactorSolver = Callable[[sp.csr_matrix, int, float, float, int, int], NDArray[np.float32]]

#: pertinent's own knobs, shared by the user-personalization and personalized-ranking recipes
ENGINE_HYPERPARAMETERS: tuple[HyperParameter, ...] = (
    HyperParameter(
        "algorithm",
        "categorical",
        "auto",
        values=("auto", "ease", "ials"),
        tunable=False,
        description="auto: EASE when the items with interactions fit ease_max_items, iALS otherwise.",
    ),
    HyperParameter(
        "ease_regularization",
        "float",
        200.0,
        low=1.0,
        high=100_000.0,
        log_scale=True,
        description="EASE L2 penalty λ added to the Gram matrix diagonal.",
    ),
    HyperParameter(
        "ease_min_item_users",
        "int",
        3,
        low=1,
        high=1_000_000,
        tunable=False,
        description="EASE models only items with at least this many training users (cost is cubic).",
    ),
    HyperParameter(
        "recency_half_life",
        "float",
        0.0,
        low=0.0,
        high=10_000.0,
        log_scale=True,
        description="With recency on, an event this many events older than the newest weighs half; "
        "0 chooses it from the training data.",
    ),
    HyperParameter(
        "als_regularization",
        "float",
        1.0,
        low=1e-4,
        high=1000.0,
        log_scale=True,
        description="iALS L2 penalty on user and item factors.",
    ),
    HyperParameter(
        "als_alpha",
        "float",
        10.0,
        low=0.01,
        high=1000.0,
        log_scale=True,
        description="iALS confidence of an observed interaction: 1 + alpha·weight.",
    ),
    HyperParameter(
        "als_iterations",
        "int",
        15,
        low=1,
        high=100,
        description="iALS sweeps over users and items.",
    ),
)

HISTORY_PERCENTILES: tuple[HyperParameter, ...] = (
    HyperParameter(
        "min_user_history_length_percentile",
        "float",
        0.0,
        low=0.0,
        high=1.0,
        tunable=False,
        description="Users with fewer interactions than this percentile are left out of training.",
    ),
    HyperParameter(
        "max_user_history_length_percentile",
        "float",
        0.99,
        low=0.0,
        high=1.0,
        tunable=False,
        description="Users with more interactions than this percentile are left out of training.",
    ),
)

#: columns of each tile of the EASE matrix that batch blocks are multiplied by (:meth:`score_rows`): a
#: block's product against one tile stays in the CPU caches, 1.5× faster on 300–1,600-user blocks
EASE_TILE_COLUMNS = 1024
#: the largest EASE matrix whose tiles (a copy) are kept beside it; larger ones are multiplied whole
EASE_TILE_MAX_BYTES = 512 * 2**20

HIDDEN_DIMENSION = HyperParameter(
    "hidden_dimension",
    "int",
    128,
    low=32,
    high=256,
    description="Latent factors of the iALS model (unused by EASE).",
)
BPTT = HyperParameter(
    "bptt",
    "int",
    32,
    low=2,
    high=32,
    tunable=False,
    description="Accepted for compatibility with Personalize's RNN; EASE and iALS do not use it.",
)
RECENCY_MASK = HyperParameter(
    "recency_mask",
    "categorical",
    "true",
    values=("true", "false"),
    tunable=False,
    description="Weigh a user's recent events more when scoring.",
)
EXPLORATION: tuple[HyperParameter, ...] = (
    HyperParameter(
        "exploration_weight",
        "float",
        0.3,
        low=0.0,
        high=1.0,
        tunable=False,
        description="Default share of exploration of new items at serving time (campaign config overrides).",
    ),
    HyperParameter(
        "exploration_item_age_cut_off",
        "float",
        30.0,
        low=0.0,
        high=36_500.0,
        tunable=False,
        description="Items newer than this many days are explored (campaign config overrides).",
    ),
)


class UserPersonalization(Recipe):
    """User-personalization: EASE or iALS over the user's history, chosen by catalog size.

    The algorithm is picked at ``fit`` (hyperparameter ``algorithm``, default ``auto``): EASE when the
    items with at least ``ease_min_item_users`` users number at most ``ease_max_items``, iALS otherwise;
    :attr:`algorithm` tells which one was used. EASE leaves rarer items out of its matrix (they score 0
    and can still come through the popularity tie-break); iALS keeps every item.

    Attributes
    ----------
    algorithm_ : {"ease", "ials"}
        The model that was trained.
    recency_half_life_ : float
        The recency half-life used when scoring (chosen at fit time by default); 0 means none.
    active_items_ : ndarray of int64
        EASE only: the items with at least ``ease_min_item_users`` users (rows/columns of
        ``ease_weights_``).
    ease_weights_ : ndarray of float32
        EASE only: the item-item matrix B over ``active_items_``.
    item_factors_ : ndarray of float32
        iALS only: ``n_items × hidden_dimension`` item factors.

    Examples
    --------
    >>> from pertinent.training.matrix import InteractionData
    >>> users = [0, 0, 1, 1, 2, 2, 3, 3]
    >>> items = [0, 1, 0, 1, 2, 3, 2, 3]
    >>> data = InteractionData.from_indices(users, items)
    >>> model = UserPersonalization().fit(data, {"ease_min_item_users": "1"})  # tiny data: keep all items
    >>> model.algorithm
    'ease'
    >>> int(model.recommend([2], n=1, exclude=[2])[0][0])
    3
    """

    name: ClassVar[str] = "aws-user-personalization"
    recipe_type: ClassVar[RecipeType] = "USER_PERSONALIZATION"
    softmax_scores: ClassVar[bool] = True
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = (
        HIDDEN_DIMENSION,
        BPTT,
        RECENCY_MASK,
        *HISTORY_PERCENTILES,
        *EXPLORATION,
        *ENGINE_HYPERPARAMETERS,
    )
    #: the hyperparameter that switches recency weighting on
    recency_switch: ClassVar[str] = "recency_mask"
    #: another iALS solver (e.g. Spark MLlib ALS, set by the training pipeline for
    #: ``training_engine=spark``): ``solve(weights, factors, regularization, alpha, iterations, seed)``
    #: returns the item factors; None trains with implicit in this process
    factor_solver: FactorSolver | None = None

    algorithm_: Algorithm
    recency_half_life_: float
    active_items_: NDArray[np.int64]
    ease_weights_: NDArray[np.float32]
    item_factors_: NDArray[np.float32]
    #: an ANN index over ``item_factors_`` that :meth:`recommend` retrieves candidates from (serving sets
    #: it for large iALS catalogs with :meth:`use_index`); None scores every item
    factor_index: FactorIndex | None = None

    # ------------------------------------------------------------------ algorithm choice
    def choose_algorithm(self, n_active_items: int, requested: str = "auto") -> Algorithm:
        """EASE when ``n_active_items <= ease_max_items`` (or when asked for), iALS otherwise."""
        if requested == "ease" or (requested == "auto" and n_active_items <= self.ease_max_items):
            if n_active_items > self.ease_max_items:
                raise ValueError(
                    f"algorithm=ease needs at most ease_max_items={self.ease_max_items} items with "
                    f"interactions, the data has {n_active_items}"
                )
            return "ease"
        return "ials"

    @property
    def algorithm(self) -> str:
        return getattr(self, "algorithm_", "auto")

    def tunable_hyperparameters(
        self, data: InteractionData, params: Mapping[str, HyperParameterValue]
    ) -> tuple[HyperParameter, ...]:
        """Only the knobs of the algorithm that ``params`` selects for ``data``."""
        min_users = max(int(params.get("ease_min_item_users", 1)), 1)
        n_active = int(np.count_nonzero(data.item_user_counts >= min_users))
        chosen = self.choose_algorithm(n_active, str(params.get("algorithm", "auto")))
        # the recency half-life is already chosen from the data at fit time (recency_half_life = 0)
        used = (
            {"ease_regularization"}
            if chosen == "ease"
            else {"hidden_dimension", "als_regularization", "als_alpha"}
        )
        return tuple(hp for hp in self.hyperparameters if hp.name in used)

    # ------------------------------------------------------------------ fit
    def _fit(self, data: InteractionData) -> None:
        matrix = self._training_matrix(data)
        recency_on = str(self.params_[self.recency_switch]) == "true"
        fixed_half_life = float(self.params_["recency_half_life"])
        self.recency_half_life_ = fixed_half_life if recency_on else 0.0
        probe: RecencyProbe | None = None
        if recency_on and fixed_half_life <= 0:
            probe = RecencyProbe.hold_out(data, matrix, random_state=self.random_state)
            if probe is None:
                self.recency_half_life_ = FALLBACK_HALF_LIFE
            else:
                matrix = probe.matrix
        self._fit_model(matrix)
        if probe is not None:
            self.recency_half_life_ = probe.best_half_life(self)

    def _fit_model(self, matrix: sp.csr_matrix) -> None:
        item_users = np.diff(matrix.tocsc().indptr)
        min_users = max(int(self.params_["ease_min_item_users"]), 1)
        active = np.flatnonzero(item_users >= min_users).astype(np.int64)
        self.algorithm_ = self.choose_algorithm(len(active), str(self.params_["algorithm"]))
        self.__dict__.pop("_active_positions", None)
        self.__dict__.pop("_ease_tile_cache", None)
        self.__dict__.pop("factor_index", None)  # an index of earlier factors no longer applies
        if self.algorithm_ == "ease":
            self.active_items_ = active
            binary = matrix[:, active].tocsr()
            self.ease_weights_ = fit_ease(binary, float(self.params_["ease_regularization"]))
        else:
            self.item_factors_ = self._fit_ials(matrix)
            self.__dict__.pop("_gram_cache", None)
            self.__dict__.pop("_fold_in_base_cache", None)

    def _training_matrix(self, data: InteractionData) -> sp.csr_matrix:
        """Weighted user×item matrix of the users inside the history-length percentiles."""
        matrix = data.csr(weighted=True, aggregate="max")
        lengths = data.user_counts
        users = lengths > 0
        if users.any():
            lo = float(self.params_["min_user_history_length_percentile"])
            hi = float(self.params_["max_user_history_length_percentile"])
            lo_len = np.quantile(lengths[users], lo) if lo > 0 else 0
            hi_len = np.quantile(lengths[users], hi) if hi < 1 else np.inf
            users &= (lengths >= lo_len) & (lengths <= hi_len)
        keep = sp.diags(users.astype(np.float32))
        result = sp.csr_matrix(keep @ matrix, dtype=np.float32)
        result.eliminate_zeros()
        return result

    def _fit_ials(self, matrix: sp.csr_matrix) -> NDArray[np.float32]:
        from implicit.cpu.als import AlternatingLeastSquares

        alpha = float(self.params_["als_alpha"])
        if self.factor_solver is not None:
            factors = self.factor_solver(
                matrix,
                int(self.params_["hidden_dimension"]),
                float(self.params_["als_regularization"]),
                alpha,
                int(self.params_["als_iterations"]),
                int(self.random_state or 0),
            )
            return np.ascontiguousarray(factors, dtype=np.float32)
        confidence = matrix.copy()
        confidence.data = (1.0 + alpha * confidence.data).astype(np.float32)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=int(self.params_["hidden_dimension"]),
                regularization=float(self.params_["als_regularization"]),
                alpha=1.0,
                iterations=int(self.params_["als_iterations"]),
                random_state=self.random_state,
                calculate_training_loss=False,
                # thread start-up costs more than it saves on small matrices
                num_threads=1 if confidence.nnz < 50_000 else 0,
            )
            model.fit(confidence, show_progress=False)
        return np.ascontiguousarray(model.item_factors, dtype=np.float32)

    # ------------------------------------------------------------------ scoring
    def _history_weights(
        self, histories: Sequence[NDArray[np.int64]], weights: Sequence[NDArray[np.float32]]
    ) -> list[NDArray[np.float32]]:
        half_life = self.recency_half_life_
        if half_life <= 0:
            return list(weights)
        return [w * recency_weights(len(h), half_life) for h, w in zip(histories, weights, strict=True)]

    def _score(
        self, histories: Sequence[NDArray[np.int64]], weights: Sequence[NDArray[np.float32]]
    ) -> ScoreArray:
        return self._score_weighted(histories, self._history_weights(histories, weights))

    def _score_weighted(
        self, histories: Sequence[NDArray[np.int64]], combined: Sequence[NDArray[np.float32]]
    ) -> ScoreArray:
        """Scores of histories whose weights already include recency."""
        if self.algorithm_ == "ease" and len(histories) == 1:
            return self._ease_one(histories[0], combined[0])[None, :]
        aggregate: Literal["max", "sum"] = "max" if self.algorithm_ == "ease" else "sum"
        return self._score_matrix(history_matrix(histories, combined, self.n_items_, aggregate=aggregate))

    def score_rows(
        self, indptr: NDArray[np.int64], items: NDArray[np.int64], weights: NDArray[np.float32]
    ) -> ScoreArray:
        """Scores of a block of histories given as CSR parts, with no per-history Python: recency
        weights for every row at once, one sparse × dense product (EASE) or one fold-in (iALS)."""
        combined = weights * recency_weights_csr(indptr, self.recency_half_life_)
        aggregate: Literal["max", "sum"] = "max" if self.algorithm_ == "ease" else "sum"
        x = history_csr(indptr, items, combined, self.n_items_, aggregate=aggregate)
        return self._score_matrix(x, tiled=True)

    def _score_matrix(self, x: sp.csr_matrix, tiled: bool = False) -> ScoreArray:
        """Scores of the aggregated, recency-weighted history matrix ``x`` (users × items); ``tiled``
        (the batch path) multiplies by the column tiles of B (:meth:`_ease_tiles`) — the same sums."""
        if self.algorithm_ == "ease":
            # column-major: each row of B is read once for the whole block (the same sums, in the same
            # order, as the row-major product, at a fraction of the memory traffic)
            n_active = len(self.active_items_)
            active = sp.csc_matrix(x[:, self.active_items_] if n_active < self.n_items_ else x)
            tiles = self._ease_tiles() if tiled else None
            if n_active == self.n_items_ and not tiles:
                return np.asarray(active @ self.ease_weights_, dtype=np.float32)
            # items outside the matrix score 0: gather from the product plus one zero column (a gather
            # along rows costs a third of a scatter into columns)
            padded = np.zeros((x.shape[0], n_active + 1), dtype=np.float32)
            if tiles:  # each tile's product is written in place: column tiling leaves every sum as it is
                for start, tile in zip(range(0, n_active, EASE_TILE_COLUMNS), tiles, strict=True):
                    padded[:, start : start + tile.shape[1]] = active @ tile
            else:
                padded[:, :n_active] = active @ self.ease_weights_
            if n_active == self.n_items_:
                return padded[:, :n_active]
            positions = self._matrix_positions()
            return np.take(padded, np.where(positions >= 0, positions, n_active), axis=1)
        users = fold_in(
            x,
            self.item_factors_,
            regularization=float(self.params_["als_regularization"]),
            alpha=float(self.params_["als_alpha"]),
            gram=self._gram(),
        )
        return np.asarray(users @ self.item_factors_.T, dtype=np.float32)

    def _ease_one(self, history: NDArray[np.int64], weights: NDArray[np.float32]) -> ScoreArray:
        """``x·B`` of one history as a weighted sum of B's rows (the serving path: no sparse matrices)."""
        positions = self._matrix_positions()
        scores = np.zeros(self.n_items_, dtype=np.float32)
        rows = positions[history]
        known = rows >= 0
        if not known.any():
            return scores
        unique, inverse = np.unique(rows[known], return_inverse=True)
        strongest = np.zeros(len(unique), dtype=np.float32)  # repeated items count once, at their max
        np.maximum.at(strongest, inverse, weights[known])
        scores[self.active_items_] = strongest @ self.ease_weights_[unique]
        return scores

    def _ease_tiles(self) -> list[NDArray[np.float32]]:
        """B cut into contiguous tiles of :data:`EASE_TILE_COLUMNS` columns, made on the first batch block
        and kept with the model (a copy of B: only for matrices up to :data:`EASE_TILE_MAX_BYTES`; empty
        when B is larger or too narrow to cut)."""
        tiles: list[NDArray[np.float32]] | None = self.__dict__.get("_ease_tile_cache")
        if tiles is None:
            weights = self.ease_weights_
            width = weights.shape[1]
            if weights.nbytes > EASE_TILE_MAX_BYTES or width <= EASE_TILE_COLUMNS:
                tiles = []
            else:
                tiles = [
                    np.ascontiguousarray(weights[:, start : start + EASE_TILE_COLUMNS])
                    for start in range(0, width, EASE_TILE_COLUMNS)
                ]
            tiles = self.__dict__.setdefault("_ease_tile_cache", tiles)  # two threads: one copy is kept
        return tiles

    def _matrix_positions(self) -> NDArray[np.int64]:
        """Each item's row in ``ease_weights_`` (-1 for items outside it), computed once."""
        positions: NDArray[np.int64] | None = self.__dict__.get("_active_positions")
        if positions is None:
            positions = np.full(self.n_items_, -1, dtype=np.int64)
            positions[self.active_items_] = np.arange(len(self.active_items_))
            self.__dict__["_active_positions"] = positions
        return positions

    def use_index(self, index: FactorIndex | None) -> None:
        """Retrieve candidates from ``index`` (over this model's item factors) in :meth:`recommend`."""
        if index is not None and (self.algorithm_ != "ials" or index.n_items != self.n_items_):
            raise ValueError("the index must cover this iALS model's item factors")
        self.factor_index = index

    def user_vector(self, history: NDArray[np.int64], weights: NDArray[np.float32]) -> NDArray[np.float32]:
        """The iALS fold-in of one history (recency included)."""
        combined = self._history_weights([history], [weights])
        order = np.argsort(history, kind="stable")
        items = history[order]
        if len(items) and not (items[1:] == items[:-1]).any():
            # no repeated item: the row fold_in would get, in its (sorted) order, without building it
            return fold_in_one(
                self._fold_in_base(),
                items,
                combined[0][order].astype(np.float32),
                np.asarray(self.item_factors_),
                float(self.params_["als_alpha"]),
            )
        x = history_matrix([history], combined, self.n_items_, aggregate="sum")
        users = fold_in(
            x,
            self.item_factors_,
            regularization=float(self.params_["als_regularization"]),
            alpha=float(self.params_["als_alpha"]),
            gram=self._gram(),
        )
        vector: NDArray[np.float32] = users[0]
        return vector

    def recommend(
        self,
        history_item_idx: ArrayLike,
        n: int = 25,
        exclude: ArrayLike | None = None,
        candidates: ArrayLike | None = None,
        *,
        history_weights: ArrayLike | None = None,
    ) -> tuple[NDArray[np.int64], ScoreArray]:
        """As :meth:`Recipe.recommend`; with a :attr:`factor_index`, from its candidates, re-scored exactly."""
        index = self.factor_index
        if index is None or candidates is not None or n < 0:
            return super().recommend(
                history_item_idx, n, exclude, candidates, history_weights=history_weights
            )
        self._check_fitted()
        hist, weights = self._prepare(
            [history_item_idx], None if history_weights is None else [history_weights]
        )
        excluded = np.unique(self._check_items(exclude if exclude is not None else []))
        result = None
        if len(excluded) <= self.n_items_ // 2:  # the graph finds enough allowed items
            user = self.user_vector(hist[0], weights[0])
            result = top_by_index(
                index, self.item_factors_, self.item_popularity_, user, n, excluded, self.softmax_scores
            )
        if result is None:
            return super().recommend(
                history_item_idx, n, exclude, candidates, history_weights=history_weights
            )
        return result

    def _gram(self) -> NDArray[np.float64]:
        """YᵀY of the item factors: fixed after training, so computed once, not on every request."""
        cached: NDArray[np.float64] | None = self.__dict__.get("_gram_cache")  # dropped when factors change
        if cached is None:
            factors = self.item_factors_.astype(np.float64)
            cached = factors.T @ factors
            self.__dict__["_gram_cache"] = cached
        return cached

    def _fold_in_base(self) -> NDArray[np.float64]:
        """YᵀY + λI, the part of every fold-in's system that is the same for all users."""
        cached: NDArray[np.float64] | None = self.__dict__.get("_fold_in_base_cache")
        if cached is None:
            k = self.item_factors_.shape[1]
            cached = self._gram() + float(self.params_["als_regularization"]) * np.eye(k)
            self.__dict__["_fold_in_base_cache"] = cached
        return cached

    def _similar_scores(self, item: int) -> ScoreArray:
        if self.algorithm_ == "ials":
            factors = self.item_factors_
            norms = np.linalg.norm(factors, axis=1)
            norms[norms == 0] = 1.0
            return np.asarray((factors @ factors[item]) / (norms * norms[item]), dtype=np.float32)
        scores: ScoreArray = self._score([np.array([item], dtype=np.int64)], [np.ones(1, dtype=np.float32)])[
            0
        ]
        return scores

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, NDArray[Any]]:
        if self.algorithm_ == "ease":
            return {"active_items_": self.active_items_, "ease_weights_": self.ease_weights_}
        return {"item_factors_": self.item_factors_}

    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        self.algorithm_ = "ease" if meta["algorithm"] == "ease" else "ials"
        self.recency_half_life_ = float(meta["recency_half_life"])
        self.__dict__.pop("_active_positions", None)
        self.__dict__.pop("_ease_tile_cache", None)
        self.__dict__.pop("factor_index", None)  # an index of earlier factors no longer applies
        if self.algorithm_ == "ease":
            self.active_items_ = arrays["active_items_"].astype(np.int64)
            self.ease_weights_ = np.ascontiguousarray(arrays["ease_weights_"], dtype=np.float32)
        else:
            self.item_factors_ = np.ascontiguousarray(arrays["item_factors_"], dtype=np.float32)
            self.__dict__.pop("_gram_cache", None)
            self.__dict__.pop("_fold_in_base_cache", None)

    def _meta(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm_, "recency_half_life": self.recency_half_life_}


# ---------------------------------------------------------------------- recency choice
#: half-lives tried when ``recency_half_life`` is 0 (0 = no recency weighting)
RECENCY_CANDIDATES: tuple[float, ...] = (0.0, 50.0, 20.0, 10.0, 5.0, 2.0, 1.0)
#: half-life used when the data is too small to choose one (fewer than 100 users with 5+ interactions)
FALLBACK_HALF_LIFE = 20.0


@dataclass(frozen=True, eq=False)
class RecencyProbe:
    """The newest interaction of a sample of training users, held out to choose the recency half-life."""

    matrix: sp.csr_matrix
    histories: list[NDArray[np.int64]]
    weights: list[NDArray[np.float32]]
    targets: NDArray[np.int64]

    @classmethod
    def hold_out(
        cls,
        data: InteractionData,
        matrix: sp.csr_matrix,
        *,
        random_state: int,
        share: float = 0.25,
        max_users: int = 5000,
        min_users: int = 100,
    ) -> RecencyProbe | None:
        """Hold out the newest interaction of a ``share`` of the users with 5+ interactions (whose newest
        item is new to them) from ``matrix``; None with fewer than ``min_users`` such users, where the
        held-out items would be too large a share of the data."""
        eligible = np.flatnonzero((data.user_counts >= 5) & (np.diff(matrix.indptr) > 0))
        if len(eligible) < min_users:
            return None
        rng = np.random.default_rng(random_state)
        n = min(max_users, int(share * len(eligible)))
        users = np.sort(rng.choice(eligible, size=n, replace=False))
        histories: list[NDArray[np.int64]] = []
        weights: list[NDArray[np.float32]] = []
        targets: list[int] = []
        rows: list[int] = []
        for user in users.tolist():
            items, w = data.history(user)
            target = int(items[-1])
            if target in items[:-1]:
                continue
            histories.append(items[:-1].astype(np.int64))
            weights.append(w[:-1])
            targets.append(target)
            rows.append(user)
        if len(targets) < min_users * share:
            return None
        held = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, targets)), shape=matrix.shape)
        reduced = sp.csr_matrix(matrix - matrix.multiply(held), dtype=np.float32)
        reduced.eliminate_zeros()
        return cls(reduced, histories, weights, np.asarray(targets, dtype=np.int64))

    def best_half_life(self, model: UserPersonalization, cutoff: int = 100) -> float:
        """The candidate whose scores rank the held-out items best (mean NDCG@``cutoff``)."""
        best, best_gain = 0.0, -1.0
        for half_life in RECENCY_CANDIDATES:
            weights = [
                w * recency_weights(len(h), half_life)
                for h, w in zip(self.histories, self.weights, strict=True)
            ]
            gain = 0.0
            for start in range(0, len(self.targets), 1024):
                stop = start + 1024
                scores = model._score_weighted(self.histories[start:stop], weights[start:stop])
                for row, history in enumerate(self.histories[start:stop]):
                    row_scores = scores[row]
                    target_score = row_scores[self.targets[start + row]]
                    row_scores[history] = -np.inf
                    rank = int(np.count_nonzero(row_scores > target_score))
                    if rank < cutoff:
                        gain += 1.0 / np.log2(rank + 2.0)
            if gain > best_gain + 1e-9:
                best, best_gain = half_life, gain
        return best


# ---------------------------------------------------------------------- model math
def gram_matrix(matrix: sp.csr_matrix, *, block: int = 2048) -> NDArray[np.float32]:
    """Dense float32 ``XᵀX``, built a block of item columns at a time to bound sparse intermediates."""
    n = matrix.shape[1]
    gram = np.zeros((n, n), dtype=np.float32)
    xt = matrix.T.tocsr()
    csc = matrix.tocsc()
    for start in range(0, n, block):
        stop = min(start + block, n)
        gram[:, start:stop] = (xt @ csc[:, start:stop]).toarray()
    return gram


def fit_ease(matrix: sp.csr_matrix, regularization: float) -> NDArray[np.float32]:
    """EASE item-item weights for a user×item matrix (float32, zero diagonal, C-contiguous).

    Uses a Cholesky factorization and inverse (LAPACK ``spotrf``/``spotri``) in place, so peak memory is
    about one ``items × items`` float32 matrix.

    Examples
    --------
    >>> x = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=np.float32))
    >>> b = fit_ease(x, 1.0)
    >>> bool(b[0, 1] > 0), abs(float(b[0, 2])), float(b[1, 1])
    (True, 0.0, 0.0)
    """
    n = matrix.shape[1]
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    gram = gram_matrix(matrix)
    gram[np.diag_indices(n)] += np.float32(regularization)
    # gram is symmetric, so its transpose is the same matrix in Fortran order: LAPACK works in place
    factor, info = lapack.spotrf(gram.T, lower=0, overwrite_a=1, clean=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE Cholesky factorization failed (info={info})")
    inverse, info = lapack.spotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE inversion failed (info={info})")
    p = inverse.T  # C-contiguous; only its lower triangle (Fortran upper) is valid
    _mirror_lower_to_upper(p)
    diagonal = np.diag(p).copy()
    p /= -diagonal[None, :]
    p[np.diag_indices(n)] = 0.0
    return np.ascontiguousarray(p, dtype=np.float32)


def _mirror_lower_to_upper(p: NDArray[np.float32], block: int = 1024) -> None:
    n = p.shape[0]
    for start in range(0, n, block):
        stop = min(start + block, n)
        diag = p[start:stop, start:stop]
        lower = np.tril(diag)
        diag[...] = lower + np.tril(diag, -1).T
        if stop < n:
            p[start:stop, stop:] = p[stop:, start:stop].T


def fold_in(
    histories: sp.csr_matrix,
    item_factors: NDArray[np.float32],
    *,
    regularization: float,
    alpha: float,
    gram: NDArray[np.float64] | None = None,
) -> NDArray[np.float32]:
    """User factors for weighted histories, by the iALS least-squares solve against fixed item factors.

    With confidence ``c_i = 1 + alpha·w_i`` on the history's items and preference 1 there, the user
    vector solves ``(YᵀY + Σ_i (c_i - 1) y_i y_iᵀ + λI) x = Σ_i c_i y_i``. Pass ``gram`` (YᵀY) when it is
    known: it is the only part that costs O(items).
    """
    k = item_factors.shape[1]
    if gram is None:
        factors64 = item_factors.astype(np.float64)
        gram = factors64.T @ factors64
    base = gram + regularization * np.eye(k)
    out = np.zeros((histories.shape[0], k), dtype=np.float32)
    for row in range(histories.shape[0]):
        lo, hi = histories.indptr[row], histories.indptr[row + 1]
        if lo == hi:
            continue
        out[row] = fold_in_one(base, histories.indices[lo:hi], histories.data[lo:hi], item_factors, alpha)
    return out


def fold_in_one(
    base: NDArray[np.float64],
    items: NDArray[Any],
    weights: NDArray[np.float32],
    item_factors: NDArray[np.float32],
    alpha: float,
) -> NDArray[np.float32]:
    """One user's fold-in (:func:`fold_in`) from distinct ``items`` and their ``weights``, given ``base`` =
    YᵀY + λI."""
    confidence = alpha * weights.astype(np.float64)
    y = item_factors[items].astype(np.float64)
    a = base + (y * confidence[:, None]).T @ y
    b = ((1.0 + confidence)[:, None] * y).sum(axis=0)
    return np.linalg.solve(a, b).astype(np.float32)
