"""The base of both provider clients: configuration, lifecycle, request + decode.

A provider client is this plus its auth, its models and one thin method per
operation; it never re-implements transport, retries or decoding.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import aiohttp

from ._auth import Auth
from ._decode import Decoder
from ._errormap import BodyWait, ErrorParser, parse_error_body
from ._errors import APIStatusError, DecodeError
from ._options import CallOptions, ClientOptions, Options
from ._sender import Response, Sender
from ._transport import Transport

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["BaseClient", "RequestArgs"]

T = TypeVar("T")
C = TypeVar("C", bound="BaseClient")


class RequestArgs(TypedDict, total=False):
    """The keywords of :meth:`Transport.request`, for the layers that pass them on."""

    params: Mapping[str, str] | None
    json: Any
    headers: Mapping[str, str] | None
    idempotency_key: str | None
    allow_write_retries: bool | None


class BaseClient:
    """Shared constructor keywords and lifecycle of the provider clients.

    Use as ``async with Client(...) as client:`` or call :meth:`aclose`. A
    ``session`` passed in is borrowed and never closed. ``sender`` replaces the
    aiohttp sender (tests: :class:`common.testing.MemorySender`). ``provider``
    names the provider in the shared rate key (see :class:`common.RedisRateStore`).
    The options (``timeout``,
    ``deadline``, ``max_retries``, ``rate_limit``...) are :class:`common.Options`'s.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        decoder: Decoder,
        provider: str = "http",
        session: aiohttp.ClientSession | None = None,
        sender: Sender | None = None,
        headers: Mapping[str, str] | None = None,
        body_wait: BodyWait | None = None,
        parse_error: ErrorParser = parse_error_body,
        **options: Unpack[ClientOptions],
    ) -> None:
        self._transport = Transport(
            base_url,
            auth=auth,
            session=session,
            sender=sender,
            headers=headers,
            body_wait=body_wait,
            parse_error=parse_error,
            provider=provider,
            **options,
        )
        self._decoder = decoder

    def with_options(self: C, **options: Unpack[CallOptions]) -> C:
        """A client of the same class with changed per-call options (``timeout``,
        ``deadline``, ``max_retries``, ``max_retry_wait``, ``retry_policy``).

        It shares this client's session, rate budget (pacing, cool-down, learned
        pace, Redis store) and concurrency cap. Ownership stays with this client:
        closing the derived client closes nothing shared; closing this one closes
        the shared session (when it created it), after which derived clients
        refuse calls with :class:`common.ClientClosedError`.
        """
        derived = copy.copy(self)
        derived._transport = self._transport.with_options(**options)
        return derived

    def _one_call(self: C) -> C:
        """This client with one deadline, from now, for every request sent through it: a
        call that sends several (a listing's pages, a fall-back method, an event and its
        participants) ends by the ``deadline`` of the whole call, as the option says."""
        derived = copy.copy(self)
        derived._transport = self._transport.until(self._transport.deadline_at())
        return derived

    @property
    def options(self) -> Options:
        """The options in force."""
        return self._transport.options

    @property
    def transport(self) -> Transport:
        """The transport (session, limiter, policy) this client sends through."""
        return self._transport

    @property
    def base_url(self) -> str:
        """The validated base URL, without a trailing slash."""
        return self._transport.base_url

    def __repr__(self) -> str:
        # (a constructor that failed leaves no transport: a traceback shown with its
        # locals calls this on the half-built client)
        transport = getattr(self, "_transport", None)
        url = None if transport is None else transport.base_url
        return f"{type(self).__name__}(base_url={url!r})"

    async def aclose(self) -> None:
        """Close the owned session; a borrowed session is left open."""
        await self._transport.aclose()

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        model: type[T],
        *,
        root: str | None = None,
        scope: str | None = None,
        **request: Unpack[RequestArgs],
    ) -> T:
        """Send through the transport and decode the body (or its ``root`` key) into ``model``.

        ``scope``: the permission the call needs, for :meth:`_explain`'s hints.
        """
        try:
            response = await self._transport.request(method, path, **request)
        except APIStatusError as exc:
            self._explain(exc, scope, request)
            raise
        try:
            return self._decoder.decode(response.body, model, root=root)
        except DecodeError as exc:
            exc.attempts = response.attempts
            # The value shown may be a credential the server echoed: redacted here, and the
            # decoder's own errors (which show it too) are not chained. The message names
            # the path and what was wrong; it is complete without them.
            exc.message = self._transport.redact(exc.message)
            exc.args = (exc.message,)
            exc.__cause__ = exc.__context__ = None
            exc.__suppress_context__ = True
            raise

    def _explain(self, error: APIStatusError, scope: str | None, request: RequestArgs) -> None:
        """Add a hint to an error status (``error.hint``) from what the call knew: the
        ``scope`` it needs, its request keywords. A provider overrides it (in the call,
        not around it: each await layer costs every request in bulk); here nothing."""

    async def _send(self, method: str, path: str, **request: Unpack[RequestArgs]) -> Response:
        """Send through the transport without decoding (e.g. a 204)."""
        return await self._transport.request(method, path, **request)
