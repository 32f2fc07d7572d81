"""Training at scale: the iALS factor recipe trained with implicit (one process) and with Spark MLlib ALS.

For each size and engine a fresh process generates the same topic-mix set (:func:`synthetic`: power-law
popularity, drifting user topics), splits it with Personalize's protocol, fits
``aws-user-personalization`` with ``algorithm=ials`` — the in-process implicit solver, or
:class:`pertinent.training.spark_als.SparkFactorSolver` on ``--spark-master`` — and scores NDCG@10 on the
held-out users. The parent samples the whole process tree's resident memory (the JVM included) every
0.2 s. Printed per run: fit wall time, CPU seconds of the tree, peak RSS, NDCG@10; then the NDCG ratio
Spark / implicit and, from a least-squares line through each engine's (interactions, fit seconds), the
time projected for 20M interactions and the largest set that fits in an hour on this machine.

The projection is an extrapolation from the sizes actually run (ALS costs O(nnz·k² + (users+items)·k³)
per iteration, linear in the data at a fixed shape); it is labelled as such. The issue's full 20M run is
``--sizes 20000000`` (about half an hour per engine on 2 cores, and several GiB of memory: give Spark's
driver room with ``PYSPARK_SUBMIT_ARGS="--driver-memory 14g pyspark-shell"`` and install a native BLAS,
docs/deploy.md).

Run: ``python benchmarks/train_scale.py --sizes 250000,500000`` (defaults: 20M; ``--help``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MEAN_LENGTH = 40.0


def synthetic(
    n_users: int = 50_000,
    n_items: int = 10_000,
    n_topics: int = 100,
    mean_length: float = 40.0,
    seed: int = 0,
) -> Any:
    """Topic-structured implicit feedback with power-law popularity and drifting user interests.

    Items fall into ``n_topics`` topics of power-law popularity; inside a topic, item popularity is Zipf.
    A user's events draw a topic from a sparse Dirichlet mix (a few favourite topics, popular topics
    likelier) that drifts halfway to a second mix over the user's history, then an item from the topic;
    10 % of events follow global popularity instead. One interaction per (user, item) is kept.
    """
    import numpy as np

    from pertinent.training.matrix import InteractionData

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
    users_out: list[Any] = []
    items_out: list[Any] = []
    times_out: list[Any] = []
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


def _shape(interactions: int) -> tuple[int, int]:
    """Users and items for a set of about ``interactions`` (1 item per 10 users). A user draws ~40 events
    but keeps ~29 distinct interactions (measured: 737,666 of 1M and 1,503,361 of 2M asked for with 40 per
    user; the lognormal lengths are truncated and repeated picks of one item dropped)."""
    users = max(int(interactions / (MEAN_LENGTH * 0.74)), 100)
    return users, max(users // 10, 500)


def run_one(engine: str, interactions: int, master: str, factors: int, iterations: int) -> dict[str, Any]:
    """In the child process: generate, split, fit, score; returns the figures."""
    sys.path.insert(0, str(ROOT))
    from pertinent.recipes.registry import get_recipe_class
    from pertinent.training.evaluation import ranking_metrics, recommend_for_split
    from pertinent.training.splits import holdout_split

    users, items = _shape(interactions)
    data = synthetic(n_users=users, n_items=items, n_topics=max(items // 100, 10), mean_length=MEAN_LENGTH)
    split = holdout_split(data, random_state=0)
    recipe = get_recipe_class("aws-user-personalization")(random_state=0)
    solver = None
    if engine == "spark":
        from pertinent.training.spark_als import SparkFactorSolver

        solver = SparkFactorSolver(master, Path(tempfile.mkdtemp(prefix="pertinent-spark-")))
        solver.session()  # JVM start-up is reported apart from the fit
        recipe.factor_solver = solver
    params = {
        "algorithm": "ials",
        "hidden_dimension": str(factors),
        "als_iterations": str(iterations),
        "recency_mask": "false",
    }
    started = time.perf_counter()
    model = recipe.fit(split.train, params)
    seconds = time.perf_counter() - started
    metrics = ranking_metrics(list(recommend_for_split(model, split)), split.targets, data.n_items)
    if solver is not None:
        solver.stop()
    return {
        "engine": engine,
        "interactions": int(data.n_interactions),
        "users": users,
        "items": items,
        "fit_seconds": round(seconds, 2),
        "ndcg_at_10": metrics["normalized_discounted_cumulative_gain_at_10"],
    }


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _sample(pids: list[int]) -> tuple[int, float]:
    """(resident bytes, CPU seconds) summed over ``pids``."""
    rss, cpu = 0, 0.0
    tick, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / tick
        rss += int(fields[21]) * page
    return rss, cpu


def measure(engine: str, interactions: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        engine,
        "--sizes",
        str(interactions),
        "--spark-master",
        args.spark_master,
        "--factors",
        str(args.factors),
        "--iterations",
        str(args.iterations),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    peak, cpu_seen = 0, {}
    while process.poll() is None:
        pids = _tree(process.pid)
        rss, _ = _sample(pids)
        peak = max(peak, rss)
        for pid in pids:  # CPU of each process as last seen (the JVM is gone before the parent ends)
            cpu_seen[pid] = _sample([pid])[1]
        time.sleep(0.2)
    out = process.stdout.read().decode() if process.stdout else ""
    if process.returncode != 0:
        raise RuntimeError(f"{engine} at {interactions} failed with {process.returncode}")
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    found["requested"] = interactions
    found["process_seconds"] = round(time.perf_counter() - started, 2)
    found["cpu_seconds"] = round(sum(cpu_seen.values()), 1)
    found["peak_rss_mib"] = round(peak / 2**20, 1)
    return found


def _line(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Intercept and slope of seconds against interactions (least squares; one point: through zero)."""
    if len(points) == 1:
        return 0.0, points[0][1] / points[0][0]
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    slope = sum((p[0] - mx) * (p[1] - my) for p in points) / sum((p[0] - mx) ** 2 for p in points)
    return my - slope * mx, slope


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="20000000", help="comma-separated interaction counts")
    parser.add_argument("--engines", default="implicit,spark")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.child:
        print(json.dumps(run_one(args.child, sizes[0], args.spark_master, args.factors, args.iterations)))
        return
    engines = [e.strip() for e in args.engines.split(",")]
    print(
        f"cores: {os.cpu_count()}, factors {args.factors}, {args.iterations} iterations, spark {args.spark_master}"
    )
    print(
        f"{'engine':<9}{'interactions':>13}{'users':>9}{'items':>8}{'fit s':>9}{'CPU s':>9}{'peak RSS MiB':>14}{'NDCG@10':>9}"
    )
    results: list[dict[str, Any]] = []
    for size in sizes:
        for engine in engines:
            row = measure(engine, size, args)
            results.append(row)
            print(
                f"{engine:<9}{row['interactions']:>13,}{row['users']:>9,}{row['items']:>8,}{row['fit_seconds']:>9.1f}"
                f"{row['cpu_seconds']:>9.1f}{row['peak_rss_mib']:>14.0f}{row['ndcg_at_10']:>9.4f}",
                flush=True,
            )
    if set(engines) >= {"implicit", "spark"}:
        for size in sizes:
            by = {r["engine"]: r for r in results if r["requested"] == size}
            if "implicit" in by and "spark" in by:
                ratio = by["spark"]["ndcg_at_10"] / max(by["implicit"]["ndcg_at_10"], 1e-12)
                print(
                    f"NDCG@10 spark / implicit at {by['spark']['interactions']:,}: {ratio:.3f}"
                    " (target within 2 %: 0.98 .. 1.02)"
                )
    print("extrapolated from the sizes above (a line through fit seconds against interactions):")
    for engine in engines:
        points = [(r["interactions"], r["fit_seconds"]) for r in results if r["engine"] == engine]
        intercept, slope = _line(points)
        at_20m = intercept + slope * 20_000_000
        in_hour = (3600 - intercept) / slope if slope > 0 else float("inf")
        rss = [(r["interactions"], r["peak_rss_mib"]) for r in results if r["engine"] == engine]
        rss_base, rss_slope = _line(rss)
        print(
            f"  {engine}: 20M interactions ≈ {at_20m / 60:.0f} min fit, ≈ {(rss_base + rss_slope * 2e7) / 1024:.1f} GiB"
            f" peak; largest set fitted within an hour ≈ {in_hour / 1e6:.0f}M interactions"
        )


if __name__ == "__main__":
    main()
