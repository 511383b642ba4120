"""Tests of the fake servers themselves, over real HTTP with a plain aiohttp client."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from common.testing import FakeServer, Fault, ScriptedServer
from intervals_async.testing import FakeIntervals
from ridewithgps_async.testing import FakeRideWithGPS, load_spec

pytestmark = pytest.mark.anyio

BEARER = {"Authorization": "Bearer test-key"}
RW_BEARER = {"Authorization": "Bearer test-access-token"}


@pytest.fixture
async def intervals() -> AsyncIterator[FakeIntervals]:
    async with FakeIntervals() as server:
        yield server


@pytest.fixture
async def rwgps() -> AsyncIterator[FakeRideWithGPS]:
    async with FakeRideWithGPS() as server:
        yield server


def session(server: FakeServer, headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """A fresh connection per request, so a dropped one is never silently retried."""
    connector = aiohttp.TCPConnector(force_close=True)
    return aiohttp.ClientSession(server.url, headers=headers, connector=connector)


async def call(
    server: FakeServer,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, Any, CIMultiDict[str]]:
    async with session(server, headers) as client, client.request(method, path, **kwargs) as r:
        body = await r.read()
        data = await r.json(content_type=None) if body else None
        return r.status, data, CIMultiDict(r.headers)


# --- base machinery ---------------------------------------------------------------------


@pytest.mark.allow_violations
async def test_url_request_log_and_close() -> None:
    server = FakeIntervals(events=3)
    with pytest.raises(RuntimeError):
        _ = server.url
    await server.start()
    assert server.url.startswith("http://127.0.0.1:")
    assert not server.url.endswith("/")
    status, _, _ = await call(server, "GET", "/events/a%2Fb?x=1", BEARER)
    assert status == 404
    await call(server, "POST", "/events", BEARER, json={"name": "n"})
    first, second = server.requests
    assert (first.method, first.path, first.query, first.json) == (
        "GET",
        "/events/a%2Fb",
        {"x": "1"},
        None,
    )
    assert second.json == {"name": "n"}
    assert second.body == b'{"name": "n"}'
    assert second.headers["Authorization"] == "Bearer test-key"
    assert server.count_status(404) == 1
    assert server.count_status(422) == 1
    await server.aclose()
    await server.aclose()  # idempotent


async def test_fault_status_once_then_normal(intervals: FakeIntervals) -> None:
    intervals.inject(Fault.http(503, headers={"Retry-After": "2"}))
    status, body, headers = await call(intervals, "GET", "/organization", BEARER)
    assert status == 503
    assert body == {"error": {"code": "SERVICE_UNAVAILABLE", "message": "Service Unavailable"}}
    assert headers["Retry-After"] == "2"
    assert intervals.pending_faults == 0
    assert (await call(intervals, "GET", "/organization", BEARER))[0] == 200
    assert intervals.statuses == [503, 200]


async def test_fault_filters_and_order(intervals: FakeIntervals) -> None:
    intervals.inject(Fault.http(500), Fault.http(502), method="POST", path="/registration")
    assert (await call(intervals, "GET", "/organization", BEARER))[0] == 200
    assert (await call(intervals, "POST", "/registration", BEARER, json={}))[0] == 500
    assert (await call(intervals, "POST", "/registration", BEARER, json={}))[0] == 502
    assert intervals.pending_faults == 0
    body = (await call(intervals, "GET", "/organization", BEARER))[1]
    assert "data" in body


async def test_fault_delay(intervals: FakeIntervals) -> None:
    intervals.inject(Fault.slow(0.3))
    started = time.monotonic()
    status, _, _ = await call(intervals, "GET", "/organization", BEARER)
    assert status == 200
    assert time.monotonic() - started >= 0.3


async def test_fault_delay_beyond_client_timeout(intervals: FakeIntervals) -> None:
    intervals.inject(Fault(delay=2.0, status=500))
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(asyncio.TimeoutError):  # TimeoutError from 3.11 on; 3.10's own
        await call(intervals, "GET", "/organization", BEARER, timeout=timeout)


async def test_fault_drop(intervals: FakeIntervals) -> None:
    intervals.inject(Fault.disconnect(), method="POST")
    with pytest.raises(aiohttp.ServerDisconnectedError):  # aiohttp would retry a GET once
        await call(intervals, "POST", "/events", BEARER, json={})
    assert len(intervals.requests) == 1
    assert intervals.statuses == []


async def test_fault_lost_response_still_writes(intervals: FakeIntervals) -> None:
    intervals.inject(Fault.lost_response(), method="POST")
    event = {"name": "Lost", "slug": "lost", "type": "race", "date": "2026-05-01"}
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(intervals, "POST", "/events", BEARER, json=event)
    assert intervals.db.events_created == 1


async def test_fault_raw_bodies(intervals: FakeIntervals) -> None:
    intervals.inject(
        Fault.raw(b"<html><body>Bad gateway</body></html>", 502, "text/html"),
        Fault(body=b'{"data": ['),
    )
    async with session(intervals, BEARER) as client:
        async with client.get("/events") as r:
            assert (r.status, r.content_type) == (502, "text/html")
            assert b"Bad gateway" in await r.read()
        async with client.get("/events") as r:
            assert r.status == 200
            assert await r.read() == b'{"data": ['


# --- Intervals ----------------------------------------------------------------------------


async def test_intervals_routes_and_no_violations(intervals: FakeIntervals) -> None:
    db = intervals.db
    event_id = next(iter(db.events))
    paths = [
        "/organization",
        "/series",
        "/series?slug=bondi-beach-parkrun&limit=5",
        "/events",
        "/events?type=race&limit=100",
        f"/events?seriesId={db.series[0]['_id']}",
        "/events?dateFrom=2026-03-01&dateTo=2026-03-31",
        f"/events/{event_id}",
        f"/registration?eventId={event_id}&limit=100",
    ]
    results = {path: await call(intervals, "GET", path, BEARER) for path in paths}
    assert {path: status for path, (status, _, _) in results.items()} == dict.fromkeys(paths, 200)
    assert results["/organization"][1]["data"] == db.organization
    assert [s["slug"] for s in results["/series?slug=bondi-beach-parkrun&limit=5"][1]["data"]] == [
        "bondi-beach-parkrun"
    ]
    detail = results[f"/events/{event_id}"][1]["data"]
    assert detail["event"] == db.events[event_id]
    assert detail["runs"] == db.runs[event_id]
    assert intervals.violations == []


async def test_intervals_seed_is_rich_and_deterministic() -> None:
    first, second = FakeIntervals(seed=7), FakeIntervals(seed=7, validate=False)
    assert first.db.events == second.db.events
    assert FakeIntervals(seed=8, validate=False).db.events != first.db.events
    events = list(first.db.events.values())
    assert len(events) == 300
    assert {e["type"] for e in events} == {"race", "runClub", "timeTrial", "other"}
    assert any("seriesId" not in e for e in events)
    assert len({e["date"] for e in events}) < 300  # several events on some days
    assert any("endDate" in e for e in events)
    assert {s["type"] for s in first.db.series} >= {"runClub", "raceSeries", "parkrun"}
    registrations = [r for regs in first.db.registrations.values() for r in regs]
    assert {r["registrationStatus"] for r in registrations} == {
        "confirmed",
        "waitlist",
        "cancelled",
        "refunded",
    }
    assert max(len(regs) for regs in first.db.registrations.values()) > 100


@pytest.mark.allow_violations
async def test_intervals_limits_and_order(intervals: FakeIntervals) -> None:
    default = (await call(intervals, "GET", "/events", BEARER))[1]["data"]
    full = (await call(intervals, "GET", "/events?limit=100", BEARER))[1]["data"]
    assert len(default) == 50
    assert len(full) == 100
    assert full[:50] == default
    assert [(e["date"], e["_id"]) for e in full] == sorted((e["date"], e["_id"]) for e in full)
    assert all("endDate" not in e for e in full)  # not in the listing schema
    assert "hasMore" not in (await call(intervals, "GET", "/events", BEARER))[1]
    status, body, _ = await call(intervals, "GET", "/events?limit=101", BEARER)
    assert status == 422
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert "limit" in body["error"]["errors"]
    assert len(intervals.violations) == 1
    big = max(intervals.db.registrations, key=lambda k: len(intervals.db.registrations[k]))
    regs = (await call(intervals, "GET", f"/registration?eventId={big}&limit=100", BEARER))[1]
    assert regs["data"] == intervals.db.registrations[big][:100]


async def test_intervals_date_filter_inclusive(intervals: FakeIntervals) -> None:
    day = next(iter(intervals.db.events.values()))["date"]
    body = (await call(intervals, "GET", f"/events?dateFrom={day}&dateTo={day}", BEARER))[1]
    expected = {e["_id"] for e in intervals.db.events.values() if e["date"] == day}
    assert {e["_id"] for e in body["data"]} == expected


async def test_intervals_auth_and_scopes() -> None:
    keys = {"test-key": ["read:events"], "other": []}
    async with FakeIntervals(api_keys=keys, events=5) as server:
        assert (await call(server, "GET", "/events", BEARER))[0] == 200
        status, body, _ = await call(server, "GET", "/organization")
        assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")
        assert (await call(server, "GET", "/events", {"Authorization": "Bearer nope"}))[0] == 401
        assert (await call(server, "GET", "/events", {"Authorization": "Basic test-key"}))[0] == 401
        status, body, _ = await call(server, "GET", "/series", BEARER)
        assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
        assert "read:series" in body["error"]["message"]
        assert (await call(server, "GET", "/organization", {"Authorization": "Bearer other"}))[
            0
        ] == 200
        assert server.violations == []


async def test_intervals_not_found(intervals: FakeIntervals) -> None:
    status, body, _ = await call(intervals, "GET", "/events/nope", BEARER)
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    assert (await call(intervals, "GET", "/registration?eventId=nope", BEARER))[0] == 404
    assert intervals.violations == []


async def test_intervals_create_event_idempotency(intervals: FakeIntervals) -> None:
    event = {"name": "Test 5K", "slug": "test-5k", "type": "race", "date": "2026-06-06"}
    key = {**BEARER, "Idempotency-Key": "3f1c2a9e-0000-4000-8000-000000000001"}
    status, first, _ = await call(intervals, "POST", "/events", key, json=event)
    assert status == 201
    new_id = first["data"]["eventId"]
    assert intervals.db.events[new_id]["slug"] == "test-5k"
    status, replay, _ = await call(intervals, "POST", "/events", key, json=event)
    assert (status, replay) == (201, first)
    assert intervals.db.events_created == 1
    assert intervals.idempotent_replays == 1
    status, body, _ = await call(intervals, "POST", "/events", key, json={**event, "name": "x"})
    assert (status, body["error"]["code"]) == (409, "CONFLICT")
    assert body["error"]["message"] == "Idempotency key already used with different request body"
    status, body, _ = await call(intervals, "POST", "/events", BEARER, json=event)
    assert (status, body["error"]["errors"]) == (422, {"slug": ["already taken"]})
    detail = (await call(intervals, "GET", f"/events/{new_id}", BEARER))[1]["data"]
    assert detail["runs"] == []
    assert intervals.db.events_created == 1
    assert intervals.violations == []


async def test_intervals_register(intervals: FakeIntervals) -> None:
    run = next(runs[0] for runs in intervals.db.runs.values() if runs)
    body = {"eventRunId": run["_id"], "email": "ada@example.com", "registrationType": "paid"}
    key = {**BEARER, "Idempotency-Key": "k-1"}
    status, created, _ = await call(intervals, "POST", "/registration", key, json=body)
    assert status == 201
    stored = intervals.db.registrations[run["eventId"]][-1]
    assert stored["_id"] == created["data"]["participantId"]
    assert stored["registrationStatus"] == "confirmed"
    assert (await call(intervals, "POST", "/registration", key, json=body))[1] == created
    assert intervals.db.registrations_created == 1
    waitlisted = {**body, "status": "waitlist"}
    assert (await call(intervals, "POST", "/registration", BEARER, json=waitlisted))[0] == 201
    assert intervals.db.registrations[run["eventId"]][-1]["registrationStatus"] == "waitlist"
    missing = {**body, "eventRunId": "nope"}
    assert (await call(intervals, "POST", "/registration", BEARER, json=missing))[0] == 404
    assert intervals.violations == []


@pytest.mark.allow_violations
async def test_intervals_request_violation(intervals: FakeIntervals) -> None:
    bad = {"name": "", "type": "marathon", "date": "2026-02-30"}
    status, body, _ = await call(intervals, "POST", "/events", BEARER, json=bad)
    assert status == 422
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert {"name", "type", "date"} <= set(body["error"]["errors"])
    assert len(intervals.violations) == 1
    assert intervals.db.events_created == 0
    status, body, _ = await call(intervals, "GET", "/registration", BEARER)
    assert (status, list(body["error"]["errors"])) == (422, ["eventId"])
    assert (await call(intervals, "DELETE", "/events", BEARER))[0] == 405
    assert len(intervals.violations) == 3


@pytest.mark.allow_violations
async def test_a_request_or_response_checked_again_is_found_the_same(
    intervals: FakeIntervals,
) -> None:
    # The checker remembers what it found for a request or response it saw before (the
    # same one checks the same way): each sending is still refused and recorded whole.
    bad = {"name": "", "type": "marathon", "date": "2026-02-30"}
    first = await call(intervals, "POST", "/events", BEARER, json=bad)
    second = await call(intervals, "POST", "/events", BEARER, json=bad)
    assert first[:2] == second[:2] and first[0] == 422
    assert len(intervals.violations) == 2
    assert intervals.violations[0] == intervals.violations[1]
    event_id = next(iter(intervals.db.events))
    intervals.db.events[event_id]["color"] = "red"
    for _ in range(2):
        assert (await call(intervals, "GET", f"/events/{event_id}", BEARER))[0] == 200
    assert len(intervals.violations) == 4
    assert intervals.violations[2] == intervals.violations[3]
    assert intervals.violations[2].startswith("response 200")
    del intervals.db.events[event_id]["color"]  # the body as seeded: found clean
    assert (await call(intervals, "GET", f"/events/{event_id}", BEARER))[0] == 200
    assert len(intervals.violations) == 4


@pytest.mark.allow_violations
async def test_intervals_response_violation_recorded(intervals: FakeIntervals) -> None:
    event_id = next(iter(intervals.db.events))
    intervals.db.events[event_id]["color"] = "red"
    status, body, _ = await call(intervals, "GET", f"/events/{event_id}", BEARER)
    assert (status, body["data"]["event"]["color"]) == (200, "red")
    assert len(intervals.violations) == 1
    assert intervals.violations[0].startswith("response 200")


async def test_intervals_cursor_mode() -> None:
    async with FakeIntervals(cursor_pagination=True, events=120) as server:
        seen: list[str] = []
        after: str | None = None
        while True:
            query = "?limit=50&type=race" + (f"&after={after}" if after else "")
            body = (await call(server, "GET", f"/events{query}", BEARER))[1]
            seen += [e["_id"] for e in body["data"]]
            if not body["hasMore"]:
                break
            after = seen[-1]
        expected = sorted(
            (e for e in server.db.events.values() if e["type"] == "race"),
            key=lambda e: (e["date"], e["_id"]),
        )
        assert seen == [e["_id"] for e in expected]
        assert (await call(server, "GET", "/events?after=nope", BEARER))[0] == 400
        assert server.violations == []


async def test_intervals_explicit_events_and_no_validation() -> None:
    given = [
        {
            "_id": "e1",
            "name": "Only",
            "slug": "only",
            "type": "other",
            "date": "2026-01-05",
            "runs": [
                {
                    "_id": "r1",
                    "distanceMeters": 5000,
                    "distanceStandard": "5K",
                    "distanceLabel": "5K",
                    "date": "2026-01-05",
                }
            ],
            "registrations": [
                {
                    "email": "a@example.com",
                    "registrationType": "free",
                    "registrationStatus": "confirmed",
                }
            ],
        }
    ]
    async with FakeIntervals(events=given, validate=False) as server:
        assert not server.validate
        body = (await call(server, "GET", "/events/e1", BEARER))[1]["data"]
        assert body["runs"][0]["eventId"] == "e1"
        regs = (await call(server, "GET", "/registration?eventId=e1", BEARER))[1]["data"]
        assert regs[0]["eventRunId"] == "r1"
        assert (await call(server, "GET", "/events?limit=500", BEARER))[0] == 422
        assert server.violations == []


@pytest.mark.parametrize("style", ["body", "header"])
async def test_intervals_rate_limit(intervals: FakeIntervals, style: str) -> None:
    intervals.rate_limit(5, burst=2, style=style)  # type: ignore[arg-type]
    results = [await call(intervals, "GET", "/organization", BEARER) for _ in range(4)]
    assert [status for status, _, _ in results] == [200, 200, 429, 429]
    _, body, headers = results[2]
    assert body["error"]["code"] == "RATE_LIMITED"
    if style == "body":
        assert "Retry-After" not in headers
        now_ms = time.time() * 1000
        assert now_ms < body["error"]["retryAfter"] < now_ms + 1000
    else:
        assert headers["Retry-After"] == "1"
        assert "retryAfter" not in body["error"]
    assert intervals.count_status(429) == 2
    assert intervals.violations == []
    intervals.rate_limit(None)
    assert (await call(intervals, "GET", "/organization", BEARER))[0] == 200


# --- RideWithGPS --------------------------------------------------------------------------


async def test_rwgps_paging(rwgps: FakeRideWithGPS) -> None:
    ids: list[int] = []
    stamps: list[dt.datetime] = []
    url: str | None = f"{rwgps.url}/api/v1/events.json"
    pages = []
    while url is not None:
        async with session(rwgps, RW_BEARER) as client, client.get(url) as r:
            assert r.headers["x-request-id"]
            assert r.headers["x-rwgps-datetime"]
            body = await r.json()
        pages.append(body["meta"]["pagination"])
        ids += [e["id"] for e in body["events"]]
        stamps += [dt.datetime.fromisoformat(e["updated_at"]) for e in body["events"]]
        assert all("participants" not in e and "routes" not in e for e in body["events"])
        url = body["meta"]["pagination"]["next_page_url"]
    assert len(pages) == 3
    assert pages[0] == {
        "record_count": 49,
        "page_count": 3,
        "page_size": 20,
        "next_page_url": f"{rwgps.url}/api/v1/events.json?page=2&page_size=20",
    }
    assert len(ids) == len(set(ids)) == 49
    assert stamps == sorted(stamps, reverse=True)
    body = (await call(rwgps, "GET", "/api/v1/events.json?page_size=200", RW_BEARER))[1]
    assert (len(body["events"]), body["meta"]["pagination"]["next_page_url"]) == (49, None)


@pytest.mark.allow_violations
@pytest.mark.parametrize("validate", [True, False])
async def test_rwgps_page_rules(validate: bool) -> None:
    async with FakeRideWithGPS(validate=validate) as server:
        for bad in ("page_size=19", "page_size=201", "page=0", "page=x"):
            status, body, _ = await call(server, "GET", f"/api/v1/events.json?{bad}", RW_BEARER)
            assert status == 400
            # the description refuses them first (a violation), else the handler's own check
            assert isinstance(body["errors" if validate else "error"], list if validate else str)
        assert len(server.violations) == (4 if validate else 0)


async def test_rwgps_full_events(rwgps: FakeRideWithGPS) -> None:
    owned = (await call(rwgps, "GET", "/api/v1/events/1000000.json", RW_BEARER))[1]["event"]
    assert "organizers" not in owned
    statuses = {p["status"] for p in owned["participants"]}
    assert statuses == {"joined", "interested", "declined", "disallowed", "participant"}
    assert all(set(r) >= {"id", "url", "name", "description", "locality"} for r in owned["routes"])
    org = (await call(rwgps, "GET", "/api/v1/events/101.json", RW_BEARER))[1]["event"]
    assert "participants" not in org
    assert org["organizers"]
    text_org = (await call(rwgps, "GET", "/api/v1/events/102.json", RW_BEARER))[1]["event"]
    assert set(text_org["organizers"][0]) == {"id", "text"}
    for event_id in range(1_000_000, 1_000_045):
        event = rwgps.db.event(event_id)
        assert event is not None
        if event["photos"]:
            assert sum(p["highlighted"] for p in event["photos"]) == 1
        if event["all_day"]:
            assert event["start_time"] is None
    assert any(rwgps.db.event(i)["time_zone"] == "America/Godthab" for i in rwgps.db.listed)  # type: ignore[index]
    status, body, _ = await call(rwgps, "GET", "/api/v1/events/105.json", RW_BEARER)
    assert (status, set(body)) == (403, {"error"})
    assert (await call(rwgps, "GET", "/api/v1/events/7.json", RW_BEARER))[0] == 404


async def test_rwgps_auth_forms(rwgps: FakeRideWithGPS) -> None:
    basic = base64.b64encode(b"test-api-key:test-auth-token").decode()
    good = [
        RW_BEARER,
        {"Authorization": f"Basic {basic}"},
        {"x-rwgps-api-key": "test-api-key", "x-rwgps-auth-token": "test-auth-token"},
    ]
    for headers in good:
        assert (await call(rwgps, "GET", "/api/v1/events/101.json", headers))[0] == 200
    bad = [{}, {"Authorization": "Bearer wrong"}, {"x-rwgps-api-key": "test-api-key"}]
    for headers in bad:
        status, body, _ = await call(rwgps, "GET", "/api/v1/events.json", headers)
        assert (status, body) == (401, {"error": "Failed to authenticate the user"})
    assert rwgps.auth_forms == ["bearer", "basic", "headers", "none", "bearer", "headers"]


async def test_rwgps_create_update_delete(rwgps: FakeRideWithGPS) -> None:
    status, body, _ = await call(
        rwgps, "POST", "/api/v1/events.json", RW_BEARER, json={"event": {"name": ""}}
    )
    assert (status, body["errors"][0]) == (422, "Name can't be blank")
    new = {"name": "Dawn patrol", "start_date": "2026-12-01", "route_ids": [42]}
    status, body, _ = await call(
        rwgps, "POST", "/api/v1/events.json", RW_BEARER, json={"event": new}
    )
    assert status == 201
    created = body["event"]
    assert (created["all_day"], created["start_time"], created["routes"][0]["id"]) == (
        True,
        None,
        42,
    )
    assert rwgps.db.listed[0] == created["id"]
    patch = {"event": {"start_time": "06:30", "all_day": False, "organizers": [{"id": 1}]}}
    path = f"/api/v1/events/{created['id']}.json"
    status, body, _ = await call(rwgps, "PATCH", path, RW_BEARER, json=patch)
    assert (status, body["event"]["start_time"], "organizers" in body["event"]) == (
        200,
        "06:30",
        False,
    )
    org_patch = {"event": {"organizer_ids": [2003], "organizers": [{"id": 2004}]}}
    body = (await call(rwgps, "PUT", "/api/v1/events/101.json", RW_BEARER, json=org_patch))[1]
    assert [o["id"] for o in body["event"]["organizers"]] == [2003]
    assert rwgps.db.listed[0] == 101
    assert (await call(rwgps, "PATCH", "/api/v1/events/107.json", RW_BEARER, json=patch))[0] == 403
    assert (await call(rwgps, "DELETE", path, RW_BEARER))[0] == 204
    assert (await call(rwgps, "GET", path, RW_BEARER))[0] == 404
    assert created["id"] not in rwgps.db.listed


async def test_rwgps_next_page_quirks() -> None:
    listing = "/api/v1/events.json"
    async with FakeRideWithGPS(next_page_host="http://evil.example") as server:
        body = (await call(server, "GET", listing, RW_BEARER))[1]
        assert body["meta"]["pagination"]["next_page_url"].startswith("http://evil.example/api/v1/")
    async with FakeRideWithGPS(malformed_next_page_url=True) as server:
        body = (await call(server, "GET", listing, RW_BEARER))[1]
        assert body["meta"]["pagination"]["next_page_url"].endswith("?page=2?page_size=20")
    async with FakeRideWithGPS(events=5, next_page_url_on_last_page=True) as server:
        body = (await call(server, "GET", listing, RW_BEARER))[1]
        assert body["meta"]["pagination"]["page_count"] == 1
        assert body["meta"]["pagination"]["next_page_url"].endswith("page=2&page_size=20")
        body = (await call(server, "GET", f"{listing}?page=2", RW_BEARER))[1]
        assert (body["events"], body["meta"]["pagination"]["next_page_url"]) == ([], None)
    async with FakeRideWithGPS(repeat_page=2) as server:
        one = (await call(server, "GET", f"{listing}?page=1", RW_BEARER))[1]["events"]
        two = (await call(server, "GET", f"{listing}?page=2", RW_BEARER))[1]["events"]
        assert [e["id"] for e in one] == [e["id"] for e in two]


async def test_rwgps_errors_in_the_descriptions_shape_are_checked() -> None:
    async with FakeRideWithGPS(error_style="errors", events=1) as server:
        requests = [
            ("GET", "/api/v1/events/9.json", RW_BEARER),  # 404, declared
            ("DELETE", "/api/v1/events/101.json", {}),  # 401, declared
            ("PUT", "/api/v1/events/107.json", RW_BEARER),  # 403 (undeclared): as the 401
        ]
        for method, path, headers in requests:
            body = {"event": {"name": "Mine now"}} if method == "PUT" else None
            answer = (await call(server, method, path, headers, json=body))[1]
            assert set(answer) == {"errors"}
        server.rate_limit(1, burst=1)
        await call(server, "GET", "/api/v1/events.json", RW_BEARER)
        assert (await call(server, "GET", "/api/v1/events.json", RW_BEARER))[1] == {
            "errors": ["Rate limit exceeded"]
        }
        assert server.statuses == [404, 401, 403, 200, 429]
        assert server.violations == []


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("errors", [{"errors": ["Record not found"]}] * 2),
        ("message", [{"message": "Record not found"}] * 2),
        ("rotate", [{"error": "Record not found"}, {"errors": ["Record not found"]}]),
    ],
)
async def test_rwgps_error_styles(style: str, expected: list[Any]) -> None:
    async with FakeRideWithGPS(error_style=style, events=1) as server:  # type: ignore[arg-type]
        bodies = [(await call(server, "GET", "/api/v1/events/9.json", RW_BEARER))[1] for _ in "ab"]
        assert bodies == expected


async def test_rwgps_large_lazy_listing() -> None:
    async with FakeRideWithGPS(events=100_000) as server:
        query = "?page=400&page_size=200"
        body = (await call(server, "GET", f"/api/v1/events.json{query}", RW_BEARER))[1]
        assert body["meta"]["pagination"]["record_count"] == 100_004
        assert len(body["events"]) == 200
        assert len(server.db.events) < 10


async def test_rwgps_rate_limit(rwgps: FakeRideWithGPS) -> None:
    rwgps.rate_limit(1, burst=1, style="header")
    assert (await call(rwgps, "GET", "/api/v1/events.json", RW_BEARER))[0] == 200
    status, body, headers = await call(rwgps, "GET", "/api/v1/events.json", RW_BEARER)
    assert (status, body, headers["Retry-After"]) == (429, {"error": "Rate limit exceeded"}, "1")
    assert headers["x-request-id"]
    assert rwgps.count_status(429) == 1


# --- as users meet the fakes ---------------------------------------------------------------

_BLOCKED = """
import sys
sys.modules["openapi_core"] = None  # as if the testing extra were not installed
"""


@pytest.mark.parametrize(
    ("module", "fake", "path", "headers"),
    [
        ("intervals_async.testing", "FakeIntervals", "/organization", BEARER),
        ("ridewithgps_async.testing", "FakeRideWithGPS", "/api/v1/events.json", RW_BEARER),
    ],
)
def test_fakes_serve_without_openapi_core(
    module: str, fake: str, path: str, headers: dict[str, str]
) -> None:
    code = f"""{_BLOCKED}
