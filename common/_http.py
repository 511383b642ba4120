"""One HTTP attempt over aiohttp: the only module that calls the aiohttp request API.

:func:`send_once` sends one request and returns a 2xx :class:`Response`, or
raises :class:`AttemptFailed` carrying the library error and how the attempt
failed (:class:`Failure`), which is what the retry decision needs. It knows
nothing of retries, pacing or deadlines: :mod:`._transport` does those.

It is also the one place that turns aiohttp's and the OS's exceptions into the
library's own, and it keeps them clean:

* one attempt is one request on the wire: aiohttp's own silent re-send of a
  GET, PUT or DELETE on a dropped connection is refused (see :class:`_SendOnce`);
* no aiohttp exception is chained: its ``request_info`` (and its traceback's
  frames) hold the request headers, credentials included. A library error's
  ``__cause__`` is a :class:`ClientErrorCause` (type and text, credentials
  removed), and it has no ``__context__``;
* a caller's session cannot change how responses are handled: statuses,
  decompression, timeouts and redirects are set per request.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping, Sequence

import aiohttp
import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from ._auth import redact, secret_values
from ._errormap import BodyWait, ErrorParser, build_status_error
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ClientClosedError,
    DecodeError,
    InvalidRequestError,
)
from ._retry import Failure, parse_retry_after
from ._url import check_query

__all__ = ["AttemptFailed", "ClientErrorCause", "Response", "send_once"]

_CHUNK = 64 * 1024
_MAX_CAUSE_TEXT = 300


@attrs.define(slots=True)
class Response:
    """A 2xx response: status, headers and the whole body; ``attempts``: how many the
    call took, this one included (for the errors of decoding it)."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    attempts: int = 1


class AttemptFailed(Exception):
    """Internal: one failed attempt, classified for the retry policy."""

    def __init__(self, failure: Failure, error: APIError, status: int | None = None) -> None:
        self.failure = failure
        self.error = error
        self.status = status


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


def _middlewares(session: aiohttp.ClientSession) -> Sequence[aiohttp.ClientMiddlewareType]:
    # Per-request middlewares replace the session's: keep a caller's own, ours innermost.
    own: Sequence[aiohttp.ClientMiddlewareType] = getattr(session, "_middlewares", ()) or ()
    return (*own, _SendOnce())


async def send_once(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    path: str,
    params: Mapping[str, str] | None,
    data: bytes | None,
    headers: Mapping[str, str] | None,
    limits: aiohttp.ClientTimeout,
    *,
    max_response_bytes: int,
    wall_clock: Callable[[], float],
    body_wait: BodyWait | None,
    parse_error: ErrorParser,
) -> Response:
    """One attempt: a 2xx :class:`Response`, or :class:`AttemptFailed` describing the failure.

    Raises :class:`ClientClosedError` (not retried) when the session is closed
    before or during the attempt, :class:`InvalidRequestError` (nothing sent)
    for a query that is not valid text, :class:`DecodeError` for a 2xx body
    over ``max_response_bytes``.
    """
    if session.closed:
        raise ClientClosedError(f"{method} {path}: the client (or its session) is closed; not sent")
    if session.auth is not None:
        raise InvalidRequestError(
            "the session must not carry its own auth=: the client sends its credentials",
            field="session",
        )
    if params:
        check_query(params)
    failed: AttemptFailed | None = None
    closed = False
    try:
        async with session.request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            timeout=limits,
            allow_redirects=False,  # a redirect must never carry credentials elsewhere
            # A borrowed session's own settings must not change what a response means.
            raise_for_status=False,
            auto_decompress=True,
            middlewares=_middlewares(session),
        ) as resp:
            status = resp.status
            ok = 200 <= status < 300
            body, complete = await _read_capped(resp, max_response_bytes)
            if ok:
                if not complete:
                    raise DecodeError(
                        f"{method} {path}: response body exceeds the"
                        f" {max_response_bytes}-byte limit"
                    )
                return Response(status, resp.headers, body)
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), wall_clock())
            request_id = resp.headers.get("x-request-id")
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
        not_sent = isinstance(exc, aiohttp.ConnectionTimeoutError)
        error: APIError = APITimeoutError(f"{method} {path}: timed out after {limits.total:.3g}s")
        error.__cause__ = _clean(exc, session, headers)
        failed = AttemptFailed(Failure.NOT_SENT if not_sent else Failure.MAYBE_SENT, error)
    except aiohttp.ClientConnectorError as exc:
        cause = _clean(exc, session, headers)
        error = APIConnectionError(f"{method} {path}: could not connect: {cause.describe()}")
        error.__cause__ = cause
        failed = AttemptFailed(Failure.NOT_SENT, error)
    except (aiohttp.ClientError, OSError) as exc:
        cause = _clean(exc, session, headers)
        error = APIConnectionError(f"{method} {path}: connection failed: {cause.describe()}")
        error.__cause__ = cause
        failed = AttemptFailed(Failure.MAYBE_SENT, error)
    except RuntimeError:
        if not session.closed:
            raise
        closed = True
    # Raised here, outside the handlers: an exception raised inside one would
    # carry the aiohttp exception as its __context__.
    if session.closed and (closed or failed is not None):
        raise ClientClosedError(
            f"{method} {path}: the client (or its session) was closed during the request;"
            " it may have been sent"
        )
    if failed is not None:
        raise failed
    status_error = build_status_error(
        status=status,
        body=body if complete else b"",
        retry_after=retry_after,
        request_id=request_id,
        method=method,
        path=path,
        now=wall_clock(),
        body_wait=body_wait,
        parse_error=parse_error,
        secrets=_secrets(session, headers),
        body_limit=None if complete else max_response_bytes,
    )
    raise AttemptFailed(Failure.STATUS, status_error, status)


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The body and True, or (what was read, False) when it is over ``limit`` bytes.

    The rest of an oversized body is left unread (the connection is then closed,
    not reused).
    """
    length = resp.content_length
    if length is not None:
        if length > limit:
            return b"", False
        if "Content-Encoding" not in resp.headers:
            return await resp.read(), True  # exactly ``length`` bytes: the fast path
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


def _secrets(session: aiohttp.ClientSession, headers: Mapping[str, str] | None) -> tuple[str, ...]:
    """The credentials this request carried (the session's headers and its own)."""
    return secret_values(itertools.chain(session.headers.items(), (headers or {}).items()))


def _clean(
    exc: BaseException, session: aiohttp.ClientSession, headers: Mapping[str, str] | None
) -> ClientErrorCause:
    """A stand-in for ``exc``: never raised (no traceback), no chain, no request_info."""
    text = redact(str(exc), _secrets(session, headers))
    if len(text) > _MAX_CAUSE_TEXT:
        text = text[:_MAX_CAUSE_TEXT] + "…"
    kind = type(exc)
    module = "" if kind.__module__ == "builtins" else kind.__module__ + "."
    return ClientErrorCause(module + kind.__qualname__, text)
