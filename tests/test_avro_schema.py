"""CreateSchema and CreateDataset validation: pertinent.datasets.avro_schema."""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.datasets.avro_schema import (
    DATASET_TYPES,
    FIELD_TYPES,
    ID_FIELD,
    DatasetSchema,
    Field,
    check_schema_for_dataset,
    normalize_dataset_type,
    parse_schema,
)
from pertinent.errors import InvalidInputException


def avro(*fields: Any, name: str = "Schema") -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "com.amazonaws.personalize.schema",
            "fields": list(fields),
            "version": "1.0",
        }
    )


def f(name: str, type_: Any = "string", **flags: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **flags}


INTERACTIONS = [f("USER_ID"), f("ITEM_ID"), f("TIMESTAMP", "long")]


# -- dataset types -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Interactions", "INTERACTIONS"),
        ("interactions", "INTERACTIONS"),
        ("ITEMS", "ITEMS"),
        ("Users", "USERS"),
        ("Actions", "ACTIONS"),
        ("Action_Interactions", "ACTION_INTERACTIONS"),
        ("action_interactions", "ACTION_INTERACTIONS"),
    ],
)
def test_dataset_types_are_case_insensitive(text: str, expected: str) -> None:
    assert normalize_dataset_type(text) == expected


@pytest.mark.parametrize("text", ["Ratings", "ActionInteractions", "", "Item"])
def test_unknown_dataset_type_lists_the_valid_ones(text: str) -> None:
    with pytest.raises(InvalidInputException) as info:
        normalize_dataset_type(text)
    assert info.value.message == (
        f"Dataset type {text!r} is not valid. Valid types: Interactions, Items, Users, Actions, "
        "Action_Interactions."
    )


def test_id_field_names_the_replacement_key_of_each_dataset_type() -> None:
    assert set(ID_FIELD) == set(DATASET_TYPES)
    assert (
        ID_FIELD["ITEMS"] == "ITEM_ID"
        and ID_FIELD["USERS"] == "USER_ID"
        and ID_FIELD["ACTIONS"] == "ACTION_ID"
    )
    assert ID_FIELD["INTERACTIONS"] is None and ID_FIELD["ACTION_INTERACTIONS"] is None


# -- parse_schema: what is accepted --------------------------------------------------------------------------


def test_parses_every_type_nullability_and_flag() -> None:
    schema = parse_schema(
        avro(
            f("ITEM_ID"),
            f("GENRES", ["null", "string"], categorical=True),
            f("DESCRIPTION", ["string", "null"], textual=True),
            f("YEAR", "int"),
            f("CREATION_TIMESTAMP", "long"),
            f("PRICE", ["null", "float"]),
            f("RATING", {"type": "double"}),
            f("ADULT", ["boolean"], categorical=False),
        )
    )
    assert schema.fields == (
        Field("ITEM_ID", "string", nullable=False),
        Field("GENRES", "string", nullable=True, categorical=True),
        Field("DESCRIPTION", "string", nullable=True, textual=True),
        Field("YEAR", "int"),
        Field("CREATION_TIMESTAMP", "long"),
        Field("PRICE", "float", nullable=True),
        Field("RATING", "double"),
        Field("ADULT", "boolean"),
    )
    assert schema.names == (
        "ITEM_ID",
        "GENRES",
        "DESCRIPTION",
        "YEAR",
        "CREATION_TIMESTAMP",
        "PRICE",
        "RATING",
        "ADULT",
    )
    assert schema.field("GENRES").categorical
    assert schema.get("genres") is None
    with pytest.raises(KeyError):
        schema.field("MISSING")
    assert schema.arrow_schema() == pa.schema(
        [
            pa.field("ITEM_ID", pa.string(), nullable=False),
            pa.field("GENRES", pa.string()),
            pa.field("DESCRIPTION", pa.string()),
            pa.field("YEAR", pa.int32(), nullable=False),
            pa.field("CREATION_TIMESTAMP", pa.int64(), nullable=False),
            pa.field("PRICE", pa.float32()),
            pa.field("RATING", pa.float64(), nullable=False),
            pa.field("ADULT", pa.bool_(), nullable=False),
        ]
    )


