"""The first round's gate (limit unknown) and the call's own backoff, on LocalLimiter
with the real clock: no HTTP needed, the limiter is driven by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import pytest

import common
from common.ratelimit import LocalLimiter, Report

pytestmark = pytest.mark.anyio


async def enter(limiter: LocalLimiter, deadline_at: float | None = None) -> float:
    """Take a turn and give it back answered at once; the time the turn came."""
    async with limiter.slot(deadline_at) as slot:
        slot.report(Report.accepted())
        return time.monotonic()


async def test_new_requests_wait_for_the_rest_of_the_first_round() -> None:
    limiter = LocalLimiter(None)
    first, second = limiter.slot(None), limiter.slot(None)
    one, two = await first.__aenter__(), await second.__aenter__()  # the first round
    await anyio.sleep(0.2)  # a round trip of 0.2 s: the gate holds at most 0.4 s
    one.report(Report.accepted())
    await first.__aexit__(None, None, None)  # the first answer closes the gate
    came: list[float] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: _append(came, enter(limiter)))
        await anyio.sleep(0.1)
        assert not came  # held while the round's other request is out
        ended = time.monotonic()
        two.report(Report.accepted())
        await second.__aexit__(None, None, None)
    assert came and came[0] >= ended
    assert await enter(limiter) > 0  # the gate stays open for good


async def test_a_refusal_opens_the_gate_and_the_cool_down_holds_everyone() -> None:
    limiter = LocalLimiter(None)
    first, second = limiter.slot(None), limiter.slot(None)
    one, two = await first.__aenter__(), await second.__aenter__()
    one.report(Report.accepted())
    await first.__aexit__(None, None, None)
    two.report(Report.refused_for(0.3, 0.3, precise=False))
    started = time.monotonic()
    await second.__aexit__(None, None, None)
    assert await enter(limiter) - started >= 0.25  # behind the cool-down, not the gate


async def test_a_slow_member_holds_the_gate_two_round_trips_at_most() -> None:
    limiter = LocalLimiter(None)
    first, hung = limiter.slot(None), limiter.slot(None)
    one = await first.__aenter__()
    await hung.__aenter__()  # never answered during the test
    await anyio.sleep(0.1)
    one.report(Report.accepted())
    answered = time.monotonic()
    await first.__aexit__(None, None, None)
    came = await enter(limiter)
    assert 0.1 <= came - answered < 1.0  # FIRST_ROUND_WAIT (2) round trips of ~0.1 s
    await hung.__aexit__(None, None, None)


async def test_the_deadline_bounds_the_first_round_gate() -> None:
    limiter = LocalLimiter(None)
    first, hung = limiter.slot(None), limiter.slot(None)
    one = await first.__aenter__()
    await hung.__aenter__()
    await anyio.sleep(0.5)
    one.report(Report.accepted())
    await first.__aexit__(None, None, None)
    started = time.monotonic()
    with pytest.raises(common.APITimeoutError, match="first round"):
        await enter(limiter, deadline_at=time.monotonic() + 0.2)
    assert time.monotonic() - started < 0.1  # failed at once, unsent
    await hung.__aexit__(None, None, None)


async def test_a_configured_rate_has_no_gate() -> None:
    limiter = LocalLimiter(1000.0, burst=10)
    first = limiter.slot(None)
    one = await first.__aenter__()
    one.report(Report.accepted())
    await first.__aexit__(None, None, None)
    other = limiter.slot(None)
    await other.__aenter__()  # the round's other request is still out
    with anyio.fail_after(1.0):
        await enter(limiter)
    await other.__aexit__(None, None, None)


def stepping(start: float, step: float) -> Iterator[float]:
    now = start
    while True:
        yield now
        now += step


async def test_a_backoff_ending_between_two_clock_reads_is_no_negative_sleep() -> None:
    # The call's own backoff ended just after it was checked: the regression slept a
    # negative time (anyio raises ValueError), failing a retry of a healthy request.
    ticks = stepping(1000.0, 0.01)
    limiter = LocalLimiter(None, clock=lambda: next(ticks))
    async with limiter.slot(None, not_before=1000.005) as slot:
        slot.report(Report.accepted())


async def _append(into: list[float], waiting: object) -> None:
    into.append(await waiting)  # type: ignore[misc]
