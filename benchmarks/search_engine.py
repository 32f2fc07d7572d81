"""How fast is the search core, and what does our layer cost on top of tantivy?

For the 9,742 MovieLens titles and genres and for a generated N-item catalog (default 1,000,000) prints:

* indexing speed of :meth:`ItemIndex.replace_all` (documents per second, one commit);
* p50/p99 latency of the same queries through :func:`pertinent.search.query_dsl.search` (parse the body,
  compile the query, search, load the stored documents, build OpenSearch's response) beside
  :func:`~pertinent.search.query_dsl.raw_search` (tantivy's search and document loading on the already
  compiled query); the ratio is our overhead;
* time to re-rank 100/500/1000 hits: :func:`pertinent.search.rerank.rerank` alone and the whole
  :func:`pertinent.search.pipelines.apply_pipeline` with an instant ranker::

    python benchmarks/search_engine.py [--items 1000000] [--queries 300]

The MovieLens data is read where it lies (``../shared/datasets`` next to the repository); indexes go to a
temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import tantivy
from movielens import MOVIELENS  # $PERTINENT_TEST_DATA, as the tests resolve it

from pertinent.search.index import IndexField, ItemIndex
from pertinent.search.pipelines import apply_pipeline, parse_processor
from pertinent.search.query_dsl import parse_search_body, raw_search, search
from pertinent.search.rerank import rerank

MOVIES = MOVIELENS / "movies.csv"
FIELDS = (
    IndexField("TITLE", "text"),
    IndexField("GENRES", "categorical"),
    IndexField("YEAR", "numeric", integer=True),
)
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def movielens_items() -> pa.Table:
    """movies.csv as ITEM_ID, TITLE, GENRES, YEAR (the year taken from the title)."""
    movies = pa_csv.read_csv(MOVIES)
    titles = movies["title"].to_pylist()
    years = [int(m.group(1)) if (m := _YEAR.search(title)) else None for title in titles]
    return pa.table(
        {
            "ITEM_ID": pc.cast(movies["movieId"], pa.string()),
            "TITLE": movies["title"],
            "GENRES": movies["genres"],
            "YEAR": pa.array(years, pa.int64()),
        }
    )


def generated_items(count: int, vocabulary: Sequence[str], genres: Sequence[str], seed: int = 0) -> pa.Table:
    """``count`` items: 2–6 title words drawn from MovieLens's title words (Zipf-like), 1–3 genres, a year."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
    words = rng.choices(vocabulary, weights=weights, k=count * 6)
    titles = []
    item_genres = []
    years = []
    position = 0
    for _ in range(count):
        length = rng.randint(2, 6)
        titles.append(" ".join(words[position : position + length]))
        position += length
        item_genres.append("|".join(rng.sample(genres, rng.randint(1, 3))))
        years.append(rng.randint(1920, 2024))
    return pa.table(
        {
            "ITEM_ID": [f"i{n}" for n in range(count)],
            "TITLE": titles,
            "GENRES": item_genres,
            "YEAR": pa.array(years, pa.int64()),
        }
    )


def query_bodies(
    vocabulary: Sequence[str], genres: Sequence[str], count: int, seed: int = 1
) -> list[dict[str, Any]]:
    """A mix of typical search-box queries: multi_match over title and genres, some with filters."""
    rng = random.Random(seed)
    common = list(vocabulary[:2000])
    bodies: list[dict[str, Any]] = []
    for number in range(count):
        text = " ".join(rng.sample(common, rng.randint(1, 3)))
        multi_match = {"multi_match": {"query": text, "fields": ["TITLE^2", "GENRES"]}}
        if number % 3 == 0:
            bodies.append({"query": multi_match, "size": 10})
        elif number % 3 == 1:
            bodies.append({"query": {"match": {"TITLE": {"query": text, "operator": "and"}}}, "size": 10})
        else:
            filters = [
                {"term": {"GENRES": rng.choice(genres)}},
                {"range": {"YEAR": {"gte": 1980, "lt": 2010}}},
            ]
            bodies.append({"query": {"bool": {"must": multi_match, "filter": filters}}, "size": 10})
    return bodies


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def time_each(function: Callable[[Any], Any], arguments: Sequence[Any], repeat: int = 1) -> list[float]:
    """Milliseconds per call, best of ``repeat`` for each argument."""
    timings = []
    for argument in arguments:
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            function(argument)
            best = min(best, time.perf_counter() - started)
        timings.append(best * 1000)
    return timings


