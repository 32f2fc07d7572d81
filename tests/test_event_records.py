"""Streamed records → event-log rows: pertinent.events.records."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.datasets.avro_schema import DatasetSchema, check_schema_for_dataset, parse_schema
from pertinent.errors import InvalidInputException
from pertinent.events.records import (
    KINDS,
    MAX_EVENT_BYTES,
    RESERVED_PROPERTY_KEYS,
    EventRow,
    action_interaction_rows,
    action_rows,
    camel_case,
    interaction_rows,
    item_rows,
    user_rows,
)
from pertinent.store.schema import events

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/movies"
NOW = 1700000500.25


def schema(*fields: dict[str, Any]) -> DatasetSchema:
    return parse_schema(json.dumps({"type": "record", "name": "Schema", "fields": list(fields)}))


def f(name: str, type_: Any = "string", **flags: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **flags}


INTERACTIONS = schema(
    f("USER_ID"),
    f("ITEM_ID"),
    f("TIMESTAMP", "long"),
    f("EVENT_TYPE"),
    f("EVENT_VALUE", ["null", "float"]),
    f("IMPRESSION", ["null", "string"]),
    f("DEVICE", ["null", "string"], categorical=True),
)
BARE_INTERACTIONS = schema(f("USER_ID"), f("ITEM_ID"), f("TIMESTAMP", "long"), f("EVENT_TYPE"))
STRICT_INTERACTIONS = schema(  # a metadata column every event must set
    f("USER_ID"), f("ITEM_ID"), f("TIMESTAMP", "long"), f("EVENT_TYPE"), f("DEVICE", categorical=True)
)
ITEMS = schema(
    f("ITEM_ID"),
    f("GENRES", categorical=True),
    f("PRICE", ["null", "float"]),
    f("TITLE", ["null", "string"], textual=True),
)
USERS = schema(f("USER_ID"), f("AGE", ["null", "int"]), f("MEMBERSHIP", categorical=True))
ACTIONS = schema(
    f("ACTION_ID"), f("VALUE", ["null", "long"]), f("CATEGORY", ["null", "string"], categorical=True)
)
ACTION_INTERACTIONS = schema(
    f("USER_ID"),
    f("ACTION_ID"),
    f("TIMESTAMP", "long"),
    f("EVENT_TYPE"),
    f("IMPRESSION", ["null", "string"]),
    f("PLATFORM", ["null", "string"], categorical=True),
)


def event(**members: Any) -> dict[str, Any]:
    """A decoded PutEvents event (snake_case members), valid for INTERACTIONS unless overridden."""
    base: dict[str, Any] = {"event_type": "click", "item_id": "m1", "sent_at": 1700000000.0}
    base.update(members)
    return {k: v for k, v in base.items() if v is not None}


def body(row: EventRow) -> dict[str, Any]:
    assert row.body is not None
    loaded: dict[str, Any] = json.loads(row.body)
    return loaded


def rejected(pattern: str) -> Any:
    return pytest.raises(InvalidInputException, match=pattern)


# -- the schemas are realistic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset_schema", "dataset_type"),
    [
        (INTERACTIONS, "Interactions"),
        (BARE_INTERACTIONS, "Interactions"),
        (STRICT_INTERACTIONS, "Interactions"),
        (ITEMS, "Items"),
        (USERS, "Users"),
        (ACTIONS, "Actions"),
        (ACTION_INTERACTIONS, "Action_Interactions"),
    ],
)
def test_fixture_schemas_are_valid_for_create_dataset(
    dataset_schema: DatasetSchema, dataset_type: str
) -> None:
    check_schema_for_dataset(dataset_schema, dataset_type, None)


# -- camelCase keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "key"),
    [
        ("NUMBER_OF_RATINGS", "numberOfRatings"),
        ("DEVICE", "device"),
        ("GENRE_L2", "genreL2"),
        ("CATEGORY_L1", "categoryL1"),
        ("EVENT_ATTRIBUTION_SOURCE", "eventAttributionSource"),
        ("numberOfRatings", "numberOfRatings"),
        ("Device", "device"),
        ("_PRIVATE_FLAG", "privateFlag"),
        ("age", "age"),
    ],
)
def test_camel_case(column: str, key: str) -> None:
    assert camel_case(column) == key


# -- PutEvents: happy paths ----------------------------------------------------------------------------------


def test_full_event_becomes_one_exact_row() -> None:
    [row] = interaction_rows(
        GROUP,
        INTERACTIONS,
        "u1",
        "s1",
        [
            event(
                event_id="e-1",
                sent_at=1700000000.75,
                event_value=4.5,
                properties='{"device": "mobile|tablet"}',
                impression=["m1", "m2", "m3"],
                recommendation_id="RID-123",
                metric_attribution={"event_attribution_source": "campaign-a"},
            )
        ],
    )
    expected_body = {
        "USER_ID": "u1",
        "ITEM_ID": "m1",
        "TIMESTAMP": 1700000000,
        "EVENT_TYPE": "click",
        "EVENT_VALUE": 4.5,
        "IMPRESSION": "m1|m2|m3",
        "DEVICE": "mobile|tablet",
        "RECOMMENDATION_ID": "RID-123",
        "EVENT_ATTRIBUTION_SOURCE": "campaign-a",
        "EVENT_ID": "e-1",
    }
    assert row == EventRow(
        dataset_group_arn=GROUP,
        kind="interaction",
        user_id="u1",
        session_id="s1",
        item_id="m1",
        event_type="click",
        event_value=4.5,
        timestamp=1700000000.75,
        body=json.dumps(expected_body, separators=(",", ":")),
    )
    assert list(body(row)) == list(expected_body)  # schema columns first, in schema order


def test_as_dict_has_the_events_table_columns() -> None:
    [row] = interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event()])
    assert set(row.as_dict()) == set(events.columns.keys()) - {"seq", "received"}
    assert row.as_dict()["timestamp"] == 1700000000.0
    assert row.kind in KINDS


def test_minimal_event_fills_every_column() -> None:
    [row] = interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event()])
    assert body(row) == {
        "USER_ID": "u1",
        "ITEM_ID": "m1",
        "TIMESTAMP": 1700000000,
        "EVENT_TYPE": "click",
        "EVENT_VALUE": None,
        "IMPRESSION": None,
        "DEVICE": None,
        "RECOMMENDATION_ID": None,
        "EVENT_ATTRIBUTION_SOURCE": None,
        "EVENT_ID": body(row)["EVENT_ID"],
    }
    assert row.event_value is None


def test_bare_schema_still_keeps_the_standard_columns() -> None:
    [row] = interaction_rows(GROUP, BARE_INTERACTIONS, "u1", "s1", [event(recommendation_id="RID-9")])
    assert body(row)["RECOMMENDATION_ID"] == "RID-9"  # implicit impressions need no column
    assert body(row)["EVENT_VALUE"] is None
    assert body(row)["IMPRESSION"] is None


def test_anonymous_events_carry_only_the_session() -> None:
    rows = interaction_rows(GROUP, INTERACTIONS, None, "anon-session", [event(), event(item_id="m2")])
    assert [(r.user_id, r.session_id, r.item_id) for r in rows] == [
        (None, "anon-session", "m1"),
        (None, "anon-session", "m2"),
    ]
    assert body(rows[0])["USER_ID"] is None


def test_events_keep_their_order_and_are_deterministic() -> None:
    batch = [event(item_id=f"m{i}", sent_at=1700000000.0 + i) for i in range(10)]
    first = interaction_rows(GROUP, INTERACTIONS, "u1", "s1", batch)
    assert [r.item_id for r in first] == [f"m{i}" for i in range(10)]
    assert interaction_rows(GROUP, INTERACTIONS, "u1", "s1", batch) == first


def test_generated_event_ids_follow_the_content() -> None:
    a, b, a_again = interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(), event(item_id="m2"), event()])
    ids = [body(r)["EVENT_ID"] for r in (a, b, a_again)]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", ids[0])
    assert ids[0] == ids[2] != ids[1]  # two identical events share an ID, so one is kept
    [retry] = interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event()])
    assert body(retry)["EVENT_ID"] == ids[0]
    [other_user] = interaction_rows(GROUP, INTERACTIONS, "u2", "s1", [event()])
    assert body(other_user)["EVENT_ID"] != ids[0]
    [given_id] = interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(event_id="mine")])
    assert body(given_id)["EVENT_ID"] == "mine"


@pytest.mark.parametrize(
    "properties",
    [
        '{"device": "mobile"}',
        '{"DEVICE": "mobile"}',
        '{"Device": "mobile"}',
        '  {\n "device" :"mobile"}  ',
    ],
)
def test_property_keys_match_columns_by_their_camel_case_name(properties: str) -> None:
    [row] = interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(properties=properties)])
    assert body(row)["DEVICE"] == "mobile"


def test_multi_word_columns_take_camel_case_keys() -> None:
    ratings = schema(
        f("USER_ID"),
        f("ITEM_ID"),
        f("TIMESTAMP", "long"),
        f("NUMBER_OF_RATINGS", ["null", "int"]),
        f("GENRE_L2", ["null", "string"], categorical=True),
    )
    [row] = interaction_rows(
        GROUP, ratings, "u1", "s1", [event(properties='{"numberOfRatings": "12", "genreL2": "Noir"}')]
    )
    assert body(row)["NUMBER_OF_RATINGS"] == 12
    assert body(row)["GENRE_L2"] == "Noir"
    assert body(row)["EVENT_TYPE"] == "click"  # kept although this schema has no EVENT_TYPE column


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ('"mobile"', "mobile"),
        ("7", "7"),  # JSON numbers are accepted for string columns as their text
        ("true", "true"),
        ('""', None),  # empty is null, as in a CSV file
        ("null", None),
    ],
)
def test_categorical_values(value: str, stored: Any) -> None:
    [row] = interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(properties=f'{{"device": {value}}}')])
    assert body(row)["DEVICE"] == stored


def test_empty_properties_object_is_fine() -> None:
    [row] = interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(properties="{}")])
    assert body(row)["DEVICE"] is None


def test_item_id_and_event_value_may_come_from_properties_as_early_clients_sent_them() -> None:
    [row] = interaction_rows(
        GROUP,
        INTERACTIONS,
        "u1",
        "s1",
        [event(item_id=None, properties='{"itemId": "m7", "eventValue": 3}')],
    )
    assert (row.item_id, row.event_value) == ("m7", 3.0)
    assert (body(row)["ITEM_ID"], body(row)["EVENT_VALUE"]) == ("m7", 3.0)
    [same] = interaction_rows(
        GROUP,
        INTERACTIONS,
        "u1",
        "s1",
        [event(event_value=3, properties='{"itemId": "m1", "eventValue": 3.0}')],
    )
    assert (same.item_id, same.event_value) == ("m1", 3.0)


def test_event_value_accepts_ints_and_timestamps_keep_the_fraction() -> None:
    [row] = interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(event_value=5, sent_at=1700000000.999)])
    assert row.event_value == 5.0
    assert row.timestamp == 1700000000.999
    assert body(row)["TIMESTAMP"] == 1700000000


def test_an_event_just_under_10_kb_is_accepted() -> None:
    big = event(event_id="e" * 256, impression=[f"{i:02d}" + "i" * 254 for i in range(25)])
    wire = {"eventId": big["event_id"], "eventType": "click", "itemId": "m1", "sentAt": 1700000000.0}
    wire["impression"] = big["impression"]
    assert len(json.dumps(wire, separators=(",", ":"))) < MAX_EVENT_BYTES
    [row] = interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [big])
    assert body(row)["IMPRESSION"].count("|") == 24


# -- PutEvents: every way to be rejected ---------------------------------------------------------------------


def test_no_interactions_dataset() -> None:
    with rejected(r"no Interactions dataset.*CreateDataset with datasetType Interactions"):
        interaction_rows(GROUP, None, "u1", "s1", [event()])


@pytest.mark.parametrize(
    ("properties", "detail"),
    [
        ("not json", "Expecting value"),
        ('{"device": "mobile"', "Expecting ',' delimiter"),
        ("{'device': 'mobile'}", "Expecting property name enclosed in double quotes"),
        ('{"device": "mobile"} trailing', "Extra data"),
        ('["mobile"]', "expected a JSON object .*not an array"),
        ('"mobile"', "not a string"),
        ("12", "not a number"),
        ("true", "not a boolean"),
        ("null", "not null"),
        ('{"device": NaN}', "NaN is not valid JSON"),
        ('{"device": Infinity}', "Infinity is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply|not an array"),
        ("", "Expecting value"),
    ],
)
def test_properties_that_are_not_a_json_object(properties: str, detail: str) -> None:
    with rejected(rf"^Error parsing properties json at eventList\.1\.member\.properties: .*(?:{detail})"):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(properties=properties)])


def test_properties_must_be_a_string() -> None:
    with rejected(r"^Error parsing properties json at eventList\.1\.member\.properties: .*must be a string"):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(properties={"device": "mobile"})])


@pytest.mark.parametrize(
    "key",
    [
        *RESERVED_PROPERTY_KEYS,
        "USERID",
        "userid",
        "SessionId",
        "EVENT_TYPE",
        "TimeStamp",
        "recommendation_id",
        "IMPRESSION",
    ],
)
def test_reserved_property_keys(key: str) -> None:
    with rejected(
        rf'^eventList\.1\.member\.properties: "{key}" cannot be a properties key: userId, sessionId'
    ):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(properties=json.dumps({key: "x"}))])


@pytest.mark.parametrize("key", ["numberOfRatings", "dev", "deviceType", "ITEMS", "dévice", ""])
def test_unknown_property_keys(key: str) -> None:
    message = (
        rf'^eventList\.1\.member\.properties: "{re.escape(key)}" is not a field of the Interactions schema '
        r"\(USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE, IMPRESSION, DEVICE\); keys are the camelCase "
        r"names of its fields: device\.$"
    )
    with rejected(message):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(properties=json.dumps({key: "x"}))])


def test_unknown_key_when_nothing_can_be_set() -> None:
    with rejected(r'"device" is not a field .*which has no fields to set in properties'):
        interaction_rows(GROUP, BARE_INTERACTIONS, "u1", "s1", [event(properties='{"device": "x"}')])


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ('{"device": "a", "device": "b"}', r'"device" appears twice\.'),
        ('{"device": "a", "DEVICE": "a"}', r'"device" and "DEVICE" both set DEVICE\.'),
    ],
)
def test_a_column_set_twice(properties: str, message: str) -> None:
    with rejected(rf"^eventList\.1\.member\.properties: {message}$"):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(properties=properties)])


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ('{"device": ["a", "b"]}', r'"device": DEVICE takes a string, number or boolean, not an array '),
        ('{"device": {"a": 1}}', r'"device": DEVICE takes a string, number or boolean, not an object'),
        (
            '{"device": "' + "x" * 1001 + '"}',
            r'"device": DEVICE value is 1001 characters long; categorical values may be at most 1000\.$',
        ),
    ],
)
def test_property_values_of_the_wrong_shape(properties: str, message: str) -> None:
    with rejected(rf"^eventList\.1\.member\.properties {message}"):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(properties=properties)])


def test_required_metadata_column() -> None:
    with rejected(
        r"^eventList\.1\.member\.properties is required: the Interactions schema's field DEVICE is not "
        r'nullable \(properties key "device"\)\.$'
    ):
        interaction_rows(GROUP, STRICT_INTERACTIONS, "u1", "s1", [event()])
    with rejected(r'^eventList\.1\.member\.properties has no value for DEVICE \(key "device"\)'):
        interaction_rows(GROUP, STRICT_INTERACTIONS, "u1", "s1", [event(properties="{}")])
    with rejected(r'properties "device": DEVICE is empty, but the field is required \(not nullable\)\.$'):
        interaction_rows(GROUP, STRICT_INTERACTIONS, "u1", "s1", [event(properties='{"device": ""}')])
    [row] = interaction_rows(GROUP, STRICT_INTERACTIONS, "u1", "s1", [event(properties='{"device": "tv"}')])
    assert body(row)["DEVICE"] == "tv"


def test_item_id_is_required() -> None:
    with rejected(
        r"^itemId is required for eventList\.1\.member: the Interactions schema's ITEM_ID field is not "
        r"nullable\.$"
    ):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(item_id=None)])
    with rejected(r'^eventList\.1\.member\.properties "itemId": ITEM_ID is empty, but the field is required'):
        interaction_rows(
            GROUP, INTERACTIONS, "u1", "s1", [event(item_id=None, properties='{"itemId": null}')]
        )


def test_properties_may_not_contradict_the_event() -> None:
    with rejected(r'^eventList\.1\.member\.properties: "itemId" sets ITEM_ID to "m2", but itemId is "m1"'):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(properties='{"itemId": "m2"}')])
    with rejected(r'"eventValue" sets EVENT_VALUE to 2\.0, but eventValue is 1\.0'):
        interaction_rows(
            GROUP, INTERACTIONS, "u1", "s1", [event(event_value=1.0, properties='{"eventValue": 2}')]
        )


def test_event_value_needs_an_event_value_column() -> None:
    with rejected(r"^eventList\.1\.member\.eventValue: the Interactions schema has no EVENT_VALUE field"):
        interaction_rows(GROUP, BARE_INTERACTIONS, "u1", "s1", [event(event_value=1.0)])
    with rejected(r'"eventValue" is not a field of the Interactions schema'):
        interaction_rows(GROUP, BARE_INTERACTIONS, "u1", "s1", [event(properties='{"eventValue": 1}')])


def test_impression_needs_an_impression_column() -> None:
    with rejected(r"^eventList\.1\.member\.impression: the Interactions schema has no IMPRESSION field"):
        interaction_rows(GROUP, BARE_INTERACTIONS, "u1", "s1", [event(impression=["m1"])])


@pytest.mark.parametrize("bad", ["a|b", ""])
def test_impression_ids_cannot_hold_the_separator(bad: str) -> None:
    with rejected(r"^eventList\.1\.member\.impression: item 2, .* is not a valid item ID in an impression"):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(impression=["m1", bad])])


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"event_value": float("nan")}, r"eventList\.1\.member\.eventValue must be a finite number\."),
        ({"event_value": float("inf")}, r"eventList\.1\.member\.eventValue must be a finite number\."),
        ({"event_value": 1e39}, r'eventValue: EVENT_VALUE value "1e\+39" is out of range for a float\.'),
        ({"event_value": "4.5"}, r"eventList\.1\.member\.eventValue must be a number\."),
        ({"event_value": True}, r"eventList\.1\.member\.eventValue must be a number\."),
        ({"sent_at": None}, r"eventList\.1\.member\.sentAt is required\."),
        ({"sent_at": "yesterday"}, r"eventList\.1\.member\.sentAt must be a number\."),
        (
            {"sent_at": 1e300},
            r"sentAt must be a Unix time in seconds between 0 and 253402300799",
        ),
        ({"event_type": None}, r"eventList\.1\.member\.eventType is required\."),
        ({"event_type": 3}, r"eventList\.1\.member\.eventType must be a string\."),
        (
            {"item_id": "i" * 257},
            r"eventList\.1\.member\.itemId: ITEM_ID value is 257 characters long; IDs may be at most 256\.",
        ),
        ({"impression": "m1"}, r"eventList\.1\.member\.impression must be a list of item IDs\."),
        ({"metric_attribution": "src"}, r"eventList\.1\.member\.metricAttribution must be a structure\."),
        (
            {"metric_attribution": {}},
            r"eventList\.1\.member\.metricAttribution\.eventAttributionSource is required\.",
        ),
    ],
)
def test_bad_event_members(members: dict[str, Any], message: str) -> None:
    with rejected(message):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(**members)])


def test_bad_request_members() -> None:
    with rejected(r"^userId: USER_ID value is 300 characters long; IDs may be at most 256\.$"):
        interaction_rows(GROUP, INTERACTIONS, "u" * 300, "s1", [event()])
    with rejected(r"^sessionId is required\.$"):
        interaction_rows(GROUP, INTERACTIONS, "u1", "", [event()])
    with rejected(r"^eventList\.2\.member must be a structure\.$"):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(), "click"])  # type: ignore[list-item]


def test_an_event_over_10_kb_is_rejected() -> None:
    huge = event(
        event_type="t" * 256,
        item_id="i" * 256,
        event_id="e" * 256,
        impression=[f"{i:02d}" + "i" * 254 for i in range(25)],
        properties=json.dumps({"device": "€" * 1000}, ensure_ascii=False),
    )
    with rejected(
        r"^eventList\.1\.member is 1\d{4} bytes long as JSON; an event may be at most 10 KB \(10240 bytes\)\.$"
    ):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [huge])


def test_one_bad_event_rejects_the_whole_request_and_is_named_by_its_position() -> None:
    batch = [event(), event(), event(properties='{"colour": "red"}'), event()]
    with rejected(r'^eventList\.3\.member\.properties: "colour" is not a field'):
        interaction_rows(GROUP, INTERACTIONS, "u1", "s1", batch)


# -- PutItems, PutUsers, PutActions --------------------------------------------------------------------------


def test_items_become_exact_rows() -> None:
    rows = item_rows(
        GROUP,
        ITEMS,
        [
            {"item_id": "m1", "properties": '{"genres": "Comedy|Drama", "price": 9.99, "title": "A film"}'},
            {"item_id": "m2", "properties": '{"genres": "Horror"}'},
        ],
        NOW,
    )
    assert rows == [
        EventRow(
            dataset_group_arn=GROUP,
            kind="item",
            user_id=None,
            session_id=None,
            item_id="m1",
            event_type=None,
            event_value=None,
            timestamp=NOW,
            body='{"ITEM_ID":"m1","GENRES":"Comedy|Drama","PRICE":9.99,"TITLE":"A film"}',
        ),
        EventRow(
            dataset_group_arn=GROUP,
            kind="item",
            user_id=None,
            session_id=None,
            item_id="m2",
            event_type=None,
            event_value=None,
            timestamp=NOW,
            body='{"ITEM_ID":"m2","GENRES":"Horror","PRICE":null,"TITLE":null}',
        ),
    ]


@pytest.mark.parametrize(("price", "stored"), [('"12"', 12.0), ("12", 12.0), ('"1e-3"', 0.001), ('""', None)])
def test_item_prices(price: str, stored: float | None) -> None:
    [row] = item_rows(
        GROUP, ITEMS, [{"item_id": "m1", "properties": f'{{"genres": "x", "price": {price}}}'}], NOW
    )
    assert body(row)["PRICE"] == stored


def test_users_become_exact_rows() -> None:
    rows = user_rows(
        GROUP,
        USERS,
        [
            {"user_id": "u1", "properties": '{"age": 42, "membership": "gold"}'},
            {"user_id": "u2", "properties": '{"AGE": "31", "membership": "basic"}'},
            {"user_id": "u3", "properties": '{"membership": "free"}'},
        ],
        NOW,
    )
    assert [(r.kind, r.user_id, r.item_id, r.session_id, r.timestamp) for r in rows] == [
        ("user", "u1", None, None, NOW),
        ("user", "u2", None, None, NOW),
        ("user", "u3", None, None, NOW),
    ]
    assert [r.body for r in rows] == [
        '{"USER_ID":"u1","AGE":42,"MEMBERSHIP":"gold"}',
        '{"USER_ID":"u2","AGE":31,"MEMBERSHIP":"basic"}',
        '{"USER_ID":"u3","AGE":null,"MEMBERSHIP":"free"}',
    ]


def test_actions_become_exact_rows() -> None:
    [row, bare] = action_rows(
        GROUP,
        ACTIONS,
        [{"action_id": "a1", "properties": '{"value": 10, "category": "upsell"}'}, {"action_id": "a2"}],
        NOW,
    )
    assert row == EventRow(
        GROUP,
        "action",
        None,
        None,
        "a1",
        None,
        None,
        NOW,
        '{"ACTION_ID":"a1","VALUE":10,"CATEGORY":"upsell"}',
    )
    assert bare.body == '{"ACTION_ID":"a2","VALUE":null,"CATEGORY":null}'


def test_catalog_records_are_unicode_and_keep_ids_in_properties_if_they_agree() -> None:
    [row] = item_rows(
        GROUP,
        ITEMS,
        [{"item_id": "m1", "properties": '{"itemId": "m1", "genres": "Комедия", "title": "日本"}'}],
        NOW,
    )
    assert body(row) == {"ITEM_ID": "m1", "GENRES": "Комедия", "PRICE": None, "TITLE": "日本"}
    assert "Комедия" in (row.body or "")


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (
            [{"item_id": "m1"}],
            r"^items\.1\.member\.properties is required: the Items schema's field GENRES is not nullable "
            r'\(properties key "genres"\)\.$',
        ),
        (
            [
                {"item_id": "m1", "properties": '{"genres": "a"}'},
                {"item_id": "m2", "properties": '{"price": 1}'},
            ],
            r'^items\.2\.member\.properties has no value for GENRES \(key "genres"\); the Items schema\'s field is '
            r"not nullable\.$",
        ),
        (
            [{"item_id": "m1", "properties": '{"genres": "a", "price": "cheap"}'}],
            r'^items\.1\.member\.properties "price": PRICE value "cheap" is not a float\.$',
        ),
        (
            [{"item_id": "m1", "properties": '{"genres": "a", "price": 1e39}'}],
            r'^items\.1\.member\.properties "price": PRICE value "1e\+39" is out of range for a float\.$',
        ),
        (
            [{"item_id": "m1", "properties": '{"genres": "a", "price": true}'}],
            r'"price": PRICE value "true" is not a float\.$',
        ),
        (
            [{"item_id": "m1", "properties": '{"genres": "a", "title": "' + "t" * 20001 + '"}'}],
            r'"title": TITLE value is 20001 characters long; textual values may be at most 20000\.$',
        ),
        (
            [{"item_id": "m1", "properties": '{"genres": "a", "itemId": "m9"}'}],
            r'^items\.1\.member\.properties: "itemId" sets ITEM_ID to "m9", but itemId is "m1"; give it once\.$',
        ),
        (
            [{"item_id": "m1", "properties": '{"genres": "a", "userId": "u1"}'}],
            r'^items\.1\.member\.properties: "userId" is not a field of the Items schema \(ITEM_ID, GENRES, PRICE, '
            r"TITLE\); keys are the camelCase names of its fields: genres, price, title\.$",
        ),
        (
            [{"item_id": "m1", "properties": "{"}],
            r"^Error parsing properties json at items\.1\.member\.properties: ",
        ),
        ([{"properties": '{"genres": "a"}'}], r"^items\.1\.member\.itemId is required\.$"),
        (
            [{"item_id": "i" * 257, "properties": '{"genres": "a"}'}],
            r"^items\.1\.member\.itemId: ITEM_ID value is 257",
        ),
    ],
)
def test_bad_items(records: list[dict[str, Any]], message: str) -> None:
    with rejected(message):
        item_rows(GROUP, ITEMS, records, NOW)


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ('{"age": "abc", "membership": "gold"}', r'"age": AGE value "abc" is not an int\.$'),
        ('{"age": 4.5, "membership": "gold"}', r'"age": AGE value "4\.5" is not an int\.$'),
        ('{"age": 3000000000, "membership": "gold"}', r'AGE value "3000000000" is out of range for an int'),
        ('{"age": true, "membership": "gold"}', r'"age": AGE value "true" is not an int\.$'),
        ('{"age": 30}', r'^users\.1\.member\.properties has no value for MEMBERSHIP \(key "membership"\)'),
        ('{"membership": null}', r'"membership": MEMBERSHIP is empty, but the field is required'),
        (
            '{"membership": ["gold", "silver"]}',
            r"not an array \(write several categorical values as one string",
        ),
        ('{"membership": "gold", "sessionId": "s"}', r'"sessionId" is not a field of the Users schema'),
        ("[]", r"^Error parsing properties json at users\.1\.member\.properties: expected a JSON object"),
    ],
)
def test_bad_users(properties: str, message: str) -> None:
    with rejected(message):
        user_rows(GROUP, USERS, [{"user_id": "u1", "properties": properties}], NOW)


def test_bad_actions() -> None:
    with rejected(r'^actions\.1\.member\.properties "value": VALUE value "1\.5" is not a long\.$'):
        action_rows(GROUP, ACTIONS, [{"action_id": "a1", "properties": '{"value": 1.5}'}], NOW)
    with rejected(r"^actions\.1\.member\.actionId is required\.$"):
        action_rows(GROUP, ACTIONS, [{"properties": "{}"}], NOW)


# -- PutActionInteractions -----------------------------------------------------------------------------------


def interaction(**members: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "action_id": "a1",
        "user_id": "u1",
        "session_id": "s1",
        "timestamp": 1700000000.0,
        "event_type": "Taken",
    }
    base.update(members)
    return {k: v for k, v in base.items() if v is not None}


def test_action_interactions_become_exact_rows() -> None:
    rows = action_interaction_rows(
        GROUP,
        ACTION_INTERACTIONS,
        [
            interaction(
                event_id="ev1",
                recommendation_id="R1",
                impression=["a1", "a2"],
                properties='{"platform": "ios"}',
            ),
            interaction(user_id=None, session_id="s9", event_type="Viewed", event_id="ev2"),
        ],
    )
    assert rows == [
        EventRow(
            GROUP,
            "action_interaction",
            "u1",
            "s1",
            "a1",
            "Taken",
            None,
            1700000000.0,
            '{"USER_ID":"u1","ACTION_ID":"a1","TIMESTAMP":1700000000,"EVENT_TYPE":"Taken","IMPRESSION":"a1|a2",'
            '"PLATFORM":"ios","RECOMMENDATION_ID":"R1","EVENT_ID":"ev1"}',
        ),
        EventRow(
            GROUP,
            "action_interaction",
            None,
            "s9",
            "a1",
            "Viewed",
            None,
            1700000000.0,
            '{"USER_ID":null,"ACTION_ID":"a1","TIMESTAMP":1700000000,"EVENT_TYPE":"Viewed","IMPRESSION":null,'
            '"PLATFORM":null,"RECOMMENDATION_ID":null,"EVENT_ID":"ev2"}',
        ),
    ]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"session_id": None}, r"^actionInteractions\.1\.member\.sessionId is required\.$"),
        ({"timestamp": None}, r"^actionInteractions\.1\.member\.timestamp is required\.$"),
        ({"action_id": None}, r"^actionInteractions\.1\.member\.actionId is required\.$"),
        (
            {"properties": '{"eventType": "Taken"}'},
            r'^actionInteractions\.1\.member\.properties: "eventType" cannot be',
        ),
        ({"properties": '{"platform": 1, "PLATFORM": 2}'}, r'"platform" and "PLATFORM" both set PLATFORM'),
        (
            {"properties": "nope"},
            r"^Error parsing properties json at actionInteractions\.1\.member\.properties",
        ),
        ({"properties": '{"actionId": "a2"}'}, r'"actionId" sets ACTION_ID to "a2", but actionId is "a1"'),
    ],
)
def test_bad_action_interactions(members: dict[str, Any], message: str) -> None:
    with rejected(message):
        action_interaction_rows(GROUP, ACTION_INTERACTIONS, [interaction(**members)])


def test_action_interaction_impressions_need_a_column() -> None:
    bare = schema(f("USER_ID"), f("ACTION_ID"), f("TIMESTAMP", "long"), f("EVENT_TYPE"))
    with rejected(
        r"^actionInteractions\.1\.member\.impression: the Action_Interactions schema has no IMPRESSION"
    ):
        action_interaction_rows(GROUP, bare, [interaction(impression=["a1"])])


def test_action_interactions_over_10_kb() -> None:
    huge = interaction(
        action_id="a" * 256,
        user_id="u" * 256,
        session_id="s" * 256,
        event_type="t" * 256,
        event_id="e" * 256,
        recommendation_id="r" * 40,
        impression=["a" * 256] * 25,
        properties=json.dumps({"platform": "€" * 1000}, ensure_ascii=False),
    )
    with rejected(
        r"^actionInteractions\.1\.member is 1\d{4} bytes long as JSON; an event may be at most 10 KB"
    ):
        action_interaction_rows(GROUP, ACTION_INTERACTIONS, [huge])
    huge["impression"] = ["a1"]
    [row] = action_interaction_rows(GROUP, ACTION_INTERACTIONS, [huge])
    assert body(row)["PLATFORM"] == "€" * 1000


# -- properties: anything a client can send ------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "device",
        "DEVICE",
        "itemId",
        "eventValue",
        "userId",
        "impression",
        "genres",
        "price",
        "title",
        "age",
        "membership",
        "itemid",
        "GENRES",
        "Price",
    ]
) | st.text(max_size=12)
ANYTHING = JSON_VALUES | st.binary(max_size=5) | st.tuples(st.integers()) | st.sets(st.integers(), max_size=2)


def outcome(call: Any) -> list[EventRow] | str:
    """The rows, or the InvalidInputException's message; any other exception fails the test."""
    try:
        rows: list[EventRow] = call()
    except InvalidInputException as exc:
        assert exc.message
        return exc.message
    for row in rows:
        assert row.body is not None
        assert isinstance(json.loads(row.body), dict)
        assert row.kind in KINDS
    return rows


