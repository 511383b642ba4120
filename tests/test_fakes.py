"""Tests of the fake servers themselves, over real HTTP with a plain aiohttp client."""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from common.testing import FakeServer, Fault
from intervals_async.testing import FakeIntervals
from ridewithgps_async.testing import FakeRideWithGPS

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
    with pytest.raises(TimeoutError):
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
    for bad in ("page_size=19", "page_size=201", "page=0", "page=x"):
        status, body, _ = await call(rwgps, "GET", f"/api/v1/events.json?{bad}", RW_BEARER)
        assert status == 400
        assert isinstance(body["error"], str)
    body = (await call(rwgps, "GET", "/api/v1/events.json?page_size=200", RW_BEARER))[1]
    assert (len(body["events"]), body["meta"]["pagination"]["next_page_url"]) == (49, None)


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
