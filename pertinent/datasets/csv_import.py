"""Bulk import: CSV files into the one Parquet file that holds a dataset's bulk data.

The happy path streams: :func:`pyarrow.csv.open_csv` reads blocks of a few MB with every column as a string,
each batch is validated and typed with :mod:`pyarrow.compute`, and written by a
:class:`pyarrow.parquet.ParquetWriter` to a temporary file next to ``dest``, which finally replaces ``dest``
(``os.replace``). Nothing is held in memory as Python objects and ``dest`` changes only when the job succeeds.

When a batch is rejected, the slow path takes over: :func:`_diagnose` re-reads the file with the :mod:`csv`
module and applies the same rules value by value to find the first bad line, so the job's ``failureReason``
names the file, the line (the header is line 1) and the field. The two paths implement one set of rules:

* the header names the columns; they may come in any order and match field names ignoring case and
  surrounding spaces; a column that is not a field of the schema is ignored (so is a column with no name,
  such as the index that ``pandas.DataFrame.to_csv(path)`` writes first), a field may not be named twice and
  every non-nullable field needs a column (absent nullable fields are null);
* an empty value is null, which only nullable fields accept;
* ``int``/``long``: decimal digits with an optional ``-``, in range; ``float``/``double``: decimal notation
  (``1``, ``-2.5``, ``.5``, ``1e-3``), finite; ``boolean``: ``true`` or ``false``;
* IDs (USER_ID, ITEM_ID, ACTION_ID) ≤ 256 characters, categorical values ≤ 1000, textual values ≤ 20000;
* text is UTF-8; every row has as many fields as the header and is at most one read block (8 MiB) long.
"""

from __future__ import annotations

import csv
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from pertinent.datasets.avro_schema import ID_FIELD, DatasetSchema, Field, normalize_dataset_type
from pertinent.errors import ImportFailure

Opener = Callable[[], BinaryIO]

BLOCK_SIZE = 8 << 20  # bytes per CSV read block; also the longest row accepted
MAX_ID_LENGTH = 256
MAX_CATEGORICAL_LENGTH = 1000
MAX_TEXTUAL_LENGTH = 20000
ID_COLUMNS = frozenset({"USER_ID", "ITEM_ID", "ACTION_ID"})  # at most MAX_ID_LENGTH characters
IMPORT_MODES = ("FULL", "INCREMENTAL")

_MAX_HEADER_BYTES = 1 << 20
_READ_CHUNK = 1 << 16
_PROGRESS_INTERVAL_S = 0.25
_INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_FLOAT_MAX = {"float": 3.4028234663852886e38, "double": 1.7976931348623157e308}
_INT_PATTERN = re.compile(r"-?[0-9]+")
_FLOAT_PATTERN = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_TIMESTAMP_FIELDS = frozenset({"TIMESTAMP", "CREATION_TIMESTAMP", "EXPIRATION_TIMESTAMP"})


@dataclass(frozen=True)
class ImportResult:
    rows_imported: int  # rows in this job's input
    rows_total: int  # rows in the dataset's bulk data after the job
    path: Path  # the Parquet file now holding the dataset's bulk data


