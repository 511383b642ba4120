"""Each defect of issue 11 as a test over real loopback HTTP (the Intervals fake)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator

import anyio
import msgspec
import pytest

import common
from common.testing import Fault
from intervals_async import IntervalsClient
from intervals_async.testing import FakeIntervals

pytestmark = pytest.mark.anyio

FAST = common.RetryPolicy(backoff_base=0.05)


@pytest.fixture
async def fake() -> AsyncIterator[FakeIntervals]:
    async with FakeIntervals(validate=False) as server:
        yield server


def client(fake: FakeIntervals, **options: object) -> IntervalsClient:
    return IntervalsClient(api_key="test-key", base_url=fake.url, **options)  # type: ignore[arg-type]


def event_id(fake: FakeIntervals, index: int = 0) -> str:
    return list(fake.db.events)[index]


def too_many(headers: dict[str, str] | None = None, body: object = None) -> Fault:
    if body is None:
        return Fault.http(429, headers=headers)
    return Fault(status=429, body=msgspec.json.encode(body), headers=headers)


async def test_cancelled_waiters_give_their_pacing_slots_back(fake: FakeIntervals) -> None:
    eid = event_id(fake)
    async with client(fake, rate_limit=10) as c:
        for _ in range(5):
            async with anyio.create_task_group() as group:
                for _ in range(100):
                    group.start_soon(c.get_event, eid)
                await anyio.sleep(0.05)
                group.cancel_scope.cancel()
        started = time.monotonic()
        await c.get_event(eid)
        assert time.monotonic() - started < 1.0  # not ~48 s behind abandoned slots


async def test_random_cancellations_under_a_learned_pace_leave_no_backlog(
    fake: FakeIntervals,
) -> None:
    fake.rate_limit(50, burst=5, style="body")
    eid = event_id(fake)
    async with client(fake, max_retries=8) as c:
        for round_ in range(20):
            async with anyio.create_task_group() as group:
                for _ in range(50):
                    group.start_soon(c.get_event, eid)
                await anyio.sleep(0.01 * (round_ % 5))
                group.cancel_scope.cancel()
        await anyio.sleep(0.5)
        started = time.monotonic()
        await c.get_event(eid)
        assert time.monotonic() - started < 2.0


async def test_the_deadline_bounds_the_shared_cool_down(fake: FakeIntervals) -> None:
    fake.inject(too_many({"Retry-After": "20"}))
    eid = event_id(fake)
    async with client(fake, deadline=3) as c:
        started = time.monotonic()
        with pytest.raises(common.RateLimitError) as a:
            await c.get_event(eid)
        assert time.monotonic() - started < 1.0 and a.value.attempts == 1
        with pytest.raises(common.RateLimitError) as b:
            await c.get_event(eid)  # sends nothing: the cool-down outlasts its deadline
        assert time.monotonic() - started < 1.5
    assert b.value.attempts == 0 and b.value.retry_after is not None
    assert 15 < b.value.retry_after <= 20
    assert len(fake.requests) == 1


async def test_the_deadline_bounds_the_pacing_slot(fake: FakeIntervals) -> None:
    eid = event_id(fake)
    async with client(fake, rate_limit=0.5, deadline=3) as c:
        started = time.monotonic()
        results = await asyncio.gather(
            *(c.get_event(eid) for _ in range(6)), return_exceptions=True
        )
        elapsed = time.monotonic() - started
    assert elapsed < 3.5  # not 4, 6, 8 and 10 s
    ok = [r for r in results if not isinstance(r, BaseException)]
    late = [r for r in results if isinstance(r, common.APITimeoutError)]
    assert 1 <= len(ok) <= 2 and len(ok) + len(late) == 6
    assert all(r.attempts == 0 for r in late)
    assert len(fake.requests) == len(ok)


async def test_the_deadline_bounds_the_concurrency_queue(fake: FakeIntervals) -> None:
    fake.inject(Fault.slow(2.0))
    eid = event_id(fake)
    async with client(fake, max_concurrency=1) as c:
        slow = asyncio.ensure_future(c.get_event(eid))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(common.APITimeoutError, match="queue"):
            await c.with_options(deadline=0.5).get_event(eid)
        assert time.monotonic() - started < 1.0
        await slow


@pytest.mark.parametrize(
    "fault",
    [
        too_many({"Retry-After": "999999999999"}),
        too_many({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}),
        too_many(body={"error": {"code": "RATE_LIMITED", "message": "m", "retryAfter": 1e20}}),
    ],
    ids=["huge-seconds", "year-9999", "body-1e20"],
)
async def test_an_absurd_wait_disables_the_client_for_at_most_max_retry_wait(
    fake: FakeIntervals, fault: Fault
) -> None:
    fake.inject(fault)
    eid = event_id(fake)
    async with client(fake, max_retry_wait=1.0) as c:
        with pytest.raises(common.RateLimitError):
            await c.get_event(eid)  # fails at once
        with pytest.raises(common.RateLimitError) as fast:
            await c.get_event(eid)  # others fail fast, unsent, for max_retry_wait
        assert fast.value.attempts == 0 and (fast.value.retry_after or 0) > 1e6
        await anyio.sleep(1.1)
        detail = await c.get_event(eid)  # then one probe goes, and the client works again
        assert detail.event.id == eid
        await asyncio.gather(*(c.get_event(eid) for _ in range(5)))
    assert len(fake.requests) == 7


async def test_a_renewed_refusal_costs_the_server_one_request_per_max_retry_wait(
    fake: FakeIntervals,
) -> None:
    fake.inject(*[too_many({"Retry-After": "86400"})] * 20)  # a daily quota, spent
    eid = event_id(fake)
    async with client(fake, max_retry_wait=0.3) as c:
        ends = time.monotonic() + 1.0
        refused = 0
        while time.monotonic() < ends:
            with pytest.raises(common.RateLimitError):
                await c.get_event(eid)
            refused += 1
            await anyio.sleep(0.01)
    assert refused > 20
    assert 3 <= len(fake.requests) <= 5  # about one probe per 0.3 s


async def test_a_wait_in_the_past_backs_off_instead_of_hammering(fake: FakeIntervals) -> None:
    past = {"error": {"code": "RATE_LIMITED", "message": "m", "retryAfter": 1714000000000}}
    fake.inject(*[too_many(body=past)] * 10)
    policy = common.RetryPolicy(backoff_base=0.2, max_rate_limit_retries=3)
    async with client(fake, retry_policy=policy) as c:
        started = time.monotonic()
        with pytest.raises(common.RateLimitError):
            await c.get_event(event_id(fake))
        elapsed = time.monotonic() - started
    assert len(fake.requests) == 4  # refusals count against max_rate_limit_retries
    assert elapsed >= 0.1 + 0.2 + 0.4 - 0.05  # at least half of each backoff ceiling


async def test_a_zero_retry_after_is_not_a_tight_loop(fake: FakeIntervals) -> None:
    fake.inject(*[too_many({"Retry-After": "0"})] * 10)
    policy = common.RetryPolicy(backoff_base=0.1, max_rate_limit_retries=2)
    async with client(fake, retry_policy=policy) as c:
        started = time.monotonic()
        with pytest.raises(common.RateLimitError):
            await c.get_event(event_id(fake))
    assert len(fake.requests) == 3 and time.monotonic() - started >= 0.14


async def test_a_hung_probe_holds_the_followers_no_longer_than_its_timeout(
    fake: FakeIntervals,
) -> None:
    fake.inject(too_many({"Retry-After": "1"}), Fault.slow(10.0))
    eid = event_id(fake)
    async with client(fake, timeout=1.0, retry_policy=FAST) as c:
        with pytest.raises(common.RateLimitError):
            await c.with_options(max_retries=0).get_event(eid)
        started = time.monotonic()
        results = await asyncio.gather(*(c.get_event(eid) for _ in range(5)))
        elapsed = time.monotonic() - started
    assert len(results) == 5
    assert elapsed < 3.5  # cool-down 1 s + the probe's 1 s timeout + a little; not 10 s


async def test_followers_behind_a_hung_probe_keep_their_own_deadline(
    fake: FakeIntervals,
) -> None:
    fake.inject(too_many({"Retry-After": "1"}), Fault.slow(10.0))
    eid = event_id(fake)
    async with client(fake, timeout=8.0) as c:
        with pytest.raises(common.RateLimitError):
            await c.with_options(max_retries=0).get_event(eid)
        probe = asyncio.ensure_future(c.with_options(max_retries=0).get_event(eid))
        await asyncio.sleep(1.2)  # the probe is out and hangs
        started = time.monotonic()
        with pytest.raises(common.APITimeoutError, match="probe"):
            await c.with_options(deadline=0.5).get_event(eid)
        assert time.monotonic() - started < 1.0
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        await c.get_event(eid)  # the cancelled probe handed over: the next one goes


async def test_with_options_shares_the_budget_and_the_session(fake: FakeIntervals) -> None:
    fake.inject(too_many({"Retry-After": "1"}))
    eid = event_id(fake)
    root = client(fake, rate_limit=50)
    async with root:
        quick = root.with_options(timeout=5, deadline=10, max_retries=0, max_retry_wait=0.5)
        assert type(quick) is IntervalsClient
        assert (quick.options.timeout, quick.options.max_retries) == (5, 0)
        assert root.options.max_retries == 2  # the original is unchanged
        with pytest.raises(common.RateLimitError):
            await quick.get_event(eid)
        started = time.monotonic()
        await root.get_event(eid)  # waits out the cool-down the derived client met
        assert time.monotonic() - started > 0.5
        assert quick.transport.session is root.transport.session
        await quick.aclose()  # closes nothing shared
        await root.get_event(eid)
        other = root.with_options(timeout=3)
    with pytest.raises(common.APIError, match="closed"):
        await other.get_event(eid)  # the owner closed the session


async def test_with_options_refuses_what_it_cannot_change(fake: FakeIntervals) -> None:
    async with client(fake) as c:
        with pytest.raises(common.InvalidRequestError, match="rate_limit"):
            c.with_options(rate_limit=3)  # type: ignore[call-arg]
        with pytest.raises(common.InvalidRequestError, match="contradicts"):
            c.with_options(retry_policy=common.RetryPolicy(max_retries=5), max_retries=1)


async def test_an_explicit_retry_policy_wins_over_the_default_max_retries(
    fake: FakeIntervals,
) -> None:
    fake.inject(*[Fault.http(503)] * 5)
    policy = common.RetryPolicy(max_retries=5, backoff_base=0)
    async with client(fake, retry_policy=policy) as c:
        await c.get_event(event_id(fake))
    assert len(fake.requests) == 6
    with pytest.raises(common.InvalidRequestError):
        client(fake, retry_policy=policy, max_retries=2)


@pytest.mark.parametrize("skew", [120.0, -120.0, 5.0])
@pytest.mark.parametrize("form", ["body", "date"])
async def test_a_server_clock_apart_from_ours_names_its_waits_on_its_own_clock(
    fake: FakeIntervals, skew: float, form: str
) -> None:
    # The wait is a moment on the server's clock (Intervals' retryAfter, an HTTP-date): 120 s
    # ahead, a 0.2 s wait was read as 120 s and refused every call at once; 5 s ahead, as
    # 5 s; behind, as a past moment (backoff, counted against max_retries). The response's
    # Date says which clock: counted from it when it differs from ours by over 2 s.
    server = time.time() + skew
    date = email.utils.formatdate(server, usegmt=True)
    if form == "body":
        retry = {"error": {"code": "RATE_LIMITED", "message": "m", "retryAfter": 0}}
        retry["error"]["retryAfter"] = int((int(server) + 0.5 + 0.2) * 1000)
        refusal = too_many({"Date": date}, body=retry)
    else:
        later = email.utils.formatdate(int(server) + 2, usegmt=True)
        refusal = too_many({"Date": date, "Retry-After": later})
    fake.inject(refusal)
    async with client(fake, max_retry_wait=10.0) as c:
        started = time.monotonic()
        detail = await c.get_event(event_id(fake))
        elapsed = time.monotonic() - started
    assert detail.event.id == event_id(fake)
    assert elapsed < 3.0  # the server's 0.2 s (or 1.5 s, from a whole-second date)
