"""Streamed records → event-log rows: PutEvents, PutItems, PutUsers, PutActions, PutActionInteractions.

The API layer has already checked each request against botocore's model (required members, types, lengths)
and turned member names into snake_case; ``properties`` is still the raw JSON **string** the client sent and
timestamps are epoch-second floats. The functions here are pure: they check what depends on the dataset's
schema and turn every record of one request into an :class:`EventRow` — one row of the ``events`` table
(:data:`pertinent.store.schema.events`) — or raise :class:`~pertinent.errors.InvalidInputException` for the
first problem, so a request is stored whole or not at all.

Rules (personalize_api.md §1.3, §4.12, §8, §12):

* ``properties`` must parse as a JSON object (otherwise the message starts with AWS's own text,
  ``Error parsing properties json``). Its keys are the camelCase spellings of schema columns
  (``numberOfRatings`` ↔ ``NUMBER_OF_RATINGS``). The lookup is built from the schema's own field names and
  ignores letter case and underscores, which CreateSchema makes unambiguous (no two field names may differ
  only by those), so ``NUMBER_OF_RATINGS`` and ``number_of_ratings`` are accepted too. A key that matches
  no column, a column set twice and, for events, the reserved keys ``userId sessionId eventType timestamp
  recommendationId impression`` (any case) are errors.
* Values obey the same rules as bulk CSV imports, through
  :func:`pertinent.datasets.csv_import.value_problem`: strings are checked as the CSV text would be, JSON
  numbers and ``true``/``false`` are accepted as their CSV spelling (``12``, ``4.5``, ``true``), ``null``
  and ``""`` are empty (only nullable columns accept them), arrays and objects are rejected (categorical
  multi-values are written ``"Horror|Action"``).
* A column that a request member feeds (``itemId`` → ITEM_ID, ``eventValue`` → EVENT_VALUE …) may also be
  given as a properties key, as early PutEvents clients did (``{"itemId": "m1"}``): it fills the column when
  the member is absent and must agree with it when both are present.
* Every non-nullable schema column needs a value — except USER_ID on an anonymous event, which carries only
  its session, and IMPRESSION, RECOMMENDATION_ID and EVENT_ATTRIBUTION_SOURCE, whose members AWS documents
  as optional (API_UBS_Event: ``impression``, ``recommendationId`` "Required: No"; without ``impression``
  Personalize derives implicit impressions from ``recommendationId``): absent, they are stored as ``""``.
  In a custom dataset group ITEM_ID is required by the schema, which makes ``itemId`` required on every
  PutEvents event; EVENT_VALUE likewise when the schema declares it non-nullable.
* ``eventValue`` needs an EVENT_VALUE column and ``impression`` an IMPRESSION column (stored ``|``-joined);
  ``recommendationId`` (implicit impressions) and ``metricAttribution`` are always accepted and kept.
* An event, serialized as it came on the wire, is at most 10 KB.

Each row's ``body`` is a JSON object keyed by column name holding every column of the dataset's schema,
typed as the schema says (TIMESTAMP as whole epoch seconds), plus for events the standard columns the schema
may lack (EVENT_TYPE, RECOMMENDATION_ID, EVENT_ATTRIBUTION_SOURCE, EVENT_ID …). An event without ``eventId``
gets one derived from its content, so the same input always gives the same rows, a retried request gives the
same IDs and two identical events get one ID (Personalize keeps only the first event with a given ID, and one
of two events with the same timestamp and properties). Action IDs are stored in the ``item_id`` column.

Messages name the record as AWS paths do, with 1-based indexes: ``eventList.2.member.properties``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pertinent.datasets.avro_schema import DatasetSchema, Field
from pertinent.datasets.csv_import import value_problem
from pertinent.errors import InvalidInputException

__all__ = [
    "KINDS",
    "MAX_EVENT_BYTES",
    "RESERVED_PROPERTY_KEYS",
    "EventRow",
    "action_interaction_rows",
    "action_rows",
    "camel_case",
    "interaction_rows",
    "item_rows",
    "user_rows",
]

#: The ``kind`` column of the events table, one per operation.
KINDS: Final = ("interaction", "item", "user", "action", "action_interaction")

#: The largest event, serialized as sent, that PutEvents / PutActionInteractions accept (10 KB, §12).
MAX_EVENT_BYTES: Final = 10 * 1024

#: Keys that may not appear in an event's ``properties`` (compared ignoring case), as AWS documents.
RESERVED_PROPERTY_KEYS: Final = (
    "userId",
    "sessionId",
    "eventType",
    "timestamp",
    "recommendationId",
    "impression",
)

# Seeds the event IDs generated for events sent without one (any fixed UUID would do).
_EVENT_ID_NAMESPACE: Final = uuid.UUID("5d0f3c8e-7f6b-5b8a-9a51-2f0e8d7c6b41")


@dataclass(frozen=True)
class EventRow:
    """One row of the ``events`` table, less ``seq`` and ``received``, which the store assigns."""

    dataset_group_arn: str
    kind: str  # one of KINDS
    user_id: str | None
    session_id: str | None
    item_id: str | None  # the ITEM_ID, or the ACTION_ID of actions and action interactions
    event_type: str | None
    event_value: float | None
    timestamp: float  # sentAt / timestamp of events; the time received for items, users and actions
    body: str | None  # the JSON object of the full dataset row, keyed by column name

    def as_dict(self) -> dict[str, Any]:
        """The row keyed by the events table's column names, ready for an INSERT."""
        return {
            "dataset_group_arn": self.dataset_group_arn,
            "kind": self.kind,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "item_id": self.item_id,
            "event_type": self.event_type,
            "event_value": self.event_value,
            "timestamp": self.timestamp,
            "body": self.body,
        }


