"""IntervalsSource: Intervals events and registrations as common.Event / common.Participant."""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any
from zoneinfo import available_timezones

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

import common
from common.testing import Fault, ScriptedServer, json_response
from intervals_async import Event as IntervalsEvent
from intervals_async import EventDetail, EventRun, IntervalsSource, Registration
from intervals_async._source import to_common_event, to_participant
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
        with pytest.raises(common.DecodeError, match=r"'odd' .*field date is 'next spring'"):
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
        assert mapped.participants is None  # a listing shows none: unknown, not none
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


@pytest.mark.parametrize("event_id", [5, None, ""])
async def test_get_event_checks_the_id_before_sending(server: FakeIntervals, event_id: Any) -> None:
    # An id that is no string went out (GET /events/5), then failed on its registrations.
    async with client_for(server) as client:
        with pytest.raises(common.InvalidRequestError, match="event_id"):
            await IntervalsSource(client).get_event(event_id)
    assert server.requests == []


async def test_the_older_docs_statuses_over_http() -> None:
    """``waitlisted`` (older docs, beside the spec's ``waitlist``) is WAITLISTED; ``pending``
    and other words outside the vocabulary are UNKNOWN; ``raw_status`` keeps each word."""
    words = ["waitlisted", "pending", "no-show", "waitlist"]
    registrations = [
        {"email": "a@example.com", "registrationType": "free", "registrationStatus": word}
        for word in words
    ]
    # the first three are outside the spec's enum: the fake would rightly flag its own response
    async with (
        fake(
            events=[event("e", "2026-05-01", registrations=registrations)], validate=False
        ) as server,
        client_for(server) as client,
    ):
        participants = await IntervalsSource(client).list_participants("e")
    assert [(p.status, p.raw_status) for p in participants] == [
        (common.ParticipantStatus.WAITLISTED, "waitlisted"),
        (common.ParticipantStatus.UNKNOWN, "pending"),
        (common.ParticipantStatus.UNKNOWN, "no-show"),
        (common.ParticipantStatus.WAITLISTED, "waitlist"),
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("confirmed", common.ParticipantStatus.GOING),
        ("waitlist", common.ParticipantStatus.WAITLISTED),
        ("waitlisted", common.ParticipantStatus.WAITLISTED),
        ("cancelled", common.ParticipantStatus.CANCELLED),
        ("refunded", common.ParticipantStatus.REFUNDED),
        ("pending", common.ParticipantStatus.UNKNOWN),
        ("no-show", common.ParticipantStatus.UNKNOWN),
        ("WAITLIST", common.ParticipantStatus.UNKNOWN),
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


# --- the /series lookup: only a rejected key stops the listing ------------------------------

SERIES_FAILURES = {
    "403": [Fault.http(403)],
    "404 (no /series in the current reference)": [Fault.http(404)],
    "500": [Fault.http(500)] * 3,
    "503": [Fault.http(503)] * 3,
    "429": [Fault.http(429)] * 9,  # refusals: max_rate_limit_retries (8) retries
    "connection reset": [Fault.disconnect()] * 6,
    "not JSON": [Fault.raw(b"<html>busy</html>", content_type="text/html")],
    "not the model": [Fault.raw(b'{"data": [{"_id": 1, "timezone": null}]}')],
}


def timezone_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "intervals_async._source"]


@pytest.mark.parametrize("faults", SERIES_FAILURES.values(), ids=SERIES_FAILURES.keys())
async def test_a_failed_series_lookup_leaves_timezones_unknown_once(
    faults: list[Fault], caplog: pytest.LogCaptureFixture
) -> None:
    events = [event(f"e{n}", f"2026-05-0{n}", startTime="09:00") for n in range(1, 4)]
    async with fake(events=events) as server:
        for event_id in server.db.events:
            in_series(server, event_id)
        server.inject(*faults, path="/series")
        async with client_for(server) as client:
            source = IntervalsSource(client)
            first = [e async for e in source.iter_events()]
            again = [e async for e in source.iter_events(date_from=D(2026, 5, 2))]
            detail = await source.get_event("e1")
    assert [e.id for e in first] == ["e1", "e2", "e3"]
    assert [e.id for e in again] == ["e2", "e3"]
    assert all(e.timezone is None and e.starts_at is None for e in [*first, *again, detail])
    assert all(e.start_time == dt.time(9) and e.raw.series_id for e in first)
    (record,) = timezone_warnings(caplog)  # one warning for the source's whole life
    assert record.levelno == logging.WARNING
    assert "timezone=None" in record.getMessage()
    lookups = sum(r.path == "/series" for r in server.requests)
    assert 1 <= lookups <= len(faults)  # the attempts of one lookup, never a second one


