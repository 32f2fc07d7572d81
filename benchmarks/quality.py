"""Offline quality of pertinent's recipes against baselines measured in the same run, on the same split.

Data sets:

* ``ml-latest-small`` (shared/datasets): every rating is an interaction; and again keeping only ratings
  >= 3.5 (``eventValueThreshold``);
* a generated larger set (default 50,000 users × 10,000 items, about 2M interactions): power-law item
  popularity, items grouped in topics, each user concentrated on a few topics whose mix drifts over time
  (so both personalization and recency matter, as in real logs).

Split: Personalize's protocol (:func:`pertinent.training.splits.holdout_split`: 10 % of users, their
newest 10 % predicted from the rest); every model is trained on the same ``split.train`` and recommends 25
items per held-out user with the input history excluded. Metrics: :mod:`pertinent.training.evaluation`.

Baselines (run here, not quoted): item popularity; ``implicit.cpu.als.AlternatingLeastSquares()`` with its
default parameters on the same binary matrix (recommending with its own trained user factors); plain EASE,
the textbook closed form with λ = 500 in float64 (``np.linalg.inv``), scoring the binary input history.

Run: ``python benchmarks/quality.py`` (``--help`` for sizes; ``--skip-large`` for MovieLens only).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import scipy.sparse as sp
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from pertinent.recipes.registry import get_recipe_class
from pertinent.training.evaluation import ranking_metrics, recommend_for_split
from pertinent.training.matrix import EventSelection, InteractionData
from pertinent.training.splits import HoldoutSplit, holdout_split

MOVIELENS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ml-latest-small"
K = 25


@dataclass
class Row:
    name: str
    metrics: dict[str, float]
    seconds: float
    kind: str  # "ours" | "baseline"


# ---------------------------------------------------------------------- data
def movielens(threshold: float | None) -> InteractionData:
    ratings = pv.read_csv(MOVIELENS / "ratings.csv")
    table = pa.table(
        {
            "USER_ID": pc.cast(ratings["userId"], pa.string()),
            "ITEM_ID": pc.cast(ratings["movieId"], pa.string()),
            "TIMESTAMP": pc.cast(ratings["timestamp"], pa.int64()),
            "EVENT_VALUE": pc.cast(ratings["rating"], pa.float32()),
        }
    )
    movies = pv.read_csv(MOVIELENS / "movies.csv")
    items = pa.table({"ITEM_ID": pc.cast(movies["movieId"], pa.string()), "GENRES": movies["genres"]})
    return InteractionData.from_arrow(table, items, selection=EventSelection(event_value_threshold=threshold))


def synthetic(
    n_users: int = 50_000,
    n_items: int = 10_000,
    n_topics: int = 100,
    mean_length: float = 40.0,
    seed: int = 0,
) -> InteractionData:
    """Topic-structured implicit feedback with power-law popularity and drifting user interests.

    Items fall into ``n_topics`` topics of power-law popularity; inside a topic, item popularity is Zipf.
    A user's events draw a topic from a sparse Dirichlet mix (a few favourite topics, popular topics
    likelier) that drifts halfway to a second mix over the user's history, then an item from the topic;
    10 % of events follow global popularity instead. One interaction per (user, item) is kept.
    """
    rng = np.random.default_rng(seed)
    topic_of = rng.integers(0, n_topics, size=n_items)
    topic_items = [np.flatnonzero(topic_of == t) for t in range(n_topics)]
    topic_pop = 1.0 / np.arange(1, n_topics + 1) ** 0.7
    topic_pop /= topic_pop.sum()
    item_weight = np.zeros(n_items)
    for items in topic_items:
        item_weight[items] = rng.permutation(1.0 / np.arange(1, len(items) + 1))
    topic_cdfs = [np.cumsum(item_weight[items]) for items in topic_items]
    global_weight = np.array([topic_pop[topic_of[i]] for i in range(n_items)]) * item_weight
    for items in topic_items:
        if len(items):
            global_weight[items] /= item_weight[items].sum()
    global_cdf = np.cumsum(global_weight / global_weight.sum())

    lengths = np.clip(rng.lognormal(np.log(mean_length) - 0.5, 1.0, size=n_users).astype(int), 3, 1000)
    users_out: list[NDArray[np.int64]] = []
    items_out: list[NDArray[np.int64]] = []
    times_out: list[NDArray[np.int64]] = []
    for user in range(n_users):
        length = int(lengths[user])
        early = rng.dirichlet(topic_pop + 1e-3)  # sparse: a few favourite topics, popular ones likelier
        late = 0.5 * early + 0.5 * rng.dirichlet(topic_pop + 1e-3)
        t = np.linspace(0.0, 1.0, length)
        # topic of each event from the drifting mixture; 10 % of events follow global popularity
        mix = (1 - t)[:, None] * early[None, :] + t[:, None] * late[None, :]
        draws = rng.random(length)
        topics = np.minimum((np.cumsum(mix, axis=1) < draws[:, None]).sum(axis=1), n_topics - 1)
        picks = rng.random(length)
        chosen = np.minimum(np.searchsorted(global_cdf, picks), n_items - 1).astype(np.int64)
        from_topic = rng.random(length) >= 0.1
        for topic in np.unique(topics[from_topic]).tolist():
            rows = np.flatnonzero(from_topic & (topics == topic))
            cdf = topic_cdfs[topic]
            if len(cdf) == 0:
                continue
            pos = np.minimum(np.searchsorted(cdf, picks[rows] * cdf[-1]), len(cdf) - 1)
            chosen[rows] = topic_items[topic][pos]
        _, first = np.unique(chosen, return_index=True)
        keep = np.sort(first)  # one interaction per (user, item): the first
        users_out.append(np.full(len(keep), user, dtype=np.int64))
        items_out.append(chosen[keep])
        times_out.append(np.arange(len(keep), dtype=np.int64) + user * 10_000)
    return InteractionData.from_indices(
        np.concatenate(users_out),
        np.concatenate(items_out),
        timestamps=np.concatenate(times_out),
        n_users=n_users,
        n_items=n_items,
    )


# ---------------------------------------------------------------------- baselines
def _top_k(scores: NDArray[np.float32], exclude: list[NDArray[np.int32]]) -> NDArray[np.int64]:
    out = np.full((scores.shape[0], K), -1, dtype=np.int64)
    for row in range(scores.shape[0]):
        s = scores[row].copy()
        s[exclude[row]] = -np.inf
        top = np.argpartition(-s, K)[:K]
        out[row] = top[np.argsort(-s[top], kind="stable")]
    return out


def baseline_popularity(split: HoldoutSplit) -> NDArray[np.int64]:
    counts = np.bincount(split.train.csr().indices, minlength=split.train.n_items).astype(np.float32)
    return _top_k(np.broadcast_to(counts, (len(split), len(counts))), split.inputs)


def baseline_implicit_als(split: HoldoutSplit) -> NDArray[np.int64]:
    from implicit.cpu.als import AlternatingLeastSquares

    matrix = split.train.csr()
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(random_state=0)
        model.fit(matrix, show_progress=False)
        ids, _ = model.recommend(
            split.test_users, matrix[split.test_users], N=K, filter_already_liked_items=True
        )
    return np.asarray(ids, dtype=np.int64)


def baseline_plain_ease(split: HoldoutSplit, lam: float = 500.0) -> NDArray[np.int64]:
    x = split.train.csr()
    gram = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    p = np.linalg.inv(gram)
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    rows = np.repeat(np.arange(len(split)), [len(h) for h in split.inputs])
    cols = np.concatenate(split.inputs)
    history = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(split), x.shape[1]))
    history.data[:] = 1.0
    return _top_k(np.asarray(history @ b, dtype=np.float32), split.inputs)


# ---------------------------------------------------------------------- runs
def run_ours(
    split: HoldoutSplit, recipe: str, params: dict[str, str], n_items: int, ease_max_items: int
) -> Row:
    started = time.perf_counter()
    model = get_recipe_class(recipe)(random_state=0, ease_max_items=ease_max_items).fit(split.train, params)
    seconds = time.perf_counter() - started
    recommended = recommend_for_split(model, split)
    detail = model.algorithm
    half_life = getattr(model, "recency_half_life_", None)
    if half_life is not None:
        detail += f", recency h={half_life:g}"
    label = f"{recipe} ({detail})" + "".join(f" {k}={v}" for k, v in params.items())
    return Row(label, ranking_metrics(list(recommended), split.targets, n_items), seconds, "ours")


def run_baseline(
    split: HoldoutSplit, name: str, fn: Callable[[HoldoutSplit], NDArray[np.int64]], n_items: int
) -> Row:
    started = time.perf_counter()
    recommended = fn(split)
    seconds = time.perf_counter() - started
    return Row(name, ranking_metrics(list(recommended), split.targets, n_items), seconds, "baseline")


def print_table(title: str, data: InteractionData, split: HoldoutSplit, rows: list[Row]) -> None:
    ndcg = "normalized_discounted_cumulative_gain_at_10"
    pop = next(r for r in rows if r.name == "baseline: popularity").metrics[ndcg]
    best_ref = max(
        r.metrics[ndcg]
        for r in rows
        if r.name in ("baseline: implicit ALS default", "baseline: plain EASE λ=500")
    )
    print(f"\n## {title}")
    print(
        f"{data.n_users} users, {data.n_items} items, {data.n_interactions} interactions; "
        f"{len(split)} held-out users scored"
    )
    header = f"| {'model':<66} | NDCG@10 | prec@10 | coverage | train s | ×popularity | ×best(ALS,EASE) |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        m = r.metrics
        print(
            f"| {r.name:<66} | {m[ndcg]:.4f}  | {m['precision_at_10']:.4f}  | {m['coverage']:.4f}   | "
            f"{r.seconds:7.1f} | {m[ndcg] / pop if pop else float('nan'):11.2f} | "
            f"{m[ndcg] / best_ref if best_ref else float('nan'):15.2f} |"
        )
    sys.stdout.flush()


OUR_RECIPES: list[tuple[str, dict[str, str]]] = [
    ("aws-user-personalization", {}),
    ("aws-user-personalization", {"recency_mask": "false"}),
    ("aws-user-personalization", {"algorithm": "ials"}),
    ("aws-user-personalization-v2", {}),
    ("aws-personalized-ranking", {}),
    ("aws-similar-items", {}),
    ("aws-sims", {}),
    ("aws-popularity-count", {}),
    ("aws-trending-now", {}),
]


def benchmark(
    title: str, data: InteractionData, *, ease_max_items: int, recipes: list[tuple[str, dict[str, str]]]
) -> None:
    split = holdout_split(data, random_state=0)
    rows = [
        run_baseline(split, "baseline: popularity", baseline_popularity, data.n_items),
        run_baseline(split, "baseline: implicit ALS default", baseline_implicit_als, data.n_items),
        run_baseline(split, "baseline: plain EASE λ=500", baseline_plain_ease, data.n_items),
    ]
    for recipe, params in recipes:
        rows.append(run_ours(split, recipe, params, data.n_items, ease_max_items))
    print_table(title, data, split, rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--ease-max-items", type=int, default=30_000)
    args = parser.parse_args()
    if (MOVIELENS / "ratings.csv").exists():
        benchmark(
            "ml-latest-small, every rating",
            movielens(None),
            ease_max_items=args.ease_max_items,
            recipes=OUR_RECIPES,
        )
        benchmark(
            "ml-latest-small, EVENT_VALUE >= 3.5",
            movielens(3.5),
            ease_max_items=args.ease_max_items,
            recipes=OUR_RECIPES[:3],
        )
    if not args.skip_large:
        started = time.perf_counter()
        data = synthetic(args.users, args.items)
        print(f"\n(generated in {time.perf_counter() - started:.0f} s)")
        large = [
            r for r in OUR_RECIPES if r[0] not in ("aws-user-personalization-v2", "aws-personalized-ranking")
        ]
        benchmark(
            f"synthetic {args.users} users × {args.items} items",
            data,
            ease_max_items=args.ease_max_items,
            recipes=large,
        )


if __name__ == "__main__":
    main()
