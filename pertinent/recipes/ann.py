"""Approximate nearest-neighbour retrieval for factor models (inner product), with exact re-scoring.

Scoring every item of a 200k-item × 128-factor model reads 100 MB per request (memory-bandwidth bound,
~10 ms). An HNSW graph over the item factors (usearch: maintained, SIMD kernels, and an index file that
can be *viewed* through a memory map, so every server process shares one copy) finds the best items by
inner product in a fraction of a millisecond. Serving uses it as a candidate generator only:

* it over-fetches (the model's search *breadth* of candidates for up to 25 results, calibrated at training;
  more in proportion to larger ``n`` and to the share of the catalog that filters and exclusions remove,
  and growing while they leave fewer than ``n``),
  then re-scores the candidates exactly with the item factors, so returned scores are exact and ties are
  broken as the brute-force path breaks them;
* when exclusions leave too small a share of the catalog for the graph to find, it falls back to the
  exact scores of the allowed items;
* the softmax normaliser over the whole catalog is estimated from the candidates (exact) plus a fixed
  uniform sample of the other items, instead of a pass over every item.

The graph is not built over the factors themselves: HNSW navigates badly by inner product when norms vary
as much as iALS's do (popular items are long, unseen ones zero; at 200k items recall@25 at any breadth up
to 1024 stayed at 0.86-0.96, and 0.25-0.5 for some builds). Each item row ``x`` gets one more coordinate,
``sqrt(M² - |x|²)`` (``M`` the largest norm), so every row has norm ``M``, and the graph is built by cosine;
a query ``q`` gets a 0 there, so ``cos = q·x / (|q| M)`` orders items exactly as the inner product does
(the MIPS-to-nearest-neighbour reduction of Bachrach et al., 2014). Rows are inserted longest first:
on the benchmark's 200k-item model the same graph inserted in item order (or shuffled) found only half of
the true top 25 of drifted histories at breadth 1024, and inserted by decreasing norm reached recall@25
0.995-1.0 at breadth 192. Rows that are all zero (items the model never saw: 16 % of the generated 200k
catalog) stay out of the graph: they score exactly 0, so they can only enter a top n whose n-th candidate
scores 0 or less, and then the allowed items are scored exactly; leaving them out cut that build from 225
to 84 s at the same recall. The build runs on one thread: usearch's multi-threaded insertion left a few nodes unreachable now and then (recall@25 0.87 instead of 0.99 on one
50k build), and one thread gives the same graph for the same factors every time. An index file written
before (inner product over the factors, ``ndim`` coordinates) is still read and searched as it was built.

The breadth (how many nodes the search keeps, which is also how many candidates it returns: usearch
searches with ``max(expansion, count)``) is calibrated per model when training builds the index
(:func:`pertinent.serving.shared_models.calibrate`): the smallest rung of :data:`BREADTH_LADDER` whose
recall@25 against brute force on a sample of training users reaches the target, then one rung more.
An index without a calibration (a model trained by an earlier version) searches as before: breadth 512,
``8·n + 192`` candidates. ``tests/test_ann.py`` measures recall@25 against brute force.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

#: graph degree, and the search breadth of an uncalibrated index (how many nodes a query keeps while
#: walking the graph): chosen so recall@25 stays >= 0.99 across iALS refits (32/128/256 with a 4·n + 64
#: over-fetch dipped to 0.96; with this graph, 256 and 4·n + 64 cut the search at 200k × 128 factors
#: from 3.2 to 1.0 ms but one refit of the test's set in three still fell to 0.965)
CONNECTIVITY = 48
EXPANSION_ADD = 256
EXPANSION_SEARCH = 512
#: breadths the training's calibration tries, smallest first
BREADTH_LADDER = (32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
#: the number of results a calibrated breadth is measured for (GetRecommendations' default numResults);
#: a request for more scales the candidates in proportion
CALIBRATION_K = 25
#: items sampled to estimate the softmax normaliser of the items outside the candidates
NORMALISER_SAMPLE = 2048
#: largest over-fetch before giving up on the graph and scoring the allowed items exactly
MAX_CANDIDATES = 8192


class FactorIndex:
    """An HNSW index over ``item_factors`` rows (key = item index) that finds the largest inner products:
    by cosine over the norm-completed rows, or by inner product for an index file of before."""

    def __init__(
        self, index: object, n_items: int, ndim: int, breadth: int | None = None, augmented: bool = True
    ) -> None:
        self.index = index
        self.n_items = n_items
        self.ndim = ndim  #: the factors' dimension (the graph's vectors have one more when ``augmented``)
        #: True: the graph holds the factors plus the norm-completing coordinate, by cosine; False: an
        #: index written by an earlier version, by inner product over the factors as they are
        self.augmented = augmented
        #: how many items the graph holds (an augmented graph leaves all-zero rows out)
        self.graph_items = len(index)  # type: ignore[arg-type]
        #: calibrated search breadth for CALIBRATION_K results; None: the fixed pre-calibration search
        self.breadth = breadth
        if breadth is not None:
            setattr(index, "expansion_search", breadth)  # noqa: B010
        rng = np.random.default_rng(0)
        size = min(NORMALISER_SAMPLE, n_items)
        self.sample = np.sort(rng.choice(n_items, size=size, replace=False)).astype(np.int64)
        self._sample_factors: NDArray[np.float32] | None = None

    def sample_factors(self, item_factors: NDArray[np.float32]) -> NDArray[np.float32]:
        """The sampled items' factor rows, copied once (a gather from the mapped file on every request
        cost more than the product)."""
        if self._sample_factors is None:
            self._sample_factors = np.ascontiguousarray(np.asarray(item_factors)[self.sample])
        return self._sample_factors

    @classmethod
    def build(cls, item_factors: NDArray[np.float32], threads: int = 1) -> FactorIndex:
        """The graph over ``item_factors`` completed to one norm (:func:`norm_completed`), by cosine; on
        one thread unless told otherwise (see the module's notes)."""
        from usearch.index import Index

        n, ndim = item_factors.shape
        index = Index(
            ndim=ndim + 1,
            metric="cos",
            dtype="f32",
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )
        keep = graph_rows(item_factors)
        if len(keep):
            completed = norm_completed(item_factors)
            # longest rows first: they are the answers to most queries, and a graph whose first (upper-
            # layer) nodes are short rows, crowded near the completing axis, navigates to them badly.
            # The completing coordinate sqrt(M² - |x|²) is smallest for the longest rows.
            keep = keep[np.argsort(completed[keep, -1], kind="stable")]
            index.add(keep.astype(np.uint64), completed[keep], threads=threads)
        return cls(index, n, ndim)

    def save(self, path: Path) -> None:
        self.index.save(str(path))  # type: ignore[attr-defined]

    @classmethod
    def view(cls, path: Path, n_items: int, ndim: int, graph_items: int | None = None) -> FactorIndex:
        """The index saved at ``path``, memory-mapped read-only (shared by every process that views it);
        ``graph_items``: how many rows of the factors are not all zero (``len(graph_rows(factors))``),
        which a norm-completed graph must hold (None: any number up to ``n_items``)."""
        from usearch.index import Index

        index = Index.restore(str(path), view=True)
        if index is None:
            raise ValueError(f"{path} is not an index of {n_items} × {ndim} factors")
        augmented = index.ndim == ndim + 1
        held = len(index)
        fits = held <= n_items and (graph_items is None or held == graph_items)
        if not (augmented and fits or index.ndim == ndim and held == n_items):
            raise ValueError(f"{path} is not an index of {n_items} × {ndim} factors")
        setattr(index, "expansion_search", EXPANSION_SEARCH)  # not kept in the file  # noqa: B010
        return cls(index, n_items, ndim, augmented=augmented)

    def with_breadth(self, breadth: int | None) -> FactorIndex:
        """This index (same graph) searching with ``breadth`` (None: the pre-calibration search)."""
        setattr(self.index, "expansion_search", EXPANSION_SEARCH if breadth is None else breadth)  # noqa: B010
        self.breadth = breadth
        return self

    def candidates(self, n: int) -> int:
        """How many candidates to fetch for ``n`` results from the whole catalog."""
        if self.breadth is None:
            return 8 * n + 192
        return max(self.breadth, -(-self.breadth * n // CALIBRATION_K))

    def search(self, vector: NDArray[np.float32], count: int) -> NDArray[np.int64]:
        """Up to ``count`` item indices with (approximately) the largest inner product with ``vector``."""
        count = min(count, self.graph_items)
        if count <= 0:
            return np.zeros(0, dtype=np.int64)
        query = (
            np.zeros(self.ndim + 1, dtype=np.float32) if self.augmented else np.empty(self.ndim, np.float32)
        )
        query[: self.ndim] = vector
        matches = self.index.search(query, count, threads=1)  # type: ignore[attr-defined]
        return np.asarray(matches.keys, dtype=np.int64)


def graph_rows(item_factors: NDArray[np.float32]) -> NDArray[np.int64]:
    """The rows a norm-completed graph holds: those that are not all zero."""
    return np.flatnonzero(np.any(np.asarray(item_factors) != 0, axis=1)).astype(np.int64)


def norm_completed(item_factors: NDArray[np.float32]) -> NDArray[np.float32]:
    """The rows of ``item_factors`` with one more coordinate, ``sqrt(M² - |x|²)``: every row's norm is then
    ``M`` (the largest), so cosine against a query completed with 0 orders rows by inner product."""
    factors = np.asarray(item_factors, dtype=np.float64)
    norms = np.einsum("ij,ij->i", factors, factors)
    peak = float(norms.max(initial=0.0))
    extra = np.sqrt(np.maximum(peak - norms, 0.0)) if peak > 0 else np.ones(len(factors))
    return np.ascontiguousarray(np.hstack([factors, extra[:, None]]), dtype=np.float32)


def members(values: NDArray[np.int64], sorted_set: NDArray[np.int64]) -> NDArray[np.bool_]:
    """``np.isin(values, sorted_set)`` for a sorted ``sorted_set`` by binary search: a few hundred
    candidates against a large exclusion set cost O(candidates · log), not a sort of both."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    position = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    hit: NDArray[np.bool_] = sorted_set[position] == values
    return hit


def top_by_index(
    index: FactorIndex,
    item_factors: NDArray[np.float32],
    popularity: NDArray[np.float32],
    user: NDArray[np.float32],
    n: int,
    exclude: NDArray[np.int64],
    softmax: bool,
) -> tuple[NDArray[np.int64], NDArray[np.float32]] | None:
    """The ``n`` best items for the user vector (exact scores, brute-force tie order), or None when the
    exclusions leave too few items for the graph, or when items left out of the graph (all-zero rows,
    score 0) could be among the best (the caller then scores exactly). ``exclude``: sorted item indices
    (as ``np.unique`` gives them)."""
    n_items = index.n_items
    n = min(n, n_items - len(exclude))
    if n <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    # over-fetch in proportion to what the exclusions take away, so the allowed part still holds as many
    count = int(index.candidates(n) * n_items / max(n_items - len(exclude), 1))
    while True:
        found = index.search(user, count)
        allowed = found[~members(found, exclude)] if len(exclude) else found
        if len(allowed) >= n or count >= index.graph_items:
            break
        if count >= MAX_CANDIDATES:
            return None
        count = min(4 * count, MAX_CANDIDATES, n_items)
    factors = np.asarray(item_factors)  # (a plain view of a mapped file: no memmap bookkeeping per slice)
    scores = factors[allowed] @ user
    order = np.lexsort((allowed, -popularity[allowed], -scores))
    top = allowed[order[:n]]
    top_scores = scores[order[:n]].astype(np.float32)
    if index.graph_items < n_items and (len(top) < n or top_scores[-1] <= 0):
        return None  # an all-zero row outside the graph (score 0) may belong in the top n: score exactly
    if softmax:
        found_scores = scores if len(allowed) == len(found) else factors[found] @ user
        top_scores = _softmax_estimate(index, factors, user, found, found_scores, top_scores)
    return top.astype(np.int64), top_scores


def _softmax_estimate(
    index: FactorIndex,
    item_factors: NDArray[np.float32],
    user: NDArray[np.float32],
    candidates: NDArray[np.int64],
    candidate_scores: NDArray[np.float32],
    top_scores: NDArray[np.float32],
) -> NDArray[np.float32]:
    """``exp(s)/Z`` with Z = exact sum over the candidates + the sampled mean of the rest × their count."""
    peak = float(max(candidate_scores.max(initial=-np.inf), top_scores.max(initial=-np.inf)))
    inside = float(np.exp(candidate_scores.astype(np.float64) - peak).sum())
    rest = ~members(index.sample, np.sort(candidates))  # a few hundred candidates: sorting them is cheap
    outside = 0.0
    if rest.any():
        sampled = (index.sample_factors(item_factors) @ user)[rest]  # one contiguous product, no gather
        outside = float(np.exp(sampled.astype(np.float64) - peak).mean()) * (index.n_items - len(candidates))
    return np.asarray(np.exp(top_scores.astype(np.float64) - peak) / (inside + outside), dtype=np.float32)
