"""An in-memory :class:`common.provider.Sender`: requests answered by a Python function.

With :func:`run_virtual` (a virtual clock) the transport's whole policy (retries,
backoff, ``Retry-After``, the limiter's pacing and cool-downs, deadlines,
pagination) runs in microseconds and deterministically, no sockets involved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import attrs
import msgspec

from .._errors import APIConnectionError, APITimeoutError, ClientClosedError
from .._sender import AttemptFailed, Failure, Request, Response

__all__ = ["MemoryHandler", "MemorySender", "Sent", "connection_lost", "not_connected", "reply"]

MemoryHandler = Callable[[Request], Awaitable[Response]]
"""Answers one request (or raises :class:`common.provider.AttemptFailed`, e.g.
:func:`connection_lost`); it may sleep (past ``request.timeout`` it times out)."""


@attrs.frozen
class Sent:
    """One request the sender received, and when (loop time)."""

    request: Request
    at: float


def reply(
    data: Any = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    body: bytes | None = None,
) -> Response:
    """A response with ``data`` as its JSON body (or ``body`` verbatim)."""
    if body is None:
        body = b"" if data is None else msgspec.json.encode(data)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return Response(status, all_headers, body)


def not_connected(request: Request) -> AttemptFailed:
    """The failure of a connection that could not be made (the request was not sent)."""
    return AttemptFailed(
        Failure.NOT_SENT, APIConnectionError(f"{request.what}: could not connect (in memory)")
    )


def connection_lost(request: Request) -> AttemptFailed:
    """The failure of a connection lost after sending (the server may have acted on it)."""
    return AttemptFailed(
        Failure.MAYBE_SENT, APIConnectionError(f"{request.what}: connection lost (in memory)")
    )


class MemorySender:
    """Answers every request with ``handler(request)``; records them in :attr:`sent`.

    The request's ``timeout`` bounds the handler (an :class:`common.APITimeoutError`
    attempt failure, possibly sent, beyond it) and its ``max_response_bytes`` cuts the
    body (``truncated``), as over HTTP.
    """

    def __init__(self, handler: MemoryHandler) -> None:
        self.handler = handler
        self.sent: list[Sent] = []
        """Every request received, in order."""
        self.closed = False

    @property
    def requests(self) -> list[Request]:
        """The requests received, in order."""
        return [sent.request for sent in self.sent]

    async def send(self, request: Request) -> Response:
        """One attempt (see :class:`common.provider.Sender`)."""
        if self.closed:
            raise ClientClosedError(f"{request.what}: the sender is closed; not sent")
        self.sent.append(Sent(request, anyio.current_time()))
        with anyio.move_on_after(request.timeout) as scope:
            response = await self.handler(request)
        if scope.cancelled_caught:
            raise AttemptFailed(
                Failure.MAYBE_SENT,
                APITimeoutError(f"{request.what}: timed out after {request.timeout:.3g}s"),
            )
        limit = request.max_error_bytes if response.status >= 300 else request.max_response_bytes
        if len(response.body) > limit:
            return attrs.evolve(response, body=response.body[:limit], truncated=True)
        return response

    async def aclose(self) -> None:
        """Refuse further requests."""
        self.closed = True
