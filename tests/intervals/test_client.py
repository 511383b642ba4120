"""IntervalsClient over real HTTP against the fake: every operation, validation, errors, retries."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

import pytest

import common
from common.testing import Fault
from intervals_async import (
    Address,
    EventType,
    IntervalsClient,
    OrganizationRole,
    Plan,
    RegistrationStatus,
    RegistrationType,
    SeriesStatus,
)
from intervals_async._client import retry_after_from_body, split_window
from intervals_async.testing import ALL_SCOPES, FakeIntervals

from .conftest import KEY, client_for, fake

pytestmark = pytest.mark.anyio

D = dt.date


def first_event_id(server: FakeIntervals) -> str:
    """The seeded event with 120 registrations (more than one page)."""
    return next(iter(server.db.events))


def a_run_id(server: FakeIntervals) -> str:
    """A run of an event with a handful of registrations (not the first, overfull one)."""
    return str(next(runs[0]["_id"] for runs in list(server.db.runs.values())[1:] if runs))


# --- reads ----------------------------------------------------------------------------------


async def test_get_organization(server: FakeIntervals, client: IntervalsClient) -> None:
    org = await client.get_organization()
    expected = server.db.organization
    assert org.id == expected["_id"]
    assert org.name == expected["name"]
    assert org.slug == expected["slug"]
    assert org.roles == [OrganizationRole.ORGANIZER]
    assert org.plan is Plan.PREMIUM
    (request,) = server.requests
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Intervals-Version"] == "2026-03-01"


async def test_list_series_and_slug_filter(server: FakeIntervals, client: IntervalsClient) -> None:
    series = await client.list_series()
    assert [s.id for s in series] == [s["_id"] for s in server.db.series]
    assert server.requests[-1].query == {"limit": "100"}
    london = next(s for s in series if s.timezone == "Europe/London")
    assert london.status is SeriesStatus.ACTIVE
    assert london.schedule.start_time == "09:30"
    assert london.schedule.day_of_month == 1
    assert london.address is not None
    assert london.address.address_country == "GB"

    (only,) = await client.list_series(slug=london.slug, limit=5)
    assert only == london
    assert server.requests[-1].query == {"slug": london.slug, "limit": "5"}


def add_series(server: FakeIntervals, count: int) -> None:
    template = server.db.series[0]
    for index in range(count):
        server.db.series.append({**template, "_id": f"extra{index:04d}", "slug": f"s-{index}"})


async def test_list_series_full_page_warns(server: FakeIntervals, client: IntervalsClient) -> None:
    add_series(server, 150)
    with pytest.warns(common.TruncationWarning, match="maximum"):
        series = await client.list_series()
    assert len(series) == 100
    assert len(await client.list_series(limit=99)) == 99  # asked for fewer: no warning


async def test_list_series_follows_the_cursor() -> None:
    async with fake(cursor_pagination=True) as server:
        add_series(server, 250)
        async with client_for(server) as client:
            series = await client.list_series()
    assert [s.id for s in series] == [s["_id"] for s in server.db.series]
    assert [r.query.get("after") for r in server.requests] == [
        None,
        server.db.series[99]["_id"],
        server.db.series[199]["_id"],
    ]


async def test_list_events_one_request_with_filters(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    series_id = server.db.series[0]["_id"]
    events = await client.list_events(
        limit=40, series_id=series_id, date_from=D(2026, 3, 1), date_to="2026-08-31"
    )
    expected = [
        e
        for e in server.db.events.values()
        if e.get("seriesId") == series_id and "2026-03-01" <= e["date"] <= "2026-08-31"
    ]
    assert len(events) == min(40, len(expected))
    assert {e.series_id for e in events} == {series_id}
    assert all(D(2026, 3, 1) <= e.date <= D(2026, 8, 31) for e in events if isinstance(e.date, D))
    assert server.requests[-1].query == {
        "limit": "40",
        "seriesId": series_id,
        "dateFrom": "2026-03-01",
        "dateTo": "2026-08-31",
    }
    races = await client.list_events(type=EventType.RACE)
    assert races
    assert all(e.type is EventType.RACE for e in races)


async def test_list_events_full_page_points_to_iter_events(client: IntervalsClient) -> None:
    with pytest.warns(common.TruncationWarning, match=r"iter_events\(\)"):
        events = await client.list_events()
    assert len(events) == 100


async def test_get_event_with_runs(server: FakeIntervals, client: IntervalsClient) -> None:
    event_id = next(i for i, e in server.db.events.items() if "endDate" in e)
    detail = await client.get_event(event_id)
    raw = server.db.events[event_id]
    assert detail.event.id == event_id
    assert detail.event.name == raw["name"]
    assert detail.event.date == D.fromisoformat(raw["date"])
    assert detail.event.end_date == D.fromisoformat(raw["endDate"])
    assert detail.event.end_time == raw["endTime"]
    assert [r.id for r in detail.runs] == [r["_id"] for r in server.db.runs[event_id]]
    assert [r.distance_meters for r in detail.runs] == [
        r["distanceMeters"] for r in server.db.runs[event_id]
    ]


async def test_get_event_id_is_one_escaped_path_segment(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    with pytest.raises(common.NotFoundError):
        await client.get_event("../organization")
    assert server.requests[-1].path == "/events/..%2Forganization"


async def test_list_registrations_full_page_warns(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    event_id = first_event_id(server)
    with pytest.warns(common.TruncationWarning):
        registrations = await client.list_registrations(event_id)
    assert len(registrations) == 100
    assert server.requests[-1].query == {"eventId": event_id, "limit": "100"}
    expected = server.db.registrations[event_id][0]
    assert registrations[0].email == expected["email"]
    assert registrations[0].event_run_id == expected["eventRunId"]
    assert len(await client.list_registrations(event_id, limit=7)) == 7


async def test_list_registrations_follows_the_cursor() -> None:
    async with fake(cursor_pagination=True) as server, client_for(server) as client:
        event_id = first_event_id(server)
        registrations = await client.list_registrations(event_id)
        assert [r.id for r in registrations] == [
            r["_id"] for r in server.db.registrations[event_id]
        ]
        assert len(registrations) == 120
        assert len(server.requests) == 2


# --- writes ---------------------------------------------------------------------------------


async def test_create_event_minimal_sends_a_uuid_key(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    event_id = await client.create_event(
        name="Harbour 10K", slug="harbour-10k", type=EventType.RACE, date=D(2026, 6, 7)
    )
    request = server.requests[-1]
    assert request.json == {
        "name": "Harbour 10K",
        "slug": "harbour-10k",
        "type": "race",
        "date": "2026-06-07",
    }
    uuid.UUID(request.headers["Idempotency-Key"])
    assert server.db.events[event_id]["name"] == "Harbour 10K"


async def test_create_event_with_every_optional_field(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    series_id = server.db.series[1]["_id"]
    event_id = await client.create_event(
        name="Thames Relay",
        slug="thames-relay",
        type="other",
        date="2026-07-04",
        idempotency_key="my-key-1",
        series_id=series_id,
        end_date=D(2026, 7, 5),
        start_time=dt.time(8, 30),
        end_time="17:00:30",
        address=Address(
            name="Battersea Park",
            street_address="Albert Bridge Rd",
            address_locality="London",
            address_region="Greater London",
            postal_code="SW11 4NJ",
            address_country="GB",
        ),
        lat=51.4791,
        lng=-0.1566,
        description="",
        website_url="https://example.org/relay",
        registration_url="https://example.org/relay/register",
    )
    request = server.requests[-1]
    assert request.headers["Idempotency-Key"] == "my-key-1"
    assert request.json == {
        "name": "Thames Relay",
        "slug": "thames-relay",
        "type": "other",
        "date": "2026-07-04",
        "seriesId": series_id,
        "endDate": "2026-07-05",
        "startTime": "08:30",
        "endTime": "17:00:30",
        "address": {
            "name": "Battersea Park",
            "streetAddress": "Albert Bridge Rd",
            "addressLocality": "London",
            "addressRegion": "Greater London",
            "postalCode": "SW11 4NJ",
            "addressCountry": "GB",
        },
        "lat": 51.4791,
        "lng": -0.1566,
        "description": "",
        "websiteUrl": "https://example.org/relay",
        "registrationUrl": "https://example.org/relay/register",
    }
    detail = await client.get_event(event_id)
    assert detail.event.series_id == series_id
    assert detail.event.address is not None
    assert detail.event.address.postal_code == "SW11 4NJ"


async def test_create_event_address_as_mapping(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    await client.create_event(
        name="N",
        slug="n",
        type="race",
        date="2026-01-02",
        address={"address_locality": "Dublin", "address_country": "IE"},
    )
    assert server.requests[-1].json["address"] == {
        "addressLocality": "Dublin",
        "addressCountry": "IE",
    }


async def test_create_event_retried_through_a_lost_response_creates_one_event(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    server.inject(Fault.lost_response(), method="POST", path="/events")
    event_id = await client.create_event(name="Once", slug="once", type="race", date="2026-05-05")
    assert server.db.events_created == 1
    assert server.idempotent_replays == 1
    first, second = server.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.body == second.body
    assert [e["_id"] for e in server.db.events.values() if e["slug"] == "once"] == [event_id]


async def test_create_event_key_reused_with_another_body_is_a_conflict(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    await client.create_event(
        name="A", slug="a", type="race", date="2026-05-05", idempotency_key="k"
    )
    reused = "already used with a different request body"
    with pytest.raises(common.ConflictError, match=reused) as caught:
        await client.create_event(
            name="B", slug="b", type="race", date="2026-05-05", idempotency_key="k"
        )
    assert len(server.requests) == 2  # 409 is never retried
    # the server's own words are kept as sent; the advice is in str() only
    assert server.statuses[-1] == 409
    assert caught.value.message == "Idempotency key already used with different request body"
    assert caught.value.hint is not None
    assert caught.value.hint in str(caught.value)
    assert server.db.events_created == 1


async def test_register_participant(server: FakeIntervals, client: IntervalsClient) -> None:
    run_id = a_run_id(server)
    participant_id = await client.register_participant(
        event_run_id=run_id,
        email="ada.okafor@example.com",
        registration_type=RegistrationType.PAID,
        name="Ada Okafor",
        status=RegistrationStatus.WAITLIST,
        pace_group="sub-20",
        notes="",
    )
    request = server.requests[-1]
    assert request.json == {
        "eventRunId": run_id,
        "email": "ada.okafor@example.com",
        "registrationType": "paid",
        "name": "Ada Okafor",
        "status": "waitlist",
        "paceGroup": "sub-20",
        "notes": "",
    }
    uuid.UUID(request.headers["Idempotency-Key"])
    event_id = server.db.find_run(run_id)["eventId"]  # type: ignore[index]
    registrations = await client.list_registrations(event_id, limit=100)
    mine = next(r for r in registrations if r.id == participant_id)
    assert mine.registration_status is RegistrationStatus.WAITLIST
    assert mine.name == "Ada Okafor"


@pytest.mark.parametrize(
    "fault", [Fault.http(503), Fault.disconnect(), Fault.lost_response()], ids=str
)
async def test_register_participant_is_retried_with_one_key_and_registers_once(
    server: FakeIntervals, client: IntervalsClient, fault: Fault
) -> None:
    """Idempotent by default: a 503, a connection dropped before the answer, or an answer
    lost after the registration was made; the retry carries the same generated key, and the
    server makes one registration (the lost answer's retry is answered from the key's store)."""
    server.inject(fault, method="POST", path="/registration")
    participant_id = await client.register_participant(
        event_run_id=a_run_id(server), email="a@example.com", registration_type="free"
    )
    first, second = server.requests
    key = first.headers["Idempotency-Key"]
    uuid.UUID(key)
    assert second.headers["Idempotency-Key"] == key
    assert first.json == second.json
    assert server.db.registrations_created == 1
    made = [
        r
        for regs in server.db.registrations.values()
        for r in regs
        if r["email"] == "a@example.com"
    ]
    assert [r["_id"] for r in made] == [participant_id]


async def test_register_participant_calls_get_a_key_each(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    """One key per call: two calls with the same fields are two registrations."""
    for _ in range(2):
        await client.register_participant(
            event_run_id=a_run_id(server), email="a@example.com", registration_type="free"
        )
    first, second = (r.headers["Idempotency-Key"] for r in server.requests)
    assert first != second
    assert server.db.registrations_created == 2


async def test_register_participant_given_key_is_kept_and_replayed(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    fields = {"event_run_id": a_run_id(server), "email": "a@example.com"}
    one = await client.register_participant(
        **fields, registration_type="free", idempotency_key="reg-1"
    )
    again = await client.register_participant(
        **fields, registration_type="free", idempotency_key="reg-1"
    )
    assert one == again
    assert server.db.registrations_created == 1
    assert server.idempotent_replays == 1
    with pytest.raises(common.ConflictError) as caught:
        await client.register_participant(
            **fields, registration_type="paid", idempotency_key="reg-1"
        )
    assert len(server.requests) == 3  # a 409 is never retried
    assert caught.value.hint is not None and "reg-1" in caught.value.hint
    assert server.db.registrations_created == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [(Fault.http(503), common.ServerError), (Fault.disconnect(), common.APIConnectionError)],
)
async def test_register_participant_can_opt_out_of_retries(
    server: FakeIntervals, client: IntervalsClient, fault: Fault, error: type[Exception]
) -> None:
    server.inject(fault, method="POST", path="/registration")
    with pytest.raises(error):
        await client.register_participant(
            event_run_id=a_run_id(server),
            email="a@example.com",
            registration_type="free",
            retry_if_maybe_sent=False,
        )
    assert len(server.requests) == 1


async def test_register_participant_retried_after_429(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    server.inject(Fault.http(429), method="POST", path="/registration")
    await client.register_participant(
        event_run_id=a_run_id(server), email="a@example.com", registration_type="free"
    )
    assert len(server.requests) == 2
    assert server.db.registrations_created == 1


# --- validation: nothing is sent ------------------------------------------------------------

EVENT = {"name": "N", "slug": "s", "type": "race", "date": "2026-05-01"}
REGISTRATION = {"event_run_id": "r1", "email": "a@example.com", "registration_type": "free"}


def without(base: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in base.items() if k != key}


INVALID: list[tuple[str, dict[str, Any], str]] = [
    *[("create_event", without(EVENT, key), key) for key in EVENT],
    ("create_event", {**EVENT, "name": ""}, "name"),
    # an event that ends before it starts (these were sent: found by an outside review)
    ("create_event", {**EVENT, "end_date": "2000-01-01"}, "end_date"),
    ("create_event", {**EVENT, "start_time": "10:00", "end_time": "09:00"}, "end_time"),
    ("create_event", {**EVENT, "slug": "  "}, "slug"),
    ("create_event", {**EVENT, "name": 5}, "name"),
    ("create_event", {**EVENT, "type": "marathon"}, "type"),
    ("create_event", {**EVENT, "date": "2026-02-30"}, "date"),
    ("create_event", {**EVENT, "date": "05/01/2026"}, "date"),
    ("create_event", {**EVENT, "date": dt.datetime(2026, 5, 1, 9)}, "date"),
    ("create_event", {**EVENT, "end_date": "2026-13-01"}, "end_date"),
    ("create_event", {**EVENT, "start_time": "9am"}, "start_time"),
    ("create_event", {**EVENT, "start_time": "24:00"}, "start_time"),
    ("create_event", {**EVENT, "end_time": "12:60"}, "end_time"),
    ("create_event", {**EVENT, "lat": 90.5}, "lat"),
    ("create_event", {**EVENT, "lat": -91}, "lat"),
    ("create_event", {**EVENT, "lat": True}, "lat"),
    ("create_event", {**EVENT, "lat": float("nan")}, "lat"),
    ("create_event", {**EVENT, "lng": 180.01}, "lng"),
    ("create_event", {**EVENT, "lng": "0"}, "lng"),
    ("create_event", {**EVENT, "series_id": ""}, "series_id"),
    ("create_event", {**EVENT, "description": 3}, "description"),
    ("create_event", {**EVENT, "website_url": "example.org"}, "website_url"),
    ("create_event", {**EVENT, "registration_url": "not a url"}, "registration_url"),
    ("create_event", {**EVENT, "idempotency_key": ""}, "idempotency_key"),
    ("create_event", {**EVENT, "colour": "red"}, "colour"),
    ("create_event", {**EVENT, "address": "Boston"}, "address"),
    ("create_event", {**EVENT, "address": {"address_locality": "Boston"}}, "address"),
    ("create_event", {**EVENT, "address": {"city": "Boston", "address_country": "US"}}, "address"),
    (
        "create_event",
        {**EVENT, "address": Address(address_locality="Boston", address_country="USA")},
        "address.address_country",
    ),
    (
        "create_event",
        {**EVENT, "address": Address(address_locality="", address_country="US")},
        "address.address_locality",
    ),
    (
        "create_event",
        {**EVENT, "address": Address(address_locality="B", address_country="US", name=1)},  # type: ignore[arg-type]
        "address.name",
    ),
    *[("register_participant", without(REGISTRATION, key), key) for key in REGISTRATION],
    ("register_participant", {**REGISTRATION, "event_run_id": ""}, "event_run_id"),
    ("register_participant", {**REGISTRATION, "email": "not-an-email"}, "email"),
    ("register_participant", {**REGISTRATION, "email": ".a@example.com"}, "email"),
    ("register_participant", {**REGISTRATION, "email": "a..b@example.com"}, "email"),
    ("register_participant", {**REGISTRATION, "email": "a@example.c"}, "email"),
    ("register_participant", {**REGISTRATION, "registration_type": "gift"}, "registration_type"),
    ("register_participant", {**REGISTRATION, "status": "pending"}, "status"),
    ("register_participant", {**REGISTRATION, "name": 3}, "name"),
    ("register_participant", {**REGISTRATION, "phone": "555"}, "phone"),
    ("list_events", {"limit": 0}, "limit"),
    ("list_events", {"limit": 101}, "limit"),
    ("list_events", {"limit": "10"}, "limit"),
    ("list_events", {"limit": True}, "limit"),
    ("list_events", {"type": "marathon"}, "type"),
    ("list_events", {"series_id": ""}, "series_id"),
    ("list_events", {"date_from": "2026-02-30"}, "date_from"),
    ("list_events", {"date_to": "tomorrow"}, "date_to"),
    ("list_events", {"date_from": D(2026, 5, 2), "date_to": D(2026, 5, 1)}, "date_from"),
    ("list_series", {"limit": 0}, "limit"),
    ("list_series", {"slug": ""}, "slug"),
    ("list_registrations", {"event_id": ""}, "event_id"),
    ("list_registrations", {"event_id": "e", "limit": 200}, "limit"),
    ("get_event", {"event_id": ""}, "id"),
    ("get_event", {"event_id": ".."}, "id"),
]


@pytest.mark.parametrize(("operation", "arguments", "field"), INVALID)
async def test_invalid_input_is_refused_before_sending(
    operation: str, arguments: dict[str, Any], field: str
) -> None:
    # Nothing may reach the server, so its (slow to build) spec validation is not needed.
    async with fake(validate=False) as server, client_for(server) as client:
        with pytest.raises(common.InvalidRequestError) as caught:
            await getattr(client, operation)(**arguments)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert server.requests == []


async def test_iter_events_validates_at_call_time(
    server: FakeIntervals, client: IntervalsClient
) -> None:
    with pytest.raises(common.InvalidRequestError, match="date_from"):
        client.iter_events(date_from="2026-06-01", date_to="2026-05-01")
    with pytest.raises(common.InvalidRequestError, match="type"):
        client.iter_events(type="parade")
    assert server.requests == []


def test_api_key_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERVALS_API_KEY", raising=False)
    with pytest.raises(common.MissingCredentialsError, match="INTERVALS_API_KEY"):
        IntervalsClient()
    with pytest.raises(common.MissingCredentialsError):
        IntervalsClient(api_key="  ")
    monkeypatch.setenv("INTERVALS_API_KEY", "")
    with pytest.raises(common.MissingCredentialsError):
        IntervalsClient()


async def test_api_key_from_the_environment(
    server: FakeIntervals, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERVALS_API_KEY", KEY)
    async with IntervalsClient(base_url=server.url) as client:
        await client.get_organization()
    assert server.requests[-1].headers["Authorization"] == f"Bearer {KEY}"


# --- errors, rate limits, headers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "arguments", "scope"),
    [
        ("list_series", {}, "read:series"),
        ("list_events", {}, "read:events"),
        ("get_event", {"event_id": "e1"}, "read:events"),
        ("list_registrations", {"event_id": "e1"}, "read:participants"),
        ("create_event", EVENT, "write:events"),
        ("register_participant", REGISTRATION, "write:participants"),
    ],
)
async def test_403_names_the_scope_needed(
    operation: str, arguments: dict[str, Any], scope: str
) -> None:
    others = [s for s in ALL_SCOPES if s != scope]
    async with fake(api_keys={KEY: others}) as server, client_for(server) as client:
        with pytest.raises(common.PermissionDeniedError) as caught:
            await getattr(client, operation)(**arguments)
    assert f"needs the '{scope}' scope" in str(caught.value)
    assert caught.value.message == f"API key lacks the {scope} scope"  # as the server said
    assert caught.value.status_code == 403
    assert len(server.requests) == 1


async def test_401_is_an_authentication_error(server: FakeIntervals) -> None:
    async with client_for(server, api_key="wrong-key") as client:
        with pytest.raises(common.AuthenticationError):
            await client.get_organization()


async def test_429_wait_from_the_body_is_honoured(server: FakeIntervals) -> None:
    server.rate_limit(2.0, burst=1, style="body")  # the second request waits ~0.5 s
    async with client_for(server) as client:
        await client.get_organization()
        started = time.monotonic()
        await client.get_organization()
        elapsed = time.monotonic() - started
    assert server.count_status(429) >= 1  # (a retry landing a hair early may see a second)
    assert server.count_status(200) == 2
    assert 0.3 <= elapsed < 5


async def test_429_retry_after_header_is_honoured(server: FakeIntervals) -> None:
    server.rate_limit(2.0, burst=1, style="header")  # Retry-After: 1
    async with client_for(server) as client:
        await client.get_organization()
        started = time.monotonic()
        await client.get_organization()
        elapsed = time.monotonic() - started
    assert server.count_status(429) >= 1  # (a retry landing a hair early may see a second)
    assert server.count_status(200) == 2
    assert 0.8 <= elapsed < 5


async def test_version_header_can_be_changed_or_disabled(server: FakeIntervals) -> None:
    async with client_for(server, api_version="2025-01-01") as client:
        await client.get_organization()
    assert server.requests[-1].headers["Intervals-Version"] == "2025-01-01"
    async with client_for(server, api_version=None) as client:
        await client.get_organization()
    assert "Intervals-Version" not in server.requests[-1].headers


async def test_list_failure_names_the_cursor_to_resume_from() -> None:
    async with fake(cursor_pagination=True) as server:
        server.inject(Fault(), Fault.http(500), path="/registration")  # the 2nd page fails
        async with client_for(server, max_retries=0) as client:
            event_id = first_event_id(server)
            with pytest.raises(common.ServerError) as caught:
                await client.list_registrations(event_id)
    after = server.db.registrations[event_id][99]["_id"]
    assert caught.value.resume_page == f"after={after}"
    assert after in str(caught.value)


SECRET = "sk_live_do-not-leak-1234567890"


async def test_credentials_never_leak(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        fake(api_keys={SECRET: ("read:events",)}) as server,
        client_for(server, api_key=SECRET) as client,
    ):
        texts = [repr(client), str(client), repr(client.transport)]
        await client.get_organization()
        with pytest.raises(common.PermissionDeniedError) as denied:
            await client.list_series()
        server.api_keys.clear()
        with pytest.raises(common.AuthenticationError) as refused:
            await client.get_organization()
    for caught in (denied, refused):
        texts += [str(caught.value), repr(caught.value), caught.value.message]
    texts += [record.getMessage() for record in caplog.records]
    assert any("GET /organization" in text for text in texts)  # the DEBUG log was captured
    assert not [text for text in texts if SECRET in text]


# --- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"retryAfter": 1_000_500}}, 0.5),
        ({"error": {"retryAfter": 999_000.0}}, 0.0),  # in the past
        ({"error": {"retryAfter": "1000500"}}, None),
        ({"error": {"retryAfter": True}}, None),
        ({"error": {"retryAfter": None}}, None),
        ({"error": {"retryAfter": 10**400}}, None),
        ({"error": {"retryAfter": float("inf")}}, None),
        ({"error": "slow down"}, None),
        ([1, 2], None),
        (None, None),
    ],
)
def test_retry_after_from_body(body: Any, expected: float | None) -> None:
    assert retry_after_from_body(body, 1000.0) == expected


@pytest.mark.parametrize(
    ("lo", "hi", "dates", "expected"),
    [
        (None, None, [D(2026, 1, 1), D(2026, 3, 1), D(2026, 9, 1)], (D(2026, 3, 1), D(2026, 3, 2))),
        (D(2026, 1, 1), D(2026, 12, 31), [D(2026, 12, 31)] * 5, (D(2026, 12, 30), D(2026, 12, 31))),
        (D(2026, 5, 1), None, [D(2026, 4, 1)] * 3, (D(2026, 5, 1), D(2026, 5, 2))),
        (None, D(2026, 5, 1), [D(2026, 5, 1)] * 3, (D(2026, 4, 30), D(2026, 5, 1))),
        (D(2026, 5, 1), D(2026, 5, 2), [D(2026, 5, 1)], (D(2026, 5, 1), D(2026, 5, 2))),
        (D(2026, 5, 1), D(2026, 5, 1), [D(2026, 5, 1)], None),
        (None, None, [], None),
    ],
)
def test_split_window(
    lo: dt.date | None,
    hi: dt.date | None,
    dates: list[dt.date],
    expected: tuple[dt.date, dt.date] | None,
) -> None:
    assert split_window(lo, hi, dates) == expected


@pytest.mark.anyio
@pytest.mark.parametrize("key", ["with space", "line\nbreak", "x" * 256, "ключ"])
async def test_unsendable_idempotency_keys_are_refused(key: str) -> None:
    async with fake() as server, client_for(server) as client:
        with pytest.raises(common.InvalidRequestError, match="idempotency_key"):
            await client.create_event(
                name="A", slug="a", type="race", date="2026-05-01", idempotency_key=key
            )
    assert server.requests == []
