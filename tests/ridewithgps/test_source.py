"""RideWithGPSSource: the mapping to common.Event / common.Participant, field by field."""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

import common
from common.testing import Fault
from ridewithgps_async import (
    Event,
    EventSummary,
    ParticipantStatus,
    RideWithGPSClient,
    RideWithGPSSource,
    Route,
    User,
)
from ridewithgps_async._source import map_event, map_status, user_name
from ridewithgps_async.testing import FakeRideWithGPS

pytestmark = pytest.mark.anyio

SEEDED = 1_000_000
GOING = common.ParticipantStatus.GOING


@pytest.fixture
def source(client: RideWithGPSClient) -> RideWithGPSSource:
    return RideWithGPSSource(client)


async def test_is_an_event_source(source: RideWithGPSSource) -> None:
    assert isinstance(source, common.EventSource)
    assert source.provider is common.Provider.RIDEWITHGPS


async def test_get_event_maps_every_field(
    source: RideWithGPSSource, client: RideWithGPSClient
) -> None:
    raw = await client.get_event(SEEDED)
    event = await source.get_event(str(SEEDED))
    assert event.provider is common.Provider.RIDEWITHGPS
    assert event.id == str(SEEDED)
    assert event.name == raw.name
    assert raw.start_date is not None
    assert (event.start_date, event.end_date) == (raw.start_date, raw.end_date)
    if raw.all_day:
        assert (event.start_time, event.end_time, event.starts_at) == (None, None, None)
    else:
        assert (event.start_time, event.end_time) == (raw.start_time, raw.end_time)
        assert raw.start_time is not None
        assert raw.time_zone is not None
        expected = dt.datetime.combine(
            raw.start_date, raw.start_time, tzinfo=ZoneInfo(raw.time_zone)
        )
        assert event.starts_at == expected
        assert event.starts_at.tzinfo is not None
    assert event.timezone == raw.time_zone
    assert event.location == common.Location(name=raw.location, lat=raw.lat, lng=raw.lng)
    assert event.description == raw.description
    assert event.url == raw.html_url
    assert event.url is not None
    assert "/events/" in event.url
    assert event.registration_url is None
    assert event.distances_m == tuple(route.extra["distance"] for route in raw.routes)
    assert event.raw == raw
    assert len(event.participants) == 5


async def test_participant_statuses(source: RideWithGPSSource) -> None:
    participants = await source.list_participants(str(SEEDED))
    assert [(p.status, p.raw_status) for p in participants] == [
        (GOING, "joined"),
        (common.ParticipantStatus.INTERESTED, "interested"),
        (common.ParticipantStatus.DECLINED, "declined"),
        (common.ParticipantStatus.DENIED, "disallowed"),
        (GOING, "participant"),  # the docs' own example: a user on the list is going
    ]
    first = participants[0]
    assert (first.id, first.event_id, first.name, first.email) == (
        "2001",
        str(SEEDED),
        "Alice",
        None,
    )
    assert first.provider is common.Provider.RIDEWITHGPS
    assert first.raw.user.id == 2001


async def test_the_fakes_two_user_shapes_both_give_names(
    source: RideWithGPSSource, client: RideWithGPSClient
) -> None:
    """The fake seeds participants as the prose docs show them (``name``) and as the
    description's ``User`` (first/last/display names): every participant has a name."""
    participants = await source.list_participants(str(SEEDED))
    users = [p.raw.user for p in participants]
    assert any(u.name is None and u.display_name for u in users)  # both shapes are here
    assert any(u.name for u in users)
    for participant, user in zip(participants, users, strict=True):
        assert participant.name == (user.name or user.display_name)
        assert participant.name


def test_map_status() -> None:
    assert map_status(ParticipantStatus.JOINED) is GOING
    assert map_status(ParticipantStatus.PARTICIPANT) is GOING
    assert map_status("participant") is GOING  # a plain string maps like its member
    assert map_status("joined") is GOING
    assert map_status(ParticipantStatus.DISALLOWED) is common.ParticipantStatus.DENIED
    for unknown in ("JOINED", "member", "", None, 1):
        assert map_status(unknown) is common.ParticipantStatus.UNKNOWN  # type: ignore[arg-type]


