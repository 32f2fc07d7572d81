"""Dataset schemas: the Avro JSON that CreateSchema accepts, and the rules CreateDataset applies to it.

A Personalize schema is a flat Avro ``record`` whose fields are primitives (``string``, ``int``, ``long``,
``float``, ``double``, ``boolean``), optionally made nullable with a union such as ``["null", "string"]``.
String fields may carry ``"categorical": true`` or ``"textual": true``.

:func:`parse_schema` checks what CreateSchema checks (the JSON alone). :func:`check_schema_for_dataset`
checks what CreateDataset checks once the dataset type and the dataset group's domain are known: required and
reserved fields, their types, and how many metadata fields a dataset may have. Both raise
:class:`~pertinent.errors.InvalidInputException` with a message that names the field and the rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pertinent.errors import InvalidInputException

DATASET_TYPES = ("INTERACTIONS", "ITEMS", "USERS", "ACTIONS", "ACTION_INTERACTIONS")
DOMAINS = ("ECOMMERCE", "VIDEO_ON_DEMAND")

#: The key an INCREMENTAL import replaces rows on; None means rows are only ever appended.
ID_FIELD: Mapping[str, str | None] = {
    "INTERACTIONS": None,
    "ITEMS": "ITEM_ID",
    "USERS": "USER_ID",
    "ACTIONS": "ACTION_ID",
    "ACTION_INTERACTIONS": None,
}

MAX_SCHEMA_LENGTH = 20000

_ARROW_TYPES: Mapping[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
}
FIELD_TYPES = tuple(_ARROW_TYPES)
_NESTED_TYPES = ("record", "array", "map", "enum", "fixed")
_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def normalize_dataset_type(text: str) -> str:
    """``"Interactions"`` → ``"INTERACTIONS"``; Personalize accepts dataset types in any letter case."""
    upper = text.upper()
    if upper not in DATASET_TYPES:
        valid = ", ".join(t.title() for t in DATASET_TYPES)
        raise InvalidInputException(f"Dataset type {text!r} is not valid. Valid types: {valid}.")
    return upper


@dataclass(frozen=True)
class Field:
    """One column of a dataset: its Avro type and the Personalize flags."""

    name: str
    type: str  # one of FIELD_TYPES
    nullable: bool = False
    categorical: bool = False
    textual: bool = False

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.type]

    def describe(self) -> str:
        """``ITEM_ID (string)``, ``GENRES (categorical string, nullable)`` — for error messages."""
        flag = "categorical " if self.categorical else "textual " if self.textual else ""
        return f"{self.name} ({flag}{self.type}{', nullable' if self.nullable else ''})"


@dataclass(frozen=True)
class DatasetSchema:
    """The ordered fields of a parsed schema."""

    fields: tuple[Field, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def get(self, name: str) -> Field | None:
        """The field called ``name`` (exact spelling), or None."""
        return next((f for f in self.fields if f.name == name), None)

    def field(self, name: str) -> Field:
        """The field called ``name``; KeyError if the schema has none."""
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def arrow_schema(self) -> pa.Schema:
        """The Arrow (and Parquet) schema that imported data is stored with."""
        return pa.schema(
            [
                pa.field(f.name, f.arrow_type, nullable=f.nullable, metadata=_field_metadata(f))
                for f in self.fields
            ]
        )


def _field_metadata(f: Field) -> dict[str, str] | None:
    """The Avro flags a recipe needs, kept on the Arrow field (and so in the Parquet file)."""
    flags = {name: "true" for name in ("categorical", "textual") if getattr(f, name)}
    return flags or None


# ----------------------------------------------------------------------------------------------------------
# CreateSchema: the Avro JSON on its own


def parse_schema(text: str) -> DatasetSchema:
    """Parse and validate a Personalize Avro schema; InvalidInputException names the first problem."""
    if len(text) > MAX_SCHEMA_LENGTH:
        raise InvalidInputException(
            f"The schema is {len(text)} characters long; the maximum is {MAX_SCHEMA_LENGTH}."
        )
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputException(f"The schema is not valid JSON: {exc}.") from None
    if not isinstance(doc, dict):
        raise InvalidInputException('The schema must be a JSON object with "type": "record".')
    if doc.get("type") != "record":
        raise InvalidInputException(
            f'The schema must be an Avro record ("type": "record"), not {json.dumps(doc.get("type"))}.'
        )
    if not isinstance(doc.get("name"), str) or not doc["name"]:
        raise InvalidInputException('The schema must have a "name", for example "Interactions".')
    raw_fields = doc.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise InvalidInputException('The schema must have a non-empty "fields" list.')

    fields = tuple(_parse_field(raw, position) for position, raw in enumerate(raw_fields, start=1))
    _check_names_distinct(fields)
    return DatasetSchema(fields)


def _parse_field(raw: Any, position: int) -> Field:
    if not isinstance(raw, dict):
        raise InvalidInputException(f"Field {position} of the schema must be a JSON object.")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInputException(f'Field {position} of the schema has no "name".')
    if not _NAME_PATTERN.fullmatch(name):
        raise InvalidInputException(
            f"Field name {name!r} is not valid: names start with a letter or underscore and contain only "
            "letters, digits and underscores."
        )
    if "type" not in raw:
        raise InvalidInputException(f'Field {name} has no "type".')
    type_, nullable = _parse_type(name, raw["type"])

    flags: dict[str, bool] = {}
    for flag in ("categorical", "textual"):
        value = raw.get(flag, False)
        if not isinstance(value, bool):
            raise InvalidInputException(
                f"Field {name}: {flag!r} must be true or false, not {json.dumps(value)}."
            )
        flags[flag] = value
    for flag, value in flags.items():
        if value and type_ != "string":
            raise InvalidInputException(
                f"Field {name}: only string fields can be {flag}; this one is {type_}."
            )
    if flags["categorical"] and flags["textual"]:
        raise InvalidInputException(f"Field {name} cannot be both categorical and textual.")
    return Field(name, type_, nullable, flags["categorical"], flags["textual"])


def _parse_type(name: str, raw: Any) -> tuple[str, bool]:
    """An Avro field type → (primitive type, nullable)."""
    if isinstance(raw, dict):
        raw = raw.get("type")  # {"type": "string"} is an Avro spelling of "string"
    if isinstance(raw, str):
        return _primitive(name, raw), False
    if isinstance(raw, list):
        if not all(isinstance(branch, str | dict) for branch in raw):
            raise InvalidInputException(f"Field {name}: every branch of a union must be a type name.")
        branches = [b.get("type") if isinstance(b, dict) else b for b in raw]
        if len(set(map(str, branches))) != len(branches):
            raise InvalidInputException(f"Field {name}: the union {json.dumps(raw)} repeats a type.")
        others = [b for b in branches if b != "null"]
        if len(others) != 1:
            raise InvalidInputException(
                f"Field {name}: a union must pair exactly one type with null, "
                f'like ["null", "string"]; got {json.dumps(raw)}.'
            )
        return _primitive(name, others[0]), "null" in branches
    raise InvalidInputException(f"Field {name}: {json.dumps(raw)} is not a valid type.")


def _primitive(name: str, type_: Any) -> str:
    if type_ in _ARROW_TYPES:
        return str(type_)
    if type_ in _NESTED_TYPES:
        raise InvalidInputException(
            f"Field {name}: nested types ({type_}) are not supported; schemas must be flat."
        )
    if type_ == "null":
        raise InvalidInputException(
            f'Field {name}: a field cannot be only null; use a union such as ["null", "string"].'
        )
    raise InvalidInputException(
        f"Field {name}: type {json.dumps(type_)} is not supported; use one of {', '.join(FIELD_TYPES)}."
    )


def _check_names_distinct(fields: tuple[Field, ...]) -> None:
    """Names must be unique even ignoring underscores and letter case (GENRES_FIELD_1 vs GENRESFIELD1)."""
    seen: dict[str, str] = {}
    for f in fields:
        key = f.name.replace("_", "").upper()
        if key in seen:
            other = seen[key]
            if other == f.name:
                raise InvalidInputException(f"Field name {f.name} appears more than once.")
            raise InvalidInputException(
                f"Field names {other} and {f.name} conflict: names must differ by more than underscores "
                "and letter case."
            )
        seen[key] = f.name


# ----------------------------------------------------------------------------------------------------------
# CreateDataset: the schema against a dataset type and domain


@dataclass(frozen=True)
class _Rule:
    """What a required or reserved field must look like."""

    types: tuple[str, ...]
    categorical: bool | None = None  # True: must be, False: must not be, None: either
    textual: bool | None = None

    def describe(self) -> str:
        flag = "categorical " if self.categorical else "textual " if self.textual else ""
        return flag + " or ".join(self.types)


_STRING = _Rule(("string",))
_LONG = _Rule(("long",))
_FLOAT = _Rule(("float", "double"))
_CATEGORICAL = _Rule(("string",), categorical=True)
_TEXTUAL = _Rule(("string",), textual=True)


@dataclass(frozen=True)
class _DatasetRules:
    required: Mapping[str, _Rule]
    reserved: Mapping[str, _Rule]
    max_metadata: int | None  # fields that are neither required nor reserved
    min_metadata: int = 0  # fields other than the required ones, reserved included
    allow_textual: bool = False
    max_textual: int | None = None


_CUSTOM: Mapping[str, _DatasetRules] = {
    "INTERACTIONS": _DatasetRules(
        required={"USER_ID": _STRING, "ITEM_ID": _STRING, "TIMESTAMP": _LONG},
        reserved={
            "EVENT_TYPE": _Rule(("string",), categorical=False),
            "EVENT_VALUE": _FLOAT,
            "IMPRESSION": _STRING,
            "RECOMMENDATION_ID": _STRING,
            "EVENT_ATTRIBUTION_SOURCE": _STRING,
        },
        max_metadata=5,
    ),
    "ITEMS": _DatasetRules(
        required={"ITEM_ID": _STRING},
        reserved={"CREATION_TIMESTAMP": _LONG},
        max_metadata=100,
        min_metadata=1,
        allow_textual=True,
        max_textual=1,
    ),
    "USERS": _DatasetRules(required={"USER_ID": _STRING}, reserved={}, max_metadata=25, min_metadata=1),
    "ACTIONS": _DatasetRules(
        required={"ACTION_ID": _STRING},
        reserved={
            "CREATION_TIMESTAMP": _LONG,
            "VALUE": _LONG,
            "TYPE": _STRING,
            "EXPIRATION_TIMESTAMP": _LONG,
            "REPEAT_FREQUENCY": _LONG,
        },
        max_metadata=10,
        min_metadata=1,
        allow_textual=True,
    ),
    "ACTION_INTERACTIONS": _DatasetRules(
        required={"USER_ID": _STRING, "ACTION_ID": _STRING, "TIMESTAMP": _LONG, "EVENT_TYPE": _STRING},
        reserved={"IMPRESSION": _STRING, "RECOMMENDATION_ID": _STRING},
        max_metadata=None,
    ),
}

_ECOMMERCE_ITEMS = {
    "CATEGORY_L2": _CATEGORICAL,
    "CATEGORY_L3": _CATEGORICAL,
    "PRODUCT_DESCRIPTION": _TEXTUAL,
    "CREATION_TIMESTAMP": _LONG,
    "AGE_GROUP": _CATEGORICAL,
    "ADULT": _CATEGORICAL,
    "GENDER": _CATEGORICAL,
}
_VIDEO_ITEMS = {
    "PRICE": _FLOAT,
    "DURATION": _FLOAT,
    "GENRE_L2": _CATEGORICAL,
    "GENRE_L3": _CATEGORICAL,
    "AVERAGE_RATING": _FLOAT,
    "PRODUCT_DESCRIPTION": _TEXTUAL,
    "CONTENT_OWNER": _CATEGORICAL,
    "CONTENT_CLASSIFICATION": _CATEGORICAL,
}


def _rules_for(dataset_type: str, domain: str | None) -> _DatasetRules:
    custom = _CUSTOM[dataset_type]
    if domain is None:
        return custom
    if dataset_type in ("ACTIONS", "ACTION_INTERACTIONS"):
        raise InvalidInputException(
            f"{dataset_type.title()} datasets can only be created in a custom dataset group, not in a "
            f"domain dataset group ({domain})."
        )
    if dataset_type == "INTERACTIONS":
        reserved = dict(custom.reserved)
        event_type = reserved.pop("EVENT_TYPE")
        return _DatasetRules({**custom.required, "EVENT_TYPE": event_type}, reserved, custom.max_metadata)
    if dataset_type == "ITEMS" and domain == "ECOMMERCE":
        required = {"ITEM_ID": _STRING, "PRICE": _FLOAT, "CATEGORY_L1": _CATEGORICAL}
        return _DatasetRules(required, _ECOMMERCE_ITEMS, 100, allow_textual=True, max_textual=1)
    if dataset_type == "ITEMS":
        required = {"ITEM_ID": _STRING, "GENRES": _CATEGORICAL, "CREATION_TIMESTAMP": _LONG}
        return _DatasetRules(required, _VIDEO_ITEMS, 100, allow_textual=True, max_textual=1)
    return custom


def check_schema_for_dataset(schema: DatasetSchema, dataset_type: str, domain: str | None) -> None:
    """Check ``schema`` fits a dataset of ``dataset_type`` in a group with ``domain`` (None for custom)."""
    dataset_type = normalize_dataset_type(dataset_type)
    domain = domain or None
    if domain is not None and domain not in DOMAINS:
        raise InvalidInputException(f"Domain {domain!r} is not valid. Valid domains: {', '.join(DOMAINS)}.")
    rules = _rules_for(dataset_type, domain)
    kind = f"{dataset_type.title()} schema" + (f" (domain {domain})" if domain else "")
    by_upper = {f.name.upper(): f for f in schema.fields}

    for name, rule in rules.required.items():
        found = schema.get(name)
        if found is None:
            raise InvalidInputException(
                f"{kind} must have a field {name} ({rule.describe()}){_hint(name, by_upper)}."
            )
        _check_rule(found, rule, kind)
        if found.nullable:
            raise InvalidInputException(f"{kind}: required field {name} cannot be nullable.")
    for name, rule in rules.reserved.items():
        found = schema.get(name)
        if found is not None:
            _check_rule(found, rule, kind)
        elif name in by_upper:
            raise InvalidInputException(
                f"{kind}: field {by_upper[name].name} must be spelled {name} "
                "(reserved field names are upper case)."
            )

    special = set(rules.required) | set(rules.reserved)
    metadata = [f for f in schema.fields if f.name not in special]
    others = [f for f in schema.fields if f.name not in rules.required]
    if len(others) < rules.min_metadata:
        raise InvalidInputException(
            f"{kind} must have at least {rules.min_metadata} metadata field besides "
            f"{', '.join(rules.required)}."
        )
    if rules.max_metadata is not None and len(metadata) > rules.max_metadata:
        raise InvalidInputException(
            f"{kind} can have at most {rules.max_metadata} metadata fields besides the required and reserved "
            f"ones; it has {len(metadata)} ({', '.join(f.name for f in metadata)})."
        )
    textual = [f.name for f in schema.fields if f.textual]
    if textual and not rules.allow_textual:
        raise InvalidInputException(
            f"{kind}: field {textual[0]} is textual, but only Items and Actions datasets can have "
            "textual fields."
        )
    if rules.max_textual is not None and len(textual) > rules.max_textual:
        raise InvalidInputException(
            f"{kind} can have at most {rules.max_textual} textual field; it has {len(textual)} "
            f"({', '.join(textual)})."
        )


def _check_rule(found: Field, rule: _Rule, kind: str) -> None:
    if found.type not in rule.types:
        raise InvalidInputException(
            f"{kind}: field {found.name} must be of type {' or '.join(rule.types)}, not {found.type}."
        )
    if rule.categorical is True and not found.categorical:
        raise InvalidInputException(f'{kind}: field {found.name} must be categorical ("categorical": true).')
    if rule.categorical is False and found.categorical:
        raise InvalidInputException(f"{kind}: field {found.name} is reserved and cannot be categorical.")
    if rule.textual is True and not found.textual:
        raise InvalidInputException(f'{kind}: field {found.name} must be textual ("textual": true).')


def _hint(name: str, by_upper: Mapping[str, Field]) -> str:
    other = by_upper.get(name)
    return f'; rename field "{other.name}" to {name}' if other is not None else ""