async def test_each_source_looks_series_up_once(caplog: pytest.LogCaptureFixture) -> None:
    async with fake(events=[event("e", "2026-05-01", startTime="09:00")]) as server:
        in_series(server, "e")
        server.inject(Fault.http(404), path="/series")
        async with client_for(server) as client:
            degraded = IntervalsSource(client)
            assert (await degraded.get_event("e")).timezone is None
            assert (await degraded.get_event("e")).timezone is None
            fresh = await IntervalsSource(client).get_event("e")  # a new source asks again
    assert fresh.timezone == "Europe/London"
    assert fresh.starts_at == dt.datetime(2026, 5, 1, 8, tzinfo=dt.timezone.utc)
    assert sum(r.path == "/series" for r in server.requests) == 2
    assert len(timezone_warnings(caplog)) == 1


async def test_a_rejected_key_on_series_is_raised(caplog: pytest.LogCaptureFixture) -> None:
    async with fake(events=[event("e", "2026-05-01")]) as server:
        in_series(server, "e")
        server.inject(Fault.http(401), path="/series")
        async with client_for(server) as client:
            with pytest.raises(common.AuthenticationError):
                _ = [e async for e in IntervalsSource(client).iter_events()]
    assert timezone_warnings(caplog) == []


# --- events the common type cannot hold, and hostile values ---------------------------------


async def test_an_event_without_a_real_date_is_skipped_with_a_warning() -> None:
    events = [event("ok", "2026-05-01"), event("odd", "2026-02-30"), event("ok2", "2026-05-02")]
    async with fake(events=events) as server, client_for(server) as client:
        with pytest.warns(common.SkippedEventWarning) as caught:
            found = [e.id async for e in IntervalsSource(client).iter_events()]
    assert sorted(found) == ["ok", "ok2"]
    assert [str(w.message) for w in caught] == [
        "Intervals event 'odd' left out of iter_events: its date '2026-02-30'"
        " is not a YYYY-MM-DD date"
    ]
    assert caught[0].filename == __file__  # points at the caller's loop


async def test_dates_at_the_ends_of_the_calendar() -> None:
    """0001-01-01/02 and 9999-12-31 list and map; an instant datetime cannot hold in UTC
    has ``starts_at=None`` instead of an OverflowError now or when compared later."""
    events = [
        event("first", "0001-01-01", startTime="00:30", endDate="0001-01-01", endTime="00:00"),
        event("second", "0001-01-02", startTime="00:00"),
        event("last", "9999-12-31", startTime="23:30"),
    ]
    async with fake(events=events) as server:
        tokyo, new_york = server.db.series[0], server.db.series[1]
        tokyo["timezone"], new_york["timezone"] = "Asia/Tokyo", "America/New_York"
        in_series(server, "first", 0)
        in_series(server, "second", 0)
        in_series(server, "last", 1)
        async with client_for(server) as client:
            source = IntervalsSource(client)
            listed = {
                e.id: e
                async for e in source.iter_events(date_from=dt.date.min, date_to=dt.date.max)
            }
            unbounded = [e.id async for e in source.iter_events(date_to=dt.date(9998, 1, 1))]
            details = {i: await source.get_event(i) for i in ("first", "second", "last")}
    assert sorted(listed) == ["first", "last", "second"]
    assert sorted(unbounded) == ["first", "second"]
    for mapped in (listed, details):
        assert mapped["first"].starts_at is None  # 0001-01-01 00:30 +09:18 is before year 1
        assert mapped["last"].starts_at is None  # 9999-12-31 23:30 -05:00 is after year 9999
        second = mapped["second"].starts_at
        assert second is not None
        assert second.astimezone(dt.timezone.utc) == dt.datetime(
            1, 1, 1, 14, 41, 1, tzinfo=dt.timezone.utc
        )
        assert mapped["first"].timezone == "Asia/Tokyo"
    assert details["first"].end_date == dt.date(1, 1, 1)
    starts = sorted(e.starts_at for e in details.values() if e.starts_at is not None)
    assert starts == [details["second"].starts_at]


