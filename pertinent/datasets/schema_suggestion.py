"""Suggest a Personalize schema from a CSV's header and first rows (the console's "define a schema" step).

Reserved columns get their documented types (USER_ID, ITEM_ID, EVENT_TYPE: string; TIMESTAMP,
CREATION_TIMESTAMP: long; EVENT_VALUE: float); any other column's type is read from its values (int, long,
float, boolean, else string), nullable when a sampled value is empty; a string column is categorical when
its values repeat or hold ``|``-separated lists, textual when they are long prose.

Header names: Personalize reads a column as a reserved field only when the header names it ("To use this
column as an ITEM_ID field, rename the column to ITEM_ID",
https://docs.aws.amazon.com/personalize/latest/dg/data-prep-formatting.html); pertinent's import matches names
ignoring case (so ``user_id`` is USER_ID). A header that spells a reserved name another way (``userId``,
``UserID``, ``item-id`` is not a valid name) is suggested as that field and listed in ``renames``: the
console renames it in the uploaded copy's header, and a note says to rename it in the file for a path or
s3:// import. A column that only looks like an id (``movieId`` when there is no ITEM_ID) is never mapped,
since Personalize documents no such rule: a note suggests the rename instead.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from pertinent.errors import InvalidInputException

#: how much of an upload the suggestion reads
SAMPLE_BYTES = 256 * 1024
SAMPLE_ROWS = 500
RESERVED = {
    "USER_ID": "string",
    "ITEM_ID": "string",
    "EVENT_TYPE": "string",
    "TIMESTAMP": "long",
    "CREATION_TIMESTAMP": "long",
    "EVENT_VALUE": "float",
    "IMPRESSION": "string",
    "RECOMMENDATION_ID": "string",
}
REQUIRED = {
    "INTERACTIONS": ("USER_ID", "ITEM_ID", "TIMESTAMP"),
    "ITEMS": ("ITEM_ID",),
    "USERS": ("USER_ID",),
}
RECORD_NAMES = {"INTERACTIONS": "Interactions", "ITEMS": "Items", "USERS": "Users"}
#: where the data format rules are documented (cited in the notes)
FORMAT_DOC = "https://docs.aws.amazon.com/personalize/latest/dg/data-prep-formatting.html"
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INT32 = 2**31


def _kind(values: list[str]) -> str:
    present = [v for v in values if v != ""]
    if not present:
        return "string"
    if all(v.lower() in ("true", "false") for v in present):
        return "boolean"
    try:
        numbers = [int(v) for v in present]
        return "int" if all(-INT32 <= n < INT32 for n in numbers) else "long"
    except ValueError:
        pass
    try:
        for v in present:
            float(v)
        return "float"
    except ValueError:
        return "string"


def _squash(name: str) -> str:
    """``userId``, ``USER_ID``, ``User_Id`` → ``userid``: a name with case and underscores ignored."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


RESERVED_BY_SQUASH = {_squash(name): name for name in RESERVED}


def _id_like(name: str) -> bool:
    """``movieId``, ``product_id``, ``SKU_ID``: a column that may hold ids (never mapped, only noted)."""
    return bool(re.search(r"(?:^|[a-z0-9_])(?:id|ID|Id)$", name)) and _squash(name) not in RESERVED_BY_SQUASH


def suggest_schema(dataset_type: str, sample: str) -> dict[str, Any]:
    """``{"schema": Avro JSON text, "fields": [...], "problems": [...]}`` for a CSV ``sample``."""
    kind = dataset_type.upper()
    if kind not in REQUIRED:
        raise InvalidInputException(
            f"datasetType must be Interactions, Items or Users, not {dataset_type!r}."
        )
    reader = csv.reader(io.StringIO(sample[:SAMPLE_BYTES]))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InvalidInputException(f"The file has no CSV header row ({exc or 'empty'}).") from None
    rows: list[list[str]] = []
    try:
        for row in reader:
            if len(rows) >= SAMPLE_ROWS:
                break
            rows.append(row)
    except csv.Error:
        pass  # a row cut off by the sample's end
    if sample[:SAMPLE_BYTES] != sample and rows:
        rows.pop()  # the last sampled row may be cut off
    problems = []
    renames: dict[str, str] = {}
    fields: list[dict[str, Any]] = []
    taken = {name.strip().upper() for name in header}
    for n, name in enumerate(header):
        name = name.strip()
        alias = RESERVED_BY_SQUASH.get(_squash(name))
        if alias and alias != name.upper() and alias not in taken:
            renames[name] = alias  # userId, UserID, user-id: the reserved field, spelled another way
            problems.append(
                f"Column {n + 1} ({name!r}) is taken as {alias}: Personalize only reads a column whose header "
                f"is {alias} ({FORMAT_DOC}). The console renames it in the uploaded copy; rename it in the "
                "file itself to import from a path or an s3:// URL."
            )
            taken.add(alias)
            name = alias
        elif not FIELD_NAME.match(name):
            problems.append(f"Column {n + 1} ({name!r}) is not a valid field name (letters, digits, _).")
            continue
        values = [row[n].strip() if n < len(row) else "" for row in rows]
        upper = name.upper()
        type_ = RESERVED.get(upper) or _kind(values)
        field: dict[str, Any] = {"name": upper if upper in RESERVED else name}
        nullable = any(v == "" for v in values) and upper not in REQUIRED[kind]
        field["type"] = ["null", type_] if nullable else type_
        if type_ == "string" and upper not in RESERVED:
            present = [v for v in values if v]
            distinct = len(set(present))
            if present and sum(len(v) for v in present) / len(present) > 40 and distinct > len(present) / 2:
                field["textual"] = True
            elif present and (any("|" in v for v in present) or distinct <= max(1, len(present) // 2)):
                field["categorical"] = True
        fields.append(field)
    names = {f["name"] for f in fields}
    for required in REQUIRED[kind]:
        if required not in names:
            article = "A" if kind == "USERS" else "An"
            problem = f"{article} {RECORD_NAMES[kind]} dataset needs a {required} column; the file has none."
            guesses = [f["name"] for f in fields if required in ("USER_ID", "ITEM_ID") and _id_like(f["name"])]
            if guesses:
                problem += (
                    f" If {' or '.join(guesses)} holds the {required.split('_')[0].lower()} ids, rename that "
                    f"column to {required} in the file and in the schema ({FORMAT_DOC})."
                )
            problems.append(problem)
    schema = {
        "type": "record",
        "name": RECORD_NAMES[kind],
        "namespace": "com.amazonaws.personalize.schema",
        "fields": fields,
        "version": "1.0",
    }
    return {
        "schema": json.dumps(schema, indent=2),
        "fields": fields,
        "rows_sampled": len(rows),
        "problems": problems,
        "renames": renames,
    }
