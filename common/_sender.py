"""The seam under the transport: one attempt is a :class:`Request` value in and a
:class:`Response` value out, through a :class:`Sender`.

The transport builds the request (URL with its query, every header, body, the
attempt's timeout and body cap) and decides everything else: retries, pacing,
deadlines, what a status means. A sender only moves bytes: the aiohttp one
(:class:`common.provider.AiohttpSender`, the default) over HTTP, an in-memory one
(:class:`common.testing.MemorySender`) in tests and simulations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._errors import APIError
from ._retry import Failure

__all__ = ["AttemptFailed", "Request", "Response", "Sender"]


@attrs.frozen
class Request:
    """One attempt, complete: what a :class:`Sender` puts on the wire."""

    method: str
    """Upper-case HTTP method."""
    url: URL
    """Absolute URL, query included, already escaped."""
    headers: Mapping[str, str]
    """Every header to send (the client's, its credentials and this request's)."""
    body: bytes | None = None
    """The body, or None for none."""
    timeout: float = 30.0
    """Seconds the whole attempt may take, answer body included."""
    max_response_bytes: int = 64 * 1024 * 1024
    """Read at most this much of the answer's body (:attr:`Response.truncated` beyond)."""
    path: str = ""
    """The path as the operation wrote it, for messages (never the query: it may hold data)."""

    @property
    def what(self) -> str:
        """``"GET /path"``, the prefix of every message about this attempt."""
        return f"{self.method} {self.path or self.url.raw_path}"


def _headers(value: Mapping[str, str]) -> CIMultiDictProxy[str]:
    if isinstance(value, CIMultiDictProxy):
        return value
    return CIMultiDictProxy(CIMultiDict(value))


@attrs.frozen
class Response:
    """An answer, of any status: status, headers (case-insensitive) and body."""

    status: int
    headers: CIMultiDictProxy[str] = attrs.field(factory=dict, converter=_headers)
    body: bytes = b""
    #: The body was longer than the request's ``max_response_bytes``: :attr:`body` is
    #: what was read of it (possibly nothing).
    truncated: bool = False
    #: How many attempts the call took, this one included (set by the transport, so that
    #: an error decoding the body counts them).
    attempts: int = 1

    @property
    def ok(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status < 300


class AttemptFailed(Exception):
    """An attempt that got no answer (or, from the transport, an error status), classified
    for the retry policy: :attr:`failure` says whether the request may have reached the
    server, :attr:`error` is the library error the caller sees if it is not retried."""

    def __init__(self, failure: Failure, error: APIError, status: int | None = None) -> None:
        super().__init__(str(error))
        self.failure = failure
        self.error = error
        self.status = status


class Sender(Protocol):
    """Sends one attempt. :meth:`send` returns the answer, whatever its status, or raises
    :class:`AttemptFailed` (no answer: ``Failure.NOT_SENT`` when the request cannot have
    reached the server, ``Failure.MAYBE_SENT`` otherwise), :class:`common.ClientClosedError`
    once closed. It never retries and never sends a request twice."""

    async def send(self, request: Request) -> Response:
        """One attempt."""
        ...

    async def aclose(self) -> None:
        """Release what the sender owns (it is the transport's: closed with it)."""
        ...
