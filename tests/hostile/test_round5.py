"""The fifth hostile round: decoding, misbehaving servers and a call that sends two
requests, each finding reproduced first (each test fails on the code before its fix)."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import anyio
import attrs
import pytest

import common
from common.provider import AttemptFailed, Failure, Request, Response
from common.testing import run_virtual, virtual_backend
from intervals_async import EventList, IntervalsClient, IntervalsSource
from intervals_async._models import DECODER
from ridewithgps_async import RideWithGPSClient

from ..intervals.test_paging_guard import event as _intervals_event
from .conftest import Action, RawServer, hang, respond

KEY = "sekrit-key-ABCDEFGHIJ0123456789-and-more-of-it-past-forty"


def _on_virtual_clock(main: Callable[[RawServer], Awaitable[None]]) -> None:
    """``main(server)`` on the virtual clock, against a raw server on a real socket: a
    wait of seconds passes at once, and elapsed times are exact."""

    async def run() -> None:
        server = RawServer()
        await server.start()
        try:
            await main(server)
        finally:
            await server.stop()

    run_virtual(run)


# -- decoding ------------------------------------------------------------------------------


@attrs.frozen
class _Count:
    value: int


@pytest.mark.parametrize("number", ["9007199254740993.0", "1.2345678901234567891e19", "1e300"])
def test_an_integer_field_refuses_a_float_too_large_to_be_exact(number: str) -> None:
    # It was read as a double, then taken as an integer: 9007199254740993.0 gave the id
    # ...992, another event's.
    assert DECODER.decode(b'{"value": 1.0}', _Count) == _Count(1)  # integral: still taken
    with pytest.raises(common.DecodeError, match=r"expected an integer, got float @ \$\.value"):
        DECODER.decode(b'{"value": ' + number.encode() + b"}", _Count)


def test_a_body_of_a_million_wrong_items_stops_at_what_it_shows() -> None:
    # cattrs collected every item's error (1,000,000 exceptions: 19 s on the event loop and
    # 1.6 GB) to show five; the message counted them all.
    body = b'{"data":[' + b",".join([b"1"] * 200_000) + b"]}"
    with pytest.raises(common.DecodeError) as caught:
        DECODER.decode(body, EventList)
    message = str(caught.value)
    assert message.count("expected an object") == 5, message
    assert "@ $.data[4]" in message and message.endswith("; and more"), message


@pytest.mark.anyio
async def test_a_credential_echoed_into_an_intervals_date_is_redacted_when_mapped(
    raw: RawServer,
) -> None:
    # The mapping's own messages (DecodeError, SkippedEventWarning) showed the date as
    # the server sent it, without the client's redaction.
    bad = _intervals_event(1, KEY)
    async with IntervalsClient(api_key=KEY, base_url=raw.url, max_retries=0) as client:
        source = IntervalsSource(client)
        raw.answer(
            respond(200, {"data": {"event": bad, "runs": []}}),  # GET /events/ev00001
            respond(200, {"data": []}),  # its registrations
        )
        with pytest.raises(common.DecodeError) as caught:
            await source.get_event("ev00001")
        raw.answer(respond(200, {"data": [bad], "hasMore": False}))  # GET /events
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            assert [e async for e in source.iter_events()] == []
    texts = [str(caught.value), *(str(w.message) for w in seen)]
    assert len(texts) == 2 and all("<redacted>" in t for t in texts), texts
    assert not any(KEY[:12] in t for t in texts), texts


# -- misbehaving servers --------------------------------------------------------------------


def test_a_deadline_over_five_seconds_is_kept_to_the_millisecond() -> None:
    # aiohttp rounds a timeout of 5 s or more up to a whole second of the loop's clock:
    # a deadline of 7.3 s ended at 8.2 s.
    async def main(server: RawServer) -> None:
        server.answer(hang(3600))
        loop = asyncio.get_running_loop()
        for options in ({"deadline": 7.3, "timeout": 30}, {"deadline": 60, "timeout": 9.05}):
            async with IntervalsClient(
                api_key="k", base_url=server.url, max_retries=0, **options
            ) as client:
                started = loop.time()
                with pytest.raises(common.APITimeoutError):
                    await client.get_event("e1")
                elapsed = loop.time() - started
            assert elapsed == pytest.approx(min(options.values()), abs=1e-3), options

    _on_virtual_clock(main)


def test_update_events_put_then_patch_share_one_deadline_and_count_both() -> None:
    # A 405 to the PUT sends the same body as PATCH: the PATCH had a deadline of its own
    # (the call took 9.5 s with deadline=5) and the error counted one attempt of two.
    async def main(server: RawServer) -> None:
        refused: Action = respond(405, {"error": "Method Not Allowed"})

        async def slow_refusal(writer: asyncio.StreamWriter, seen: Any) -> bool:
            await asyncio.sleep(4.5)
            return await refused(writer, seen)

        server.answer(slow_refusal, hang(3600))
        loop = asyncio.get_running_loop()
        async with RideWithGPSClient(
            api_key="k", auth_token="t", base_url=server.url, timeout=5, deadline=5
        ) as client:
            started = loop.time()
            with pytest.raises(common.APITimeoutError) as caught:
                await client.update_event(5, name="Sunday ride")
            elapsed = loop.time() - started
        assert [r.method for r in server.requests] == ["PUT", "PATCH"]
        assert elapsed == pytest.approx(5.0, abs=1e-3)
        assert caught.value.attempts == 2

    _on_virtual_clock(main)


@pytest.mark.anyio
async def test_a_request_id_with_a_byte_not_utf8_is_written_out_escaped(
    raw: RawServer, caplog: pytest.LogCaptureFixture
) -> None:
    # aiohttp decodes header bytes with surrogateescape: the id held a lone surrogate, and
    # every UTF-8 log handler or stream given the error failed to write it.
    async def not_found(writer: asyncio.StreamWriter, seen: Any) -> bool:
        body = b'{"message": "Not Found"}'
        writer.write(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
            b"X-Request-Id: req-\xff42\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        return True

    raw.answer(not_found)
    caplog.set_level(logging.DEBUG, logger="common")
    async with IntervalsClient(api_key="k", base_url=raw.url, max_retries=0) as client:
        with pytest.raises(common.NotFoundError) as caught:
            await client.get_event("e1")
    assert caught.value.request_id == "req-\\udcff42"
    str(caught.value).encode("utf-8")  # raised UnicodeEncodeError before
    for record in caplog.records:
        record.getMessage().encode("utf-8")


# -- bulk work and options -------------------------------------------------------------------


async def _echo(key: int) -> int:
    await asyncio.sleep(0.01)
    return key


#: The bulk tests run on the virtual clock: their sleeps (a call, a source between keys)
#: pass at once, and their bound (fail_after) is in its time.
_VIRTUAL = pytest.mark.parametrize("anyio_backend", [virtual_backend()])


@pytest.mark.anyio
@_VIRTUAL
@pytest.mark.parametrize("source", ["list", "slow async"])
@pytest.mark.parametrize("concurrency", [5_000, 10**6, 2**70])
async def test_a_huge_concurrency_starts_no_more_than_a_batch_of_workers_beyond_the_keys(
    source: str, concurrency: int
) -> None:
    # Every worker was started before any key was drawn: three keys at a concurrency of
    # a million took 65 s and 3 GB, and 2**70 never ended (nor could it be cancelled).
    peak = 0

    async def call(key: int) -> int:
        nonlocal peak
        peak = max(peak, len(asyncio.all_tasks()))
        return await _echo(key)

    async def slowly() -> AsyncIterator[int]:
        for key in (1, 2, 3):
            await asyncio.sleep(0.05)  # a source that waits between keys
            yield key

    keys = [1, 2, 3] if source == "list" else slowly()
    with anyio.fail_after(30):
        results = [r async for r in common.fetch_many(call, keys, concurrency=concurrency)]
    assert sorted(r.unwrap() for r in results) == [1, 2, 3]
    assert peak <= 1024 + 10, peak  # one batch of workers, and the test's own tasks


@pytest.mark.anyio
@_VIRTUAL
async def test_a_key_source_cancelled_elsewhere_keeps_the_results_in_flight() -> None:
    # The worker reading the keys raised CancelledElsewhereError through the task group,
    # which cancelled the five calls in flight: their keys had no result at all.
    other = asyncio.get_running_loop().create_future()

    async def keys() -> AsyncIterator[int]:
        for key in range(5):
            yield key
        other.cancel()  # what the source awaits is cancelled by something else
        await other

    results: list[common.Result[int, int]] = []

    async def collect() -> None:
        async for result in common.fetch_many(_echo, keys(), concurrency=6):
            results.append(result)

    with pytest.raises(common.CancelledElsewhereError):
        await collect()
    assert sorted(r.unwrap() for r in results) == [0, 1, 2, 3, 4]


@pytest.mark.anyio
@_VIRTUAL
async def test_keys_too_many_to_count_are_drawn() -> None:
    # len(range(10**20)) raises OverflowError: it escaped before any key was drawn.
    async with aclosing(common.fetch_many(_echo, range(10**20), concurrency=2)) as results:
        first = await anext(results)
    assert first.unwrap() in (0, 1)


@pytest.mark.parametrize("option", ["timeout", "deadline", "rate_limit"])
def test_an_option_too_large_for_a_float_is_refused_at_construction(option: str) -> None:
    # 0 < 10**400 < inf holds for an int: it passed, then every call (or the
    # construction) raised OverflowError.
    with pytest.raises(common.InvalidRequestError) as caught:
        IntervalsClient(api_key="k", base_url="http://127.0.0.1:1", **{option: 10**400})
    assert caught.value.field == option


class _RefusesPut:
    """A sender whose PUT is refused with 405 after ``delay``; nothing else is answered."""

    def __init__(self, delay: float) -> None:
        self.delay, self.sent = delay, list[str]()

    async def send(self, request: Request) -> Response:
        self.sent.append(request.method)
        if request.method == "PUT":
            await asyncio.sleep(self.delay)
            return Response(405, {"Content-Type": "application/json"}, b'{"error": "no"}')
        await asyncio.sleep(request.timeout)  # no answer within the attempt's timeout
        raise AttemptFailed(Failure.MAYBE_SENT, common.APITimeoutError("timed out"))

    async def aclose(self) -> None:
        pass


def test_a_patch_the_deadline_leaves_no_time_for_is_not_counted_as_sent() -> None:
    # The deadline passed as the 405 came: the PATCH was never sent, yet counted (2).
    async def main() -> None:
        sender = _RefusesPut(5.0)
        async with RideWithGPSClient(
            api_key="k", auth_token="t", sender=sender, deadline=5, timeout=10, max_retries=0
        ) as client:
            with pytest.raises(common.APITimeoutError, match="passed before sending") as caught:
                await client.update_event(5, name="Sunday ride")
        assert sender.sent == ["PUT"] and caught.value.attempts == 1

    run_virtual(main)


def test_a_deadline_given_to_a_request_never_extends_the_clients_own() -> None:
    async def main() -> None:
        sender = _RefusesPut(0.0)
        loop = asyncio.get_running_loop()
        async with RideWithGPSClient(
            api_key="k", auth_token="t", sender=sender, deadline=1, max_retries=0
        ) as client:
            started = loop.time()
            with pytest.raises(common.APITimeoutError):
                await client.transport.request("PATCH", "/x", deadline_at=started + 20)
            assert loop.time() - started == pytest.approx(1.0, abs=1e-3)

    run_virtual(main)