async def test_participants_hidden_when_not_the_owner(source: RideWithGPSSource) -> None:
    # issue 19 item 5: hidden (None, an error for list_participants) is not none (())
    with pytest.raises(common.PermissionDeniedError, match="only to its owner"):
        await source.list_participants("101")
    assert (await source.get_event("101")).participants is None


@pytest.mark.parametrize(
    "event_id",
    ["abc", "", "1.5", "-3", " 7", "\uff11\uff12", None, True, "0", "9" * 20, "9" * 5000, "\ud800"],
)
async def test_non_numeric_ids_are_refused(
    source: RideWithGPSSource, fake: FakeRideWithGPS, event_id: Any
) -> None:
    with pytest.raises(common.InvalidRequestError):
        await source.get_event(event_id)
    with pytest.raises(common.InvalidRequestError):
        await source.list_participants(event_id)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("day", "utc_offset_hours"),
    [(dt.date(2024, 11, 2), -7), (dt.date(2024, 11, 4), -8)],  # PDT, then PST
)
async def test_starts_at_across_daylight_saving(
    source: RideWithGPSSource,
    client: RideWithGPSClient,
    day: dt.date,
    utc_offset_hours: int,
) -> None:
    made = await client.create_event(
        name="Long day", start_date=day, start_time="08:00", time_zone="America/Los_Angeles"
    )
    event = await source.get_event(str(made.id))
    assert event.starts_at is not None
    assert event.starts_at.utcoffset() == dt.timedelta(hours=utc_offset_hours)
    assert (event.starts_at.date(), event.starts_at.time()) == (day, dt.time(8))
    assert event.timezone == "America/Los_Angeles"


async def test_old_timezone_alias(source: RideWithGPSSource, fake: FakeRideWithGPS) -> None:
    event = await source.get_event(str(SEEDED + 3))  # the fake's America/Godthab event
    assert event.timezone == "America/Godthab"
    raw = fake.db.event(SEEDED + 3)
    assert raw is not None  # seeded dates are relative to today
    local = dt.datetime.fromisoformat(f"{raw['start_date']}T{raw['start_time']}")
    assert event.starts_at is not None
    assert event.starts_at.replace(tzinfo=None) == local
    assert event.starts_at.utcoffset() == local.replace(tzinfo=ZoneInfo("America/Nuuk")).utcoffset()


async def test_all_day_event(source: RideWithGPSSource, fake: FakeRideWithGPS) -> None:
    event = await source.get_event(str(SEEDED + 4))  # the fake's all-day Sydney event
    assert event.raw.all_day is True
    raw = fake.db.event(SEEDED + 4)
    assert raw is not None  # seeded dates are relative to today
    start, end = dt.date.fromisoformat(raw["start_date"]), dt.date.fromisoformat(raw["end_date"])
    assert (event.start_date, event.end_date) == (start, end)
    assert end - start == dt.timedelta(days=1)
    assert (event.start_time, event.end_time, event.starts_at) == (None, None, None)
    assert event.timezone == "Australia/Sydney"


async def test_distances_from_routes(source: RideWithGPSSource, client: RideWithGPSClient) -> None:
    made = await client.create_event(name="Tour", start_date="2026-06-01", route_ids=[11, 22])
    event = await source.get_event(str(made.id))
    assert len(event.distances_m) == 2
    assert event.distances_m == tuple(r.extra["distance"] for r in made.routes)
    assert all(isinstance(d, float) and d > 0 for d in event.distances_m)


async def test_odd_route_distances_are_ignored(
    source: RideWithGPSSource, fake: FakeRideWithGPS
) -> None:
    routes = [{"id": n, "distance": d} for n, d in enumerate([12.5, "12", None, True, -1, 7], 1)]
    body = {"event": {"id": 5, "name": "x", "start_date": "2026-01-01", "routes": routes}}
    fake.inject(Fault.raw(msgspec.json.encode(body)))
    event = await source.get_event("5")
    assert event.distances_m == (12.5, 7.0)
    assert event.starts_at is None
    assert event.timezone is None


