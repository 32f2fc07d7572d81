"""How fast is a bulk import compared with simply reading the CSV?

For MovieLens ml-latest-small ratings (converted to an Interactions CSV) and a synthetic N-row Interactions
CSV, prints the rows per second of :func:`pertinent.datasets.csv_import.import_csv` (read, validate, type,
write Parquet) next to those of a plain :func:`pyarrow.csv.read_csv` of the same file, and their ratio::

    python benchmarks/import_speed.py [--rows 5000000] [--repeat 3]

The data stays where it is (``../shared/datasets`` next to the repository); every CSV written here goes to a
temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from movielens import MOVIELENS  # $PERTINENT_TEST_DATA, as the tests resolve it

from pertinent.datasets.avro_schema import parse_schema
from pertinent.datasets.csv_import import import_csv

SCHEMA = parse_schema(
    """{"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
        "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                   {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},
                   {"name": "EVENT_VALUE", "type": ["null", "float"]}], "version": "1.0"}"""
)
_PLAIN = pa_csv.WriteOptions(quoting_style="none")


def movielens_csv(folder: Path) -> Path:
    """ratings.csv (userId,movieId,rating,timestamp) as USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE."""
    ratings = pa_csv.read_csv(MOVIELENS / "ratings.csv")
    table = pa.table(
        {
            "USER_ID": pc.cast(ratings["userId"], pa.string()),
            "ITEM_ID": pc.cast(ratings["movieId"], pa.string()),
            "TIMESTAMP": ratings["timestamp"],
            "EVENT_TYPE": pa.array(["rating"] * ratings.num_rows),
            "EVENT_VALUE": ratings["rating"],
        }
    )
    path = folder / "movielens-interactions.csv"
    pa_csv.write_csv(table, path, write_options=_PLAIN)
    return path


def synthetic_csv(folder: Path, rows: int, seed: int = 0) -> Path:
    """``rows`` interactions of 200k users with 50k items over five years, half-star ratings."""
    rng = np.random.default_rng(seed)
    path = folder / f"synthetic-{rows}.csv"
    chunk = 1_000_000
    with pa_csv.CSVWriter(path, SCHEMA.arrow_schema(), write_options=_PLAIN) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            writer.write_table(
                pa.table(
                    {
                        "USER_ID": pa.array(rng.integers(1, 200_000, n).astype(str)),
                        "ITEM_ID": pa.array(rng.integers(1, 50_000, n).astype(str)),
                        "TIMESTAMP": rng.integers(1_500_000_000, 1_660_000_000, n),
                        "EVENT_TYPE": pa.array(np.where(rng.random(n) < 0.8, "click", "purchase")),
                        "EVENT_VALUE": pa.array(rng.integers(1, 11, n) / 2, pa.float32()),
                    },
                    schema=SCHEMA.arrow_schema(),
                )
            )
    return path


def best_seconds(run: Callable[[], int], repeat: int) -> tuple[float, int]:
    """The fastest of ``repeat`` runs, and the rows the run reported."""
    best, rows = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = run()
        best = min(best, time.perf_counter() - start)
    return best, rows


def measure(csv_path: Path, work: Path, repeat: int) -> tuple[int, float, float]:
    """(rows, import_csv rows/s, read_csv rows/s) for one file."""

    def pertinent_import() -> int:
        return import_csv(
            [(csv_path.name, lambda: open(csv_path, "rb"))], SCHEMA, "INTERACTIONS", work / "bulk.parquet"
        ).rows_total

    def arrow_read() -> int:
        return int(pa_csv.read_csv(csv_path).num_rows)

    import_s, rows = best_seconds(pertinent_import, repeat)
    read_s, read_rows = best_seconds(arrow_read, repeat)
    assert rows == read_rows, (rows, read_rows)
    return rows, rows / import_s, rows / read_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the synthetic CSV")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pertinent-bench-") as tmp:
        folder = Path(tmp)
        files = [movielens_csv(folder)] if (MOVIELENS / "ratings.csv").exists() else []
        if not files:
            print(f"(MovieLens not found at {MOVIELENS}; synthetic data only)")
        files.append(synthetic_csv(folder, args.rows))

        print(f"pyarrow {pa.__version__}, {os.cpu_count()} CPUs, fastest of {args.repeat} runs")
        header = (
            f"{'file':<28} {'rows':>10} {'MB':>7} {'import_csv rows/s':>18} {'read_csv rows/s':>16} "
            f"{'ratio':>6}"
        )
        print(header)
        print("-" * len(header))
        for path in files:
            rows, imported, read = measure(path, folder, args.repeat)
            size = path.stat().st_size / 1e6
            print(
                f"{path.name:<28} {rows:>10,} {size:>7.1f} {imported:>18,.0f} {read:>16,.0f} "
                f"{imported / read:>6.2f}"
            )


if __name__ == "__main__":
    main()
