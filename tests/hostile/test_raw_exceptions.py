"""Only the library's own errors: closed clients and sessions, a caller's session
settings, oversized error bodies, several sources failing at once."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest

import common

from .conftest import AUTH_FORMS, RawServer, hang, respond, send_raw

pytestmark = pytest.mark.anyio

FAST = common.RetryPolicy(backoff_base=0)


async def test_aclose_while_a_request_is_in_flight(raw: RawServer) -> None:
    raw.answer(hang(5))
    client = AUTH_FORMS["oauth-bearer"](raw.url, retry_policy=FAST)
    async with anyio.create_task_group() as group:

        async def close_soon() -> None:
            await raw.reached.wait()
            await client.aclose()

        group.start_soon(close_soon)
        with anyio.fail_after(3), pytest.raises(common.ClientClosedError) as info:
            await client.get_event(1)  # today: a raw RuntimeError: Session is closed
    assert "closed" in str(info.value)
    assert len(raw.requests) == 1


async def test_aclose_while_a_request_sleeps_between_retries(raw: RawServer) -> None:
    raw.answer(respond(503, {"error": "busy"}, {"Retry-After": "1"}))
    client = AUTH_FORMS["rwgps-basic"](raw.url)
    async with anyio.create_task_group() as group:

        async def close_soon() -> None:
            await raw.reached.wait()
            await asyncio.sleep(0.1)
            await client.aclose()

        group.start_soon(close_soon)
        with anyio.fail_after(3), pytest.raises(common.ClientClosedError):
            await client.get_event(1)  # today: a raw RuntimeError: Session is closed
    assert len(raw.requests) == 1


async def test_a_borrowed_session_its_owner_closed(raw: RawServer) -> None:
    session = aiohttp.ClientSession()
    await session.close()
    async with AUTH_FORMS["intervals-bearer"](raw.url, session=session) as client:
        with pytest.raises(common.ClientClosedError):
            await client.get_organization()  # today: a raw RuntimeError
    assert raw.requests == []


async def test_a_raise_for_status_session_changes_nothing(raw: RawServer) -> None:
    raw.answer(respond(404, {"error": "no such event"}))
    session = aiohttp.ClientSession(raise_for_status=True)
    async with (
        session,
        AUTH_FORMS["rwgps-basic"](raw.url, session=session, retry_policy=FAST) as rw,
    ):
        with pytest.raises(common.NotFoundError):
            await rw.get_event(1)  # today: APIConnectionError, sent three times
        assert len(raw.requests) == 1
        raw.answer(respond(429, {"error": "slow down"}, {"Retry-After": "1"}), _event_reply())
        started = time.monotonic()
        event = await rw.get_event(1)  # today: the 429's wait ignored, retried at once
        assert time.monotonic() - started >= 0.9
        assert event.id == 1


async def test_a_session_without_decompression_changes_nothing(raw: RawServer) -> None:
    raw.answer(_event_reply(gzipped=True))
    session = aiohttp.ClientSession(auto_decompress=False)
    async with session, AUTH_FORMS["rwgps-basic"](raw.url, session=session) as rw:
        event = await rw.get_event(1)  # today: DecodeError (the gzip bytes)
    assert event.name == "Ride"


async def test_a_session_with_its_own_auth_is_refused(raw: RawServer) -> None:
    with pytest.warns(DeprecationWarning, match="deprecated"):  # since aiohttp 3.14
        session = aiohttp.ClientSession(auth=aiohttp.BasicAuth("someone", "else"))
    async with session, AUTH_FORMS["intervals-bearer"](raw.url, session=session) as client:
        with pytest.raises(common.InvalidRequestError):
            await client.get_organization()  # today: a raw ValueError from aiohttp
    assert raw.requests == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_oversized_5xx_is_a_server_error(raw: RawServer, chunked: bool) -> None:
    big = b"<html>" + b"x" * 5000 + b"</html>"
    if chunked:
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)
        head = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n"
        raw.answer(send_raw(head + body, keep_open=True))
    else:
        raw.answer(respond(500, raw=big, headers={"Content-Type": "text/html"}))
    async with AUTH_FORMS["oauth-bearer"](
        raw.url, retry_policy=FAST, max_response_bytes=1000
    ) as rw:
        with pytest.raises(common.ServerError) as info:
            await rw.get_event(1)  # today: DecodeError, and no retry
    assert info.value.status_code == 500
    assert "1000 bytes" in str(info.value) and len(str(info.value)) < 300
    assert len(raw.requests) == 3  # retried as any 500


async def test_merge_events_raises_one_library_error_for_two_failed_sources(
    raw: RawServer,
) -> None:
    raw.answer(respond(401, {"error": "bad credentials"}))
    arrived = 0
    together = anyio.Event()

    class FailTogether:
        """A real source whose failure waits for the other's: the two fail at once."""

        provider = common.Provider.RIDEWITHGPS

        def __init__(self, source: Any) -> None:
            self.source = source

        async def iter_events(self, **dates: Any) -> AsyncIterator[common.Event]:
            nonlocal arrived
            try:
                async for event in self.source.iter_events(**dates):
                    yield event
            except common.APIError as exc:
                error = exc
            arrived += 1
            if arrived == 2:
                together.set()
            await together.wait()
            raise error

    async with (
        AUTH_FORMS["rwgps-basic"](raw.url) as one,
        AUTH_FORMS["oauth-bearer"](raw.url) as two,
    ):
        from ridewithgps_async import RideWithGPSSource

        sources = [FailTogether(RideWithGPSSource(c)) for c in (one, two)]
        with pytest.raises(common.APIError) as info:  # today: an ExceptionGroup
            async for _ in common.merge_events(*sources):  # type: ignore[arg-type]
                pass
    assert isinstance(info.value, common.MergeError)
    assert len(info.value.errors) == 2
    assert all(isinstance(e, common.AuthenticationError) for e in info.value.errors)


def _event_reply(*, gzipped: bool = False) -> Any:
    import msgspec

    body = msgspec.json.encode({"event": {"id": 1, "name": "Ride", "start_date": "2026-05-02"}})
    if gzipped:
        return respond(200, raw=gzip.compress(body), headers={"Content-Encoding": "gzip"})
    return respond(200, raw=body)