import asyncio
import aiohttp
from {module} import {fake}

async def main():
    async with {fake}() as server, aiohttp.ClientSession() as session:
        async with session.get(server.url + {path!r}, headers={headers!r}) as response:
            print(response.status, server.validate)
    try:
        {fake}(validate=True)
    except ImportError as exc:
        print(exc)

asyncio.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "200 False",
        "validate=True needs openapi-core: pip install 'eventsync[testing]'",
    ]


def test_validation_is_on_when_openapi_core_is_installed() -> None:
    assert FakeIntervals(events=1).validate
    assert FakeRideWithGPS(events=1).validate
    assert not FakeIntervals(events=1, validate=False).validate
    assert not FakeRideWithGPS(events=1, validate=False).validate


async def test_inject_matches_query_values(intervals: FakeIntervals) -> None:
    first, second = list(intervals.db.events)[:2]
    intervals.inject(Fault.http(500), path=f"/registration?eventId={second}")
    assert (await call(intervals, "GET", f"/registration?eventId={first}", BEARER))[0] == 200
    assert intervals.pending_faults == 1
    query = f"/registration?limit=10&eventId={second}"  # other parameters may be present
    assert (await call(intervals, "GET", query, BEARER))[0] == 500
    assert (await call(intervals, "GET", query, BEARER))[0] == 200
    intervals.inject(Fault.http(503), path="?limit=5")  # a query alone matches any path
    assert (await call(intervals, "GET", "/events?limit=6", BEARER))[0] == 200
    assert (await call(intervals, "GET", "/series?limit=5", BEARER))[0] == 503


