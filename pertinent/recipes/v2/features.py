"""One request's candidates and features, computed from the live history (nothing cached per user).

A :class:`RequestState` is what serving knows at request time: the user's whole history (training data
plus every event since, oldest first), the event type and value of the newest event, items shown to the
user (impressions), the request's context and the user's metadata, all as codes of the trained model's
vocabularies. :func:`candidate_features` turns it into a candidate set and a feature matrix; the same
function builds the ranker's training rows, so training and serving cannot drift apart.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from pertinent.recipes.v2.generators import LiftTable, row_positions, sequence_scores

if TYPE_CHECKING:
    from pertinent.recipes.user_personalization import UserPersonalization

__all__ = ["BASE_FEATURES", "Generators", "RequestState", "candidate_features"]

#: feature columns before the per-context-column and per-user-column ones
BASE_FEATURES: tuple[str, ...] = (
    "v1_score",
    "v1_rank",
    "transition_score",
    "transition_rank",
    "transition_from_last",
    "session_score",
    "session_rank",
    "session_from_last",
    "metadata_score",
    "metadata_rank",
    "popularity",
    "trend",
    "item_age_days",
    "times_seen",
    "events_since_seen",
    "impressions_without_click",
    "history_length",
    "last_event_type",
    "last_event_value",
    "v1_z",
    "transition_z",
    "blend",
    "log_gap_seconds",
    "recent_popularity_short",
    "recent_popularity_long",
    "popularity_before",
)
LAST_EVENT_TYPE = BASE_FEATURES.index("last_event_type")
NEVER = 1e4  # events_since_seen of an item never seen
DENSE_TOKENS_MAX = 1 << 20  # items × metadata tokens up to which the token matrix is also kept dense


@dataclass(frozen=True)
class RequestState:
    """Everything a request knows, as model indices and codes."""

    items: NDArray[np.int64]
    weights: NDArray[np.float32]
    impressions: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    context_codes: Mapping[str, int] = field(default_factory=dict)
    user_codes: Mapping[str, int] = field(default_factory=dict)
    last_event_type: int = -1
    last_event_value: float = float("nan")
    time: float = float("nan")  # epoch seconds of the request (the newest event); NaN: the data's end
    gap_seconds: float = float("nan")  # seconds from the newest event to the request; NaN: unknown


@dataclass(frozen=True, eq=False)
class Generators:
    """The fitted first stage: scorers and learned tables."""

    base: UserPersonalization
    transitions: sp.csr_matrix
    cooccurrence: sp.csr_matrix
    item_features: sp.csr_matrix | None
    popularity: NDArray[np.float32]
    trend: NDArray[np.float32]
    item_created: NDArray[np.float64]  # creation time or first interaction, NaN when unknown (new)
    popular_order: NDArray[np.int64]
    trending_order: NDArray[np.int64]
    newest_order: NDArray[np.int64]
    context_lifts: Mapping[str, LiftTable]
    user_lifts: Mapping[str, LiftTable]
    end_time: float = 0.0
    #: mean log interaction count of an item's metadata tokens: a last tie-breaker among cold items
    metadata_popularity: NDArray[np.float32] | None = None
    candidate_counts: tuple[int, int, int, int, int, int, int] = (150, 60, 60, 40, 30, 20, 20)
    #: every interaction as ``item * stride + (timestamp - start)``, sorted: item counts in any time window
    event_keys: NDArray[np.int64] | None = None
    start_time: float = 0.0
    stride: int = 1
    #: newest events the v1 scorer reads (0: all): its cost grows with the history, older events weigh little
    history_limit: int = 0

    def counts_before(self, c: NDArray[np.int64], times: Sequence[float]) -> NDArray[np.float32]:
        """Interactions of items ``c`` with a timestamp before each of ``times`` (one row per time).

        A time after the newest event counts every interaction of the item (no search); each item's first
        key is computed once per model (:attr:`item_key_starts`)."""
        if self.event_keys is None:
            return np.zeros((len(times), len(c)), dtype=np.float32)
        starts = self.item_key_starts
        out = np.empty((len(times), len(c)), dtype=np.float32)
        times_arr = np.asarray(times, dtype=np.float64)
        late = times_arr > self.start_time + self.stride - 2  # after every event: all of them count
        if late.any():
            out[late] = (starts[c + 1] - starts[c]).astype(np.float32)
        if not late.all():
            rows = np.flatnonzero(~late)
            offsets = np.clip(np.ceil(times_arr[rows] - self.start_time), 0, self.stride - 1).astype(np.int64)
            queries = (c[None, :] * self.stride + offsets[:, None]).ravel()
            found = np.searchsorted(self.event_keys, queries).reshape(len(rows), len(c))
            out[rows] = (found - starts[c][None, :]).astype(np.float32)
        return out

    @functools.cached_property
    def sequence_pair(self) -> sp.csr_matrix:
        """``[transitions | co-occurrence]``: a request reads both from one matrix (computed once)."""
        return sp.csr_matrix(sp.hstack([self.transitions, self.cooccurrence], format="csr"), dtype=np.float32)

    @functools.cached_property
    def dense_item_features(self) -> NDArray[np.float32] | None:
        """The item-token matrix as a dense array when it is small (a dense product is cheaper)."""
        tokens = self.item_features
        if tokens is None or tokens.shape[0] * tokens.shape[1] > DENSE_TOKENS_MAX:
            return None
        return np.asarray(tokens.toarray(), dtype=np.float32)

    @functools.cached_property
    def item_key_starts(self) -> NDArray[np.int64]:
        """Position of each item's first key in :attr:`event_keys` (and the total at the end)."""
        keys = self.event_keys if self.event_keys is not None else np.zeros(0, dtype=np.int64)
        bounds = np.arange(self.n_items + 1, dtype=np.int64) * self.stride
        return np.asarray(np.searchsorted(keys, bounds), dtype=np.int64)

    @property
    def n_items(self) -> int:
        return len(self.popularity)

    def feature_names(self) -> list[str]:
        names = list(BASE_FEATURES)
        for column in self.context_lifts:
            names += [f"context:{column}", f"context_metadata:{column}"]
        for column in self.user_lifts:
            names += [f"user:{column}", f"user_metadata:{column}"]
        return names


