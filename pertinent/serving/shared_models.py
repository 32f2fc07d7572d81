"""Trained models as serving holds them: big arrays memory-mapped, large factor models behind an ANN index.

``pertinent serve --workers N`` runs N processes that each load every campaign's model. The big learned
arrays (EASE's item × item matrix, iALS item factors) are written once beside the artifact as ``.npy``
files and mapped read-only, so the N processes share one copy in the page cache instead of holding N;
the ANN index over a large factor model is built once and *viewed* through a memory map by all of them.
Training makes these files beside the artifact (:func:`prepare_for_serving`, in the training process), so
they travel with it to every replica and no request waits for an index build. A model trained by an
earlier version without them gets them from the first process that loads it (under a lock file the
others wait on; written atomically).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pertinent.recipes.ann import FactorIndex
from pertinent.recipes.user_personalization import UserPersonalization
from pertinent.training.pipeline import TrainedModel, load_trained_model

#: arrays smaller than this stay in each process's memory (mapping them saves nothing worth a file)
MAPPED_MIN_BYTES = 1 << 20
SHARED_FOLDER = "serving"
_MAPPED = ("ease_weights_", "item_factors_")
_build_lock = threading.Lock()


def share(
    model: TrainedModel, artifact_dir: Path, ann_min_items: int, mapped_min_bytes: int = MAPPED_MIN_BYTES
) -> TrainedModel:
    """Map ``model``'s big arrays from files beside its artifact and attach an ANN index when due."""
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
        recipe.use_index(_factor_index(folder, recipe.item_factors_))
    return model


def prepare_for_serving(artifact_dir: Path, ann_min_items: int) -> None:
    """Write the serving files of the trained model at ``artifact_dir`` (what :func:`share` maps)."""
    share(load_trained_model(artifact_dir), artifact_dir, ann_min_items)


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
        try:
            return FactorIndex.view(path, n, ndim)
        except (OSError, ValueError, RuntimeError):
            pass
        built = FactorIndex.build(np.asarray(factors, dtype=np.float32))
        _write_atomically(path, built.save)
    return FactorIndex.view(path, n, ndim)


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