def import_csv(
    sources: Sequence[tuple[str, Opener]],
    schema: DatasetSchema,
    dataset_type: str,
    dest: Path,
    mode: str = "FULL",
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import CSV ``sources`` — (display name, opener) pairs — into the Parquet file ``dest``.

    ``mode`` FULL replaces all bulk data. INCREMENTAL appends to Interactions and Action_Interactions and, for
    Items, Users and Actions, replaces the existing rows whose ID (:data:`ID_FIELD`) appears in the input.
    Within one job's input, the last row for an ID wins. ``progress`` is called with the number of rows read
    so far, at most a few times a second. ``dest``'s folder is created if needed. Any failure raises
    :class:`ImportFailure`, whose message is the job's ``failureReason``, and leaves ``dest`` as it was.
    """
    dataset_type = normalize_dataset_type(dataset_type)
    if mode not in IMPORT_MODES:
        raise ValueError(f"import mode must be one of {IMPORT_MODES}, not {mode!r}")
    if not sources:
        raise ImportFailure("The data location holds no CSV files to import.")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []

    def temp_path(tag: str) -> Path:
        path = dest.with_name(f".{dest.name}.{tag}-{uuid.uuid4().hex}.tmp")
        temps.append(path)
        return path

    tracker = _Progress(progress)
    try:
        new = temp_path("new")
        rows = _write_sources(sources, schema, new, tracker)
        existing = dest if mode == "INCREMENTAL" and dest.exists() else None
        try:
            result, total = _merge(existing, new, ID_FIELD[dataset_type], schema, temp_path)
        except pa.ArrowException as exc:
            raise ImportFailure(f"The dataset's existing bulk data could not be read: {exc}") from None
        os.replace(result, dest)
    except OSError as exc:
        raise ImportFailure(f"The dataset's bulk data could not be written: {exc}") from None
    finally:
        for path in temps:
            path.unlink(missing_ok=True)
    tracker.finish()
    return ImportResult(rows_imported=rows, rows_total=total, path=dest)


# ----------------------------------------------------------------------------------------------------------
# Writing and merging Parquet


def _parquet_writer(path: Path, schema: DatasetSchema) -> pq.ParquetWriter:
    """Dictionary-encode only low-cardinality strings: encoding IDs and free text costs time for nothing."""
    dictionary = [
        f.name for f in schema.fields if f.type == "string" and f.name not in ID_COLUMNS and not f.textual
    ]
    return pq.ParquetWriter(
        path, schema.arrow_schema(), compression="snappy", use_dictionary=dictionary or False
    )


def _write_sources(
    sources: Sequence[tuple[str, Opener]], schema: DatasetSchema, path: Path, tracker: _Progress
) -> int:
    """Write every source's rows to ``path``; Parquet encoding of one batch overlaps reading the next."""
    rows = 0
    with _parquet_writer(path, schema) as writer, ThreadPoolExecutor(max_workers=1) as encoder:
        pending: Future[None] | None = None
        for name, opener in sources:
            for batch in _read_source(name, opener, schema):
                if pending is not None:
                    pending.result()
                pending = encoder.submit(writer.write_batch, batch)
                rows += batch.num_rows
                tracker.advance(batch.num_rows)
        if pending is not None:
            pending.result()
    return rows


def _merge(
    existing: Path | None,
    new: Path,
    key: str | None,
    schema: DatasetSchema,
    temp_path: Callable[[str], Path],
) -> tuple[Path, int]:
    """Combine the kept bulk data (if any) with the job's rows; returns the file to install and its rows."""
    keep_new = _last_occurrences(new, key) if key is not None else None
    if existing is None and keep_new is None:
        return new, _row_count(new)

    out = temp_path("merged")
    total = 0
    with _parquet_writer(out, schema) as writer:
        if existing is not None:
            keep_old = _not_replaced(existing, new, key) if key is not None else None
            for batch in _masked(_conformed_batches(existing, schema), keep_old):
                writer.write_batch(batch)
                total += batch.num_rows
        with pq.ParquetFile(new) as rows:
            for batch in _masked(rows.iter_batches(), keep_new):
                writer.write_batch(batch)
                total += batch.num_rows
    return out, total


def _masked(batches: Iterator[pa.RecordBatch], keep: np.ndarray | None) -> Iterator[pa.RecordBatch]:
    """``batches`` with the rows where the whole-file mask ``keep`` is False left out."""
    offset = 0
    for batch in batches:
        rows = batch.num_rows
        if keep is not None:
            batch = batch.filter(pa.array(keep[offset : offset + rows]))
        offset += rows
        yield batch


def _row_count(path: Path) -> int:
    with pq.ParquetFile(path) as file:
        return int(file.metadata.num_rows)


def _read_column(path: Path, name: str) -> pa.ChunkedArray:
    with pq.ParquetFile(path) as file:
        return file.read(columns=[name]).column(name)


def _not_replaced(existing: Path, new: Path, key: str) -> np.ndarray | None:
    """A mask of the existing rows whose ID does not appear in the job's input."""
    with pq.ParquetFile(existing) as file:
        if key not in file.schema_arrow.names:
            return None  # _conformed_batches reports the missing column
    replaced = pc.unique(_read_column(new, key).combine_chunks())
    keep: np.ndarray = pc.invert(pc.is_in(_read_column(existing, key), value_set=replaced)).to_numpy()
    return keep


def _last_occurrences(path: Path, key: str) -> np.ndarray | None:
    """A mask keeping each ID's last row, or None when every ID appears once."""
    ids = _read_column(path, key)
    if pc.count_distinct(ids).as_py() == len(ids):
        return None
    positions = pa.table({"id": ids, "row": pa.array(np.arange(len(ids)))})
    last = positions.group_by("id").aggregate([("row", "max")]).column("row_max").to_numpy()
    keep = np.zeros(len(ids), dtype=bool)
    keep[last] = True
    return keep


def _conformed_batches(path: Path, schema: DatasetSchema) -> Iterator[pa.RecordBatch]:
    """Existing bulk data shaped to the dataset's current schema (it may have changed by UpdateDataset)."""
    target = schema.arrow_schema()
    with pq.ParquetFile(path) as file:
        for batch in file.iter_batches():
            arrays = [_conformed_column(batch, f) for f in schema.fields]
            yield pa.RecordBatch.from_arrays(arrays, schema=target)


def _conformed_column(batch: pa.RecordBatch, f: Field) -> pa.Array:
    index = batch.schema.get_field_index(f.name)
    if index < 0:
        if not f.nullable:
            raise ImportFailure(
                f"The dataset's existing data has no {f.name} column, which the schema requires; "
                "use a FULL import."
            )
        return pa.nulls(batch.num_rows, f.arrow_type)
    column = batch.column(index)
    if not f.nullable and column.null_count:
        raise ImportFailure(
            f"The dataset's existing data has empty {f.name} values, which the schema does not allow; "
            "use a FULL import."
        )
    try:
        return column.cast(f.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ImportFailure(
            f"The dataset's existing {f.name} values cannot be converted to {f.type}; use a FULL import."
        ) from None


# ----------------------------------------------------------------------------------------------------------
# Reading one CSV file: header, streamed batches, vectorized validation


class _BadBatch(Exception):
    """A batch broke a rule; the slow path finds the line."""


def _read_source(name: str, opener: Opener, schema: DatasetSchema) -> Iterator[pa.RecordBatch]:
    """Typed, validated record batches of one CSV file, in the schema's column order."""
    columns = _read_header(name, opener, schema)
    position = {f.name: i for i, f in enumerate(columns) if f is not None}
    target = schema.arrow_schema()
    arrow_names = [f"c{i}" for i in range(len(columns))]
    rows = 0

    def failure(reason: str) -> ImportFailure:
        found = _diagnose(name, opener, columns, start_record=rows, straddled="straddl" in reason)
        return ImportFailure(
            found or f"{name}: the rows after data row {rows} could not be imported: {reason}"
        )

    with _open(name, opener) as stream:
        try:
            reader = pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(block_size=BLOCK_SIZE, skip_rows=1, column_names=arrow_names),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(arrow_names, pa.string()),
                    null_values=[""],
                    strings_can_be_null=True,
                ),
            )
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                arrays = [
                    _convert(batch.column(position[f.name]), f)
                    if f.name in position
                    else pa.nulls(batch.num_rows, f.arrow_type)
                    for f in schema.fields
                ]
                rows += batch.num_rows
                yield pa.RecordBatch.from_arrays(arrays, schema=target)
        except OSError as exc:
            raise ImportFailure(f"{name} could not be read: {exc}") from None
        except (pa.ArrowException, _BadBatch) as exc:
            raise failure(str(exc)) from None
    if rows == 0:
        raise ImportFailure(f"{name} contains no data rows (only a header).")


