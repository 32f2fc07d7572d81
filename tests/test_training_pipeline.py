"""The training job end to end: event selection, minimums, split, HPO, metrics, artifact, serving load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pytest

from pertinent.errors import TrainingFailure
from pertinent.recipes.registry import RECIPE_CLASSES
from pertinent.training.evaluation import METRIC_NAMES
from pertinent.training.matrix import EventSelection, InteractionData
from pertinent.training.pipeline import load_trained_model, train_solution_version
from tests.conftest import MOVIELENS, needs_movielens


def interactions_table(n_users: int = 80, per_user: int = 16, n_items: int = 40, seed: int = 0) -> pa.Table:
    """Two taste groups: users in group g only use items of group g, with a popular head in each group."""
    rng = np.random.default_rng(seed)
    half = n_items // 2
    popularity = 1.0 / np.arange(1, half + 1)
    popularity /= popularity.sum()
    rows: dict[str, list[object]] = {
        k: [] for k in ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE")
    }
    for user in range(n_users):
        group = user % 2
        chosen = rng.choice(half, size=per_user, replace=False, p=popularity) + group * half
        for step, item in enumerate(chosen):
            rows["USER_ID"].append(f"user-{user}")
            rows["ITEM_ID"].append(f"item-{item}")
            rows["TIMESTAMP"].append(1_700_000_000 + user * 1000 + step)
            rows["EVENT_TYPE"].append("purchase" if step % 4 == 0 else "click")
            rows["EVENT_VALUE"].append(float(1 + (user + step) % 5))
    return pa.table(
        {
            "USER_ID": pa.array(rows["USER_ID"], pa.string()),
            "ITEM_ID": pa.array(rows["ITEM_ID"], pa.string()),
            "TIMESTAMP": pa.array(rows["TIMESTAMP"], pa.int64()),
            "EVENT_TYPE": pa.array(rows["EVENT_TYPE"], pa.string()),
            "EVENT_VALUE": pa.array(rows["EVENT_VALUE"], pa.float32()),
        }
    )


def items_table(n_items: int = 40, extra_cold: int = 3) -> pa.Table:
    half = n_items // 2
    ids = [f"item-{i}" for i in range(n_items)] + [f"cold-{i}" for i in range(extra_cold)]
    genres = ["Comedy|Romance" if i < half else "Horror|Thriller" for i in range(n_items)]
    genres += ["Comedy|Romance", "Horror", "Horror|Thriller"][:extra_cold]
    text = [
        "a funny love story in a small town" if g.startswith("Comedy") else "a dark night of fear and blood"
        for g in genres
    ]
    return pa.table(
        {"ITEM_ID": ids, "GENRES": genres, "DESCRIPTION": text, "PRICE": np.arange(len(ids), dtype=float)}
    )


def train(tmp_path: Path, recipe: str = "aws-user-personalization", **kwargs: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "interactions": interactions_table(),
        "items": None,
        "users": None,
        "recipe_name": recipe,
        "solution_config": {},
        "event_type": None,
        "perform_hpo": False,
        "ease_max_items": 30_000,
        "artifact_dir": tmp_path / "artifact",
    }
    args.update(kwargs)
    return train_solution_version(**args)  # type: ignore[arg-type]


def test_user_personalization_end_to_end(tmp_path: Path) -> None:
    progress: list[tuple[float, str]] = []
    result = train(tmp_path, items=items_table(), progress=lambda f, m: progress.append((f, m)))
    assert set(result.metrics) == set(METRIC_NAMES)
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
    assert result.algorithm == "ease"
    assert (result.n_users, result.n_items, result.n_interactions) == (80, 43, 1280)
    assert result.tuned_params["ease_regularization"] and result.hpo_trials == 0
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    popularity = train(tmp_path / "pop", recipe="aws-popularity-count")
    ndcg = "normalized_discounted_cumulative_gain_at_10"
    assert result.metrics[ndcg] > popularity.metrics[ndcg] + 0.05

    model = load_trained_model(result.artifact_dir)
    assert model.recipe_name == "aws-user-personalization" and model.algorithm == "ease"
    assert model.manifest["metrics"] == pytest.approx(result.metrics)
    history, weights = model.user_history("user-3")  # group 1
    assert len(history) == 16 and weights.tolist() == [1.0] * 16
    ids, scores = model.recipe.recommend(history, n=3, exclude=history)
    assert all(
        int(model.item_ids[i].split("-")[1]) >= 20 for i in ids if model.item_ids[i].startswith("item")
    )
    assert 0 < float(scores.sum()) <= 1.0
    # real-time events of group-0 items change the next recommendations
    new_events, _ = model.item_indices([f"item-{i}" for i in range(12)])
    updated = np.concatenate([history, new_events])
    ids2, _ = model.recipe.recommend(updated, n=3, exclude=updated)
    assert ids2.tolist() != ids.tolist()
    assert any(int(model.item_ids[i].split("-")[1]) < 20 for i in ids2)
    # and for a user with no training history they decide everything
    ids3, _ = model.recipe.recommend(new_events[:3], n=3, exclude=new_events[:3])
    assert all(int(model.item_ids[i].split("-")[1]) < 20 for i in ids3)
    assert model.user_history("nobody")[0].size == 0
    # cold items from the Items dataset have indices, and creation times for exploration
    idx, known = model.item_indices(["cold-0", "missing"])
    assert known.tolist() == [True, False]
    assert model.item_creation_timestamps[idx[0]] == 1_700_000_000 + 79 * 1000 + 15


def test_small_catalog_limit_switches_to_ials(tmp_path: Path) -> None:
    result = train(
        tmp_path,
        ease_max_items=10,
        solution_config={"algorithm_hyper_parameters": {"hidden_dimension": "32"}},
    )
    assert result.algorithm == "ials"
    model = load_trained_model(result.artifact_dir)
    history, _ = model.user_history("user-0")
    ids, _ = model.recipe.recommend(history, n=3, exclude=history)
    assert all(int(model.item_ids[i].split("-")[1]) < 20 for i in ids)


@pytest.mark.parametrize("recipe", sorted(RECIPE_CLASSES))
def test_every_registered_recipe_trains(tmp_path: Path, recipe: str) -> None:
    result = train(tmp_path, recipe=recipe, items=items_table())
    segments = RECIPE_CLASSES[recipe].recipe_type == "USER_SEGMENTATION"
    assert set(result.metrics) == ({"hit", "recall"} if segments else set(METRIC_NAMES))
    model = load_trained_model(result.artifact_dir)
    cold, _ = model.item_indices(["cold-0"])
    ids, _ = model.recipe.similar_items(int(cold[0]), n=5)
    assert len(ids) == 5


def test_similar_items_gives_cold_items_metadata_neighbours(tmp_path: Path) -> None:
    result = train(tmp_path, recipe="aws-similar-items", items=items_table())
    model = load_trained_model(result.artifact_dir)
    cold, _ = model.item_indices(["cold-1"])  # "Horror": group 1 items share the genre
    ids, scores = model.recipe.similar_items(int(cold[0]), n=5)
    assert all(scores > 0)
    horror = {f"item-{i}" for i in range(20, 40)} | {"cold-2"}  # the items sharing its genre
    assert set(model.item_ids[ids].tolist()) <= horror


def test_event_value_threshold_and_event_type(tmp_path: Path) -> None:
    table = interactions_table(n_users=200)
    data = InteractionData.from_arrow(
        table, selection=EventSelection.from_solution_config({"event_value_threshold": "3.5"}, None)
    )
    values = table["EVENT_VALUE"].to_numpy()
    assert data.n_interactions == int((values >= 3.5).sum())
    with pytest.raises(
        TrainingFailure, match="fewer than 1000 interactions after filtering by event type: purchase"
    ):
        train(tmp_path, event_type="purchase")
    with pytest.raises(TrainingFailure, match="not enough interactions.*at least 1000"):
        train(tmp_path, solution_config={"event_value_threshold": "3.5"})


def test_events_config_selects_types_with_thresholds_and_weights() -> None:
    table = interactions_table()
    config = {
        "events_config": {
            "event_parameters_list": [
                {"event_type": "purchase", "weight": 1.0},
                {"event_type": "click", "event_value_threshold": 4.0, "weight": 0.25},
            ]
        }
    }
    data = InteractionData.from_arrow(table, selection=EventSelection.from_solution_config(config, None))
    types = np.asarray(table["EVENT_TYPE"].to_pylist())
    values = table["EVENT_VALUE"].to_numpy()
    expected = (types == "purchase") | ((types == "click") & (values >= 4.0))
    assert data.n_interactions == int(expected.sum())
    assert sorted(set(data.weights.tolist())) == [0.25, 1.0]
    assert int((data.weights == 1.0).sum()) == int((types == "purchase").sum())
    with pytest.raises(TrainingFailure, match="weight must be between 0 and 1"):
        EventSelection.from_solution_config(
            {"events_config": {"event_parameters_list": [{"event_type": "x", "weight": 2}]}}, None
        )


def test_selection_needs_the_columns_it_filters_on() -> None:
    table = interactions_table().drop_columns(["EVENT_TYPE", "EVENT_VALUE"])
    with pytest.raises(TrainingFailure, match="no EVENT_TYPE column"):
        InteractionData.from_arrow(table, selection=EventSelection(event_type="click"))
    with pytest.raises(TrainingFailure, match="no EVENT_VALUE column"):
        InteractionData.from_arrow(table, selection=EventSelection(event_value_threshold=1.0))


def test_minimum_users_with_two_interactions(tmp_path: Path) -> None:
    table = interactions_table(n_users=24, per_user=16)
    singles = pa.table(
        {
            "USER_ID": [f"single-{i}" for i in range(700)],
            "ITEM_ID": ["item-1"] * 700,
            "TIMESTAMP": pa.array([1] * 700, pa.int64()),
            "EVENT_TYPE": ["click"] * 700,
            "EVENT_VALUE": pa.array([1.0] * 700, pa.float32()),
        }
    )
    with pytest.raises(
        TrainingFailure, match="^Dataset has fewer than 25 users with at least 2 interactions each.$"
    ):
        train(tmp_path, interactions=pa.concat_tables([table, singles]))


def test_unknown_recipe_and_invalid_hyperparameters(tmp_path: Path) -> None:
    with pytest.raises(TrainingFailure, match="'aws-hrnn' cannot be trained"):
        train(tmp_path, recipe="aws-hrnn")
    with pytest.raises(TrainingFailure, match="'hidden_dimension' must be an integer between 32 and 256"):
        train(tmp_path, solution_config={"algorithm_hyper_parameters": {"hidden_dimension": "8"}})
    with pytest.raises(TrainingFailure, match="Unknown hyperparameter 'learning_rate'"):
        train(tmp_path, solution_config={"algorithm_hyper_parameters": {"learning_rate": "0.1"}})


def test_hpo_respects_ranges_and_budget(tmp_path: Path) -> None:
    config = {
        "algorithm_hyper_parameters": {"recency_mask": "false"},
        "hpo_config": {
            "hpo_resource_config": {"max_number_of_training_jobs": "3", "max_parallel_training_jobs": "1"},
            "algorithm_hyper_parameter_ranges": {
                "continuous_hyper_parameter_ranges": [
                    {"name": "ease_regularization", "min_value": 5.0, "max_value": 50.0}
                ]
            },
        },
    }
    result = train(tmp_path, solution_config=config, perform_hpo=True)
    assert result.hpo_trials == 3
    assert (
        5.0 <= float(result.tuned_params["ease_regularization"]) <= 50.0
        or result.tuned_params["ease_regularization"] == "200.0"
    )  # the defaults are trial 1 and win ties
    assert result.tuned_params["recency_mask"] == "false"


def test_hpo_default_space_and_bad_config(tmp_path: Path) -> None:
    result = train(
        tmp_path,
        perform_hpo=True,
        solution_config={"hpo_config": {"hpo_resource_config": {"max_number_of_training_jobs": "2"}}},
    )
    assert result.hpo_trials == 2
    bad = {
        "hpo_config": {
            "algorithm_hyper_parameter_ranges": {
                "integer_hyper_parameter_ranges": [
                    {"name": "hidden_dimension", "min_value": 1, "max_value": 64}
                ]
            }
        }
    }
    with pytest.raises(TrainingFailure, match="hidden_dimension"):
        train(tmp_path, perform_hpo=True, solution_config=bad)
    with pytest.raises(TrainingFailure, match="maxNumberOfTrainingJobs"):
        train(
            tmp_path,
            perform_hpo=True,
            solution_config={"hpo_config": {"hpo_resource_config": {"max_number_of_training_jobs": "41"}}},
        )


def movielens_interactions() -> pa.Table:
    ratings = pv.read_csv(MOVIELENS / "ratings.csv")
    return pa.table(
        {
            "USER_ID": pc.cast(ratings["userId"], pa.string()),
            "ITEM_ID": pc.cast(ratings["movieId"], pa.string()),
            "TIMESTAMP": pc.cast(ratings["timestamp"], pa.int64()),
            "EVENT_VALUE": pc.cast(ratings["rating"], pa.float32()),
        }
    )


@pytest.mark.slow
@needs_movielens
def test_movielens_user_personalization_beats_popularity(tmp_path: Path) -> None:
    interactions = movielens_interactions()
    movies = pv.read_csv(MOVIELENS / "movies.csv")
    items = pa.table({"ITEM_ID": pc.cast(movies["movieId"], pa.string()), "GENRES": movies["genres"]})
    up = train(tmp_path / "up", interactions=interactions, items=items)
    pop = train(tmp_path / "pop", interactions=interactions, items=items, recipe="aws-popularity-count")
    for result in (up, pop):
        assert set(result.metrics) == set(METRIC_NAMES)
        assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
    assert up.n_items == 9742 and up.n_interactions == 100_836
    ndcg = "normalized_discounted_cumulative_gain_at_10"
    assert up.metrics[ndcg] > 2 * pop.metrics[ndcg]
    assert up.metrics["coverage"] > pop.metrics["coverage"]


def test_trend_discovery_frequency_from_feature_transformation_parameters(tmp_path: Path) -> None:
    config = {"feature_transformation_parameters": {"trend_discovery_frequency": "1 day", "other": "x"}}
    result = train(tmp_path, recipe="aws-trending-now", solution_config=config)
    assert result.tuned_params == {"trend_discovery_frequency": "1 day"}
    with pytest.raises(TrainingFailure, match="trend_discovery_frequency"):
        train(
            tmp_path,
            recipe="aws-trending-now",
            solution_config={"algorithm_hyper_parameters": {"trend_discovery_frequency": "5 minutes"}},
        )


def test_hpo_search_grid_random_and_ties() -> None:
    from pertinent.recipes.hpo import SearchDimension, candidate_configurations, search

    grid = candidate_configurations(
        [SearchDimension("a", "categorical", values=("x", "y")), SearchDimension("b", "int", low=1, high=3)],
        10,
        0,
    )
    assert len(grid) == 6 and {(c["a"], c["b"]) for c in grid} == {(a, b) for a in "xy" for b in (1, 2, 3)}
    sampled = candidate_configurations(
        [SearchDimension("l", "float", low=1.0, high=1000.0, log_scale=True)], 5, 0
    )
    assert len(sampled) == 5 and all(1.0 <= float(c["l"]) <= 1000.0 for c in sampled)
    assert candidate_configurations([SearchDimension("l", "float", low=1.0, high=1000.0)], 5, 0) != sampled

    def objective(params: dict[str, int | float | str]) -> dict[str, float]:
        return {"normalized_discounted_cumulative_gain_at_10": -abs(float(params["l"]) - 300.0)}

    result = search(
        objective,
        {"l": 10.0},
        [SearchDimension("l", "float", low=1.0, high=1000.0, log_scale=True)],
        max_trials=6,
    )
    assert len(result.trials) == 6 and result.trials[0].params == {"l": 10.0}
    assert result.best_score == max(t.score for t in result.trials)
    flat = search(
        lambda p: {"normalized_discounted_cumulative_gain_at_10": 0.5},
        {"l": 10.0},
        [SearchDimension("l", "float", low=1.0, high=1000.0)],
        max_trials=4,
    )
    assert flat.best_params == {"l": 10.0}  # ties keep the defaults
