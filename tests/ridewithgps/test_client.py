"""RideWithGPSClient over real HTTP against the fake: auth, operations, retries, errors."""

from __future__ import annotations

import array
import base64
import datetime as dt
import logging
from typing import Any

import aiohttp
import pytest

import common
from common.testing import Fault
from ridewithgps_async import Event, ParticipantStatus, RideWithGPSClient, Visibility
from ridewithgps_async.testing import FakeRideWithGPS

from .conftest import ACCESS_TOKEN, API_KEY, AUTH_TOKEN, FAST, make_client

pytestmark = pytest.mark.anyio

SEEDED = 1_000_000  # the fake's first seeded event, owned by the user


# --- authentication -----------------------------------------------------------------------


async def test_basic_auth_style(fake: FakeRideWithGPS) -> None:
    async with make_client(fake, auth_style="basic") as rw:
        await rw.get_event(SEEDED)
    pair = base64.b64encode(f"{API_KEY}:{AUTH_TOKEN}".encode()).decode()
    assert fake.auth_forms == ["basic"]
    assert fake.requests[0].headers["Authorization"] == f"Basic {pair}"


async def test_the_description_s_headers_are_the_default_for_a_key_pair(
    fake: FakeRideWithGPS,
) -> None:
    async with make_client(fake) as rw:
        await rw.get_event(SEEDED)
    headers = fake.requests[0].headers
    assert fake.auth_forms == ["headers"]
    assert headers["x-rwgps-api-key"] == API_KEY
    assert headers["x-rwgps-auth-token"] == AUTH_TOKEN
    assert "Authorization" not in headers


async def test_access_token_is_sent_as_bearer(fake: FakeRideWithGPS) -> None:
    async with make_client(fake, access_token=ACCESS_TOKEN) as rw:
        await rw.get_event(SEEDED)
    assert fake.auth_forms == ["bearer"]
    assert fake.requests[0].headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


async def test_explicit_access_token_wins_over_a_pair(fake: FakeRideWithGPS) -> None:
    async with make_client(fake, access_token=ACCESS_TOKEN, api_key="k", auth_token="t") as rw:
        await rw.get_event(SEEDED)
    assert fake.auth_forms == ["bearer"]


async def test_environment_key_pair(fake: FakeRideWithGPS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RWGPS_API_KEY", API_KEY)
    monkeypatch.setenv("RWGPS_AUTH_TOKEN", AUTH_TOKEN)
    async with RideWithGPSClient(base_url=fake.url) as rw:
        await rw.get_event(SEEDED)
    assert fake.auth_forms == ["headers"]


async def test_environment_access_token_wins_over_environment_pair(
    fake: FakeRideWithGPS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RWGPS_ACCESS_TOKEN", ACCESS_TOKEN)
    monkeypatch.setenv("RWGPS_API_KEY", "wrong")
    monkeypatch.setenv("RWGPS_AUTH_TOKEN", "wrong")
    async with RideWithGPSClient(base_url=fake.url) as rw:
        await rw.get_event(SEEDED)
    assert fake.auth_forms == ["bearer"]


async def test_explicit_arguments_win_over_the_environment(
    fake: FakeRideWithGPS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RWGPS_ACCESS_TOKEN", "wrong-token")
    monkeypatch.setenv("RWGPS_API_KEY", "wrong-key")
    monkeypatch.setenv("RWGPS_AUTH_TOKEN", AUTH_TOKEN)
    # an explicit key: the pair is used (its other half from the environment), not the token
    async with RideWithGPSClient(base_url=fake.url, api_key=API_KEY) as rw:
        await rw.get_event(SEEDED)
    assert fake.auth_forms == ["headers"]


@pytest.mark.parametrize(
    ("kwargs", "env", "field"),
    [
        ({}, {}, "access_token"),
        ({"api_key": API_KEY}, {}, "auth_token"),
        ({"auth_token": AUTH_TOKEN}, {}, "api_key"),
        ({}, {"RWGPS_API_KEY": API_KEY}, "auth_token"),
        ({}, {"RWGPS_AUTH_TOKEN": AUTH_TOKEN}, "api_key"),
        ({"access_token": "", "api_key": " "}, {}, "access_token"),
    ],
)
def test_missing_credentials_are_refused_at_construction(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], env: dict[str, str], field: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(common.MissingCredentialsError) as caught:
        RideWithGPSClient(**kwargs)
    assert caught.value.field == field
    assert field in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"access_token": "a b"},
        {"api_key": "k\n", "auth_token": "t"},
        {"api_key": 123, "auth_token": "t"},
        {"api_key": "k", "auth_token": "t", "auth_style": "query"},
    ],
)
def test_malformed_credentials_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(common.InvalidRequestError) as caught:
        RideWithGPSClient(**kwargs)
    assert "a b" not in str(caught.value)
    assert "k\n" not in str(caught.value)


