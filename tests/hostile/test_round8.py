"""The third outside review (2026-12-05, night): each finding reproduced first (each test
fails on the code before its fix)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import traceback
from typing import Any

import aiohttp
import anyio
import pytest

import common
from common.provider import Request, Response, Transport
from common.testing import MemorySender, reply, run_virtual
from intervals_async import IntervalsClient, IntervalsSource
from intervals_async.testing import FakeIntervals
from ridewithgps_async import RideWithGPSClient, RideWithGPSSource

from ..intervals.test_paging_guard import registration
from .conftest import RawServer, Seen, respond, send_raw

PAGES = 10
_RIDE = {"event": {"id": 1, "name": "Ride", "start_date": "2027-05-14"}}


async def _slow_pages(request: Request) -> Response:
    """Every answer after 0.6 s; ``/registration`` and ``/groups`` by cursor, 10 pages."""
    await asyncio.sleep(0.6)
    if request.path.startswith("/events/"):
        event = {"_id": "ev_1", "name": "E", "slug": "e", "type": "race", "date": "2026-09-13"}
        return reply({"data": {"event": {**event, "organizationId": "org_1"}, "runs": []}})
    query = request.url.query
    after = "".join(filter(str.isdigit, query.get("after", "")))
    start = int(after) + 1 if after else 0
    items = [registration(i) for i in range(start, min(start + 100, PAGES * 100))]
    if request.path == "/groups":
        items = [
            {
                "_id": f"grp_{i:04d}",
                "organizationId": "org_1",
                "name": "G",
                "slug": f"g{i}",
                "status": "active",
            }
            for i in range(start, min(start + 100, PAGES * 100))
        ]
    return reply({"data": items, "hasMore": start + 100 < PAGES * 100})


@pytest.mark.parametrize("call", ["list_registrations", "list_groups", "source.get_event"])
def test_a_call_that_reads_many_pages_ends_by_its_one_deadline(call: str) -> None:
    # "deadline: seconds for a whole call": each page had a deadline of its own, so a
    # listing of 10 pages answered in 0.6 s each took 6 s with deadline=1.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with IntervalsClient(
            api_key="k", sender=MemorySender(_slow_pages), deadline=1.0
        ) as client:
            calls = {
                "list_registrations": lambda: client.list_registrations("ev_1"),
                "list_groups": client.list_groups,
                "source.get_event": lambda: IntervalsSource(client).get_event("ev_1"),
            }
            started = loop.time()
            with pytest.raises(common.APITimeoutError):
                await calls[call]()
            assert loop.time() - started == pytest.approx(1.0, abs=1e-3)
            # and the client's later calls have deadlines of their own
            assert (await client.get_event("ev_1")).event.id == "ev_1"

    run_virtual(main)


def test_a_borrowed_session_of_another_loop_is_refused_typed_and_unsent() -> None:
    # A caller's session made in an earlier asyncio.run() let aiohttp's bare RuntimeError
    # ("Event loop is closed") out of the call.
    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    session = asyncio.run(make())

    async def main() -> None:
        async with FakeIntervals() as server:
            client = IntervalsClient(api_key="k", base_url=server.url, session=session)
            async with client:
                with pytest.raises(common.InvalidRequestError, match="another event loop"):
                    await client.get_organization()
            assert server.requests == []

    try:
        asyncio.run(main())
    finally:
        session._connector = None  # its loop is gone: nothing of it can be closed there


@pytest.mark.parametrize("options", [{"timeout": -1}, {"base_url": "ftp://x"}])
def test_a_client_whose_constructor_failed_still_has_a_repr(options: dict[str, Any]) -> None:
    # A traceback shown with its frames' locals calls repr() on the half-built client:
    # it raised AttributeError ('_transport'), and the traceback could not be shown.
    with pytest.raises(common.InvalidRequestError) as caught:
        IntervalsClient(api_key="k", **options)
    shown = "".join(
        traceback.TracebackException.from_exception(caught.value, capture_locals=True).format()
    )
    assert "IntervalsClient(base_url=None)" in shown
    assert repr(Transport.__new__(Transport)) == "Transport(base_url=None, auth=None)"


@pytest.mark.anyio
async def test_a_huge_error_body_is_read_in_part_and_its_field_errors_capped(
    raw: RawServer,
) -> None:
    # 300,000 field errors (5 MB) were all kept, each redacted: the event loop was held
    # for 5 s, past the call's deadline of 2 s.
    fields = {f"field_{i}": ["is invalid ... " * 3] for i in range(300_000)}
    small = {f"field_{i}": ["x" * 510] * 11 for i in range(120)}  # 0.7 MB
    raw.answer(respond(422, {"errors": fields}), respond(422, {"errors": small}))
    async with RideWithGPSClient(
        api_key="k", auth_token="t", base_url=raw.url, deadline=2.0
    ) as client:
        with anyio.fail_after(1.0):  # the loop stayed free: a timer fires on time
            with pytest.raises(common.ValidationError) as huge:
                await client.get_event(1)
        assert "larger than 1048576 bytes" in huge.value.message
        with pytest.raises(common.ValidationError) as kept:
            await client.get_event(1)
    errors = kept.value.field_errors
    assert list(errors) == [f"field_{i}" for i in range(100)]
    assert {len(texts) for texts in errors.values()} == {10}
    assert {len(text) for texts in errors.values() for text in texts} == {501}  # 500 + "…"


@pytest.mark.anyio
@pytest.mark.parametrize("owned", [True, False])
async def test_closing_the_client_during_a_body_of_no_length_is_no_answer(
    raw: RawServer, owned: bool
) -> None:
    # HTTP/1.0 without Content-Length: the body ends when the connection does, and
    # aclose() ending it made a cut body a DecodeError, or a whole one a result.
    raw.answer(
        send_raw(
            b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"event": {"id": 1,',
            keep_open=True,
        )
    )
    async with contextlib.AsyncExitStack() as stack:
        session = None if owned else await stack.enter_async_context(aiohttp.ClientSession())
        client = RideWithGPSClient(api_key="k", auth_token="t", base_url=raw.url, session=session)
        call = asyncio.ensure_future(client.get_event(1))
        await raw.reached.wait()
        await asyncio.sleep(0.05)  # the head and the start of the body are in
        await client.aclose()
        with pytest.raises(common.ClientClosedError):
            await call


@pytest.mark.anyio
async def test_a_write_right_after_a_call_does_not_take_a_connection_the_server_closed(
    raw: RawServer,
) -> None:
    # A server that closes each connection after its answer (no "Connection: close"):
    # the DELETE went out on the closed pooled connection and failed, never sent.
    async def answer_then_close(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        await respond(200, _RIDE if seen.method == "GET" else None)(writer, seen)
        return False

    raw.answer(answer_then_close)
    async with RideWithGPSClient(api_key="k", auth_token="t", base_url=raw.url) as client:
        for _ in range(5):
            await client.get_event(1)
            await client.delete_event(1)
    assert raw.methods == ["GET", "DELETE"] * 5


@pytest.mark.anyio
async def test_a_participant_without_a_user_id_is_left_out_not_the_whole_event(
    raw: RawServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The description requires no key of a participant or its user: one without a user
    # id failed the whole event's decoding ("required field missing @ ...user.id").
    people = [
        {"user": {"id": 2, "display_name": "Bob"}, "status": "joined"},
        {"user": {"display_name": "Deleted user"}, "status": "joined"},
        {"status": "interested"},
    ]
    raw.answer(respond(200, {"event": {**_RIDE["event"], "participants": people}}))
    async with RideWithGPSClient(api_key="k", auth_token="t", base_url=raw.url) as client:
        full = await client.get_event(1)
        assert full.participants is not None and len(full.participants) == 3
        source = RideWithGPSSource(client)
        event = await source.get_event("1")
        listed = await source.list_participants("1")
    assert event.participants is not None
    assert [(p.id, p.name) for p in event.participants] == [("2", "Bob")]
    assert [p.id for p in listed] == ["2"]
    assert "2 participant(s) without a user id left out" in caplog.text


@pytest.mark.anyio
async def test_an_async_on_progress_is_awaited() -> None:
    # An ``async def`` on_progress was called and never awaited: it never ran, and Python
    # warned "coroutine ... was never awaited".
    seen: list[tuple[int, int | None]] = []

    async def progress(done: int, total: int | None) -> None:
        await asyncio.sleep(0)
        seen.append((done, total))

    async def double(key: int) -> int:
        return 2 * key

    results = [
        r async for r in common.fetch_many(double, [1, 2, 3], concurrency=2, on_progress=progress)
    ]
    assert sorted(r.unwrap() for r in results) == [2, 4, 6]
    assert seen == [(1, 3), (2, 3), (3, 3)]


class _IntId(int, enum.Enum):
    A = 5


class _StrId(str, enum.Enum):
    A = "abc"


@pytest.mark.anyio
async def test_an_enum_member_given_as_an_id_goes_out_as_its_value(raw: RawServer) -> None:
    # str() of an (int, Enum) or (str, Enum) member is its name: the paths and queries
    # asked for "StrId.A" and "IntId.A" (a delete of another resource) while the body
    # had the value.
    raw.answer(respond(404, {"error": {"code": "not_found", "message": "no"}}))
    async with (
        IntervalsClient(api_key="k", base_url=raw.url, max_retries=0) as ic,
        RideWithGPSClient(api_key="k", auth_token="t", base_url=raw.url, max_retries=0) as rc,
    ):
        for call in (
            ic.get_event(_StrId.A),
            ic.list_registrations(_StrId.A),
            ic.list_events(limit=_IntId.A),
            rc.get_event(_IntId.A),
            rc.delete_event(_IntId.A),
            rc.list_events(page=_IntId.A),
        ):
            with pytest.raises(common.NotFoundError):
                await call
    assert [seen.target for seen in raw.requests] == [
        "/events/abc",
        "/registration?eventId=abc&limit=100",
        "/events?limit=5",
        "/api/v1/events/5.json",
        "/api/v1/events/5.json",
        "/api/v1/events.json?page=5",
    ]


@pytest.mark.parametrize("url", ["https://xn--/", "https://xn--zz.example/", "https://a.xn--.com/"])
def test_a_base_url_with_a_bad_punycode_host_is_refused_typed(url: str) -> None:
    # yarl decodes the host when asked for it: a raw UnicodeError out of the constructor
    with pytest.raises(common.InvalidRequestError) as refused:
        IntervalsClient(api_key="k", base_url=url)
    assert refused.value.field == "base_url"


def test_odd_constructor_arguments_are_refused_typed() -> None:
    # timeout=10**400 passed the store's check, then every call overflowed (raw); a sender
    # that is none, or one beside a session, failed raw; a source of no client, at its
    # first call
    with pytest.raises(common.InvalidRequestError):
        common.RedisRateStore("redis://127.0.0.1:1/0", timeout=10**400)
    with pytest.raises(common.InvalidRequestError, match="sender"):
        IntervalsClient(api_key="k", sender=1.5)  # type: ignore[arg-type]

    async def handler(request: Request) -> Response:
        return reply({})

    async def with_a_session() -> None:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(common.InvalidRequestError, match="not both"):
                IntervalsClient(api_key="k", session=session, sender=MemorySender(handler))

    asyncio.run(with_a_session())
    with pytest.raises(common.InvalidRequestError, match="client"):
        IntervalsSource(None)  # type: ignore[arg-type]
    with pytest.raises(common.InvalidRequestError, match="client"):
        RideWithGPSSource(None)  # type: ignore[arg-type]


def test_a_link_with_a_lone_surrogate_is_left_out_of_the_calendar() -> None:
    # name and description dropped it; a url holding one failed the whole feed raw
    event = common.Event(
        provider="intervals",
        id="e1",
        name="Ride",
        start_date=dt.date(2026, 9, 13),
        url="https://example.com/\ud800",
        registration_url="https://example.com/register",
    )
    feed = common.to_ics([event])
    assert "example.com/register" in feed and "\ud800" not in feed