def _open(name: str, opener: Opener) -> BinaryIO:
    try:
        return opener()
    except OSError as exc:
        raise ImportFailure(f"{name} could not be opened: {exc}") from None


def _convert(column: pa.Array, f: Field) -> pa.Array:
    """A string column → the field's type, or _BadBatch if any value breaks a rule."""
    if column.null_count and not f.nullable:
        raise _BadBatch(f"{f.name} has an empty value")
    if f.type == "string":
        limit = _length_limit(f)
        if (
            limit is not None
            and _max(pc.binary_length(column)) > limit
            and _max(pc.utf8_length(column)) > limit
        ):
            raise _BadBatch(f"a {f.name} value is longer than {limit} characters")
        return column
    if f.type == "boolean":
        if _some_false(pc.or_kleene(pc.equal(column, "true"), pc.equal(column, "false"))):
            raise _BadBatch(f"a {f.name} value is not true or false")
        return pc.equal(column, "true")
    try:
        typed = column.cast(f.arrow_type)
    except pa.ArrowInvalid as exc:
        raise _BadBatch(str(exc)) from None
    if f.type in _INT_RANGES:
        ok = pc.ascii_is_decimal(pc.utf8_ltrim(column, characters="-"))  # the cast also reads 0x10
    else:
        ok = pc.is_finite(typed)  # the cast also reads nan and inf
    if _some_false(ok):
        raise _BadBatch(f"a {f.name} value is not a {f.type}")
    return typed


