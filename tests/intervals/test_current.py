"""The API of the current public reference, against the fake in its current mode (checked
against ``openapi-current.json``): cursors counted request by request, recurrences, groups,
group events, the plan and run fields; and the same listings against a server without
``hasMore``."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import common
from common.testing import Fault, ScriptedServer, json_response
from intervals_async import (
    GroupStatus,
    IntervalsClient,
    Plan,
    RecurrenceStatus,
    RegistrationOverride,
)
from intervals_async.testing import ALL_SCOPES, FakeIntervals

from .conftest import KEY, client_for, fake

pytestmark = pytest.mark.anyio

D = dt.date


def pages(items: int) -> int:
    """Requests a cursor listing of ``items`` needs at 100 a page (an empty one: one)."""
    return max(1, math.ceil(items / 100))


@pytest.fixture
async def current() -> AsyncIterator[FakeIntervals]:
    async with fake(api="current") as server:
        yield server


@pytest.fixture
async def client(current: FakeIntervals) -> AsyncIterator[IntervalsClient]:
    async with client_for(current) as opened:
        yield opened


def events_on(day: str, count: int) -> list[dict[str, Any]]:
    return [
        {"name": f"Run {i}", "slug": f"run-{day}-{i}", "type": "runClub", "date": day}
        for i in range(count)
    ]


def add_recurrences(server: FakeIntervals, count: int) -> None:
    for index in range(count):
        server.db.recurrences.append(
            {
                "_id": f"rec{index:05d}",
                "eventId": "e1",
                "schedule": {"frequency": "weekly", "daysOfWeek": [index % 7]},
                "status": ("active", "paused", "archived")[index % 3],
            }
        )


# --- cursors: as many requests as pages -----------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 99, 100, 101, 250, 300])
async def test_iter_events_reads_a_has_more_server_in_as_many_requests_as_pages(
    count: int,
) -> None:
    async with fake(api="current", events=count) as server, client_for(server) as client:
        events = [event async for event in client.iter_events()]
        ordered = sorted(server.db.events.values(), key=lambda e: (e["date"], e["_id"]))
        assert [e.id for e in events] == [e["_id"] for e in ordered]
        assert len(server.requests) == pages(count)
        afters = [r.query.get("after") for r in server.requests]
        assert afters == [None] + [ordered[100 * n - 1]["_id"] for n in range(1, pages(count))]


async def test_a_day_fuller_than_a_page_is_read_whole_through_the_cursor() -> None:
    """What date windows cannot do: 250 events on one day, no warning, three requests."""
    crowded = events_on("2026-05-01", 250)
    async with fake(api="current", events=crowded) as server, client_for(server) as client:
        events = [e async for e in client.iter_events(date_from=D(2026, 5, 1))]
        assert len(events) == 250
        assert len({e.id for e in events}) == 250
        assert len(server.requests) == 3


async def test_the_same_events_cost_a_seed_server_more_requests() -> None:
    """Both strategies, on the same data: the seed server (no ``hasMore``) is read by
    splitting date windows, which re-reads; the current one in exactly its pages."""
    ids: dict[str, list[str]] = {}
    requests: dict[str, int] = {}
    for api in ("seed", "current"):
        async with fake(api=api, events=300) as server, client_for(server) as client:
            ids[api] = sorted([e.id async for e in client.iter_events()])
            requests[api] = len(server.requests)
    assert ids["seed"] == ids["current"]
    assert len(ids["current"]) == 300
    assert requests["current"] == 3
    assert requests["seed"] > requests["current"]


async def test_list_events_after_and_before_are_cursors(
    current: FakeIntervals, client: IntervalsClient
) -> None:
    first = await client.list_events(limit=10)
    after = await client.list_events(limit=10, after=first[-1].id)
    back = await client.list_events(limit=10, before=after[0].id)
    ordered = sorted(current.db.events.values(), key=lambda e: (e["date"], e["_id"]))
    assert [e.id for e in first + after] == [e["_id"] for e in ordered[:20]]
    assert back == first
    assert current.requests[1].query == {"limit": "10", "after": first[-1].id}
    assert current.requests[2].query == {"limit": "10", "before": after[0].id}


async def test_after_and_before_together_are_refused_before_sending(
    current: FakeIntervals, client: IntervalsClient
) -> None:
    with pytest.raises(common.InvalidRequestError) as caught:
        await client.list_events(after="a", before="b")
    assert caught.value.field == "after"
    with pytest.raises(common.InvalidRequestError):
        await client.list_events(after="")
    assert current.requests == []


async def test_an_unknown_cursor_is_a_validation_error(
    current: FakeIntervals, client: IntervalsClient
) -> None:
    with pytest.raises(common.ValidationError) as caught:
        await client.list_events(after="no-such-event")
    assert caught.value.code == "VALIDATION_ERROR"
    assert "after" in caught.value.field_errors


# --- recurrences ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 100, 101, 250])
async def test_iter_recurrences_follows_has_more(current: FakeIntervals, count: int) -> None:
    current.db.recurrences[:] = []
    add_recurrences(current, count)
    async with client_for(current) as client:
        got = [r.id async for r in client.iter_recurrences()]
    assert got == [r["_id"] for r in current.db.recurrences]
    assert len(current.requests) == pages(count)
    assert all(r.path == "/recurrences" for r in current.requests)


async def test_iter_recurrences_filters_by_status_across_pages(current: FakeIntervals) -> None:
    current.db.recurrences[:] = []
    add_recurrences(current, 450)  # 150 of each status
    async with client_for(current) as client:
        paused = [r async for r in client.iter_recurrences(status=RecurrenceStatus.PAUSED)]
    assert len(paused) == 150
    assert {r.status for r in paused} == {RecurrenceStatus.PAUSED}
    assert len(current.requests) == 2
    assert all(r.query["status"] == "paused" for r in current.requests)


async def test_list_recurrences_decodes_the_seeded_ones(
    current: FakeIntervals, client: IntervalsClient
) -> None:
    recurrences = await client.list_recurrences(status="active")
    expected = [r for r in current.db.recurrences if r["status"] == "active"]
    assert [r.id for r in recurrences] == [r["_id"] for r in expected]
    first = recurrences[0]
    assert first.event_id in current.db.events
    assert first.schedule.days_of_week == expected[0]["schedule"]["daysOfWeek"]
    assert first.auto_publish_horizon_weeks == 6
    assert current.requests[-1].query == {"status": "active", "limit": "100"}


async def test_list_recurrences_is_one_request_and_warns_when_full(
    current: FakeIntervals, client: IntervalsClient
) -> None:
    add_recurrences(current, 150)
    with pytest.warns(common.TruncationWarning, match="iter_recurrences"):
        listed = await client.list_recurrences()
    assert len(listed) == 100
    assert len(current.requests) == 1


async def test_a_bad_status_is_refused_before_sending(
    current: FakeIntervals, client: IntervalsClient
) -> None:
    with pytest.raises(common.InvalidRequestError):
        await client.list_recurrences(status="deleted")
    with pytest.raises(common.InvalidRequestError):
        client.iter_recurrences(status="deleted")
    assert current.requests == []


# --- groups -----------------------------------------------------------------------------------


async def test_groups(current: FakeIntervals, client: IntervalsClient) -> None:
    groups = await client.list_groups()
    assert [g.slug for g in groups] == ["dawn-patrol", "track-tuesdays", "trail-crew"]
    assert groups[2].status is GroupStatus.PAUSED
    one = await client.get_group("dawn-patrol")
    assert one == groups[0]
    assert one.organization_id == current.db.organization["_id"]
    with pytest.raises(common.NotFoundError):
        await client.get_group("no-such-group")
    with pytest.raises(common.NotFoundError):
        await client.get_group("../organization")  # escaped: stays a slug
    assert current.requests[-1].path == "/groups/..%2Forganization"


async def test_group_events_follow_has_more(current: FakeIntervals) -> None:
    current.db.group_events["dawn-patrol"] = list(current.db.events)[:230]
    async with client_for(current) as client:
        events = [e async for e in client.iter_group_events("dawn-patrol")]
        assert len(events) == 230
        assert len(current.requests) == 3
        assert {e.id for e in events} == set(current.db.group_events["dawn-patrol"])
        assert all(r.path == "/groups/dawn-patrol/events" for r in current.requests)
        current.requests.clear()
        with pytest.warns(common.TruncationWarning, match="iter_group_events"):
            page = await client.list_group_events("dawn-patrol")
        assert [e.id for e in page] == [e.id for e in events[:100]]
        assert len(current.requests) == 1
        assert await client.list_group_events("trail-crew", limit=1) != []


@pytest.mark.parametrize(
    ("scope", "call"),
    [
        ("read:groups", lambda client: client.list_groups()),
        ("read:recurrences", lambda client: client.list_recurrences()),
        ("read:series", lambda client: client.get_organization()),  # per the current reference
    ],
)
async def test_a_key_without_the_scope_gets_the_hint(scope: str, call: Any) -> None:
    scopes = [s for s in ALL_SCOPES if s != scope]
    async with (
        fake(api="current", api_keys={KEY: scopes}) as server,
        client_for(server) as client,
    ):
        with pytest.raises(common.PermissionDeniedError) as caught:
            await call(client)
    assert scope in str(caught.value)


# --- fields of the current reference ------------------------------------------------------------


async def test_plan_and_run_fields(current: FakeIntervals, client: IntervalsClient) -> None:
    assert (await client.get_organization()).plan is Plan.ELITE
    with_window = next(
        (event_id, run)
        for event_id, runs in current.db.runs.items()
        for run in runs
        if "registrationOpensAt" in run
    )
    detail = await client.get_event(with_window[0])
    run = next(r for r in detail.runs if r.id == with_window[1]["_id"])
    assert run.registration_opens_at is not None
    assert run.registration_opens_at.utcoffset() == dt.timedelta(0)
    assert run.registration_closes_at is not None
    assert run.registration_opens_at < run.registration_closes_at
    assert run.registration_status is None  # gone from the current reference
    overridden = next(
        r["_id"] for runs in current.db.runs.values() for r in runs if "registrationOverride" in r
    )
    event_id = next(
        e for e, runs in current.db.runs.items() if overridden in {r["_id"] for r in runs}
    )
    (run,) = [r for r in (await client.get_event(event_id)).runs if r.id == overridden]
    assert isinstance(run.registration_override, RegistrationOverride)


# --- a server without hasMore -----------------------------------------------------------------


def _page_of(count: int) -> Any:
    items = [
        {"_id": f"rec{i}", "eventId": "e1", "schedule": {}, "status": "active"}
        for i in range(count)
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        return json_response({"data": items})

    return handler


@pytest.mark.parametrize(("count", "warns"), [(40, False), (100, True)])
async def test_iter_recurrences_without_has_more_reads_one_page(count: int, warns: bool) -> None:
    """No ``hasMore`` and no dates to split by: one page; a full one may not be all."""
    async with (
        ScriptedServer(_page_of(count)) as server,
        IntervalsClient(api_key=KEY, base_url=server.url) as client,
    ):
        if warns:
            with pytest.warns(common.TruncationWarning, match="/recurrences"):
                got = [r async for r in client.iter_recurrences()]
        else:
            got = [r async for r in client.iter_recurrences()]
    assert len(got) == count
    assert len(server.requests) == 1
    assert "after" not in server.requests[0].query


# --- idempotent registration ------------------------------------------------------------------


@pytest.mark.parametrize("fault", [Fault.http(503), Fault.lost_response()], ids=str)
async def test_a_registration_retried_after_a_failure_is_made_once(
    current: FakeIntervals, client: IntervalsClient, fault: Fault
) -> None:
    run_id = next(runs[0]["_id"] for runs in current.db.runs.values() if runs)
    current.inject(fault, method="POST", path="/registration")
    participant_id = await client.register_participant(
        event_run_id=run_id, email="ines@example.com", registration_type="paid"
    )
    keys = [r.headers["Idempotency-Key"] for r in current.requests]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert current.db.registrations_created == 1
    made = [r for regs in current.db.registrations.values() for r in regs]
    assert [r["_id"] for r in made if r["email"] == "ines@example.com"] == [participant_id]


async def test_a_registration_sends_its_status_which_todays_reference_requires(
    current: FakeIntervals, client: IntervalsClient
) -> None:
    # Today's reference marks ``status`` required (and says it defaults to confirmed); the
    # seed description has it optional. It was sent only when given: a server built from
    # today's reference refused the default call with 422 (found by an outside audit).
    run_id = next(runs[0]["_id"] for runs in current.db.runs.values() if runs)
    await client.register_participant(
        event_run_id=run_id, email="a@example.com", registration_type="free"
    )
    await client.register_participant(
        event_run_id=run_id, email="b@example.com", registration_type="free", status="waitlist"
    )
    assert [r.json["status"] for r in current.requests] == ["confirmed", "waitlist"]


@pytest.mark.parametrize(
    "listing",
    [
        lambda client: client.iter_group_events("dawn-patrol"),
        lambda client: client.iter_recurrences(),
        lambda client: client.iter_events(),  # the date-window strategy too (was silent)
    ],
    ids=["iter_group_events", "iter_recurrences", "iter_events"],
)
async def test_has_more_with_an_empty_page_stops_with_a_warning(
    listing: Callable[[IntervalsClient], AsyncIterator[Any]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return json_response({"data": [], "hasMore": True})

    async with (
        ScriptedServer(handler) as server,
        IntervalsClient(api_key=KEY, base_url=server.url) as client,
    ):
        with pytest.warns(common.TruncationWarning, match="hasMore but sent no items"):
            assert [g async for g in listing(client)] == []
    assert len(server.requests) == 1


# --- the fake holds requests to the current description ----------------------------------------


async def raw(server: FakeIntervals, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {KEY}", **kwargs.pop("headers", {})}
    async with (
        aiohttp.ClientSession(server.url, headers=headers) as session,
        session.request(method, path, **kwargs) as response,
    ):
        return response.status, await response.json(content_type=None)


@pytest.mark.allow_violations
@pytest.mark.parametrize(
    "path",
    [
        "/recurrences?status=deleted",
        "/recurrences?limit=101",
        "/groups?limit=0",
        "/groups/dawn-patrol/events?after=",
    ],
)
async def test_a_request_the_description_refuses_is_a_422_and_a_violation(
    current: FakeIntervals, path: str
) -> None:
    status, body = await raw(current, "GET", path)
    assert (status, body["error"]["code"]) == (422, "VALIDATION_ERROR")
    assert len(current.violations) == 1
    assert path.partition("?")[0] in current.violations[0]


async def test_registration_replays_by_key_and_refuses_another_body(
    current: FakeIntervals,
) -> None:
    run_id = next(runs[0]["_id"] for runs in current.db.runs.values() if runs)
    body = {
        "eventRunId": run_id, "email": "kemi@example.com", "registrationType": "free",
        "status": "confirmed",
    }  # fmt: skip
    key = {"Idempotency-Key": "0b7e3a52-0000-4000-8000-00000000000a"}
    first = await raw(current, "POST", "/registration", json=body, headers=key)
    again = await raw(current, "POST", "/registration", json=body, headers=key)
    assert first[0] == 201
    assert again == first
    status, error = await raw(
        current, "POST", "/registration", json={**body, "registrationType": "paid"}, headers=key
    )
    assert (status, error["error"]["code"]) == (409, "CONFLICT")
    assert current.db.registrations_created == 1
    assert current.idempotent_replays == 1


async def test_the_seed_fake_serves_none_of_the_current_endpoints() -> None:
    async with fake() as seed:
        for path in ("/recurrences", "/groups", "/groups/dawn-patrol"):
            assert (await raw(seed, "GET", path))[0] == 404
        status, body = await raw(seed, "GET", "/events?limit=5")
        assert status == 200
        assert "hasMore" not in body
        assert len(seed.violations) == 3  # each unknown route is recorded
        seed.violations.clear()
