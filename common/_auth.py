"""Authentication: a small pluggable piece that adds headers.

Secrets live only in the header values the piece hands to the transport; no
``repr()`` or ``str()`` of an auth object shows them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

__all__ = ["Auth", "BasicAuth", "BearerAuth", "HeaderAuth", "NoAuth"]


@runtime_checkable
class Auth(Protocol):
    """Anything that can give the headers that authenticate a request."""

    def headers(self) -> Mapping[str, str]:
        """The headers to add to every request sent to the base URL's origin."""
        ...


class _SecretHeaders:
    __slots__ = ("_headers",)
    _kind = "auth"

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def headers(self) -> Mapping[str, str]:
        return self._headers

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<redacted>)"

    __str__ = __repr__


class BearerAuth(_SecretHeaders):
    """``Authorization: Bearer <token>``."""

    __slots__ = ()

    def __init__(self, token: str) -> None:
        super().__init__({"Authorization": f"Bearer {token}"})


class BasicAuth(_SecretHeaders):
    """``Authorization: Basic base64(user:password)``."""

    __slots__ = ()

    def __init__(self, user: str, password: str) -> None:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        super().__init__({"Authorization": f"Basic {pair}"})


class HeaderAuth(_SecretHeaders):
    """Arbitrary secret headers, e.g. ``x-rwgps-api-key`` and ``x-rwgps-auth-token``."""

    __slots__ = ()


class NoAuth:
    """No authentication."""

    def headers(self) -> Mapping[str, str]:
        return {}

    def __repr__(self) -> str:
        return "NoAuth()"