def run(metres: float) -> EventRun:
    return EventRun(
        id="r",
        event_id="e",
        distance_meters=metres,
        distance_standard="Other",
        distance_label="x",
        date=D(2026, 5, 1),
    )


def test_distances_keep_only_finite_positive_metres() -> None:
    runs = [run(m) for m in (5000.0, math.nan, math.inf, -math.inf, -1.0, 0.0, 1e308)]
    mapped = to_common_event(
        IntervalsEvent(
            id="e", name="n", slug="s", type="race", date=D(2026, 5, 1), organization_id="o"
        ),
        timezone=None,
        runs=runs,
    )
    assert mapped.distances_m == (5000.0, 1e308)


EVENTS = st.builds(
    IntervalsEvent,
    id=st.text(min_size=1, max_size=4),
    name=st.text(max_size=4),
    slug=st.just("s"),
    type=st.just("race"),
    date=st.dates() | st.text(max_size=10),
    organization_id=st.just("o"),
    start_time=st.none() | st.text(max_size=8) | st.times().map(lambda t: t.strftime("%H:%M")),
    end_date=st.none() | st.dates() | st.text(max_size=10),
    end_time=st.none() | st.text(max_size=8),
)
ZONES = st.none() | st.sampled_from(sorted(available_timezones())) | st.text(max_size=12)


@settings(max_examples=300, deadline=None)
@given(EVENTS, ZONES)
def test_to_common_event_gives_an_event_or_a_decode_error(
    raw: IntervalsEvent, timezone: str | None
) -> None:
    try:
        mapped = to_common_event(raw, timezone=timezone)
    except common.DecodeError:
        assert not isinstance(raw.date, dt.date)
        return
    assert mapped.start_date == raw.date
    if mapped.starts_at is not None:
        assert mapped.timezone == timezone
        mapped.starts_at.astimezone(dt.timezone.utc)  # comparable with any other


async def test_iter_events_keeps_to_the_dates_when_the_server_ignores_them() -> None:
    """The EventSource's dates hold even against a server that sends every event whatever
    ``dateFrom``/``dateTo`` say (a raw server following neither)."""
    days = ["2026-04-30", "2026-05-01", "2026-05-02", "2026-05-03"]

    async def everything(request: web.Request) -> web.StreamResponse:
        return json_response({"data": [event(day, day, organizationId="o1") for day in days]})

    async with ScriptedServer(everything) as server, client_for(server) as client:
        source = IntervalsSource(client)
        with pytest.warns(common.TruncationWarning, match="2 event.s. dated outside"):
            found = [
                e.id
                async for e in source.iter_events(
                    date_from=dt.date(2026, 5, 1), date_to=dt.date(2026, 5, 2)
                )
            ]
    assert found == ["2026-05-01", "2026-05-02"]
    assert server.requests[0].query["dateFrom"] == "2026-05-01"


async def test_a_key_without_read_participants_gets_the_event_with_participants_unknown() -> None:
    """No ``read:participants`` scope: the provider does not show this caller the
    participants, so ``participants`` is None (not ``()``, "none"), as for a RideWithGPS
    event the caller does not own; ``list_participants`` raises the 403 itself."""
    async with fake(api_keys={"narrow": {"read:events", "read:series"}}) as server:
        event_id = next(iter(server.db.events))
        async with client_for(server, api_key="narrow") as client:
            source = IntervalsSource(client)
            got = await source.get_event(event_id)
            with pytest.raises(common.PermissionDeniedError, match="read:participants"):
                await source.list_participants(event_id)
    assert got.id == event_id
    assert got.participants is None
