"""The rate limiter with an injected clock: pacing, bursts and the shared cool-down."""

from __future__ import annotations

import anyio
import pytest

from common import RateLimiter

pytestmark = pytest.mark.anyio


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


async def test_no_rate_means_no_wait() -> None:
    t = FakeTime()
    limiter = RateLimiter(None, clock=t.clock, sleep=t.sleep)
    for _ in range(100):
        await limiter.wait()
    assert t.sleeps == []


async def test_pacing_spaces_requests_evenly() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        await limiter.wait()
    assert t.sleeps == [0.1, 0.1, 0.1, 0.1]
    assert t.now == pytest.approx(100.4)


async def test_burst_allows_slack_then_paces() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, burst=3, clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        await limiter.wait()
    assert t.sleeps == [0.1, 0.1]  # three at once, then one per 100 ms


async def test_idle_time_is_not_hoarded_beyond_the_burst() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    await limiter.wait()
    t.now += 60  # a minute idle
    await limiter.wait()
    await limiter.wait()
    assert t.sleeps == [0.1]


async def test_cool_down_holds_everyone_and_pacing_restarts_after_it() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    await limiter.wait()
    limiter.cool_down(2.0)
    assert limiter.cooldown_remaining == pytest.approx(2.0)
    assert await limiter.wait() is True  # the first after a cool-down is the probe
    assert t.now == pytest.approx(102.0)
    limiter.end_probe(cleared=True)
    assert await limiter.wait() is False
    # Paced from the cool-down's end, no burst, at half the rate (the 429 taught that).
    assert t.now == pytest.approx(102.2)


async def test_cool_down_without_pacing() -> None:
    t = FakeTime()
    limiter = RateLimiter(None, clock=t.clock, sleep=t.sleep)
    limiter.cool_down(1.5)
    limiter.cool_down(0.5)  # a shorter one never shortens the current
    assert await limiter.wait() is True
    assert t.now == pytest.approx(101.5)
    assert limiter.cooldown_remaining == 0
    limiter.end_probe(cleared=True)
    assert limiter.interval == pytest.approx(0.01)  # a pace learned from the two 429s
    for _ in range(100):
        limiter.succeeded()
    assert limiter.interval == 0
    assert not limiter.must_wait()


async def test_a_cool_down_that_starts_while_waiting_is_honoured() -> None:
    t = FakeTime()
    limiter = RateLimiter(1, clock=t.clock, sleep=t.sleep)
    await limiter.wait()

    async def sleep_and_get_429(seconds: float) -> None:
        await FakeTime.sleep(t, seconds)
        if len(t.sleeps) == 1:
            limiter.cool_down(5)

    limiter._sleep = sleep_and_get_429
    await limiter.wait()
    assert t.now >= 106.0


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(1, burst=0)


async def test_after_a_cool_down_one_probe_goes_first_and_the_rest_follow() -> None:
    limiter = RateLimiter(None)
    limiter.cool_down(0.05)
    order: list[str] = []

    async def request(name: str) -> None:
        probe = await limiter.wait()
        order.append(f"{name}{'*' if probe else ''}")
        refused = len(order) == 1  # the first probe gets a 429 again
        if probe:
            await anyio.sleep(0.05)  # the probe's request is in flight; nobody else goes
            if refused:
                limiter.cool_down(0.05)
            limiter.end_probe(cleared=not refused)

    async with anyio.create_task_group() as group:
        for name in "abcd":
            group.start_soon(request, name)
    assert order[0].endswith("*") and order[1].endswith("*"), order  # refused probe, then another
    assert len(order) == 4 and sum(o.endswith("*") for o in order) == 2


async def test_a_cancelled_probe_hands_over() -> None:
    limiter = RateLimiter(None)
    limiter.cool_down(0.01)
    assert await limiter.wait() is True
    limiter.end_probe(cleared=False)  # e.g. cancelled or failed without an answer
    assert await limiter.wait() is True  # someone else probes
    limiter.end_probe(cleared=True)
    assert await limiter.wait() is False


def test_pace_learned_from_429s_halves_and_recovers() -> None:
    limiter = RateLimiter(None)
    for expected in (0.005, 0.01, 0.02, 0.04):
        limiter.cool_down(0)
        assert limiter.interval == pytest.approx(expected)
    limiter.succeeded()
    assert limiter.interval == pytest.approx(0.0396)
    configured = RateLimiter(10)
    configured.cool_down(0)
    for _ in range(1000):
        configured.succeeded()
    assert configured.interval == pytest.approx(0.1)  # never faster than configured
