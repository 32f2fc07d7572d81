"""An embedded tantivy index of an Items dataset, kept on disk in one folder.

Every document has ``ITEM_ID`` (stored, indexed as one untokenized term) plus the declared
:class:`IndexField` s:

=============  ==========================================================================================
kind           how it is indexed
=============  ==========================================================================================
``text``       tokenized with :func:`english_analyzer` (lower-cased, ASCII-folded, English-stemmed), BM25
``categorical`` tokenized like text under its own name (so ``match`` "comedy" finds ``Comedy``), and each
               ``|``-separated value also as an exact term under ``<name>#raw`` (for ``term``/``terms``)
``numeric``    a 64-bit float, or a 64-bit integer with ``integer=True`` (Avro ``int``/``long``), for ``range``
``boolean``    a boolean, for ``term``
=============  ==========================================================================================

Stored fields make up a hit's ``_source`` (values as given: a categorical field keeps its ``"A|B"`` string).
The field list is written next to the index as ``pertinent-index.json`` so :meth:`ItemIndex.open` restores it.

Writes (:meth:`ItemIndex.replace_all`, :meth:`ItemIndex.add_table`, :meth:`ItemIndex.upsert`,
:meth:`ItemIndex.delete`) each open a tantivy writer, commit once and release it, so other processes can write
between them; a write that fails rolls back and leaves the committed index as it was. After a commit the
reader is reloaded, so the next query sees the change.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import tantivy

ITEM_ID = "ITEM_ID"
FieldKind = Literal["text", "categorical", "numeric", "boolean"]
FIELD_KINDS: tuple[FieldKind, ...] = ("text", "categorical", "numeric", "boolean")
CATEGORICAL_SEPARATOR = "|"
METADATA_FILE = "pertinent-index.json"
TOKENIZER = "pertinent_en"
_FORMAT = 1
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RAW_SUFFIX = "#raw"  # '#' cannot occur in an Avro field name, so these never collide with a real field
_BULK_THREADS_MIN_ROWS = 20_000
_HEAP_PER_THREAD = 128_000_000
_SMALL_HEAP = 32_000_000
_BATCH_ROWS = 8192


class ItemIndexError(Exception):
    """The folder holds no pertinent index, holds one already, or its metadata is unreadable."""


@dataclass(frozen=True)
class IndexField:
    """One searchable item field. ``integer`` applies to ``numeric`` fields only (int64 instead of float64)."""

    name: str
    kind: FieldKind
    stored: bool = True
    integer: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"field name {self.name!r} must match [A-Za-z_][A-Za-z0-9_]*")
        if self.name == ITEM_ID:
            raise ValueError(f"{ITEM_ID} is always indexed; do not declare it as a field")
        if self.kind not in FIELD_KINDS:
            raise ValueError(
                f"field {self.name}: kind must be one of {', '.join(FIELD_KINDS)}, not {self.kind!r}"
            )
        if self.integer and self.kind != "numeric":
            raise ValueError(f"field {self.name}: integer=True applies to numeric fields only")


def raw_field_name(name: str) -> str:
    """The tantivy field holding a categorical field's exact values."""
    return name + _RAW_SUFFIX


