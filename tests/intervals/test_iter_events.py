"""iter_events: every event past the 100 cap, by splitting date windows or following the cursor."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import common
from common.testing import Fault
from intervals_async import Event, EventType, IntervalsClient
from intervals_async.testing import FakeIntervals

from .conftest import client_for, fake

pytestmark = pytest.mark.anyio

D = dt.date


def expected_ids(server: FakeIntervals, **where: Any) -> list[str]:
    """Ids of the fake's events matching ``where``, in the fake's (date, id) order."""
    lo, hi = where.pop("date_from", D.min), where.pop("date_to", D.max)
    events = sorted(server.db.events.values(), key=lambda e: (e["date"], e["_id"]))
    return [
        e["_id"]
        for e in events
        if lo <= D.fromisoformat(e["date"]) <= hi
        and all(e.get(key) == value for key, value in where.items())
    ]


async def collect(client: IntervalsClient, **filters: Any) -> list[Event]:
    return [event async for event in client.iter_events(**filters)]


async def test_every_event_of_a_year_without_date_bounds(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    events = await collect(client)
    assert [e.id for e in events] == expected_ids(server)  # all 300, once each, by date
    assert len(events) == 300
    assert {r.query["limit"] for r in server.requests} == {"100"}
    assert len(server.requests) < 20


async def test_several_hundred_more_events() -> None:
    async with fake(events=800, seed=3) as server, client_for(server) as client:
        events = await collect(client)
        assert sorted(e.id for e in events) == sorted(server.db.events)


@pytest.mark.parametrize(
    "bounds",
    [
        {"date_from": D(2026, 3, 1), "date_to": D(2026, 9, 30)},
        {"date_from": D(2026, 4, 15)},
        {"date_to": D(2026, 10, 1)},
        {"date_from": "2026-06-01", "date_to": "2026-06-01"},
    ],
)
async def test_every_event_within_date_bounds(
    server: FakeIntervals, client: IntervalsClient, bounds: dict[str, Any]
) -> None:
    events = await collect(client, **bounds)
    where = {k: D.fromisoformat(v) if isinstance(v, str) else v for k, v in bounds.items()}
    assert [e.id for e in events] == expected_ids(server, **where)
    for request in server.requests:
        assert request.query.get("dateFrom", "") <= request.query.get("dateTo", "9999")
        if "date_from" in where:
            assert request.query["dateFrom"] >= where["date_from"].isoformat()


async def test_filters_are_kept_in_every_window(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    series_id = server.db.series[0]["_id"]
    events = await collect(client, series_id=series_id, type=EventType.RUN_CLUB)
    assert [e.id for e in events] == expected_ids(server, seriesId=series_id, type="runClub")
    for request in server.requests:
        assert request.query["seriesId"] == series_id
        assert request.query["type"] == "runClub"


async def test_follows_the_cursor_when_the_server_sends_one() -> None:
    async with fake(cursor_pagination=True) as server, client_for(server) as client:
        events = await collect(client, date_from=D(2026, 1, 1))
        assert [e.id for e in events] == expected_ids(server)
        ordered = expected_ids(server)
        assert [r.query.get("after") for r in server.requests] == [None, ordered[99], ordered[199]]
        assert all(r.query["dateFrom"] == "2026-01-01" for r in server.requests)


async def test_streams_events_as_each_window_completes(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    iterator = client.iter_events()
    await iterator.__anext__()
    requests_before_first = len(server.requests)
    rest = [event async for event in iterator]
    assert len(rest) == 299
    assert requests_before_first < len(server.requests)


async def test_a_single_overfull_day_warns_naming_the_day() -> None:
    crowded = [
        {"name": f"Mass start {i}", "slug": f"mass-{i}", "type": "race", "date": "2026-05-01"}
        for i in range(120)
    ]
    others = [
        {"name": f"Other {i}", "slug": f"other-{i}", "type": "other", "date": f"2026-0{i}-15"}
        for i in range(1, 8)
    ]
    async with fake(events=crowded + others) as server, client_for(server) as client:
        with pytest.warns(common.TruncationWarning, match="2026-05-01"):
            events = await collect(client)
        assert len(events) == 100 + len(others)
        assert {e.name for e in events} >= {e["name"] for e in others}
        assert len({e.id for e in events}) == len(events)


async def test_a_final_failure_names_the_window_to_resume_from() -> None:
    async with fake() as server, client_for(server, max_retries=0) as client:
        server.inject(Fault(), Fault.http(500), path="/events")  # the second window fails
        with pytest.raises(common.ServerError) as caught:
            await collect(client, date_from=D(2026, 1, 1))
        second = server.requests[1].query
        assert caught.value.resume_page == (
            f"dateFrom={second['dateFrom']} dateTo={second.get('dateTo', '(open)')}"
        )
        assert "resume from" in str(caught.value)