def test_field_describes_itself_for_messages() -> None:
    assert (
        Field("GENRES", "string", nullable=True, categorical=True).describe()
        == "GENRES (categorical string, nullable)"
    )
    assert Field("TIMESTAMP", "long").describe() == "TIMESTAMP (long)"


# -- parse_schema: what is refused, and the message ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{",
            "The schema is not valid JSON: Expecting property name enclosed in double quotes: line 1 column "
            "2 (char 1).",
        ),
        ("[]", 'The schema must be a JSON object with "type": "record".'),
        (
            json.dumps({"type": "enum", "name": "X", "symbols": []}),
            'The schema must be an Avro record ("type": "record"), not "enum".',
        ),
        (
            json.dumps({"type": "record", "fields": [f("A")]}),
            'The schema must have a "name", for example "Interactions".',
        ),
        (json.dumps({"type": "record", "name": "X"}), 'The schema must have a non-empty "fields" list.'),
        (avro(), 'The schema must have a non-empty "fields" list.'),
        (avro("USER_ID"), "Field 1 of the schema must be a JSON object."),
        (avro(f("A"), {"type": "string"}), 'Field 2 of the schema has no "name".'),
        (
            avro(f("1ST")),
            "Field name '1ST' is not valid: names start with a letter or underscore and contain only "
            "letters, digits and underscores.",
        ),
        (
            avro(f("ITEM-ID")),
            "Field name 'ITEM-ID' is not valid: names start with a letter or underscore and contain only "
            "letters, digits and underscores.",
        ),
        (avro({"name": "A"}), 'Field A has no "type".'),
        (
            avro(f("A", {"type": "record", "name": "R", "fields": []})),
            "Field A: nested types (record) are not supported; schemas must be flat.",
        ),
        (
            avro(f("A", {"type": "array", "items": "string"})),
            "Field A: nested types (array) are not supported; schemas must be flat.",
        ),
        (
            avro(f("A", {"type": "map", "values": "string"})),
            "Field A: nested types (map) are not supported; schemas must be flat.",
        ),
        (
            avro(f("A", ["null", {"type": "enum", "name": "E", "symbols": ["X"]}])),
            "Field A: nested types (enum) are not supported; schemas must be flat.",
        ),
        (
            avro(f("A", "bytes")),
            'Field A: type "bytes" is not supported; use one of string, int, long, float, double, boolean.',
        ),
        (
            avro(f("A", "null")),
            'Field A: a field cannot be only null; use a union such as ["null", "string"].',
        ),
        (
            avro(f("A", ["null", "string", "int"])),
            'Field A: a union must pair exactly one type with null, like ["null", "string"]; got ["null", '
            '"string", "int"].',
        ),
        (
            avro(f("A", ["null"])),
            'Field A: a union must pair exactly one type with null, like ["null", "string"]; got ["null"].',
        ),
        (avro(f("A", ["null", "null"])), 'Field A: the union ["null", "null"] repeats a type.'),
        (avro(f("A", ["null", 3])), "Field A: every branch of a union must be a type name."),
        (avro(f("A", 7)), "Field A: 7 is not a valid type."),
        (avro(f("A"), f("A")), "Field name A appears more than once."),
        (
            avro(f("GENRES_FIELD_1"), f("GENRESFIELD1")),
            "Field names GENRES_FIELD_1 and GENRESFIELD1 conflict: names must differ by more than "
            "underscores and letter case.",
        ),
        (
            avro(f("USER_ID"), f("user_id")),
            "Field names USER_ID and user_id conflict: names must differ by more than underscores and letter "
            "case.",
        ),
        (
            avro(f("A", "int", categorical=True)),
            "Field A: only string fields can be categorical; this one is int.",
        ),
        (
            avro(f("A", ["null", "long"], textual=True)),
            "Field A: only string fields can be textual; this one is long.",
        ),
        (avro(f("A", categorical=True, textual=True)), "Field A cannot be both categorical and textual."),
        (avro(f("A", categorical="true")), "Field A: 'categorical' must be true or false, not \"true\"."),
        (" " * 20001, "The schema is 20001 characters long; the maximum is 20000."),
    ],
)
def test_invalid_schemas_are_refused_with_a_specific_message(text: str, message: str) -> None:
    with pytest.raises(InvalidInputException) as info:
        parse_schema(text)
    assert info.value.message == message


