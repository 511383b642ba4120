"""The transport's policy over the in-memory sender on a virtual clock: retries, server waits,
the shared cool-down, pacing, deadlines, timeouts and body caps, exact and without sockets
(the aiohttp sender's own guarantees are tested over loopback in test_transport and hostile/).
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs
import pytest
from multidict import CIMultiDict

import common
from common import provider
from common.provider import Request, Response
from common.ratelimit import PacedLimiter
from common.testing import (
    MemoryHandler,
    MemorySender,
    connection_lost,
    not_connected,
    reply,
    virtual_backend,
)
from common.testing.ratesim import SharedStore

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", [virtual_backend()])]

SECRET = "s3cret-token-value"
FAST = common.RetryPolicy(backoff_base=0)


def transport(handler: MemoryHandler, **kw: Any) -> tuple[provider.Transport, MemorySender]:
    kw.setdefault("retry_policy", FAST)
    sender = MemorySender(handler)
    t = provider.Transport(
        "https://api.example.com", auth=provider.BearerAuth(SECRET), sender=sender, **kw
    )
    return t, sender


def script(*answers: Response | Any) -> MemoryHandler:
    """Answer the n-th request with the n-th answer (the last repeats); a callable answer is
    called with the request (it may raise or return a Response)."""
    seen = {"n": 0}

    async def handler(request: Request) -> Response:
        answer = answers[min(seen["n"], len(answers) - 1)]
        seen["n"] += 1
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, Response)
        return answer

    return handler


OK = reply({"ok": True})


def status(code: int, headers: dict[str, str] | None = None) -> Response:
    return reply({"error": {"code": "X", "message": "m"}}, code, headers)


def elapsed(sender: MemorySender) -> list[float]:
    """Seconds from the first request to each one."""
    first = sender.sent[0].at
    return [round(sent.at - first, 6) for sent in sender.sent]


async def test_the_request_value_carries_the_whole_attempt() -> None:
    t, sender = transport(script(OK), timeout=7, max_response_bytes=1000)
    async with t:
        await t.request(
            "POST", "/a%2Fb", params={"q": "x y", "n": "1"}, json={"k": 1}, idempotency_key="i1"
        )
    [request] = sender.requests
    assert request.method == "POST" and request.path == "/a%2Fb"
    assert str(request.url) == "https://api.example.com/a%2Fb?q=x+y&n=1"
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.headers["Idempotency-Key"] == "i1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == b'{"k":1}'
    assert (request.timeout, request.max_response_bytes) == (7.0, 1000)


async def test_get_retried_on_transient_statuses_then_succeeds() -> None:
    t, sender = transport(script(status(500), status(503), OK), max_retries=2)
    async with t:
        response = await t.request("GET", "/x")
    assert response.status == 200 and response.body == b'{"ok":true}'
    assert len(sender.sent) == 3


async def test_backoff_waits_between_attempts() -> None:
    policy = common.RetryPolicy(backoff_base=1.0, backoff_max=1.0, max_retries=3)
    t, sender = transport(script(status(502)), retry_policy=policy)
    async with t:
        with pytest.raises(common.ServerError) as info:
            await t.request("GET", "/x")
    assert info.value.attempts == 4
    gaps = [b - a for a, b in itertools.pairwise(elapsed(sender))]
    assert all(0 <= gap <= 1.0 for gap in gaps)


async def test_retry_after_delta_seconds_is_honoured_exactly() -> None:
    t, sender = transport(script(status(429, {"Retry-After": "1"}), OK))
    async with t:
        await t.request("GET", "/x")
    assert elapsed(sender) == [0, 1.0]


async def test_of_several_retry_after_lines_the_longest_wait_is_honoured() -> None:
    # A singleton field sent twice (and once unreadable): no retry before any wait it named.
    lines = [("Retry-After", "1"), ("Retry-After", "soon"), ("Retry-After", "3")]
    refused = Response(429, CIMultiDict([("Content-Type", "application/json"), *lines]), b"{}")
    t, sender = transport(script(refused, OK))
    async with t:
        await t.request("GET", "/x")
    assert elapsed(sender) == [0, 3.0]
    t, sender = transport(script(refused), retry_policy=common.RetryPolicy(max_retries=0))
    async with t:
        with pytest.raises(common.RateLimitError) as info:
            await t.request("GET", "/x")
    assert info.value.retry_after == 3.0


async def test_retry_after_http_date_is_relative_to_the_wall_clock() -> None:
    def later(request: Request) -> Response:
        when = asyncio.get_running_loop().wall_time() + 2  # type: ignore[attr-defined]
        return status(503, {"Retry-After": email.utils.formatdate(when, usegmt=True)})

    t, sender = transport(script(later, OK))
    async with t:
        await t.request("GET", "/x")
    assert 1.0 <= elapsed(sender)[1] <= 2.0  # the header has whole seconds


async def test_wait_in_body_via_provider_hook() -> None:
    def limited(request: Request) -> Response:
        now = asyncio.get_running_loop().wall_time()  # type: ignore[attr-defined]
        return reply({"error": {"retryAfter": int((now + 0.6) * 1000)}}, 429)

    def body_wait(data: Any, now: float) -> float | None:
        return max(0.0, data["error"]["retryAfter"] / 1000 - now)

    t, sender = transport(script(limited, OK), body_wait=body_wait)
    async with t:
        await t.request("GET", "/x")
    assert 0.59 <= elapsed(sender)[1] <= 0.6


async def test_a_wait_longer_than_the_maximum_is_not_waited_for() -> None:
    policy = common.RetryPolicy(backoff_base=0, max_retry_wait=5)
    t, sender = transport(script(status(429, {"Retry-After": "3600"}), OK), retry_policy=policy)
    async with t:
        started = anyio.current_time()
        with pytest.raises(common.RateLimitError) as info:
            await t.request("GET", "/x")
        assert anyio.current_time() == started
        # ... and the other requests fail fast, unsent, for max_retry_wait
        with pytest.raises(common.RateLimitError, match="not sent") as second:
            await t.request("GET", "/second")
    assert info.value.retry_after == 3600
    assert second.value.retry_after is not None and second.value.retry_after > 3500
    assert len(sender.sent) == 1


async def test_shared_cool_down_holds_back_every_request() -> None:
    """One 429 makes every request of the client wait, queued ones included: the server
    sees exactly one refusal."""
    window: dict[str, float] = {}

    async def limiter(request: Request) -> Response:
        now = anyio.current_time()
        window.setdefault("until", now + 1.0)
        if now < window["until"]:
            return status(429, {"Retry-After": "1"})
        return OK

    t, sender = transport(limiter, max_concurrency=4)
    async with t:
        first = asyncio.ensure_future(t.request("GET", "/first"))
        await anyio.sleep(0.1)
        results = await asyncio.gather(*(t.request("GET", f"/{i}") for i in range(30)))
        await first
    assert [r.status for r in results] == [200] * 30
    assert len(sender.sent) == 32
    assert min(elapsed(sender)[1:]) == 1.0


async def test_a_queue_behind_one_429_sees_only_that_one() -> None:
    t, sender = transport(script(status(429, {"Retry-After": "1"}), OK), max_concurrency=1)
    async with t:
        await asyncio.gather(*(t.request("GET", f"/{i}") for i in range(20)))
    assert len(sender.sent) == 21  # the 20 and the one retried after the single 429
    assert min(elapsed(sender)[1:]) == 1.0


async def test_proactive_rate_limit_paces_requests_exactly() -> None:
    # with the server's burst given, at the rate; without, 5% under it (KNOWN_MARGIN)
    t, sender = transport(script(OK), rate_limit=20, rate_burst=2)
    async with t:
        await asyncio.gather(*(t.request("GET", "/x") for _ in range(11)))
    assert elapsed(sender) == [round(i * 0.05, 6) for i in range(11)]
    t, sender = transport(script(OK), rate_limit=20)
    async with t:
        await asyncio.gather(*(t.request("GET", "/x") for _ in range(11)))
    assert elapsed(sender) == [round(i * 0.05 / 0.95, 6) for i in range(11)]


async def test_a_paced_queue_is_served_in_turn() -> None:
    # 20 callers, each calling again as soon as its call ends, at rate_limit=10: two
    # seconds of queue, well inside a 5 s deadline. Each waiter used to give its far slot
    # back and ask again later, and whoever asked when a slot was near took it: a lottery
    # that newcomers won as often as the longest waiters, 13 calls of 107 failed "before
    # their pacing slot" (real time, loopback). Now they wait in line, in turn.
    waits: list[float] = []
    t, sender = transport(script(OK), rate_limit=10, deadline=5)

    end = anyio.current_time() + 20

    async def caller() -> None:
        while anyio.current_time() < end:
            started = anyio.current_time()
            await t.request("GET", "/x")
            waits.append(anyio.current_time() - started)

    async with t:
        await asyncio.gather(*(caller() for _ in range(20)))
    assert len(waits) >= 200  # none failed (a failure would end the gather)
    assert max(waits) < 2.5  # in turn: about 20 callers / 10 per second each
    gaps = [b - a for a, b in itertools.pairwise(elapsed(sender))]
    assert min(gaps) >= 0.1 - 1e-6  # and still paced (5% under 10/s)


async def test_a_slow_shared_store_does_not_pace_the_line_at_its_round_trip() -> None:
    # A shared store answering 0.5 s late (a slow Redis): the line's head hands the line
    # on once its ask has taken one interval of the pace, so asks overlap and the queue
    # keeps the pace. Handing on only at the answer paced it at two asks a second.
    t, sender = transport(script(OK), deadline=None)
    store = SharedStore(rtt=0.5)
    t._shared.limiter = PacedLimiter(store, "slow", rate_limit=10, max_concurrency=50)
    async with t:
        started = anyio.current_time()
        with anyio.move_on_after(10):
            await asyncio.gather(*(t.request("GET", f"/{i}") for i in range(200)))
    sent = [s.at - started for s in sender.sent]
    assert len([at for at in sent if at < 10]) >= 80  # about 9.5/s after the first asks
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.1 - 1e-6  # and no faster than the pace


async def test_a_retried_call_keeps_its_place_in_a_paced_queue() -> None:
    # The line is earliest deadline first: a call whose first attempt failed does not go
    # behind every call that came after it (here behind ten at 2/s, 5 s; on Intervals'
    # Premium plan, 300 keys at 50 at once, 12 calls failed "in line" after 120 s so).
    failed: list[str] = []

    async def handler(request: Request) -> Response:
        if request.path == "/first" and not failed:  # its first attempt: 503 after 1 s
            failed.append(request.path)
            await anyio.sleep(1.0)
            return status(503)
        return OK

    t, sender = transport(handler, rate_limit=2, rate_burst=2, deadline=30)

    async def later(path: str) -> None:
        await anyio.sleep(0.1)
        await t.request("GET", path)

    async with t:
        started = anyio.current_time()
        first = asyncio.ensure_future(t.request("GET", "/first"))
        await asyncio.gather(*(later(f"/{i}") for i in range(10)))
        await first
    retried = [s.at - started for s in sender.sent if s.request.path == "/first"][1]
    assert retried == pytest.approx(2.0)  # the next free slot after its failure (not 5.5)


async def test_concurrency_cap() -> None:
    active = {"now": 0, "max": 0}

    async def counting(request: Request) -> Response:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await anyio.sleep(0.02)
        active["now"] -= 1
        return OK

    t, _ = transport(counting, max_concurrency=3)
    async with t:
        await asyncio.gather(*(t.request("GET", "/x") for _ in range(15)))
    assert active["max"] == 3


async def test_honoured_429_waits_have_their_own_budget() -> None:
    limited = status(429, {"Retry-After": "1"})
    t, sender = transport(script(limited, limited, OK), max_retries=1)
    async with t:
        assert (await t.request("GET", "/x")).status == 200
    assert len(sender.sent) == 3
    t, sender = transport(script(limited, OK), max_retries=0)  # 0: no retries at all
    async with t:
        with pytest.raises(common.RateLimitError):
            await t.request("GET", "/x")
    assert len(sender.sent) == 1


async def test_attempt_timeout_becomes_api_timeout_error() -> None:
    async def slow(request: Request) -> Response:
        await anyio.sleep(3)
        return OK

    t, sender = transport(slow, timeout=0.2, max_retries=1)
    async with t:
        with pytest.raises(common.APITimeoutError) as info:
            await t.request("GET", "/x")
    assert info.value.attempts == 2
    assert elapsed(sender) == [0, 0.2]


async def test_the_deadline_shortens_the_last_attempt_and_bounds_the_call() -> None:
    async def slow(request: Request) -> Response:
        await anyio.sleep(3)
        return OK

    t, sender = transport(slow, timeout=0.4, deadline=0.7, max_retries=10)
    async with t:
        started = anyio.current_time()
        with pytest.raises(common.APITimeoutError):
            await t.request("GET", "/x")
        assert anyio.current_time() - started == pytest.approx(0.7)
    assert [r.timeout for r in sender.requests] == pytest.approx([0.4, 0.3])


async def test_connection_failures_follow_the_not_sent_rule() -> None:
    t, sender = transport(script(not_connected, OK))
    async with t:
        assert (await t.request("POST", "/w")).status == 200  # never reached: retried
    t, sender = transport(script(connection_lost, OK))
    async with t:
        with pytest.raises(common.APIConnectionError):
            await t.request("POST", "/w")  # may have been processed: not repeated
    assert len(sender.sent) == 1


async def test_bodies_over_the_cap() -> None:
    big = reply(body=b"x" * 2000)
    t, _ = transport(script(big), max_response_bytes=1000)
    async with t:
        with pytest.raises(common.DecodeError, match="1000-byte limit"):
            await t.request("GET", "/x")
    t, _ = transport(script(reply(body=b"<html>" * 500, status=500)), max_response_bytes=1000)
    async with t:
        with pytest.raises(common.ServerError, match="larger than 1000 bytes"):
            await t.request("GET", "/x")


async def test_a_status_error_never_repeats_the_credentials() -> None:
    echo = reply({"error": {"message": f"bad token {SECRET}"}}, 401)
    t, _ = transport(script(echo))
    async with t:
        with pytest.raises(common.AuthenticationError) as info:
            await t.request("GET", "/x")
    assert SECRET not in str(info.value)


async def test_a_closed_transport_refuses_unsent() -> None:
    t, sender = transport(script(OK))
    await t.aclose()
    with pytest.raises(common.ClientClosedError):
        await t.request("GET", "/x")
    assert sender.closed and sender.sent == []


# -- pagination through a client on the memory sender ------------------------------------


@attrs.frozen
class Item:
    id: int


@attrs.frozen
class ItemPage:
    items: list[Item]
    next: int | None = None


class Pages(provider.BaseClient):
    """A listing client as a provider writes one, on the memory sender."""

    def __init__(self, sender: MemorySender) -> None:
        decoder = provider.Decoder(provider.make_converter())
        auth = provider.BearerAuth(SECRET)
        super().__init__(
            base_url="https://api.example.com", auth=auth, decoder=decoder, sender=sender
        )

    def items(self) -> AsyncIterator[Item]:
        async def fetch(page: int) -> provider.Chunk[Item, int]:
            got = await self._call("GET", "/items", ItemPage, params={"page": str(page)})
            return provider.Chunk(got.items, got.next)

        return provider.paginate(fetch, 1, key=lambda i: i.id, where=lambda p: p, what="items")


def pages(*chunks: tuple[list[int], int | None]) -> MemoryHandler:
    async def handler(request: Request) -> Response:
        page = int(request.url.query["page"])
        ids, following = chunks[page - 1]
        return reply({"items": [{"id": i} for i in ids], "next": following})

    return handler


async def test_a_listing_goes_page_after_page_each_item_once() -> None:
    sender = MemorySender(pages(([1, 2], 2), ([2, 3], 3), ([4], None)))
    async with Pages(sender) as client:
        assert [item.id async for item in client.items()] == [1, 2, 3, 4]
    assert [r.url.query["page"] for r in sender.requests] == ["1", "2", "3"]


async def test_a_listing_rides_out_a_rate_limit_and_resumes_where_it_failed() -> None:
    listing = pages(([1], 2), ([2], 3), ([3], None))
    refusals = {"2": 1}  # page 2 is refused once with a wait, then answered

    async def limited(request: Request) -> Response:
        page = request.url.query["page"]
        if refusals.get(page):
            refusals[page] -= 1
            return status(429, {"Retry-After": "30"})
        return await listing(request)

    sender = MemorySender(limited)
    async with Pages(sender) as client:
        assert [item.id async for item in client.items()] == [1, 2, 3]
    assert elapsed(sender) == [0, 0, 30.0, 30.0]
    sender = MemorySender(script(reply({"items": [{"id": 1}], "next": 2}), status(404)))
    seen = []

    async def read_all() -> None:
        async with Pages(sender) as client:
            async for item in client.items():
                seen.append(item.id)

    with pytest.raises(common.NotFoundError) as info:
        await read_all()
    assert seen == [1] and info.value.resume_page == 2


async def test_a_server_looping_its_cursor_ends_the_listing_with_a_warning() -> None:
    sender = MemorySender(pages(([1], 2), ([2], 1)))
    async with Pages(sender) as client:
        with pytest.warns(common.TruncationWarning, match="already followed"):
            assert [item.id async for item in client.items()] == [1, 2]
    assert len(sender.sent) == 2


async def test_the_built_in_clients_take_a_sender() -> None:
    # A user's own test of code built on the clients: no sockets, the server's 429 and its
    # wait on the virtual clock (one second passes, instantly).
    from intervals_async import IntervalsClient
    from ridewithgps_async import RideWithGPSClient

    event = {"_id": "e1", "name": "Parkrun", "slug": "parkrun", "type": "race"}
    event |= {"date": "2026-05-02", "organizationId": "o1"}
    detail = reply({"data": {"event": event, "runs": []}})
    intervals = MemorySender(script(status(429, {"Retry-After": "1"}), detail))
    async with IntervalsClient(api_key=SECRET, sender=intervals) as client:
        got = await client.get_event("e1")
    assert got.event.name == "Parkrun"
    assert elapsed(intervals) == [0.0, 1.0]
    assert intervals.sent[0].request.headers["Authorization"] == f"Bearer {SECRET}"

    rw = MemorySender(script(reply({"event": {"id": 7, "name": "Ride"}})))
    async with RideWithGPSClient(access_token=SECRET, sender=rw) as client:
        ride = await client.get_event(7)
    assert ride.name == "Ride"
    assert [s.request.url.path for s in rw.sent] == ["/api/v1/events/7.json"]


# -- closing the client ends every wait -------------------------------------------------------


@pytest.mark.parametrize("refused", [503, 429])
async def test_closing_the_client_ends_the_calls_waiting_for_their_turn(refused: int) -> None:
    # A call waiting out a backoff (503) or a cool-down (429) of 10 s kept waiting after
    # aclose(), up to max_retry_wait, before failing: a service's shutdown waited with it.
    t, sender = transport(script(status(refused, {"Retry-After": "10"})), max_retry_wait=60)
    waiting = [asyncio.ensure_future(t.request("GET", "/x")) for _ in range(3)]
    await anyio.sleep(0.2)  # (virtual) the refused calls back off, the others wait their turn
    closing, sent = anyio.current_time(), len(sender.sent)
    await t.aclose()
    errors = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(e, common.ClientClosedError) for e in errors), errors
    assert anyio.current_time() == closing  # at once, not after the 10 s
    assert 1 <= sent == len(sender.sent)  # refused before; nothing sent after the close


@pytest.mark.parametrize(("rate", "calls", "at", "sent"), [(2, 21, 0.3, 1), (100, 200, 0.1, 11)])
async def test_closing_ends_the_wait_of_a_paced_queue(
    rate: float, calls: int, at: float, sent: int
) -> None:
    # (at 100/s: a queue in line behind the head, with slots near enough to take at once)
    t, sender = transport(script(OK), rate_limit=rate, rate_burst=2)
    waiting = [asyncio.ensure_future(t.request("GET", "/x")) for _ in range(calls)]
    await anyio.sleep(at)  # (virtual) some sent, the others queued behind them
    closing = anyio.current_time()
    await t.aclose()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    closed = [o for o in outcomes if isinstance(o, common.ClientClosedError)]
    assert (len(closed), len(sender.sent)) == (calls - sent, sent)
    assert anyio.current_time() == closing