async def test_an_event_without_a_start_date_cannot_be_mapped(
    source: RideWithGPSSource, fake: FakeRideWithGPS
) -> None:
    fake.inject(Fault.raw(b'{"event": {"id": 5, "name": "x"}}'))
    with pytest.raises(common.DecodeError, match=r"event 5 .*@ \$\.event\.start_date"):
        await source.get_event("5")


async def test_iter_events_maps_summaries(
    source: RideWithGPSSource, client: RideWithGPSClient
) -> None:
    summaries = [e async for e in client.iter_events()]
    events = [e async for e in source.iter_events()]
    assert [e.id for e in events] == [str(s.id) for s in summaries]
    # a listing shows no participants: unknown (None), not none (())
    assert all(e.participants is None and e.distances_m == () for e in events)
    assert all(not isinstance(e.raw, Event) for e in events)  # the short form
    assert all(e.starts_at is None or e.starts_at.tzinfo is not None for e in events)


async def test_iter_events_filters_by_start_date_inclusively(
    source: RideWithGPSSource, client: RideWithGPSClient
) -> None:
    days = sorted({e.start_date async for e in client.iter_events() if e.start_date})
    low, high = days[len(days) // 4], days[3 * len(days) // 4]
    found = [e async for e in source.iter_events(date_from=low, date_to=high)]
    assert found
    assert all(low <= e.start_date <= high for e in found)
    assert {low, high} <= {e.start_date for e in found}  # both bounds included
    everything = [e async for e in source.iter_events()]
    assert len(found) == sum(low <= e.start_date <= high for e in everything)
    only_from = [e async for e in source.iter_events(date_from=high)]
    assert only_from
    assert all(e.start_date >= high for e in only_from)
    only_to = [e async for e in source.iter_events(date_to=low)]
    assert only_to
    assert all(e.start_date <= low for e in only_to)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"date_from": dt.date(2026, 2, 1), "date_to": dt.date(2026, 1, 1)},
        {"date_from": dt.datetime(2026, 1, 1)},
        {"date_to": "2026-01-01"},
    ],
)
async def test_iter_events_date_validation(
    source: RideWithGPSSource, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(common.InvalidRequestError):
        source.iter_events(**kwargs)


# --- responses the fake does not seed, served by a small local app --------------------------


@asynccontextmanager
async def serve(
    listing: list[dict[str, Any]] | None = None, events: dict[int, Any] | None = None
) -> AsyncIterator[RideWithGPSSource]:
    """A source whose client talks to a local app serving ``listing`` (one page) and
    ``events`` by id; bodies go through the stdlib ``json``, which writes any integer."""

    def answer(body: Any) -> web.Response:
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    async def list_events(request: web.Request) -> web.Response:
        size = len(listing or [])
        meta = {"record_count": size, "page_count": 1, "page_size": 20, "next_page_url": None}
        return answer({"events": listing or [], "meta": {"pagination": meta}})

    async def get_event(request: web.Request) -> web.Response:
        event_id = int(request.match_info["id"])
        if event_id not in (events or {}):
            return web.json_response({"errors": ["Not found"]}, status=404)
        return answer({"event": (events or {})[event_id]})

    app = web.Application()
    app.router.add_get("/api/v1/events.json", list_events)
    app.router.add_get("/api/v1/events/{id:[0-9]+}.json", get_event)
    async with TestServer(app, host="127.0.0.1") as server:
        base_url = str(server.make_url("")).rstrip("/")
        async with RideWithGPSClient(access_token="local-token", base_url=base_url) as client:
            yield RideWithGPSSource(client)


def user_event(event_id: int, users: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    participants = [{"user": user, "status": "participant"} for user in users]
    return {"id": event_id, "name": "x", "start_date": "2026-05-01", **fields} | {
        "participants": participants
    }


NAMES: list[tuple[dict[str, Any], str | None]] = [
    ({"name": "Alice", "display_name": "Ally", "first_name": "A", "last_name": "B"}, "Alice"),
    ({"display_name": "Ally", "first_name": "Alice", "last_name": "Liddell"}, "Ally"),
    ({"first_name": "Alice", "last_name": "Liddell"}, "Alice Liddell"),
    ({"first_name": "Alice", "last_name": None}, "Alice"),
    ({"last_name": "Liddell"}, "Liddell"),
    ({"name": "  ", "display_name": "Ally"}, "Ally"),  # blank is absent
    ({"name": None, "display_name": None, "first_name": " Alice ", "last_name": ""}, "Alice"),
    ({}, None),
]


async def test_participant_names_from_either_user_shape() -> None:
    """The prose docs' ``name`` or the OpenAPI description's display/first/last names."""
    users = [{"id": 10 + n, **fields} for n, (fields, _) in enumerate(NAMES)]
    users[2]["email"] = "alice@example.com"  # the description's User carries an email
    async with serve(events={7: user_event(7, users)}) as source:
        participants = await source.list_participants("7")
        event = await source.get_event("7")
    assert [p.name for p in participants] == [name for _, name in NAMES]
    assert [p.email for p in participants] == [None, None, "alice@example.com"] + [None] * 5
    assert [p.id for p in participants] == [str(u["id"]) for u in users]
    assert {(p.status, p.raw_status) for p in participants} == {(GOING, "participant")}
    assert event.participants == tuple(participants)


@pytest.mark.parametrize(("fields", "expected"), NAMES)
def test_user_name(fields: dict[str, Any], expected: str | None) -> None:
    assert user_name(User(id=1, **fields)) == expected


NAME_PARTS = st.none() | st.text(max_size=8)


@given(NAME_PARTS, NAME_PARTS, NAME_PARTS, NAME_PARTS)
def test_user_name_is_given_whenever_a_part_is(
    name: str | None, display: str | None, first: str | None, last: str | None
) -> None:
    user = User(id=1, name=name, display_name=display, first_name=first, last_name=last)
    given_parts = [p.strip() for p in (name, display, first, last) if p is not None and p.strip()]
    found = user_name(user)
    assert (found is None) == (not given_parts)
    whole = [p.strip() for p in (name, display) if p is not None and p.strip()]
    if whole:
        assert found == whole[0]
    elif given_parts:
        assert found == " ".join(given_parts)


async def test_an_event_without_a_start_date_is_skipped_with_a_warning() -> None:
    """One rule, with or without dates: left out, and a warning names it and says why."""
    listing = [
        {"id": 1, "name": "dated", "start_date": "2026-05-01"},
        {"id": 2, "name": "undated"},
        {"id": 3, "name": "null date", "start_date": None},
        {"id": 4, "name": "later", "start_date": "2026-07-01"},
    ]
    async with serve(listing) as source:
        for dates, expected in [
            ({}, ["1", "4"]),
            ({"date_from": dt.date(2026, 6, 1)}, ["4"]),
            ({"date_to": dt.date(2026, 6, 1)}, ["1"]),
            ({"date_from": dt.date(2026, 1, 1), "date_to": dt.date(2026, 12, 31)}, ["1", "4"]),
        ]:
            with pytest.warns(common.SkippedEventWarning) as caught:
                found = [e.id async for e in source.iter_events(**dates)]
            assert found == expected
            assert [str(w.message) for w in caught] == [
                f"RideWithGPS event {n} left out of iter_events: it has no start_date"
                for n in (2, 3)
            ]
            assert all(w.category is common.SkippedEventWarning for w in caught)
            assert {w.filename for w in caught} == {__file__}  # points at the caller's loop


async def test_skipped_events_can_be_made_errors() -> None:
    async with serve([{"id": 2, "name": "undated"}]) as source:
        with warnings.catch_warnings():
            warnings.simplefilter("error", common.SkippedEventWarning)
            with pytest.raises(common.SkippedEventWarning, match="event 2"):
                _ = [e async for e in source.iter_events()]


async def test_sparse_events_as_recorded_and_as_the_description_allows() -> None:
    """Keys absent or null, an undocumented visibility: still common events."""
    listing = [
        {"id": 1, "start_date": "2030-03-01"},  # no name at all
        {"id": 2, "name": None, "start_date": "2030-03-01", "visibility": "members"},
        {"id": 3, "name": "n", "all_day": True, "start_date": "2030-03-01", "start_time": None},
    ]
    async with serve(listing) as source:
        events = [e async for e in source.iter_events()]
    assert [(e.id, e.name) for e in events] == [("1", ""), ("2", ""), ("3", "n")]
    assert events[1].raw.visibility == "members"
    assert all(e.starts_at is None and e.timezone is None for e in events)


async def test_hostile_numbers_and_dates_never_raise_bare_errors() -> None:
    """A route distance of 10**400, dates at the ends of the calendar, end before start."""
    routes = [
        {"id": 1, "distance": 10**400},
        {"id": 2, "distance": -(10**400)},
        {"id": 3, "distance": 1e308},
        {"id": 4, "distance": 0},
        {"id": 5, "distance": 42195},
    ]
    events = {
        1: {"id": 1, "name": "far", "start_date": "2026-05-01", "routes": routes},
        # 00:30 on 0001-01-01 at UTC+14 is before the first representable UTC instant
        2: {"id": 2, "name": "x", "start_date": "0001-01-01", "start_time": "00:30",
            "time_zone": "Etc/GMT-14"},
        3: {"id": 3, "name": "x", "start_date": "9999-12-31", "start_time": "23:30",
            "time_zone": "America/New_York"},
        4: {"id": 4, "name": "x", "start_date": "0001-01-02", "start_time": "00:00",
            "time_zone": "Asia/Tokyo", "end_date": "0001-01-01", "end_time": "00:00"},
    }  # fmt: skip
    async with serve(events=events) as source:
        far = await source.get_event("1")
        assert far.distances_m == (1e308, 42195.0)
        assert (await source.get_event("2")).starts_at is None
        assert (await source.get_event("3")).starts_at is None
        backwards = await source.get_event("4")
    assert backwards.starts_at is not None
    assert backwards.starts_at.astimezone(dt.timezone.utc).year == 1
    assert (backwards.end_date, backwards.end_time) == (dt.date(1, 1, 1), dt.time(0))  # as sent


EVENTS = st.builds(
    EventSummary,
    id=st.integers(min_value=1),
    name=st.none() | st.text(max_size=5),
    start_date=st.none() | st.dates(),
    start_time=st.none() | st.times(),
    end_date=st.none() | st.dates(),
    end_time=st.none() | st.times(),
    time_zone=st.none() | st.sampled_from(sorted(available_timezones())) | st.text(max_size=12),
    all_day=st.none() | st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_map_event_gives_an_event_or_a_decode_error(summary: EventSummary) -> None:
    try:
        event = map_event(summary)
    except common.DecodeError:
        assert summary.start_date is None
        return
    assert event.start_date == summary.start_date
    assert event.timezone in (None, summary.time_zone)
    if event.timezone is not None and event.start_time is not None:
        assert event.starts_at is not None or summary.start_date.year in (1, 9999)
    if event.starts_at is not None:
        assert event.starts_at.tzinfo is not None
        event.starts_at.astimezone(dt.timezone.utc)  # comparable with any other
        assert (event.starts_at.date(), event.starts_at.time()) == (
            summary.start_date,
            summary.start_time,
        )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3)))
def test_distances_are_finite_and_positive(values: list[Any]) -> None:
    routes = [Route(id=n, extra={"distance": v}) for n, v in enumerate(values)]
    event = map_event(Event(id=1, name="x", start_date=dt.date(2026, 1, 1), routes=routes))
    assert event.distances_m == tuple(r.distance for r in routes if r.distance is not None)
    assert all(math.isfinite(d) and d > 0 for d in event.distances_m)
    assert len(event.distances_m) == sum(
        not isinstance(v, (bool, str, type(None))) and 0 < v < 2**1024 and math.isfinite(v)
        for v in values
    )