def _some_false(mask: pa.Array) -> bool:
    """Whether a boolean array holds a False (nulls are not False; an all-null array holds none)."""
    return pc.all(mask).as_py() is False


def _max(lengths: pa.Array) -> int:
    largest = pc.max(lengths).as_py()
    return 0 if largest is None else int(largest)


def _length_limit(f: Field) -> int | None:
    if f.name in ID_COLUMNS:
        return MAX_ID_LENGTH
    if f.categorical:
        return MAX_CATEGORICAL_LENGTH
    if f.textual:
        return MAX_TEXTUAL_LENGTH
    return None


def _read_header(name: str, opener: Opener, schema: DatasetSchema) -> list[Field | None]:
    """The schema field of each CSV column, in file order (None for a column that is ignored)."""
    where = f"{name} line 1"
    with _open(name, opener) as stream:
        try:
            raw = next(_raw_lines(stream, _MAX_HEADER_BYTES), b"")
        except _LineTooLong:
            raise ImportFailure(f"{where}: no header row in the first MiB; is this a CSV file?") from None
        except OSError as exc:
            raise ImportFailure(f"{name} could not be read: {exc}") from None
    expected = ", ".join(schema.names)
    if not raw:
        raise ImportFailure(f"{name} is empty; expected a header row naming the schema fields ({expected}).")
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise ImportFailure(f"{where}: the header is not valid UTF-8 ({_byte_position(raw, exc)}).") from None
    if not text.strip():
        raise ImportFailure(f"{where}: the header row is empty; expected the schema fields ({expected}).")
    try:
        names = [n.strip() for n in next(csv.reader([text]))]
    except csv.Error as exc:
        raise ImportFailure(f"{where}: the header is not a valid CSV row ({exc}).") from None

    by_upper = {f.name.upper(): f for f in schema.fields}
    columns: list[Field | None] = []
    for column in names:
        f = by_upper.get(column.upper())
        if f is not None and f in columns:
            raise ImportFailure(f'{where}: column "{_clip(column)}" appears more than once in the header.')
        columns.append(f)  # None: not a field of the schema (or no name), ignored
    missing = [f.name for f in schema.fields if not f.nullable and f not in columns]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        ignored = [n for n, f in zip(names, columns, strict=True) if f is None and n]
        note = f"; ignored, not fields of the schema: {_clip(', '.join(_clip(n) for n in ignored), 200)}" if ignored else ""
        raise ImportFailure(
            f"{where}: the header has no column for required field{plural} {', '.join(missing)} "
            f"(found {_clip(', '.join(_clip(n) for n in names), 200)}{note})."
        )
    return columns


# ----------------------------------------------------------------------------------------------------------
# The slow path: find and describe the first bad line


class _LineTooLong(Exception):
    pass


class _BadLine(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _raw_lines(stream: BinaryIO, max_length: int) -> Iterator[bytes]:
    """Physical lines (terminators kept) from any object with ``read``; _LineTooLong past ``max_length``."""
    pending = bytearray()
    while chunk := stream.read(_READ_CHUNK):
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) != -1:
            yield bytes(pending[start : end + 1])
            start = end + 1
        del pending[:start]
        if len(pending) > max_length:
            raise _LineTooLong
    if pending:
        yield bytes(pending)


class _TextLines:
    """Decoded lines for :func:`csv.reader`, counting the lines and bytes consumed."""

    def __init__(self, stream: BinaryIO) -> None:
        self._raw = _raw_lines(stream, 2 * BLOCK_SIZE)  # pyarrow cannot read a longer row
        self.line = 0
        self.bytes = 0

    def __iter__(self) -> _TextLines:
        return self

    def __next__(self) -> str:
        raw = next(self._raw)
        self.line += 1
        self.bytes += len(raw)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadLine(self.line, f"the text is not valid UTF-8 ({_byte_position(raw, exc)}).") from None


