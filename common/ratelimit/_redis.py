"""One rate budget for many processes and machines, kept in Redis (extra ``redis``).

Every client with the same key shares one :class:`~common._ratelimit.PaceState`
in a Redis hash: the GCRA schedule, the 429 cool-down with its probe, and the
learned pace. Each change is one Lua script (atomic) on Redis's own clock
(``TIME``), so machines with skewed clocks agree. The rules are
:mod:`._ratelimit`'s, ported line for line to Lua (``_LUA_RATE_AT`` and
``_LUA_DECREASE`` mirror :func:`rate_at` and :meth:`Pacer._decrease`).

Redis failing (down at start, killed mid-run, slow) never fails or hangs a call:
every Redis call is bounded by a short timeout; on failure one WARNING is logged
and the client paces locally (:class:`LocalLimiter`) until Redis answers again.

redis-py is imported only when a store is built, so the library imports without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from yarl import URL

from .._auth import Auth
from .._errors import InvalidRequestError
from ._local import (
    CLIMB,
    DECREASE,
    DOUBLING,
    HALVE,
    MARGIN,
    MIN_RATE,
    MIN_SAMPLE,
    UNPACED_ABOVE,
    LocalLimiter,
    Report,
    Slot,
    cool_down_error,
    deadline_error,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisLimiter", "RedisRateStore", "default_rate_key"]

logger = logging.getLogger(__name__)

#: How long a probe holds the others back at most (they then send a new one).
PROBE_LEASE = 30.0
#: How often a request behind another process's probe looks again.
PROBE_POLL = 0.02
#: After a Redis failure, pace locally this long before trying Redis again.
RETRY_REDIS_AFTER = 1.0
#: After a warning that Redis failed, no other one for this long (one per outage).
WARN_EVERY = 60.0
#: Idle budgets expire from Redis after this many seconds.
KEY_TTL = 3600

_LUA_HEAD = """
local h = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local f = redis.call('HMGET', h, 'tat', 'cool', 'srv', 'probe', 'lease', 'ep', 'acc',
                     'floor', 'est', 'started', 'cf')
local tat, cool, srv = tonumber(f[1]) or 0, tonumber(f[2]) or 0, tonumber(f[3]) or 0
local probe, lease, ep = tonumber(f[4]) or 0, tonumber(f[5]) or 0, tonumber(f[6])
local acc, floor, est = tonumber(f[7]) or 0, tonumber(f[8]) or 0, tonumber(f[9]) or 0
local started = tonumber(f[10])
local cf = tonumber(f[11]) or 0
local configured = tonumber(ARGV[1])
if configured == 0 then configured = nil end
"""

# rate_at() of _ratelimit.py; nil means no pacing.
_LUA_RATE_AT = f"""
local function rate_at(at)
  if ep == nil or est == 0 then return configured end
  local dt = math.max(0, at - cf)
  local rate
  if dt < {CLIMB} then
    rate = est - (est - floor) * (1 - dt / {CLIMB}) ^ 3
  else
    rate = est * 2 ^ math.min((dt - {CLIMB}) / {DOUBLING}, 30)
  end
  if configured ~= nil then return math.min(rate, configured) end
  if rate > {UNPACED_ABOVE} * est then return nil end
  return rate
end
"""

_ACQUIRE = (
    _LUA_HEAD
    + _LUA_RATE_AT
    + """
local burst = tonumber(ARGV[2])
if started == nil then
  redis.call('HSET', h, 'started', tostring(now))
  local seed = tonumber(ARGV[5])
  if seed > 0 and ep == nil then  -- a new (or lost) budget starts from the caller's pace
    ep, est, floor, cf = now, seed, seed, now
    redis.call('HSET', h, 'ep', tostring(now), 'est', tostring(seed), 'floor', tostring(seed),
               'cf', tostring(now))
  end
end
if cool > now then
  return {'cool', tostring(cool - now), tostring(srv - now)}
end
local is_probe = 0
if probe == 1 then
  if lease > now then return {'probe', tostring(lease - now)} end
  redis.call('HSET', h, 'lease', tostring(now + tonumber(ARGV[3])))
  is_probe = 1
