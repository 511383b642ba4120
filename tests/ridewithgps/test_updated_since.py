"""Incremental listings: ``iter_events(updated_since=...)`` reads only the pages that changed,
on the fake's listing ordered by ``updated_at``, newest first (requests counted)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import common
from ridewithgps_async import RideWithGPSClient, RideWithGPSSource
from ridewithgps_async.testing import FakeRideWithGPS

from .conftest import client_for, fake

pytestmark = pytest.mark.anyio

UTC = dt.timezone.utc


def listed(server: FakeRideWithGPS) -> list[dict[str, Any]]:
    """The user's events as the fake lists them."""
    events = (server.db.event(event_id) for event_id in server.db.listed)
    return [event for event in events if event is not None]


def updated(event: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(event["updated_at"])


async def test_the_fake_lists_by_updated_at_newest_first(
    server: FakeRideWithGPS, client: RideWithGPSClient
) -> None:
    ids = [event.id async for event in client.iter_events(page_size=20)]
    stamps = [updated(server.db.event(i) or {}) for i in ids]
    assert len(ids) > 40
    assert stamps == sorted(stamps, reverse=True)
    oldest = ids[-1]
    await client.update_event(oldest, description="moved")
    assert (await client.list_events()).items[0].id == oldest


@pytest.mark.parametrize("cut", [0, 19, 20, 21, 39, 45])
async def test_paging_stops_at_the_first_older_event(cut: int) -> None:
    """Events ``[0, cut]`` are at or after ``updated_since``: the pages that hold them and no
    more are read, and exactly those events come."""
    async with fake(events=60) as server, client_for(server) as client:
        events = listed(server)
        since = updated(events[cut])
        got = [e.id async for e in client.iter_events(page_size=20, updated_since=since)]
        assert got == [e["id"] for e in events[: cut + 1]]
        assert all(updated(server.db.event(i) or {}) >= since for i in got)
        assert len(server.requests) == (cut + 1) // 20 + 1
        assert [r.query.get("page", "1") for r in server.requests] == [
            str(page) for page in range(1, len(server.requests) + 1)
        ]


async def test_nothing_newer_is_one_request(
    server: FakeRideWithGPS, client: RideWithGPSClient
) -> None:
    since = updated(listed(server)[0]) + dt.timedelta(seconds=1)
    assert [e async for e in client.iter_events(updated_since=since)] == []
    assert len(server.requests) == 1


async def test_everything_newer_reads_every_page(
    server: FakeRideWithGPS, client: RideWithGPSClient
) -> None:
    everything = [e.id async for e in client.iter_events()]
    pages = len(server.requests)
    server.requests.clear()
    since = dt.datetime(2000, 1, 1, tzinfo=UTC)
    assert [e.id async for e in client.iter_events(updated_since=since)] == everything
    assert len(server.requests) == pages


async def test_an_hourly_job_sees_only_what_changed(
    server: FakeRideWithGPS, client: RideWithGPSClient
) -> None:
    events = listed(server)
    last_seen = updated(events[0])
    changed = events[30]["id"]
    await client.update_event(changed, name="Renamed ride")
    server.requests.clear()
    fresh = [e async for e in client.iter_events(page_size=20, updated_since=last_seen)]
    assert [e.id for e in fresh] == [changed, events[0]["id"]]  # the boundary comes again
    assert fresh[0].name == "Renamed ride"
    assert len(server.requests) == 1


async def test_an_other_offset_compares_as_the_same_instant(
    server: FakeRideWithGPS, client: RideWithGPSClient
) -> None:
    events = listed(server)
    since = updated(events[5]).astimezone(dt.timezone(dt.timedelta(hours=-7)))
    got = [e.id async for e in client.iter_events(updated_since=since)]
    assert got == [e["id"] for e in events[:6]]


@pytest.mark.parametrize(
    "since", [dt.datetime(2026, 5, 1), dt.date(2026, 5, 1), "2026-05-01T00:00:00Z"], ids=str
)
async def test_a_naive_or_non_datetime_is_refused_before_sending(
    server: FakeRideWithGPS, client: RideWithGPSClient, since: Any
) -> None:
    with pytest.raises(common.InvalidRequestError) as caught:
        client.iter_events(updated_since=since)
    assert caught.value.field == "updated_since"
    with pytest.raises(common.InvalidRequestError):
        RideWithGPSSource(client).iter_events(updated_since=since)
    assert server.requests == []


async def test_the_source_passes_updated_since_on(
    server: FakeRideWithGPS, client: RideWithGPSClient
) -> None:
    events = listed(server)
    since = updated(events[24])
    source = RideWithGPSSource(client)
    got = [e async for e in source.iter_events(updated_since=since)]
    assert [e.id for e in got] == [str(e["id"]) for e in events[:25]]
    assert [r.query["page_size"] for r in server.requests] == ["200"]  # the largest page
    assert all(e.provider == "ridewithgps" for e in got)
