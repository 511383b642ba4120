"""The base of both provider clients: configuration, lifecycle, request + decode.

A provider client is this plus its auth, its models and one thin method per
operation; it never re-implements transport, retries or decoding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import aiohttp

from ._auth import Auth
from ._decode import Decoder
from ._errormap import BodyWait, ErrorParser, parse_error_body
from ._http import Response
from ._retry import RetryPolicy
from ._transport import DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, Transport

__all__ = ["BaseClient"]

T = TypeVar("T")
C = TypeVar("C", bound="BaseClient")


class BaseClient:
    """Shared constructor keywords and lifecycle of the provider clients.

    Use as ``async with Client(...) as client:`` or call :meth:`aclose`. A
    ``session`` passed in is borrowed and never closed.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        decoder: Decoder,
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
    ) -> None:
        self._transport = Transport(
            base_url,
            auth=auth,
            session=session,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            retry_policy=retry_policy,
            rate_limit=rate_limit,
            rate_burst=rate_burst,
            max_concurrency=max_concurrency,
            max_response_bytes=max_response_bytes,
            headers=headers,
            body_wait=body_wait,
            parse_error=parse_error,
            trace_configs=trace_configs,
        )
        self._decoder = decoder

    @property
    def transport(self) -> Transport:
        """The transport (session, limiter, policy) this client sends through."""
        return self._transport

    @property
    def base_url(self) -> str:
        """The validated base URL, without a trailing slash."""
        return self._transport.base_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

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
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        allow_write_retries: bool | None = None,
    ) -> T:
        """Send through the transport and decode the body (or its ``root`` key) into ``model``."""
        response = await self._send(
            method,
            path,
            params=params,
            json=json,
            headers=headers,
            idempotency_key=idempotency_key,
            allow_write_retries=allow_write_retries,
        )
        return self._decoder.decode(response.body, model, root=root)

    async def _send(
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
        """Send through the transport without decoding (e.g. a 204)."""
        return await self._transport.request(
            method,
            path,
            params=params,
            json=json,
            headers=headers,
            idempotency_key=idempotency_key,
            allow_write_retries=allow_write_retries,
        )
