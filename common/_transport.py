"""The I/O shell: one request path that every provider operation goes through.

``provider method → Transport.request → limiter slot (concurrency cap, cool-down,
probe, pacing; all bounded by the deadline) → send_once → decide → Response``
and then the provider decodes the body. The decisions (retry or not, how long,
what the limiter learns) are the pure :func:`._retry.decide`; the pacing rules
are :mod:`.ratelimit`'s; this module only does I/O and bookkeeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
from yarl import URL

from ._auth import Auth, NoAuth
from ._errormap import BodyWait, ErrorParser, parse_error_body
from ._errors import (
    APIError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    InvalidRequestError,
)
from ._http import AttemptFailed, Response, send_once
from ._json import dumps
from ._options import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RESPONSE_BYTES,
    CallOptions,
    ClientOptions,
    Options,
    resolve_options,
)
from ._retry import CallState, Failure, Outcome, RetryPolicy, decide
from ._url import validate_base_url
from .ratelimit._local import Limiter, LocalLimiter, Report

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DEFAULT_DEADLINE", "DEFAULT_MAX_RESPONSE_BYTES", "Transport"]

logger = logging.getLogger(__name__)


class _Shared:
    """What a transport shares with those derived from it by :meth:`Transport.with_options`:
    the session, the limiter (rate budget and concurrency cap) and who closes them."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        limiter: Limiter,
        headers: dict[str, str],
        options: Options,
    ) -> None:
        self.session = session
        self.owns_session = session is None
        self.limiter = limiter
        self.headers = headers
        self.trace_configs = list(options.trace_configs)
        self.max_concurrency = options.max_concurrency
        self.closed = False
        self.loop: asyncio.AbstractEventLoop | None = None  # the owned session's


