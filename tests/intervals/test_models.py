"""Decoding: every body the spec allows decodes; malformed bodies raise DecodeError only.

Both descriptions are held to it: the seed's and the current reference's
(``openapi-current.json``); an operation is named ``"<api>:<operationId>"``."""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Iterator
from typing import Any

import attrs
import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

import common
from common import provider
from intervals_async import (
    Event,
    EventCreated,
    EventDetail,
    EventList,
    EventType,
    Group,
    GroupList,
    Organization,
    ParticipantRegistered,
    RecurrenceList,
    RegistrationList,
    RegistrationStatus,
    SeriesList,
)
from intervals_async._models import DECODER
from intervals_async.testing import load_spec

from .._coverage import drawn_untraced, untraced

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: operationId → the model its 2xx body decodes into, and the key it sits under.
MODELS: dict[str, tuple[type[Any], str | None]] = {
    "getOrganization": (Organization, "data"),
    "listSeries": (SeriesList, None),
    "listEvents": (EventList, None),
    "createEvent": (EventCreated, "data"),
    "getEvent": (EventDetail, "data"),
    "listRegistrations": (RegistrationList, None),
    "registerParticipant": (ParticipantRegistered, "data"),
    "listRecurrences": (RecurrenceList, None),
    "listGroups": (GroupList, None),
    "getGroup": (Group, "data"),
    "listGroupEvents": (EventList, None),
}


