"""The compiled decoding path equals the cattrs reference: same model, or the same error.

Realistic bodies (the fakes' seed data, every model of both providers) are mutated at
random: a value replaced (a wrong type, a near-miss date, an odd number, a raw token that is
not JSON at all), a key dropped or added, an item repeated. Each mutated body goes through
:meth:`Decoder.compiled_decode` and :meth:`Decoder.reference_decode`; where the compiled path
answers, its model must be the reference's to the last type (``1`` is not ``1.0``, an enum
member is not its string), and :meth:`Decoder.decode` must answer exactly as the reference,
errors word for word.
"""

from __future__ import annotations

import concurrent.futures
import copy
import datetime as dt
import json
import os
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import common
from common.provider import Decoder
from intervals_async import _models as intervals
from intervals_async.testing import generate_data as intervals_data
from ridewithgps_async import _models as ridewithgps
from ridewithgps_async.testing import FakeRideWithGPS

Case = tuple[Decoder, type[Any], str | None, Any]


def _intervals_cases() -> dict[str, Case]:
    data = intervals_data(0, 12, today=dt.date(2026, 6, 1))
    events = list(data.events.values())
    listing = [{k: v for k, v in e.items() if k not in ("endDate", "endTime")} for e in events]
    with_runs = next(e for e in events if data.runs.get(e["_id"]))
    registrations = max(data.registrations.values(), key=len)
    current = intervals_data(0, 12, today=dt.date(2026, 6, 1), api="current")
    decoder = intervals.DECODER
    return {
        "intervals recurrences": (decoder, intervals.RecurrenceList, None,
                                  {"data": current.recurrences[:3], "hasMore": False}),
        "intervals groups": (decoder, intervals.GroupList, None, {"data": current.groups}),
        "intervals group": (decoder, intervals.Group, "data", {"data": current.groups[0]}),
        "intervals organization": (decoder, intervals.Organization, "data",
                                   {"data": data.organization}),
        "intervals series": (decoder, intervals.SeriesList, None,
                             {"data": data.series[:3], "hasMore": True}),
        "intervals events": (decoder, intervals.EventList, None, {"data": listing[:4]}),
        "intervals event detail": (decoder, intervals.EventDetail, "data",
                                   {"data": {"event": with_runs,
                                             "runs": data.runs[with_runs["_id"]]}}),
        "intervals registrations": (decoder, intervals.RegistrationList, None,
                                    {"data": registrations[:4], "hasMore": False}),
        "intervals event created": (decoder, intervals.EventCreated, "data",
                                    {"data": {"eventId": events[0]["_id"]}}),
        "intervals registered": (decoder, intervals.ParticipantRegistered, "data",
                                 {"data": {"participantId": registrations[0]["_id"]}}),
    }  # fmt: skip


def _ridewithgps_cases() -> dict[str, Case]:
    fake = FakeRideWithGPS(
        events=6, validate=False, now=dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    )
    fake._url = "https://ridewithgps.example"  # rendering only: nothing listens
    db = fake.db
    organized = fake._full(db.events[101])  # organizers, participants, routes, photos
    seeded = fake._full(db.event(1_000_000))  # every participant status
    listing = {
        "events": [fake._summary(db.event(i)) for i in db.listed[:3]],  # type: ignore[arg-type]
        "meta": {"pagination": {"record_count": 9, "page_count": 3, "page_size": 3,
                                "next_page_url": "https://ridewithgps.example/api/v1/events.json?page=2"}},
    }  # fmt: skip
    decoder = ridewithgps.DECODER
    return {
        "ridewithgps organized event": (decoder, ridewithgps.Event, "event",
                                        {"event": organized}),
        "ridewithgps seeded event": (decoder, ridewithgps.Event, "event", {"event": seeded}),
        "ridewithgps listing": (decoder, ridewithgps.EventList, None, listing),
    }  # fmt: skip


CASES = {**_intervals_cases(), **_ridewithgps_cases()}

#: Values put in place of others: wrong types, edges of every scalar rule, near misses.
ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2**63 - 1, -(2**63), -(2**63) - 1, 2**64, 10**30, -(10**400),
    1.0, -0.0, 1.5, 1e308, 1e-320, "", "x", "2026-03-01", "2026-02-30", "2026-3-01",
    "20260301", "2026-W01-1", "\uff12\uff10\uff12\uff16-03-01",
    "\u0662\u0660\u0662\u0666-03-01", "10:00", "24:00", "10:00:00", "7:00", "10:00Z",
    "2026-03-01T10:00:00Z", "2026-03-01T10:00:00", "2026-03-01 10:00", "2026-03-01T25:00",
    "race", "runClub", "public", "joined", "members", "confirmed", "waitlisted", "\U0001f600",
    [], [1], ["organizer"], {}, {"id": 1}, {"_id": "x"}, [{"id": 2}],
]  # fmt: skip
#: Text put into the encoded body as is: not JSON, or JSON that some parsers get wrong.
RAW_TOKENS = [
    b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b'"\\ud800"', b'"\\udc00x"',
    b'"\\ud83d\\ude00"', b"1E2", b"-0", b"1.0e0", b"123456789012345678901234567890",
    b"-9223372036854775809", b'"\\u0000"', b"tru", b'"\xff"', b"01",
]  # fmt: skip
_RAW = "\x00raw\x00"  # a marker no body contains


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _strings(node: Any) -> Iterator[str]:
    for path in _paths(node):
        value = _at(node, path)
        if isinstance(value, str):
            yield value


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