def camel_case(column: str) -> str:
    """The ``properties`` key of a schema column: ``NUMBER_OF_RATINGS`` → ``numberOfRatings``.

    ``GENRE_L2`` → ``genreL2``, ``AGE`` → ``age``; a name already in camelCase (``numberOfRatings``) is kept.
    """
    parts = [part for part in column.split("_") if part]
    if not parts:
        return column
    if "_" not in column and not column.isupper():
        return column[0].lower() + column[1:]
    return parts[0].lower() + "".join(part.capitalize() for part in parts[1:])


# ----------------------------------------------------------------------------------------------------------
# The five operations


@dataclass(frozen=True)
class _Kind:
    """What differs between the five record kinds."""

    kind: str
    dataset: str  # the dataset type as messages spell it
    list_member: str  # the request's list member, for paths
    members: Mapping[str, str]  # snake_case member → wire name, for size, event IDs and messages
    standard: tuple[str, ...]  # columns every body holds, whether or not the schema has them
    needs_column: frozenset[str]  # columns whose member is refused when the schema lacks them
    reserved: bool  # whether RESERVED_PROPERTY_KEYS apply to properties
    #: reserved columns an event may leave out even when the schema declares them non-nullable (AWS lists
    #: their members as optional; IMPRESSION is then implicit, from recommendationId): stored as ""
    never_required: frozenset[str] = frozenset()


_INTERACTION: Final = _Kind(
    kind="interaction",
    dataset="Interactions",
    list_member="eventList",
    members={
        "event_id": "eventId",
        "event_type": "eventType",
        "event_value": "eventValue",
        "item_id": "itemId",
        "properties": "properties",
        "sent_at": "sentAt",
        "recommendation_id": "recommendationId",
        "impression": "impression",
        "metric_attribution": "metricAttribution",
    },
    standard=(
        "USER_ID",
        "ITEM_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        "EVENT_VALUE",
        "IMPRESSION",
        "RECOMMENDATION_ID",
        "EVENT_ATTRIBUTION_SOURCE",
        "EVENT_ID",
    ),
    needs_column=frozenset({"EVENT_VALUE", "IMPRESSION"}),
    reserved=True,
    never_required=frozenset({"IMPRESSION", "RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE"}),
)
_ACTION_INTERACTION: Final = _Kind(
    kind="action_interaction",
    dataset="Action_Interactions",
    list_member="actionInteractions",
    members={
        "action_id": "actionId",
        "user_id": "userId",
        "session_id": "sessionId",
        "timestamp": "timestamp",
        "event_type": "eventType",
        "event_id": "eventId",
        "recommendation_id": "recommendationId",
        "impression": "impression",
        "properties": "properties",
    },
    standard=(
        "USER_ID",
        "ACTION_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        "IMPRESSION",
        "RECOMMENDATION_ID",
        "EVENT_ID",
    ),
    needs_column=frozenset({"IMPRESSION"}),
    reserved=True,
    never_required=frozenset({"IMPRESSION", "RECOMMENDATION_ID"}),
)
_ITEM: Final = _Kind(
    kind="item",
    dataset="Items",
    list_member="items",
    members={"item_id": "itemId", "properties": "properties"},
    standard=("ITEM_ID",),
    needs_column=frozenset(),
    reserved=False,
)
_USER: Final = _Kind(
    kind="user",
    dataset="Users",
    list_member="users",
    members={"user_id": "userId", "properties": "properties"},
    standard=("USER_ID",),
    needs_column=frozenset(),
    reserved=False,
)
_ACTION: Final = _Kind(
    kind="action",
    dataset="Actions",
    list_member="actions",
    members={"action_id": "actionId", "properties": "properties"},
    standard=("ACTION_ID",),
    needs_column=frozenset(),
    reserved=False,
)


