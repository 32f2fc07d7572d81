"""Candidate generators and learned lookup tables of the v2 engine (pure numpy/scipy).

* :func:`transition_matrix`: what follows what. ``T[a, b]`` sums ``1/gap`` over users' consecutive
  events ``a`` then ``b`` at most ``max_gap`` events later, row-normalized with a smoothing count, and
  pruned to the ``keep`` strongest successors per item.
* :func:`cooccurrence_matrix`: items close together in a user's sequence (a window of ``window`` events
  either side: a session), cosine-normalized by popularity, pruned the same way.
* :func:`popularity_and_trend`: log interaction counts and the ratio of recent to overall activity.
* :func:`lift_table`: ``log P(value | item) / P(value)`` of a categorical column (context, user
  metadata), smoothed toward 0 for rare items, plus the same learned over item *metadata tokens* so items
  without interactions get an affinity from their metadata.
* :func:`sequence_scores`: a history's score vector from one of the item-item matrices over its last
  events, the newest weighing most.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

__all__ = [
    "LiftTable",
    "carries_signal",
    "user_column_signal",
    "cooccurrence_matrix",
    "lift_table",
    "popularity_and_trend",
    "prune_rows",
    "recent_cut",
    "row_positions",
    "sequence_scores",
    "transition_matrix",
    "trend_of",
]


def prune_rows(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Keep the ``keep`` largest entries of each row."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.sort_indices()
    lengths = np.diff(matrix.indptr)
    if lengths.max(initial=0) <= keep:
        return matrix
    keep_mask = np.ones(matrix.nnz, dtype=bool)
    for row in np.flatnonzero(lengths > keep).tolist():
        lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
        values = matrix.data[lo:hi]
        drop = np.argpartition(-values, keep)[keep:]
        keep_mask[lo + drop] = False
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)[keep_mask]
    return sp.csr_matrix(
        (matrix.data[keep_mask], (rows, matrix.indices[keep_mask])), shape=matrix.shape, dtype=np.float32
    )


def _pairs(
    user_idx: NDArray[np.int32], item_idx: NDArray[np.int32], gap: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    same = user_idx[:-gap] == user_idx[gap:]
    src = item_idx[:-gap][same].astype(np.int64)
    dst = item_idx[gap:][same].astype(np.int64)
    distinct = src != dst
    return src[distinct], dst[distinct]


def transition_matrix(
    user_idx: NDArray[np.int32],
    item_idx: NDArray[np.int32],
    n_items: int,
    *,
    max_gap: int = 3,
    smoothing: float = 5.0,
    keep: int = 100,
) -> sp.csr_matrix:
    """Directed item→next-item weights learned from consecutive events (see module docs)."""
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    vals: list[NDArray[np.float32]] = []
    for gap in range(1, max_gap + 1):
        if len(item_idx) <= gap:
            break
        src, dst = _pairs(user_idx, item_idx, gap)
        rows.append(src)
        cols.append(dst)
        vals.append(np.full(len(src), 1.0 / gap, dtype=np.float32))
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    counts = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items)
    )
    counts.sum_duplicates()
    totals = np.asarray(counts.sum(axis=1)).ravel()
    normalized = sp.diags((1.0 / (totals + smoothing)).astype(np.float32)) @ counts
    return prune_rows(sp.csr_matrix(normalized), keep)


def cooccurrence_matrix(
    user_idx: NDArray[np.int32],
    item_idx: NDArray[np.int32],
    n_items: int,
    *,
    window: int = 5,
    keep: int = 100,
) -> sp.csr_matrix:
    """Symmetric session co-occurrence within ``window`` events, cosine-normalized."""
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    for gap in range(1, window + 1):
        if len(item_idx) <= gap:
            break
        src, dst = _pairs(user_idx, item_idx, gap)
        rows += [src, dst]
        cols += [dst, src]
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    r, c = np.concatenate(rows), np.concatenate(cols)
    counts = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(n_items, n_items))
    counts.sum_duplicates()
    popularity = np.bincount(item_idx, minlength=n_items).astype(np.float32)
    inv = (1.0 / np.sqrt(popularity + 1.0)).astype(np.float32)
    normalized = sp.diags(inv) @ counts @ sp.diags(inv)
    return prune_rows(sp.csr_matrix(normalized), keep)


def sequence_scores(
    matrix: sp.csr_matrix, history: NDArray[np.int64], *, last: int = 5
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(score over the last ``last`` events with weights 1, 1/2, 1/3…, score from the newest event only).

    Reads the CSR arrays directly: a request touches a handful of rows, and scipy's slicing costs more
    than the sums."""
    n = matrix.shape[1]
    if len(history) == 0:
        zeros = np.zeros(n, dtype=np.float32)
        return zeros, zeros
    recent = history[-last:][::-1]
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    starts, ends = indptr[recent], indptr[recent + 1]
    lengths = ends - starts
    if lengths.sum() == 0:
        zeros = np.zeros(n, dtype=np.float32)
        return zeros, zeros.copy()
    positions = row_positions(starts, lengths)
    weights = np.repeat((1.0 / np.arange(1, len(recent) + 1)).astype(np.float32), lengths)
    cols = indices[positions]
    combined = np.bincount(cols, weights=data[positions] * weights, minlength=n).astype(np.float32)
    newest = np.zeros(n, dtype=np.float32)
    first = slice(int(starts[0]), int(ends[0]))
    newest[indices[first]] = data[first]
    return combined, newest


