"""Authentication: a small pluggable piece that adds headers.

Secrets live only in the header values the piece hands to the transport; no
``repr()`` or ``str()`` of an auth object shows them.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from ._errors import InvalidRequestError

__all__ = ["Auth", "BasicAuth", "BearerAuth", "HeaderAuth", "NoAuth", "redact", "secret_values"]

#: Headers whose values are credentials, whatever their name says: ours (the
#: auth pieces above) and any a caller adds through ``headers=`` or a session.
_SECRET_HEADER = re.compile(r"authorization|cookie|key|token|secret|passw|auth|session", re.I)
_NOT_SECRET = frozenset({"idempotency-key"})
#: Shorter values are not searched for: they would blank out ordinary words.
_MIN_SECRET = 4
REDACTED = "<redacted>"


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
        if ":" in user:  # RFC 7617: the server splits the pair at the first colon
            raise InvalidRequestError("a Basic auth user (an API key) cannot hold a colon")
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


class Headers(dict[str, str]):
    """Request headers whose ``repr`` shows a credential header's value as
    ``<redacted>`` (a traceback printed with its frames' locals shows them)."""

    __slots__ = ()

    def __repr__(self) -> str:
        shown = {name: REDACTED if _is_secret(name) else value for name, value in self.items()}
        return f"{type(self).__name__}({shown!r})"


def _is_secret(name: str) -> bool:
    return bool(_SECRET_HEADER.search(name)) and name.lower() not in _NOT_SECRET


def secret_values(headers: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The credentials in request headers, longest first, for :func:`redact`.

    Every value of a credential header (``Authorization``, ``Cookie``, any name
    with key/token/secret/auth/password/session in it: the four auth forms
    and anything a caller adds), plus the parts a server may echo alone: the
    token of ``Bearer <token>``, and the pair, user and password inside
    ``Basic <base64>``.
    """
    found: set[str] = set()
    for name, value in headers:
        if not _is_secret(name):
            continue
        found.add(value)
        scheme, _, rest = value.partition(" ")
        rest = rest.strip()
        if not rest:
            continue
        found.add(rest)
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(rest, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
            found.add(pair)
            found.update(pair.split(":", 1))
    return tuple(sorted((v for v in found if len(v) >= _MIN_SECRET), key=len, reverse=True))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every credential in ``secrets`` replaced by ``<redacted>``.

    Also as a ``repr`` writes it (a server's echo shown as bytes inside an error's
    message: backslashes and quotes escaped, up to twice). A text cut short (a long
    message truncated, ending in ``…`` or ``...``) may end in the first part of a
    credential: that part goes too.
    """
    for secret in secrets:
        for form in _written_forms(secret):
            if form in text:
                text = text.replace(form, REDACTED)
            if "…" in text or "..." in text:
                text = _CUT.sub(functools.partial(_redact_head, secret=form), text)
    return text


#: A piece of text up to where it was cut short.
_CUT = re.compile(r"(.*?)(…|\.\.\.)", re.DOTALL)


def _redact_head(cut: re.Match[str], *, secret: str) -> str:
    head, mark = cut.group(1), cut.group(2)
    for size in range(min(len(secret) - 1, len(head)), _MIN_SECRET - 1, -1):
        if head.endswith(secret[:size]):
            return head[:-size] + REDACTED + mark
    return head + mark


def _written_forms(secret: str) -> set[str]:
    """``secret``, as a path segment or a query value writes it (percent-escaped: a
    credential put in a path is logged escaped), and escaped as ``repr`` writes it,
    once or twice (only a secret holding a backslash or a quote has those forms)."""
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    if not any(c in secret for c in "\\'\""):
        return forms
    for _ in range(2):
        for form in list(forms):
            doubled = form.replace("\\", "\\\\")
            single, double = doubled.replace("'", "\\'"), doubled.replace('"', '\\"')
            forms.update((doubled, single, double, single.replace('"', '\\"')))
    return forms
