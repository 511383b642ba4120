"""Calendars: ``common.to_ics`` parsed back with icalendar; stable UIDs and bytes across runs;
events from both fakes; the library without icalendar."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import zoneinfo
from typing import Any

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import common
from common._ics import ICS_EPOCH, ics_uid
from intervals_async import IntervalsClient, IntervalsSource
from intervals_async.testing import FakeIntervals
from ridewithgps_async import RideWithGPSClient, RideWithGPSSource
from ridewithgps_async.testing import FakeRideWithGPS

D, T = dt.date, dt.time
DUBLIN = zoneinfo.ZoneInfo("Europe/Dublin")


def event(**fields: Any) -> common.Event:
    fields.setdefault("provider", common.Provider.INTERVALS)
    fields.setdefault("id", "ev_71a2")
    fields.setdefault("name", "Canal 10K")
    fields.setdefault("start_date", D(2026, 9, 13))
    return common.Event(**fields)


def parse(text: str) -> tuple[icalendar.Calendar, dict[str, Any]]:
    """The calendar and its VEVENTs by UID (each UID once)."""
    calendar = icalendar.Calendar.from_ical(text)
    vevents = calendar.walk("VEVENT")
    by_uid = {str(v["UID"]): v for v in vevents}
    assert len(by_uid) == len(vevents)
    return calendar, by_uid


CANAL = event(
    start_time=T(10, 15),
    end_time=T(12, 0),
    timezone="Europe/Dublin",
    starts_at=dt.datetime(2026, 9, 13, 10, 15, tzinfo=DUBLIN),
    location=common.Location(
        name="Phoenix Park", locality="Dublin", country="IE", lat=53.3559, lng=-6.3298
    ),
    description="Bring water; chip timing, all paces.",
    url="https://example.org/canal-10k",
    registration_url="https://example.org/canal-10k/register",
)
GRAN_FONDO = event(
    provider=common.Provider.RIDEWITHGPS,
    id="101",
    name="Gran Fondo, weekend",
    start_date=D(2026, 10, 3),
    end_date=D(2026, 10, 4),
)


def test_an_all_day_event_ending_at_midnight_ends_the_day_before() -> None:
    # Intervals' endTime 24:00 (the end of its day) maps to 00:00 of the next day: the
    # all-day event was written ending a day later, two days in a calendar.
    for ends in (D(2026, 9, 14), D(2026, 9, 15)):
        one = event(end_date=ends, end_time=dt.time())
        _, vevents = parse(common.to_ics([one]))
        (vevent,) = vevents.values()
        assert vevent.decoded("DTSTART") == D(2026, 9, 13)
        assert vevent.decoded("DTEND") == ends  # exclusive: the last day is the one before


@pytest.mark.anyio
async def test_an_intervals_event_of_one_day_ending_at_24_00_is_one_day() -> None:
    async with (
        FakeIntervals() as server,
        IntervalsClient(api_key="test-key", base_url=server.url) as client,
    ):
        event_id = min(server.db.events, key=lambda e: len(server.db.registrations.get(e, [])))
        server.db.events[event_id].pop("startTime", None)
        server.db.events[event_id].pop("endDate", None)
        server.db.events[event_id]["endTime"] = "24:00"
        mapped = await IntervalsSource(client).get_event(event_id)
    (vevent,) = parse(common.to_ics([mapped]))[1].values()
    assert vevent.decoded("DTEND") - vevent.decoded("DTSTART") == dt.timedelta(days=1)


def test_a_timed_event_in_its_zone_and_an_all_day_event() -> None:
    calendar, vevents = parse(common.to_ics([CANAL, GRAN_FONDO], name="Liffey Striders"))
    assert str(calendar["X-WR-CALNAME"]) == "Liffey Striders"
    assert str(calendar["VERSION"]) == "2.0"
    assert set(vevents) == {"intervals-ev_71a2@eventsync", "ridewithgps-101@eventsync"}

    canal = vevents["intervals-ev_71a2@eventsync"]
    start = canal.decoded("DTSTART")
    assert start == dt.datetime(2026, 9, 13, 10, 15, tzinfo=DUBLIN)
    assert start.utcoffset() == dt.timedelta(hours=1)  # Irish summer time
    assert canal["DTSTART"].params["TZID"] == "Europe/Dublin"
    assert canal.decoded("DTEND") == dt.datetime(2026, 9, 13, 12, 0, tzinfo=DUBLIN)
    assert str(canal["SUMMARY"]) == "Canal 10K"
    assert str(canal["LOCATION"]) == "Phoenix Park, Dublin, IE"
    assert canal["GEO"].latitude == pytest.approx(53.3559)
    assert str(canal["URL"]) == "https://example.org/canal-10k"
    description = str(canal["DESCRIPTION"])
    assert description.startswith("Bring water; chip timing, all paces.")
    assert "https://example.org/canal-10k/register" in description
    assert canal.decoded("DTSTAMP") == ICS_EPOCH
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Dublin"]

    fondo = vevents["ridewithgps-101@eventsync"]
    assert fondo["DTSTART"].params.get("VALUE") == "DATE"
    assert fondo.decoded("DTSTART") == D(2026, 10, 3)
    assert fondo.decoded("DTEND") == D(2026, 10, 5)  # exclusive: through the 4th
    assert str(fondo["SUMMARY"]) == "Gran Fondo, weekend"
    assert "LOCATION" not in fondo


def test_an_unknown_timezone_is_written_in_utc_as_the_contract_says() -> None:
    text = common.to_ics([event(start_time=T(7, 0), end_time=T(8, 30))])
    vevent = parse(text)[1]["intervals-ev_71a2@eventsync"]
    assert vevent.decoded("DTSTART") == dt.datetime(2026, 9, 13, 7, 0, tzinfo=dt.timezone.utc)
    assert vevent.decoded("DTEND") == dt.datetime(2026, 9, 13, 8, 30, tzinfo=dt.timezone.utc)
    assert "DTSTART:20260913T070000Z" in text.splitlines()  # never a floating time


def test_an_aware_start_without_a_zone_name_is_written_in_utc() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    fixed = event(
        start_time=T(9, 0),
        end_time=T(11, 0),
        starts_at=dt.datetime(2026, 9, 13, 9, 0, tzinfo=plus_two),
    )
    _, vevents = parse(common.to_ics([fixed]))
    vevent = vevents["intervals-ev_71a2@eventsync"]
    assert vevent.decoded("DTSTART") == dt.datetime(2026, 9, 13, 7, 0, tzinfo=dt.timezone.utc)
    assert vevent.decoded("DTEND") == dt.datetime(2026, 9, 13, 9, 0, tzinfo=dt.timezone.utc)
    assert "TZID" not in vevent["DTSTART"].params


def test_same_events_same_bytes_whatever_the_order_and_duplicates_once() -> None:
    one = common.to_ics([CANAL, GRAN_FONDO])
    assert common.to_ics([GRAN_FONDO, CANAL, CANAL]) == one
    assert one.endswith("END:VCALENDAR\r\n")


def test_a_changed_event_keeps_its_uid() -> None:
    before = parse(common.to_ics([CANAL, GRAN_FONDO]))[1]
    moved = common.Event(
        **{**{a: getattr(CANAL, a) for a in ("provider", "id", "timezone")}},
        name="Canal 10K (new course)",
        start_date=D(2026, 9, 20),
    )
    after = parse(common.to_ics([moved, GRAN_FONDO]))[1]
    assert set(after) == set(before)
    assert str(after["intervals-ev_71a2@eventsync"]["SUMMARY"]) == "Canal 10K (new course)"
    assert ics_uid(moved) == "intervals-ev_71a2@eventsync"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["club", "club-x", "a%2D", "intervals"]),
            st.text("x-1%\x00\n\x7f\ud800", min_size=1, max_size=4),
        ),
        max_size=8,
    )
)
def test_two_events_never_share_a_uid(keys: list[tuple[str, str]]) -> None:
    # <provider>-<id> was ambiguous for a plug-in named with a "-" (club + "x-1" and
    # club-x + "1": one of them dropped silently), and ids told apart only by a control
    # character (which text may not hold) were written with one UID.
    given_events = [event(provider=provider, id=id) for provider, id in keys]
    _, vevents = parse(common.to_ics(given_events))  # (parse asserts each UID once)
    assert len(vevents) == len(set(keys))
    assert {ics_uid(e) for e in given_events} == set(vevents)


def test_an_aware_start_time_beside_a_naive_one_is_ordered() -> None:
    # (a plug-in's own times: the comparison raised a bare TypeError)
    aware = event(id="1", start_time=T(9, tzinfo=dt.timezone.utc), end_time=T(8))
    naive = event(id="2", start_time=T(10), end_time=T(9, tzinfo=dt.timezone.utc))
    _, vevents = parse(common.to_ics([naive, aware]))
    assert list(vevents) == ["intervals-1@eventsync", "intervals-2@eventsync"]


def test_an_empty_calendar_is_a_valid_document() -> None:
    calendar, vevents = parse(common.to_ics([]))
    assert vevents == {}
    assert str(calendar["PRODID"]).startswith("-//eventsync")
    # RFC 5545 3.6: a calendar holds one component at least (it had none)
    assert [c.name for c in calendar.subcomponents] == ["VTIMEZONE"]
    assert str(calendar.subcomponents[0]["TZID"]) == "UTC"


def test_each_zone_is_written_for_every_year_of_the_events() -> None:
    # Only the newest 30 years were written: a 2026 event beside one in 2060 referred to a
    # VTIMEZONE that began in 2032 ("This timezone only works from 2032-01-01").
    berlin = {"start_time": T(9), "timezone": "Europe/Berlin"}
    text = common.to_ics(
        [
            event(id="1", start_date=D(2026, 7, 4), **berlin),
            event(id="2", start_date=D(2060, 7, 4), **berlin),
        ]
    )
    calendar, _ = parse(text)
    (zone,) = calendar.walk("VTIMEZONE")
    assert min(c["DTSTART"].dt.year for c in zone.subcomponents) <= 2026
    assert "only works from 2026-01-01 to 2062-01-01" in str(zone["COMMENT"])


INJECTED = "x\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil@eventsync\r\nSUMMARY:spoof\rY\nZ"


def test_line_breaks_in_any_field_cannot_add_a_property_or_an_event() -> None:
    """Provider data (and the calendar's name) with CR/LF stay inside their property: the
    document parses back to the one event given; a URL that holds a line break (not a usable
    link, and icalendar refuses it) is left out instead of failing the whole feed."""
    hostile = event(
        id="ev" + INJECTED,
        name=INJECTED,
        description=INJECTED,
        url="https://example.org/" + INJECTED,
        registration_url="https://example.org/register" + INJECTED,
        location=common.Location(name=INJECTED, locality=INJECTED),
    )
    text = common.to_ics([hostile], name="Club" + INJECTED)
    lines = text.split("\r\n")
    assert not [line for line in lines if "\r" in line or "\n" in line]
    assert "UID:evil@eventsync" not in lines
    assert lines.count("BEGIN:VEVENT") == 1
    _, vevents = parse(text)
    ((uid, vevent),) = vevents.items()  # (a line break reads back as LF, escaped as \\n)
    assert uid == ics_uid(hostile).replace("\r\n", "\n").replace("\r", "\n")
    assert "URL" not in vevent
    assert str(vevent["SUMMARY"]).startswith("x\nEND:VEVENT")
    for field in ("NAME", "X-WR-CALNAME"):  # icalendar reads these back unparsed: the line
        assert any(line.startswith(f"{field}:Clubx\\nEND:VEVENT\\nBEGIN") for line in lines)


def test_a_url_with_a_line_break_gives_way_to_the_registration_link() -> None:
    text = common.to_ics([event(url="https://a.example/\nX", registration_url=CANAL.url)])
    (vevent,) = parse(text)[1].values()
    assert str(vevent["URL"]) == CANAL.url


# --- any event ------------------------------------------------------------------------------

ZONES = [None, "Europe/Dublin", "America/New_York", "Australia/Sydney", "Asia/Kathmandu"]
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    str.strip
)


@st.composite
def events(draw: st.DrawFn) -> common.Event:
    start = draw(st.dates(D(1900, 1, 1), D(2200, 12, 31)))
    time = draw(st.none() | st.times().map(lambda t: t.replace(microsecond=0)))
    zone = draw(st.sampled_from(ZONES))
    return common.Event(
        provider=draw(st.sampled_from(list(common.Provider))),
        id=draw(st.text("abcdef0123456789_", min_size=1, max_size=12)),
        name=draw(TEXT),
        start_date=start,
        start_time=time,
        end_date=draw(st.none() | st.dates(start, start + dt.timedelta(days=3))),
        timezone=zone,
        starts_at=common.provider.local_start(start, time, zone),
        location=common.Location(locality=draw(st.none() | TEXT)),
        description=draw(st.none() | TEXT),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), max_size=6))
def test_any_events_parse_back(given_events: list[common.Event]) -> None:
    text = common.to_ics(given_events)
    unique = {ics_uid(e): e for e in reversed(given_events)}  # the first of each UID wins
    if len(unique) == len(given_events):  # (of two different events with one UID, the first)
        assert common.to_ics(list(reversed(given_events))) == text
    _, vevents = parse(text)
    assert set(vevents) == set(unique)
    for uid, source in unique.items():
        vevent = vevents[uid]
        assert str(vevent["SUMMARY"]) == source.name
        start = vevent.decoded("DTSTART")
        if source.start_time is None:
            assert start == source.start_date
            assert not isinstance(start, dt.datetime)
        else:
            assert (start.date(), start.time()) == (source.start_date, source.start_time)
            if source.timezone is None:  # no zone known: UTC, never floating
                assert start.tzinfo is not None
                assert start.utcoffset() == dt.timedelta(0)
            else:
                assert getattr(start.tzinfo, "key", None) == source.timezone


# --- from the fakes -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_intervals_feed_from_the_fake() -> None:
    async with (
        FakeIntervals(events=40, today=D(2026, 4, 1)) as server,
        IntervalsClient(api_key="test-key", base_url=server.url) as client,
    ):
        source = IntervalsSource(client)
        fetched = [e async for e in source.iter_events()]
    text = common.to_ics(fetched, name="Harbourside")
    _, vevents = parse(text)
    assert set(vevents) == {f"intervals-{event_id}@eventsync" for event_id in server.db.events}
    zoned = [e for e in fetched if e.starts_at is not None]
    assert zoned
    for source_event in zoned:
        start = vevents[ics_uid(source_event)].decoded("DTSTART")
        assert start == source_event.starts_at
        assert start.utcoffset() == source_event.starts_at.utcoffset()


@pytest.mark.anyio
async def test_a_ridewithgps_feed_is_stamped_with_the_last_update() -> None:
    async with (
        FakeRideWithGPS() as server,
        RideWithGPSClient(
            api_key="test-api-key", auth_token="test-auth-token", base_url=server.url
        ) as client,
    ):
        fetched = [e async for e in RideWithGPSSource(client).iter_events()]
    text = common.to_ics(fetched)
    _, vevents = parse(text)
    assert len(vevents) == len(fetched)
    for source_event in fetched:
        vevent = vevents[ics_uid(source_event)]
        assert vevent.decoded("DTSTAMP") == source_event.raw.updated_at
        assert vevent.decoded("LAST-MODIFIED") == source_event.raw.updated_at


# --- without icalendar ----------------------------------------------------------------------


def test_without_icalendar_the_library_imports_and_to_ics_names_the_extra() -> None:
    script = (
        "import sys\n"
        "sys.modules['icalendar'] = None\n"  # an import of it now fails, as when not installed
        "import datetime, common, intervals_async, ridewithgps_async\n"
        "day = datetime.date.today()\n"
        "e = common.Event(provider='intervals', id='1', name='n', start_date=day)\n"
        "try:\n"
        "    common.to_ics([e])\n"
        "except common.InvalidRequestError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'eventsync[ics]'" in result.stdout


def test_the_bytes_do_not_depend_on_the_process() -> None:
    """Several zones in one feed: the same bytes under different string-hash seeds."""
    script = (
        "import datetime as d, common\n"
        "zones = ['Europe/Dublin', 'America/New_York', 'Asia/Kathmandu', 'Australia/Sydney']\n"
        "print(common.to_ics([common.Event(provider='intervals', id=z, name=z,\n"
        "    start_date=d.date(2026, 5, 1), start_time=d.time(9), timezone=z) for z in zones]))\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            timeout=60,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(4)
    }
    assert len(outputs) == 1
    assert next(iter(outputs)).count(b"BEGIN:VTIMEZONE") == 4


@pytest.mark.parametrize(
    ("lat", "lng", "written"),
    [
        (51.4769, -0.00005, "51.4769;-0.00005"),  # Greenwich: was -5e-05
        (0.00001, 78.5, "0.00001;78.5"),  # near the equator: was 1e-05
        (0.0, -180.0, "0.0;-180.0"),
        (-33.8688197, 151.2092945, "-33.86882;151.209294"),  # six decimal places at most
    ],
)
def test_geo_is_written_as_rfc_5545_floats(lat: float, lng: float, written: str) -> None:
    location = common.Location(lat=lat, lng=lng)
    text = common.to_ics([event(location=location)])
    assert f"\r\nGEO:{written}\r\n" in text
    (vevent,) = parse(text)[1].values()
    assert vevent["GEO"].latitude == pytest.approx(lat, abs=1e-6)
    assert vevent["GEO"].longitude == pytest.approx(lng, abs=1e-6)


@pytest.mark.parametrize(("end", "has_end"), [(T(3, 15), False), (T(3, 30), False), (T(4), True)])
def test_a_start_in_a_clock_change_gap_never_ends_before_it_begins(
    end: dt.time, has_end: bool
) -> None:
    # 02:30 does not exist in New York on 8 March 2026: read with the offset before the gap
    # (RFC 5545, as Python's fold=0), it is 07:30 UTC, and an end at 03:15 (07:15 UTC) came
    # out as a DTEND before the DTSTART (in one zone Python compares wall clocks).
    gap = event(start_date=D(2026, 3, 8), start_time=T(2, 30), end_time=end,
                timezone="America/New_York")  # fmt: skip
    (vevent,) = parse(common.to_ics([gap]))[1].values()
    start = vevent.decoded("DTSTART")
    assert start.astimezone(dt.timezone.utc) == dt.datetime(
        2026, 3, 8, 7, 30, tzinfo=dt.timezone.utc
    )
    assert ("DTEND" in vevent) is has_end
    if has_end:
        assert vevent.decoded("DTEND") > start
