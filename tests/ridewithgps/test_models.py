"""Decoding: the documented shapes, their variants, and properties driven by event.schema.json."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
from importlib import resources
from typing import Any

import aiohttp
import attrs
import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

import common
from ridewithgps_async import (
    Event,
    EventSummary,
    Organizer,
    ParticipantStatus,
    Visibility,
)
from ridewithgps_async._models import DECODER, EventList
from ridewithgps_async.testing import FakeRideWithGPS

from .._coverage import drawn_untraced
from .conftest import ACCESS_TOKEN

SCHEMA: dict[str, Any] = json.loads(
    resources.files("ridewithgps_async").joinpath("event.schema.json").read_text("utf-8")
)
LIST_SCHEMA = {"$ref": "#/definitions/eventListResponse", "definitions": SCHEMA["definitions"]}

# The documentation's example (endpoints/events.md), its "// ..." elisions removed.
DOCS_EXAMPLE = {
    "event": {
        "id": 1,
        "user_id": 1,
        "url": "https://ridewithgps.com/api/v1/events/1.json",
        "html_url": "https://ridewithgps.com/api/v1/events/1-long-day",
        "name": "Long day",
        "description": None,
        "visibility": "public",
        "location": "The bakery",
        "lat": 45.561964,
        "lng": -122.68902,
        "time_zone": "America/Los_Angeles",
        "start_date": "2024-11-02",
        "start_time": "08:00",
        "end_date": "2024-11-02",
        "end_time": "14:30",
        "all_day": False,
        "created_at": "2024-10-25T09:27:00-07:00",
        "updated_at": "2024-10-25T09:27:00-07:00",
        "routes": [
            {
                "id": 3,
                "url": "http://localhost/api/v1/routes/1.json",
                "name": "A very hard century",
                "description": "",
                "locality": "Portland",
            }
        ],
        "organizers": [
            {
                "id": 1,
                "name": "Testy",
                "created_at": "2024-10-25T16:26:06Z",
                "updated_at": "2025-09-03T15:35:17Z",
            }
        ],
        "participants": [
            {
                "user": {
                    "id": 2,
                    "name": "Alice",
                    "created_at": "2024-10-25T16:26:06Z",
                    "updated_at": "2025-09-03T15:35:17Z",
                },
                "status": "participant",
                "created_at": "2025-09-06T00:03:39Z",
                "updated_at": "2025-09-06T00:03:39Z",
            }
        ],
    }
}


def decode_event(doc: Any) -> Event:
    return DECODER.decode(json.dumps(doc).encode(), Event, root="event")


def with_event(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOCS_EXAMPLE)
    doc["event"].update(changes)
    return doc


# --- the documented shapes ----------------------------------------------------------------


def test_docs_example_decodes() -> None:
    event = decode_event(DOCS_EXAMPLE)
    assert (event.id, event.name, event.description) == (1, "Long day", None)
    assert event.visibility is Visibility.PUBLIC
    assert (event.start_date, event.start_time) == (dt.date(2024, 11, 2), dt.time(8))
    assert event.end_time == dt.time(14, 30)
    assert event.created_at == dt.datetime(
        2024, 10, 25, 9, 27, tzinfo=dt.timezone(dt.timedelta(hours=-7))
    )
    assert event.routes[0].locality == "Portland"
    assert event.organizers == [
        Organizer(
            id=1,
            name="Testy",
            created_at=dt.datetime(2024, 10, 25, 16, 26, 6, tzinfo=dt.timezone.utc),
            updated_at=dt.datetime(2025, 9, 3, 15, 35, 17, tzinfo=dt.timezone.utc),
        )
    ]
    assert event.participants is not None
    participant = event.participants[0]
    assert participant.status is ParticipantStatus.PARTICIPANT  # the example's own word
    assert participant.user.name == "Alice"
    assert event.photos == []
    assert event.extra == {}


def test_docs_example_matches_the_schema() -> None:
    jsonschema.validate(DOCS_EXAMPLE, SCHEMA)


def test_absent_and_empty_lists_differ() -> None:
    absent = decode_event({"event": {"id": 1, "name": "x"}})
    assert (absent.organizers, absent.participants, absent.routes, absent.photos) == (
        None,
        None,
        [],
        [],
    )
    empty = decode_event({"event": {"id": 1, "name": "x", "organizers": [], "participants": []}})
    assert (empty.organizers, empty.participants) == ([], [])


def test_organizer_text_variant() -> None:
    event = decode_event(with_event(organizers=[{"id": 7, "text": "Testy"}]))
    assert event.organizers == [Organizer(id=7, text="Testy")]
    assert event.organizers[0].display_name == "Testy"


def test_unknown_keys_are_kept_at_every_level() -> None:
    doc = with_event(new_flag=True, photos=[{"id": 9, "highlighted": True, "width": 640}])
    doc["event"]["routes"][0]["distance"] = 160934.4
    doc["event"]["participants"][0]["user"]["avatar_url"] = None
    doc["event"]["participants"][0]["role"] = "rider"
    event = decode_event(doc)
    assert event.extra == {"new_flag": True}
    assert event.routes[0].extra == {"distance": 160934.4}
    assert event.photos[0].extra == {"width": 640}
    assert event.photos[0].highlighted is True
    assert event.participants is not None
    assert event.participants[0].user.extra == {"avatar_url": None}
    assert event.participants[0].extra == {"role": "rider"}


def test_unknown_enum_values_are_kept() -> None:
    event = decode_event(with_event(visibility="unlisted"))
    assert event.visibility == "unlisted"
    doc = with_event()
    doc["event"]["participants"][0]["status"] = "joined"
    parsed = decode_event(doc)
    assert parsed.participants is not None
    assert parsed.participants[0].status is ParticipantStatus.JOINED


def test_all_day_event_with_null_start_time() -> None:
    event = decode_event(with_event(all_day=True, start_time=None, end_time=None))
    assert (event.all_day, event.start_time, event.end_time) == (True, None, None)


def test_listing_with_and_without_meta() -> None:
    body = {
        "events": [{"id": 999, "name": "Last event"}, {"id": 844, "name": "Another event"}],
        "meta": {
            "pagination": {
                "record_count": 12,
                "page_count": 2,
                "next_page_url": "https://ridewithgps.com/api/v1/events.json?page=2?page_size=20",
            }
        },
    }
    listing = DECODER.decode(json.dumps(body).encode(), EventList)
    assert [e.id for e in listing.events] == [999, 844]
    assert all(type(e) is EventSummary for e in listing.events)
    assert listing.meta is not None
    assert listing.meta.pagination is not None
    assert listing.meta.pagination.record_count == 12
    bare = DECODER.decode(b'{"events": []}', EventList)
    assert (bare.events, bare.meta) == ([], None)


# --- malformed responses: DecodeError naming the path -------------------------------------

BAD_VALUES: list[tuple[str, Any]] = [
    ("id", "1"),
    ("id", None),
    ("id", True),
    ("id", 1.5),
    ("name", 3),
    ("user_id", "1"),
    ("lat", "45.5"),
    ("all_day", "false"),
    ("start_date", "2024-02-30"),
    ("start_date", "2024/11/02"),
    ("start_date", 20241102),
    ("end_date", ""),
    ("start_time", "8am"),
    ("end_time", "25:00"),
    ("created_at", "yesterday"),
    ("updated_at", 1730000000),
    ("visibility", 1),
    ("routes", {"id": 1}),
    ("routes", "none"),
    ("routes", None),
    ("organizers", [{"id": "7"}]),
    ("participants", [{"user": {"id": "2"}, "status": "joined"}]),
    ("participants", [{"user": {"id": 2}, "status": 5}]),
    ("photos", [{"id": 1, "highlighted": "yes"}]),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_malformed_fields_raise_decode_error(field: str, value: Any) -> None:
    with pytest.raises(common.DecodeError) as caught:
        decode_event(with_event(**{field: value}))
    assert f"$.event.{field}" in str(caught.value)


def test_missing_required_keys_and_roots() -> None:
    with pytest.raises(common.DecodeError, match=r"required field missing @ \$\.event\.id"):
        decode_event({"event": {"name": "x"}})
    assert decode_event({"event": {"id": 1}}).name is None  # the description requires no name
    with pytest.raises(common.DecodeError, match=r"\$\.event"):
        DECODER.decode(b'{"events": []}', Event, root="event")
    with pytest.raises(common.DecodeError):
        DECODER.decode(b'{"event": [1]}', Event, root="event")
    # the listing's description requires meta.pagination only: no events is none
    assert DECODER.decode(b'{"meta": {}}', EventList).events == []
    with pytest.raises(common.DecodeError, match=r"\$\.events"):
        DECODER.decode(b'{"events": {}}', EventList)
    for body in (b"", b"{", b"null", b"[]", b'"event"'):
        with pytest.raises(common.DecodeError):
            DECODER.decode(body, Event, root="event")


# --- the fake speaks the documented shapes ------------------------------------------------


@pytest.mark.anyio
async def test_fake_responses_match_the_schema() -> None:
    headers = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    async with FakeRideWithGPS() as fake, aiohttp.ClientSession(headers=headers) as session:
        for path, schema in [
            ("/api/v1/events.json", LIST_SCHEMA),
            ("/api/v1/events/1000000.json", SCHEMA),
            ("/api/v1/events/101.json", SCHEMA),
            ("/api/v1/events/102.json", SCHEMA),
        ]:
            async with session.get(fake.url + path) as response:
                jsonschema.validate(await response.json(), schema)


# --- properties from the schema -----------------------------------------------------------


def for_generation(schema: Any, *, dense: bool = False) -> Any:
    """The schema with short arrays (fast examples) and, when ``dense``, every listed
    property required, so that every documented field is exercised."""
    if isinstance(schema, list):
        return [for_generation(item, dense=dense) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: for_generation(value, dense=dense) for key, value in schema.items()}
    if schema.get("type") == "array":
        out["maxItems"] = 3
    if dense and isinstance(schema.get("properties"), dict) and "type" in schema:
        out["required"] = sorted(schema["properties"])
    return out


EVENT_SCHEMA = for_generation(SCHEMA)
DENSE_SCHEMA = for_generation(SCHEMA, dense=True)
LISTING_SCHEMA = for_generation(LIST_SCHEMA)
PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
EVENT_KEYS = {field.name for field in attrs.fields(Event)} - {"extra"}


@PROPERTY_SETTINGS
@given(drawn_untraced(from_schema(EVENT_SCHEMA)))
def test_every_schema_event_decodes(doc: dict[str, Any]) -> None:
    data = doc["event"]
    event = decode_event(doc)
    assert (event.id, event.name) == (data["id"], data["name"])
    assert event.extra == {key: value for key, value in data.items() if key not in EVENT_KEYS}
    assert (event.organizers is None) == ("organizers" not in data)
    assert (event.participants is None) == ("participants" not in data)


@settings(PROPERTY_SETTINGS, max_examples=30)  # dense examples are slow to generate
@given(drawn_untraced(from_schema(DENSE_SCHEMA)))
def test_every_documented_field_decodes(doc: dict[str, Any]) -> None:
    data = doc["event"]
    event = decode_event(doc)
    assert event.start_date is not None
    assert event.start_date.isoformat() == data["start_date"]
    if data["start_time"] is not None:
        assert event.start_time is not None
        assert event.start_time.strftime("%H:%M") == data["start_time"]
    assert event.created_at is not None
    assert event.created_at.tzinfo is not None
    assert len(event.routes) == len(data["routes"])
    assert event.participants is not None
    assert event.organizers is not None
    for parsed, raw in zip(event.participants, data["participants"], strict=True):
        assert parsed.user.id == raw["user"]["id"]
        status = parsed.status
        assert (status.value if isinstance(status, ParticipantStatus) else status) == raw["status"]
    for organizer, raw in zip(event.organizers, data["organizers"], strict=True):
        assert organizer.display_name in (raw.get("name"), raw.get("text"))


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(drawn_untraced(from_schema(LISTING_SCHEMA)))
def test_every_schema_listing_decodes(doc: dict[str, Any]) -> None:
    listing = DECODER.decode(json.dumps(doc).encode(), EventList)
    assert [e.id for e in listing.events] == [e["id"] for e in doc["events"]]


@settings(PROPERTY_SETTINGS, max_examples=50)
@given(drawn_untraced(from_schema(EVENT_SCHEMA)), st.sampled_from(BAD_VALUES))
def test_malformed_schema_events_raise_decode_error(
    doc: dict[str, Any], bad: tuple[str, Any]
) -> None:
    field, value = bad
    doc["event"][field] = value
    with pytest.raises(common.DecodeError) as caught:
        decode_event(doc)
    assert f"$.event.{field}" in str(caught.value)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@settings(PROPERTY_SETTINGS, max_examples=25)
@given(drawn_untraced(from_schema(DENSE_SCHEMA)), st.data())
def test_any_mutation_decodes_or_raises_decode_error(doc: dict[str, Any], data: Any) -> None:
    """Replace a value anywhere in a valid event: never a KeyError or TypeError."""
    target: Any = doc
    while True:
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        if isinstance(target[key], (dict, list)) and data.draw(st.booleans()):
            target = target[key]
            continue
        target[key] = data.draw(JSON_VALUES)
        break
    with contextlib.suppress(common.DecodeError):
        decode_event(doc)


@settings(PROPERTY_SETTINGS, max_examples=50)
@given(st.binary(max_size=64) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_any_body_decodes_or_raises_decode_error(body: bytes) -> None:
    for model, root in ((Event, "event"), (EventList, None)):
        with contextlib.suppress(common.DecodeError):
            DECODER.decode(body, model, root=root)
