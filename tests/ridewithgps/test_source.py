"""RideWithGPSSource: the mapping to common.Event / common.Participant, field by field."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

import common
from common.testing import Fault
from ridewithgps_async import Event, ParticipantStatus, RideWithGPSClient, RideWithGPSSource
from ridewithgps_async._source import map_status
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
        (common.ParticipantStatus.UNKNOWN, "participant"),
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


def test_map_status() -> None:
    assert map_status(ParticipantStatus.JOINED) is GOING
    assert map_status(ParticipantStatus.DISALLOWED) is common.ParticipantStatus.DENIED
    for unknown in ("participant", "JOINED", "", None):
        assert map_status(unknown) is common.ParticipantStatus.UNKNOWN


async def test_no_participants_when_not_the_owner(source: RideWithGPSSource) -> None:
    assert await source.list_participants("101") == []
    assert (await source.get_event("101")).participants == ()


@pytest.mark.parametrize("event_id", ["abc", "", "1.5", "-3", " 7", "\uff11\uff12", None, True])
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
    fake.inject(Fault.raw(orjson.dumps(body)))
    event = await source.get_event("5")
    assert event.distances_m == (12.5, 7.0)
    assert event.starts_at is None
    assert event.timezone is None


async def test_an_event_without_a_start_date_cannot_be_mapped(
    source: RideWithGPSSource, fake: FakeRideWithGPS
) -> None:
    fake.inject(Fault.raw(b'{"event": {"id": 5, "name": "x"}}'))
    with pytest.raises(common.DecodeError, match="start_date"):
        await source.get_event("5")


async def test_iter_events_maps_summaries(
    source: RideWithGPSSource, client: RideWithGPSClient
) -> None:
    summaries = [e async for e in client.iter_events()]
    events = [e async for e in source.iter_events()]
    assert [e.id for e in events] == [str(s.id) for s in summaries]
    assert all(e.participants == () and e.distances_m == () for e in events)
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