@dataclass(frozen=True)
class Scored:
    """Candidates, their features and the raw generator scores (for explanations)."""

    candidates: NDArray[np.int64]
    features: NDArray[np.float32]
    v1: NDArray[np.float32]


def _top(scores: NDArray[np.float32], k: int, allowed: NDArray[np.bool_] | None) -> NDArray[np.int64]:
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    masked = scores if allowed is None else np.where(allowed, scores, -np.inf)
    k = min(k, len(masked))
    top = np.argpartition(-masked, k - 1)[:k]
    top = top[np.isfinite(masked[top]) & (masked[top] > 0)]
    return top.astype(np.int64)


def _top_any(scores: NDArray[np.float32], k: int, allowed: NDArray[np.bool_] | None) -> NDArray[np.int64]:
    """The ``k`` best of ``allowed`` items whatever their sign (:func:`_top` keeps positive scores only)."""
    if allowed is not None:
        pool = np.flatnonzero(allowed)
        if len(pool) > k > 0:
            pool = pool[np.argpartition(-scores[pool], k - 1)[:k]]
        return pool.astype(np.int64) if k > 0 else np.zeros(0, dtype=np.int64)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= len(scores):
        return np.arange(len(scores), dtype=np.int64)
    return np.argpartition(-scores, k - 1)[:k].astype(np.int64)


def _top_sparse(
    scores: NDArray[np.float32], k: int, allowed: NDArray[np.bool_] | None
) -> NDArray[np.int64]:
    """:func:`_top` of a mostly-zero score vector: only its positive entries are ranked."""
    found = np.flatnonzero(scores > 0)
    if allowed is not None:
        found = found[allowed[found]]
    if len(found) > k > 0:
        found = found[np.argpartition(-scores[found], k - 1)[:k]]
    return found.astype(np.int64) if k > 0 else np.zeros(0, dtype=np.int64)


def _first_allowed(order: NDArray[np.int64], k: int, allowed: NDArray[np.bool_] | None) -> NDArray[np.int64]:
    if allowed is None:
        return order[:k]
    head = order[: 8 * k]  # filters rarely drop most of the head: look further only when they do
    found = head[allowed[head]][:k]
    return found if len(found) == k or len(head) == len(order) else order[allowed[order]][:k]