@settings(max_examples=300, deadline=None)
@given(properties=st.text(max_size=60) | st.from_regex(r"\{.*\}", fullmatch=True))
def test_any_properties_string_is_accepted_or_rejected_cleanly(properties: str) -> None:
    for call in (
        lambda: interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [event(properties=properties)]),
        lambda: item_rows(GROUP, ITEMS, [{"item_id": "m1", "properties": properties}], NOW),
        lambda: user_rows(GROUP, USERS, [{"user_id": "u1", "properties": properties}], NOW),
    ):
        result = outcome(call)
        assert outcome(call) == result  # deterministic


@settings(max_examples=300, deadline=None)
@given(properties=st.dictionaries(KEYS, JSON_VALUES, max_size=5))
def test_any_properties_object_is_accepted_or_rejected_cleanly(properties: dict[str, Any]) -> None:
    text = json.dumps(properties)
    for call in (
        lambda: interaction_rows(GROUP, INTERACTIONS, None, "s1", [event(properties=text)]),
        lambda: interaction_rows(
            GROUP, STRICT_INTERACTIONS, "u1", "s1", [event(item_id=None, properties=text)]
        ),
        lambda: item_rows(GROUP, ITEMS, [{"item_id": "m1", "properties": text}], NOW),
        lambda: user_rows(GROUP, USERS, [{"user_id": "u1", "properties": text}], NOW),
        lambda: action_rows(GROUP, ACTIONS, [{"action_id": "a1", "properties": text}], NOW),
        lambda: action_interaction_rows(GROUP, ACTION_INTERACTIONS, [interaction(properties=text)]),
    ):
        result = outcome(call)
        assert outcome(call) == result


