"""IntervalsSource: Intervals events and registrations as common.Event / common.Participant."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import common
from intervals_async import Event as IntervalsEvent
from intervals_async import EventDetail, IntervalsSource, Registration
from intervals_async._source import to_participant
from intervals_async.testing import FakeIntervals

from .conftest import client_for, fake

pytestmark = pytest.mark.anyio

D = dt.date
LONDON = 1  # index of the Europe/London series in the fake's seeded series


def event(event_id: str, date: str, **fields: Any) -> dict[str, Any]:
    return {
        "_id": event_id,
        "name": f"Event {event_id}",
        "slug": event_id,
        "type": "race",
        "date": date,
        **fields,
    }


FULL = event(
    "full",
    "2026-03-29",
    startTime="09:30",
    endDate="2026-03-30",
    endTime="16:00",
    address={
        "name": "Battersea Park",
        "streetAddress": "Albert Bridge Rd",
        "addressLocality": "London",
        "addressRegion": "Greater London",
        "postalCode": "SW11 4NJ",
        "addressCountry": "GB",
    },
    lat=51.4791,
    lng=-0.1566,
    description="Spring relays.",
    websiteUrl="https://example.org/relays",
    registrationUrl="https://example.org/relays/register",
    runs=[
        {
            "distanceMeters": 10000,
            "distanceStandard": "10K",
            "distanceLabel": "10K",
            "date": "2026-03-29",
        },
        {
            "distanceMeters": 5000,
            "distanceStandard": "5K",
            "distanceLabel": "5K",
            "date": "2026-03-29",
        },
    ],
    registrations=[
        {
            "email": "ada@example.com",
            "name": "Ada",
            "registrationType": "free",
            "registrationStatus": status,
        }
        for status in ("confirmed", "waitlist", "cancelled", "refunded")
    ],
)


def in_series(server: FakeIntervals, event_id: str, index: int = LONDON) -> None:
    server.db.events[event_id]["seriesId"] = server.db.series[index]["_id"]


async def test_get_event_maps_every_field() -> None:
    async with fake(events=[FULL]) as server:
        in_series(server, "full")
        async with client_for(server) as client:
            source = IntervalsSource(client)
            assert isinstance(source, common.EventSource)
            mapped = await source.get_event("full")
    assert mapped.provider is common.Provider.INTERVALS
    assert mapped.id == "full"
    assert mapped.name == "Event full"
    assert mapped.start_date == D(2026, 3, 29)
    assert mapped.start_time == dt.time(9, 30)
    assert mapped.end_date == D(2026, 3, 30)
    assert mapped.end_time == dt.time(16, 0)
    assert mapped.timezone == "Europe/London"
    assert mapped.starts_at is not None
    assert mapped.starts_at.utcoffset() == dt.timedelta(hours=1)  # BST from 2026-03-29
    assert mapped.starts_at.astimezone(dt.timezone.utc).hour == 8
    assert mapped.location == common.Location(
        name="Battersea Park",
        locality="London",
        region="Greater London",
        country="GB",
        lat=51.4791,
        lng=-0.1566,
    )
    assert mapped.description == "Spring relays."
    assert mapped.url == "https://example.org/relays"
    assert mapped.registration_url == "https://example.org/relays/register"
    assert mapped.distances_m == (10000.0, 5000.0)
    assert [p.status for p in mapped.participants] == [
        common.ParticipantStatus.GOING,
        common.ParticipantStatus.WAITLISTED,
        common.ParticipantStatus.CANCELLED,
        common.ParticipantStatus.REFUNDED,
    ]
    assert [p.id for p in mapped.participants] == [
        r["_id"] for r in server.db.registrations["full"]
    ]
    assert isinstance(mapped.raw, EventDetail)
    assert mapped.raw.event.id == "full"


async def test_the_day_before_the_clocks_change_is_gmt() -> None:
    async with fake(events=[event("gmt", "2026-03-28", startTime="09:30")]) as server:
        in_series(server, "gmt")
        async with client_for(server) as client:
            mapped = await IntervalsSource(client).get_event("gmt")
    assert mapped.starts_at == dt.datetime(2026, 3, 28, 9, 30, tzinfo=dt.timezone.utc)
    assert mapped.starts_at.utcoffset() == dt.timedelta(0)
    assert mapped.location == common.Location()
    assert mapped.distances_m == ()
    assert mapped.participants == ()


@pytest.mark.parametrize("series_id", [None, "no-such-series"])
async def test_without_a_known_series_the_timezone_is_unknown(series_id: str | None) -> None:
    fields = (
        {"startTime": "09:30"}
        if series_id is None
        else {"startTime": "09:30", "seriesId": series_id}
    )
    async with fake(events=[event("e", "2026-05-01", **fields)]) as server:
        async with client_for(server) as client:
            mapped = await IntervalsSource(client).get_event("e")
        assert mapped.timezone is None
        assert mapped.starts_at is None
        assert mapped.start_time == dt.time(9, 30)
        assert len([r for r in server.requests if r.path == "/series"]) == (series_id is not None)


async def test_a_series_event_without_start_time_has_a_timezone_but_no_instant() -> None:
    async with fake(events=[event("e", "2026-05-01")]) as server:
        in_series(server, "e", index=0)
        async with client_for(server) as client:
            mapped = await IntervalsSource(client).get_event("e")
    assert mapped.timezone == "America/New_York"
    assert mapped.starts_at is None


async def test_an_event_without_a_real_date_is_a_decode_error_naming_it() -> None:
    async with fake(events=[event("odd", "next spring")]) as server, client_for(server) as client:
        with pytest.raises(common.DecodeError, match="'odd'"):
            await IntervalsSource(client).get_event("odd")


async def test_iter_events_maps_every_event_and_looks_series_up_once(
    server: FakeIntervals,
) -> None:
    timezones = {s["_id"]: s["timezone"] for s in server.db.series}
    async with client_for(server) as client:
        source = IntervalsSource(client)
        events = [
            e async for e in source.iter_events(date_from=D(2026, 2, 1), date_to=D(2026, 11, 30))
        ]
    expected = {i for i, e in server.db.events.items() if "2026-02-01" <= e["date"] <= "2026-11-30"}
    assert {e.id for e in events} == expected
    assert len([r for r in server.requests if r.path == "/series"]) == 1
    for mapped in events:
        raw = server.db.events[mapped.id]
        assert isinstance(mapped.raw, IntervalsEvent)
        assert mapped.participants == ()
        assert mapped.timezone == timezones.get(raw.get("seriesId", ""))
        if mapped.timezone and mapped.start_time:
            assert mapped.starts_at is not None
            assert mapped.starts_at.tzinfo is not None
        else:
            assert mapped.starts_at is None


async def test_list_participants(server: FakeIntervals) -> None:
    event_id = list(server.db.events)[1]
    async with client_for(server) as client:
        participants = await IntervalsSource(client).list_participants(event_id)
    registrations = server.db.registrations[event_id]
    assert [p.id for p in participants] == [r["_id"] for r in registrations]
    assert [p.email for p in participants] == [r["email"] for r in registrations]
    assert [p.name for p in participants] == [r.get("name") for r in registrations]
    assert [p.raw_status for p in participants] == [r["registrationStatus"] for r in registrations]
    assert {p.event_id for p in participants} == {event_id}


async def test_an_unknown_registration_status_is_kept_as_unknown() -> None:
    registrations = [
        {"email": "a@example.com", "registrationType": "free", "registrationStatus": "pending"}
    ]
    # "pending" is outside the spec's enum: the fake would rightly flag its own response.
    async with (
        fake(
            events=[event("e", "2026-05-01", registrations=registrations)], validate=False
        ) as server,
        client_for(server) as client,
    ):
        (participant,) = await IntervalsSource(client).list_participants("e")
    assert participant.status is common.ParticipantStatus.UNKNOWN
    assert participant.raw_status == "pending"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("confirmed", common.ParticipantStatus.GOING),
        ("waitlist", common.ParticipantStatus.WAITLISTED),
        ("cancelled", common.ParticipantStatus.CANCELLED),
        ("refunded", common.ParticipantStatus.REFUNDED),
        ("no-show", common.ParticipantStatus.UNKNOWN),
    ],
)
def test_status_mapping(status: str, expected: common.ParticipantStatus) -> None:
    registration = Registration(
        id="r1",
        event_id="e1",
        event_run_id="run1",
        email="a@example.com",
        registration_type="free",
        registration_status=status,
    )
    participant = to_participant(registration)
    assert participant.status is expected
    assert participant.raw_status == status
    assert participant.raw is registration


async def test_a_key_without_read_series_keeps_timezones_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scopes = {"read:events", "read:participants"}
    async with (
        fake(api_keys={"narrow": scopes}) as server,
        client_for(server, api_key="narrow") as client,
    ):
        source = IntervalsSource(client)
        events = [e async for e in source.iter_events(date_to=D(2026, 1, 31))]
    assert events and all(e.timezone is None and e.starts_at is None for e in events)
    assert any(e.raw.series_id for e in events)  # they do belong to series
    assert sum(r.path == "/series" for r in server.requests) == 1  # asked once, not per event
    assert "read:series" in caplog.text
