"""The seam under the transport: one attempt is a :class:`Request` in and a :class:`Response`
out, through a :class:`Sender` (:class:`common.provider.AiohttpSender` over HTTP, the default;
:class:`common.testing.MemorySender` in tests and simulations). A sender only moves bytes; the
transport decides the rest (retries, pacing, deadlines, what a status means).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Protocol

import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._auth import Headers
from ._errors import APIError

__all__ = ["AttemptFailed", "Failure", "Request", "Response", "Sender"]


class Failure(enum.Enum):
    """How an attempt failed, as far as retrying is concerned."""

    NOT_SENT = "not_sent"  #: no connection (refused, DNS, connect timeout): never seen
    MAYBE_SENT = "maybe_sent"  #: broke or timed out after the request may have gone
    STATUS = "status"  #: the server answered with a status


def _masked(headers: Mapping[str, str]) -> str:
    return repr(headers if isinstance(headers, Headers) else Headers(headers))


@attrs.frozen
class Request:
    """One attempt, complete: what a :class:`Sender` puts on the wire."""

    method: str
    #: Absolute, query included, already escaped.
    url: URL
    #: Every header to send (the client's, its credentials, this request's); the repr
    #: shows a credential as ``<redacted>``.
    headers: Mapping[str, str] = attrs.field(repr=_masked)
    body: bytes | None = None
    #: Seconds the whole attempt may take, answer body included.
    timeout: float = 30.0
    #: Read at most this much of the answer's body (:attr:`Response.truncated` beyond),
    #: and of an answer that is no success at most :data:`MAX_ERROR_BODY`.
    max_response_bytes: int = 64 * 1024 * 1024
    #: The path as the operation wrote it, for messages (never the query: it may hold data).
    path: str = ""

    @property
    def max_error_bytes(self) -> int:
        """The most of an error's body to read (its text is shown, cut to 500 characters:
        a body of 300,000 field errors, 5 MB, held the event loop for seconds)."""
        return min(self.max_response_bytes, MAX_ERROR_BODY)

    @property
    def what(self) -> str:
        """``"GET /path"``, the prefix of every message about this attempt."""
        return f"{self.method} {self.path or self.url.raw_path}"


def _headers(value: Mapping[str, str]) -> CIMultiDictProxy[str]:
    return value if isinstance(value, CIMultiDictProxy) else CIMultiDictProxy(CIMultiDict(value))


#: The most of a body that is no success's (status 300 or more) that a sender reads.
MAX_ERROR_BODY = 1024 * 1024


@attrs.frozen
class Response:
    """An answer, of any status: status, headers (case-insensitive) and body."""

    status: int
    headers: CIMultiDictProxy[str] = attrs.field(factory=dict, converter=_headers)
    body: bytes = b""
    #: The body was longer than the request's ``max_response_bytes``: ``body`` is its start.
    truncated: bool = False
    #: How many attempts the call took, this one included (set by the transport, so that
    #: an error decoding the body counts them).
    attempts: int = 1


class AttemptFailed(Exception):
    """An attempt without an answer (or, from the transport, with an error status):
    ``failure`` says whether it may have reached the server, ``error`` is what the caller
    sees if it is not retried."""

    def __init__(self, failure: Failure, error: APIError, status: int | None = None) -> None:
        super().__init__(str(error))
        self.failure = failure
        self.error = error
        self.status = status


class Sender(Protocol):
    """Sends one attempt: the answer, whatever its status, or :class:`AttemptFailed`
    (``Failure.NOT_SENT`` only when the request cannot have reached the server), or
    :class:`common.ClientClosedError` once closed. Never retries, never sends twice."""

    async def send(self, request: Request) -> Response:
        """One attempt."""
        ...

    async def aclose(self) -> None:
        """Release what the sender owns (the transport closes it with itself)."""
        ...