EVENT_MEMBERS = [
    "event_id",
    "event_type",
    "event_value",
    "item_id",
    "properties",
    "sent_at",
    "recommendation_id",
    "impression",
    "metric_attribution",
    "unknown_member",
]


@settings(max_examples=300, deadline=None)
@given(
    record=st.dictionaries(st.sampled_from(EVENT_MEMBERS) | st.text(max_size=8), ANYTHING, max_size=6),
    base=st.booleans(),
    user_id=st.none() | st.text(max_size=5) | st.integers(),
)
def test_any_event_is_accepted_or_rejected_cleanly(record: dict[str, Any], base: bool, user_id: Any) -> None:
    full = {**event(), **record} if base else record
    outcome(lambda: interaction_rows(GROUP, INTERACTIONS, user_id, "s1", [full]))
    outcome(lambda: action_interaction_rows(GROUP, ACTION_INTERACTIONS, [{**interaction(), **record}]))
    outcome(lambda: item_rows(GROUP, ITEMS, [record], NOW))
    outcome(lambda: user_rows(GROUP, USERS, [{"user_id": "u1", **record}], NOW))


@settings(max_examples=100, deadline=None)
@given(request=ANYTHING)
def test_any_request_shape_is_accepted_or_rejected_cleanly(request: Any) -> None:
    outcome(lambda: interaction_rows(GROUP, INTERACTIONS, "u1", "s1", request))
    outcome(lambda: interaction_rows(GROUP, INTERACTIONS, "u1", "s1", [request]))
    outcome(lambda: item_rows(GROUP, ITEMS, [request], NOW))


