"""One rate budget for many processes and machines, kept in Redis (extra ``redis``).

:class:`RedisRateStore` is the :class:`~._store.RateStore` protocol over Redis:
every clients with the same key shares one budget in a Redis hash, changed by one
Lua script (``rate.lua``, atomic) on Redis's own clock (``TIME``), so machines
with skewed clocks agree. The script applies the rules of :mod:`._local` with
the semantics of :class:`~._store.MemoryStore` (a property test holds them equal).
:class:`RedisLimiter` is the waiting loop of :mod:`._limiter` over such a store.

Redis failing (down at start, killed mid-run, slow, silent, answering nonsense)
never fails or hangs a call: the limiter bounds every Redis call, warns once and
paces locally until Redis answers again.

redis-py is imported only when a store is built, so the library imports without it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import math
import re
import sys
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import anyio
from yarl import URL

from .._auth import Auth
from .._clock import loop_time
from .._errors import InvalidRequestError
from .._url import written_plainly
from ._limiter import PacedLimiter
from ._local import PaceState, Report
from ._store import Budget, RateStore, StoreError, Turn

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "RedisLimiter",
    "RedisRateStore",
    "check_rate_key",
    "check_store_url",
    "default_rate_key",
    "redact_url",
]

#: Idle budgets expire from Redis after this many seconds (``KEY_TTL`` in rate.lua).
KEY_TTL = 3600
#: Connections a store built from a URL opens at most; more calls at once wait their
#: turn (a script call takes well under a millisecond), bounded by the store's timeout.
POOL_SIZE = 100
#: The script: one file, one SHA; the operation is its first argument.
SCRIPT = importlib.resources.files(__package__).joinpath("rate.lua").read_text(encoding="utf-8")

# A query's password runs to the next "&" or "#": parse_qs (and so redis-py) no longer
# splits at ";" (a password "Top;Secret" showed as "***;Secret"). Masked first: then the
# userinfo, up to the last "@" of what is left (a password may hold "/", "?" or "#" in a
# URL refused for it, or a line break), cannot stop at an "@" of the query's password
# (one holding "@" showed as "redis://***@Secret").
_SECRET_QUERY = re.compile(r"(?i)((?:^|[?&;])(?:password|username)=)[^&#]*")
_USERINFO = re.compile(r"//.*@", re.DOTALL)


def redact_url(url: str) -> str:
    """``url`` with its user and password (and any ``password=`` query value) masked."""
    return _USERINFO.sub("//***@", _SECRET_QUERY.sub(r"\1***", url))


def url_secrets(url: str) -> tuple[str, ...]:
    """The credentials ``url`` carries (userinfo and ``password=``/``username=`` query
    values), as written and unquoted: what a message quoting them must not show."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    values = [
        parts.password,
        parts.username,
        *query.get("password", ()),
        *query.get("username", ()),
    ]
    return tuple(s for value in values if value for s in {value, urllib.parse.unquote(value)})


def check_store_url(url: str) -> None:
    """Raise :class:`InvalidRequestError` for a ``rate_store`` URL Redis cannot use
    (the message shows the URL with its credentials masked; raised outside every
    ``except``, so no parser's message quoting the URL is kept as its context)."""
    shown = redact_url(url)

    def refuse(why: str) -> InvalidRequestError:
        return InvalidRequestError(f"rate_store {shown!r}: {why}", field="rate_store")

    why = None
    if not written_plainly(url):
        raise refuse("holds a space, a line break or a control character (write it %-escaped)")
    try:
        url.encode("utf-8")
        parts = urllib.parse.urlsplit(url)
    except UnicodeEncodeError:
        why = "not valid text (a lone surrogate?)"
    except ValueError:
        why = "not a valid URL (a bracketed IPv6 address?)"
    if why is not None:
        raise refuse(why)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise refuse("must be a redis://, rediss:// or unix:// URL")
    try:
        port: int | None = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise refuse("the port must be a number from 1 to 65535")
    if parts.scheme == "unix" and not parts.path:
        raise refuse("a unix:// URL needs the socket's path")
    if parts.scheme != "unix" and parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise refuse("the path must be a database number (/0)")
    try:
        from redis.asyncio import BlockingConnectionPool
        from redis.exceptions import RedisError
    except ImportError:  # the extra's own check comes when a store is built
        return
    try:
        # What a connection would be given, built without any I/O: an option redis-py
        # does not know (``?bogus=1``) was a TypeError at every connect, read as Redis
        # down (local pacing, the budget silently not shared), never as a bad URL; one
        # whose value it refuses (``?protocol=9``, ``ssl_cert_reqs=bogus``), its own
        # RedisError, raw.
        pool = BlockingConnectionPool.from_url(url)
        pool.connection_class(**pool.connection_kwargs)
    except (ValueError, TypeError, RedisError):
        why = "a query option redis-py does not accept (or a value of one)"
    if why is not None:
        raise refuse(why)


