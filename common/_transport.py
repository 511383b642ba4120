"""The I/O shell: one request path that every provider operation goes through.

``provider method → Transport.request (auth, rate limit, concurrency cap,
timeouts, retry) → Response`` and then the provider decodes the body. The
decisions (retry or not, how long to wait, which exception) are the pure
functions of :mod:`._retry` and :mod:`._errormap`; this module only does I/O
and bookkeeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp
import anyio
import attrs
from yarl import URL

from ._auth import Auth, NoAuth
from ._errormap import BodyWait, ErrorParser, parse_error_body
from ._errors import (
    APIError,
    APIStatusError,
    APITimeoutError,
    InvalidRequestError,
    RateLimitError,
)
from ._http import AttemptFailed, Response, send_once
from ._json import dumps
from ._ratelimit import RateLimiter
from ._retry import Failure, RetryPolicy, is_retryable, retry_delay
from ._url import validate_base_url

__all__ = ["DEFAULT_DEADLINE", "DEFAULT_MAX_RESPONSE_BYTES", "Transport"]

logger = logging.getLogger(__name__)

#: Default overall deadline across all attempts of one call, in seconds.
DEFAULT_DEADLINE = 120.0
#: Default cap on a response body, in bytes.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class Transport:
    """Owns or borrows an ``aiohttp.ClientSession`` and sends requests through the policy.

    A borrowed session (``session=``) is never closed. An owned one is created
    inside the running loop on first use and closed by :meth:`aclose` (also on
    ``async with`` exit, even when cancelled).
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        deadline: float | None = DEFAULT_DEADLINE,
        max_retries: int = 2,
        retry_policy: RetryPolicy | None = None,
        rate_limit: float | None = None,
        rate_burst: int = 1,
        max_concurrency: int = 100,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        headers: Mapping[str, str] | None = None,
        body_wait: BodyWait | None = None,
        parse_error: ErrorParser = parse_error_body,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.base_url = validate_base_url(base_url)
        if not timeout > 0:
            raise InvalidRequestError(
                "timeout must be a positive number of seconds", field="timeout"
            )
        if deadline is not None and not deadline > 0:
            raise InvalidRequestError("deadline must be positive or None", field="deadline")
        if max_concurrency < 1:
            raise InvalidRequestError("max_concurrency must be at least 1", field="max_concurrency")
        if max_response_bytes < 1:
            raise InvalidRequestError(
                "max_response_bytes must be positive", field="max_response_bytes"
            )
        if rate_limit is not None and not rate_limit > 0:
            raise InvalidRequestError("rate_limit must be positive or None", field="rate_limit")
        if max_retries < 0:
            raise InvalidRequestError("max_retries must be >= 0", field="max_retries")
        self.timeout = float(timeout)
        self.deadline = deadline
        self.policy = attrs.evolve(retry_policy or RetryPolicy(), max_retries=max_retries)
        self.max_concurrency = max_concurrency
        self.max_response_bytes = max_response_bytes
        self.limiter = RateLimiter(rate_limit, burst=rate_burst, clock=clock, sleep=sleep)
        self._auth: Auth = auth or NoAuth()
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._trace_configs = list(trace_configs or ())
        self._body_wait = body_wait
        self._parse_error = parse_error
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        # asyncio's semaphore takes a free slot without a trip through the event loop
        # (anyio's costs ~13 us a request here); aiohttp ties us to asyncio anyway.
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._headers: dict[str, str] = {
            "Accept": "application/json",
            "User-Agent": "eventsync/0.1 (+aiohttp)",
        }
        self._headers.update(headers or {})
        self._headers.update(self._auth.headers())
        # total bounds the whole attempt, body included (sock_read alone would leave it None).
        self._attempt_timeout = aiohttp.ClientTimeout(total=self.timeout)

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r}, auth={self._auth!r})"

    # -- lifecycle -------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session in use; an owned one is created on first use, in the running loop."""
        if self._closed:
            raise APIError("this client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.max_concurrency)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,  # set once, not merged on every request
                trace_configs=self._trace_configs or None,
            )
        return self._session

    async def aclose(self) -> None:
        """Close an owned session (a borrowed one is left open). Safe to call twice."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            with anyio.CancelScope(shield=True):
                await session.close()

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- requests --------------------------------------------------------------

    def _timeout_for(self, deadline_at: float | None, what: str = "") -> aiohttp.ClientTimeout:
        """The attempt's timeout: the per-attempt one, shortened by the overall deadline."""
        if deadline_at is None:
            return self._attempt_timeout
        remaining = deadline_at - self._clock()
        if remaining >= self.timeout:
            return self._attempt_timeout
        if remaining <= 0:
            raise AttemptFailed(
                Failure.NOT_SENT,
                APITimeoutError(
                    f"{what}overall deadline of {self.deadline}s passed before sending"
                ),
            )
        return aiohttp.ClientTimeout(total=remaining)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        allow_write_retries: bool | None = None,
    ) -> Response:
        """Send one logical request, retrying per policy; return the 2xx response.

        ``path`` must already be built with :func:`common.build_path` (each
        parameter escaped). ``idempotency_key`` is sent as ``Idempotency-Key``
        on every attempt and lets a write be retried; ``allow_write_retries``
        overrides that rule for this call (see :func:`common.is_retryable`).
        Raises the :class:`APIStatusError` subclass for a non-2xx answer,
        :class:`APITimeoutError`/:class:`APIConnectionError` for transport
        failures, with ``attempts`` set and the cause chained.
        """
        url = URL(self.base_url + path, encoded=True)
        extra: dict[str, str] = dict(headers) if headers else {}
        if idempotency_key is not None:
            extra["Idempotency-Key"] = idempotency_key
        data: bytes | None = None
        if json is not None:
            data = dumps(json)
            extra["Content-Type"] = "application/json"
        session = self.session
        # An owned session carries our headers already; a borrowed one gets them per request.
        send_headers: Mapping[str, str] | None
        if self._owns_session:
            send_headers = extra or None
        else:
            send_headers = {**self._headers, **extra} if extra else self._headers
        policy = self.policy
        started = self._clock()
        deadline_at = started + self.deadline if self.deadline is not None else None
        attempt = 0
        retries = waits = 0  # retries spent, and honoured 429 waits (their own budget)
        while True:
            attempt += 1
            attempt_started = self._clock()
            probe = cleared = False
            try:
                async with self._semaphore:
                    if self.limiter.must_wait():
                        self._refuse_long_cool_down(method, path)
                        probe = await self.limiter.wait()
                    attempt_started = self._clock()
                    response = await send_once(
                        session,
                        method,
                        url,
                        path,
                        params,
                        data,
                        send_headers,
                        self._timeout_for(deadline_at, f"{method} {path}: "),
                        max_response_bytes=self.max_response_bytes,
                        wall_clock=self._wall_clock,
                        body_wait=self._body_wait,
                        parse_error=self._parse_error,
                    )
                cleared = True
                if logger.isEnabledFor(logging.DEBUG):
                    self._log(method, path, response.status, attempt, attempt_started)
                return response
            except AttemptFailed as failed:
                outcome = failed
                cleared = outcome.status is not None and outcome.status != 429
            finally:
                # Any answer but 429 lets a learned pace ease and a probe's followers go.
                if cleared and self.limiter.interval:
                    self.limiter.succeeded()
                if probe:
                    self.limiter.end_probe(cleared=cleared)
            if logger.isEnabledFor(logging.DEBUG):
                self._log(method, path, outcome.status or outcome.error, attempt, attempt_started)
            error = outcome.error
            error.attempts = attempt
            server_wait = error.retry_after if isinstance(error, APIStatusError) else None
            honoured = outcome.status == 429 and server_wait is not None
            budget = (
                policy.max_retries > 0 and waits < policy.max_rate_limit_retries
                if honoured
                else retries < policy.max_retries
            )
            retryable = budget and is_retryable(
                method=method,
                failure=outcome.failure,
                status=outcome.status,
                has_idempotency_key=idempotency_key is not None,
                policy=policy,
                allow_write_retries=allow_write_retries,
            )
            delay = retry_delay(attempt, policy, server_wait) if retryable else None
            if outcome.status == 429:
                # Everyone backs off, not just this request. A wait longer than we would
                # wait makes the others fail fast too (see _refuse_long_cool_down).
                wait = delay if delay is not None else server_wait
                self.limiter.cool_down(policy.backoff_base if wait is None else wait)
            if delay is None or (deadline_at is not None and self._clock() + delay >= deadline_at):
                raise error from error.__cause__
            if honoured:
                waits += 1
            else:
                retries += 1
            logger.debug(
                "retrying %s %s in %.3fs (attempt %d failed)", method, path, delay, attempt
            )
            if outcome.status != 429 and delay > 0:
                await self._sleep(delay)

    def _refuse_long_cool_down(self, method: str, path: str) -> None:
        """Fail at once, sending nothing, while the server has asked for a longer wait
        than ``max_retry_wait`` (e.g. a daily quota): waiting would only time out."""
        remaining = self.limiter.cooldown_remaining
        if remaining > self.policy.max_retry_wait:
            raise RateLimitError(
                f"rate limited by the server for another {remaining:.0f}s; not sent",
                status_code=429,
                code="RATE_LIMITED",
                retry_after=remaining,
                method=method,
                path=path,
            )

    def _log(self, method: str, path: str, outcome: object, attempt: int, started: float) -> None:
        logger.debug(
            "%s %s -> %s (attempt %d, %.1f ms)",
            method,
            path,
            outcome if isinstance(outcome, int) else type(outcome).__name__,
            attempt,
            (self._clock() - started) * 1000,
        )
