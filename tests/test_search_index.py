"""The tantivy item index on disk: schema, bulk import, PutItems upserts, reopening."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import tantivy

from pertinent.search.index import ITEM_ID, IndexField, ItemIndex, ItemIndexError, raw_field_name

MOVIE_FIELDS = (
    IndexField("TITLE", "text"),
    IndexField("GENRES", "categorical"),
    IndexField("YEAR", "numeric", integer=True),
    IndexField("RATING", "numeric"),
)

_WORDS = (
    "space robot love war night city dream river king queen ghost island secret summer winter dark "
    "last first lost golden silent wild little big star return story"
).split()
_GENRES = ("Action", "Adventure", "Animation", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller")


def movie_catalog(n: int = 300, seed: int = 7) -> pa.Table:
    """A deterministic generated movie catalog: ids ``m0…``, 1–4 word titles, 1–3 genres, year, rating."""
    rng = random.Random(seed)
    rows: dict[str, list[Any]] = {"ITEM_ID": [], "TITLE": [], "GENRES": [], "YEAR": [], "RATING": []}
    for number in range(n):
        rows["ITEM_ID"].append(f"m{number}")
        rows["TITLE"].append(" ".join(rng.sample(_WORDS, rng.randint(1, 4))).title())
        rows["GENRES"].append("|".join(rng.sample(_GENRES, rng.randint(1, 3))))
        rows["YEAR"].append(rng.randint(1950, 2020))
        rows["RATING"].append(round(rng.uniform(1.0, 5.0), 1))
    return pa.table(rows)


def small_catalog() -> pa.Table:
    """Five hand-written movies whose orders the tests state exactly."""
    return pa.table(
        {
            "ITEM_ID": ["1", "2", "3", "4", "5"],
            "TITLE": ["Toy Story", "Jumanji", "Toy Story 2", "Running with Dogs", "The Space Robot"],
            "GENRES": [
                "Adventure|Animation|Comedy",
                "Adventure|Fantasy",
                "Animation|Comedy",
                "Drama",
                "Sci-Fi",
            ],
            "YEAR": [1995, 1995, 1999, 2004, None],
            "RATING": [4.5, 3.5, 4.0, 2.5, 3.0],
        }
    )


def build_index(path: Path, table: pa.Table | None = None) -> ItemIndex:
    index = ItemIndex.create(path, MOVIE_FIELDS)
    index.replace_all(small_catalog() if table is None else table)
    return index


def ids_for(index: ItemIndex, query: tantivy.Query, limit: int = 50) -> list[str]:
    searcher = index.searcher()
    return [searcher.doc(address)[ITEM_ID][0] for _, address in searcher.search(query, limit).hits]


def text_query(index: ItemIndex, field: str, text: str) -> tantivy.Query:
    return index._index.parse_query(text, [field])


def test_create_import_and_reopen(tmp_path: Path) -> None:
    index = build_index(tmp_path / "idx")
    assert index.num_docs == 5
    reopened = ItemIndex.open(tmp_path / "idx")
    assert reopened.fields == MOVIE_FIELDS
    assert reopened.num_docs == 5
    assert ids_for(reopened, text_query(reopened, "TITLE", "jumanji")) == ["2"]


def test_stored_source_keeps_values_as_given(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    searcher = index.searcher()
    (_, address), *_ = searcher.search(tantivy.Query.term_query(index.schema, ITEM_ID, "1"), 1).hits
    assert index.stored_source(searcher.doc(address)) == {
        "ITEM_ID": "1",
        "TITLE": "Toy Story",
        "GENRES": "Adventure|Animation|Comedy",
        "YEAR": 1995,
        "RATING": 4.5,
    }
    (_, address), *_ = searcher.search(tantivy.Query.term_query(index.schema, ITEM_ID, "5"), 1).hits
    assert "YEAR" not in index.stored_source(searcher.doc(address))  # a null leaves the field out


def test_text_is_lowercased_and_stemmed(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    assert ids_for(index, text_query(index, "TITLE", "RUNS")) == [
        "4"
    ]  # "Running" and "runs" both stem to "run"
    assert ids_for(index, text_query(index, "TITLE", "dog")) == ["4"]
    assert index.analyze("The Running Dogs, Comédies!") == [(0, "the"), (1, "run"), (2, "dog"), (3, "comedi")]


def test_categorical_is_exact_and_tokenized(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    raw = raw_field_name("GENRES")
    assert sorted(ids_for(index, tantivy.Query.term_query(index.schema, raw, "Comedy"))) == ["1", "3"]
    assert (
        ids_for(index, tantivy.Query.term_query(index.schema, raw, "comedy")) == []
    )  # exact, case-sensitive
    assert (
        ids_for(index, tantivy.Query.term_query(index.schema, raw, "Adventure|Fantasy")) == []
    )  # split on |
    assert sorted(ids_for(index, text_query(index, "GENRES", "comedy"))) == ["1", "3"]  # tokenized too
    assert ids_for(index, text_query(index, "GENRES", "sci")) == ["5"]


def test_categorical_list_values(tmp_path: Path) -> None:
    index = ItemIndex.create(tmp_path, MOVIE_FIELDS)
    index.upsert([{"ITEM_ID": "x", "TITLE": "Lists", "GENRES": ["Drama", None, "War"]}])
    raw = raw_field_name("GENRES")
    assert ids_for(index, tantivy.Query.term_query(index.schema, raw, "War")) == ["x"]
    searcher = index.searcher()
    (_, address), *_ = searcher.search(tantivy.Query.all_query(), 1).hits
    assert index.stored_source(searcher.doc(address))["GENRES"] == "Drama|War"


def test_upsert_is_visible_to_the_next_query(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    assert index.upsert([{"ITEM_ID": "2", "TITLE": "Jumanji Welcome to the Jungle", "YEAR": 2017}]) == 1
    assert index.num_docs == 5  # replaced, not duplicated
    assert ids_for(index, text_query(index, "TITLE", "jungle")) == ["2"]
    index.upsert([{"ITEM_ID": "6", "TITLE": "Jungle Book", "GENRES": "Adventure"}])
    assert index.num_docs == 6
    assert sorted(ids_for(index, text_query(index, "TITLE", "jungle"))) == ["2", "6"]
    # Another handle on the same folder (another process, say) sees the commit after reload().
    other = ItemIndex.open(tmp_path)
    assert other.num_docs == 6


def test_later_row_wins_within_one_upsert(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    index.upsert([{"ITEM_ID": "9", "TITLE": "First"}, {"ITEM_ID": "9", "TITLE": "Second"}])
    assert index.num_docs == 6
    assert ids_for(index, text_query(index, "TITLE", "second")) == ["9"]
    assert ids_for(index, text_query(index, "TITLE", "first")) == []


def test_failed_upsert_changes_nothing(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    with pytest.raises(ValueError, match="item 7: field YEAR must be a number"):
        index.upsert([{"ITEM_ID": "6", "TITLE": "Fine"}, {"ITEM_ID": "7", "YEAR": "soon"}])
    assert index.num_docs == 5
    assert ids_for(index, text_query(index, "TITLE", "fine")) == []
    with pytest.raises(ValueError, match="non-empty string ITEM_ID"):
        index.upsert([{"TITLE": "No id"}])
    assert index.upsert([]) == 0


def test_a_failed_write_releases_the_index_lock(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    index.lock_timeout_s = 1.0
    with pytest.raises(ValueError) as kept:  # the traceback (and its frames) stays alive in `kept`
        index.upsert([{"ITEM_ID": "7", "YEAR": "soon"}])
    assert kept.value is not None
    index.upsert([{"ITEM_ID": "8", "TITLE": "Still writable"}])  # would wait out the lock if it were held
    assert ids_for(index, text_query(index, "TITLE", "writable")) == ["8"]
    # A second handle (another process, say) can write between our writes.
    ItemIndex.open(tmp_path).upsert([{"ITEM_ID": "9", "TITLE": "Other writer"}])
    index.reload()
    assert index.num_docs == 7


def test_replace_all_replaces_the_whole_catalog(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    catalog = movie_catalog(50)
    assert index.replace_all(catalog) == 50
    assert ids_for(index, tantivy.Query.term_query(index.schema, ITEM_ID, "1")) == []
    # Repeated ITEM_IDs keep the last row; columns that are not fields are ignored.
    table = pa.table({"ITEM_ID": ["a", "b", "a"], "TITLE": ["old", "bee", "new"], "EXTRA": [1, 2, 3]})
    assert index.replace_all(table) == 2
    assert ids_for(index, text_query(index, "TITLE", "new")) == ["a"]
    assert ids_for(index, text_query(index, "TITLE", "old")) == []
    with pytest.raises(ValueError, match="no ITEM_ID column"):
        index.replace_all(pa.table({"TITLE": ["x"]}))


def test_add_table_and_delete(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    assert index.add_table(pa.table({"ITEM_ID": ["1", "8"], "TITLE": ["Toy Story Remastered", "Eight"]})) == 2
    assert index.num_docs == 6
    assert ids_for(index, text_query(index, "TITLE", "remastered")) == ["1"]
    index.delete(["1", "8", "unknown"])
    assert index.num_docs == 4


def test_numeric_fields_filter(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    years = tantivy.Query.range_query(index.schema, "YEAR", tantivy.FieldType.Integer, 1995, 1999)
    assert ids_for(index, years) == ["1", "2", "3"]
    rating = tantivy.Query.range_query(index.schema, "RATING", tantivy.FieldType.Float, 4.0, None)
    assert ids_for(index, rating) == ["1", "3"]


def test_folder_checks(tmp_path: Path) -> None:
    build_index(tmp_path / "a")
    with pytest.raises(ItemIndexError, match="not empty"):
        ItemIndex.create(tmp_path / "a", MOVIE_FIELDS)
    (tmp_path / "b").mkdir()
    with pytest.raises(ItemIndexError, match="holds no pertinent item index"):
        ItemIndex.open(tmp_path / "b")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "ITEM_ID", "kind": "text"}, "always indexed"),
        ({"name": "has space", "kind": "text"}, "must match"),
        ({"name": "A", "kind": "vector"}, "kind must be one of"),
        ({"name": "A", "kind": "text", "integer": True}, "numeric fields only"),
    ],
)
def test_field_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IndexField(**kwargs)


def test_duplicate_field_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="declared twice"):
        ItemIndex.create(tmp_path, [IndexField("A", "text"), IndexField("A", "numeric")])


def test_bulk_import_of_a_generated_catalog(tmp_path: Path) -> None:
    index = build_index(tmp_path, movie_catalog(300))
    assert index.num_docs == 300
    assert len(ids_for(index, text_query(index, "TITLE", "space"), 300)) > 10