def check_rate_key(key: str) -> None:
    """Raise :class:`InvalidRequestError` for a ``rate_key`` that cannot name a budget."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidRequestError("rate_key must be a non-empty string", field="rate_key")
    if len(key) > 1000:
        raise InvalidRequestError("rate_key must be at most 1000 characters", field="rate_key")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(
            "rate_key must be valid text (it has a lone surrogate)", field="rate_key"
        ) from None


def default_rate_key(provider: str, base_url: str, auth: Auth) -> str:
    """provider + base URL origin + a hash of the credential (never the credential)."""
    url = URL(base_url)
    origin = f"{url.scheme}://{url.host}:{url.explicit_port or url.port}"
    digest = hashlib.sha256()
    for name, value in sorted(auth.headers().items()):
        digest.update(f"{name.lower()}\0{value}\0".encode())
    return f"{provider}|{origin}|{digest.hexdigest()[:24]}"


def _number(value: float) -> str:
    return repr(float(value))


class RedisRateStore:
    """Where clients sharing a rate budget keep it: a Redis server.

    ``RedisRateStore("redis://host:6379/0")`` connects (lazily) and is closed by
    :meth:`aclose`; ``RedisRateStore(redis.asyncio.Redis(...))`` borrows the
    caller's client and never closes it. A Redis call gives up after ``timeout``
    seconds (the client then paces locally; a call with a short deadline gives up
    sooner). Keys are ``prefix + rate_key``. Pass the store as ``rate_store=`` to
    any number of clients; it is closed by whoever built it (a client closes only
    a store it built from a URL). Implements :class:`common.ratelimit.RateStore`.

    Like redis-py's asyncio client under it, a store belongs to the event loop it is
    first used in: build one per loop (per ``asyncio.run()``) and close it there. Used
    from another loop, its calls fail and each client paces locally (one warning).
    """

    shared = True

    def __init__(
        self,
        url_or_redis_client: str | Redis,
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
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not 0 < timeout < math.inf
            or timeout > sys.float_info.max  # an int no float holds: every call overflowed
        ):
            raise InvalidRequestError("timeout must be a positive number", field="timeout")
        if not isinstance(prefix, str):
            raise InvalidRequestError("prefix must be a string", field="prefix")
        self.timeout = float(timeout)
        self.prefix = prefix
        self._secrets: tuple[str, ...] = ()
        if isinstance(url_or_redis_client, str):
            check_store_url(url_or_redis_client)
            self._secrets = url_secrets(url_or_redis_client)
            # A pool that makes a call wait for a free connection: redis-py's default pool
            # raises at once when all are busy, which read as Redis down (local pacing, and
            # a fleet over its limit) as soon as a process had over 100 calls in flight.
            pool = aioredis.BlockingConnectionPool.from_url(
                url_or_redis_client,
                max_connections=POOL_SIZE,
                timeout=timeout,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry_on_timeout=False,
            )
            self._redis: Redis = aioredis.Redis(connection_pool=pool)
            self._owned = True
        elif isinstance(url_or_redis_client, aioredis.Redis):
            self._redis = url_or_redis_client
            self._owned = False
        else:
            raise InvalidRequestError(
                "RedisRateStore takes a Redis URL or a redis.asyncio.Redis", field="rate_store"
            )
        self.closed = False
        self._closing = False  # (an owned pool: no call may open a connection of it again)
        self._script = self._redis.register_script(SCRIPT)

    def __repr__(self) -> str:
        return f"RedisRateStore(prefix={self.prefix!r}, owned={self._owned})"

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def _run(self, key: str, operation: str, now: float | None, *args: str) -> Any:
        if self._closing:  # a call that ends after its client closed: its pool is gone
            raise StoreError("the rate store is closed")
        when = "" if now is None else _number(now)
        try:
            with anyio.fail_after(self.timeout):
                return await self._script(keys=[self.prefix + key], args=[operation, when, *args])
        except Exception as exc:  # any Redis failure: connection, timeout, script
            raise StoreError(self._scrub(f"{type(exc).__name__}: {exc}")) from None

    async def acquire(
        self,
        key: str,
        *,
        rate_limit: float | None,
        burst: int,
        lease: float,
        max_wait: float,
        seed: float = 0.0,
        now: float | None = None,
    ) -> Turn:
        """See :meth:`common.ratelimit.RateStore.acquire`."""
        reply = await self._run(
            key,
            "acquire",
            now,
            _number(rate_limit or 0),
            str(int(burst)),
            _number(lease),
            _number(min(max_wait, 1e12)),
            _number(seed),
        )
        return Turn.parse(reply)

    async def release(
        self,
        key: str,
        *,
        interval: float,
        episode: int,
        probe: bool,
        now: float | None = None,
    ) -> None:
        """See :meth:`common.ratelimit.RateStore.release`."""
        reply = await self._run(
            key, "release", now, _number(interval), str(int(episode)), str(int(probe))
        )
        if reply not in (b"ok", "ok"):
            raise StoreError("unexpected reply from the rate store")

    async def report(
        self,
        key: str,
        report: Report,
        *,
        rate_limit: float | None,
        sent_at: float,
        probe: bool,
        now: float | None = None,
    ) -> Literal["ok", "same", "new"]:
        """See :meth:`common.ratelimit.RateStore.report`."""
        kind = "refused" if report.refused else "ok" if report.answered else "none"
        reply = await self._run(
            key,
            "report",
            now,
            _number(rate_limit or 0),
            kind,
            _number(sent_at),
            str(int(probe)),
            _number(report.cool_down),
            _number(min(report.server_wait, 1e300)),
            str(int(report.precise)),
        )
        answer = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
        if answer == "ok":
            return "ok"
        if answer == "same":
            return "same"
        if answer == "new":
            return "new"
        raise StoreError("unexpected reply from the rate store")

    async def changed(self, key: str, within: float) -> None:
        """Redis sends no notice: sleep ``within`` seconds (the limiter passes a short poll)."""
        await anyio.sleep(within)

    async def read(self, key: str) -> Budget:
        """See :meth:`common.ratelimit.RateStore.read`."""
        if self._closing:
            raise StoreError("the rate store is closed")
        try:
            with anyio.fail_after(self.timeout):
                raw: dict[Any, Any] = await self._redis.hgetall(self.prefix + key)
            fields = {str(name, "utf-8"): float(value) for name, value in raw.items()}
        except Exception as exc:
            raise StoreError(self._scrub(f"{type(exc).__name__}: {exc}")) from None
        state = PaceState(
            tat=fields.get("tat", 0.0),
            cool_until=fields.get("cool", 0.0),
            server_until=fields.get("srv", 0.0),
            probe=fields.get("probe") == 1.0,
            drained_at=fields.get("dr"),
            started=fields.get("started"),
            episode_at=fields.get("ep"),
            episodes=int(fields.get("eps", 0)),
            accepted=int(fields.get("acc", 0)),
            sent=int(fields.get("sent", 0)),
            window_at=fields.get("wa", 0.0),
            window_accepted=int(fields.get("wacc", 0)),
            recent_rate=fields.get("rr", 0.0),
            floor=fields.get("floor", 0.0),
            estimate=fields.get("est", 0.0),
            climb_from=fields.get("cf", 0.0),
            hold=fields.get("hold", 0.0),
        )
        return Budget(state, lease=fields.get("lease", 0.0), cool_for=fields.get("cd"))

    async def aclose(self) -> None:
        """Close the Redis connection when this store created it."""
        if self._owned and not self.closed:
            # From now on no call uses the pool: the calls still in flight when their client
            # closed reported to it after, and redis-py opened new connections for them that
            # nothing closed (one per call, and a ResourceWarning each).
            self._closing = True
            await self._redis.aclose(close_connection_pool=True)
            self.closed = True  # (only once closed: a close cut short may be done again)


class RedisLimiter(PacedLimiter):
    """The limiter of a client whose budget lives in a :class:`RedisRateStore` (or
    built from a Redis URL; any shared :class:`~._store.RateStore` works the same).

    The concurrency cap stays per client; a local store paces while Redis fails.
    """

    def __init__(
        self,
        store: str | RateStore,
        key: str,
        *,
        rate_limit: float | None = None,
        burst: int = 1,
        max_concurrency: int = 100,
        clock: Callable[[], float] = loop_time,
    ) -> None:
        check_rate_key(key)
        owned = isinstance(store, str)
        super().__init__(
            RedisRateStore(store) if isinstance(store, str) else store,
            key,
            rate_limit=rate_limit,
            burst=burst,
            max_concurrency=max_concurrency,
            clock=clock,
            # No first-round gate on a shared budget: measured with 4 processes on one
            # key, it brought no fewer refusals and 2 of 9 runs took 4-8x the ideal time.
            first_round=False,
            owns_store=owned,
        )