async def test_requests_record_status_and_time(intervals: FakeIntervals) -> None:
    intervals.inject(Fault.disconnect(), method="POST")
    before = time.monotonic()
    await call(intervals, "GET", "/organization", BEARER)
    await call(intervals, "GET", "/organization")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(intervals, "POST", "/events", BEARER, json={})
    assert [(r.method, r.status) for r in intervals.requests] == [
        ("GET", 200),
        ("GET", 401),
        ("POST", None),  # dropped: nothing answered
    ]
    times = [r.received_at for r in intervals.requests]
    assert before <= times[0] <= times[1] <= times[2] <= time.monotonic()
    assert intervals.requests[0].headers["authorization"] == "Bearer test-key"  # any case


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("intervals_async.testing", "Authorization: Bearer test-key"),
        ("ridewithgps_async.testing", "x-rwgps-api-key: test-api-key"),
    ],
)
def test_standalone_fake_prints_url_and_credentials(module: str, expected: str) -> None:
    command = [sys.executable, "-m", module, "--port", "0", "--events", "3"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()  # the first line, once listening
        finally:
            process.terminate()  # handled by the loop after the credentials are printed
            _, stderr = process.communicate(timeout=10)
    assert url.startswith("http://127.0.0.1:")
    said = stderr.splitlines()  # in development mode, asyncio's debug lines may come first
    start = next(i for i, line in enumerate(said) if line.endswith(f"on {url} accepts:"))
    assert any(expected in line for line in said[start + 1 :])


async def test_scripted_server_answers_in_order() -> None:
    async def hello(request: web.Request) -> web.StreamResponse:
        return web.json_response({"path": request.match_info["tail"]})

    async def teapot(request: web.Request) -> web.StreamResponse:
        return web.json_response({}, status=418)

    async with ScriptedServer() as server:
        assert (await call(server, "GET", "/a"))[0] == 500  # no script yet
        server.requests.clear()
        server.answer(teapot, hello)
        assert (await call(server, "POST", "/x", data=b"1"))[0] == 418
        assert (await call(server, "PUT", "/y/z", data=b"2"))[1] == {"path": "y/z"}
        assert (await call(server, "GET", "/last"))[1] == {"path": "last"}  # the last repeats
    assert server.bodies == [b"1", b"2", b""]
    assert [r.status for r in server.requests] == [418, 200, 200]


# --- RideWithGPS against its own description -------------------------------------------------


def test_rwgps_description_is_shipped() -> None:
    spec = load_spec()
    assert spec["info"]["title"] == "Ride with GPS API v1"
    assert set(spec["paths"]["/api/v1/events/{id}.json"]) >= {"get", "put", "delete"}


@pytest.mark.allow_violations
async def test_rwgps_requests_that_do_not_match_are_refused(rwgps: FakeRideWithGPS) -> None:
    refused = [
        ("GET", "/api/v1/events.json?visibility=members_only", None),  # not in the filter's enum
        ("GET", "/api/v1/events.json?page_size=500", None),
        ("POST", "/api/v1/events.json", {"name": "no event wrapper"}),
        ("PUT", "/api/v1/events/101.json", {"event": {"lat": "north"}}),
        ("PATCH", "/api/v1/events/101.json", {"event": {"start_time": None}}),  # checked as PUT
    ]
    for method, path, body in refused:
        status, answer, _ = await call(rwgps, method, path, RW_BEARER, json=body)
        assert status == 400, (method, path)
        assert answer["errors"], (method, path)
    assert len(rwgps.violations) == len(refused)
    assert rwgps.violations[0].startswith("request GET /api/v1/events.json?visibility=")
    assert "visibility" in rwgps.violations[0]
    status, _, _ = await call(rwgps, "GET", "/api/v1/routes.json", RW_BEARER)
    assert status == 404
    assert rwgps.violations[-1] == "GET /api/v1/routes.json: not in the description"
    assert rwgps.db.events[101]["lat"] != "north"


async def test_rwgps_put_and_patch_both_update(rwgps: FakeRideWithGPS) -> None:
    for method, name in (("PUT", "By PUT"), ("PATCH", "By PATCH")):
        body = {"event": {"name": name, "start_time": "07:15"}}
        status, answer, _ = await call(
            rwgps, method, "/api/v1/events/101.json", RW_BEARER, json=body
        )
        assert (status, answer["event"]["name"], answer["event"]["start_time"]) == (
            200,
            name,
            "07:15",
        )
    assert rwgps.violations == []


@pytest.mark.allow_violations
async def test_rwgps_response_mismatch_is_recorded(rwgps: FakeRideWithGPS) -> None:
    rwgps.db.events[101]["lat"] = "north"
    status, body, _ = await call(rwgps, "GET", "/api/v1/events/101.json", RW_BEARER)
    assert (status, body["event"]["lat"]) == (200, "north")
    assert len(rwgps.violations) == 1
    assert rwgps.violations[0].startswith("response 200 to GET /api/v1/events/101.json")


async def test_rwgps_listing_filters(rwgps: FakeRideWithGPS) -> None:
    listing = "/api/v1/events.json?page_size=200"
    every = (await call(rwgps, "GET", listing, RW_BEARER))[1]["events"]
    for visibility in ("public", "private", "friends_only"):
        body = (await call(rwgps, "GET", f"{listing}&visibility={visibility}", RW_BEARER))[1]
        expected = [e["id"] for e in every if e["visibility"] == visibility]
        assert expected
        assert [e["id"] for e in body["events"]] == expected
        assert body["meta"]["pagination"]["record_count"] == len(expected)
    body = (await call(rwgps, "GET", f"{listing}&name=COFFEE", RW_BEARER))[1]
    expected = [e["id"] for e in every if "coffee" in e["name"].lower()]
    assert expected
    assert [e["id"] for e in body["events"]] == expected
    body = (await call(rwgps, "GET", "/api/v1/events.json?name=ride&page_size=20", RW_BEARER))[1]
    next_page = body["meta"]["pagination"]["next_page_url"]
    assert next_page is None or "name=ride" in next_page  # the filter carries over
    assert rwgps.violations == []


async def test_rwgps_privacy_code_opens_a_shared_event(rwgps: FakeRideWithGPS) -> None:
    code = rwgps.db.privacy_codes[105]
    path = "/api/v1/events/105.json"
    assert rwgps.db.events[105]["visibility"] == "private"
    assert (await call(rwgps, "GET", path, RW_BEARER))[0] == 403
    assert (await call(rwgps, "GET", f"{path}?privacy_code=wrong", RW_BEARER))[0] == 403
    status, body, _ = await call(rwgps, "GET", f"{path}?privacy_code={code}", RW_BEARER)
    assert (status, body["event"]["id"]) == (200, 105)
    assert rwgps.violations == []


async def test_rwgps_participants_in_both_documented_shapes(rwgps: FakeRideWithGPS) -> None:
    participants = [
        p
        for event_id in rwgps.db.listed
        if (event := rwgps.db.event(event_id)) is not None and event["user_id"] == rwgps.db.user_id
        for p in event["participants"]
    ]
    described = [p["user"] for p in participants if "display_name" in p["user"]]
    prose = [p["user"] for p in participants if "name" in p["user"]]
    assert described and prose
    assert all({"first_name", "last_name"} <= set(user) for user in described)
    assert all("name" not in user for user in described)
    assert sum(p["status"] == "participant" for p in participants) >= 2
    body = (await call(rwgps, "GET", "/api/v1/events/1000000.json", RW_BEARER))[1]
    assert {p["status"] for p in body["event"]["participants"]} >= {"participant", "joined"}
    assert rwgps.violations == []


# --- plausible seed data ---------------------------------------------------------------------

_ZONE_OF_PLACE = {
    "Portland": "America/Los_Angeles",
    "Brooklyn": "America/New_York",
    "London": "Europe/London",
    "Berlin": "Europe/Berlin",
    "Nuuk": "America/Godthab",
    "Sydney": "Australia/Sydney",
    "Bengaluru": "Asia/Calcutta",
}
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@pytest.mark.parametrize("today", [dt.date(2026, 11, 23), dt.date(2031, 2, 28)])
def test_rwgps_seed_is_plausible_in_any_year(today: dt.date) -> None:
    now = dt.datetime.combine(today, dt.time(), dt.timezone.utc)
    db = FakeRideWithGPS(now=now, validate=False).db
    events = [db.event(event_id) for event_id in db.listed]
    assert all(event is not None for event in events)
    for event in events:
        assert event is not None
        place = next(key for key in _ZONE_OF_PLACE if key in event["location"])
        assert event["time_zone"] == _ZONE_OF_PLACE[place], event["location"]
        assert dt.datetime.fromisoformat(event["updated_at"]) <= now
    starts = [dt.date.fromisoformat(e["start_date"]) for e in events if e is not None]
    assert any(today <= start <= today + dt.timedelta(days=30) for start in starts)
    for index in (1, 2, 3, 4):  # multi-day events across the zone's next offset change
        event = db.event(1_000_000 + index)
        assert event is not None
        zone = ZoneInfo(event["time_zone"])
        first, last = (
            dt.datetime.combine(dt.date.fromisoformat(event[key]), dt.time(12), zone)
            for key in ("start_date", "end_date")
        )
        assert today <= first.date() and first.utcoffset() != last.utcoffset()


@pytest.mark.parametrize("today", [dt.date(2026, 11, 23), dt.date(2031, 2, 28)])
def test_intervals_seed_is_plausible_in_any_year(today: dt.date) -> None:
    db = FakeIntervals(today=today, validate=False).db
    series = {s["_id"]: s for s in db.series}
    for event in db.events.values():
        day = dt.date.fromisoformat(event["date"])
        named = [name for name in _WEEKDAYS if name in event["name"]]
        assert named in ([], [f"{day:%A}"]), (event["name"], event["date"])
        schedule = series[event["seriesId"]]["schedule"] if "seriesId" in event else {}
        if "dayOfWeek" in schedule:
            assert day.isoweekday() % 7 == schedule["dayOfWeek"]
        if "dayOfMonth" in schedule:
            assert day.day == schedule["dayOfMonth"]
        if "seriesId" in event and "address" in event:  # the series' place, in its zone
            city = series[event["seriesId"]]["timezone"].split("/")[1].replace("_", " ")
            assert event["address"]["addressLocality"] in (city, "Boston")
    days = [dt.date.fromisoformat(e["date"]) for e in db.events.values()]
    assert sum(today <= day <= today + dt.timedelta(days=30) for day in days) >= 10
    assert max(len(regs) for regs in db.registrations.values()) == 120  # over one page's 100


@pytest.mark.parametrize(("api", "status"), [("seed", 404), ("current", 200)])
def test_a_standalone_fake_serves_the_api_asked_for(api: str, status: int) -> None:
    # ``python -m intervals_async.testing --api current``: the current reference's
    # endpoints (groups) exist only there.
    import urllib.error
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "intervals_async.testing", "--api", api],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        request = urllib.request.Request(url + "/groups", headers=BEARER)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                got = response.status
        except urllib.error.HTTPError as error:
            got = error.code
    finally:
        proc.terminate()
        proc.wait(20)
        if proc.stdout is not None:
            proc.stdout.close()
    assert got == status