async def test_wrong_credentials_give_authentication_error(fake: FakeRideWithGPS) -> None:
    async with make_client(fake, api_key=API_KEY, auth_token="nope") as rw:
        with pytest.raises(common.AuthenticationError) as caught:
            await rw.get_event(SEEDED)
    assert caught.value.status_code == 401
    assert caught.value.message == "Failed to authenticate the user"
    assert len(fake.requests) == 1  # 401 is not retried


async def test_credentials_never_shown(
    fake: FakeRideWithGPS, caplog: pytest.LogCaptureFixture
) -> None:
    pair = base64.b64encode(f"{API_KEY}:{AUTH_TOKEN}".encode()).decode()
    secrets = (API_KEY, AUTH_TOKEN, pair, ACCESS_TOKEN)
    shown: list[str] = []
    caplog.set_level(logging.DEBUG)
    for kwargs in ({}, {"auth_style": "headers"}, {"access_token": ACCESS_TOKEN}):
        fake.inject(Fault.http(500), Fault.http(404))
        async with make_client(fake, **kwargs) as rw:
            shown += [repr(rw), str(rw), repr(rw.transport), str(rw.transport)]
            with pytest.raises(common.NotFoundError) as caught:
                await rw.get_event(SEEDED)
            shown += [str(caught.value), repr(caught.value)]
    shown += [record.getMessage() for record in caplog.records]
    assert any("GET /api/v1/events" in text for text in shown)  # the logs did say something
    for text in shown:
        for secret in secrets:
            assert secret not in text


# --- operations ---------------------------------------------------------------------------


async def test_get_event_full(client: RideWithGPSClient, fake: FakeRideWithGPS) -> None:
    event = await client.get_event(SEEDED)
    assert isinstance(event, Event)
    assert event.id == SEEDED
    assert event.user_id == fake.db.user_id
    assert fake.requests[-1].path == f"/api/v1/events/{SEEDED}.json"
    assert event.participants is not None  # the user owns it
    statuses = [p.status for p in event.participants]
    assert statuses == [
        ParticipantStatus.JOINED,
        ParticipantStatus.INTERESTED,
        ParticipantStatus.DECLINED,
        ParticipantStatus.DISALLOWED,
        "participant",  # undocumented, kept as the plain string
    ]
    assert event.organizers is None  # a user event: the key is absent
    assert isinstance(event.visibility, Visibility)
    assert event.created_at is not None
    assert event.created_at.tzinfo is not None
    for route in event.routes:
        assert isinstance(route.extra["distance"], float)  # an undocumented key, kept


async def test_get_event_of_an_organization(client: RideWithGPSClient) -> None:
    full = await client.get_event(101)
    assert full.organizers is not None
    assert full.organizers[0].name == "Casey Rider"
    assert full.participants is None  # not the owner: the key is absent
    text = await client.get_event(102)
    assert text.organizers is not None
    assert text.organizers[0].text == "Bruno"
    assert text.organizers[0].name is None
    assert text.organizers[0].display_name == "Bruno"
    assert text.visibility is Visibility.MEMBERS_ONLY


