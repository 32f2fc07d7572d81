"""ANN retrieval for large factor models: recall@25 against brute force, filters and exclusions applied
exactly, scores re-computed exactly, the index shared through a file that every process maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pertinent.recipes.ann import FactorIndex
from pertinent.recipes.user_personalization import UserPersonalization
from pertinent.serving.shared_models import share
from pertinent.training.matrix import InteractionData
from pertinent.training.pipeline import TrainedModel

N_ITEMS, N_USERS, CLUSTERS = 6000, 1500, 30


@pytest.fixture(scope="module")
def model() -> UserPersonalization:
    """A real iALS fit on clustered data (each user draws from one taste cluster, Zipf popularity)."""
    rng = np.random.default_rng(3)
    cluster_of = rng.integers(0, CLUSTERS, N_ITEMS)
    popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.7
    users, items = [], []
    for user in range(N_USERS):
        pool = np.flatnonzero(cluster_of == user % CLUSTERS)
        chosen = rng.choice(pool, size=25, replace=False, p=popularity[pool] / popularity[pool].sum())
        users += [user] * len(chosen)
        items += chosen.tolist()
    data = InteractionData.from_indices(users, items, n_items=N_ITEMS)
    return UserPersonalization().fit(
        data, {"algorithm": "ials", "hidden_dimension": "32", "als_iterations": "6", "recency_mask": "false"}
    )


@pytest.fixture(scope="module")
def index(model: UserPersonalization) -> FactorIndex:
    return FactorIndex.build(model.item_factors_)


@pytest.fixture(scope="module")
def histories(model: UserPersonalization) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [rng.choice(N_ITEMS, size=int(rng.integers(1, 30)), replace=False) for _ in range(120)]


def brute(
    model: UserPersonalization, history: np.ndarray, n: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    model.use_index(None)
    return model.recommend(history, n, exclude=exclude)


def test_recall_at_25_against_brute_force_is_at_least_098(
    model: UserPersonalization, index: FactorIndex, histories: list[np.ndarray]
) -> None:
    hits = 0
    for history in histories:
        exact, exact_scores = brute(model, history, 25)
        model.use_index(index)
        approx, approx_scores = model.recommend(history, 25)
        hits += len(set(exact.tolist()) & set(approx.tolist()))
        shared = np.isin(approx, exact)
        # the items both return carry the same exact score (softmax normaliser estimated: close)
        by_item = dict(zip(exact.tolist(), exact_scores.tolist(), strict=True))
        for item, score in zip(approx[shared].tolist(), approx_scores[shared].tolist(), strict=True):
            assert score == pytest.approx(by_item[item], rel=0.25)
    recall = hits / (25 * len(histories))
    print(f"recall@25 = {recall:.4f}")
    assert recall >= 0.98


def test_exclusions_and_filters_are_applied_exactly_under_ann(
    model: UserPersonalization, index: FactorIndex, histories: list[np.ndarray]
) -> None:
    rng = np.random.default_rng(5)
    hits = 0
    for history in histories[:40]:
        model.use_index(None)
        best = model.recommend(history, 25)[0]
        # exclude the unfiltered top 25 and a random third of the catalog, as a filter would
        excluded = np.union1d(best, rng.choice(N_ITEMS, size=N_ITEMS // 3, replace=False))
        exact, _ = brute(model, history, 25, excluded)
        model.use_index(index)
        approx, scores = model.recommend(history, 25, exclude=excluded)
        assert len(approx) == 25 and not np.isin(approx, excluded).any()
        hits += len(set(approx.tolist()) & set(exact.tolist()))
        user = model.user_vector(history, np.ones(len(history), np.float32))
        assert np.all(np.diff(model.item_factors_[approx] @ user) <= 1e-6)  # exact scores, best first
        assert np.all(np.diff(scores) <= 1e-6)
    assert hits / (25 * 40) >= 0.95


def test_an_exclusion_leaving_few_items_falls_back_to_exact_scores(
    model: UserPersonalization, index: FactorIndex, histories: list[np.ndarray]
) -> None:
    allowed = np.arange(0, N_ITEMS, 97)  # a filter that lets ~1.6 % of the catalog through
    excluded = np.setdiff1d(np.arange(N_ITEMS), allowed)
    for history in histories[:10]:
        exact, exact_scores = brute(model, history, 25, excluded)
        model.use_index(index)
        approx, approx_scores = model.recommend(history, 25, exclude=excluded)
        assert approx.tolist() == exact.tolist()
        assert np.allclose(approx_scores, exact_scores)
    model.use_index(index)
    assert len(model.recommend(histories[0], 25, exclude=np.arange(N_ITEMS))[0]) == 0


def test_serving_maps_the_arrays_and_the_index_from_files_beside_the_artifact(
    model: UserPersonalization, tmp_path: Path
) -> None:
    trained = TrainedModel(
        recipe=model,
        user_ids=np.array(["u"]),
        item_ids=np.array([f"i{n}" for n in range(N_ITEMS)]),
        history_indptr=np.zeros(2, dtype=np.int64),
        history_items=np.zeros(0, dtype=np.int32),
        history_weights=np.zeros(0, dtype=np.float32),
        item_creation_timestamps=np.zeros(N_ITEMS, dtype=np.int64),
    )
    model.use_index(None)
    before = model.recommend(np.array([1, 2, 3]), 10)[0]
    share(trained, tmp_path, ann_min_items=N_ITEMS, mapped_min_bytes=0)
    assert isinstance(model.item_factors_, np.memmap)
    assert (tmp_path / "serving" / "item_factors.usearch").exists()
    assert model.factor_index is not None
    assert len(set(model.recommend(np.array([1, 2, 3]), 10)[0].tolist()) & set(before.tolist())) >= 9
    # a second process (here: a second load) views the same file instead of building again
    stamp = (tmp_path / "serving" / "item_factors.usearch").stat().st_mtime_ns
    share(trained, tmp_path, ann_min_items=N_ITEMS)
    assert (tmp_path / "serving" / "item_factors.usearch").stat().st_mtime_ns == stamp
    share(trained, tmp_path / "small", ann_min_items=N_ITEMS + 1)  # below the threshold: exact scoring
    model.use_index(None)