def row_positions(starts: NDArray[Any], lengths: NDArray[Any]) -> NDArray[np.int64]:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])`` without the loop."""
    total = int(lengths.sum())
    shift = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return np.asarray(shift + np.arange(total), dtype=np.int64)


def popularity_and_trend(
    item_idx: NDArray[np.int32], timestamps: NDArray[np.int64], n_items: int, *, recent_share: float = 0.1
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``log1p(count)`` per item and the trend: share of the item's events in the newest ``recent_share``
    of the time span over that share (1 = steady, >1 = rising), smoothed."""
    counts = np.bincount(item_idx, minlength=n_items).astype(np.float64)
    recent = np.zeros(n_items, dtype=np.float64)
    overall_share = 1.0
    if len(timestamps):
        recent = np.bincount(
            item_idx[timestamps >= recent_cut(timestamps, recent_share)], minlength=n_items
        ).astype(np.float64)
        overall_share = max(float(recent.sum()) / max(float(counts.sum()), 1.0), 1e-6)
    return np.log1p(counts).astype(np.float32), trend_of(recent, counts, overall_share)


def recent_cut(timestamps: NDArray[np.int64], recent_share: float = 0.1) -> float:
    """Start of the newest ``recent_share`` of the time span."""
    start, end = float(timestamps.min()), float(timestamps.max())
    return end - recent_share * max(end - start, 1.0)


