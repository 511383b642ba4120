"""Listings end after a bounded number of requests against servers that make no progress.

Each server here misbehaves the way issue 12 observed (a cursor that is ignored, date
bounds that are ignored, dates at the ends of the calendar); each test bounds the
number of requests and checks that what was listed is right and the cut is announced.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiohttp import web

import common
from common.testing import FakeServer, json_response
from intervals_async import IntervalsClient
from intervals_async._client import WINDOW_PATIENCE

pytestmark = pytest.mark.anyio

FAST = common.RetryPolicy(backoff_base=0)


def event(index: int, date: str) -> dict[str, Any]:
    return {
        "_id": f"ev{index:05d}",
        "name": f"Event {index}",
        "slug": f"event-{index}",
        "type": "race",
        "date": date,
        "organizationId": "org1",
    }


def registration(index: int) -> dict[str, Any]:
    return {
        "_id": f"reg{index:05d}",
        "eventId": "ev1",
        "eventRunId": "run1",
        "email": f"r{index}@example.com",
        "registrationType": "free",
        "registrationStatus": "confirmed",
    }


class Stubborn(FakeServer):
    """Answers every listing with the same items, whatever ``after``/``dateFrom``/``dateTo`` say.

    ``has_more``: the value of ``hasMore`` (None: no cursor at all).
    """

    def __init__(
        self,
        *,
        events: list[dict[str, Any]] | None = None,
        has_more: bool | None = True,
    ) -> None:
        super().__init__()
        self.events = events if events is not None else [event(i, "2026-05-01") for i in range(100)]
        self.has_more = has_more
        self.app.router.add_get("/registration", self.registrations)
        self.app.router.add_get("/events", self.list_events)

    def body(self, data: list[dict[str, Any]]) -> web.Response:
        body: dict[str, Any] = {"data": data}
        if self.has_more is not None:
            body["hasMore"] = self.has_more
        return json_response(body)

    async def registrations(self, request: web.Request) -> web.Response:
        return self.body([registration(i) for i in range(100)])

    async def list_events(self, request: web.Request) -> web.Response:
        return self.body(self.events)


def client_for(server: FakeServer) -> IntervalsClient:
    return IntervalsClient(api_key="k", base_url=server.url, retry_policy=FAST)


async def test_list_registrations_stops_when_the_cursor_is_ignored() -> None:
    async with Stubborn() as server, client_for(server) as client:
        with pytest.warns(common.TruncationWarning, match="not making progress"):
            registrations = await client.list_registrations("ev1")
    assert [r.id for r in registrations] == [f"reg{i:05d}" for i in range(100)]
    assert len(server.requests) == 2  # was 9,354 requests in 8 s
    assert server.requests[1].query["after"] == "reg00099"


async def test_list_registrations_stops_on_a_cursor_cycle() -> None:
    class Cycling(Stubborn):
        async def registrations(self, request: web.Request) -> web.Response:
            if request.query.get("after") != "reg00099":
                return self.body([registration(i) for i in range(100)])
            page = [registration(i) for i in range(100, 200)]
            page[-1] = registration(99)  # its last id leads back to the same cursor
            return self.body(page)

    async with Cycling() as server, client_for(server) as client:
        with pytest.warns(common.TruncationWarning, match="cursor already followed"):
            registrations = await client.list_registrations("ev1")
    assert len(registrations) == 199  # every distinct registration, once
    assert len(server.requests) == 2


async def test_iter_events_stops_when_the_cursor_is_ignored() -> None:
    async with Stubborn() as server, client_for(server) as client:
        with pytest.warns(common.TruncationWarning, match="not making progress"):
            events = [e async for e in client.iter_events(date_from=dt.date(2026, 1, 1))]
    assert len(events) == len({e.id for e in events}) == 100
    assert len(server.requests) == 2  # was the same cursor re-sent 4,012 times


async def test_iter_events_stops_when_the_server_ignores_the_date_window() -> None:
    async with Stubborn(has_more=None) as server, client_for(server) as client:
        # a full page outside the window asked for is now caught before the nothing-new guard
        with pytest.warns(common.TruncationWarning) as record:
            events = [e async for e in client.iter_events(date_from=dt.date(2026, 1, 1))]
    assert any("none of them in that window" in str(w.message) for w in record)
    assert len(events) == 100
    # was: windows split day by day toward the year 9999
    assert len(server.requests) <= 1 + WINDOW_PATIENCE + 1
    assert all(r.query["dateFrom"] >= "2026-01-01" for r in server.requests)


@pytest.mark.parametrize("date", ["0001-01-01", "0001-01-02", "9999-12-30", "9999-12-31"])
async def test_events_at_the_ends_of_the_calendar(date: str) -> None:
    server = Stubborn(events=[event(i, date) for i in range(100)], has_more=None)
    async with server, client_for(server) as client:
        with pytest.warns(common.TruncationWarning):
            events = [e async for e in client.iter_events()]
    assert len(events) == 100  # was a bare OverflowError
    assert len(server.requests) <= 1 + WINDOW_PATIENCE + 1


async def test_a_single_full_day_at_the_calendar_start_is_one_window() -> None:
    class Honest(Stubborn):
        async def list_events(self, request: web.Request) -> web.Response:
            lo = request.query.get("dateFrom", "0001-01-01")
            hi = request.query.get("dateTo", "9999-12-31")
            return self.body([e for e in self.events if lo <= e["date"] <= hi][:100])

    crowded = [event(i, "0001-01-01") for i in range(150)] + [event(500, "0001-01-02")]
    async with Honest(events=crowded, has_more=None) as server, client_for(server) as client:
        with pytest.warns(common.TruncationWarning, match="0001-01-01"):
            events = [e async for e in client.iter_events()]
    assert {e.id for e in events} >= {"ev00500"}
    assert len(events) == 101
    assert len(server.requests) < 10


async def test_a_server_ignoring_the_dates_with_ever_new_ids_ends_in_a_few_requests() -> None:
    """Ids that never repeat defeat the nothing-new guard: the window split must stop on its
    own once a full page holds no event of the window asked for (was a walk toward 9999,
    a request per day)."""

    class Fresh(Stubborn):
        served = 0

        async def list_events(self, request: web.Request) -> web.Response:
            Fresh.served += 1
            return self.body([event(Fresh.served * 1000 + i, "2026-05-01") for i in range(100)])

    async with Fresh(has_more=None) as server, client_for(server) as client:
        with pytest.warns(common.TruncationWarning) as record:
            events = [e async for e in client.iter_events(date_from=dt.date(2026, 6, 1))]
    assert any("none of them in that window" in str(w.message) for w in record)
    assert len(server.requests) <= 3
    assert events == []  # every one dated before the window asked for: not a match


class CursorOnly(Stubborn):
    """Pages honestly by ``after`` (100 a page, ``hasMore``), but has no series or date
    filter: the current reference lists no ``seriesId``, and a server may ignore dates."""

    async def list_events(self, request: web.Request) -> web.Response:
        ids = [e["_id"] for e in self.events]
        after = request.query.get("after")
        start = 0 if after is None else ids.index(after) + 1
        self.has_more = start + 100 < len(self.events)
        return self.body(self.events[start : start + 100])


async def test_a_filter_the_server_ignores_does_not_end_a_cursor_listing_early() -> None:
    # Pages whose every event the client left out (another series, other dates) counted as
    # "nothing new": after four of them the listing stopped, blaming the server, and the
    # events asked for, on the pages after, were lost (0 of 50).
    events = [event(i, "2026-05-01") | {"seriesId": "B"} for i in range(550)]
    events += [event(i, "2026-06-01") | {"seriesId": "A"} for i in range(550, 600)]
    wanted = [f"ev{i:05d}" for i in range(550, 600)]
    async with CursorOnly(events=events) as server, client_for(server) as client:
        with pytest.warns(common.TruncationWarning) as by_series:
            of_a = [e.id async for e in client.iter_events(series_id="A")]
        with pytest.warns(common.TruncationWarning) as by_dates:
            in_june = [e.id async for e in client.iter_events(date_from=dt.date(2026, 6, 1))]
    assert of_a == in_june == wanted
    assert len(server.requests) == 2 * 6
    assert [str(w.message) for w in by_series] == [
        "GET /events with seriesId='A': 100 event(s) of another series were left out"
    ]
    assert len(by_dates) == 6  # one per page that held such events
    assert all("dated outside dateFrom=2026-06-01" in str(w.message) for w in by_dates)
    assert not any("not making progress" in str(w.message) for w in [*by_series, *by_dates])


async def test_a_limit_is_kept_to_when_the_server_sends_more() -> None:
    # A server that ignores `limit` (this one sends 100 whatever is asked): the caller got
    # all 100 for limit=5.
    async with Stubborn() as server, client_for(server) as client:
        events = await client.list_events(limit=5)
        registrations = await client.list_registrations("ev1", limit=5)
    assert [e.id for e in events] == [f"ev{i:05d}" for i in range(5)]
    assert [r.id for r in registrations] == [f"reg{i:05d}" for i in range(5)]
    assert [r.query["limit"] for r in server.requests] == ["5", "5"]
