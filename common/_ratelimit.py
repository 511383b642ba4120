"""Proactive pacing and the shared cool-down, one object per client.

Pacing is GCRA (a token bucket written as a schedule): each request reserves
the next slot ``1/rate`` after the previous one, with ``burst`` slots of slack.
The cool-down is shared: when any request of the client gets a 429, every
request of that client, those already waiting included, holds back until it
ends, and pacing restarts from its end instead of bursting.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["RateLimiter"]


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
        self._interval = 1.0 / rate if rate else 0.0
        self._slack = (burst - 1) * self._interval
        self._next_slot = 0.0  # the theoretical arrival time of the next request
        self._cooldown_until = 0.0
        self._clock = clock
        self._sleep = sleep

    @property
    def cooldown_remaining(self) -> float:
        """Seconds left in the current cool-down (0 when none)."""
        return max(0.0, self._cooldown_until - self._clock())

    def cool_down(self, seconds: float) -> None:
        """Hold every request of this client back for ``seconds`` from now."""
        until = self._clock() + max(0.0, seconds)
        if until > self._cooldown_until:
            self._cooldown_until = until
            self._next_slot = max(self._next_slot, until)

    def must_wait(self) -> bool:
        """False when :meth:`wait` would return at once: no pacing and no cool-down (fast path)."""
        return bool(self._interval) or self._cooldown_until > self._clock()

    async def wait(self) -> None:
        """Return when the caller may send: after any cool-down, in its paced slot."""
        while True:
            now = self._clock()
            if self._cooldown_until > now:
                await self._sleep(self._cooldown_until - now)
                continue
            if not self._interval:
                return
            slot = max(self._next_slot, now)
            self._next_slot = slot + self._interval
            allowed_at = slot - self._slack
            if allowed_at <= now:
                return
            await self._sleep(allowed_at - now)
            if self._cooldown_until <= self._clock():
                return
            # A 429 arrived while we slept: start over behind the cool-down.
