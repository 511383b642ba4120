"""The aiohttp sender: the only module that calls the aiohttp request API.

:class:`AiohttpSender` sends one :class:`~._sender.Request` and returns its
:class:`~._sender.Response` (any status), or raises :class:`~._sender.AttemptFailed`
saying whether the request may have reached the server. It knows nothing of
retries, pacing, deadlines or what a status means: :mod:`._transport` does those.

It is also the one place that turns aiohttp's and the OS's exceptions into the
library's own, and it keeps them clean:

* one attempt is one request on the wire: aiohttp's own silent re-send of a
  GET, PUT or DELETE on a dropped connection is switched off on the session we
  own, and refused per request on a caller's (see :class:`_SendOnce`);
* no aiohttp exception is chained: its ``request_info`` (and its traceback's
  frames) hold the request headers, credentials included. A library error's
  ``__cause__`` is a :class:`ClientErrorCause` (type and text, credentials
  removed), and it has no ``__context__``;
* a caller's session cannot change how responses are handled: statuses,
  decompression, timeouts and redirects are set per request;
* a body is read up to the request's cap (after decompression), never beyond.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import anyio
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from ._auth import redact, secret_values
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ClientClosedError,
    InvalidRequestError,
)
from ._sender import AttemptFailed, Failure, Request, Response

__all__ = ["AiohttpSender", "ClientErrorCause"]

logger = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_MAX_CAUSE_TEXT = 300


class _ClosedDuring(Exception):
    """The client was closed while the attempt read its answer."""


#: The attempts on an owned session need no watching (see :meth:`AiohttpSender.send`).
_UNWATCHED: contextlib.nullcontext[None] = contextlib.nullcontext()


class ClientErrorCause(Exception):
    """The ``__cause__`` of a connection or timeout error: what aiohttp (or the OS)
    raised, as its type name and text with the client's credentials removed.

    It stands in for the original exception, which is not chained: its
    ``request_info`` and the frames of its traceback hold the request's
    headers, and error trackers print the whole chain.
    """

    def __init__(self, type_name: str, text: str) -> None:
        super().__init__(f"{type_name}: {text}" if text else type_name)
        self.type_name = type_name
        self.text = text

    def __reduce__(self) -> tuple[Any, ...]:
        return (ClientErrorCause, (self.type_name, self.text))

    def describe(self) -> str:
        """The short form for a message: ``ServerDisconnectedError: Server disconnected``."""
        name = self.type_name.rpartition(".")[2]
        return f"{name}: {self.text}" if self.text else name


class _SendOnce:
    """A per-request aiohttp middleware: the request goes on the wire at most once.

    When the connection drops before the answer, aiohttp sends a GET, PUT or
    DELETE again by itself (its switch for this is private). The server may
    have processed the first one: a DELETE would be done twice, and every
    attempt we count could be two on the wire. Here aiohttp's second pass
    raises what the first one did; the retry policy then decides, knowing that
    the request may have been sent.
    """

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed: BaseException | None = None

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if self.failed is not None:
            raise self.failed
        try:
            return await handler(request)
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
            self.failed = exc
            raise


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class _IdleCheckedConnector(aiohttp.TCPConnector):
    """A pooled connection that received bytes while idle is closed, not reused.

    aiohttp keeps what arrives on an idle keep-alive connection and reads it as the
    answer to the next request sent on it: a server that answered one request twice
    (a handler that wrote a 500 after its 200) made every later answer on that
    connection the previous request's, each key given another key's event. A pooled
    connection is clean (aiohttp pools only those); one that no longer is was written
    to while idle.
    """

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> Connection:
        if req.method not in _READS:
            # A write is not re-sent on a pooled connection that turns out closed: let the
            # loop see a close that has already arrived first (two turns: the socket's
            # events are handled after the task that yields), so that the pool drops it.
            # (A server that closed each connection after its answer failed every write
            # sent right after another call.)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        connection = await super().connect(req, traces, timeout)
        protocol = connection.protocol
        if protocol is None or not protocol.should_close:
            return connection
        # Bounded: each stale connection closed leaves the pool, which holds at most
        # ``limit``; a new connection with bytes before any request is a server that
        # speaks first, not HTTP.
        for _ in range(self.limit + 1):
            logger.warning(
                "%s sent data on an idle connection (an answer no request asked for); closed it",
                req.url.origin(),
            )
            connection.close()
            connection = await super().connect(req, traces, timeout)
            protocol = connection.protocol
            if protocol is None or not protocol.should_close:
                return connection
        connection.close()
        raise aiohttp.ClientConnectionError("the server sends data before any request")


class AiohttpSender:
    """The :class:`common.provider.Sender` over aiohttp: owns or borrows a ``ClientSession``.

    A borrowed session (``session=``) is never closed, and its own settings
    cannot change what a response means; an owned one is created inside the
    running loop on first use (connection pool of ``max_concurrency``) and
    closed by :meth:`aclose`.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        max_concurrency: int = 100,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise InvalidRequestError(
                f"session must be an aiohttp.ClientSession, got {type(session).__name__}",
                field="session",
            )
        if session is not None and trace_configs:
            raise InvalidRequestError(
                "trace_configs are for the session the client creates: give them to your"
                " own session instead (aiohttp.ClientSession(trace_configs=[...]))",
                field="trace_configs",
            )
        self._session = session
        self._owns = session is None
        # An owned session carries these headers itself: a request that sends exactly
        # them (this mapping) passes none, and aiohttp merges nothing per request.
        self._headers = headers if self._owns else None
        self._closed = False
        # The attempts in flight on a borrowed session (closing it is not ours to do, so
        # closing the client cancels them instead; an owned session's close ends them).
        self._in_flight: set[anyio.CancelScope] = set()
        self._max_concurrency = max_concurrency
        self._trace_configs = list(trace_configs)
        # Per-request middlewares replace the session's: keep a borrowed session's own
        # (aiohttp has no public name for them), ours innermost.
        self._middlewares: tuple[aiohttp.ClientMiddlewareType, ...] = tuple(
            getattr(session, "_middlewares", ()) or ()
        )
        # The last attempt's timeout, reused while it does not change (the usual case):
        # building a ClientTimeout costs more than the rest of the call's set-up.
        self._timeout = aiohttp.ClientTimeout()
        self._once = False  # True: the session itself never re-sends (see ``session``)

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session in use; an owned one is created on first use, in the running loop."""
        if self._closed:
            raise ClientClosedError("this client is closed; not sent")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=_IdleCheckedConnector(limit=self._max_concurrency),
                headers=self._headers,
                trace_configs=self._trace_configs or None,
            )
            # aiohttp's own switch for its silent re-send (private, so checked): off on
            # the session we own saves the per-request middleware that refuses it.
            if getattr(self._session, "_retry_connection", None) is True:
                self._session._retry_connection = False
                self._once = True
        return self._session

    def check_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Refuse a borrowed session made in another event loop than ``loop``: its
        connections belong to that one (aiohttp failed with a bare RuntimeError)."""
        theirs = getattr(self._session, "_loop", None)  # aiohttp's own (``.loop`` is deprecated)
        if not self._owns and theirs is not None and theirs is not loop:
            raise InvalidRequestError(
                "the session given (session=) was made in another event loop (an earlier"
                " asyncio.run(), or another thread's loop): make it in the loop that uses the"
                " client; not sent",
                field="session",
            )

    async def aclose(self) -> None:
        """Close an owned session (a borrowed one is left open, and the attempts in flight
        on it end with :class:`ClientClosedError`). Safe twice."""
        self._closed = True
        for attempt in self._in_flight:
            attempt.cancel()
        session, self._session = self._session, None
        if session is not None and self._owns and not session.closed:
            await session.close()

    async def send(self, request: Request) -> Response:
        """One attempt (see :class:`common.provider.Sender`).

        Raises :class:`ClientClosedError` (not retried) when the client or its session
        is closed before or during the attempt.
        """
        session = self.session
        if session.closed:
            raise ClientClosedError(
                f"{request.what}: the client (or its session) is closed; not sent"
            )
        if session.auth is not None:
            raise InvalidRequestError(
                "the session must not carry its own auth=: the client sends its credentials",
                field="session",
            )
        timeout = self._timeout
        if timeout.total != request.timeout:
            # aiohttp rounds a timeout of 5 s or more up to a whole second of the loop's
            # clock (ceil_threshold): a 7.3 s deadline ended at 8.2 s. Never rounded here.
            timeout = self._timeout = aiohttp.ClientTimeout(
                total=request.timeout, ceil_threshold=math.inf
            )
        # An attempt on a borrowed session is watched: closing the client cancels it (an
        # owned session's close ends it). Written in line, not as a coroutine around the
        # attempt: every await layer costs each request up to a microsecond in bulk.
        watch: anyio.CancelScope | contextlib.nullcontext[None] = _UNWATCHED
        if not self._owns:
            watch = anyio.CancelScope()
            self._in_flight.add(watch)
        failed: AttemptFailed | None = None
        closed = False
        try:
            with watch:
                async with session.request(
                    request.method,
                    request.url,
                    data=request.body,
                    headers=None if request.headers is self._headers else request.headers,
                    timeout=timeout,
                    allow_redirects=False,  # a redirect must never carry credentials elsewhere
                    # A borrowed session's own settings must not change what a response means.
                    raise_for_status=False,
                    auto_decompress=True,
                    middlewares=self._middlewares
                    if self._once
                    else (*self._middlewares, _SendOnce()),
                ) as resp:
                    limit, length = request.max_response_bytes, resp.content_length
                    if resp.status >= 300:
                        limit = request.max_error_bytes
                    # A body as sent, of a known length within the cap: read at once
                    # (compressed, it is counted as it is decoded).
                    plain = "Content-Encoding" not in resp.headers
                    if length is not None and length <= limit and plain:
                        body, complete = await resp.read(), True
                    else:
                        body, complete = await _read_capped(resp, limit)
                    if self._closed:  # aclose() cut the connection: a body of no length ends
                        raise _ClosedDuring  # there, and is no answer
                    return Response(resp.status, resp.headers, body, not complete)
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            not_sent = isinstance(exc, aiohttp.ConnectionTimeoutError)
            error: APIError = APITimeoutError(
                f"{request.what}: timed out after {request.timeout:.3g}s"
            )
            error.__cause__ = _clean(exc, session, request.headers)
            failed = AttemptFailed(Failure.NOT_SENT if not_sent else Failure.MAYBE_SENT, error)
        except aiohttp.ClientConnectorError as exc:
            cause = _clean(exc, session, request.headers)
            error = APIConnectionError(f"{request.what}: could not connect: {cause.describe()}")
            error.__cause__ = cause
            failed = AttemptFailed(Failure.NOT_SENT, error)
        except (aiohttp.ClientError, OSError) as exc:
            cause = _clean(exc, session, request.headers)
            error = APIConnectionError(f"{request.what}: connection failed: {cause.describe()}")
            error.__cause__ = cause
            failed = AttemptFailed(Failure.MAYBE_SENT, error)
        except RuntimeError:
            if not session.closed:
                raise
            closed = True
        except _ClosedDuring:
            pass  # (failed None, not closed: the client was closed during the attempt)
        finally:
            if isinstance(watch, anyio.CancelScope):
                self._in_flight.discard(watch)
        # Raised here, outside the handlers: an exception raised inside one would
        # carry the aiohttp exception as its __context__.
        if failed is None and not closed:  # here only when aclose() cancelled the attempt
            raise ClientClosedError(
                f"{request.what}: the client was closed during the request; it may have been sent"
            )
        if session.closed:
            raise ClientClosedError(
                f"{request.what}: the client (or its session) was closed during the request;"
                " it may have been sent"
            )
        assert failed is not None
        raise failed


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The body and True, or (what was read, False) when it is over ``limit`` bytes.

    The rest of an oversized body is left unread (the connection is then closed,
    not reused). (A plain body of a known length within the cap is read at once by
    :meth:`AiohttpSender.send`: exactly ``length`` bytes.)
    """
    if resp.content_length is not None and resp.content_length > limit:
        return b"", False
    # Chunked, or compressed (the length is before decompression: a gzip bomb
    # must not get past the cap): count what is decoded.
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), False
        chunks.append(chunk)
    return b"".join(chunks), True


def _secrets(session: aiohttp.ClientSession, headers: Mapping[str, str]) -> tuple[str, ...]:
    """The credentials this request carried (the session's headers and its own)."""
    return secret_values(itertools.chain(session.headers.items(), headers.items()))


def _clean(
    exc: BaseException, session: aiohttp.ClientSession, headers: Mapping[str, str]
) -> ClientErrorCause:
    """A stand-in for ``exc``: never raised (no traceback), no chain, no request_info."""
    text = redact(str(exc), _secrets(session, headers))
    if len(text) > _MAX_CAUSE_TEXT:
        text = text[:_MAX_CAUSE_TEXT] + "…"
    kind = type(exc)
    module = "" if kind.__module__ == "builtins" else kind.__module__ + "."
    return ClientErrorCause(module + kind.__qualname__, text)
