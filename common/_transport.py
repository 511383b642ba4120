"""The I/O shell: one request path that every provider operation goes through.

``provider method → Transport.request → limiter slot (concurrency cap, cool-down,
probe, pacing; all bounded by the deadline) → Sender.send(Request) → decide → Response``
and then the provider decodes the body. The decisions (retry or not, how long,
what the limiter learns) are the pure :func:`._retry.decide`; the pacing rules
are :mod:`.ratelimit`'s; this module only does I/O and bookkeeping.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import attrs
from yarl import URL

from ._auth import Auth, Headers, NoAuth, redact, secret_values
from ._clock import loop_time, wall_time
from ._errormap import BodyWait, ErrorParser, build_status_error, parse_error_body
from ._errors import (
    APIError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    DecodeError,
    InvalidRequestError,
)
from ._http import AiohttpSender
from ._json import dumps
from ._log import configure_from_env, log_attempt, one_line
from ._options import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RESPONSE_BYTES,
    CallOptions,
    ClientOptions,
    Options,
    resolve_options,
)
from ._retry import (
    CallState,
    FailedAttempt,
    RetryPolicy,
    decide,
    longest_retry_after,
    server_now,
)
from ._sender import AttemptFailed, Failure, Request, Response, Sender
from ._url import check_query, validate_base_url
from ._validate import check_header
from .ratelimit import Limiter, LocalLimiter, Report

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DEFAULT_DEADLINE", "DEFAULT_MAX_RESPONSE_BYTES", "Transport"]

logger = logging.getLogger(__name__)

#: Every call starts here (immutable: one for all).
_FIRST_ATTEMPT = CallState()


@attrs.define
class _Shared:
    """What a transport shares with those derived from it by :meth:`Transport.with_options`:
    the sender (session), the limiter (rate budget and concurrency cap) and the headers."""

    sender: Sender
    limiter: Limiter
    headers: dict[str, str]
    closed: bool = False
    #: The event loop of the first request: the session's connections and the limiter's
    #: waiters belong to it.
    loop: asyncio.AbstractEventLoop | None = None


class Transport:
    """Sends requests through the policy (limiter, retries, deadline) and a :class:`Sender`.

    The sender is :class:`common.provider.AiohttpSender` unless ``sender=`` names
    another (tests and simulations: :class:`common.testing.MemorySender`); it is
    the transport's and closed with it. The aiohttp one owns or borrows a
    ``ClientSession``: a borrowed session (``session=``) is never closed; an
    owned one is created inside the running loop on first use and closed by
    :meth:`aclose` (also on ``async with`` exit, even when cancelled) of the
    transport that created it; a transport derived with :meth:`with_options`
    borrows everything from it. Options are :class:`common.Options` fields, as
    keywords or ``options=``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        session: aiohttp.ClientSession | None = None,
        sender: Sender | None = None,
        headers: Mapping[str, str] | None = None,
        body_wait: BodyWait | None = None,
        parse_error: ErrorParser = parse_error_body,
        provider: str = "http",
        options: Options | None = None,
        **overrides: Unpack[ClientOptions],
    ) -> None:
        self.base_url = validate_base_url(base_url)
        # Each request's URL is this one with its path set: nothing parsed per request.
        self._base = URL(self.base_url, encoded=True)
        self._prefix = self._base.raw_path.rstrip("/")
        self.options = resolve_options(options, **overrides)
        self._auth: Auth = auth or NoAuth()
        self._body_wait = body_wait
        self._parse_error = parse_error
        all_headers = Headers(
            {"Accept": "application/json", "User-Agent": "eventsync/0.1 (+aiohttp)"}
        )
        all_headers.update(headers or {})
        all_headers.update(self._auth.headers())
        for name, value in all_headers.items():  # a CR or LF would fail every call, untyped
            check_header(name, value)
        if sender is None:
            sender = AiohttpSender(
                session,
                headers=all_headers,
                max_concurrency=self.options.max_concurrency,
                trace_configs=self.options.trace_configs,
            )
        elif session is not None:
            raise InvalidRequestError("give a session or a sender, not both", field="sender")
        elif not all(callable(getattr(sender, name, None)) for name in ("send", "aclose")):
            raise InvalidRequestError(
                f"sender must be a common.provider.Sender (send and aclose), got"
                f" {type(sender).__name__}",
                field="sender",
            )
        self._shared = _Shared(sender, self._build_limiter(provider), all_headers)
        # A borrowed session's own headers go out too (under ours): redacted from errors.
        self._session_headers: Mapping[str, str] = session.headers if session is not None else {}
        self._owner = True
        self._closed = False
        #: The deadline of one call that sends several requests (:meth:`until`).
        self._until: float | None = None
        self._configure()
        configure_from_env()  # EVENTSYNC_LOG=debug: request logs without code

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

    def with_options(self, **changes: Unpack[CallOptions]) -> Transport:
        """A transport with changed per-call options sharing this one's sender and limiter.

        Closing it closes nothing shared; closing this one closes the shared sender
        (and an owned session) and makes the derived ones refuse further calls.
        """
        derived = copy.copy(self)
        derived.options = resolve_options(self.options, per_call_only=True, **changes)
        derived._owner = False
        derived._closed = False
        derived._configure()
        return derived

    def until(self, deadline_at: float | None) -> Transport:
        """A transport whose every request also ends by ``deadline_at`` (from
        :meth:`deadline_at`): one call that sends several requests (pages, a fall-back
        method) ends by one deadline. It shares everything and owns nothing, as one from
        :meth:`with_options`."""
        derived = copy.copy(self)
        derived._owner = False
        if deadline_at is not None and (self._until is None or deadline_at < self._until):
            derived._until = deadline_at
        return derived

    def __repr__(self) -> str:
        # (a constructor that failed leaves no attributes: a traceback shown with its
        # locals calls this on the half-built object)
        url, auth = getattr(self, "base_url", None), getattr(self, "_auth", None)
        return f"Transport(base_url={url!r}, auth={auth!r})"

    @property
    def limiter(self) -> Limiter:
        """The limiter (rate budget, cool-down, concurrency cap) this transport sends through."""
        return self._shared.limiter

    # -- lifecycle -------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp sender's session; an owned one is created on first use, in the
        running loop. :class:`TypeError` for another sender."""
        self._check_open()
        sender = self._shared.sender
        if not isinstance(sender, AiohttpSender):
            raise TypeError(f"a {type(sender).__name__} has no aiohttp session")
        return sender.session

    def _check_open(self) -> None:
        if self._closed or self._shared.closed:
            raise ClientClosedError("this client is closed; not sent")

    def _first_use(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the client to ``loop``, the running one, or refuse another one: a session's
        connections and the limiter's waiters belong to the loop that made them (another
        thread's loop was never woken; a dead one failed with a bare RuntimeError)."""
        shared = self._shared
        if shared.loop is not None:
            raise InvalidRequestError(
                "this client was first used in another event loop (an earlier"
                " asyncio.run(), or another thread's loop) and its connections and"
                " waiters belong to it: create, use and close a client inside one event"
                " loop; not sent"
            )
        if isinstance(shared.sender, AiohttpSender):
            shared.sender.check_loop(loop)
        shared.loop = loop

    async def aclose(self) -> None:
        """Close what this transport owns (a borrowed session is left open). Safe twice.

        A derived transport (:meth:`with_options`) owns nothing: it only stops itself.
        """
        shared = self._shared
        loop = asyncio.get_running_loop()
        if self._owner and shared.loop is not None and shared.loop is not loop:
            # (refused before anything is marked closed: its own loop can still use it)
            raise InvalidRequestError(
                "this client was used in another event loop (an earlier asyncio.run(), or"
                " another thread's loop) and its connections and waiters belong to it: close"
                " it there; not closed"
            )
        self._closed = True
        if not self._owner:
            return
        shared.closed = True
        # To its end even if this task is cancelled meanwhile: an anyio shield stops anyio's
        # cancellations only, and asyncio's own (task.cancel(), asyncio.timeout) cut the
        # close short, leaving the session's or Redis's connections open.
        closing = loop.create_task(self._close(shared))
        cancelled: BaseException | None = None
        with anyio.CancelScope(shield=True):
            while not closing.done():
                try:
                    await asyncio.shield(closing)
                except asyncio.CancelledError as exc:
                    cancelled = exc
        if cancelled is not None:
            if not closing.cancelled():
                closing.exception()  # (retrieved: a failed close gives way to the cancellation)
            raise cancelled

    @staticmethod
    async def _close(shared: _Shared) -> None:
        try:
            await shared.limiter.aclose()
        finally:
            await shared.sender.aclose()

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- requests --------------------------------------------------------------

    def _within(self, request: Request, deadline_at: float | None, now: float) -> Request:
        """The attempt, its timeout shortened to what the overall deadline leaves."""
        if deadline_at is None:
            return request
        remaining = deadline_at - now
        if remaining >= self.timeout:
            return request
        if remaining <= 0:  # not an attempt: nothing is sent
            raise APITimeoutError(
                f"{request.what}: overall deadline of {self.deadline}s passed before sending"
            )
        return attrs.evolve(request, timeout=remaining)

    def deadline_at(self) -> float | None:
        """When a call starting now must end (the loop's clock), or None: no deadline."""
        return None if self.deadline is None else loop_time() + self.deadline

    def _secrets(self, headers: Mapping[str, str]) -> tuple[str, ...]:
        """The credentials a request with ``headers`` carries (a borrowed session's too)."""
        return secret_values(itertools.chain(self._session_headers.items(), headers.items()))

    def redact(self, text: str) -> str:
        """``text`` without the credentials this transport sends (a server may echo one
        into a body the client then fails to decode)."""
        return redact(text, self._secrets(self._shared.headers))

    def _scrub(self, error: APIError, headers: Mapping[str, str]) -> None:
        """Take the credentials out of the text and the path of an error about to leave: a
        credential given as an id reaches the path, which the error names (the server's own
        text is redacted as it is read). Only on the way out: no cost to an answer."""
        secrets = self._secrets(headers)
        message = redact(error.message, secrets)
        if message != error.message:
            error.message = message
            error.args = (message, *error.args[1:])
        if isinstance(error, APIStatusError) and error.path is not None:
            error.path = redact(error.path, secrets)

    def _answer(self, request: Request, response: Response) -> Response:
        """The 2xx response, or :class:`AttemptFailed` with the error a status means."""
        if 200 <= response.status < 300:
            if response.truncated:
                raise DecodeError(
                    f"{request.what}: response body exceeds the"
                    f" {request.max_response_bytes}-byte limit"
                )
            return response
        headers = response.headers
        now = server_now(headers.get("Date"), wall_time())
        error = build_status_error(
            status=response.status,
            body=b"" if response.truncated else response.body,
            retry_after=longest_retry_after(headers.getall("Retry-After", ()), now),
            request_id=headers.get("x-request-id"),
            method=request.method,
            path=request.path,
            now=now,
            body_wait=self._body_wait,
            parse_error=self._parse_error,
            secrets=self._secrets(request.headers),
            body_limit=request.max_error_bytes if response.truncated else None,
        )
        raise AttemptFailed(Failure.STATUS, error, response.status)

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
        deadline_at: float | None = None,
    ) -> Response:
        """Send one logical request, retrying per policy; return the 2xx response.

        ``path`` must already be built with :func:`common.provider.build_path` (each
        parameter escaped). ``idempotency_key`` is sent as ``Idempotency-Key``
        on every attempt and lets a write be retried; ``allow_write_retries``
        overrides that rule for this call (the rules: ``docs/guides/errors.md``).
        ``deadline_at`` (from :meth:`deadline_at`): the deadline of a call that began
        before this request, when one call sends two (a fall-back method after a 405).
        Raises the :class:`APIStatusError` subclass for a non-2xx answer,
        :class:`APITimeoutError`/:class:`APIConnectionError` for transport
        failures, with ``attempts`` set and the cause chained; a
        :class:`RateLimitError` or :class:`APITimeoutError` without sending when
        a cool-down or the deadline leaves no turn.
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        if self._shared.loop is not loop:
            self._first_use(loop)
        if "?" in path or "#" in path:  # not from build_path: parsed as it always was
            url = URL(self.base_url + path, encoded=True)
        else:
            url = self._base.with_path(self._prefix + path, encoded=True)
        if params:
            check_query(params)
            url = url.extend_query(params)
        send_headers = self._shared.headers
        if headers or idempotency_key is not None or json is not None:
            for name, value in (headers or {}).items():
                check_header(name, value)
            send_headers = Headers({**send_headers, **(headers or {})})
            if idempotency_key is not None:
                send_headers["Idempotency-Key"] = idempotency_key
            if json is not None:
                send_headers["Content-Type"] = "application/json"
        body = None if json is None else dumps(json)
        request = Request(
            method, url, send_headers, body, self.timeout, self.max_response_bytes, path
        )
        sender = self._shared.sender
        policy, limiter, what = self.policy, self._shared.limiter, f"{method} {path}: "
        started = loop.time()
        until = self._until
        if until is not None and (deadline_at is None or until < deadline_at):
            deadline_at = until
        if self.deadline is not None:  # the sooner of this transport's and the call's
            own = started + self.deadline
            deadline_at = own if deadline_at is None or own < deadline_at else deadline_at
        state, not_before = _FIRST_ATTEMPT, 0.0
        while True:
            sent = False
            try:
                async with limiter.slot(
                    deadline_at,
                    not_before=not_before,
                    max_wait=policy.max_retry_wait,
                    lease=self.timeout,  # a probe holds the others back no longer than it
                    what=what,
                ) as slot:
                    if self._closed:  # a derived client closed while this call waited
                        self._check_open()
                    attempt_started = loop.time()
                    attempt = self._within(request, deadline_at, attempt_started)
                    sent = True
                    try:
                        response = self._answer(attempt, await sender.send(attempt))
                    except AttemptFailed as failed:
                        error = failed.error
                        wait = error.retry_after if isinstance(error, APIStatusError) else None
                        keyed = idempotency_key is not None
                        outcome = FailedAttempt(
                            method, failed.failure, failed.status, wait, keyed, allow_write_retries
                        )
                        now = loop.time()
                        decision = decide(outcome, state, policy, now, deadline_at)
                        slot.report(decision.report)
                    else:
                        slot.report(Report.accepted())
                        if logger.isEnabledFor(logging.DEBUG):
                            self._log(method, path, params, response.status, state, attempt_started)
                        if state.attempt > 1:  # for the errors of decoding the body
                            response = attrs.evolve(response, attempts=state.attempt)
                        return response
            # The limiter found no turn in time (nothing sent), or a 2xx body was refused.
            except APIError as unsent:
                unsent.attempts = state.attempt if sent else state.attempt - 1
                if isinstance(unsent, APIStatusError):
                    unsent.method, unsent.path = method, path
                self._scrub(unsent, request.headers)
                raise
            if logger.isEnabledFor(logging.DEBUG):
                self._log(method, path, params, error, state, attempt_started)
            error.attempts = state.attempt
            if not decision.retry:
                self._scrub(error, request.headers)
                raise error from error.__cause__
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "retrying %s %s in %.3fs (attempt %d failed)",
                    method,
                    one_line(self.redact(path)),
                    decision.delay,
                    state.attempt,
                )
            state, not_before = decision.state, now + decision.delay

    def _log(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        outcome: object,
        state: CallState,
        started: float,
    ) -> None:
        log_attempt(
            logger,
            method,
            path,
            params,
            outcome,
            state.attempt,
            loop_time() - started,
            self._shared.headers,
        )
