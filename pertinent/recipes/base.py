"""The Recipe contract: one estimator interface for every Personalize recipe.

Modelled on implicit's ``RecommenderBase`` and scikit-learn's estimator rules:

* hyperparameters are declared **once** per class as :class:`HyperParameter` entries (name, kind, default,
  range); the same declaration validates user input (``algorithmHyperParameters`` arrive as strings) and
  drives HPO (:mod:`pertinent.recipes.hpo`);
* ``fit(data, params)`` returns ``self``; learned state ends with ``_``;
* results are always ``(item_idx, scores)`` arrays, best first; exclusion (``exclude``) and candidate
  restriction (``candidates``) are arguments, not separate code paths;
* ``save``/``load`` write an ``.npz`` (``allow_pickle=False``) and a JSON sidecar.

A *history* is the array of item indices a user interacted with, **oldest first** (repeats allowed), with
optional per-event weights. Recipes score any history, seen in training or not, which is what lets a
real-time event change the very next recommendation.

Ties are broken by popularity (unique users in training), then by item index, so an empty history gets the
most popular items and every result is deterministic.
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from pertinent.training.matrix import InteractionData

__all__ = [
    "DEFAULT_EASE_MAX_ITEMS",
    "HyperParameter",
    "HyperParameterValue",
    "IdArray",
    "InvalidHyperParameterError",
    "NotFittedError",
    "Recipe",
    "RecipeType",
    "ScoreArray",
    "history_csr",
    "history_matrix",
    "read_recipe_name",
    "recency_weights",
    "recency_weights_csr",
]

HyperParameterValue: TypeAlias = int | float | str
RecipeType: TypeAlias = Literal[
    "USER_PERSONALIZATION", "PERSONALIZED_RANKING", "RELATED_ITEMS", "POPULAR_ITEMS", "USER_SEGMENTATION"
]
IdArray: TypeAlias = NDArray[np.int64]
ScoreArray: TypeAlias = NDArray[np.float32]

DEFAULT_EASE_MAX_ITEMS = 30_000
#: float32 entries of a score block whose softmax :meth:`Recipe.scores_at` takes at once: 1 MB (2 MB as
#: float64), so that its several passes stay in the CPU's caches (45 → 31 µs a user on 5,000 items)
CACHE_ENTRIES = 262_144
FORMAT_VERSION = 1
_INT = re.compile(r"^[+-]?\d+$")


class InvalidHyperParameterError(ValueError):
    """A hyperparameter name or value that the recipe does not accept."""


class NotFittedError(RuntimeError):
    """A recipe was asked to recommend before ``fit`` or ``load``."""


@dataclass(frozen=True)
class HyperParameter:
    """One hyperparameter of a recipe: the single source for validation, defaults, docs and HPO.

    Parameters
    ----------
    name : str
        The key in ``algorithmHyperParameters`` (AWS's spelling where AWS has one).
    kind : {"int", "float", "categorical"}
        How the wire string is parsed.
    default : int, float or str
        Value used when the key is absent.
    low, high : float, optional
        Inclusive bounds for ``int``/``float``.
    values : tuple of str
        Allowed values of a ``categorical``.
    log_scale : bool
        HPO samples ``log(value)`` uniformly.
    tunable : bool
        Searched by HPO unless ranges are given explicitly.
    description : str
        One line for docs and ``DescribeRecipe``-style listings.

    Examples
    --------
    >>> hp = HyperParameter("hidden_dimension", "int", 128, low=32, high=256)
    >>> hp.parse("64")
    64
    >>> hp.parse("1000")
    Traceback (most recent call last):
    ...
    pertinent.recipes.base.InvalidHyperParameterError: Hyperparameter 'hidden_dimension' must be an integer \
between 32 and 256, got '1000'.
    """

    name: str
    kind: Literal["int", "float", "categorical"]
    default: HyperParameterValue
    low: float | None = None
    high: float | None = None
    values: tuple[str, ...] = ()
    log_scale: bool = False
    tunable: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind == "categorical" and self.default not in self.values:
            raise ValueError(f"default of {self.name} must be one of its values")
        if self.kind != "categorical":
            self.parse(self.default)

    def _describe(self) -> str:
        if self.kind == "categorical":
            return "one of " + ", ".join(repr(v) for v in self.values)
        noun = "an integer" if self.kind == "int" else "a number"
        if self.low is not None and self.high is not None:
            return f"{noun} between {_fmt(self.low)} and {_fmt(self.high)}"
        if self.low is not None:
            return f"{noun} >= {_fmt(self.low)}"
        if self.high is not None:
            return f"{noun} <= {_fmt(self.high)}"
        return noun

    def _fail(self, raw: object) -> InvalidHyperParameterError:
        return InvalidHyperParameterError(
            f"Hyperparameter {self.name!r} must be {self._describe()}, got {str(raw)!r}."
        )

    def parse(self, raw: object) -> HyperParameterValue:
        """Parse a wire value (usually a string) and check it; raise InvalidHyperParameterError."""
        if self.kind == "categorical":
            text = str(raw).lower() if isinstance(raw, bool) else str(raw).strip()
            lowered = {v.lower(): v for v in self.values}
            if text.lower() not in lowered:
                raise self._fail(raw)
            return lowered[text.lower()]
        value: float
        if isinstance(raw, bool):
            raise self._fail(raw)
        if self.kind == "int":
            if isinstance(raw, int):
                value = raw
            elif isinstance(raw, float) and raw.is_integer():
                value = int(raw)
            elif isinstance(raw, str) and _INT.match(raw.strip()):
                value = int(raw.strip())
            else:
                raise self._fail(raw)
        else:
            try:
                value = float(raw) if isinstance(raw, int | float | str) else math.nan
            except ValueError:
                raise self._fail(raw) from None
            if not math.isfinite(value):
                raise self._fail(raw)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise self._fail(raw)
        return value

    def to_wire(self, value: HyperParameterValue) -> str:
        """The string form used in ``algorithmHyperParameters`` / ``tunedHPOParams``."""
        if self.kind == "float":
            return repr(float(value))
        return str(value)

    def invalid_examples(self) -> list[str]:
        """Values this hyperparameter must reject (used by the contract tests, sklearn style)."""
        if self.kind == "categorical":
            return ["not-a-valid-choice"]
        bad = ["not-a-number"]
        if self.kind == "int":
            bad.append("1.5")
        if self.low is not None:
            bad.append(_fmt(self.low - (1 if self.kind == "int" else max(abs(self.low), 1.0))))
        if self.high is not None:
            bad.append(_fmt(self.high + (1 if self.kind == "int" else max(abs(self.high), 1.0))))
        return bad


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def recency_weights(length: int, half_life: float) -> NDArray[np.float32]:
    """Weights of a history of ``length`` events, oldest first: ``1 / (1 + age / half_life)``.

    The newest event (age 0) weighs 1, the one ``half_life`` events older 1/2, ``3·half_life`` older
    1/4: a hyperbolic decay, which keeps a long tail of older taste (it beat exponential decay on
    MovieLens). ``half_life <= 0`` means no recency weighting.

    Examples
    --------
    >>> recency_weights(4, 1.0).tolist()
    [0.25, 0.3333333432674408, 0.5, 1.0]
    """
    if half_life <= 0 or length == 0:
        return np.ones(length, dtype=np.float32)
    age = np.arange(length - 1, -1, -1, dtype=np.float64)
    return np.asarray(1.0 / (1.0 + age / half_life), dtype=np.float32)


def recency_weights_csr(indptr: NDArray[np.int64], half_life: float) -> NDArray[np.float32]:
    """:func:`recency_weights` of every row of a CSR of histories (rows oldest first), in one pass.

    Examples
    --------
    >>> recency_weights_csr(np.array([0, 2, 2, 5]), 1.0).tolist()
    [0.5, 1.0, 0.3333333432674408, 0.5, 1.0]
    """
    total = int(indptr[-1]) if len(indptr) else 0
    if half_life <= 0 or total == 0:
        return np.ones(total, dtype=np.float32)
    lengths = np.diff(indptr)
    last = np.repeat(indptr[1:] - 1, lengths)  # each entry's row end
    age = (last - np.arange(total)).astype(np.float64)
    return np.asarray(1.0 / (1.0 + age / half_life), dtype=np.float32)


def history_csr(
    indptr: NDArray[np.int64],
    items: NDArray[np.int64],
    weights: NDArray[np.float32],
    n_items: int,
    *,
    aggregate: Literal["max", "sum"] = "max",
) -> sp.csr_matrix:
    """:func:`history_matrix` of histories given as CSR parts (row ``r`` is ``items[indptr[r]:indptr[r+1]]``)."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    return _aggregated(rows, items.astype(np.int64, copy=False), weights, len(indptr) - 1, n_items, aggregate)


def history_matrix(
    histories: Sequence[NDArray[np.int64]],
    weights: Sequence[NDArray[np.float32]],
    n_items: int,
    *,
    aggregate: Literal["max", "sum"] = "max",
) -> sp.csr_matrix:
    """``len(histories) × n_items`` CSR of the histories, repeated items combined by ``aggregate``."""
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    cols = np.concatenate(histories) if histories else np.zeros(0, dtype=np.int64)
    vals = np.concatenate(weights) if weights else np.zeros(0, dtype=np.float32)
    return _aggregated(rows, cols, vals, len(histories), n_items, aggregate)


def _aggregated(
    rows: NDArray[Any],
    cols: NDArray[np.int64],
    vals: NDArray[np.float32],
    n_rows: int,
    n_items: int,
    aggregate: Literal["max", "sum"],
) -> sp.csr_matrix:
    shape = (n_rows, n_items)
    if aggregate == "max" and len(cols):
        key = rows.astype(np.int64) * max(n_items, 1) + cols
        order = np.lexsort((vals, key))
        last = np.ones(len(order), dtype=bool)
        last[:-1] = key[order][1:] != key[order][:-1]
        kept = order[last]
        rows, cols, vals = rows[kept], cols[kept], vals[kept]
    matrix = sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    return matrix


class Recipe(ABC):
    """Base class of every recipe (an estimator over :class:`~pertinent.training.matrix.InteractionData`).

    Parameters
    ----------
    random_state : int
        Seed for anything random in ``fit``; the same seed gives the same model.
    ease_max_items : int
        Largest catalog (items with interactions) the user-personalization recipes train with EASE; a
        server setting rather than a hyperparameter. Other recipes ignore it.

    Attributes
    ----------
    params_ : dict
        The validated hyperparameters used by ``fit`` (defaults filled in).
    n_items_ : int
        Catalog size at fit time.
    item_popularity_ : ndarray of float32
        Unique users per item in the training data (the tie-breaker).

    Examples
    --------
    >>> from pertinent.recipes.popularity_count import PopularityCount
    >>> from pertinent.training.matrix import InteractionData
    >>> data = InteractionData.from_indices([0, 1, 1, 2], [2, 2, 0, 1])
    >>> model = PopularityCount().fit(data)
    >>> model.recommend([], n=2)[0].tolist()
    [2, 0]
    """

    name: ClassVar[str]
    recipe_type: ClassVar[RecipeType]
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = ()
    #: scores are a softmax over the catalog (recommend) or over the input list (rank), as Personalize's
    #: user-personalization and personalized-ranking recipes return them; otherwise raw model scores
    softmax_scores: ClassVar[bool] = False

    params_: dict[str, HyperParameterValue]
    n_items_: int
    item_popularity_: NDArray[np.float32]

    def __init__(self, *, random_state: int = 0, ease_max_items: int = DEFAULT_EASE_MAX_ITEMS) -> None:
        self.random_state = random_state
        self.ease_max_items = ease_max_items

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(random_state={self.random_state}, ease_max_items={self.ease_max_items})"
        )

    # ------------------------------------------------------------------ hyperparameters
    @classmethod
    def hyperparameter(cls, name: str) -> HyperParameter:
        """The declaration of hyperparameter ``name``."""
        for hp in cls.hyperparameters:
            if hp.name == name:
                return hp
        raise InvalidHyperParameterError(cls._unknown_message(name))

    @classmethod
    def _unknown_message(cls, name: str) -> str:
        known = ", ".join(hp.name for hp in cls.hyperparameters) or "none"
        return f"Unknown hyperparameter {name!r} for recipe {cls.name}; valid hyperparameters: {known}."

    @classmethod
    def default_params(cls) -> dict[str, HyperParameterValue]:
        """Every hyperparameter at its default."""
        return {hp.name: hp.default for hp in cls.hyperparameters}

    @classmethod
    def validate_params(cls, params: Mapping[str, object] | None) -> dict[str, HyperParameterValue]:
        """Defaults overridden by ``params`` (wire strings or Python values), every value checked.

        Raises
        ------
        InvalidHyperParameterError
            For an unknown name or a value of the wrong kind or out of range.
        """
        resolved = cls.default_params()
        by_name = {hp.name: hp for hp in cls.hyperparameters}
        for name, raw in (params or {}).items():
            if name not in by_name:
                raise InvalidHyperParameterError(cls._unknown_message(name))
            resolved[name] = by_name[name].parse(raw)
        return resolved

    @classmethod
    def params_to_wire(cls, params: Mapping[str, HyperParameterValue]) -> dict[str, str]:
        """Hyperparameters as ``algorithmHyperParameters`` strings."""
        return {name: cls.hyperparameter(name).to_wire(value) for name, value in params.items()}

    def tunable_hyperparameters(
        self, data: InteractionData, params: Mapping[str, HyperParameterValue]
    ) -> tuple[HyperParameter, ...]:
        """What HPO searches by default for ``data`` given the fixed ``params`` (all ``tunable`` ones
        unless a recipe knows better)."""
        return tuple(hp for hp in self.hyperparameters if hp.tunable)

    # ------------------------------------------------------------------ fitting
    def fit(self, data: InteractionData, params: Mapping[str, object] | None = None) -> Self:
        """Learn from ``data`` with hyperparameters ``params`` (validated); returns ``self``."""
        self.params_ = self.validate_params(params)
        self.n_items_ = data.n_items
        self.item_popularity_ = data.item_user_counts.astype(np.float32)
        try:
            self._fit(data)
        except BaseException:
            for name in [k for k in vars(self) if k.endswith("_")]:
                delattr(self, name)  # a failed fit leaves an unfitted recipe, not a half-fitted one
            raise
        return self

    @property
    def algorithm(self) -> str:
        """The algorithm behind the fitted model (e.g. ``"ease"`` or ``"ials"``)."""
        return self.name

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "n_items_")

    @abstractmethod
    def _fit(self, data: InteractionData) -> None:
        """Learn the model; ``self.params_`` is set."""

    @abstractmethod
    def _score(
        self, histories: Sequence[NDArray[np.int64]], weights: Sequence[NDArray[np.float32]]
    ) -> ScoreArray:
        """Raw scores, ``len(histories) × n_items_`` float32 (higher is better)."""

    def _similar_scores(self, item: int) -> ScoreArray:
        """Raw similarity of every item to ``item`` (default: the scores of a one-item history)."""
        scores: ScoreArray = self._score([np.array([item], dtype=np.int64)], [np.ones(1, dtype=np.float32)])[
            0
        ]
        return scores

    # ------------------------------------------------------------------ inference
    def recommend(
        self,
        history_item_idx: ArrayLike,
        n: int = 25,
        exclude: ArrayLike | None = None,
        candidates: ArrayLike | None = None,
        *,
        history_weights: ArrayLike | None = None,
    ) -> tuple[IdArray, ScoreArray]:
        """Top ``n`` items for one history.

        Parameters
        ----------
        history_item_idx : array-like of int
            Item indices the user interacted with, oldest first (may be empty or unseen in training).
        n : int
            How many items at most.
        exclude : array-like of int, optional
            Items never to return (e.g. a filter's result, or the history itself).
        candidates : array-like of int, optional
            Only these items may be returned.
        history_weights : array-like of float, optional
            Per-event weights (``eventsConfig`` weights); default 1.

        Returns
        -------
        item_idx : ndarray of int64
        scores : ndarray of float32
            Best first; fewer than ``n`` when exclusion leaves fewer items.
        """
        ids, scores = self.recommend_batch(
            [history_item_idx],
            n,
            exclude=None if exclude is None else [exclude],
            candidates=candidates,
            history_weights=None if history_weights is None else [history_weights],
        )
        valid = ids[0] >= 0
        return ids[0][valid], scores[0][valid]

    def recommend_batch(
        self,
        histories: Sequence[ArrayLike],
        n: int = 25,
        exclude: Sequence[ArrayLike] | None = None,
        candidates: ArrayLike | None = None,
        *,
        history_weights: Sequence[ArrayLike] | None = None,
    ) -> tuple[IdArray, ScoreArray]:
        """:meth:`recommend` for many histories at once.

        Returns ``len(histories) × n`` arrays; rows with fewer results are padded with item ``-1`` and
        score ``-inf``. ``exclude`` has one entry per history; ``candidates`` applies to all.
        """
        self._check_fitted()
        if n < 0:
            raise ValueError("n must be >= 0")
        hist, weights = self._prepare(histories, history_weights)
        if exclude is not None and len(exclude) != len(hist):
            raise ValueError("exclude must have one entry per history")
        raw = self._score(hist, weights) if hist else np.zeros((0, self.n_items_), dtype=np.float32)
        allowed = np.ones(self.n_items_, dtype=bool)
        if candidates is not None:
            allowed[:] = False
            allowed[self._check_items(candidates)] = True
        if candidates is None:
            masked = np.array(raw, dtype=np.float32)  # a copy (the same values np.where gives)
        else:
            masked = np.where(allowed, raw, -np.inf).astype(np.float32)
        if exclude is not None:
            for row in range(len(hist)):
                masked[row, self._check_items(exclude[row])] = -np.inf
        out_ids = self.top_n_rows(masked, n)
        return out_ids, self.scores_at(raw, out_ids)

    def top_n_rows(self, masked: ScoreArray, n: int) -> IdArray:
        """:meth:`_top_n` of every row of ``masked`` (``-inf``: not allowed), ``rows × n``, padded with -1.

        Without a loop over rows: the maxima of at least ``2n`` column groups give each row a lower bound
        on its n-th best score (n groups have their maximum above it), the items at or above the bound
        (the n best, ties included, and a few more) are sorted once for the whole block by score,
        popularity and index, and each row keeps its first ``n`` — exactly :meth:`_top_n`'s pool and
        order. Rows holding NaN take :meth:`_top_n` itself."""
        rows, cols = masked.shape
        out = np.full((rows, n), -1, dtype=np.int64)
        k = min(n, cols)
        if rows == 0 or k == 0:
            return out
        groups = max(64, 2 * k)
        if cols < 4 * groups:  # small catalogs: one row at a time costs little
            for row in range(rows):
                found = self._top_n(masked[row], n)
                out[row, : len(found)] = found
            return out
        width = cols // groups
        maxima = masked[:, : groups * width].reshape(rows, groups, width).max(axis=2)
        if cols > groups * width:
            maxima = np.concatenate([maxima, masked[:, groups * width :].max(axis=1, keepdims=True)], axis=1)
        bound = np.partition(maxima, maxima.shape[1] - k, axis=1)[:, maxima.shape[1] - k]
        odd = np.isnan(maxima).any(axis=1)
        bound = np.maximum(bound, np.finfo(np.float32).min)  # never -inf: only allowed items qualify
        bound[odd] = np.inf
        row_of, item = np.divmod(np.flatnonzero(masked >= bound[:, None]), cols)
        score = masked[row_of, item]
        order = np.lexsort((item, -self.item_popularity_[item], -score, row_of))
        row_of, item = row_of[order], item[order]
        rank = np.arange(len(row_of)) - np.searchsorted(row_of, np.arange(rows))[row_of]
        keep = rank < k
        out[row_of[keep], rank[keep]] = item[keep]
        for row in np.flatnonzero(odd).tolist():
            found = self._top_n(masked[row], n)
            out[row, : len(found)] = found
        return out

    def scores_at(self, raw: ScoreArray, ids: IdArray) -> ScoreArray:
        """The scores :meth:`recommend` reports for ``ids`` (``rows × n``, -1 padded) from the raw rows:
        a softmax over each whole row for recipes with ``softmax_scores``, else the raw score; -inf pads."""
        out = np.full(ids.shape, -np.inf, dtype=np.float32)
        valid = ids >= 0
        if not valid.any():
            return out
        safe = np.where(valid, ids, 0)
        if self.softmax_scores:
            # float64 exponentials of a cache-sized group of rows at a time (each row's sum is the same)
            step = max(1, CACHE_ENTRIES // 2 // max(raw.shape[1], 1))
            for start in range(0, len(raw), step):
                rows = raw[start : start + step]
                top = rows.max(axis=1).astype(np.float64)
                denominator = _softmax_denominators(rows, top)
                picked = np.take_along_axis(rows, safe[start : start + step], axis=1).astype(np.float64)
                values = (np.exp(picked - top[:, None]) / denominator[:, None]).astype(np.float32)
                out[start : start + step] = np.where(valid[start : start + step], values, -np.inf)
        else:
            out[valid] = np.take_along_axis(raw, safe, axis=1)[valid]
        return out

    def score_rows(
        self, indptr: NDArray[np.int64], items: NDArray[np.int64], weights: NDArray[np.float32]
    ) -> ScoreArray:
        """:meth:`_score` of histories given as CSR parts (row ``r``: ``items[indptr[r]:indptr[r+1]]``,
        oldest first) — the batch path; recipes that can score the matrix at once override it."""
        bounds = indptr.tolist()
        histories = [items[lo:hi].astype(np.int64) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        row_weights = [weights[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        if not histories:
            return np.zeros((0, self.n_items_), dtype=np.float32)
        return self._score(histories, row_weights)

    def rank(
        self, history_item_idx: ArrayLike, items: ArrayLike, *, history_weights: ArrayLike | None = None
    ) -> tuple[IdArray, ScoreArray]:
        """Order ``items`` (GetPersonalizedRanking's inputList, as indices) for one history, best first.

        Duplicates are ranked once. Scores are a softmax over ``items`` for recipes with
        ``softmax_scores``, raw scores otherwise.
        """
        self._check_fitted()
        candidate_ids = self._check_items(items)
        _, first = np.unique(candidate_ids, return_index=True)
        candidate_ids = candidate_ids[np.sort(first)]
        hist, weights = self._prepare(
            [history_item_idx], None if history_weights is None else [history_weights]
        )
        raw = self._score(hist, weights)[0][candidate_ids]
        order = np.lexsort((np.arange(len(candidate_ids)), -self.item_popularity_[candidate_ids], -raw))
        scores = _softmax(raw) if self.softmax_scores else raw
        return candidate_ids[order], scores[order].astype(np.float32)

    def similar_items(
        self,
        item_idx: int,
        n: int = 25,
        exclude: ArrayLike | None = None,
        candidates: ArrayLike | None = None,
    ) -> tuple[IdArray, ScoreArray]:
        """Top ``n`` items related to ``item_idx`` (never the item itself), popular items as fallback."""
        self._check_fitted()
        item = int(self._check_items([item_idx])[0])
        scores = self._similar_scores(item).astype(np.float32, copy=True)
        if candidates is not None:
            allowed = np.zeros(self.n_items_, dtype=bool)
            allowed[self._check_items(candidates)] = True
            scores[~allowed] = -np.inf
        if exclude is not None:
            scores[self._check_items(exclude)] = -np.inf
        scores[item] = -np.inf
        top = self._top_n(scores, n)
        return top, scores[top]

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load() first.")

    def _check_items(self, items: ArrayLike) -> NDArray[np.int64]:
        arr = np.asarray(items)
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"item indices must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64).ravel()
        if arr.min() < 0 or arr.max() >= self.n_items_:
            raise ValueError(f"item index out of range [0, {self.n_items_})")
        return arr

    def _prepare(
        self, histories: Sequence[ArrayLike], weights: Sequence[ArrayLike] | None
    ) -> tuple[list[NDArray[np.int64]], list[NDArray[np.float32]]]:
        if weights is not None and len(weights) != len(histories):
            raise ValueError("history_weights must have one entry per history")
        hist = [self._check_items(h) for h in histories]
        out_w: list[NDArray[np.float32]] = []
        for i, h in enumerate(hist):
            if weights is None or weights[i] is None:
                out_w.append(np.ones(len(h), dtype=np.float32))
            else:
                w = np.asarray(weights[i], dtype=np.float32).ravel()
                if len(w) != len(h):
                    raise ValueError("each history_weights entry must match its history's length")
                out_w.append(w)
        return hist, out_w

    def _top_n(self, scores: ScoreArray, n: int) -> IdArray:
        """Indices of the ``n`` best finite scores; ties by popularity, then index."""
        finite = np.flatnonzero(scores > -np.inf)
        k = min(n, len(finite))
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        if k < len(finite):
            part = finite[np.argpartition(-scores[finite], k - 1)[:k]]
            threshold = scores[part].min()
            pool = finite[scores[finite] >= threshold]
        else:
            pool = finite
        order = np.lexsort((pool, -self.item_popularity_[pool], -scores[pool]))[:k]
        result: IdArray = pool[order].astype(np.int64)
        return result

    # ------------------------------------------------------------------ persistence
    @abstractmethod
    def _state(self) -> dict[str, NDArray[Any]]:
        """Learned arrays to save (names ending in ``_``)."""

    @abstractmethod
    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        """Inverse of :meth:`_state`; ``meta`` is what :meth:`_meta` returned."""

    def _meta(self) -> dict[str, Any]:
        """Extra JSON-able learned values (e.g. the algorithm chosen)."""
        return {}

    def save(self, path: str | Path) -> None:
        """Write ``<path>.npz`` (arrays, ``allow_pickle=False``) and ``<path>.json`` (everything else)."""
        self._check_fitted()
        npz_path, json_path = _artifact_paths(path)
        npz_path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"item_popularity_": self.item_popularity_, **self._state()}
        for key, value in arrays.items():
            if value.dtype == object:
                raise TypeError(f"{key}: object arrays cannot be saved without pickle")
        with open(npz_path, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        meta = {
            "format_version": FORMAT_VERSION,
            "recipe": self.name,
            "algorithm": self.algorithm,
            "params": self.params_to_wire(self.params_),
            "random_state": self.random_state,
            "ease_max_items": self.ease_max_items,
            "n_items": self.n_items_,
            "learned": self._meta(),
        }
        json_path.write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read what :meth:`save` wrote; the recipe name in the sidecar must match this class."""
        npz_path, json_path = _artifact_paths(path)
        meta = json.loads(json_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported model format {meta.get('format_version')!r}")
        if meta.get("recipe") != cls.name:
            raise ValueError(f"{json_path} holds a {meta.get('recipe')!r} model, not {cls.name!r}")
        model = cls(random_state=int(meta["random_state"]), ease_max_items=int(meta["ease_max_items"]))
        model.params_ = cls.validate_params(meta["params"])
        with np.load(npz_path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        model.item_popularity_ = arrays.pop("item_popularity_").astype(np.float32)
        model.n_items_ = int(meta["n_items"])
        model._restore(arrays, dict(meta.get("learned", {})))
        return model


def read_recipe_name(path: str | Path) -> str:
    """The recipe name recorded in a saved model's JSON sidecar."""
    _, json_path = _artifact_paths(path)
    return str(json.loads(json_path.read_text())["recipe"])


def _artifact_paths(path: str | Path) -> tuple[Path, Path]:
    base = Path(path)
    if base.suffix in (".npz", ".json"):
        base = base.with_suffix("")
    return base.parent / f"{base.name}.npz", base.parent / f"{base.name}.json"


def _softmax_denominators(rows: NDArray[np.float32], top: NDArray[np.float64]) -> NDArray[np.float64]:
    """``Σ exp(raw − max)`` of each row, in float64. Exact zeros are counted instead of exponentiated:
    rows mostly of zeros (block-structured data) by a sparse pass, and columns that are zero in every row
    (EASE's items outside its matrix, more than half of ml-latest-small's catalog) by leaving them out of
    the exponentials and adding ``count · exp(−max)`` — the same sum up to float64 rounding, far below the
    float32 scores it divides."""
    zeros = rows.size - np.count_nonzero(rows)
    if zeros < 0.9 * rows.size:
        used = rows.any(axis=0) if zeros else None
        skipped = 0 if used is None else rows.shape[1] - int(np.count_nonzero(used))
        shifted = (rows if used is None or not skipped else rows[:, used]).astype(np.float64)
        shifted -= top[:, None]
        sums = np.exp(shifted, out=shifted).sum(axis=1)
        if skipped:
            sums += skipped * np.exp(-top)
        return np.asarray(sums, dtype=np.float64)
    flat = np.flatnonzero(rows)
    row_of = flat // rows.shape[1]
    terms = np.exp(rows.reshape(-1)[flat].astype(np.float64) - top[row_of])
    sums = np.bincount(row_of, weights=terms, minlength=len(rows))
    zero_counts = rows.shape[1] - np.bincount(row_of, minlength=len(rows))
    return np.asarray(sums + zero_counts * np.exp(-top), dtype=np.float64)


def _softmax(raw: NDArray[np.float32]) -> NDArray[np.float32]:
    if raw.size == 0:
        return raw.astype(np.float32)
    shifted = raw.astype(np.float64) - float(np.max(raw))
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(), dtype=np.float32)