class Transport:
    """Owns or borrows an ``aiohttp.ClientSession`` and sends requests through the policy.

    A borrowed session (``session=``) is never closed. An owned one is created
    inside the running loop on first use and closed by :meth:`aclose` (also on
    ``async with`` exit, even when cancelled) of the transport that created it;
    a transport derived with :meth:`with_options` borrows everything from it.
    Options are :class:`common.Options` fields, as keywords or ``options=``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        session: aiohttp.ClientSession | None = None,
        headers: Mapping[str, str] | None = None,
        body_wait: BodyWait | None = None,
        parse_error: ErrorParser = parse_error_body,
        provider: str = "http",
        options: Options | None = None,
        **overrides: Unpack[ClientOptions],
    ) -> None:
        self.base_url = validate_base_url(base_url)
        self.options = resolve_options(options, **overrides)
        self._auth: Auth = auth or NoAuth()
        self._body_wait = body_wait
        self._parse_error = parse_error
        self._wall_clock = time.time
        all_headers = {"Accept": "application/json", "User-Agent": "eventsync/0.1 (+aiohttp)"}
        all_headers.update(headers or {})
        all_headers.update(self._auth.headers())
        self._shared = _Shared(session, self._build_limiter(provider), all_headers, self.options)
        self._owner = True
        self._closed = False
        self._configure()

    def _build_limiter(self, provider: str) -> Limiter:
        options = self.options
        if options.rate_store is None:
            return LocalLimiter(
                options.rate_limit,
                burst=options.rate_burst,
                max_concurrency=options.max_concurrency,
            )
        from .ratelimit._redis import RedisLimiter, default_rate_key  # redis-py only when asked for

        key = options.rate_key or default_rate_key(provider, self.base_url, self._auth)
        return RedisLimiter(
            options.rate_store,
            key,
            rate_limit=options.rate_limit,
            burst=options.rate_burst,
            max_concurrency=options.max_concurrency,
        )

    def _configure(self) -> None:
        """Cache what each request reads from the options."""
        self.timeout = float(self.options.timeout)
        self.deadline = self.options.deadline
        self.policy: RetryPolicy = self.options.retry_policy
        self.max_concurrency = self.options.max_concurrency
        self.max_response_bytes = self.options.max_response_bytes
        # total bounds the whole attempt, body included (sock_read alone would leave it None).
        self._attempt_timeout = aiohttp.ClientTimeout(total=self.timeout)

    def with_options(self, **changes: Unpack[CallOptions]) -> Transport:
        """A transport with changed per-call options sharing this one's session and limiter.

        Closing it closes nothing shared; closing this one closes the shared session
        (when owned) and makes the derived ones refuse further calls.
        """
        derived = object.__new__(Transport)
        derived.__dict__.update(self.__dict__)
        derived.options = resolve_options(self.options, per_call_only=True, **changes)
        derived._owner = False
        derived._closed = False
        derived._configure()
        return derived

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r}, auth={self._auth!r})"

    @property
    def limiter(self) -> Limiter:
        """The limiter (rate budget, cool-down, concurrency cap) this transport sends through."""
        return self._shared.limiter

    # -- lifecycle -------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session in use; an owned one is created on first use, in the running loop."""
        shared = self._shared
        if self._closed or shared.closed:
            raise ClientClosedError("this client is closed; not sent")
        if shared.session is None:
            connector = aiohttp.TCPConnector(limit=shared.max_concurrency)
            shared.session = aiohttp.ClientSession(
                connector=connector,
                headers=shared.headers,  # set once, not merged on every request
                trace_configs=shared.trace_configs or None,
            )
            shared.loop = asyncio.get_running_loop()
        elif shared.owns_session and shared.loop is not asyncio.get_running_loop():
            # Its connections belong to that loop: aiohttp would fail with a bare
            # "RuntimeError: Event loop is closed" (or hang on an idle loop).
            raise InvalidRequestError(
                "this client was first used in another event loop (an earlier"
                " asyncio.run(), or another thread's loop) and its connections belong"
                " to it: create, use and close a client inside one event loop; not sent"
            )
        return shared.session

    @property
    def _session(self) -> aiohttp.ClientSession | None:
        """The shared session if one was created or borrowed (None once closed)."""
        return self._shared.session

    async def aclose(self) -> None:
        """Close what this transport owns (a borrowed session is left open). Safe twice.

        A derived transport (:meth:`with_options`) owns nothing: it only stops itself.
        """
        self._closed = True
        if not self._owner:
            return
        shared = self._shared
        shared.closed = True
        session, shared.session = shared.session, None
        with anyio.CancelScope(shield=True):
            try:
                await shared.limiter.aclose()
            finally:
                if session is not None and shared.owns_session and not session.closed:
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
        remaining = deadline_at - time.monotonic()
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

        ``path`` must already be built with :func:`common.provider.build_path` (each
        parameter escaped). ``idempotency_key`` is sent as ``Idempotency-Key``
        on every attempt and lets a write be retried; ``allow_write_retries``
        overrides that rule for this call (see :func:`common.provider.is_retryable`).
        Raises the :class:`APIStatusError` subclass for a non-2xx answer,
        :class:`APITimeoutError`/:class:`APIConnectionError` for transport
        failures, with ``attempts`` set and the cause chained; a
        :class:`RateLimitError` or :class:`APITimeoutError` without sending when
        a cool-down or the deadline leaves no turn.
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
        shared_headers = self._shared.headers
        if self._shared.owns_session:
            send_headers = extra or None
        else:
            send_headers = {**shared_headers, **extra} if extra else shared_headers
        policy, limiter, what = self.policy, self._shared.limiter, f"{method} {path}: "
        started = time.monotonic()
        deadline_at = started + self.deadline if self.deadline is not None else None
        state, not_before = CallState(), 0.0
        while True:
            sent = False
            try:
                async with limiter.slot(
                    deadline_at, not_before=not_before, max_wait=policy.max_retry_wait, what=what
                ) as slot:
                    attempt_started = time.monotonic()
                    sent = True
                    try:
                        response = await send_once(
                            session,
                            method,
                            url,
                            path,
                            params,
                            data,
                            send_headers,
                            self._timeout_for(deadline_at, what),
                            max_response_bytes=self.max_response_bytes,
                            wall_clock=self._wall_clock,
                            body_wait=self._body_wait,
                            parse_error=self._parse_error,
                        )
                    except AttemptFailed as failed:
                        error, status = failed.error, failed.status
                        server_wait = (
                            error.retry_after if isinstance(error, APIStatusError) else None
                        )
                        outcome = Outcome(
                            method=method,
                            failure=failed.failure,
                            status=failed.status,
                            server_wait=server_wait,
                            has_idempotency_key=idempotency_key is not None,
                            allow_write_retries=allow_write_retries,
                        )
                        now = time.monotonic()
                        decision = decide(outcome, state, policy, now, deadline_at)
                        slot.report(decision.report)
                    else:
                        slot.report(Report.accepted())
                        if logger.isEnabledFor(logging.DEBUG):
                            self._log(method, path, response.status, state, attempt_started)
                        response.attempts = state.attempt
                        return response
            # The limiter found no turn in time (nothing sent), or a 2xx body was refused.
            except APIError as unsent:
                unsent.attempts = state.attempt if sent else state.attempt - 1
                if isinstance(unsent, APIStatusError):
                    unsent.method, unsent.path = method, path
                raise
            if logger.isEnabledFor(logging.DEBUG):
                self._log(method, path, status or error, state, attempt_started)
            error.attempts = state.attempt
            if not decision.retry:
                raise error from error.__cause__
            logger.debug(
                "retrying %s %s in %.3fs (attempt %d failed)",
                method,
                path,
                decision.delay,
                state.attempt,
            )
            state, not_before = decision.state, now + decision.delay

    def _log(
        self, method: str, path: str, outcome: object, state: CallState, started: float
    ) -> None:
        logger.debug(
            "%s %s -> %s (attempt %d, %.1f ms)",
            method,
            path,
            outcome if isinstance(outcome, int) else type(outcome).__name__,
            state.attempt,
            (time.monotonic() - started) * 1000,
        )