@settings(max_examples=200, deadline=None)
@given(
    age=st.none() | st.integers(-(2**31), 2**31 - 1),
    membership=st.text(min_size=1, max_size=1000),
    as_text=st.booleans(),
)
def test_valid_user_values_round_trip(age: int | None, membership: str, as_text: bool) -> None:
    properties = {"age": str(age) if as_text and age is not None else age, "membership": membership}
    [row] = user_rows(GROUP, USERS, [{"user_id": "u1", "properties": json.dumps(properties)}], NOW)
    assert body(row) == {"USER_ID": "u1", "AGE": age, "MEMBERSHIP": membership}


# AWS's own sample schemas declare IMPRESSION as a plain (non-nullable) "string"; PutEvents still takes events
# without `impression` (implicit impressions come from recommendationId): putevents-including-impressions-data
AWS_SAMPLE_INTERACTIONS = schema(
    f("USER_ID"),
    f("ITEM_ID"),
    f("TIMESTAMP", "long"),
    f("EVENT_TYPE"),
    f("IMPRESSION"),
    f("RECOMMENDATION_ID"),
)


def test_events_without_impression_are_accepted_when_the_schema_has_a_non_nullable_impression() -> None:
    rows = interaction_rows(
        GROUP,
        AWS_SAMPLE_INTERACTIONS,
        "u1",
        "s1",
        [event(recommendation_id="RID-1"), event(item_id="m2", impression=["m2", "m3"]), event(item_id="m4")],
    )
    bodies = [body(r) for r in rows]
    assert [(b["IMPRESSION"], b["RECOMMENDATION_ID"]) for b in bodies] == [
        ("", "RID-1"),
        ("m2|m3", ""),
        ("", ""),
    ]


def test_action_interactions_without_impression_are_accepted_too() -> None:
    strict = schema(f("USER_ID"), f("ACTION_ID"), f("TIMESTAMP", "long"), f("EVENT_TYPE"), f("IMPRESSION"))
    rows = action_interaction_rows(
        GROUP,
        strict,
        [
            {
                "action_id": "a1",
                "user_id": "u1",
                "session_id": "s1",
                "timestamp": 1700000000.0,
                "event_type": "Taken",
            }
        ],
    )
    assert body(rows[0])["IMPRESSION"] == ""


def test_other_non_nullable_columns_are_still_required() -> None:
    with rejected(r"properties is required: the Interactions schema's field DEVICE is not nullable"):
        interaction_rows(GROUP, STRICT_INTERACTIONS, "u1", "s1", [event()])
    with rejected(r"^itemId is required for eventList\.1\.member"):
        interaction_rows(GROUP, AWS_SAMPLE_INTERACTIONS, "u1", "s1", [event(item_id=None)])