def _ranks_rows(scores: NDArray[np.float32]) -> NDArray[np.float32]:
    """:func:`_ranks` of each row of ``scores`` in one sort."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty(scores.shape, dtype=np.float32)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1], dtype=np.float32)[None, :], axis=1)
    ranks[scores <= 0] = scores.shape[1]
    return ranks


def candidate_features(
    gen: Generators,
    state: RequestState,
    *,
    candidates: NDArray[np.int64] | None = None,
    allowed: NDArray[np.bool_] | None = None,
) -> Scored:
    """Candidates (given, or from every generator among ``allowed`` items) and their feature rows."""
    n = gen.n_items
    items = state.items
    v1 = np.zeros(n, dtype=np.float32)
    if len(items):
        start = max(0, len(items) - gen.history_limit) if gen.history_limit > 0 else 0
        v1 = gen.base._score([items[start:]], [state.weights[start:]])[0]
    both, both_last = sequence_scores(gen.sequence_pair, items)  # transitions | co-occurrence, one pass
    trans, cooc, trans_last, cooc_last = both[:n], both[n:], both_last[:n], both_last[n:]
    content = np.zeros(n, dtype=np.float32)
    if gen.item_features is not None and len(items):
        content = _content_scores(gen.item_features, items[-50:], gen.dense_item_features)
    if candidates is None:
        k_v1, k_tr, k_co, k_md, k_pop, k_trend, k_new = gen.candidate_counts
        parts = [
            _top_any(v1, k_v1, allowed) if len(items) else np.zeros(0, dtype=np.int64),
            _top_sparse(trans, k_tr, allowed),
            _top_sparse(cooc, k_co, allowed),
            _top(content, k_md, allowed),
            _first_allowed(gen.popular_order, k_pop, allowed),
            _first_allowed(gen.trending_order, k_trend, allowed),
            _first_allowed(gen.newest_order, k_new, allowed),
        ]
        # popular among requests with the same context value / users with the same metadata value:
        # ``log P(item | value)`` up to a constant
        for tables, codes in ((gen.context_lifts, state.context_codes), (gen.user_lifts, state.user_codes)):
            for name, table in tables.items():
                found = table.features(codes.get(name, -1))
                if found is not None:
                    parts.append(_top_any(gen.popularity + found[0], k_pop, allowed))
        chosen = np.zeros(n, dtype=bool)  # the union, sorted (cheaper than np.unique of the parts)
        chosen[np.concatenate(parts)] = True
        candidates = np.flatnonzero(chosen).astype(np.int64)
    c = candidates
    if len(c) == 0:
        return Scored(c, np.zeros((0, len(gen.feature_names())), dtype=np.float32), v1)
    seen_count: NDArray[np.float32] = np.zeros(len(c), dtype=np.float32)
    if len(items):
        seen_count = np.bincount(items, minlength=n)[c].astype(np.float32)
    since = np.full(len(c), NEVER, dtype=np.float32)
    if len(items):  # events since each item's newest occurrence in the history
        newest_first, position = np.unique(items[::-1], return_index=True)
        at = np.searchsorted(newest_first, c)
        hit = (at < len(newest_first)) & (newest_first[np.minimum(at, len(newest_first) - 1)] == c)
        since[hit] = position[at[hit]]
    shown: NDArray[np.float32] = np.zeros(len(c), dtype=np.float32)
    if len(state.impressions):
        counts = np.bincount(state.impressions, minlength=n)[c]
        shown = np.where(seen_count > 0, 0.0, counts).astype(np.float32)
    v1_z, trans_z = _z(v1, c), _z(trans, c)
    v1_c, trans_c, cooc_c, content_c = v1[c], trans[c], cooc[c], content[c]
    ranks = _ranks_rows(np.vstack([v1_c - v1_c.min() + 1e-6, trans_c, cooc_c, content_c]))
    if not len(items):
        ranks[0] = len(c)
    columns: list[NDArray[np.float32] | float] = [
        v1_c,
        ranks[0],
        trans_c,
        ranks[1],
        trans_last[c],
        cooc_c,
        ranks[2],
        cooc_last[c],
        content_c,
        ranks[3],
        gen.popularity[c],
        gen.trend[c],
        _age_days(gen, state, c),
        seen_count,
        since,
        shown,
        float(np.log1p(len(items))),
        float(state.last_event_type) if state.last_event_type >= 0 else float("nan"),
        state.last_event_value,
        v1_z,
        trans_z,
        v1_z + trans_z,
        float(np.log1p(max(state.gap_seconds, 0.0))) if np.isfinite(state.gap_seconds) else float("nan"),
        *_time_columns(gen, state, c),
    ]
    for name, table in gen.context_lifts.items():
        columns += _lift_columns(table, state.context_codes.get(name, -1), c)
    for name, table in gen.user_lifts.items():
        columns += _lift_columns(table, state.user_codes.get(name, -1), c)
    matrix = np.empty((len(c), len(columns)), dtype=np.float32)
    for j, col in enumerate(columns):
        matrix[:, j] = col
    return Scored(c, matrix, v1)


def _content_scores(
    tokens: sp.csr_matrix, recent: NDArray[np.int64], dense: NDArray[np.float32] | None = None
) -> NDArray[np.float32]:
    """Cosine-like similarity of every item's metadata to the recency-weighted profile of ``recent``
    (``dense``: the same token matrix as a dense array, when small)."""
    w = (1.0 / (1.0 + np.arange(len(recent))[::-1] / 10.0)).astype(np.float32)
    if dense is not None:
        profile_dense = w @ dense[recent]
        norm_dense = float(np.sqrt(profile_dense @ profile_dense))
        if norm_dense == 0.0:
            return np.zeros(tokens.shape[0], dtype=np.float32)
        return np.asarray(dense @ (profile_dense / norm_dense), dtype=np.float32)
    starts, ends = tokens.indptr[recent], tokens.indptr[recent + 1]
    lengths = ends - starts
    if lengths.sum() == 0:
        return np.zeros(tokens.shape[0], dtype=np.float32)
    positions = row_positions(starts, lengths)
    profile = np.bincount(
        tokens.indices[positions], weights=tokens.data[positions] * np.repeat(w, lengths), minlength=tokens.shape[1]
    )
    norm = float(np.sqrt(profile @ profile)) or 1.0
    # a float32 vector: a float64 one would make scipy convert the whole token matrix on every request
    return np.asarray(tokens @ (profile / norm).astype(tokens.dtype), dtype=np.float32)


def _moments(values: NDArray[np.float32]) -> tuple[float, float]:
    n = max(len(values), 1)
    mean = float(values.sum(dtype=np.float64)) / n
    square = float(np.dot(values, values)) / n  # one pass each, no temporary of the catalog's size
    return mean, float(np.sqrt(max(square - mean * mean, 0.0))) or 1.0


def _z(values: NDArray[np.float32], c: NDArray[np.int64]) -> NDArray[np.float32]:
    """``values[c]`` standardized over the whole catalog (the tuned blend baseline's scale)."""
    mean, std = _moments(values)
    return ((values[c] - mean) / std).astype(np.float32)


def _time_columns(gen: Generators, state: RequestState, c: NDArray[np.int64]) -> list[NDArray[np.float32]]:
    """Item activity before the request: in the last 1 % and 10 % of the data's span, and all before."""
    now = state.time if np.isfinite(state.time) else gen.end_time
    span = max(gen.end_time - gen.start_time, 1.0)
    at = gen.counts_before(c, [now - 0.1 * span, now - 0.01 * span, now])
    return [np.log1p(at[2] - at[1]), np.log1p(at[2] - at[0]), np.log1p(at[2])]


def _age_days(gen: Generators, state: RequestState, c: NDArray[np.int64]) -> NDArray[np.float32]:
    """How old each candidate was at the request's time (negative: it did not exist yet)."""
    now = state.time if np.isfinite(state.time) else gen.end_time
    created = gen.item_created[c]
    return np.where(np.isfinite(created), (now - created) / 86400.0, 0.0).astype(np.float32)


def _lift_columns(table: LiftTable, code: int, c: NDArray[np.int64]) -> Sequence[NDArray[np.float32] | float]:
    found = table.features(code)
    if found is None:
        return [float("nan"), float("nan")]
    by_item, by_meta = found
    return [by_item[c], by_meta[c]]