def interaction_rows(
    dataset_group_arn: str,
    schema: DatasetSchema | None,
    user_id: str | None,
    session_id: str,
    event_list: Sequence[Mapping[str, Any]],
) -> list[EventRow]:
    """The rows of one PutEvents request (``user_id`` None: anonymous events, tied to ``session_id``).

    ``schema`` is the dataset group's Interactions schema, or None when the group has no Interactions
    dataset yet, which is an error: the events would have nowhere to go.
    """
    if schema is None:
        raise InvalidInputException(
            "The dataset group has no Interactions dataset, so PutEvents has nowhere to record events; "
            "create one first (CreateSchema, then CreateDataset with datasetType Interactions)."
        )
    user = _optional_id(user_id, "userId", schema.get("USER_ID"))
    session = _required_string(session_id, "sessionId")
    events = _record_list(event_list, _INTERACTION.list_member)
    rows: list[EventRow] = []
    for index, event in enumerate(events, start=1):
        where = f"{_INTERACTION.list_member}.{index}.member"
        record = _record(event, where)
        properties = _raw_properties(record.get("properties"), f"{where}.properties")
        event_type = _required_string(record.get("event_type"), f"{where}.eventType")
        sent_at = _epoch_seconds(record.get("sent_at"), f"{where}.sentAt")
        event_value = _optional_number(record.get("event_value"), f"{where}.eventValue")
        attribution = _attribution_source(record.get("metric_attribution"), where)
        event_id = _optional_string(record.get("event_id"), f"{where}.eventId")
        direct = {
            "USER_ID": _Direct("userId", user),
            "ITEM_ID": _Direct("itemId", _optional_string(record.get("item_id"), f"{where}.itemId")),
            "TIMESTAMP": _Direct("sentAt", math.floor(sent_at)),
            "EVENT_TYPE": _Direct("eventType", event_type),
            "EVENT_VALUE": _Direct("eventValue", event_value),
            "IMPRESSION": _Direct("impression", _impression(record.get("impression"), f"{where}.impression")),
            "RECOMMENDATION_ID": _Direct(
                "recommendationId",
                _optional_string(record.get("recommendation_id"), f"{where}.recommendationId"),
            ),
            "EVENT_ATTRIBUTION_SOURCE": _Direct("metricAttribution.eventAttributionSource", attribution),
            "EVENT_ID": _Direct(
                "eventId",
                event_id or _generated_event_id(dataset_group_arn, user, session, _INTERACTION, record),
            ),
        }
        body = _body(_INTERACTION, schema, where, direct, properties, anonymous=user is None)
        _check_size(_INTERACTION, record, where)
        rows.append(
            EventRow(
                dataset_group_arn=dataset_group_arn,
                kind=_INTERACTION.kind,
                user_id=user,
                session_id=session,
                item_id=_as_text(body["ITEM_ID"]),
                event_type=event_type,
                event_value=_as_float(body["EVENT_VALUE"]),
                timestamp=sent_at,
                body=_dump(body),
            )
        )
    return rows