end
local rate = rate_at(now)
redis.call('EXPIRE', h, tonumber(ARGV[4]))
if rate == nil then return {'go', '0', tostring(is_probe), '0', tostring(now)} end
local interval = 1 / rate
local slot = math.max(tat, now, cool)
redis.call('HSET', h, 'tat', tostring(slot + interval))
local send = math.max(now, slot - (burst - 1) * interval)
return {'go', tostring(send - now), tostring(is_probe), tostring(interval), tostring(send)}
"""
)

_RELEASE = (
    _LUA_HEAD
    + """
local interval = tonumber(ARGV[2])
if tonumber(ARGV[3]) == 1 then redis.call('HSET', h, 'lease', '0') end
if interval > 0 then redis.call('HSET', h, 'tat', tostring(math.max(now, tat - interval))) end
return 'ok'
"""
)

# on_report() and _decrease() of Pacer.
_REPORT = (
    _LUA_HEAD
    + _LUA_RATE_AT
    + f"""
local kind, sent_at, was_probe = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if was_probe == 1 then redis.call('HSET', h, 'lease', '0') end
if kind == 'none' then return 'ok' end
if kind == 'ok' then
  redis.call('HINCRBY', h, 'acc', 1)
  redis.call('HSET', h, 'probe', '0', 'srv', tostring(math.min(srv, now)))
  return 'ok'
end
local cool_down, server_wait, precise = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
cool = math.max(cool, now + cool_down)
srv = math.max(srv, now + server_wait, cool)
redis.call('HSET', h, 'probe', '1', 'cool', tostring(cool), 'srv', tostring(srv),
           'tat', tostring(math.max(tat, cool)))
redis.call('EXPIRE', h, tonumber(ARGV[8]))
if ep ~= nil and sent_at < ep then return 'same' end
local start = ep or started or now
local span = math.max(now - start + cool_down, 0.001)
local best = nil
if acc >= {MIN_SAMPLE} then best = acc / span end
if precise == 1 and server_wait > 0 then best = math.min(best or math.huge, 1 / server_wait) end
local current = rate_at(now)
if current == nil and est > 0 then current = {UNPACED_ABOVE} * est end
if current ~= nil then best = math.min(best or math.huge, current * {DECREASE}) end
local estimate = best or 0
if current ~= nil then estimate = math.max(estimate, current * {HALVE}) end
if estimate > 0 then estimate = math.max(estimate, {MIN_RATE}) end
local climb_from = now
if current == nil then climb_from = cool - {CLIMB} end
redis.call('HSET', h, 'est', tostring(estimate), 'floor', tostring(estimate * {MARGIN}),
           'cf', tostring(climb_from),
           'ep', tostring(now), 'acc', '0', 'tat', tostring(math.max(now, cool)))
