"""GetSolutionMetrics exactly as personalize_api.md §9 defines them."""

from __future__ import annotations

import numpy as np
import pytest

from pertinent.recipes.popularity_count import PopularityCount
from pertinent.training.evaluation import (
    METRIC_NAMES,
    coverage,
    evaluate,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    reciprocal_rank_at_k,
)
from pertinent.training.matrix import InteractionData
from pertinent.training.splits import holdout_split


def test_documented_worked_example() -> None:
    # relevant items at ranks 2 and 5 (K = 5)
    recommended = np.array([10, 1, 11, 12, 2])
    relevant = np.array([1, 2])
    assert round(ndcg_at_k(recommended, relevant, 5), 4) == 0.6241
    assert precision_at_k(recommended, relevant, 5) == pytest.approx(0.4)
    assert reciprocal_rank_at_k(recommended, relevant) == pytest.approx(0.5)
    expected = (1 / np.log(3) + 1 / np.log(6)) / (1 / np.log(2) + 1 / np.log(3))
    assert ndcg_at_k(recommended, relevant, 5) == pytest.approx(expected)


def test_perfect_and_empty_rankings() -> None:
    assert ndcg_at_k(np.array([1, 2, 3]), np.array([1, 2]), 5) == pytest.approx(1.0)
    assert ndcg_at_k(np.array([4, 5, 6]), np.array([1]), 5) == 0.0
    assert reciprocal_rank_at_k(np.array([4, 5, 6]), np.array([1])) == 0.0
    assert ndcg_at_k(np.array([1]), np.array([], dtype=np.int64), 5) == 0.0


def test_cutoff_is_respected() -> None:
    recommended = np.arange(30)
    relevant = np.array([26])
    assert reciprocal_rank_at_k(recommended, relevant, 25) == 0.0
    assert precision_at_k(recommended, np.array([24]), 25) == pytest.approx(1 / 25)
    assert precision_at_k(recommended, np.array([24]), 10) == 0.0


def test_ideal_dcg_caps_at_k() -> None:
    # 30 relevant items, the top 5 all relevant: the ideal DCG@5 is the same, so NDCG@5 = 1
    assert ndcg_at_k(np.arange(5), np.arange(30), 5) == pytest.approx(1.0)


def test_padding_is_never_a_hit() -> None:
    assert precision_at_k(np.array([-1, -1, 3]), np.array([-1, 3]), 5) == pytest.approx(0.2)


def test_ranking_metrics_average_over_users() -> None:
    recs = [np.array([10, 1, 11, 12, 2]), np.array([7, 8, 9, 10, 11])]
    rel = [np.array([1, 2]), np.array([0])]
    metrics = ranking_metrics(recs, rel, n_catalog_items=20)
    assert set(metrics) == set(METRIC_NAMES)
    assert round(metrics["normalized_discounted_cumulative_gain_at_5"], 4) == round(0.6241 / 2, 4)
    assert metrics["precision_at_5"] == pytest.approx(0.2)
    assert metrics["mean_reciprocal_rank_at_25"] == pytest.approx(0.25)
    assert metrics["precision_at_25"] == pytest.approx((2 / 25) / 2)
    assert metrics["coverage"] == pytest.approx(len({10, 1, 11, 12, 2, 7, 8, 9}) / 20)


def test_no_users_gives_zeros() -> None:
    assert ranking_metrics([], [], 10) == dict.fromkeys(METRIC_NAMES, 0.0)
    assert coverage([], 10) == 0.0


def test_evaluate_popularity_end_to_end() -> None:
    # 40 users; everyone's newest interaction is item 0, the most popular overall
    users, items = [], []
    for u in range(40):
        for i in range(1, 10):
            users.append(u)
            items.append(i + (u % 3))
        users.append(u)
        items.append(0)
    data = InteractionData.from_indices(users, items)
    split = holdout_split(data, random_state=0)
    model = PopularityCount().fit(split.train)
    metrics = evaluate(model, split, data.n_items)
    assert metrics["mean_reciprocal_rank_at_25"] == pytest.approx(1.0)
    assert metrics["precision_at_5"] == pytest.approx(0.2)
    assert metrics["normalized_discounted_cumulative_gain_at_10"] == pytest.approx(1.0)
    assert 0 < metrics["coverage"] <= 1