def test_a_description_is_checked_once_per_content(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each fake checked its whole description anew (0.12 s each, most tests build one);
    # a description found valid is not checked again, and any other content still is.
    from openapi_core import OpenAPI

    from common.testing import SpecChecker

    checked: list[OpenAPI] = []
    check = OpenAPI.check_spec

    def counted(self: OpenAPI) -> None:
        checked.append(self)
        check(self)

    monkeypatch.setattr(OpenAPI, "check_spec", counted)
    valid = FakeIntervals(validate=False).description()
    assert valid is not None
    changed = {**valid, "info": {**valid["info"], "title": "another"}}  # new to this process
    SpecChecker(changed)
    SpecChecker(changed)
    assert len(checked) == 2 and checked[0].config.spec_validator_cls is not None
    assert checked[1].config.spec_validator_cls is None  # the second time, not checked
    broken = {**valid, "paths": {"/events": {"get": {"responses": "none"}}}}
    for _ in range(2):  # an invalid description raises every time
        with pytest.raises(Exception, match="responses"):
            SpecChecker(broken)
    # One with a value JSON cannot hold has no digest: it is checked every time.
    odd = {**valid, "info": {**valid["info"], "x-odd": 1 + 2j}}
    del checked[:]
    SpecChecker(odd)
    SpecChecker(odd)
    assert [api.config.spec_validator_cls is not None for api in checked] == [True, True]