def _diagnose(
    name: str, opener: Opener, columns: Sequence[Field | None], start_record: int, straddled: bool
) -> str | None:
    """Describe the first bad row at or after data row ``start_record`` (0-based); None if none is found.

    pyarrow reads a row that spans at most two blocks, so rows between one and two blocks long may or may
    not import; they are reported as too long only when pyarrow said so (``straddled``).
    """
    too_long = f"the row is longer than {_size(BLOCK_SIZE)}, the longest that can be imported."
    with _open(name, opener) as stream:
        lines = _TextLines(stream)
        reader = csv.reader(lines)
        record, first_line, first_byte = 0, 1, 0
        try:
            next(lines, None)  # the header, already checked
            while True:
                first_line, first_byte = lines.line + 1, lines.bytes
                row = next(reader, None)
                if row is None:
                    return None
                if not row:
                    continue  # blank lines are skipped, as pyarrow skips them
                if record >= start_record:
                    if straddled and lines.bytes - first_byte > BLOCK_SIZE:
                        return f"{name} line {first_line}: {too_long}"
                    if problem := _row_problem(row, columns):
                        return f"{name} line {first_line}: {problem}"
                record += 1
        except _BadLine as exc:
            return f"{name} line {exc.line}: {exc.reason}"
        except _LineTooLong:
            return f"{name} line {first_line}: {too_long}"
        except csv.Error as exc:
            if lines.bytes - first_byte > BLOCK_SIZE:
                return f"{name} line {first_line}: {too_long}"
            if record < start_record:
                return None  # a row pyarrow accepted (e.g. a value over the csv module's field size limit)
            return f"{name} line {first_line}: the row is not valid CSV ({exc})."
        except OSError as exc:
            return f"{name} could not be read: {exc}"


def _row_problem(row: Sequence[str], columns: Sequence[Field | None]) -> str | None:
    if len(row) != len(columns):
        return f"the row has {len(row)} fields, but the header has {len(columns)} columns."
    for value, f in zip(row, columns, strict=True):
        if f is not None and (problem := value_problem(value, f)):
            return problem
    return None


def value_problem(value: str, f: Field) -> str | None:
    """Why the CSV text ``value`` is not valid for field ``f`` (None if it is); the rules of the slow path."""
    if value == "":
        return None if f.nullable else f"{f.name} is empty, but the field is required (not nullable)."
    shown = f'{f.name} value "{_clip(value)}"'
    if f.type == "string":
        limit = _length_limit(f)
        if limit is not None and len(value) > limit:
            kind = (
                "IDs" if f.name in ID_COLUMNS else "categorical values" if f.categorical else "textual values"
            )
            return f"{f.name} value is {len(value)} characters long; {kind} may be at most {limit}."
        return None
    if f.type == "boolean":
        return None if value in ("true", "false") else f"{shown} is not a boolean (write true or false)."
    if f.type in _INT_RANGES:
        article = "an" if f.type == "int" else "a"
        unit = " (Unix epoch seconds)" if f.name in _TIMESTAMP_FIELDS else ""
        if not _INT_PATTERN.fullmatch(value):
            return f"{shown} is not {article} {f.type}{unit}."
        low, high = _INT_RANGES[f.type]
        if not low <= int(value) <= high:
            return f"{shown} is out of range for {article} {f.type} ({low} to {high})."
        return None
    if not _FLOAT_PATTERN.fullmatch(value):
        return f"{shown} is not a {f.type}."
    if not math.isfinite(number := float(value)) or abs(number) > _FLOAT_MAX[f.type]:
        return f"{shown} is out of range for a {f.type}."
    return None


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n >> 10} KiB"


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width] + "…"


def _byte_position(raw: bytes, exc: UnicodeDecodeError) -> str:
    return f"byte 0x{raw[exc.start]:02x} at position {exc.start + 1} of the line"


class _Progress:
    """Calls back with the rows read so far, at most every _PROGRESS_INTERVAL_S."""

    def __init__(self, callback: Callable[[int], None] | None) -> None:
        self._callback = callback
        self._last = time.monotonic()
        self.rows = 0

    def advance(self, rows: int) -> None:
        self.rows += rows
        now = time.monotonic()
        if self._callback is not None and now - self._last >= _PROGRESS_INTERVAL_S:
            self._last = now
            self._callback(self.rows)

    def finish(self) -> None:
        if self._callback is not None:
            self._callback(self.rows)