async def test_create_event_sends_only_given_fields(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    made = await client.create_event(
        name="Saturday ride",
        start_date=dt.date(2026, 5, 2),
        start_time=dt.time(8, 30),
        end_date="2026-05-02",
        end_time="12:00",
        time_zone="Europe/Paris",
        visibility=Visibility.FRIENDS_ONLY,
        lat=48.85,
        lng=2.35,
        route_ids=[12, 34],
        description="",
    )
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/api/v1/events.json")
    assert sent.json == {
        "event": {
            "name": "Saturday ride",
            "start_date": "2026-05-02",
            "start_time": "08:30",
            "end_date": "2026-05-02",
            "end_time": "12:00",
            "time_zone": "Europe/Paris",
            "visibility": "friends_only",
            "lat": 48.85,
            "lng": 2.35,
            "route_ids": [12, 34],
            "description": "",
        }
    }
    assert isinstance(made, Event)
    assert made.name == "Saturday ride"
    assert made.start_time == dt.time(8, 30)
    assert [route.id for route in made.routes] == [12, 34]
    assert fake.db.events_created == 1


async def test_update_event_puts_only_given_keys(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    updated = await client.update_event(SEEDED, name="Renamed", description=None)
    sent = fake.requests[-1]
    # PUT, as the API's description and recorded live traffic have it
    assert (sent.method, sent.path) == ("PUT", f"/api/v1/events/{SEEDED}.json")
    assert sent.json == {"event": {"name": "Renamed", "description": None}}
    assert updated.name == "Renamed"
    assert updated.description is None
    assert updated.participants is not None


async def test_ids_in_any_sequence_are_sent_as_a_list(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    # A range or an array passed the check, then failed the encoding with an error
    # naming no field.
    await client.update_event(SEEDED, route_ids=range(5, 7), organizer_ids=array.array("q", [3]))
    assert fake.requests[-1].json == {"event": {"route_ids": [5, 6], "organizer_ids": [3]}}


async def test_update_event_clears_the_time_zone_and_keeps_the_rest(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    # (the fake cannot store a null time_zone yet: answer for it)
    fake.inject(Fault.raw(b'{"event": {"id": 1000000, "name": "x", "time_zone": null}}'))
    await client.update_event(SEEDED, time_zone=None, location="", lat=1.5, route_ids=(3,))
    assert fake.requests[-1].json == {
        "event": {"time_zone": None, "location": "", "lat": 1.5, "route_ids": [3]}
    }


async def test_get_event_with_a_privacy_code(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    await client.get_event(SEEDED, privacy_code="s3cret-link")
    assert fake.requests[-1].query == {"privacy_code": "s3cret-link"}
    await client.get_event(SEEDED)
    assert fake.requests[-1].query == {}
    with pytest.raises(common.InvalidRequestError, match="privacy_code"):
        await client.get_event(SEEDED, privacy_code="")
    assert len(fake.requests) == 2


async def test_write_methods_have_the_request_classes_signatures() -> None:
    import inspect

    from ridewithgps_async import EventCreate, EventUpdate

    create = inspect.signature(RideWithGPSClient.create_event).parameters
    update = inspect.signature(RideWithGPSClient.update_event).parameters
    assert list(create)[1:] == list(inspect.signature(EventCreate).parameters)
    assert list(update)[1:] == list(inspect.signature(EventUpdate).parameters)
    assert list(update)[1] == "event_id"


async def test_delete_event(client: RideWithGPSClient, fake: FakeRideWithGPS) -> None:
    await client.delete_event(SEEDED)
    assert (fake.requests[-1].method, fake.statuses[-1]) == ("DELETE", 204)
    with pytest.raises(common.NotFoundError):
        await client.get_event(SEEDED)


# --- validation: nothing is sent ----------------------------------------------------------

CREATE_OK: dict[str, Any] = {"name": "Ride", "start_date": dt.date(2026, 5, 2)}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": None}, "name"),
        ({"start_date": None}, "start_date"),
        ({"name": "  "}, "name"),
        ({"name": 3}, "name"),
        ({"start_date": "2026-02-30"}, "start_date"),
        ({"start_date": "02/05/2026"}, "start_date"),
        ({"start_date": dt.datetime(2026, 5, 2, 8)}, "start_date"),
        ({"start_time": "8:00"}, "start_time"),
        ({"start_time": "08:00:30"}, "start_time"),
        ({"end_time": "24:00"}, "end_time"),
        ({"lat": 90.5}, "lat"),
        ({"lng": -180.1}, "lng"),
        ({"lat": "45"}, "lat"),
        ({"lat": float("nan")}, "lat"),
        ({"visibility": "everyone"}, "visibility"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"route_ids": [1, 0]}, "route_ids[1]"),
        ({"route_ids": "12"}, "route_ids"),
        ({"route_ids": bytearray([5, 6])}, "route_ids"),  # was sent as base64 text
        ({"organizer_ids": memoryview(b"\x09")}, "organizer_ids"),
        ({"organizer_ids": [True]}, "organizer_ids[0]"),
        ({"end_date": "2026-05-01"}, "end_date"),
        (
            {"end_date": "2026-05-02", "start_time": "10:00", "end_time": "09:00"},
            "end_time",
        ),
        # without an end_date it ends the day it starts (this was sent: found by an
        # outside review of the write paths)
        ({"start_time": "10:00", "end_time": "09:00"}, "end_time"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_create_event_validation(
    client: RideWithGPSClient, fake: FakeRideWithGPS, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(common.InvalidRequestError) as caught:
        await client.create_event(**{**CREATE_OK, **changes})
    assert caught.value.field == field
    assert field.split("[")[0] in str(caught.value)
    assert fake.requests == []


async def test_create_event_accepts_a_documented_old_timezone_alias(
    client: RideWithGPSClient,
) -> None:
    made = await client.create_event(**CREATE_OK, time_zone="America/Godthab")
    assert made.time_zone == "America/Godthab"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({}, None),
        ({"name": None}, None),  # None means "not given": nothing to change
        ({"visibility": None, "start_time": None}, None),
        ({"start_date": "2026-13-01"}, "start_date"),
        ({"start_date": "2026-05-02", "end_date": "2026-05-01"}, "end_date"),
        ({"bogus": 1}, "bogus"),
    ],
)
async def test_update_event_validation(
    client: RideWithGPSClient, fake: FakeRideWithGPS, changes: dict[str, Any], field: str | None
) -> None:
    with pytest.raises(common.InvalidRequestError) as caught:
        await client.update_event(SEEDED, **changes)
    assert caught.value.field == field
    assert fake.requests == []


@pytest.mark.parametrize("event_id", [0, -1, True, "12", 1.0, None, 2**63])
async def test_event_ids_are_validated(
    client: RideWithGPSClient, fake: FakeRideWithGPS, event_id: Any
) -> None:
    for call in (client.get_event, client.delete_event):
        with pytest.raises(common.InvalidRequestError) as caught:
            await call(event_id)
        assert caught.value.field == "event_id"
    with pytest.raises(common.InvalidRequestError):
        await client.update_event(event_id, name="x")
    assert fake.requests == []


# --- retries: writes are not idempotent ---------------------------------------------------


@pytest.mark.parametrize("fault", [Fault.http(500), Fault.disconnect(), Fault.lost_response()])
async def test_create_is_not_retried_once_it_may_have_arrived(
    client: RideWithGPSClient, fake: FakeRideWithGPS, fault: Fault
) -> None:
    fake.inject(fault, method="POST")
    with pytest.raises((common.ServerError, common.APIConnectionError)) as caught:
        await client.create_event(**CREATE_OK)
    assert [r.method for r in fake.requests] == ["POST"]
    assert caught.value.attempts == 1
    # a lost response means the event was created: retrying would have made two
    assert fake.db.events_created == (1 if fault.after_handler else 0)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_update_and_delete_are_not_retried_after_500(
    client: RideWithGPSClient, fake: FakeRideWithGPS, method: str
) -> None:
    fake.inject(Fault.http(500), method=method)

    async def write() -> None:
        if method == "PUT":
            await client.update_event(SEEDED, name="x")
        else:
            await client.delete_event(SEEDED)

    with pytest.raises(common.ServerError):
        await write()
    assert len(fake.requests) == 1


@pytest.mark.parametrize("headers", [{"Retry-After": "0"}, None])
async def test_writes_are_retried_after_429(
    client: RideWithGPSClient, fake: FakeRideWithGPS, headers: dict[str, str] | None
) -> None:
    fake.inject(Fault.http(429, headers=headers), method="POST")
    made = await client.create_event(**CREATE_OK)
    assert [r.method for r in fake.requests] == ["POST", "POST"]
    assert fake.statuses == [429, 201]
    assert fake.db.events_created == 1
    assert made.name == "Ride"


async def test_reads_are_retried_after_500_and_a_dropped_connection(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    fake.inject(Fault.http(503), Fault.disconnect(), method="GET")
    event = await client.get_event(SEEDED)
    assert event.id == SEEDED
    assert len(fake.requests) == 3


async def test_retries_give_up_with_the_attempt_count(fake: FakeRideWithGPS) -> None:
    fake.inject(*[Fault.http(500)] * 5)
    async with make_client(fake, max_retries=1, retry_policy=FAST) as rw:
        with pytest.raises(common.ServerError) as caught:
            await rw.get_event(SEEDED)
    assert caught.value.attempts == 2
    assert len(fake.requests) == 2


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["error", "errors", "message"])
async def test_every_error_shape_gives_the_message(style: Any) -> None:
    async with FakeRideWithGPS(error_style=style) as fake, make_client(fake) as rw:
        with pytest.raises(common.NotFoundError) as not_found:
            await rw.get_event(999_999)
        with pytest.raises(common.PermissionDeniedError) as denied:
            await rw.get_event(105)  # another user's private event
    assert not_found.value.status_code == 404
    assert not_found.value.message == "Record not found"
    assert denied.value.status_code == 403
    assert denied.value.message == "You do not have permission to view this event"
    assert denied.value.request_id  # the fake sends x-request-id
    assert "403" in str(denied.value)
    assert "/api/v1/events/105.json" in str(denied.value)


async def test_server_side_validation_error(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    # the client checks more than the server, so only a fake refusal reaches this path
    fake.inject(Fault.raw(b'{"errors": ["Name is taken", "Bad"]}', status=422))
    with pytest.raises(common.ValidationError) as caught:
        await client.create_event(**CREATE_OK)
    assert caught.value.message == "Name is taken; Bad"


async def test_permission_denied_on_edit(client: RideWithGPSClient) -> None:
    with pytest.raises(common.PermissionDeniedError):
        await client.update_event(104, name="mine now")  # public, but not ours


async def test_a_malformed_body_is_a_decode_error(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    fake.inject(Fault.raw(b'{"event": {"id": "one", "name": "x"}}'))
    with pytest.raises(common.DecodeError, match=r"\$\.event\.id"):
        await client.get_event(SEEDED)
    fake.inject(Fault.raw(b"<html>oops</html>", content_type="text/html"))
    with pytest.raises(common.DecodeError):
        await client.get_event(SEEDED)


def test_constructor_options_pass_through() -> None:
    rw = RideWithGPSClient(
        access_token="t",
        base_url="https://example.com/",
        timeout=5,
        max_retries=4,
        rate_limit=10,
        max_concurrency=3,
        deadline=9,
        rate_burst=2,
        max_response_bytes=1000,
    )
    transport = rw.transport
    assert rw.base_url == "https://example.com"
    assert (transport.timeout, transport.deadline, transport.policy.max_retries) == (5, 9, 4)
    assert (transport.max_concurrency, transport.max_response_bytes) == (3, 1000)
    with pytest.raises(common.InvalidRequestError):
        RideWithGPSClient(access_token="t", base_url="http://example.com")  # https only


async def test_borrowed_session_is_left_open(fake: FakeRideWithGPS) -> None:
    async with aiohttp.ClientSession() as session:
        async with make_client(fake, session=session) as rw:
            await rw.get_event(SEEDED)
        assert not session.closed
