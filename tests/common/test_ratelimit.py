"""The rate limiter with an injected clock: pacing, bursts and the shared cool-down."""

from __future__ import annotations

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
    await limiter.wait()
    assert t.now == pytest.approx(102.0)
    await limiter.wait()
    assert t.now == pytest.approx(102.1)  # paced from the cool-down's end, no burst


async def test_cool_down_without_pacing() -> None:
    t = FakeTime()
    limiter = RateLimiter(None, clock=t.clock, sleep=t.sleep)
    limiter.cool_down(1.5)
    limiter.cool_down(0.5)  # a shorter one never shortens the current
    await limiter.wait()
    assert t.now == pytest.approx(101.5)
    assert limiter.cooldown_remaining == 0


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