def action_interaction_rows(
    dataset_group_arn: str, schema: DatasetSchema, action_interactions: Sequence[Mapping[str, Any]]
) -> list[EventRow]:
    """The rows of one PutActionInteractions request, for the Action_Interactions dataset's ``schema``.

    Each interaction carries its own ``session_id`` and optional ``user_id`` (None: anonymous).
    """
    records = _record_list(action_interactions, _ACTION_INTERACTION.list_member)
    rows: list[EventRow] = []
    for index, raw in enumerate(records, start=1):
        where = f"{_ACTION_INTERACTION.list_member}.{index}.member"
        record = _record(raw, where)
        properties = _raw_properties(record.get("properties"), f"{where}.properties")
        action_id = _required_string(record.get("action_id"), f"{where}.actionId")
        user = _optional_id(record.get("user_id"), f"{where}.userId", schema.get("USER_ID"))
        session = _required_string(record.get("session_id"), f"{where}.sessionId")
        timestamp = _epoch_seconds(record.get("timestamp"), f"{where}.timestamp")
        event_type = _required_string(record.get("event_type"), f"{where}.eventType")
        event_id = _optional_string(record.get("event_id"), f"{where}.eventId")
        direct = {
            "USER_ID": _Direct("userId", user),
            "ACTION_ID": _Direct("actionId", action_id),
            "TIMESTAMP": _Direct("timestamp", math.floor(timestamp)),
            "EVENT_TYPE": _Direct("eventType", event_type),
            "IMPRESSION": _Direct("impression", _impression(record.get("impression"), f"{where}.impression")),
            "RECOMMENDATION_ID": _Direct(
                "recommendationId",
                _optional_string(record.get("recommendation_id"), f"{where}.recommendationId"),
            ),
            "EVENT_ID": _Direct(
                "eventId",
                event_id
                or _generated_event_id(dataset_group_arn, user, session, _ACTION_INTERACTION, record),
            ),
        }
        body = _body(_ACTION_INTERACTION, schema, where, direct, properties, anonymous=user is None)
        _check_size(_ACTION_INTERACTION, record, where)
        rows.append(
            EventRow(
                dataset_group_arn=dataset_group_arn,
                kind=_ACTION_INTERACTION.kind,
                user_id=user,
                session_id=session,
                item_id=action_id,
                event_type=event_type,
                event_value=None,
                timestamp=timestamp,
                body=_dump(body),
            )
        )
    return rows


def item_rows(
    dataset_group_arn: str, schema: DatasetSchema, items: Sequence[Mapping[str, Any]], now: float
) -> list[EventRow]:
    """The rows of one PutItems request for the Items dataset's ``schema``, stamped with ``now``."""
    return _catalog_rows(_ITEM, "item_id", "ITEM_ID", dataset_group_arn, schema, items, now)


def user_rows(
    dataset_group_arn: str, schema: DatasetSchema, users: Sequence[Mapping[str, Any]], now: float
) -> list[EventRow]:
    """The rows of one PutUsers request for the Users dataset's ``schema``, stamped with ``now``."""
    return _catalog_rows(_USER, "user_id", "USER_ID", dataset_group_arn, schema, users, now)


def action_rows(
    dataset_group_arn: str, schema: DatasetSchema, actions: Sequence[Mapping[str, Any]], now: float
) -> list[EventRow]:
    """The rows of one PutActions request for the Actions dataset's ``schema``, stamped with ``now``.

    The ACTION_ID goes in the row's ``item_id`` column.
    """
    return _catalog_rows(_ACTION, "action_id", "ACTION_ID", dataset_group_arn, schema, actions, now)


