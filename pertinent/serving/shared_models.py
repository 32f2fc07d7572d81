"""Trained models as serving holds them: big arrays memory-mapped, large factor models behind an ANN index.

``pertinent serve --workers N`` runs N processes that each load every campaign's model. The big learned
arrays (EASE's item × item matrix, iALS item factors) are written once beside the artifact as ``.npy``
files and mapped read-only, so the N processes share one copy in the page cache instead of holding N;
the ANN index over a large factor model is built once and *viewed* through a memory map by all of them.
Training makes these files beside the artifact (:func:`prepare_for_serving`, in the training process), so
they travel with it to every replica and no request waits for an index build. A model trained by an
earlier version without them gets them from the first process that loads it (under a lock file the
others wait on; written atomically).

Training also calibrates the index's search breadth (:func:`calibrate`) and writes it beside the index
(``item_factors.breadth.json``); serving searches with it. An index without one (a model trained before)
searches with the fixed pre-calibration breadth of 512.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pertinent.recipes.ann import BREADTH_LADDER, CALIBRATION_K, MAX_CANDIDATES, FactorIndex, graph_rows
from pertinent.recipes.user_personalization import UserPersonalization
from pertinent.training.pipeline import TrainedModel, load_trained_model

#: arrays smaller than this stay in each process's memory (mapping them saves nothing worth a file)
MAPPED_MIN_BYTES = 1 << 20
SHARED_FOLDER = "serving"
_MAPPED = ("ease_weights_", "item_factors_")
_build_lock = threading.Lock()
CALIBRATION_FILE = "item_factors.breadth.json"
#: queries of each kind the calibration measures recall on
CALIBRATION_QUERIES = 200

History = tuple[NDArray[np.int64], NDArray[np.float32]]


@dataclass(frozen=True)
class Calibration:
    """The search breadth chosen for one model's index, and what it was measured to give."""

    breadth: int  #: the breadth serving uses: one rung above ``reached`` (the safety margin)
    reached: int  #: the smallest rung where every kind of query's recall met ``target``
    recall: dict[str, float]  #: recall@k of ``breadth``, per kind of query
    target: float
    k: int
    queries: int  #: of each kind
    n_items: int
    ndim: int
    #: False when even the widest breadth missed ``target`` (a poor graph): serving then scores exactly
    met: bool = True


def searched(index: FactorIndex, calibration: Calibration | None) -> FactorIndex | None:
    """What serving retrieves with: ``index`` at the calibrated breadth; at the fixed pre-calibration
    breadth when there is no calibration; None (exact scoring) when the calibration found no breadth that
    reaches the target on this graph."""
    if calibration is None:
        return index.with_breadth(None)
    return index.with_breadth(calibration.breadth) if calibration.met else None


def share(
    model: TrainedModel, artifact_dir: Path, ann_min_items: int, mapped_min_bytes: int = MAPPED_MIN_BYTES
) -> TrainedModel:
    """Map ``model``'s big arrays from files beside its artifact and attach an ANN index when due (searching
    with the breadth calibrated at training, or the pre-calibration search when there is none)."""
    recipe = model.recipe
    folder = Path(artifact_dir) / SHARED_FOLDER
    for name in _MAPPED:
        array = recipe.__dict__.get(name)
        if isinstance(array, np.ndarray) and array.nbytes >= mapped_min_bytes:
            setattr(recipe, name, _mapped(folder / f"{name}.npy", array))
    if (
        isinstance(recipe, UserPersonalization)
        and recipe.algorithm == "ials"
        and ann_min_items > 0
        and recipe.n_items_ >= ann_min_items
    ):
        index = _factor_index(folder, recipe.item_factors_)
        recipe.use_index(searched(index, read_calibration(folder, index)))
    return model


def prepare_for_serving(artifact_dir: Path, ann_min_items: int, target_recall: float = 0.99) -> None:
    """Write the serving files of the trained model at ``artifact_dir`` (what :func:`share` maps), and
    calibrate the ANN index's search breadth when the model has one."""
    model = share(load_trained_model(artifact_dir), artifact_dir, ann_min_items)
    recipe = model.recipe
    folder = Path(artifact_dir) / SHARED_FOLDER
    if (
        isinstance(recipe, UserPersonalization)
        and recipe.factor_index is not None
        and read_calibration(folder, recipe.factor_index) is None
    ):
        write_calibration(folder, calibrate(recipe, calibration_queries(model), target_recall))