def english_analyzer() -> tantivy.TextAnalyzer:
    """Words split on non-alphanumerics, tokens over 40 bytes dropped, lower-cased, ASCII-folded, stemmed."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _schema(fields: Sequence[IndexField]) -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field(ITEM_ID, stored=True, tokenizer_name="raw")
    for field in fields:
        if field.kind in ("text", "categorical"):
            builder.add_text_field(field.name, stored=field.stored, tokenizer_name=TOKENIZER)
            if field.kind == "categorical":
                builder.add_text_field(raw_field_name(field.name), stored=False, tokenizer_name="raw")
        elif field.kind == "numeric" and field.integer:
            builder.add_integer_field(field.name, stored=field.stored, indexed=True, fast=True)
        elif field.kind == "numeric":
            builder.add_float_field(field.name, stored=field.stored, indexed=True, fast=True)
        else:
            builder.add_boolean_field(field.name, stored=field.stored, indexed=True, fast=True)
    return builder.build()


def _check_fields(fields: Sequence[IndexField]) -> tuple[IndexField, ...]:
    seen: set[str] = set()
    for field in fields:
        if not isinstance(field, IndexField):
            raise TypeError(f"expected IndexField, got {type(field).__name__}")
        if field.name in seen:
            raise ValueError(f"field {field.name} is declared twice")
        seen.add(field.name)
    return tuple(fields)


def _add_value(document: tantivy.Document, field: IndexField, value: Any, item_id: str) -> None:
    """Add one non-null value of ``field`` to ``document``; ValueError names the item and field when wrong."""
    name = field.name
    if field.kind == "text":
        if not isinstance(value, str):
            raise ValueError(f"item {item_id}: field {name} must be a string, not {type(value).__name__}")
        document.add_text(name, value)
    elif field.kind == "categorical":
        if isinstance(value, list | tuple):
            values = [v for v in value if v is not None]
            if not all(isinstance(v, str) for v in values):
                raise ValueError(f"item {item_id}: field {name} values must be strings")
            value = CATEGORICAL_SEPARATOR.join(values)
        if not isinstance(value, str):
            raise ValueError(f"item {item_id}: field {name} must be a string, not {type(value).__name__}")
        document.add_text(name, value)
        raw = raw_field_name(name)
        for part in value.split(CATEGORICAL_SEPARATOR):
            if part:
                document.add_text(raw, part)
    elif field.kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"item {item_id}: field {name} must be a number, not {type(value).__name__}")
        if field.integer:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"item {item_id}: field {name} must be a whole number, not {value!r}")
            if not -(2**63) <= value < 2**63:
                raise ValueError(f"item {item_id}: field {name} is out of the int64 range: {value!r}")
            document.add_integer(name, int(value))
        else:
            document.add_float(name, float(value))
    else:
        if not isinstance(value, bool):
            raise ValueError(f"item {item_id}: field {name} must be a boolean, not {type(value).__name__}")
        document.add_boolean(name, value)


class ItemIndex:
    """A tantivy index of items in ``path``; create it with :meth:`create`, reopen it with :meth:`open`.

    Safe to share between threads: writes are serialized by an instance lock, searches use
    :meth:`searcher`, which returns a consistent snapshot.
    """

    def __init__(self, path: Path, fields: tuple[IndexField, ...], index: tantivy.Index) -> None:
        """Use :meth:`create` or :meth:`open`; this only wires the parts together."""
        self.path = path
        self.fields = fields
        self._by_name = {field.name: field for field in fields}
        self._stored_names = (ITEM_ID, *(field.name for field in fields if field.stored))
        self._index = index
        self._index.register_tokenizer(TOKENIZER, english_analyzer())
        self._analyzer = english_analyzer()
        self._write_lock = threading.Lock()
        self.lock_timeout_s = 30.0

    # -- lifecycle ---------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], fields: Sequence[IndexField]) -> ItemIndex:
        """A new, empty index in ``path`` (created if needed; it must not already hold files)."""
        folder = Path(path)
        checked = _check_fields(fields)
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise ItemIndexError(f"{folder} is not empty; open the index there or remove it first")
        index = tantivy.Index(_schema(checked), path=str(folder), reuse=False)
        metadata = {"format": _FORMAT, "fields": [asdict(field) for field in checked]}
        temporary = folder / (METADATA_FILE + ".tmp")
        temporary.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        temporary.replace(folder / METADATA_FILE)
        return cls(folder, checked, index)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ItemIndex:
        """The index :meth:`create` made in ``path``."""
        folder = Path(path)
        metadata_path = folder / METADATA_FILE
        try:
            metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ItemIndexError(
                f"{folder} holds no pertinent item index ({METADATA_FILE} is missing)"
            ) from None
        except (OSError, ValueError) as exc:
            raise ItemIndexError(f"cannot read {metadata_path}: {exc}") from exc
        if not isinstance(metadata, dict) or metadata.get("format") != _FORMAT:
            raise ItemIndexError(f"{metadata_path} has an unknown format")
        try:
            fields = _check_fields([IndexField(**spec) for spec in metadata["fields"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise ItemIndexError(f"{metadata_path} lists invalid fields: {exc}") from exc
        try:
            index = tantivy.Index.open(str(folder))
        except (OSError, ValueError) as exc:
            raise ItemIndexError(f"cannot open the tantivy index in {folder}: {exc}") from exc
        return cls(folder, fields, index)

    # -- what the query layer needs ------------------------------------------------------------------

    @property
    def schema(self) -> tantivy.Schema:
        """The tantivy schema (``ITEM_ID``, the fields, and ``<name>#raw`` for categorical fields)."""
        return self._index.schema

    def field(self, name: str) -> IndexField | None:
        """The declared field called ``name`` (None for ``ITEM_ID`` and unknown names)."""
        return self._by_name.get(name)

    def analyze(self, text: str) -> list[tuple[int, str]]:
        """``(position, token)`` pairs of ``text`` as the index's text fields were tokenized."""
        return [(token.position, token.text) for token in self._analyzer.pre_tokenize(text).tokens]

    def searcher(self) -> tantivy.Searcher:
        """A searcher over the last committed state (as of the last reload)."""
        return self._index.searcher()

    @property
    def num_docs(self) -> int:
        """How many items the index holds."""
        return int(self.searcher().num_docs)

    def reload(self) -> None:
        """Make the latest commit (also one made by another process) visible to the next :meth:`searcher`."""
        self._index.reload()

    def stored_source(
        self, document: tantivy.Document, include: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """A hit's ``_source``: its stored fields in declaration order, ``ITEM_ID`` first.

        ``include`` limits it to those names (in that order); absent values are left out.
        """
        values = document.to_dict()  # one call into tantivy instead of one per field
        names = include if include is not None else self._stored_names
        return {name: values[name][0] for name in names if values.get(name)}

    @property
    def stored_names(self) -> tuple[str, ...]:
        """``ITEM_ID`` and every stored field, in declaration order."""
        return self._stored_names

    # -- writes ----------------------------------------------------------------------------------------

    def replace_all(self, table: pa.Table) -> int:
        """Replace every item with the rows of ``table`` (an import job); returns how many items it holds.

        One commit: a search sees either the old catalog or the new one. Rows with the same ``ITEM_ID`` keep
        the last. Columns that are not fields are ignored; a null value leaves that field out.
        """
        table = self._indexed_columns(_last_per_item(table))
        with self._writer(self._threads_for(table.num_rows), bulk=True) as writer:
            writer.delete_all_documents()
            self._add_rows(writer, _iter_rows(table), delete_first=False)
        return self.num_docs

    def add_table(self, table: pa.Table) -> int:
        """Add the rows of ``table``, replacing items already indexed under the same ``ITEM_ID`` (one commit).

        Returns the number of rows indexed (after keeping the last row of each repeated ``ITEM_ID``).
        """
        table = self._indexed_columns(_last_per_item(table))
        replace = self.num_docs > 0
        with self._writer(self._threads_for(table.num_rows), bulk=True) as writer:
            self._add_rows(writer, _iter_rows(table), delete_first=replace)
        return int(table.num_rows)

    def upsert(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert or replace items given as dicts (PutItems): delete by ``ITEM_ID``, then add, one commit.

        Returns the number of rows written. A later row wins over an earlier one with the same ``ITEM_ID``.
        """
        if not rows:
            return 0
        with self._writer(1, bulk=False) as writer:
            self._add_rows(writer, iter(rows), delete_first=True)
        return len(rows)

    def delete(self, item_ids: Sequence[str]) -> None:
        """Remove the items with these ids (unknown ids are ignored), one commit."""
        if not item_ids:
            return
        with self._writer(1, bulk=False) as writer:
            for item_id in item_ids:
                writer.delete_documents_by_term(ITEM_ID, item_id)

    def _indexed_columns(self, table: pa.Table) -> pa.Table:
        return table.select([name for name in table.column_names if name == ITEM_ID or name in self._by_name])

    def _threads_for(self, rows: int) -> int:
        # One thread keeps small catalogs in one segment (deterministic tie order, no merge needed).
        if rows < _BULK_THREADS_MIN_ROWS:
            return 1
        return max(1, min(os.cpu_count() or 1, 4))

    def _add_rows(
        self, writer: tantivy.IndexWriter, rows: Iterator[Mapping[str, Any]], *, delete_first: bool
    ) -> None:
        build = self._document_builder()
        for row in rows:
            document, item_id = build(row)
            if delete_first:
                writer.delete_documents_by_term(ITEM_ID, item_id)
            writer.add_document(document)

    def _document_builder(self) -> Callable[[Mapping[str, Any]], tuple[tantivy.Document, str]]:
        fields = self.fields
        make = tantivy.Document

        def build(row: Mapping[str, Any]) -> tuple[tantivy.Document, str]:
            item_id = row.get(ITEM_ID)
            if not isinstance(item_id, str) or item_id == "":
                raise ValueError(f"every item needs a non-empty string {ITEM_ID}, got {item_id!r}")
            document = make()
            document.add_text(ITEM_ID, item_id)
            for field in fields:
                value = row.get(field.name)
                if value is not None:
                    _add_value(document, field, value, item_id)
            return document, item_id

        return build

    @contextmanager
    def _writer(self, threads: int, *, bulk: bool) -> Iterator[tantivy.IndexWriter]:
        heap = _HEAP_PER_THREAD * threads if bulk else _SMALL_HEAP
        with self._write_lock:
            writer = self._acquire_writer(heap, threads)
            try:
                yield writer
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            finally:
                # Release the directory lock now, on every path: wait_merging_threads() consumes the writer.
                # Leaving it to garbage collection would keep the index locked for as long as anything (an
                # exception's traceback, say) still references the writer.
                writer.wait_merging_threads()
            self._index.reload()

    def _acquire_writer(self, heap: int, threads: int) -> tantivy.IndexWriter:
        """A tantivy writer, waiting up to ``lock_timeout_s`` while another writer (any process) holds it."""
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.01
        while True:
            try:
                return self._index.writer(heap_size=heap, num_threads=threads)
            except ValueError as exc:
                if "LockBusy" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _last_per_item(table: pa.Table) -> pa.Table:
    """``table`` keeping only the last row of each ``ITEM_ID`` (order otherwise preserved)."""
    if ITEM_ID not in table.column_names:
        raise ValueError(f"the items table has no {ITEM_ID} column")
    ids = table[ITEM_ID]
    if table.num_rows == 0 or pc.count_distinct(ids, mode="all").as_py() == table.num_rows:
        return table
    last: dict[Any, int] = {}
    for position, item_id in enumerate(ids.to_pylist()):
        last[item_id] = position
    return table.take(pa.array(sorted(last.values()), type=pa.int64()))


def _iter_rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    """The rows of ``table`` as dicts, a batch of columns at a time (no whole-table Python copy)."""
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        columns = batch.to_pydict()
        names = list(columns)
        for values in zip(*columns.values(), strict=True):
            yield dict(zip(names, values, strict=True))