def _catalog_rows(
    kind: _Kind,
    id_member: str,
    id_column: str,
    dataset_group_arn: str,
    schema: DatasetSchema,
    records: Sequence[Mapping[str, Any]],
    now: float,
) -> list[EventRow]:
    """Items, users and actions: an ID and properties, upserted by ID."""
    received = _epoch_seconds(now, "the time received")
    rows: list[EventRow] = []
    for index, raw in enumerate(_record_list(records, kind.list_member), start=1):
        where = f"{kind.list_member}.{index}.member"
        record = _record(raw, where)
        wire = kind.members[id_member]
        record_id = _required_string(record.get(id_member), f"{where}.{wire}")
        body = _body(kind, schema, where, {id_column: _Direct(wire, record_id)}, record.get("properties"))
        rows.append(
            EventRow(
                dataset_group_arn=dataset_group_arn,
                kind=kind.kind,
                user_id=record_id if id_column == "USER_ID" else None,
                session_id=None,
                item_id=None if id_column == "USER_ID" else record_id,
                event_type=None,
                event_value=None,
                timestamp=received,
                body=_dump(body),
            )
        )
    return rows


# ----------------------------------------------------------------------------------------------------------
# The dataset row


@dataclass(frozen=True)
class _Direct:
    """A column fed by a request member: the member's wire path and its value (None when absent)."""

    member: str
    value: str | int | float | None


def _body(
    kind: _Kind,
    schema: DatasetSchema,
    where: str,
    direct: Mapping[str, _Direct],
    raw_properties: Any,
    anonymous: bool = False,
) -> dict[str, Any]:
    """The full dataset row of one record, keyed by column name, or InvalidInputException."""
    values: dict[str, Any] = {}
    for column, given in direct.items():
        if given.value is None:
            continue
        found = schema.get(column)
        if found is None:
            if column in kind.needs_column:
                raise InvalidInputException(
                    f"{where}.{given.member}: the {kind.dataset} schema has no {column} field, so "
                    f"{given.member} cannot be recorded; add a nullable {column} field to the schema or "
                    f"leave {given.member} out."
                )
            values[column] = given.value
        else:
            values[column] = _typed_value(given.value, found, f"{where}.{given.member}")

    properties = _properties(raw_properties, f"{where}.properties")
    by_key = {_normalized(f.name): f for f in schema.fields}
    source: dict[str, str] = {}  # column → the key that set it
    for key, raw_value in properties:
        normalized = _normalized(key) if key.isascii() else None
        if kind.reserved and normalized in _RESERVED_NORMALIZED:
            raise InvalidInputException(
                f'{where}.properties: "{_clip(key)}" cannot be a properties key: '
                f"{', '.join(RESERVED_PROPERTY_KEYS)} (in any letter case) are reserved for the request's own "
                "fields."
            )
        found = by_key.get(normalized) if normalized is not None else None
        if found is None:
            raise InvalidInputException(
                f'{where}.properties: "{_clip(key)}" {_unknown_key(kind, schema, direct)}'
            )
        column = found.name
        if column in source:
            first = source[column]
            twice = (
                f'"{_clip(first)}" appears twice'
                if first == key
                else f'"{_clip(first)}" and "{_clip(key)}" both set {column}'
            )
            raise InvalidInputException(f"{where}.properties: {twice}.")
        source[column] = key
        value = _property_value(raw_value, found, f'{where}.properties "{_clip(key)}"')
        fed = direct.get(column)
        if fed is not None and fed.value is not None:
            if value != values[column]:
                raise InvalidInputException(
                    f'{where}.properties: "{_clip(key)}" sets {column} to {_shown(value)}, but '
                    f"{fed.member} is {_shown(values[column])}; give it once."
                )
            continue
        values[column] = value

    body = {f.name: values.get(f.name) for f in schema.fields}
    for column in kind.never_required:
        found = schema.get(column)
        if found is not None and not found.nullable and body[column] is None:
            body[column] = ""  # no explicit impressions (or no ID): an empty, not a missing, value
    for column in kind.standard:
        body.setdefault(column, values.get(column))
    _check_required(kind, schema, where, direct, body, raw_properties is None, anonymous)
    return body