def trend_of(recent: NDArray[Any], counts: NDArray[Any], overall_share: float) -> NDArray[np.float32]:
    """Smoothed ratio of an item's recent share of events to the overall recent share."""
    trend = (recent + overall_share * 5.0) / ((counts + 5.0) * overall_share)
    return np.asarray(trend, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class LiftTable:
    """Affinity of items to the values of one categorical column.

    ``by_item[v, i]``: smoothed ``log P(v | i) / P(v)`` from the interactions; ``by_metadata[v, i]``: the
    mean of the same lift learned per item-metadata token over the item's tokens (0 without metadata).
    """

    by_item: NDArray[np.float32]
    by_metadata: NDArray[np.float32]

    def features(self, code: int) -> tuple[NDArray[np.float32], NDArray[np.float32]] | None:
        if code < 0 or code >= self.by_item.shape[0]:
            return None
        return self.by_item[code], self.by_metadata[code]


def lift_table(
    codes: NDArray[np.int32],
    item_idx: NDArray[np.int32],
    n_values: int,
    n_items: int,
    item_tokens: sp.csr_matrix | None,
    *,
    smoothing: float = 10.0,
    signal: bool | None = None,
) -> LiftTable:
    """Lift of each (value, item) from interactions whose row has value code ``codes`` (-1 = missing).

    A column whose values are independent of the items gets lifts of 0, so the ranker cannot fit noise
    and such a column changes nothing: ``signal`` decides (:func:`user_column_signal` for user columns),
    by default a G-test at the 0.1 % level over the interactions (:func:`carries_signal`)."""
    known = codes >= 0
    counts = np.zeros((n_values, n_items), dtype=np.float64)
    np.add.at(counts, (codes[known], item_idx[known]), 1.0)
    if not (carries_signal(counts) if signal is None else signal):
        zeros = np.zeros((n_values, n_items), dtype=np.float32)
        return LiftTable(zeros, zeros.copy())
    total = max(float(counts.sum()), 1.0)
    prior = (counts.sum(axis=1) + 1.0) / (total + n_values)
    item_totals = counts.sum(axis=0)
    p_given_item = (counts + smoothing * prior[:, None]) / (item_totals[None, :] + smoothing)
    by_item = np.log(p_given_item / prior[:, None]).astype(np.float32)
    by_meta = np.zeros((n_values, n_items), dtype=np.float32)
    if item_tokens is not None and item_tokens.nnz and n_values:
        binary = sp.csr_matrix(item_tokens, dtype=np.float64)
        binary.data[:] = 1.0
        token_counts = np.asarray((binary.T @ counts.T).T)  # values × tokens
        token_totals = token_counts.sum(axis=0)
        p_token = (token_counts + smoothing * prior[:, None]) / (token_totals[None, :] + smoothing)
        token_lift = np.log(p_token / prior[:, None])
        n_tokens = np.asarray(binary.sum(axis=1)).ravel()
        mean = np.asarray(binary @ token_lift.T).T / np.maximum(n_tokens, 1.0)[None, :]
        by_meta = mean.astype(np.float32)
    return LiftTable(by_item, by_meta)


def carries_signal(counts: NDArray[np.float64], level: float = 1e-3) -> bool:
    """Whether a values × items contingency table rejects independence (G-test at ``level``).

    Examples
    --------
    >>> carries_signal(np.array([[50.0, 50.0], [50.0, 50.0]]))
    False
    >>> carries_signal(np.array([[90.0, 10.0], [10.0, 90.0]]))
    True
    """
    from scipy.stats import chi2

    rows = counts[counts.sum(axis=1) > 0]
    table = rows[:, rows.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return False
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    return bool(_g_statistic(table) > chi2.ppf(1.0 - level, dof))


def _g_statistic(table: NDArray[np.float64]) -> float:
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / max(table.sum(), 1.0)
    observed = table > 0
    return 2.0 * float(np.sum(table[observed] * np.log(table[observed] / expected[observed])))


def user_column_signal(
    user_codes: NDArray[np.int32],
    user_idx: NDArray[np.int32],
    item_idx: NDArray[np.int32],
    n_values: int,
    n_items: int,
    *,
    permutations: int = 49,
    seed: int = 0,
) -> bool:
    """Whether a Users column relates to the items its users interact with: the values × items G
    statistic beats every one of ``permutations`` shuffles of the values among the users (p < 0.02).
    Shuffling whole users keeps each user's correlated interactions together, which a test over
    interactions would count as independent evidence."""
    if n_values < 2 or len(item_idx) == 0:
        return False
    rng = np.random.default_rng(seed)

    def g_of(codes: NDArray[np.int32]) -> float:
        per_row = codes[user_idx]
        known = per_row >= 0
        table = np.zeros((n_values, n_items), dtype=np.float64)
        np.add.at(table, (per_row[known], item_idx[known]), 1.0)
        return _g_statistic(table)

    real = g_of(user_codes)
    return all(real > g_of(rng.permutation(user_codes)) for _ in range(permutations))
