"""The seventh hostile round: results lost or given to the wrong key, each finding
reproduced first (each test fails on the code before its fix)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

import common
from common._clock import wall_time
from common.testing import run_virtual
from intervals_async import IntervalsClient

from ..intervals.test_paging_guard import event as _intervals_event
from .conftest import Action, RawServer, Seen, hang, respond, send_raw


async def _echo(key: int) -> int:
    await asyncio.sleep(0.001)
    return key


# -- a key source or an event source cancelled by something else ---------------------


@pytest.mark.anyio
async def test_a_plain_key_iterator_cancelled_elsewhere_is_no_normal_end() -> None:
    # Keys read from futures, one of which something else cancelled: the plain iterator
    # raised CancelledError, which ended its worker silently; the task group then took
    # the calls in flight for the caller's own cancellation and the stream ended
    # normally, a key drawn and called without a result.
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(10)]
    for index, future in enumerate(futures):
        if index == 3:
            future.cancel()
        else:
            future.set_result(index)
    called: list[int] = []

    async def call(key: int) -> int:
        called.append(key)
        return await _echo(key)

    keys: Iterator[int] = (future.result() for future in futures)
    results: list[common.Result[int, int]] = []

    async def collect() -> None:
        async for result in common.fetch_many(call, keys, concurrency=2):
            results.append(result)

    with pytest.raises(common.CancelledElsewhereError):
        await collect()
    assert sorted(r.unwrap() for r in results) == sorted(called) == [0, 1, 2]


class _Source:
    def __init__(self, provider: str, count: int) -> None:
        self.provider = provider
        self.count = count

    async def _events(self) -> AsyncIterator[common.Event]:
        for index in range(self.count):
            await asyncio.sleep(0.001)
            yield common.Event(
                provider=self.provider, id=str(index), name="x", start_date=dt.date(2027, 1, 1)
            )

    def iter_events(
        self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> AsyncIterator[common.Event]:
        return self._events()


class _CancelledBeforeItsIterator(_Source):
    def __init__(self, future: asyncio.Future[None]) -> None:
        super().__init__("broken", 1)
        self.future = future

    def iter_events(
        self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> AsyncIterator[common.Event]:
        self.future.result()  # raises CancelledError: something else cancelled it
        return self._events()


@pytest.mark.anyio
async def test_an_event_source_cancelled_elsewhere_before_its_iterator_fails_the_merge() -> None:
    # iter_events (a plain def, as IntervalsSource's is) raised CancelledError before it
    # returned its iterator, outside the guard: the merge ended normally with no event.
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.cancel()
    got: list[common.Event] = []

    async def collect() -> None:
        async for event in common.merge_events(
            _Source("healthy", 5), _CancelledBeforeItsIterator(future)
        ):
            got.append(event)

    with pytest.raises(common.CancelledElsewhereError, match="broken source"):
        await collect()
    assert len(got) < 5


# -- a 429 whose header names no wait, and whose body does ------------------------------


def _get_event_after(refusal: Action) -> float:
    """Seconds (the virtual clock's) a ``get_event`` took whose first answer is
    ``refusal`` and whose retry is answered with the event."""

    async def main() -> float:
        server = RawServer()
        await server.start()
        loop = asyncio.get_running_loop()
        server.answer(refusal, _answer)
        try:
            async with IntervalsClient(api_key="k", base_url=server.url) as client:
                started = loop.time()
                detail = await client.get_event("ev00001")
                elapsed = loop.time() - started
        finally:
            await server.stop()
        assert detail.event.id == "ev00001"
        return elapsed

    return run_virtual(main)


@pytest.mark.parametrize("header", ["0", "Thu, 01 Jan 2015 00:00:00 GMT"])
def test_a_header_that_names_no_wait_does_not_hide_the_body_s(header: str) -> None:
    # Retry-After 0 or a past date was read as a wait of 0, so the body's retryAfter
    # (Intervals' documented one) was never asked: the call came back after 0.3 s, not 2.
    async def refused(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        until = round((wall_time() + 2.0) * 1000)
        body = {"error": {"code": "RATE_LIMITED", "retryAfter": until}}
        return await respond(429, body, {"Retry-After": header})(writer, seen)

    assert _get_event_after(refused) == pytest.approx(2.0, abs=0.01)


def test_of_two_retry_after_lines_the_longer_wait_is_honoured() -> None:
    # A singleton field sent twice: the first line (1 s) was the wait, the second ignored.
    head = (
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
        b"Retry-After: 1\r\nRetry-After: 3\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert _get_event_after(send_raw(head, keep_open=True)) == pytest.approx(3.0, abs=0.01)


# -- a server that answers one request twice -------------------------------------------


async def _answer(writer: asyncio.StreamWriter, seen: Seen) -> bool:
    """The event asked for."""
    event_id = seen.target.rsplit("/", 1)[-1]
    body = {"data": {"event": _intervals_event(0, "2027-01-01") | {"_id": event_id}, "runs": []}}
    return await respond(200, body)(writer, seen)


def _twice(delay: float) -> Action:
    """The event asked for, then (``delay`` later, on the idle connection) a 500 that no
    request asked for: a handler that wrote its error after it had answered."""

    async def action(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        await _answer(writer, seen)
        if delay:
            await asyncio.sleep(delay)
        await respond(500, {"error": {"code": "INTERNAL", "message": "late"}})(writer, seen)
        return True

    return action


@pytest.mark.anyio
async def test_an_answer_no_request_asked_for_never_becomes_the_next_keys(
    raw: RawServer, caplog: pytest.LogCaptureFixture
) -> None:
    # aiohttp kept the late 500 and read it as the answer to the next request on that
    # connection: from then on each key got the previous key's event (3 of 5 wrong).
    raw.answer(_twice(0.02), _answer)
    ids = [f"ev{index:05d}" for index in range(5)]
    async with IntervalsClient(api_key="k", base_url=raw.url, max_retries=0) as client:

        async def get(event_id: str) -> str:
            await asyncio.sleep(0.1)  # the late answer arrives while the connection is idle
            detail = await client.get_event(event_id)
            return detail.event.id

        results = [r async for r in common.fetch_many(get, ids, concurrency=1)]
    assert {r.key: r.unwrap() for r in results} == {event_id: event_id for event_id in ids}
    assert raw.connections == 2  # the written-to connection was closed, not reused
    assert "sent data on an idle connection" in caplog.text


# -- closing a client whose session is the caller's -------------------------------------


@pytest.mark.anyio
async def test_closing_a_client_ends_its_calls_on_a_session_of_the_callers(
    raw: RawServer,
) -> None:
    # The session is not the client's to close, and nothing else ended its calls: one
    # answered after the close returned normally, a hung one waited its whole timeout.
    raw.answer(hang(60))
    async with aiohttp.ClientSession() as session:
        client = IntervalsClient(api_key="k", base_url=raw.url, session=session)
        calls = [asyncio.ensure_future(client.get_event(f"ev{n}")) for n in range(5)]
        await raw.reached.wait()
        await asyncio.sleep(0.2)  # the others reach it too (and unsent ones fail alike)
        loop = asyncio.get_running_loop()
        closed_at = loop.time()
        await client.aclose()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert loop.time() - closed_at < 5  # not the 30 s timeout
        assert all(isinstance(o, common.ClientClosedError) for o in outcomes), outcomes
        assert not session.closed  # the caller's, still open