def _check_required(
    kind: _Kind,
    schema: DatasetSchema,
    where: str,
    direct: Mapping[str, _Direct],
    body: Mapping[str, Any],
    no_properties: bool,
    anonymous: bool,
) -> None:
    """Every non-nullable column has a value (USER_ID may be missing on anonymous events)."""
    missing = [f for f in schema.fields if not f.nullable and body[f.name] is None]
    missing = [f for f in missing if not (anonymous and f.name == "USER_ID")]
    for f in missing:
        if f.name in direct:
            member = direct[f.name].member
            raise InvalidInputException(
                f"{member} is required for {where}: the {kind.dataset} schema's {f.name} field is not nullable."
            )
    if not missing:
        return
    names = ", ".join(f.name for f in missing)
    keys = ", ".join(f'"{camel_case(f.name)}"' for f in missing)
    plural = "s" if len(missing) > 1 else ""
    is_are = "are" if len(missing) > 1 else "is"
    if no_properties:
        raise InvalidInputException(
            f"{where}.properties is required: the {kind.dataset} schema's field{plural} {names} {is_are} not "
            f"nullable (properties key{plural} {keys})."
        )
    raise InvalidInputException(
        f"{where}.properties has no value for {names} (key{plural} {keys}); the {kind.dataset} schema's "
        f"field{plural} {is_are} not nullable."
    )


def _unknown_key(kind: _Kind, schema: DatasetSchema, direct: Mapping[str, _Direct]) -> str:
    """The end of the message for a properties key that names no column."""
    settable = [
        camel_case(f.name)
        for f in schema.fields
        if f.name not in direct and not (kind.reserved and _normalized(f.name) in _RESERVED_NORMALIZED)
    ]
    fields = ", ".join(schema.names)
    if not settable:
        return f"is not a field of the {kind.dataset} schema ({fields}), which has no fields to set in properties."
    return (
        f"is not a field of the {kind.dataset} schema ({fields}); keys are the camelCase names of its "
        f"fields: {', '.join(settable)}."
    )


_RESERVED_NORMALIZED: Final = frozenset(key.upper() for key in RESERVED_PROPERTY_KEYS)


def _normalized(name: str) -> str:
    """Column names and keys compared as CreateSchema compares names: no underscores, upper case."""
    return name.replace("_", "").upper()


# ----------------------------------------------------------------------------------------------------------
# properties and values


