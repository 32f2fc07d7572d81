"""A generated, movie-like catalog with taste structure, so the demo needs no download and no licence.

Deterministic for a seed: items with titles, genres, a short description and a year; users with two
favourite genres who mostly watch popular films of those genres.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GENRES = (
    "Action",
    "Adventure",
    "Animation",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Horror",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "Western",
)
ADJECTIVES = (
    "Silent",
    "Crimson",
    "Last",
    "Hidden",
    "Golden",
    "Broken",
    "Midnight",
    "Electric",
    "Lonely",
    "Savage",
    "Secret",
    "Endless",
    "Frozen",
    "Wild",
    "Burning",
    "Distant",
    "Gentle",
    "Iron",
)
NOUNS = (
    "Harbor",
    "Kingdom",
    "Detective",
    "Garden",
    "Frontier",
    "Machine",
    "Summer",
    "Orchard",
    "Signal",
    "Voyage",
    "Mirror",
    "Canyon",
    "Empire",
    "Lighthouse",
    "Carnival",
    "Station",
    "River",
    "Comet",
)
#: title endings: with ADJECTIVES × NOUNS they give more distinct titles than the catalog has films
ENDINGS = ("", " II", " III", " Returns", " Rising", ": Origins", " of the North")
#: where each film is set; varied so a search's BM25 scores differ (identical texts would tie)
SETTINGS = (
    "during one endless summer",
    "in a forgotten mountain kingdom",
    "on a storm-battered coast",
    "in a neon-lit city",
    "aboard a night train",
    "in a small desert town",
    "under a frozen northern sky",
    "in a crumbling royal palace",
    "on a remote island",
    "in the summer of a quiet harbor town",
    "beneath an old lighthouse",
    "across a war-torn frontier",
)
PLOTS = {
    "Action": "a former soldier fights one last battle",
    "Adventure": "an unlikely crew crosses uncharted lands",
    "Animation": "a curious robot learns to paint",
    "Comedy": "two rival chefs share a tiny kitchen",
    "Crime": "a detective chases a forger through the city",
    "Documentary": "filmmakers follow whales across an ocean",
    "Drama": "a family reunites after years apart",
    "Fantasy": "a young witch inherits a talking castle",
    "Horror": "something wakes beneath an old farmhouse",
    "Mystery": "a librarian decodes a missing author's notes",
    "Romance": "two strangers meet on a night train",
    "Sci-Fi": "a crew wakes early on a generation ship",
    "Thriller": "a journalist uncovers a conspiracy",
    "Western": "a sheriff defends a town from outlaws",
}

INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "version": "1.0",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ],
}
ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "version": "1.0",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TITLE", "type": "string"},
        {"name": "GENRES", "type": "string", "categorical": True},
        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
        {"name": "YEAR", "type": "int"},
    ],
}


@dataclass(frozen=True)
class DemoData:
    interactions_csv: Path
    items_csv: Path
    interactions_schema: str
    items_schema: str
    n_users: int
    n_items: int
    n_interactions: int


def generate(folder: Path, n_items: int = 1500, n_users: int = 600, seed: int = 42) -> DemoData:
    """Write interactions.csv and items.csv into ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    genre_count = len(GENRES)
    main_genre = rng.integers(0, genre_count, n_items)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.7
    rng.shuffle(popularity)
    items_csv = folder / "items.csv"
    item_genres: list[set[int]] = []
    titles = [f"The {a} {n}{e}" for e in ENDINGS for a in ADJECTIVES for n in NOUNS]
    if n_items > len(titles):
        raise ValueError(f"the generated catalog has at most {len(titles)} distinct titles")
    title_order = rng.permutation(len(titles))[:n_items]
    with items_csv.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ITEM_ID", "TITLE", "GENRES", "DESCRIPTION", "YEAR"])
        for i in range(n_items):
            extra = rng.choice(genre_count, size=rng.integers(0, 3), replace=False)
            genres = [int(main_genre[i])] + [int(g) for g in extra if g != main_genre[i]]
            item_genres.append(set(genres))
            title = titles[int(title_order[i])]
            setting = SETTINGS[int(rng.integers(len(SETTINGS)))]
            description = (
                f"In this {GENRES[genres[0]].lower()} film set {setting}, {PLOTS[GENRES[genres[0]]]}."
            )
            writer.writerow(
                [
                    str(i + 1),
                    title,
                    "|".join(GENRES[g] for g in genres),
                    description,
                    int(rng.integers(1970, 2025)),
                ]
            )
    interactions_csv = folder / "interactions.csv"
    rows = 0
    start = 1_700_000_000
    with interactions_csv.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])
        for u in range(n_users):
            favourites = set(rng.choice(genre_count, size=2, replace=False).tolist())
            affinity = np.array([3.0 if g & favourites else 0.15 for g in item_genres])
            p = popularity * affinity
            p /= p.sum()
            count = int(rng.integers(40, 120))
            chosen = rng.choice(n_items, size=count, replace=False, p=p)
            times = np.sort(start + rng.integers(0, 90 * 86_400, count))
            for item, ts in zip(chosen.tolist(), times.tolist(), strict=True):
                writer.writerow([f"user-{u + 1}", str(item + 1), ts, "watch"])
                rows += 1
    return DemoData(
        interactions_csv,
        items_csv,
        json.dumps(INTERACTIONS_SCHEMA),
        json.dumps(ITEMS_SCHEMA),
        n_users,
        n_items,
        rows,
    )


def from_movielens(source: Path, folder: Path) -> DemoData:
    """Convert a MovieLens folder (ratings.csv, movies.csv) into the demo's CSV shapes."""
    folder.mkdir(parents=True, exist_ok=True)
    interactions_csv, items_csv = folder / "interactions.csv", folder / "items.csv"
    users: set[str] = set()
    rows = 0
    with (source / "ratings.csv").open(newline="") as src, interactions_csv.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])
        for row in csv.DictReader(src):
            writer.writerow([row["userId"], row["movieId"], row["timestamp"], "watch"])
            users.add(row["userId"])
            rows += 1
    n_items = 0
    with (source / "movies.csv").open(newline="") as src, items_csv.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["ITEM_ID", "TITLE", "GENRES", "DESCRIPTION", "YEAR"])
        for row in csv.DictReader(src):
            title = row["title"].strip()
            year = title[-5:-1] if title.endswith(")") and title[-5:-1].isdigit() else "0"
            genres = "" if row["genres"] == "(no genres listed)" else row["genres"]
            writer.writerow([row["movieId"], title, genres or "Unknown", title, year])
            n_items += 1
    return DemoData(
        interactions_csv,
        items_csv,
        json.dumps(INTERACTIONS_SCHEMA),
        json.dumps(ITEMS_SCHEMA),
        len(users),
        n_items,
        rows,
    )
