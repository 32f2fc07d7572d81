"""In-process CPU per GetRecommendations-sized call on a generated iALS catalog: the ANN search with the
pre-calibration breadth (512, 8·n + 192 candidates) against the breadth the training's calibration picks,
and the brute-force product in the same run.

    python benchmarks/ann_breadth.py [--items 50000] [--users 10000] [--factors 128] [--requests 300]

Prints the calibration, then per variant: CPU ms per call (``time.process_time``, one thread), recall@25
against brute force on held-out request histories, and the ratio against the uncalibrated search.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from pertinent.recipes.ann import FactorIndex
from pertinent.recipes.user_personalization import UserPersonalization
from pertinent.serving.shared_models import calibrate, calibration_queries
from pertinent.training.matrix import InteractionData
from pertinent.training.pipeline import TrainedModel


def generated(n_items: int, n_users: int, per_user: int) -> InteractionData:
    """benchmarks/serving.py's generated catalog: 50 taste clusters, power-law popularity, long tail."""
    rng = np.random.default_rng(0)
    clusters = 50
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    by_cluster = [np.flatnonzero(np.arange(n_items) % clusters == c) for c in range(clusters)]
    users: list[int] = []
    items: list[int] = []
    for user in range(n_users):
        pool = by_cluster[user % clusters]
        chosen = rng.choice(
            pool, size=min(per_user, len(pool)), replace=False, p=popularity[pool] / popularity[pool].sum()
        )
        users += [user] * len(chosen)
        items += chosen.tolist()
    for i in range(n_users * per_user // 4, n_items):
        users.append(i % n_users)
        items.append(i)
    return InteractionData.from_indices(users, items, n_items=n_items)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--factors", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--target", type=float, default=0.99)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    t0 = time.monotonic()
    data = generated(args.items, args.users, per_user=40)
    model = UserPersonalization().fit(
        data,
        {
            "algorithm": "ials",
            "hidden_dimension": str(args.factors),
            "als_iterations": str(args.iterations),
            "recency_mask": "false",
        },
    )
    print(f"fit {args.items} items x {args.factors} factors in {time.monotonic() - t0:.0f} s", flush=True)
    t0 = time.monotonic()
    index = FactorIndex.build(model.item_factors_)
    print(f"index built in {time.monotonic() - t0:.0f} s", flush=True)
    trained = TrainedModel(
        recipe=model,
        user_ids=np.array([str(u) for u in range(data.n_users)]),
        item_ids=np.array([str(i) for i in range(args.items)]),
        history_indptr=data.user_indptr.astype(np.int64),
        history_items=data.item_idx.astype(np.int32),
        history_weights=data.weights.astype(np.float32),
        item_creation_timestamps=np.zeros(args.items, dtype=np.int64),
    )
    model.use_index(index)
    with threadpool_limits(1, "blas"):  # as inside an API process
        measure(model, index, trained, args)


def measure(
    model: UserPersonalization, index: FactorIndex, trained: TrainedModel, args: argparse.Namespace
) -> None:
    t0 = time.process_time()
    calibration = calibrate(model, calibration_queries(trained), args.target)
    print(f"calibration ({time.process_time() - t0:.1f} s CPU): {calibration}", flush=True)
    # held-out requests: other seeds' draws of the same three kinds
    held_out = calibration_queries(trained, count=args.requests // 3, seed=1)
    requests = [h for kind in held_out.values() for h in kind]
    model.use_index(None)
    t0 = time.process_time()
    exact = [set(model.recommend(h, 25, exclude=h, history_weights=w)[0].tolist()) for h, w in requests]
    brute_ms = (time.process_time() - t0) / len(requests) * 1000
    print(f"brute force: {brute_ms:.3f} ms CPU per call", flush=True)
    rows = []
    for label, breadth in (
        ("uncalibrated (512, 8n+192)", None),
        (f"calibrated ({calibration.breadth})", calibration.breadth),
    ):
        model.use_index(index.with_breadth(breadth))
        for h, w in requests[:20]:  # warm
            model.recommend(h, 25, exclude=h, history_weights=w)
        t0 = time.process_time()
        found = [model.recommend(h, 25, exclude=h, history_weights=w)[0] for h, w in requests]
        ms = (time.process_time() - t0) / len(requests) * 1000
        recall = sum(len(e & set(f.tolist())) for e, f in zip(exact, found, strict=True)) / sum(
            len(e) for e in exact
        )
        rows.append((label, ms, recall))
    base = rows[0][1]
    for label, ms, recall in rows:
        print(
            f"{label}: {ms:.3f} ms CPU per call, recall@25 {recall:.4f}, x{ms / base:.2f} of uncalibrated, x{ms / brute_ms:.2f} of brute force"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
