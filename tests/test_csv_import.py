"""Bulk CSV import into Parquet: pertinent.datasets.csv_import."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pertinent.datasets import csv_import
from pertinent.datasets.avro_schema import DatasetSchema, Field, parse_schema
from pertinent.datasets.csv_import import ImportResult, import_csv, value_problem
from pertinent.errors import ImportFailure
from tests.conftest import needs_movielens

Source = tuple[str, Callable[[], BinaryIO]]


def schema(*fields: dict[str, Any]) -> DatasetSchema:
    return parse_schema(json.dumps({"type": "record", "name": "S", "fields": list(fields)}))


INTERACTIONS = schema(
    {"name": "USER_ID", "type": "string"},
    {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"},
    {"name": "EVENT_TYPE", "type": "string"},
    {"name": "EVENT_VALUE", "type": ["null", "float"]},
)
ITEMS = schema(
    {"name": "ITEM_ID", "type": "string"},
    {"name": "GENRES", "type": ["null", "string"], "categorical": True},
    {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
    {"name": "TITLE", "type": ["null", "string"]},
    {"name": "YEAR", "type": ["null", "int"]},
    {"name": "PRICE", "type": ["null", "double"]},
    {"name": "ADULT", "type": ["null", "boolean"]},
)
HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
GOOD_ROWS = "u1,i1,1700000000,click,\nu2,i2,1700000001,rating,4.5\n"


def memory(name: str, data: bytes | str) -> Source:
    """A source whose opener returns the bytes of ``data``."""
    raw = data.encode() if isinstance(data, str) else data
    return name, lambda: io.BytesIO(raw)


def on_disk(path: Path, data: bytes | str) -> Source:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path.name, lambda: path.open("rb")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reason(
    sources: list[Source], dest: Path, data_schema: DatasetSchema = INTERACTIONS, mode: str = "FULL"
) -> str:
    """The failure reason of an import that must fail; ``dest`` must come through untouched."""
    before = digest(dest) if dest.exists() else None
    dataset_type = "ITEMS" if data_schema is ITEMS else "INTERACTIONS"
    with pytest.raises(ImportFailure) as info:
        import_csv(sources, data_schema, dataset_type, dest, mode=mode)
    assert (digest(dest) if dest.exists() else None) == before
    assert [p.name for p in dest.parent.iterdir() if p.name != dest.name] == []  # no temp file left behind
    return str(info.value)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "datasets" / "d1" / "bulk.parquet"


@pytest.fixture
def existing(dest: Path) -> Path:
    """``dest`` already holding two interactions from an earlier job."""
    import_csv([memory("earlier.csv", HEADER + GOOD_ROWS)], INTERACTIONS, "INTERACTIONS", dest)
    return dest


# -- the happy path ------------------------------------------------------------------------------------------


def test_imports_typed_rows_from_a_crlf_file_with_columns_in_any_order(tmp_path: Path, dest: Path) -> None:
    source = on_disk(
        tmp_path / "events.csv",
        "EVENT_TYPE,TIMESTAMP,ITEM_ID,USER_ID,EVENT_VALUE\r\n"
        "click,1700000000,i1,u1,\r\n"
        "rating,1700000001,i2,u2,4.5\r\n"
        "\r\n"
        "rating,-5,i3,u3,-0.25\r\n",
    )
    result = import_csv([source], INTERACTIONS, "Interactions", dest)
    assert result == ImportResult(rows_imported=3, rows_total=3, path=dest)
    table = pq.read_table(dest)
    assert table.schema == INTERACTIONS.arrow_schema()
    assert table.to_pylist() == [
        {
            "USER_ID": "u1",
            "ITEM_ID": "i1",
            "TIMESTAMP": 1700000000,
            "EVENT_TYPE": "click",
            "EVENT_VALUE": None,
        },
        {
            "USER_ID": "u2",
            "ITEM_ID": "i2",
            "TIMESTAMP": 1700000001,
            "EVENT_TYPE": "rating",
            "EVENT_VALUE": 4.5,
        },
        {"USER_ID": "u3", "ITEM_ID": "i3", "TIMESTAMP": -5, "EVENT_TYPE": "rating", "EVENT_VALUE": -0.25},
    ]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["bulk.parquet"]


def test_quoted_values_with_commas_quotes_and_newlines(dest: Path) -> None:
    data = (
        "ITEM_ID,GENRES,DESCRIPTION,TITLE,YEAR,PRICE,ADULT\n"
        '11,Comedy|Drama,"A president, a lobbyist",'
        '"American President, The (1995)",1995,9.99,false\n'
        '12,,"He said ""hi""\nand left",,,,\n'
        "13,Horror,plain,Ring,-5,1e3,true\n"
    )
    result = import_csv([memory("items.csv", data)], ITEMS, "Items", dest)
    assert (result.rows_imported, result.rows_total) == (3, 3)
    assert pq.read_table(dest).to_pylist() == [
        {"ITEM_ID": "11", "GENRES": "Comedy|Drama", "DESCRIPTION": "A president, a lobbyist",
         "TITLE": "American President, The (1995)", "YEAR": 1995, "PRICE": 9.99, "ADULT": False},
        {"ITEM_ID": "12", "GENRES": None, "DESCRIPTION": 'He said "hi"\nand left',
         "TITLE": None, "YEAR": None, "PRICE": None, "ADULT": None},
        {"ITEM_ID": "13", "GENRES": "Horror", "DESCRIPTION": "plain",
         "TITLE": "Ring", "YEAR": -5, "PRICE": 1000.0, "ADULT": True},
    ]  # fmt: skip


def test_line_numbers_count_physical_lines_after_a_multiline_value(dest: Path) -> None:
    data = 'ITEM_ID,DESCRIPTION,YEAR\n1,"two\nlines",2000\n2,x,2001\n3,y,twenty\n'
    assert (
        reason([memory("items.csv", data)], dest, ITEMS)
        == 'items.csv line 5: YEAR value "twenty" is not an int.'
    )


def test_absent_nullable_columns_are_null_and_header_names_ignore_case_and_bom(dest: Path) -> None:
    data = "\ufeffuser_id,Item_Id,timestamp,event_type\n" + "u1,i1,1,click\n"
    import_csv([memory("lower.csv", data)], INTERACTIONS, "INTERACTIONS", dest)
    table = pq.read_table(dest)
    assert table.column_names == list(INTERACTIONS.names)
    assert table.to_pylist() == [
        {"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": 1, "EVENT_TYPE": "click", "EVENT_VALUE": None}
    ]


def test_a_pandas_to_csv_file_with_its_index_column_imports(tmp_path: Path, dest: Path) -> None:
    """``DataFrame.to_csv(path)`` writes an unnamed index column first; it is ignored, not an error."""
    import pandas as pd

    frame = pd.DataFrame(
        {"USER_ID": ["u1", "u2"], "ITEM_ID": ["i1", "i2"], "TIMESTAMP": [1, 2], "EVENT_TYPE": ["click"] * 2}
    )
    path = tmp_path / "frame.csv"
    frame.to_csv(path)
    assert path.read_text().startswith(",USER_ID,")
    import_csv([on_disk(tmp_path / "copy.csv", path.read_bytes())], INTERACTIONS, "INTERACTIONS", dest)
    assert pq.read_table(dest).to_pylist() == [
        {"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": 1, "EVENT_TYPE": "click", "EVENT_VALUE": None},
        {"USER_ID": "u2", "ITEM_ID": "i2", "TIMESTAMP": 2, "EVENT_TYPE": "click", "EVENT_VALUE": None},
    ]
    # read back and written again, the index becomes "Unnamed: 0": ignored as well
    pd.read_csv(path).to_csv(path)
    import_csv([on_disk(tmp_path / "again.csv", path.read_bytes())], INTERACTIONS, "INTERACTIONS", dest)
    assert pq.read_table(dest).num_rows == 2


def test_columns_that_are_not_in_the_schema_are_ignored(dest: Path) -> None:
    data = (
        " rating ,USER_ID,title,ITEM_ID,TIMESTAMP,EVENT_TYPE,,genres\n"
        '4.5,u1,"Heat, 1995",i1,7,click,x,Action|Crime\n'
        "not a number,u2,,i2,8,watch,,\n"
    )
    import_csv([memory("extra.csv", data)], INTERACTIONS, "INTERACTIONS", dest)
    table = pq.read_table(dest)
    assert table.column_names == list(INTERACTIONS.names)
    assert table.to_pylist() == [
        {"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": 7, "EVENT_TYPE": "click", "EVENT_VALUE": None},
        {"USER_ID": "u2", "ITEM_ID": "i2", "TIMESTAMP": 8, "EVENT_TYPE": "watch", "EVENT_VALUE": None},
    ]


def test_a_bad_value_next_to_ignored_columns_names_its_line(existing: Path) -> None:
    data = "idx,USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n0,u1,i1,1,click\n1,u2,i2,soon,click\n"
    assert reason([memory("r.csv", data)], existing) == (
        'r.csv line 3: TIMESTAMP value "soon" is not a long (Unix epoch seconds).'
    )


def test_limits_are_counted_in_characters_not_bytes(dest: Path) -> None:
    item = "é" * 256  # 512 bytes, 256 characters: allowed
    genres = "ü" * 1000
    import_csv([memory("items.csv", f"ITEM_ID,GENRES\n{item},{genres}\n")], ITEMS, "ITEMS", dest)
    assert pq.read_table(dest).column("ITEM_ID").to_pylist() == [item]


def test_several_files_make_one_import(dest: Path) -> None:
    sources = [memory("a.csv", HEADER + GOOD_ROWS), memory("b.csv", HEADER + "u3,i3,3,click,1\n")]
    result = import_csv(sources, INTERACTIONS, "INTERACTIONS", dest)
    assert (result.rows_imported, result.rows_total) == (3, 3)
    assert pq.read_table(dest).column("USER_ID").to_pylist() == ["u1", "u2", "u3"]


def test_full_replaces_and_incremental_appends_interactions(existing: Path) -> None:
    more = memory("more.csv", HEADER + "u9,i9,9,click,\n")
    result = import_csv([more], INTERACTIONS, "INTERACTIONS", existing, mode="INCREMENTAL")
    assert (result.rows_imported, result.rows_total) == (1, 3)
    assert pq.read_table(existing).column("USER_ID").to_pylist() == ["u1", "u2", "u9"]

    result = import_csv([more], INTERACTIONS, "INTERACTIONS", existing, mode="FULL")
    assert (result.rows_imported, result.rows_total) == (1, 1)
    assert pq.read_table(existing).column("USER_ID").to_pylist() == ["u9"]


def test_incremental_items_replace_rows_with_the_same_id(dest: Path) -> None:
    header = "ITEM_ID,GENRES,YEAR\n"
    import_csv([memory("v1.csv", header + "1,A,2001\n2,B,2002\n3,C,2003\n")], ITEMS, "ITEMS", dest)
    update = header + "2,B2,2012\n4,D,2004\n4,D2,2014\n"
    result = import_csv([memory("v2.csv", update)], ITEMS, "ITEMS", dest, mode="INCREMENTAL")
    assert (result.rows_imported, result.rows_total) == (3, 4)
    rows = pq.read_table(dest, columns=["ITEM_ID", "GENRES", "YEAR"]).to_pylist()
    assert rows == [
        {"ITEM_ID": "1", "GENRES": "A", "YEAR": 2001},
        {"ITEM_ID": "3", "GENRES": "C", "YEAR": 2003},
        {"ITEM_ID": "2", "GENRES": "B2", "YEAR": 2012},
        {"ITEM_ID": "4", "GENRES": "D2", "YEAR": 2014},
    ]


def test_a_repeated_id_keeps_its_last_row_in_a_full_import(dest: Path) -> None:
    data = "ITEM_ID,YEAR\n1,2001\n2,2002\n1,2011\n"
    result = import_csv([memory("items.csv", data)], ITEMS, "ITEMS", dest)
    assert (result.rows_imported, result.rows_total) == (3, 2)
    assert pq.read_table(dest, columns=["ITEM_ID", "YEAR"]).to_pylist() == [
        {"ITEM_ID": "2", "YEAR": 2002},
        {"ITEM_ID": "1", "YEAR": 2011},
    ]


def test_incremental_into_an_empty_dataset_is_a_full_import(dest: Path) -> None:
    result = import_csv(
        [memory("a.csv", HEADER + GOOD_ROWS)], INTERACTIONS, "INTERACTIONS", dest, "INCREMENTAL"
    )
    assert (result.rows_imported, result.rows_total) == (2, 2)


def test_incremental_after_a_schema_change_fills_new_nullable_columns(dest: Path) -> None:
    old = schema(
        {"name": "ITEM_ID", "type": "string"}, {"name": "GENRES", "type": "string", "categorical": True}
    )
    import_csv([memory("v1.csv", "ITEM_ID,GENRES\n1,A\n2,B\n")], old, "ITEMS", dest)
    import_csv([memory("v2.csv", "ITEM_ID,YEAR\n2,2002\n")], ITEMS, "ITEMS", dest, mode="INCREMENTAL")
    table = pq.read_table(dest)
    assert table.schema == ITEMS.arrow_schema()
    assert table.select(["ITEM_ID", "GENRES", "YEAR"]).to_pylist() == [
        {"ITEM_ID": "1", "GENRES": "A", "YEAR": None},
        {"ITEM_ID": "2", "GENRES": None, "YEAR": 2002},
    ]


def test_incremental_fails_when_existing_data_lacks_a_required_column(existing: Path) -> None:
    strings = [{"name": n, "type": "string"} for n in ("USER_ID", "ITEM_ID", "EVENT_TYPE", "DEVICE")]
    stricter = schema(*strings, {"name": "TIMESTAMP", "type": "long"})
    data = "USER_ID,ITEM_ID,EVENT_TYPE,DEVICE,TIMESTAMP\nu,i,click,phone,1\n"
    assert reason([memory("a.csv", data)], existing, stricter, mode="INCREMENTAL") == (
        "The dataset's existing data has no DEVICE column, which the schema requires; use a FULL import."
    )


def test_progress_reports_rows_read_across_batches(monkeypatch: pytest.MonkeyPatch, dest: Path) -> None:
    monkeypatch.setattr(csv_import, "BLOCK_SIZE", 1 << 16)
    monkeypatch.setattr(csv_import, "_PROGRESS_INTERVAL_S", 0.0)
    rows = "".join(f"u{i},i{i % 97},{1_600_000_000 + i},click,{i % 5}\n" for i in range(20_000))
    seen: list[int] = []
    result = import_csv(
        [memory("big.csv", HEADER + rows)], INTERACTIONS, "INTERACTIONS", dest, progress=seen.append
    )
    assert result.rows_total == 20_000
    assert len(seen) > 5 and seen == sorted(seen) and seen[-1] == 20_000
    assert pq.read_table(dest).column("TIMESTAMP").to_pylist()[-1] == 1_600_019_999


def test_progress_is_throttled(dest: Path) -> None:
    seen: list[int] = []
    import_csv(
        [memory("a.csv", HEADER + GOOD_ROWS * 500)], INTERACTIONS, "INTERACTIONS", dest, progress=seen.append
    )
    assert seen == [1000]  # a fast job reports once, when it is done


def test_error_far_into_a_file_names_its_line(monkeypatch: pytest.MonkeyPatch, existing: Path) -> None:
    monkeypatch.setattr(csv_import, "BLOCK_SIZE", 1 << 16)
    rows = [f"u{i},i{i},{1_600_000_000 + i},click,\n" for i in range(20_000)]
    rows[14_999] = "u,i,16e8,click,\n"  # line 15001: the header is line 1
    assert reason([memory("big.csv", HEADER + "".join(rows))], existing) == (
        'big.csv line 15001: TIMESTAMP value "16e8" is not a long (Unix epoch seconds).'
    )


def test_a_row_longer_than_a_block_fails(monkeypatch: pytest.MonkeyPatch, dest: Path) -> None:
    monkeypatch.setattr(csv_import, "BLOCK_SIZE", 1 << 16)
    data = "ITEM_ID,TITLE\n1,short\n2," + "x" * 140_000 + "\n3,z\n"  # more than two blocks
    assert reason([memory("items.csv", data)], dest, ITEMS) == (
        "items.csv line 3: the row is longer than 64 KiB, the longest that can be imported."
    )


# -- failures: each names the file, the line and the field ---------------------------------------------------

FAILURES = [
    pytest.param(
        b"",
        "r.csv is empty; expected a header row naming the schema fields "
        "(USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE).",
        id="empty file",
    ),
    pytest.param(HEADER, "r.csv contains no data rows (only a header).", id="header only"),
    pytest.param(
        "\n" + GOOD_ROWS,
        "r.csv line 1: the header row is empty; expected the schema fields "
        "(USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE).",
        id="blank header",
    ),
    pytest.param(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n",
        "r.csv line 1: the header has no column for required fields USER_ID, ITEM_ID, EVENT_TYPE "
        "(found userId, movieId, rating, timestamp; ignored, not fields of the schema: userId, movieId, "
        "rating).",
        id="wrong header",
    ),
    pytest.param(
        "USER_ID,ITEM_ID,EVENT_TYPE\nu,i,click\n",
        "r.csv line 1: the header has no column for required field TIMESTAMP "
        "(found USER_ID, ITEM_ID, EVENT_TYPE).",
        id="missing required column",
    ),
    pytest.param(
        "USER_ID,ITEM_ID\nu,i\n",
        "r.csv line 1: the header has no column for required fields TIMESTAMP, EVENT_TYPE "
        "(found USER_ID, ITEM_ID).",
        id="missing required columns",
    ),
    pytest.param(
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,user_id\nu,i,1,click,u\n",
        'r.csv line 1: column "user_id" appears more than once in the header.',
        id="repeated column",
    ),
    pytest.param(
        b"USER_ID,ITEM_\xe9ID\n",
        "r.csv line 1: the header is not valid UTF-8 (byte 0xe9 at position 14 of the line).",
        id="header not UTF-8",
    ),
    pytest.param(
        HEADER + GOOD_ROWS + "u3,i3,abc,click,\n",
        'r.csv line 4: TIMESTAMP value "abc" is not a long (Unix epoch seconds).',
        id="long: letters",
    ),
    pytest.param(
        HEADER + "u3,i3,1.7e9,click,\n",
        'r.csv line 2: TIMESTAMP value "1.7e9" is not a long (Unix epoch seconds).',
        id="long: float",
    ),
    pytest.param(
        HEADER + "u3,i3, 17,click,\n",
        'r.csv line 2: TIMESTAMP value " 17" is not a long (Unix epoch seconds).',
        id="long: space",
    ),
    pytest.param(
        HEADER + "u3,i3,0x1F,click,\n",
        'r.csv line 2: TIMESTAMP value "0x1F" is not a long (Unix epoch seconds).',
        id="long: hex",
    ),
    pytest.param(
        HEADER + "u3,i3,9223372036854775808,click,\n",
        'r.csv line 2: TIMESTAMP value "9223372036854775808" is out of range for a long '
        "(-9223372036854775808 to 9223372036854775807).",
        id="long: overflow",
    ),
    pytest.param(
        HEADER + GOOD_ROWS + "u3,i3,3,click,high\n",
        'r.csv line 4: EVENT_VALUE value "high" is not a float.',
        id="float: word",
    ),
    pytest.param(
        HEADER + "u3,i3,3,click,NaN\n",
        'r.csv line 2: EVENT_VALUE value "NaN" is not a float.',
        id="float: NaN",
    ),
    pytest.param(
        HEADER + "u3,i3,3,click,1e39\n",
        'r.csv line 2: EVENT_VALUE value "1e39" is out of range for a float.',
        id="float: overflow",
    ),
    pytest.param(
        HEADER + GOOD_ROWS + ",i3,3,click,\n",
        "r.csv line 4: USER_ID is empty, but the field is required (not nullable).",
        id="empty USER_ID",
    ),
    pytest.param(
        HEADER + 'u3,i3,3,"",\n',
        "r.csv line 2: EVENT_TYPE is empty, but the field is required (not nullable).",
        id="quoted empty",
    ),
    pytest.param(
        HEADER + GOOD_ROWS + "u3,i3,3,click\n",
        "r.csv line 4: the row has 4 fields, but the header has 5 columns.",
        id="too few fields",
    ),
    pytest.param(
        HEADER + "u3,i3,3,click,1,extra\n",
        "r.csv line 2: the row has 6 fields, but the header has 5 columns.",
        id="too many fields",
    ),
    pytest.param(
        HEADER.encode() + b"u1,i1,1,click,\nu2,i2,2,click,\nu\xff,i3,3,click,\n",
        "r.csv line 4: the text is not valid UTF-8 (byte 0xff at position 2 of the line).",
        id="not UTF-8",
    ),
    pytest.param(
        HEADER + "u1,i1,1,click,\n" + "u2," + "i" * 257 + ",2,click,\n",
        "r.csv line 3: ITEM_ID value is 257 characters long; IDs may be at most 256.",
        id="long ID",
    ),
    pytest.param(
        HEADER + 'u1,"i1,1,click,\n',
        "r.csv line 2: the row has 2 fields, but the header has 5 columns.",
        id="unclosed quote",
    ),
]


@pytest.mark.parametrize(("data", "expected"), FAILURES)
def test_bad_interactions_fail_with_a_specific_reason(
    existing: Path, data: bytes | str, expected: str
) -> None:
    assert reason([memory("r.csv", data)], existing) == expected


ITEM_FAILURES = [
    pytest.param(
        "ITEM_ID,YEAR\n1,1995.0\n", 'items.csv line 2: YEAR value "1995.0" is not an int.', id="int"
    ),
    pytest.param(
        "ITEM_ID,YEAR\n1,2147483648\n",
        'items.csv line 2: YEAR value "2147483648" is out of range for an int (-2147483648 to 2147483647).',
        id="int overflow",
    ),
    pytest.param("ITEM_ID,PRICE\n1,$5\n", 'items.csv line 2: PRICE value "$5" is not a double.', id="double"),
    pytest.param(
        "ITEM_ID,ADULT\n1,true\n2,TRUE\n",
        'items.csv line 3: ADULT value "TRUE" is not a boolean (write true or false).',
        id="boolean case",
    ),
    pytest.param(
        "ITEM_ID,ADULT\n1,1\n",
        'items.csv line 2: ADULT value "1" is not a boolean (write true or false).',
        id="boolean digit",
    ),
    pytest.param(
        "ITEM_ID,GENRES\n1,A\n2," + "g" * 1001 + "\n",
        "items.csv line 3: GENRES value is 1001 characters long; categorical values may be at most 1000.",
        id="categorical too long",
    ),
    pytest.param(
        "ITEM_ID,DESCRIPTION\n1," + "d" * 20001 + "\n",
        "items.csv line 2: DESCRIPTION value is 20001 characters long; textual values may be at most 20000.",
        id="textual too long",
    ),
    pytest.param(
        "ITEM_ID,YEAR\n,1999\n",
        "items.csv line 2: ITEM_ID is empty, but the field is required (not nullable).",
        id="empty ID",
    ),
]


@pytest.mark.parametrize(("data", "expected"), ITEM_FAILURES)
def test_bad_items_fail_with_a_specific_reason(dest: Path, data: str, expected: str) -> None:
    import_csv([memory("items.csv", "ITEM_ID,YEAR\n1,2000\n")], ITEMS, "ITEMS", dest)
    assert reason([memory("items.csv", data)], dest, ITEMS) == expected


def test_the_failing_file_of_several_is_named(existing: Path) -> None:
    sources = [memory("a.csv", HEADER + GOOD_ROWS), memory("b.csv", HEADER + "u3,i3,soon,click,\n")]
    assert (
        reason(sources, existing)
        == 'b.csv line 2: TIMESTAMP value "soon" is not a long (Unix epoch seconds).'
    )


def test_a_file_that_cannot_be_opened(existing: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    message = reason([("missing.csv", lambda: missing.open("rb"))], existing)
    assert message.startswith("missing.csv could not be opened: [Errno 2] No such file or directory")


def test_no_sources_is_a_failure(existing: Path) -> None:
    assert reason([], existing) == "The data location holds no CSV files to import."


def test_ten_megabytes_of_random_bytes_fail_fast(existing: Path, tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(10 << 20)
    start = time.thread_time()  # CPU time: a loaded machine's preemption does not count
    message = reason([on_disk(tmp_path / "noise.bin", noise)], existing)
    assert time.thread_time() - start < 5
    assert message.startswith("noise.bin line 1: ")


def test_random_bytes_after_a_valid_header_fail_at_line_2(existing: Path) -> None:
    noise = random.Random(8).randbytes(10 << 20)
    start = time.thread_time()
    message = reason([memory("r.csv", HEADER.encode() + noise)], existing)
    assert time.thread_time() - start < 10
    assert message.startswith("r.csv line 2: ")


def test_ten_megabytes_without_a_newline_fail_fast(existing: Path) -> None:
    start = time.thread_time()
    message = reason([memory("r.csv", HEADER + "a" * (10 << 20))], existing)
    assert time.thread_time() - start < 10
    assert message == "r.csv line 2: the row is longer than 8 MiB, the longest that can be imported."


def test_a_binary_file_without_newlines_fails_at_the_header(existing: Path) -> None:
    assert reason([memory("r.bin", b"\x01" * (2 << 20))], existing) == (
        "r.bin line 1: no header row in the first MiB; is this a CSV file?"
    )


# -- properties ----------------------------------------------------------------------------------------------


@given(st.binary(max_size=3000), st.booleans())
@settings(max_examples=150, deadline=None)
def test_arbitrary_bytes_import_or_fail_with_import_failure(noise: bytes, with_header: bool) -> None:
    data = HEADER.encode() + noise if with_header else noise
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "bulk.parquet"
        try:
            result = import_csv([memory("r.csv", data)], INTERACTIONS, "INTERACTIONS", dest)
        except ImportFailure as exc:
            assert str(exc).startswith("r.csv")
            assert not dest.exists()
        else:  # the bytes happened to be a valid CSV: pyarrow and the csv module agree on its rows
            text = data.decode("utf-8").removeprefix("\ufeff")
            assert result.rows_total == sum(1 for row in csv.reader(io.StringIO(text, newline="")) if row) - 1


SCALARS = {
    "int": st.text("0123456789-+. xXeE", max_size=12),
    "long": st.text("0123456789-+. xXeEaf", max_size=22),
    "float": st.text("0123456789-+.eEnaifINF ", max_size=12),
    "double": st.text("0123456789-+.eEnaifINF x", max_size=14),
    "boolean": st.text("truefalsTRUEF 01", max_size=6),
}


@pytest.mark.parametrize("type_", list(SCALARS))
def test_the_fast_and_slow_paths_agree_on_every_value(type_: str) -> None:
    """A value imports iff :func:`value_problem` accepts it, and a refusal quotes value_problem's reason."""
    field = Field("X", type_, nullable=True)
    data_schema = DatasetSchema((*INTERACTIONS.fields[:4], field))

    @given(
        SCALARS[type_]
        | st.sampled_from(["-2147483649", "2147483647", "1e38", "3.5e38", "1e308", "2e308", "007"])
    )
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def check(value: str) -> None:
        data = f"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,X\nu,i,1,click,{value}\n"
        problem = value_problem(value.strip("\n"), field)
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "bulk.parquet"
            try:
                import_csv([memory("v.csv", data)], data_schema, "INTERACTIONS", dest)
            except ImportFailure as exc:
                assert str(exc) == f"v.csv line 2: {problem}"
                return
            assert problem is None
            stored = pq.read_table(dest).column("X")[0].as_py()
            if value == "":
                assert stored is None
            elif type_ in ("int", "long"):
                assert stored == int(value)
            elif type_ == "boolean":
                assert stored == (value == "true")
            elif type_ == "float":  # a 32-bit column: the stored value is the float32 rounding
                assert stored == float(np.float32(float(value)))
            else:
                assert math.isclose(stored, float(value), rel_tol=1e-6)

    check()