# -- parse_schema: properties --------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


@st.composite
def valid_fields(draw: st.DrawFn) -> list[Field]:
    chosen = draw(st.lists(names, min_size=1, max_size=12, unique_by=lambda n: n.replace("_", "").upper()))
    fields = []
    for name in chosen:
        type_ = draw(st.sampled_from(FIELD_TYPES))
        flag = draw(st.sampled_from(["", "categorical", "textual"])) if type_ == "string" else ""
        fields.append(Field(name, type_, draw(st.booleans()), flag == "categorical", flag == "textual"))
    return fields


def to_avro(field: Field, style: int) -> dict[str, Any]:
    """One of the equivalent Avro spellings of ``field``."""
    type_: Any = field.type if style == 0 else {"type": field.type}
    if field.nullable:
        type_ = ["null", field.type] if style == 0 else [field.type, "null"]
    out: dict[str, Any] = {"name": field.name, "type": type_}
    if field.categorical or style == 1:
        out["categorical"] = field.categorical
    if field.textual or style == 1:
        out["textual"] = field.textual
    return out


@given(valid_fields(), st.integers(0, 1))
def test_generated_valid_schemas_parse_to_their_fields(fields: list[Field], style: int) -> None:
    schema = parse_schema(avro(*(to_avro(x, style) for x in fields)))
    assert schema == DatasetSchema(tuple(fields))
    assert schema.arrow_schema().names == [x.name for x in fields]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(["record", "string", "null"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "name", "fields", "categorical", "textual", "items"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(json_values)
@settings(max_examples=300)
def test_arbitrary_json_is_either_a_schema_or_invalid_input(doc: Any) -> None:
    for candidate in (
        doc,
        {"type": "record", "name": "X", "fields": doc},
        {"type": "record", "name": "X", "fields": [doc]},
    ):
        try:
            parse_schema(json.dumps(candidate))
        except InvalidInputException as exc:
            assert exc.message


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_invalid_input(text: str) -> None:
    try:
        parse_schema(text)
    except InvalidInputException:
        pass


# -- check_schema_for_dataset: accepted ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset_type", "domain", "fields"),
    [
        ("Interactions", None, INTERACTIONS),
        (
            "INTERACTIONS",
            None,
            [
                *INTERACTIONS,
                f("EVENT_TYPE"),
                f("EVENT_VALUE", ["null", "float"]),
                f("IMPRESSION", ["null", "string"]),
                f("RECOMMENDATION_ID", ["null", "string"]),
                f("EVENT_ATTRIBUTION_SOURCE", ["null", "string"]),
                f("DEVICE", categorical=True),
                *[f(f"M{i}", "int") for i in range(4)],
            ],
        ),
        ("Interactions", "ECOMMERCE", [*INTERACTIONS, f("EVENT_TYPE")]),
        ("Interactions", "VIDEO_ON_DEMAND", [*INTERACTIONS, f("EVENT_TYPE"), f("EVENT_VALUE", "double")]),
        ("Items", None, [f("ITEM_ID"), f("GENRES", categorical=True)]),
        ("Items", None, [f("ITEM_ID"), f("CREATION_TIMESTAMP", "long")]),
        (
            "Items",
            None,
            [
                f("ITEM_ID"),
                f("DESCRIPTION", ["null", "string"], textual=True),
                *[f(f"M{i}", "int") for i in range(99)],
            ],
        ),
        (
            "Items",
            "ECOMMERCE",
            [
                f("ITEM_ID"),
                f("PRICE", "float"),
                f("CATEGORY_L1", categorical=True),
                f("CATEGORY_L2", ["null", "string"], categorical=True),
                f("PRODUCT_DESCRIPTION", ["null", "string"], textual=True),
            ],
        ),
        (
            "Items",
            "VIDEO_ON_DEMAND",
            [
                f("ITEM_ID"),
                f("GENRES", categorical=True),
                f("CREATION_TIMESTAMP", "long"),
                f("DURATION", ["null", "float"]),
            ],
        ),
        ("Users", None, [f("USER_ID"), f("AGE", "int")]),
        ("Users", "ECOMMERCE", [f("USER_ID"), f("MEMBERSHIP", categorical=True)]),
        (
            "Actions",
            None,
            [f("ACTION_ID"), f("VALUE", ["null", "long"]), f("EXPIRATION_TIMESTAMP", ["null", "long"])],
        ),
        (
            "Action_Interactions",
            None,
            [f("USER_ID"), f("ACTION_ID"), f("TIMESTAMP", "long"), f("EVENT_TYPE")],
        ),
    ],
)
def test_valid_dataset_schemas_pass(
    dataset_type: str, domain: str | None, fields: list[dict[str, Any]]
) -> None:
    check_schema_for_dataset(parse_schema(avro(*fields)), dataset_type, domain)


# -- check_schema_for_dataset: refused -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset_type", "domain", "fields", "message"),
    [
        (
            "Interactions",
            None,
            [f("USER_ID"), f("ITEM_ID")],
            "Interactions schema must have a field TIMESTAMP (long).",
        ),
        (
            "Interactions",
            None,
            [f("USER_ID"), f("item_id"), f("TIMESTAMP", "long")],
            'Interactions schema must have a field ITEM_ID (string); rename field "item_id" to ITEM_ID.',
        ),
        (
            "Interactions",
            None,
            [f("USER_ID"), f("ITEM_ID"), f("TIMESTAMP", "int")],
            "Interactions schema: field TIMESTAMP must be of type long, not int.",
        ),
        (
            "Interactions",
            None,
            [f("USER_ID", ["null", "string"]), f("ITEM_ID"), f("TIMESTAMP", "long")],
            "Interactions schema: required field USER_ID cannot be nullable.",
        ),
        (
            "Interactions",
            None,
            [*INTERACTIONS, f("EVENT_TYPE", categorical=True)],
            "Interactions schema: field EVENT_TYPE is reserved and cannot be categorical.",
        ),
        (
            "Interactions",
            None,
            [*INTERACTIONS, f("EVENT_VALUE", "string")],
            "Interactions schema: field EVENT_VALUE must be of type float or double, not string.",
        ),
        (
            "Interactions",
            None,
            [*INTERACTIONS, f("event_type")],
            "Interactions schema: field event_type must be spelled EVENT_TYPE (reserved field names are "
            "upper case).",
        ),
        (
            "Interactions",
            None,
            [*INTERACTIONS, *[f(f"M{i}", "int") for i in range(6)]],
            "Interactions schema can have at most 5 metadata fields besides the required and reserved ones; "
            "it has 6 "
            "(M0, M1, M2, M3, M4, M5).",
        ),
        (
            "Interactions",
            None,
            [*INTERACTIONS, f("NOTE", textual=True)],
            "Interactions schema: field NOTE is textual, but only Items and Actions datasets can have "
            "textual fields.",
        ),
        (
            "Interactions",
            "ECOMMERCE",
            INTERACTIONS,
            "Interactions schema (domain ECOMMERCE) must have a field EVENT_TYPE (string).",
        ),
        ("Items", None, [f("ITEM_ID")], "Items schema must have at least 1 metadata field besides ITEM_ID."),
        (
            "Items",
            None,
            [f("ITEM_ID"), f("A", textual=True), f("B", textual=True)],
            "Items schema can have at most 1 textual field; it has 2 (A, B).",
        ),
        (
            "Items",
            None,
            [f("ITEM_ID"), *[f(f"M{i}", "int") for i in range(101)]],
            "Items schema can have at most 100 metadata fields besides the required and reserved ones; it "
            "has 101 "
            f"({', '.join(f'M{i}' for i in range(101))}).",
        ),
        (
            "Items",
            None,
            [f("ITEM_ID"), f("CREATION_TIMESTAMP", "double")],
            "Items schema: field CREATION_TIMESTAMP must be of type long, not double.",
        ),
        (
            "Items",
            "ECOMMERCE",
            [f("ITEM_ID"), f("PRICE", "float"), f("CATEGORY_L1")],
            'Items schema (domain ECOMMERCE): field CATEGORY_L1 must be categorical ("categorical": true).',
        ),
        (
            "Items",
            "ECOMMERCE",
            [f("ITEM_ID"), f("CATEGORY_L1", categorical=True)],
            "Items schema (domain ECOMMERCE) must have a field PRICE (float or double).",
        ),
        (
            "Items",
            "ECOMMERCE",
            [f("ITEM_ID"), f("PRICE", "float"), f("CATEGORY_L1", categorical=True), f("PRODUCT_DESCRIPTION")],
            'Items schema (domain ECOMMERCE): field PRODUCT_DESCRIPTION must be textual ("textual": true).',
        ),
        (
            "Items",
            "VIDEO_ON_DEMAND",
            [f("ITEM_ID"), f("GENRES", categorical=True)],
            "Items schema (domain VIDEO_ON_DEMAND) must have a field CREATION_TIMESTAMP (long).",
        ),
        ("Users", None, [f("USER_ID")], "Users schema must have at least 1 metadata field besides USER_ID."),
        (
            "Users",
            None,
            [f("USER_ID"), *[f(f"M{i}", "int") for i in range(26)]],
            "Users schema can have at most 25 metadata fields besides the required and reserved ones; it has "
            "26 "
            f"({', '.join(f'M{i}' for i in range(26))}).",
        ),
        (
            "Users",
            None,
            [f("USER_ID"), f("BIO", textual=True)],
            "Users schema: field BIO is textual, but only Items and Actions datasets can have textual "
            "fields.",
        ),
        (
            "Actions",
            None,
            [f("ACTION_ID"), f("VALUE", "float")],
            "Actions schema: field VALUE must be of type long, not float.",
        ),
        (
            "Actions",
            "ECOMMERCE",
            [f("ACTION_ID"), f("VALUE", "long")],
            "Actions datasets can only be created in a custom dataset group, not in a domain dataset "
            "group (ECOMMERCE).",
        ),
        (
            "Action_Interactions",
            None,
            [f("USER_ID"), f("ACTION_ID"), f("TIMESTAMP", "long")],
            "Action_Interactions schema must have a field EVENT_TYPE (string).",
        ),
        (
            "Interactions",
            "RETAIL",
            INTERACTIONS,
            "Domain 'RETAIL' is not valid. Valid domains: ECOMMERCE, VIDEO_ON_DEMAND.",
        ),
        (
            "Ratings",
            None,
            INTERACTIONS,
            "Dataset type 'Ratings' is not valid. Valid types: Interactions, Items, Users, Actions, "
            "Action_Interactions.",
        ),
    ],
)
def test_schemas_that_do_not_fit_the_dataset_are_refused(
    dataset_type: str, domain: str | None, fields: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(InvalidInputException) as info:
        check_schema_for_dataset(parse_schema(avro(*fields)), dataset_type, domain)
    assert info.value.message == message


@given(
    valid_fields(), st.sampled_from(DATASET_TYPES), st.sampled_from([None, "ECOMMERCE", "VIDEO_ON_DEMAND"])
)
def test_any_schema_either_fits_a_dataset_or_is_refused_with_a_message(
    fields: list[Field], dataset_type: str, domain: str | None
) -> None:
    try:
        check_schema_for_dataset(DatasetSchema(tuple(fields)), dataset_type, domain)
    except InvalidInputException as exc:
        assert re.match(
            r"(Interactions|Items|Users|Actions|Action_interactions|Action_Interactions)", exc.message
        )