def calibration_queries(
    model: TrainedModel, count: int = CALIBRATION_QUERIES, seed: int = 0
) -> dict[str, list[History]]:
    """Three kinds of request histories, drawn with a fixed seed: sampled training users' own histories
    ("users"), the older halves of two sampled users' histories together ("mixed": tastes that drifted,
    which the graph finds harder), and 1–30 items drawn uniformly from the catalog ("random")."""
    rng = np.random.default_rng(seed)
    indptr, items, weights = model.history_indptr, model.history_items, model.history_weights
    present = np.flatnonzero(np.diff(indptr) > 0)
    n_items = int(model.recipe.n_items_)

    def user(u: int) -> History:
        lo, hi = int(indptr[u]), int(indptr[u + 1])
        return items[lo:hi].astype(np.int64), weights[lo:hi].astype(np.float32)

    def half(u: int) -> History:
        got, w = user(u)
        keep = max(1, len(got) // 2)
        return got[:keep], w[:keep]

    users: list[History] = []
    mixed: list[History] = []
    if len(present):
        users = [user(int(u)) for u in rng.choice(present, size=min(count, len(present)), replace=False)]
        for a, b in rng.choice(present, size=(count, 2)).tolist():
            (ia, wa), (ib, wb) = half(a), half(b)
            merged, first = np.unique(np.concatenate([ia, ib]), return_index=True)
            mixed.append((merged, np.concatenate([wa, wb])[first]))
    random = []
    for _ in range(count if n_items else 0):
        size = int(rng.integers(1, min(30, n_items) + 1))
        random.append(
            (rng.choice(n_items, size=size, replace=False).astype(np.int64), np.ones(size, np.float32))
        )
    return {
        kind: queries for kind, queries in (("users", users), ("mixed", mixed), ("random", random)) if queries
    }


def calibrate(
    recipe: UserPersonalization,
    queries: dict[str, list[History]],
    target: float,
    k: int = CALIBRATION_K,
) -> Calibration:
    """The search breadth for ``recipe``'s index: recall@k of the served top k (history excluded, exact
    re-score) against brute force, for each kind of query and each rung of the ladder; the smallest rung
    where every kind reaches ``target``, then one rung more as the margin (the largest rung when none
    reaches it, with ``met`` False)."""
    index = recipe.factor_index
    if index is None:
        raise ValueError("the model has no ANN index to calibrate")
    if not 0.0 < target <= 1.0:
        raise ValueError(f"ann_target_recall must be in (0, 1], not {target}")
    recipe.use_index(None)
    exact = {
        kind: [set(recipe.recommend(h, k, exclude=h, history_weights=w)[0].tolist()) for h, w in histories]
        for kind, histories in queries.items()
    }
    measured: dict[int, dict[str, float]] = {}

    def recall(breadth: int) -> dict[str, float]:
        if breadth not in measured:
            recipe.use_index(index.with_breadth(breadth))
            out = {}
            for kind, histories in queries.items():
                hits = sum(
                    len(best & set(recipe.recommend(h, k, exclude=h, history_weights=w)[0].tolist()))
                    for (h, w), best in zip(histories, exact[kind], strict=True)
                )
                wanted = sum(len(best) for best in exact[kind])
                out[kind] = hits / wanted if wanted else 1.0
            measured[breadth] = out
        return measured[breadth]

    top = len(BREADTH_LADDER) - 1
    try:
        rung = next(
            (i for i, b in enumerate(BREADTH_LADDER) if min(recall(b).values(), default=1.0) >= target), top
        )
        met = min(recall(BREADTH_LADDER[rung]).values(), default=1.0) >= target
        chosen = BREADTH_LADDER[min(rung + 1, top)]
        recalls = recall(chosen)
    finally:
        recipe.use_index(index.with_breadth(None))
    return Calibration(
        breadth=chosen,
        reached=BREADTH_LADDER[rung],
        recall={kind: round(value, 6) for kind, value in recalls.items()},
        target=target,
        k=k,
        queries=max((len(h) for h in queries.values()), default=0),
        n_items=index.n_items,
        ndim=index.ndim,
        met=met,
    )


def write_calibration(folder: Path, calibration: Calibration) -> None:
    text = json.dumps(asdict(calibration), indent=1)

    def write(target: Path) -> None:
        target.write_text(text)

    _write_atomically(folder / CALIBRATION_FILE, write)


def read_calibration(folder: Path, index: FactorIndex) -> Calibration | None:
    """The calibration written beside ``index``, or None (none, unreadable, or of another index)."""
    try:
        calibration = Calibration(**json.loads((folder / CALIBRATION_FILE).read_text()))
        usable = (calibration.n_items, calibration.ndim) == (index.n_items, index.ndim)
        usable = (
            usable and isinstance(calibration.breadth, int) and 1 <= calibration.breadth <= MAX_CANDIDATES
        )
    except (OSError, ValueError, TypeError):
        return None
    return calibration if usable else None


def _mapped(path: Path, array: NDArray[np.generic]) -> NDArray[np.generic]:
    if not _matches(path, array):
        _write_atomically(path, _save_npy(array))
    mapped: NDArray[np.generic] = np.load(path, mmap_mode="r")
    return mapped


def _matches(path: Path, array: NDArray[np.generic]) -> bool:
    try:
        existing = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return bool(existing.shape == array.shape and existing.dtype == array.dtype)


def _factor_index(folder: Path, factors: NDArray[np.float32]) -> FactorIndex:
    path = folder / "item_factors.usearch"
    n, ndim = factors.shape
    folder.mkdir(parents=True, exist_ok=True)
    # one build for all processes: the others wait on the lock file, then map what it wrote
    with _build_lock, open(folder / ".item_factors.usearch.lock", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        graph_items = len(graph_rows(factors))
        try:
            return FactorIndex.view(path, n, ndim, graph_items)
        except (OSError, ValueError, RuntimeError):
            pass
        built = FactorIndex.build(np.asarray(factors, dtype=np.float32))
        (folder / CALIBRATION_FILE).unlink(missing_ok=True)  # it measured an earlier graph
        _write_atomically(path, built.save)
    return FactorIndex.view(path, n, ndim, graph_items)


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` to a temporary file beside ``path``, then rename: readers see all of it or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{os.getpid()}.{threading.get_ident()}.{path.name}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _save_npy(array: NDArray[np.generic]) -> Callable[[Path], None]:
    def write(target: Path) -> None:
        with open(target, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array))

    return write
