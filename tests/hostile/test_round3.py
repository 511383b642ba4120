"""The third hostile round: servers that follow the providers' descriptions and docs
in ways our fakes do not, each finding reproduced against a raw loopback server."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
import time
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator

import aiohttp
import anyio
import anyio.lowlevel
import attrs
import pytest

import common
from common._auth import redact
from common._retry import parse_retry_after
from intervals_async import IntervalsClient
from ridewithgps_async import RideWithGPSClient, RideWithGPSSource

from .conftest import Action, RawServer, Seen, respond

pytestmark = pytest.mark.anyio


def _rwgps(raw: RawServer) -> RideWithGPSClient:
    return RideWithGPSClient(api_key="k", auth_token="t", base_url=raw.url, max_retries=0)


def _event(event_id: int, **fields: object) -> dict[str, object]:
    return {"id": event_id, "name": f"E{event_id}", "start_date": "2026-05-02", **fields}


def _pages(count: int, size: int, meta: dict[str, object]) -> Action:
    """A listing of ``count`` pages of ``size`` events, page from the query."""

    async def action(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        found = re.search(r"[?&]page=(\d+)", seen.target)
        page = int(found.group(1)) if found else 1
        events = [_event(page * 1000 + i) for i in range(size)] if page <= count else []
        pagination = {"record_count": count * size, "page_count": count, "page_size": size}
        body = {"events": events, "meta": {"pagination": {**pagination, **meta}}}
        return await respond(200, body)(writer, seen)

    return action


@pytest.mark.parametrize("meta", [{}, {"next_page_url": None}], ids=["absent", "null"])
async def test_rwgps_listing_follows_page_count_whatever_next_page_url_says(
    raw: RawServer, meta: dict[str, object]
) -> None:
    # The description requires record_count, page_count and page_size only; the prose
    # docs' null next_page_url must not end a listing whose page count says there is more.
    raw.answer(_pages(3, 20, meta))
    async with _rwgps(raw) as client:
        first = await client.list_events()
        every = [e.id async for e in client.iter_events()]
    assert first.next_page == 2
    assert len(every) == len(set(every)) == 60
    assert [s.target.count("page=3") for s in raw.requests][-1] == 1  # no fourth page asked


async def test_rwgps_listing_without_events_is_an_empty_page(raw: RawServer) -> None:
    pagination = {"record_count": 0, "page_count": 0, "page_size": 20}
    raw.answer(respond(200, {"meta": {"pagination": pagination}}))
    async with _rwgps(raw) as client:
        page = await client.list_events()
    assert (page.items, page.next_page) == ([], None)


async def test_rwgps_photos_and_organizers_need_no_id(raw: RawServer) -> None:
    # The description's Photo and organizer items require no key at all.
    event = _event(7, photos=[{"url": "https://x.example/p.jpg"}], organizers=[{"name": "A"}])
    raw.answer(respond(200, {"event": event}))
    async with _rwgps(raw) as client:
        got = await client.get_event(7)
    assert got.photos[0].id is None and got.photos[0].url == "https://x.example/p.jpg"
    assert got.organizers[0].id is None and got.organizers[0].display_name == "A"


async def test_rwgps_update_falls_back_to_patch_when_put_is_refused(raw: RawServer) -> None:
    raw.answer(
        respond(405, {"errors": ["Method Not Allowed"]}),
        respond(200, {"event": _event(1, name="Renamed")}),
    )
    async with _rwgps(raw) as client:
        updated = await client.update_event(1, name="Renamed")
    assert updated.name == "Renamed"
    assert raw.methods == ["PUT", "PATCH"]
    assert raw.requests[0].body == raw.requests[1].body == b'{"event":{"name":"Renamed"}}'
    assert raw.requests[1].target == "/api/v1/events/1.json"


@pytest.mark.parametrize("status", [404, 409, 422, 500])
async def test_rwgps_update_sends_patch_only_after_a_405(raw: RawServer, status: int) -> None:
    raw.answer(respond(status, {"errors": ["no"]}))
    async with _rwgps(raw) as client:
        with pytest.raises(common.APIStatusError) as caught:
            await client.update_event(1, name="Renamed")
    assert caught.value.status_code == status
    assert raw.methods == ["PUT"]


@pytest.mark.parametrize("field", ["lat", "lng"])
async def test_a_number_beyond_any_float_is_an_invalid_request(raw: RawServer, field: str) -> None:
    async with _rwgps(raw) as client:
        with pytest.raises(common.InvalidRequestError, match=field):
            await client.create_event(name="x", start_date=dt.date(2026, 5, 2), **{field: 10**400})
    assert raw.requests == []


async def test_listed_events_carry_unknown_participants(raw: RawServer) -> None:
    # A listing shows no participants: None ("not shown"), not () ("nobody").
    raw.answer(_pages(1, 3, {"next_page_url": None}))
    async with _rwgps(raw) as client:
        events = [e async for e in RideWithGPSSource(client).iter_events()]
    assert len(events) == 3
    assert all(e.participants is None for e in events)


# -- Intervals -------------------------------------------------------------------------------


def _newest_first(count: int) -> Action:
    """A seed-shape /events (no hasMore) honouring dateFrom/dateTo/limit, newest first."""
    start = dt.date(2026, 1, 1)
    dates = [(start + dt.timedelta(days=i)).isoformat() for i in range(count)]
    events = [
        {"_id": f"ev{i:04d}", "name": "n", "slug": f"s{i}", "type": "runClub",
         "organizationId": "o", "date": day}
        for i, day in enumerate(dates)
    ][::-1]  # fmt: skip

    async def action(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        query = dict(re.findall(r"[?&]([^=&]+)=([^&]*)", seen.target))
        lo, hi = query.get("dateFrom", "0"), query.get("dateTo", "9")
        chosen = [e for e in events if lo <= str(e["date"]) <= hi][: int(query.get("limit", 50))]
        return await respond(200, {"data": chosen})(writer, seen)

    return action


async def test_date_windows_of_a_newest_first_server_are_no_stall(raw: RawServer) -> None:
    # Each later half of a split window re-reads, whole, what its parent brought: that is
    # no sign of a server ignoring the paging parameters (it warned "some items may be
    # missing" on a complete listing in 28 of 60 random runs).
    raw.answer(_newest_first(300))
    async with IntervalsClient(api_key="k", base_url=raw.url) as client:
        with warnings.catch_warnings():
            warnings.simplefilter("error", common.TruncationWarning)
            got = [e.id async for e in client.iter_events()]
    assert sorted(got) == [f"ev{i:04d}" for i in range(300)]


async def test_a_header_value_with_a_line_break_is_refused_at_construction(
    raw: RawServer,
) -> None:
    with pytest.raises(common.InvalidRequestError, match="Intervals-Version"):
        IntervalsClient(api_key="k", base_url=raw.url, api_version="2026-01-01\r\nX-Evil: 1")
    raw.answer(respond(200, _ORGANIZATION))
    async with IntervalsClient(api_key="k", base_url=raw.url) as client:
        with pytest.raises(common.InvalidRequestError, match="X-Extra"):
            await client.transport.request("GET", "/organization", headers={"X-Extra": "a\nb"})
    assert raw.requests == []


@pytest.mark.parametrize(
    "value", ["1\u0669:00", "09:3\u0660", "\u0660\u0669:\u0663\u0660", "09:30\n"]
)
async def test_a_time_is_ascii_digits(raw: RawServer, value: str) -> None:
    async with IntervalsClient(api_key="k", base_url=raw.url) as client:
        with pytest.raises(common.InvalidRequestError, match="start_time"):
            await client.create_event(
                name="n", slug="s", type="race", date=dt.date(2026, 5, 2), start_time=value
            )
    assert raw.requests == []


async def test_an_integer_too_long_to_write_out_is_an_invalid_request(raw: RawServer) -> None:
    async with IntervalsClient(api_key="k", base_url=raw.url) as client:
        with pytest.raises(common.InvalidRequestError, match=r"limit: .* 5001 digits or so"):
            await client.list_events(limit=10**5000)
    assert raw.requests == []


# -- the transport ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # aiohttp cuts an over-long line at 100 bytes and ends it in "..."
        ("reading: b'xxxxsecret-key-12...'.", "reading: b'xxxx<redacted>...'."),
        ("cut short: secret-key-1…", "cut short: <redacted>…"),
        # a server's echo as bytes inside a repr: the secret's backslash and quote escaped
        ('b"Content-Length: sk\\\\\\\\live\\\'9f8e7d6c"', 'b"Content-Length: <redacted>"'),
        ("sk\\\\live'9f8e7d6c and sk\\live'9f8e7d6c", "<redacted> and <redacted>"),
    ],
)
def test_redaction_catches_cut_and_escaped_credentials(text: str, shown: str) -> None:
    secrets = ["secret-key-123", "sk\\live'9f8e7d6c"]
    assert redact(text, secrets) == shown


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("0000000000000120", 120.0), ("0120", 120.0), ("000", 0.0), ("9" * 30, 1e12)],
)
def test_retry_after_digits_read_whole(header: str, seconds: float) -> None:
    assert parse_retry_after(header, 0.0) == seconds


# -- fetch_many: every key its result ----------------------------------------------------------


class _NotAnException(BaseException):
    pass


async def _fails_oddly(key: int) -> int:
    for _ in range(key % 3):  # finishing out of order
        await anyio.lowlevel.checkpoint()
    if key == 3:
        raise _NotAnException("a BaseException of the function's own")
    if key == 4:
        raise GeneratorExit
    return key


async def test_fetch_many_gives_a_key_raising_any_base_exception_its_result() -> None:
    results = {r.key: r async for r in common.fetch_many(_fails_oddly, range(20), concurrency=4)}
    assert sorted(results) == list(range(20))
    assert isinstance(results[3].error, _NotAnException)
    assert isinstance(results[4].error, GeneratorExit)
    assert all(results[k].value == k for k in results if k not in (3, 4))


async def test_fetch_many_yields_every_result_when_on_progress_raises() -> None:
    called: list[int] = []

    def progress(done: int, total: int | None) -> None:
        called.append(done)
        if done == 3:
            raise RuntimeError("the progress display broke")

    got: list[int] = []

    async def consume() -> None:
        stream = common.fetch_many(_fails_oddly, range(5, 15), concurrency=2, on_progress=progress)
        async for result in stream:
            got.append(result.key)

    with pytest.raises(RuntimeError, match="display broke"):
        await consume()
    assert sorted(got) == list(range(5, 15))  # every key's result, then the error
    assert called == [1, 2, 3]  # not called again after it raised


def _keys_then_failure() -> Iterator[int]:
    yield from range(10)
    raise RuntimeError("the key source broke")


async def _async_keys_then_failure() -> AsyncIterator[int]:
    for key in _keys_then_failure():
        yield key


@pytest.mark.parametrize("keys", [_keys_then_failure, _async_keys_then_failure])
async def test_fetch_many_finishes_the_keys_in_flight_when_the_key_source_fails(
    keys: Callable[[], Iterable[int] | AsyncIterable[int]],
) -> None:
    started: list[int] = []

    async def slow(key: int) -> int:
        started.append(key)
        for _ in range(3):  # in flight while the next keys are drawn
            await anyio.lowlevel.checkpoint()
        return key

    got: list[int] = []

    async def consume() -> None:
        async for result in common.fetch_many(slow, keys(), concurrency=4):
            got.append(result.key)

    with pytest.raises(RuntimeError, match="key source broke"):
        await consume()
    assert sorted(got) == sorted(started) == list(range(10))


# -- iCalendar at the calendar's edges -----------------------------------------------------------


def test_an_all_day_event_on_the_last_day_of_the_calendar_is_one_day() -> None:
    pytest.importorskip("icalendar", reason="the ics extra is not installed")
    event = common.Event(provider="x", id="1", name="n", start_date=dt.date.max)
    text = common.to_ics([event])
    assert "DTSTART;VALUE=DATE:99991231" in text
    assert "DTEND" not in text  # no day follows: no DTEND means one day (RFC 5545)


# -- a service's client: its event loop ----------------------------------------------------------
# (closing it ends every wait: tests/common/test_seam.py, on the virtual clock)

_ORGANIZATION = {"data": {"_id": "o", "name": "n", "slug": "s", "roles": [], "plan": "free"}}


@attrs.define
class _Threaded:
    """A raw server in a thread of its own (its own loop). With ``hold``, each request
    is answered only once ``hold`` is set, and ``arrived`` is set as one comes in."""

    hold: threading.Event | None = None
    arrived: threading.Event = attrs.Factory(threading.Event)
    stop: threading.Event = attrs.Factory(threading.Event)
    url: str = ""
    _thread: threading.Thread | None = None

    def __enter__(self) -> _Threaded:
        ready = threading.Event()

        async def answer(writer: asyncio.StreamWriter, seen: Seen) -> bool:
            self.arrived.set()
            if self.hold is not None:
                await anyio.to_thread.run_sync(self.hold.wait)
            return await respond(200, _ORGANIZATION)(writer, seen)

        async def serve() -> None:
            server = RawServer()
            server.answer(answer)
            await server.start()
            self.url = server.url
            ready.set()
            await anyio.to_thread.run_sync(self.stop.wait)
            await server.stop()

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self.stop.set()
        assert self._thread is not None
        self._thread.join(10)


def test_a_client_shared_by_two_threads_loops_refuses_the_second_at_once() -> None:
    # max_concurrency=1, thread A's call holding the one permit: thread B's call waited for
    # it, and A's thread handed it over without waking B's loop, so B waited out its whole
    # deadline (15 s) and failed with APITimeoutError.
    with _Threaded(hold=threading.Event()) as server:
        client = IntervalsClient(api_key="k", base_url=server.url, max_concurrency=1, deadline=15)
        first = asyncio.new_event_loop()
        holder = threading.Thread(
            target=first.run_until_complete, args=(client.get_organization(),)
        )
        try:
            holder.start()
            assert server.arrived.wait(10)  # A's call holds the permit, waiting for its answer
            started = time.monotonic()
            with pytest.raises(common.InvalidRequestError, match="another event loop"):
                asyncio.run(client.get_organization())
            assert time.monotonic() - started < 5.0  # at once, not after the 15 s deadline
            assert server.hold is not None
            server.hold.set()
            holder.join(10)
            first.run_until_complete(client.aclose())
        finally:
            first.close()


def test_a_borrowed_session_in_a_second_loop_is_refused_with_the_library_s_error() -> None:
    with _Threaded() as server:
        first = asyncio.new_event_loop()
        try:

            async def make() -> tuple[aiohttp.ClientSession, IntervalsClient]:
                session = aiohttp.ClientSession()
                return session, IntervalsClient(api_key="k", base_url=server.url, session=session)

            session, client = first.run_until_complete(make())
            first.run_until_complete(client.get_organization())
            with pytest.raises(common.InvalidRequestError, match="another event loop"):
                asyncio.run(client.get_organization())  # was: RuntimeError: Event loop is closed
            first.run_until_complete(client.aclose())
            first.run_until_complete(session.close())  # the caller's, closed by the caller
        finally:
            first.close()
