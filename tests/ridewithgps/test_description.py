"""The response models against RideWithGPS's own OpenAPI description and recorded live traffic.

Every schema the events endpoints use (``EventSummary``, ``Event`` with its organizers and
``Photo``, ``User`` inside ``EventParticipant``, ``PaginationMeta``) is turned into JSON
Schema and fed to hypothesis: whatever the description allows must decode, absent and null
keys included, and a value outside a vocabulary is kept. Where the description is silent,
the prose docs fill in (``routes`` and ``participants`` of a full event, ``name`` of a user,
``HH:MM`` times). Our only extra demand is an ``id`` on each record (and a ``user`` on a
participant): what a record is addressed by.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from importlib import resources
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema

import common
from ridewithgps_async import Event, ParticipantStatus, User, Visibility
from ridewithgps_async._models import DECODER, EventList
from ridewithgps_async._source import map_event, map_participant


def shipped_description() -> dict[str, Any]:
    """RideWithGPS's OpenAPI description as shipped in the package, whatever its file name."""
    for entry in resources.files("ridewithgps_async").iterdir():
        if entry.name.endswith((".yaml", ".yml", ".json")):
            doc = yaml.safe_load(entry.read_text("utf-8"))  # YAML reads JSON too
            if isinstance(doc, dict) and doc.get("info", {}).get("title") == "Ride with GPS API v1":
                return doc
    raise LookupError("ridewithgps_async does not ship RideWithGPS's OpenAPI description")


DESCRIPTION = shipped_description()
SCHEMAS: dict[str, Any] = DESCRIPTION["components"]["schemas"]
# Formats as the API writes them (the prose docs pin what the description leaves open).
TIME = {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"}
STAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)


def json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: ``$ref`` inlined, ``nullable`` as a null type,
    numbers within float range, short arrays, annotations dropped."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return json_schema(SCHEMAS[node["$ref"].rsplit("/", 1)[-1]])
    out = {
        key: json_schema(value)
        for key, value in node.items()
        if key not in ("nullable", "example", "description", "getter")
    }
    if out.get("format") == "date-time":
        out["pattern"] = STAMP
    if out.get("type") == "number":
        out.update(minimum=-1e300, maximum=1e300)
    if out.get("type") == "array":
        out["maxItems"] = 3
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def record(schema: Any, *required: str, **more: Any) -> dict[str, Any]:
    """``schema`` (resolved) with ``required`` keys and ``more`` properties."""
    out = copy.deepcopy(json_schema(schema))
    parts = out.get("allOf", [out])
    target = parts[-1]
    target.setdefault("properties", {}).update(more)
    target["required"] = sorted({*target.get("required", ()), *required})
    return out


def with_times(schema: dict[str, Any]) -> dict[str, Any]:
    for part in schema.get("allOf", [schema]):
        for key in ("start_time", "end_time"):
            if key in part.get("properties", {}):
                part["properties"][key] = {"anyOf": [TIME, {"type": "null"}]}
    return schema


USER = record(SCHEMAS["User"], "id", name={"type": "string"})  # prose: {id, name, ...}
PARTICIPANT = record(SCHEMAS["EventParticipant"], "user", user=USER)
ROUTE = record(SCHEMAS["RouteSummary"], "id")
SUMMARY = with_times(record(SCHEMAS["EventSummary"], "id"))
EVENT = with_times(
    record(
        SCHEMAS["Event"],
        "id",
        routes={"type": "array", "items": ROUTE, "maxItems": 3},
        participants={"type": "array", "items": PARTICIPANT, "maxItems": 3},
    )
)
for part in EVENT["allOf"]:  # organizers and photos: each addressed by its id
    for key in ("organizers", "photos"):
        if key in part.get("properties", {}):
            part["properties"][key]["items"]["required"] = ["id"]