class _Object(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in order, so that repeated keys can be reported."""


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    return _Object(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _raw_properties(raw: Any, where: str) -> str | None:
    """The ``properties`` member, which must be absent or a string (holding a JSON object)."""
    if raw is not None and not isinstance(raw, str):
        raise InvalidInputException(
            f"Error parsing properties json at {where}: properties must be a string holding a JSON object, "
            f'such as "{{\\"numberOfRatings\\": \\"12\\"}}".'
        )
    return raw


def _properties(raw: Any, where: str) -> list[tuple[str, Any]]:
    """The (key, value) pairs of a ``properties`` JSON string; ``[]`` when absent."""
    raw = _raw_properties(raw, where)
    if raw is None:
        return []
    try:
        document = json.loads(raw, object_pairs_hook=_object_pairs, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidInputException(f"Error parsing properties json at {where}: {reason}.") from None
    if not isinstance(document, _Object):
        raise InvalidInputException(
            f"Error parsing properties json at {where}: expected a JSON object such as "
            f'{{"numberOfRatings": "12"}}, not {_json_kind(document)}.'
        )
    return list(document)


def _json_kind(value: Any) -> str:
    if isinstance(value, _Object):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _property_value(value: Any, f: Field, where: str) -> Any:
    """A JSON value from properties, checked and typed for column ``f``."""
    if isinstance(value, list):
        hint = ' (write several categorical values as one string: "Horror|Action")' if f.categorical else ""
        raise InvalidInputException(
            f"{where}: {f.name} takes a string, number or boolean, not {_json_kind(value)}{hint}."
        )
    return _typed_value(value, f, where)


def _typed_value(value: Any, f: Field, where: str) -> Any:
    """``value`` (str, number, bool or None) as column ``f`` stores it, under the CSV import's rules."""
    text = _csv_text(value)
    if problem := value_problem(text, f):
        raise InvalidInputException(f"{where}: {problem}")
    if text == "":
        return None
    if f.type == "string":
        return text
    if f.type == "boolean":
        return text == "true"
    if f.type in ("int", "long"):
        return int(text)
    return float(text)


def _csv_text(value: Any) -> str:
    """How ``value`` would be written in a CSV file."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _as_text(value: Any) -> str | None:
    return None if value is None else _csv_text(value)


def _as_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _dump(body: Mapping[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# ----------------------------------------------------------------------------------------------------------
# Request members


def _record_list(records: Any, member: str) -> list[Mapping[str, Any]]:
    if not isinstance(records, Sequence) or isinstance(records, str | bytes):
        raise InvalidInputException(f"{member} must be a list.")
    return list(records)


def _record(record: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(record, Mapping) or not all(isinstance(key, str) for key in record):
        raise InvalidInputException(f"{where} must be a structure.")
    return record


def _required_string(value: Any, where: str) -> str:
    if value is None or value == "":
        raise InvalidInputException(f"{where} is required.")
    if not isinstance(value, str):
        raise InvalidInputException(f"{where} must be a string.")
    return value


def _optional_string(value: Any, where: str) -> str | None:
    return None if value is None else _required_string(value, where)


def _optional_id(value: Any, where: str, f: Field | None) -> str | None:
    text = _optional_string(value, where)
    if text is not None and f is not None and (problem := value_problem(text, f)):
        raise InvalidInputException(f"{where}: {problem}")
    return text


def _optional_number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputException(f"{where} must be a number.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidInputException(f"{where} must be a finite number.")
    return number


#: the latest instant an ISO-8601 timestamp (and botocore) can express, 9999-12-31T23:59:59Z
MAX_EPOCH_SECONDS = 253_402_300_799


def _epoch_seconds(value: Any, where: str) -> float:
    """Unix seconds (Personalize's TIMESTAMP is epoch seconds), from 1970 to the end of year 9999."""
    seconds = _optional_number(value, where)
    if seconds is None:
        raise InvalidInputException(f"{where} is required.")
    if not 0 <= seconds <= MAX_EPOCH_SECONDS:
        raise InvalidInputException(
            f"{where} must be a Unix time in seconds between 0 and {MAX_EPOCH_SECONDS} (9999-12-31), "
            f"not {value!r:.40}."
        )
    return seconds


def _impression(value: Any, where: str) -> str | None:
    """The impression list as the IMPRESSION column stores it: ``"i1|i2|i3"``."""
    if value is None or (isinstance(value, list | tuple) and not value):
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise InvalidInputException(f"{where} must be a list of item IDs.")
    for position, item in enumerate(value, start=1):
        if not item or "|" in item:
            raise InvalidInputException(
                f"{where}: item {position}, {_shown(item)}, is not a valid item ID in an impression "
                '(IDs are stored "|"-separated, so they cannot be empty or contain "|").'
            )
    return "|".join(value)


def _attribution_source(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputException(f"{where}.metricAttribution must be a structure.")
    return _required_string(
        value.get("event_attribution_source"), f"{where}.metricAttribution.eventAttributionSource"
    )


def _wire_event(kind: _Kind, record: Mapping[str, Any]) -> dict[str, Any]:
    """The known members of an event, as the client sent them (wire names, absent members left out)."""
    wire: dict[str, Any] = {}
    for member, name in kind.members.items():
        value = record.get(member)
        if value is None:
            continue
        if member == "metric_attribution":
            value = {"eventAttributionSource": value.get("event_attribution_source")}
        elif isinstance(value, tuple):
            value = list(value)
        wire[name] = value
    return wire


def _check_size(kind: _Kind, record: Mapping[str, Any], where: str) -> None:
    size = len(json.dumps(_wire_event(kind, record), ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_EVENT_BYTES:
        raise InvalidInputException(
            f"{where} is {size} bytes long as JSON; an event may be at most 10 KB ({MAX_EVENT_BYTES} bytes)."
        )


def _generated_event_id(
    dataset_group_arn: str, user_id: str | None, session_id: str, kind: _Kind, record: Mapping[str, Any]
) -> str:
    """An event ID from the event's content: the same event (a retry, a duplicate) gets the same ID."""
    content = json.dumps(
        [dataset_group_arn, kind.kind, user_id, session_id, _wire_event(kind, record)],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, content))


# ----------------------------------------------------------------------------------------------------------
# Message helpers


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width] + "…"


def _shown(value: Any) -> str:
    return json.dumps(_clip(value) if isinstance(value, str) else value, ensure_ascii=False)
