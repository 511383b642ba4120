"""One HTTP attempt over aiohttp: the only module that calls the aiohttp request API.

:func:`send_once` sends one request and returns a 2xx :class:`Response`, or
raises :class:`AttemptFailed` carrying the library error and how the attempt
failed (:class:`Failure`), which is what the retry decision needs. It knows
nothing of retries, pacing or deadlines: :mod:`._transport` does those.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import aiohttp
import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from ._errormap import BodyWait, ErrorParser, build_status_error
from ._errors import APIConnectionError, APIError, APITimeoutError, DecodeError
from ._retry import Failure, parse_retry_after

__all__ = ["AttemptFailed", "Response", "read_body", "send_once"]

_CHUNK = 64 * 1024


@attrs.define(slots=True)
class Response:
    """A 2xx response: status, headers and the whole body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class AttemptFailed(Exception):
    """Internal: one failed attempt, classified for the retry policy."""

    def __init__(self, failure: Failure, error: APIError, status: int | None = None) -> None:
        self.failure = failure
        self.error = error
        self.status = status


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
    """One attempt: a 2xx :class:`Response`, or :class:`AttemptFailed` describing the failure."""
    try:
        async with session.request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            timeout=limits,
            allow_redirects=False,  # a redirect must never carry credentials elsewhere
        ) as resp:
            body = await read_body(resp, method, path, max_response_bytes)
            status = resp.status
            if 200 <= status < 300:
                return Response(status, resp.headers, body)
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), wall_clock())
            request_id = resp.headers.get("x-request-id")
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
        not_sent = isinstance(exc, aiohttp.ConnectionTimeoutError)
        error: APIError = APITimeoutError(f"{method} {path}: timed out after {limits.total:.3g}s")
        error.__cause__ = exc
        raise AttemptFailed(Failure.NOT_SENT if not_sent else Failure.MAYBE_SENT, error) from exc
    except aiohttp.ClientConnectorError as exc:
        error = APIConnectionError(f"{method} {path}: could not connect: {exc}")
        error.__cause__ = exc
        raise AttemptFailed(Failure.NOT_SENT, error) from exc
    except (aiohttp.ClientError, OSError) as exc:
        error = APIConnectionError(f"{method} {path}: connection failed: {_describe(exc)}")
        error.__cause__ = exc
        raise AttemptFailed(Failure.MAYBE_SENT, error) from exc
    status_error = build_status_error(
        status=status,
        body=body,
        retry_after=retry_after,
        request_id=request_id,
        method=method,
        path=path,
        now=wall_clock(),
        body_wait=body_wait,
        parse_error=parse_error,
    )
    raise AttemptFailed(Failure.STATUS, status_error, status)


async def read_body(resp: aiohttp.ClientResponse, method: str, path: str, limit: int) -> bytes:
    """The whole body, refusing one larger than ``max_response_bytes``."""
    length = resp.content_length
    if length is not None:
        if length > limit:
            raise DecodeError(
                f"{method} {path}: response body of {length} bytes exceeds the {limit}-byte limit"
            )
        if "Content-Encoding" not in resp.headers:
            return await resp.read()  # exactly ``length`` bytes: the fast path
    # Chunked, or compressed (the length is before decompression: a gzip bomb
    # must not get past the cap): count what is decoded.
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise DecodeError(f"{method} {path}: response body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