EVENT["allOf"][0]["required"] = ["id"]
LISTING = json_schema(
    DESCRIPTION["paths"]["/api/v1/events.json"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
)
LISTING["properties"]["events"]["items"] = SUMMARY
LISTING["properties"]["events"]["maxItems"] = 3
LISTING["required"] = ["events"]  # the root key named after the resource (prose docs)

PROPERTIES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def decode(doc: Any, model: Any, root: str | None = None) -> Any:
    return DECODER.decode(json.dumps(doc).encode(), model, root=root)


def word(value: Any) -> Any:
    """An enum member's value, anything else as it is."""
    return value.value if isinstance(value, (Visibility, ParticipantStatus)) else value


@PROPERTIES
@given(from_schema({"type": "object", "properties": {"event": EVENT}, "required": ["event"]}))
def test_every_described_event_decodes_and_maps(doc: dict[str, Any]) -> None:
    data = doc["event"]
    event = decode(doc, Event, "event")
    assert event.id == data["id"]
    for key in ("name", "description", "location", "time_zone", "all_day", "logo_url"):
        assert getattr(event, key) == data.get(key)
    assert word(event.visibility) == data.get("visibility")  # any word kept
    if data.get("start_date") is not None:
        assert event.start_date == dt.date.fromisoformat(data["start_date"])
    if data.get("created_at") is not None:
        assert event.created_at is not None
        assert event.created_at.tzinfo is not None
    assert (event.organizers is None) == (data.get("organizers") is None)
    assert [o.id for o in event.organizers or ()] == [o["id"] for o in data.get("organizers") or ()]
    assert [p.id for p in event.photos] == [p["id"] for p in data.get("photos") or ()]
    for parsed, raw in zip(event.participants or (), data.get("participants") or (), strict=True):
        assert parsed.user.id == raw["user"]["id"]
        assert word(parsed.status) == raw.get("status")
        for key in ("first_name", "last_name", "display_name", "email", "name"):
            assert getattr(parsed.user, key) == raw["user"].get(key)
        mapped = map_participant(parsed, event.id)
        given_names = [raw["user"].get(k) for k in ("name", "display_name", "first_name")]
        given_names.append(raw["user"].get("last_name"))
        assert (mapped.name is None) == (not any(n and n.strip() for n in given_names))
    if event.start_date is None:
        with pytest.raises(common.DecodeError, match=r"@ \$\.event\.start_date"):
            map_event(event)
    else:
        assert map_event(event).name == (data.get("name") or "")


@PROPERTIES
@given(from_schema(LISTING))
def test_every_described_listing_decodes(doc: dict[str, Any]) -> None:
    listing = decode(doc, EventList)
    assert [e.id for e in listing.events] == [e["id"] for e in doc["events"]]
    if "meta" not in doc:
        assert listing.meta is None
        return
    assert listing.meta is not None
    pagination = listing.meta.pagination
    assert pagination is not None
    raw = doc["meta"]["pagination"]
    assert (pagination.record_count, pagination.page_count, pagination.page_size) == (
        raw["record_count"],
        raw["page_count"],
        raw["page_size"],
    )
    assert pagination.next_page_url == raw.get("next_page_url")


@PROPERTIES
@given(from_schema(USER))
def test_every_described_user_decodes(doc: dict[str, Any]) -> None:
    user = decode(doc, User)
    assert (user.first_name, user.last_name, user.display_name, user.email) == (
        doc.get("first_name"),
        doc.get("last_name"),
        doc.get("display_name"),
        doc.get("email"),
    )


# --- shapes recorded from the live API (January 2026), values our own -----------------------

RECORDED: list[dict[str, Any]] = [
    {  # a create: milliseconds in timestamps, an undocumented visibility, no organizers yet
        "id": 900001,
        "user_id": 42,
        "url": "https://ridewithgps.com/api/v1/events/900001.json",
        "html_url": "https://ridewithgps.com/events/900001-test",
        "name": "Test",
        "description": "d",
        "all_day": False,
        "start_date": "2030-03-15",
        "start_time": "10:00",
        "time_zone": "America/Los_Angeles",
        "visibility": "members",
        "created_at": "2026-01-13T19:00:00.000Z",
        "updated_at": "2026-01-13T19:00:00.000Z",
        "organizers": [],
    },
    {  # an update answered with a handful of keys, all-day with a null start time
        "id": 900002,
        "name": "Fri B",
        "all_day": True,
        "start_date": "2030-03-01",
        "start_time": None,
        "visibility": "public",
    },
    {  # an update with organizers and routes in their shortest form
        "id": 900002,
        "name": "Fri B",
        "all_day": False,
        "start_date": "2030-03-01",
        "start_time": "11:00",
        "time_zone": "America/Los_Angeles",
        "organizers": [{"id": 7, "name": "Organiser"}],
        "routes": [{"id": 8, "name": "Loop"}],
    },
]


@pytest.mark.parametrize("data", RECORDED)
def test_recorded_responses_decode_and_map(data: dict[str, Any]) -> None:
    event = decode({"event": data}, Event, "event")
    mapped = map_event(event)
    assert (mapped.id, mapped.name) == (str(data["id"]), data["name"])
    assert word(event.visibility) == data.get("visibility")  # "members" kept as sent
    if data["all_day"]:
        assert mapped.start_time is None
    elif "time_zone" in data:
        assert mapped.starts_at is not None


def test_the_description_user_and_the_docs_participant_status() -> None:
    doc = {
        "user": {
            "id": 3,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "display_name": "Ada L.",
            "email": "ada@example.com",
        },
        "status": "participant",
    }
    event = decode(
        {"event": {"id": 1, "start_date": "2026-01-01", "participants": [doc]}}, Event, "event"
    )
    (participant,) = event.participants or ()
    assert participant.status is ParticipantStatus.PARTICIPANT
    mapped = map_participant(participant, 1)
    assert (mapped.name, mapped.email, mapped.raw_status) == (
        "Ada L.",
        "ada@example.com",
        "participant",
    )
    assert mapped.status is common.ParticipantStatus.GOING