# -- the real MovieLens files --------------------------------------------------------------------------------

@pytest.fixture
def ratings_csv(tmp_path: Path, movielens: Path) -> Path:
    """ratings.csv with Personalize column names; the CRLF rows are kept byte for byte."""
    raw = (movielens / "ratings.csv").read_bytes()
    path = tmp_path / "ratings.csv"
    path.write_bytes(b"USER_ID,ITEM_ID,EVENT_VALUE,TIMESTAMP" + raw[raw.index(b"\r\n") :])
    return path


@pytest.mark.slow
@needs_movielens
def test_imports_movielens_ratings(ratings_csv: Path, dest: Path) -> None:
    ratings_schema = schema(
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
    )
    result = import_csv(
        [(ratings_csv.name, lambda: ratings_csv.open("rb"))], ratings_schema, "Interactions", dest
    )
    assert result == ImportResult(rows_imported=100_836, rows_total=100_836, path=dest)
    table = pq.read_table(dest)
    assert table.slice(0, 1).to_pylist() == [
        {"USER_ID": "1", "ITEM_ID": "1", "TIMESTAMP": 964982703, "EVENT_VALUE": 4.0}
    ]
    assert pc.count_distinct(table["USER_ID"]).as_py() == 610
    assert pc.count_distinct(table["ITEM_ID"]).as_py() == 9724
    assert pc.sum(pc.equal(table["EVENT_VALUE"], pa.scalar(4.0, pa.float32()))).as_py() == 26_818
    first, last = pc.min_max(table["TIMESTAMP"]).values()
    assert datetime.fromtimestamp(first.as_py(), UTC) == datetime(1996, 3, 29, 18, 36, 55, tzinfo=UTC)
    assert datetime.fromtimestamp(last.as_py(), UTC) == datetime(2018, 9, 24, 14, 27, 30, tzinfo=UTC)


@pytest.mark.slow
@needs_movielens
def test_imports_movielens_movies_with_quoted_titles(tmp_path: Path, dest: Path, movielens: Path) -> None:
    raw = (movielens / "movies.csv").read_bytes()
    movies = tmp_path / "movies.csv"
    movies.write_bytes(b"ITEM_ID,TITLE,GENRES" + raw[raw.index(b"\r\n") :])
    movie_schema = schema(
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TITLE", "type": ["null", "string"], "textual": True},
        {"name": "GENRES", "type": ["null", "string"], "categorical": True},
    )
    result = import_csv([(movies.name, lambda: movies.open("rb"))], movie_schema, "Items", dest)
    assert (result.rows_imported, result.rows_total) == (9742, 9742)
    table = pq.read_table(dest)
    row = table.filter(pc.equal(table["ITEM_ID"], "11")).to_pylist()
    assert row == [
        {"ITEM_ID": "11", "TITLE": "American President, The (1995)", "GENRES": "Comedy|Drama|Romance"}
    ]