@st.composite
def mutated(draw: st.DrawFn, body: Any) -> tuple[bytes, str]:
    """``body`` with one to three random mutations, encoded; and what was done."""
    doc = copy.deepcopy(body)
    done: list[str] = []
    raw: bytes | None = None
    own_strings = sorted(set(_strings(body)))
    values = (
        st.sampled_from(ODD_VALUES).map(copy.deepcopy)  # later mutations must not change it
        | st.sampled_from(own_strings)  # a real value of another field
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=12)
    )
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(doc))))
        kind = draw(st.sampled_from(["replace", "replace", "raw", "drop", "add", "repeat"]))
        parent = _at(doc, path[:-1]) if path else None
        if kind == "drop" and path:
            del parent[path[-1]]
        elif kind == "add" and isinstance(_at(doc, path), dict):
            _at(doc, path)[draw(st.sampled_from(["new_key", "id", "_id", "name", "extra"]))] = draw(
                values
            )
        elif kind == "repeat" and isinstance(_at(doc, path), list) and _at(doc, path):
            _at(doc, path).append(copy.deepcopy(_at(doc, path)[0]))
        elif kind == "raw" and raw is None:
            raw = draw(st.sampled_from(RAW_TOKENS))
            if path:
                parent[path[-1]] = _RAW
            else:
                doc = _RAW
        elif path:
            parent[path[-1]] = draw(values)
        else:
            continue
        done.append(f"{kind} {path}")
    encoded = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if raw is not None:
        encoded = encoded.replace(json.dumps(_RAW).encode(), raw)
    return encoded, "; ".join(done)


def _exact(value: Any) -> Any:
    """A form of a decoded value that differs wherever the value's types differ."""
    if attrs.has(type(value)):
        return (
            type(value),
            tuple(_exact(getattr(value, a.name)) for a in attrs.fields(type(value))),
        )
    if isinstance(value, list):
        return (list, tuple(_exact(item) for item in value))
    if isinstance(value, dict):
        return (dict, tuple((key, _exact(item)) for key, item in value.items()))
    return (type(value), repr(value))


def _outcome(decode: Any, body: bytes, cls: type[Any], root: str | None) -> Any:
    try:
        return _exact(decode(body, cls, root=root))
    except common.DecodeError as exc:
        return ("DecodeError", str(exc))


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_compiled_path_decodes_the_realistic_body(name: str) -> None:
    decoder, cls, root, body = CASES[name]
    encoded = json.dumps(body).encode()
    compiled = decoder.compiled_decode(encoded, cls, root=root)
    assert compiled is not None
    assert _exact(compiled) == _exact(decoder.reference_decode(encoded, cls, root=root))


#: CI runs 60 mutations per case (a few seconds); DECODE_FUZZ_EXAMPLES=2000 for a long run.
DIFFERENTIAL = settings(
    max_examples=int(os.environ.get("DECODE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize("name", sorted(CASES))
@DIFFERENTIAL
@given(data=st.data())
def test_compiled_and_reference_paths_agree(name: str, data: st.DataObject) -> None:
    decoder, cls, root, body = CASES[name]
    encoded, what = data.draw(mutated(body), label="mutation")
    reference = _outcome(decoder.reference_decode, encoded, cls, root)
    compiled = decoder.compiled_decode(encoded, cls, root=root)
    if compiled is not None:
        assert _exact(compiled) == reference, what
    assert _outcome(decoder.decode, encoded, cls, root) == reference, what


@pytest.mark.parametrize(
    ("number", "expected"),
    [(-(2**63) - 1, -(2**63) - 1), (2**64, 2**64), (-(10**30), -(10**30))],
)
def test_integers_beyond_64_bits_are_exact(number: int, expected: int) -> None:
    # Once a float: -2**63-1 came back as -2**63.
    body = b'{"events": [{"id": %d, "user_id": %d}]}' % (number, number)
    listing = ridewithgps.DECODER.decode(body, ridewithgps.EventList)
    assert listing.events[0].id == expected and type(listing.events[0].id) is int
    assert listing.events[0].user_id == expected
    event = ridewithgps.DECODER.decode(b'{"event": {"id": 1, "x": %d}}' % number, ridewithgps.Event,
                                       root="event")  # fmt: skip
    assert event.extra == {"x": expected}


def test_unknown_keys_are_checked_and_kept() -> None:
    # The compiled pass would skip an unknown key's value unchecked: it is parsed first.
    for token in RAW_TOKENS[:6]:
        body = b'{"event": {"id": 1, "odd": %s}}' % token
        with pytest.raises(common.DecodeError, match="not valid JSON"):
            ridewithgps.DECODER.decode(body, ridewithgps.Event, root="event")
    body = b'{"event": {"id": 1, "routes": [{"id": 2, "distance": 1.5}], "new": [1]}}'
    event = ridewithgps.DECODER.decode(body, ridewithgps.Event, root="event")
    assert event.extra == {"new": [1]} and event.routes[0].extra == {"distance": 1.5}
    assert event.routes[0].distance == 1.5


def test_first_use_from_many_threads_generates_once() -> None:
    # A decoder shared by threads (each with its own event loop): one generation, one answer.
    decoder = Decoder(ridewithgps.CONVERTER)
    _, cls, root, body = CASES["ridewithgps organized event"]
    encoded = json.dumps(body).encode()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: decoder.decode(encoded, cls, root=root), range(32)))
    assert all(_exact(r) == _exact(results[0]) for r in results)
    assert list(decoder._fast) == [(cls, root)]
    assert _exact(results[0]) == _exact(decoder.reference_decode(encoded, cls, root=root))