def bench_catalog(name: str, table: pa.Table, bodies: Sequence[dict[str, Any]], folder: Path) -> ItemIndex:
    index = ItemIndex.create(folder / name, FIELDS)
    started = time.perf_counter()
    index.replace_all(table)
    seconds = time.perf_counter() - started
    print(f"\n== {name}: {table.num_rows:,} items")
    print(f"indexing (replace_all, one commit): {seconds:8.2f} s   {table.num_rows / seconds:12,.0f} docs/s")

    compiled = [parse_search_body(index, body).query for body in bodies]
    for body in bodies[:20]:  # warm the OS page cache and tantivy's readers
        search(index, body)
    # Each figure is the best of 3 runs of one query; p50 and p99 are over the queries.
    ours = time_each(lambda body: search(index, body), bodies, repeat=3)
    raw = time_each(lambda query: raw_search(index, query, 10), compiled, repeat=3)
    parse = time_each(lambda body: parse_search_body(index, body), bodies, repeat=3)
    hits = statistics.mean(len(search(index, body)["hits"]["hits"]) for body in bodies)
    print(f"queries: {len(bodies)} (multi_match / match AND / bool+filters), mean {hits:.1f} hits returned")
    print(f"{'':28}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'search() (ours)':28}{percentile(ours, 0.5):10.3f}{percentile(ours, 0.99):10.3f}")
    print(f"{'raw_search() (tantivy)':28}{percentile(raw, 0.5):10.3f}{percentile(raw, 0.99):10.3f}")
    print(f"{'  parse_search_body() alone':28}{percentile(parse, 0.5):10.3f}{percentile(parse, 0.99):10.3f}")
    ratio = (percentile(ours, 0.5) / percentile(raw, 0.5), percentile(ours, 0.99) / percentile(raw, 0.99))
    print(f"{'ratio ours / raw':28}{ratio[0]:10.2f}{ratio[1]:10.2f}")
    extra = [mine - base for mine, base in zip(ours, raw, strict=True)]
    print(f"{'our overhead per query ms':28}{percentile(extra, 0.5):10.3f}{percentile(extra, 0.99):10.3f}")
    return index


def bench_rerank(index: ItemIndex) -> None:
    processor = parse_processor(
        {
            "campaign_arn": "arn:aws:personalize:us-east-1:000000000000:campaign/bench",
            "recipe": "aws-personalized-ranking",
            "aws_region": "us-east-1",
            "weight": 0.4,
        }
    )

    def ranker(user_id: str, item_ids: list[str], context: dict[str, str]) -> list[str]:
        return item_ids[::-1]

    print("\n== re-ranking: weight 0.4, instant ranker, median of 50 runs")
    print(f"{'hits':>6}{'rerank() ms':>16}{'apply_pipeline() ms':>22}")
    for size in (100, 500, 1000):
        response = search(index, {"query": {"match": {"GENRES": "drama"}}, "size": size})
        page = response["hits"]["hits"]
        assert len(page) == size
        order = [hit["_id"] for hit in page][::-1]
        blend = time_each(lambda pair: rerank(pair[0], pair[1], 0.4), [(page, order)] * 50)
        pipeline = time_each(
            lambda body: apply_pipeline(body, processor, ranker, "u1", None), [response] * 50
        )
        print(f"{size:6}{statistics.median(blend):16.3f}{statistics.median(pipeline):22.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000, help="size of the generated catalog")
    parser.add_argument("--queries", type=int, default=300, help="queries per catalog")
    args = parser.parse_args()

    movies = movielens_items()
    titles = movies["TITLE"].to_pylist()
    counts: dict[str, int] = {}
    for title in titles:
        for word in re.findall(r"[A-Za-z]{3,}", _YEAR.sub("", title)):
            counts[word.lower()] = counts.get(word.lower(), 0) + 1
    vocabulary = sorted(counts, key=lambda word: -counts[word])
    genres = sorted(
        {g for value in movies["GENRES"].to_pylist() for g in value.split("|")} - {"(no genres listed)"}
    )
    bodies = query_bodies(vocabulary, genres, args.queries)

    print(f"pertinent search benchmark: {os.cpu_count()} CPU cores, {getattr(tantivy, '__version__', '?')}")
    with tempfile.TemporaryDirectory(prefix="pertinent-search-bench-") as folder:
        bench_catalog("MovieLens ml-latest-small titles+genres", movies, bodies, Path(folder))
        started = time.perf_counter()
        generated = generated_items(args.items, vocabulary, genres)
        print(f"\n(generated {args.items:,} items in {time.perf_counter() - started:.1f} s)")
        index = bench_catalog("generated catalog", generated, bodies, Path(folder))
        bench_rerank(index)


if __name__ == "__main__":
    main()
