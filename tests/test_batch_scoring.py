"""The block path of batch inference gives exactly the single-history numbers: Recipe.top_n_rows is
Recipe._top_n on every row (ties, disallowed items, NaN), score_rows is _score, recommend_batch is
recommend one history at a time, and numpy's rounding of float32 scores is Python's round()."""

from __future__ import annotations

import numpy as np
import pytest

from pertinent.recipes.base import recency_weights, recency_weights_csr
from pertinent.recipes.popularity_count import PopularityCount
from pertinent.recipes.user_personalization import UserPersonalization
from pertinent.training.matrix import InteractionData


def _data(seed: int, users: int = 400, items: int = 300, events: int = 6000) -> InteractionData:
    rng = np.random.default_rng(seed)
    user_ids = rng.integers(0, users, events)
    item_ids = (rng.pareto(1.0, events) * 10).astype(int) % items
    return InteractionData.from_indices(user_ids, item_ids)


MODELS = {
    "ease": lambda data: UserPersonalization().fit(data, {"ease_min_item_users": "3"}),
    "ials": lambda data: UserPersonalization().fit(
        data, {"algorithm": "ials", "hidden_dimension": "32", "als_iterations": "3", "recency_mask": "false"}
    ),
    "popularity": lambda data: PopularityCount().fit(data),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_block_scores_and_top_n_equal_one_history_at_a_time(kind: str) -> None:
    rng = np.random.default_rng(7)
    model = MODELS[kind](_data(1))
    n_items = model.n_items_
    histories = [rng.integers(0, n_items, rng.integers(0, 40)).astype(np.int64) for _ in range(120)]
    histories[3] = np.zeros(0, dtype=np.int64)
    weights = [np.full(len(h), rng.random() + 0.5, dtype=np.float32) for h in histories]
    excluded = [rng.integers(0, n_items, rng.integers(0, n_items)) for _ in histories]
    excluded[5] = np.arange(n_items)  # nothing allowed
    for n in (1, 25, 100, n_items + 3):
        ids, scores = model.recommend_batch(histories, n, exclude=excluded, history_weights=weights)
        for row, (history, weight, exclude) in enumerate(zip(histories, weights, excluded, strict=True)):
            one_ids, one_scores = model.recommend(history, n, exclude=exclude, history_weights=weight)
            if kind != "popularity" and len(history):  # one history is scored by BLAS (gemv), a block not
                assert one_ids.tolist() == ids[row][: len(one_ids)].tolist()
                np.testing.assert_allclose(one_scores, scores[row][: len(one_ids)], rtol=1e-5)
            else:
                assert one_ids.tolist() == ids[row][: len(one_ids)].tolist(), (kind, n, row)
                assert np.array_equal(one_scores, scores[row][: len(one_ids)]), (kind, n, row)
            assert (ids[row][len(one_ids) :] == -1).all()
    indptr = np.zeros(len(histories) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in histories], out=indptr[1:])
    block = model.score_rows(indptr, np.concatenate(histories), np.concatenate(weights))
    assert np.array_equal(block, model._score(histories, weights))


def test_top_n_rows_is_top_n_on_wide_rows_with_ties_and_gaps() -> None:
    rng = np.random.default_rng(3)
    model = PopularityCount().fit(_data(2, users=50, items=3000, events=20000))
    width = model.n_items_
    for trial in range(12):
        masked = rng.standard_normal((60, width)).astype(np.float32)
        if trial % 3 == 0:
            masked = np.round(masked, 1)  # many ties at the n-th score
        if trial % 3 == 1:
            masked[rng.random(masked.shape) < 0.97] = 0.0  # mostly zeros
        masked[rng.random(masked.shape) < rng.random()] = -np.inf
        masked[0] = -np.inf
        masked[1, :5], masked[1, 5:] = 1.0, -np.inf
        masked[2, 7] = np.nan
        for n in (1, 25, 100, 500, width + 5):
            got = model.top_n_rows(masked, n)
            for row in range(len(masked)):
                expected = model._top_n(masked[row], n)
                assert got[row, : len(expected)].tolist() == expected.tolist(), (trial, n, row)
                assert (got[row, len(expected) :] == -1).all()


def test_recency_weights_of_a_csr_are_those_of_each_row() -> None:
    lengths = [0, 1, 4, 0, 7]
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    for half_life in (0.0, 1.0, 20.0):
        expected = np.concatenate([recency_weights(n, half_life) for n in lengths])
        assert np.array_equal(recency_weights_csr(indptr, half_life), expected)


def test_numpy_rounding_of_float32_scores_is_pythons_round() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [rng.random(50_000).astype(np.float32) * scale for scale in (1.0, 1e-3, 1e-6, 30.0)]
        + [(np.arange(20_000) / 1e7 + 0.5e-7).astype(np.float32)]
    )
    rounded = np.round(values.astype(np.float64), 7).tolist()
    assert rounded == [round(float(v), 7) for v in values.tolist()]


def test_tiled_ease_product_and_zero_columns_give_the_same_numbers() -> None:
    """A catalog wider than one tile of B: the batch path's tiled product is the whole product bit for
    bit, and the softmax that counts all-zero columns (items outside EASE's matrix) once gives the
    float32 scores the full exponential pass gives."""
    from pertinent.recipes import user_personalization as up
    from pertinent.recipes.base import _softmax_denominators

    rng = np.random.default_rng(11)
    users, items, events = 500, 2 * up.EASE_TILE_COLUMNS + 400, 40_000
    data = InteractionData.from_indices(rng.integers(0, users, events), rng.integers(0, items, events))
    model = UserPersonalization().fit(data, {"ease_min_item_users": "14"})  # some items stay outside B
    n_active = len(model.active_items_)
    assert model.algorithm == "ease" and up.EASE_TILE_COLUMNS < n_active < model.n_items_
    histories = [rng.integers(0, model.n_items_, rng.integers(1, 60)).astype(np.int64) for _ in range(300)]
    weights = [np.ones(len(h), dtype=np.float32) for h in histories]
    indptr = np.zeros(len(histories) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in histories], out=indptr[1:])
    block = model.score_rows(indptr, np.concatenate(histories), np.concatenate(weights))
    assert len(model._ease_tiles()) == -(-n_active // up.EASE_TILE_COLUMNS)
    assert np.array_equal(block, model._score(histories, weights))  # untiled, row by row

    top = block.max(axis=1).astype(np.float64)
    shifted = block.astype(np.float64) - top[:, None]
    full = np.exp(shifted).sum(axis=1)
    counted = _softmax_denominators(block, top)
    np.testing.assert_allclose(counted, full, rtol=1e-13)
    ids = model.top_n_rows(block.copy(), 25)
    picked = np.take_along_axis(block, ids, axis=1).astype(np.float64)
    expected = (np.exp(picked - top[:, None]) / full[:, None]).astype(np.float32)
    assert np.array_equal(model.scores_at(block, ids), expected)