return 'new'
"""
)


def default_rate_key(provider: str, base_url: str, auth: Auth) -> str:
    """provider + base URL origin + a hash of the credential (never the credential)."""
    url = URL(base_url)
    origin = f"{url.scheme}://{url.host}:{url.explicit_port or url.port}"
    digest = hashlib.sha256()
    for name, value in sorted(auth.headers().items()):
        digest.update(f"{name.lower()}\0{value}\0".encode())
    return f"{provider}|{origin}|{digest.hexdigest()[:24]}"


class RedisUnavailable(Exception):
    """Internal: a Redis call failed or took too long."""


class RedisRateStore:
    """Where clients sharing a rate budget keep it: a Redis server.

    ``RedisRateStore("redis://host:6379/0")`` connects (lazily) and is closed by
    :meth:`aclose`; ``RedisRateStore(redis.asyncio.Redis(...))`` borrows the
    caller's client and never closes it. Every Redis call gives up after
    ``timeout`` seconds (the client then paces locally). Keys are
    ``prefix + rate_key``. Pass the store as ``rate_store=`` to any number of
    clients; it is closed by whoever built it (a client closes only a store it
    built from a URL).
    """

    def __init__(
        self,
        url_or_redis: str | Redis,
        *,
        timeout: float = 1.0,
        prefix: str = "eventsync:rate:",
    ) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError:  # pragma: no cover - the extra is installed in the tests
            raise InvalidRequestError(
                "rate_store needs redis-py: pip install 'eventsync[redis]'", field="rate_store"
            ) from None
        if not 0 < timeout < math.inf:
            raise InvalidRequestError("timeout must be a positive number", field="timeout")
        self.timeout = timeout
        self.prefix = prefix
        if isinstance(url_or_redis, str):
            self._redis: Redis = aioredis.Redis.from_url(
                url_or_redis,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry_on_timeout=False,
            )
            self._owned = True
        elif isinstance(url_or_redis, aioredis.Redis):
            self._redis = url_or_redis
            self._owned = False
        else:
            raise InvalidRequestError(
                "RedisRateStore takes a Redis URL or a redis.asyncio.Redis", field="rate_store"
            )
        self.closed = False
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._release = self._redis.register_script(_RELEASE)
        self._report = self._redis.register_script(_REPORT)

    def __repr__(self) -> str:
        return f"RedisRateStore(prefix={self.prefix!r}, owned={self._owned})"

    async def _call(self, script: Any, key: str, *args: object) -> Any:
        try:
            with anyio.fail_after(self.timeout * 2):
                return await script(keys=[self.prefix + key], args=list(args))
        except Exception as exc:  # any Redis failure: connection, timeout, script
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from None

    async def acquire(
        self, key: str, configured: float | None, burst: int, seed: float = 0.0
    ) -> list[str]:
        """Take a turn: ``['cool', left, server_left]``, ``['probe', lease_left]`` or
        ``['go', delay, is_probe, interval, send_at]`` (seconds, on Redis's clock).

        ``seed``: a pace (requests/s) to start from when the budget is new or was lost.
        """
        reply = await self._call(
            self._acquire, key, configured or 0, burst, PROBE_LEASE, KEY_TTL, seed
        )
        return [item.decode() if isinstance(item, bytes) else str(item) for item in reply]

    async def release(self, key: str, interval: float, probe: bool) -> None:
        """Give back a pacing slot never used (and a probe lease)."""
        await self._call(self._release, key, 0, interval, int(probe))

    async def report(
        self, key: str, configured: float | None, report: Report, sent_at: float, probe: bool
    ) -> str:
        """Tell the shared budget how an attempt sent at ``sent_at`` (Redis time) went;
        ``"new"`` when it began a congestion episode."""
        kind = "refused" if report.refused else "ok" if report.answered else "none"
        reply = await self._call(
            self._report,
            key,
            configured or 0,
            kind,
            sent_at,
            int(probe),
            report.cool_down,
            report.server_wait,
            int(report.precise),
            KEY_TTL,
        )
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    async def aclose(self) -> None:
        """Close the Redis connection when this store created it."""
        if self._owned and not self.closed:
            self.closed = True
            await self._redis.aclose()


class RedisLimiter:
    """The limiter of a client whose budget lives in a :class:`RedisRateStore`.

    The concurrency cap stays per client; a local limiter paces while Redis fails.
    """

    def __init__(
        self,
        store: str | RedisRateStore,
        key: str,
        *,
        rate_limit: float | None = None,
        burst: int = 1,
        max_concurrency: int = 100,
    ) -> None:
        self.local = LocalLimiter(rate_limit, burst=burst, max_concurrency=max_concurrency)
        # No first-round gate on a shared budget: measured with 4 processes on one key,
        # it brought no fewer refusals and 2 of 9 runs took 4-8x the ideal time.
        self.local.open_first_round()
        self._owns_store = isinstance(store, str)
        self.store = RedisRateStore(store) if isinstance(store, str) else store
        self.key = key
        self._configured = rate_limit
        self._burst = burst
        self._down_until = 0.0  # local monotonic time before which Redis is not tried
        self._quiet_until = 0.0  # no new warning before this (one per outage)
        self._interval = 0.0  # the shared pace last seen (seconds between requests)
        self._episodes = 0  # episodes this process began: its sleeping slots are void then

    def __repr__(self) -> str:
        return f"RedisLimiter(store={self.store!r})"

    @property
    def shared(self) -> bool:
        """Whether Redis answered last time (False: pacing locally)."""
        return self._down_until == 0.0

    async def aclose(self) -> None:
        """Close the store when it was built from a URL."""
        if self._owns_store:
            await self.store.aclose()

    def _failed(self, error: RedisUnavailable) -> None:
        now = time.monotonic()
        if now >= self._quiet_until:  # one line per outage, not one per request
            logger.warning("rate store unavailable (%s); pacing locally until it is back", error)
        self._quiet_until = now + WARN_EVERY
        if self._down_until == 0.0 and self._interval:
            # Carry on locally at the pace last shared, not from scratch.
            state = self.local.state
            if state.episode_at is None or not state.estimate:
                state.episode_at, state.estimate = now, 1.0 / self._interval
                state.floor = state.estimate
        self._down_until = now + RETRY_REDIS_AFTER

    def _redis_usable(self) -> bool:
        return time.monotonic() >= self._down_until

    @contextlib.asynccontextmanager
    async def slot(
        self,
        deadline_at: float | None,
        *,
        not_before: float = 0.0,
        max_wait: float = math.inf,
        what: str = "",
    ) -> AsyncIterator[Slot]:
        """A turn from the shared budget (see :class:`~common._ratelimit.Limiter`)."""
        if not self._redis_usable():
            async with self.local.slot(
                deadline_at, not_before=not_before, max_wait=max_wait, what=what
            ) as slot:
                yield slot
            return
        local = self.local
        backoff = not_before - time.monotonic()  # the clock read once: never a negative sleep
        if backoff > 0:
            if deadline_at is not None and not_before >= deadline_at:
                raise deadline_error(what, "before the retry")
            await anyio.sleep(backoff)
        async with local.permit(deadline_at, what):
            shared = await self._turn(deadline_at, max_wait, what)
            if shared is None:  # Redis failed while waiting: pace locally
                slot = await local.turn(deadline_at, max_wait, what)
                try:
                    yield slot
                finally:
                    local.settle(slot)
                return
            try:
                yield shared
            finally:
                await self._settle(shared)

    async def _turn(self, deadline_at: float | None, max_wait: float, what: str) -> Slot | None:
        while True:
            try:
                seed = 1.0 / self._interval if self._interval else 0.0
                reply = await self.store.acquire(self.key, self._configured, self._burst, seed)
            except RedisUnavailable as error:
                self._failed(error)
                return None
            self._down_until = 0.0
            now = time.monotonic()
            if reply[0] == "cool":
                left, server_left = float(reply[1]), float(reply[2])
                if server_left > max_wait:
                    raise cool_down_error(server_left, "longer than max_retry_wait")
                if deadline_at is not None and now + left >= deadline_at:
                    raise cool_down_error(left, "beyond the call's deadline")
                await anyio.sleep(left)
                continue
            if reply[0] == "probe":
                if deadline_at is not None and now + PROBE_POLL >= deadline_at:
                    raise deadline_error(what, "behind the probe request")
                await anyio.sleep(min(PROBE_POLL, float(reply[1])))
                continue
            delay, probe = float(reply[1]), reply[2] == "1"
            interval, send_at = float(reply[3]), float(reply[4])
            self._interval = interval
            # Its refusal belongs to the episode in force when the slot was reserved
            # (slots already scheduled when a refusal came count as in flight).
            slot = Slot(send_at - delay, interval, probe)
            if delay <= 0:
                return slot
            episodes = self._episodes
            try:
                if deadline_at is not None and now + delay >= deadline_at:
                    raise deadline_error(what, f"before its pacing slot in {delay:.3g}s")
                await anyio.sleep(delay)
            except BaseException:
                with anyio.CancelScope(shield=True), contextlib.suppress(RedisUnavailable):
                    await self.store.release(self.key, interval, probe)
                raise
            if episodes == self._episodes:
                return slot
            # A refusal began a new episode while we slept: queue again at the new pace
            # (the episode reset the schedule; only a probe lease is handed back).
            if probe:
                with anyio.CancelScope(shield=True), contextlib.suppress(RedisUnavailable):
                    await self.store.release(self.key, 0.0, probe)

    async def _settle(self, slot: Slot) -> None:
        report = slot._report or Report.no_answer()
        if report.refused:  # a fall-back to local pacing starts behind the cool-down
            state, now = self.local.state, time.monotonic()
            state.cool_until = max(state.cool_until, now + report.cool_down)
            state.server_until = max(state.server_until, now + report.server_wait)
        with anyio.CancelScope(shield=True):
            try:
                reply = await self.store.report(
                    self.key, self._configured, report, slot.sent_at, slot.probe
                )
            except RedisUnavailable as error:
                self._failed(error)
            else:
                if reply == "new":
                    self._episodes += 1
