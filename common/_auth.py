"""Authentication: a small pluggable piece that adds headers.

Secrets live only in the header values the piece hands to the transport; no
``repr()`` or ``str()`` of an auth object shows them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from ._errors import InvalidRequestError

__all__ = ["Auth", "BasicAuth", "BearerAuth", "HeaderAuth", "NoAuth"]


@runtime_checkable
class Auth(Protocol):
    """Anything that can give the headers that authenticate a request."""

    def headers(self) -> Mapping[str, str]:
        """The headers to add to every request sent to the base URL's origin."""
        ...


def _check_secret(value: object) -> str:
    """A credential fit for a header; the error never shows the value."""
    if not isinstance(value, str) or not value:
        raise InvalidRequestError("a credential must be a non-empty string")
    if not value.isprintable() or not value.isascii() or any(c.isspace() for c in value):
        raise InvalidRequestError(
            "a credential must be printable ASCII without spaces or line breaks"
        )
    return value


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
        super().__init__({"Authorization": f"Bearer {_check_secret(token)}"})


class BasicAuth(_SecretHeaders):
    """``Authorization: Basic base64(user:password)``."""

    __slots__ = ()

    def __init__(self, user: str, password: str) -> None:
        user, password = _check_secret(user), _check_secret(password)
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        super().__init__({"Authorization": f"Basic {pair}"})


class HeaderAuth(_SecretHeaders):
    """Arbitrary secret headers, e.g. ``x-rwgps-api-key`` and ``x-rwgps-auth-token``."""

    __slots__ = ()

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__({name: _check_secret(value) for name, value in headers.items()})


class NoAuth:
    """No authentication."""

    def headers(self) -> Mapping[str, str]:
        return {}

    def __repr__(self) -> str:
        return "NoAuth()"