def resolve(node: Any, components: dict[str, Any]) -> Any:
    """``node`` with every ``$ref`` replaced by (a resolved copy of) its target."""
    if isinstance(node, list):
        return [resolve(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = components[node["$ref"].rsplit("/", 1)[-1]]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return resolve({**target, **siblings}, components)
    return {key: resolve(value, components) for key, value in node.items()}


def success_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for api in ("seed", "current"):
        spec = load_spec(api)
        components = spec["components"]["schemas"]
        for operations in spec["paths"].values():
            for operation in operations.values():
                for status, response in operation["responses"].items():
                    if status.startswith("2"):
                        schema = response["content"]["application/json"]["schema"]
                        name = f"{api}:{operation['operationId']}"
                        schemas[name] = resolve(schema, components)
    return schemas


SCHEMAS = success_schemas()
BODIES = {operation: drawn_untraced(from_schema(schema)) for operation, schema in SCHEMAS.items()}


def _validator(schema: dict[str, Any]) -> Any:
    """What ``jsonschema.validate(body, schema)`` checks a body with, built once (that
    function also checks the schema against its metaschema on every call)."""
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


VALIDATORS = {operation: _validator(schema) for operation, schema in SCHEMAS.items()}


def test_every_operation_has_a_model() -> None:
    assert {name.partition(":")[2] for name in SCHEMAS} == set(MODELS)


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()  # the standard library: ints beyond 64 bits too


def model_of(operation: str) -> tuple[type[Any], str | None]:
    """The model and root key of ``operation`` (``"seed:listEvents"`` or plain ``listEvents``)."""
    return MODELS[operation.rpartition(":")[2]]


def decode(operation: str, body: bytes) -> Any:
    model, root = model_of(operation)
    return DECODER.decode(body, model, root=root)


def assert_matches(value: Any, data: Any) -> None:
    """The decoded ``value`` carries exactly what the JSON ``data`` said."""
    if attrs.has(type(value)):
        assert isinstance(data, dict)
        for name, key in DECODER.converter.json_keys[type(value)].items():
            if key in data:
                assert_matches(getattr(value, name), data[key])
            else:
                assert getattr(value, name) is None, name
    elif isinstance(value, list):
        assert len(value) == len(data)
        for item, raw in zip(value, data, strict=True):
            assert_matches(item, raw)
    elif isinstance(value, enum.Enum):
        assert value.value == data
    elif isinstance(value, dt.datetime):
        assert value == provider.parse_datetime(data)
        assert value.tzinfo is not None
    elif isinstance(value, dt.date):
        assert value == provider.parse_date(data)
    else:
        assert value == data
        assert isinstance(value, bool) == isinstance(data, bool)


operations = pytest.mark.parametrize("operation", sorted(SCHEMAS))


@operations
@PROPERTY
@given(data=st.data())
def test_every_body_the_spec_allows_decodes(operation: str, data: st.DataObject) -> None:
    body = data.draw(BODIES[operation])
    with untraced():  # jsonschema's work: the generator is faithful to the spec
        VALIDATORS[operation].validate(body)
    decoded = decode(operation, encode(body))
    model, root = model_of(operation)
    assert isinstance(decoded, model)
    assert_matches(decoded, body[root] if root else body)


# --- malformed bodies ----------------------------------------------------------------------

_WRONG = {
    "string": 12345,
    "number": "12",
    "integer": "12",
    "boolean": "true",
    "array": {"not": "a list"},
    "object": ["not an object"],
}


def spots(schema: dict[str, Any], data: Any, path: tuple[Any, ...] = ()) -> Iterator[Any]:
    """``(path to the parent object, key, schema of the key, required?)`` for each present key."""
    if schema.get("type") == "object" and isinstance(data, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in data:
                yield path, key, sub, key in schema.get("required", ())
                yield from spots(sub, data[key], (*path, key))
    elif schema.get("type") == "array" and isinstance(data, list):
        for index, item in enumerate(data):
            yield from spots(schema["items"], item, (*path, index))


@operations
@PROPERTY
@given(data=st.data())
def test_a_missing_or_mistyped_field_is_a_decode_error(operation: str, data: st.DataObject) -> None:
    body = data.draw(BODIES[operation])
    path, key, schema, required = data.draw(st.sampled_from(list(spots(SCHEMAS[operation], body))))
    parent = body
    for step in path:
        parent = parent[step]
    # hasMore is required by the current description, yet the same models read a seed server,
    # which never sends it: its absence is tolerated (None), only a wrong type is an error.
    if required and key != "hasMore" and data.draw(st.booleans()):
        del parent[key]
    else:
        parent[key] = _WRONG[schema["type"]]
    with pytest.raises(common.DecodeError) as caught:
        decode(operation, encode(body))
    assert key in str(caught.value)


@operations
@PROPERTY
@given(data=st.data())
def test_a_truncated_body_is_a_decode_error(operation: str, data: st.DataObject) -> None:
    raw = encode(data.draw(BODIES[operation]))
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(common.DecodeError):
        decode(operation, raw[:cut])


def not_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return True
    return False


@operations
@PROPERTY
@given(
    raw=st.sampled_from([b"", b"<html>502 Bad Gateway</html>", b"{'data': 1}", b"\xff\xfe"])
    | st.binary().filter(not_json)
)
def test_a_body_that_is_not_json_is_a_decode_error(operation: str, raw: bytes) -> None:
    with pytest.raises(common.DecodeError):
        decode(operation, raw)


@operations
@pytest.mark.parametrize("body", [None, [], "data", 1, {"data": None}, {"data": "x"}])
def test_a_wrong_envelope_is_a_decode_error(operation: str, body: Any) -> None:
    with pytest.raises(common.DecodeError):
        decode(operation, encode(body))


# --- tolerance ------------------------------------------------------------------------------

EVENT = {
    "_id": "e1",
    "name": "Harbour 10K",
    "slug": "harbour-10k",
    "type": "race",
    "date": "2026-06-07",
    "organizationId": "o1",
}


def test_unlisted_enum_values_and_odd_dates_are_kept() -> None:
    body = {"data": [{**EVENT, "type": "relay", "date": "June 7th", "endDate": "2026-06-08"}]}
    (event,) = decode("listEvents", encode(body)).data
    assert event.type == "relay"
    assert event.date == "June 7th"
    assert event.end_date == dt.date(2026, 6, 8)


def test_known_values_become_enums_and_dates() -> None:
    event = DECODER.structure(EVENT, Event)
    assert event.type is EventType.RACE
    assert event.date == dt.date(2026, 6, 7)
    assert event.series_id is None


def test_unknown_fields_are_ignored() -> None:
    body = {"data": {"event": {**EVENT, "colour": "red"}, "runs": [], "extra": 1}, "meta": {}}
    assert decode("getEvent", encode(body)).event.name == "Harbour 10K"


def test_registration_status_key() -> None:
    registration = {
        "_id": "r1",
        "eventId": "e1",
        "eventRunId": "run1",
        "email": "a@example.com",
        "registrationType": "free",
        "registrationStatus": "waitlist",
    }
    (decoded,) = decode("listRegistrations", encode({"data": [registration]})).data
    assert decoded.registration_status is RegistrationStatus.WAITLIST


def test_has_more_is_read_when_sent() -> None:
    assert decode("listEvents", b'{"data": [], "hasMore": true}').has_more is True
    assert decode("listEvents", b'{"data": []}').has_more is None
