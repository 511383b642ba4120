"""Proactive pacing and the shared cool-down, one object per client.

Pacing is GCRA (a token bucket written as a schedule): each request reserves
the next slot ``1/rate`` after the previous one, with ``burst`` slots of slack.
Without a configured rate, 429s teach one (AIMD: each 429 halves the pace,
each success raises it by 1%, until pacing is off again).
The cool-down is shared: when any request of the client gets a 429, every
request of that client, those already waiting included, holds back until it
ends, and pacing restarts from its end instead of bursting.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["RateLimiter"]

# Learned pacing after 429s: from 200/s down to 1/s at most, easing back 1% per success.
_MIN_LEARNED = 0.005
_MAX_LEARNED = 1.0
_RECOVERY = 0.99


class RateLimiter:
    """Pacing to ``rate`` requests per second (None: no pacing) plus the shared cool-down."""

    def __init__(
        self,
        rate: float | None = None,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if rate is not None and not rate > 0:
            raise ValueError("rate must be a positive number of requests per second")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self._configured = 1.0 / rate if rate else 0.0
        self._interval = self._configured  # the pace in force: configured, or learned from 429s
        self._slack = (burst - 1) * self._configured
        self._next_slot = 0.0  # the theoretical arrival time of the next request
        self._cooldown_until = 0.0
        self._probe_needed = False
        self._probe_done: anyio.Event | None = None
        self._clock = clock
        self._sleep = sleep

    @property
    def cooldown_remaining(self) -> float:
        """Seconds left in the current cool-down (0 when none)."""
        return max(0.0, self._cooldown_until - self._clock())

    def cool_down(self, seconds: float) -> None:
        """Hold every request of this client back for ``seconds`` from now.

        When it ends, one request goes first as a probe; the others follow once
        it got an answer other than 429, so a crowd of waiting requests does not
        hit the server at the same instant and all get 429 again.
        """
        until = self._clock() + max(0.0, seconds)
        self._probe_needed = True
        # Learn a pace from refusals (AIMD): each 429 halves the rate...
        self._interval = min(max(self._interval * 2, _MIN_LEARNED), _MAX_LEARNED)
        if until > self._cooldown_until:
            self._cooldown_until = until
            self._next_slot = max(self._next_slot, until)

    def must_wait(self) -> bool:
        """False when :meth:`wait` would return at once (the fast path)."""
        return bool(self._interval) or self._probe_needed or self._cooldown_until > self._clock()

    async def wait(self) -> bool:
        """Return when the caller may send: after any cool-down, behind the probe, in
        its paced slot. True when the caller is the probe: it must then call
        :meth:`end_probe` with how its request went."""
        probe = False
        try:
            while True:
                now = self._clock()
                if self._cooldown_until > now:
                    await self._sleep(self._cooldown_until - now)
                    continue
                if self._probe_needed and not probe:
                    if self._probe_done is not None:  # someone else is probing
                        await self._probe_done.wait()
                        continue
                    probe = True
                    self._probe_done = anyio.Event()
                if not self._interval:
                    return probe
                slot = max(self._next_slot, now)
                self._next_slot = slot + self._interval
                allowed_at = slot - self._slack
                if allowed_at <= now:
                    return probe
                await self._sleep(allowed_at - now)
                if self._cooldown_until <= self._clock():
                    return probe
                # A 429 arrived while we slept: start over behind the cool-down.
        except BaseException:
            if probe:
                self.end_probe(cleared=False)
            raise

    def succeeded(self) -> None:
        """A request was answered without 429: ...and each success raises it a little."""
        if self._interval > self._configured:
            learned = self._interval * _RECOVERY
            floor = max(_MIN_LEARNED, self._configured)
            self._interval = learned if learned > floor else self._configured

    @property
    def interval(self) -> float:
        """Seconds between requests in force now (0: no pacing)."""
        return self._interval

    def end_probe(self, *, cleared: bool) -> None:
        """The probe's request is over; ``cleared`` when it was not refused with 429."""
        if cleared:
            self._probe_needed = False
        done, self._probe_done = self._probe_done, None
        if done is not None:
            done.set()
