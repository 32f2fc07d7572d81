"""iALS on Apache Spark: MLlib's ``ALS(implicitPrefs=True)`` as the factor solver of the factor recipes.

With ``training_engine = spark`` the training child gives :class:`SparkFactorSolver` to the
user-personalization and personalized-ranking recipes in place of implicit's solver (and trains them with
iALS whatever the catalog size). Everything around the solve is unchanged — the event selection, the
Personalize hold-out split, the metrics, the fold-in used when serving and the artifact format — so a
model trained on Spark serves exactly like one trained in process.

The user × item weights go to Spark as a Parquet file of ``(user, item, rating)`` rows (integer indexes,
the same weights implicit gets), which Spark reads with ``spark.read.parquet``; on a cluster that file must
be on storage the executors read (``spark_work_dir`` on a shared or object-store path). Only the item
factors come back to the driver: the server folds users in at request time.

Objectives differ in one place: MLlib scales the L2 penalty of each user (item) by its number of
interactions (ALS-WR), implicit does not. The solver divides ``regularization`` by the mean number of
interactions per user so that a tuned value means about the same on both engines.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

log = logging.getLogger(__name__)


class SparkFactorSolver:
    """Solve iALS item factors on the Spark master ``master`` (``local[N]`` or a cluster URL)."""

    def __init__(self, master: str, work_dir: Path, parallelism: int = 0) -> None:
        self.master = master
        self.work_dir = Path(work_dir)
        self.parallelism = parallelism or _local_cores(master)
        self._session: Any = None

    def session(self) -> Any:
        if self._session is None:
            from pyspark.sql import SparkSession

            parts = str(self.parallelism)
            self._session = (
                SparkSession.builder.master(self.master)
                .appName("pertinent-ials")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.shuffle.partitions", parts)
                .config("spark.default.parallelism", parts)
                .getOrCreate()
            )
            self._session.sparkContext.setLogLevel("ERROR")
        return self._session

    def __call__(
        self,
        weights: sp.csr_matrix,
        factors: int,
        regularization: float,
        alpha: float,
        iterations: int,
        seed: int,
    ) -> NDArray[np.float32]:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from pyspark.ml.recommendation import ALS

        coo = weights.tocoo()
        n_items = weights.shape[1]
        self.work_dir.mkdir(parents=True, exist_ok=True)
        path = self.work_dir / f"als-{uuid.uuid4().hex[:8]}.parquet"
        table = pa.table(
            {
                "user": pa.array(coo.row.astype(np.int32)),
                "item": pa.array(coo.col.astype(np.int32)),
                "rating": pa.array(coo.data.astype(np.float32)),
            }
        )
        pq.write_table(table, path)
        try:
            frame = self.session().read.parquet(str(path))
            rows_per_user = coo.nnz / max(int(np.count_nonzero(np.diff(weights.indptr))), 1)
            als = ALS(
                rank=factors,
                maxIter=iterations,
                regParam=regularization / max(rows_per_user, 1.0),
                implicitPrefs=True,
                alpha=alpha,
                userCol="user",
                itemCol="item",
                ratingCol="rating",
                seed=seed,
                numUserBlocks=self.parallelism,
                numItemBlocks=self.parallelism,
                checkpointInterval=-1,
            )
            model = als.fit(frame)
            result = np.zeros((n_items, factors), dtype=np.float32)
            for row in model.itemFactors.toLocalIterator():
                result[int(row["id"])] = np.asarray(row["features"], dtype=np.float32)
            return result
        finally:
            path.unlink(missing_ok=True)

    def stop(self) -> None:
        if self._session is not None:
            self._session.stop()
            self._session = None


def _local_cores(master: str) -> int:
    """``local[4]`` → 4; ``local``/``local[*]``/a cluster URL → 2 blocks (a safe floor)."""
    if master.startswith("local[") and master.endswith("]") and master[6:-1].isdigit():
        return max(int(master[6:-1]), 1)
    return 2
