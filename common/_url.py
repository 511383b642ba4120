"""Base URL validation and safe path building (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import quote

from yarl import URL

from ._errors import InvalidRequestError

__all__ = ["build_path", "check_query", "validate_base_url"]


def _is_loopback(host: str) -> bool:
    """A literal loopback address, or ``localhost`` itself.

    Not ``*.localhost``: a resolver may forward those names to the network,
    and plain http would then carry the credentials in clear.
    """
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def written_plainly(text: str) -> bool:
    """No space, line break, control character or lone surrogate: a URL parser keeps the
    text as written (yarl and urllib drop or rewrite those, silently)."""
    return text.isprintable() and not any(c.isspace() for c in text)


def validate_base_url(base_url: str) -> str:
    """Check a base URL and return it without a trailing slash.

    https only; plain http only for loopback hosts (127.0.0.0/8, ::1,
    ``localhost`` itself), so credentials never cross a network in clear text. No query,
    fragment or user info: credentials belong in the auth piece, not the URL.
    """
    if not isinstance(base_url, str) or not base_url:
        raise InvalidRequestError("base_url must be a non-empty string", field="base_url")
    # URL() drops what it cannot keep (a lone surrogate, a line break): the requests would
    # reach another resource than the one written
    if not written_plainly(base_url):
        raise InvalidRequestError(
            "base_url holds a space, a line break or a control character (write it %-escaped)",
            field="base_url",
        )
    try:
        url = URL(base_url)
        host = url.host  # (decoded when asked for: a bad punycode label is a UnicodeError)
    except (ValueError, TypeError) as exc:
        raise InvalidRequestError(f"base_url is not a URL: {exc}", field="base_url") from None
    if url.scheme not in ("http", "https") or not host:
        raise InvalidRequestError(
            "base_url must be an absolute http(s) URL with a host", field="base_url"
        )
    if url.scheme == "http" and not _is_loopback(host):
        raise InvalidRequestError(
            "base_url must use https (plain http is allowed only for loopback hosts)",
            field="base_url",
        )
    if url.user is not None or url.password is not None:
        raise InvalidRequestError("base_url must not carry credentials", field="base_url")
    if url.query_string or url.fragment:
        raise InvalidRequestError("base_url must not have a query or fragment", field="base_url")
    return str(url).rstrip("/")


def id_text(value: str | int, name: str) -> str:
    """A string or a whole number as text; a number too long to write (beyond Python's
    4,300 digits) is no id: :class:`InvalidRequestError`, not a bare ``ValueError``."""
    try:  # the text it is, not a subclass's __str__ ((int, Enum) members: "IntId.A")
        return str.__str__(value) if isinstance(value, str) else int.__repr__(value)
    except ValueError:
        pass
    raise InvalidRequestError(f"{name} is a number too long to be an id", field=name)


def _segment(value: object, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidRequestError(f"{name} must be a string or an integer", field=name)
    text = id_text(value, name)
    if text.isascii() and text.isalnum():  # the usual id: nothing to check or escape
        return text
    if not text or text.isspace():
        raise InvalidRequestError(f"{name} must not be empty", field=name)
    if text in (".", ".."):
        raise InvalidRequestError(f"{name} must not be {text!r}", field=name)
    return quote(_unicode(text, name), safe="")


def _unicode(text: str, name: str) -> str:
    """``text`` if it is valid Unicode; a lone surrogate (what Python makes of a
    non-UTF-8 byte on a command line) would be dropped or mangled on the way out,
    and the request would reach another resource."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequestError(
                f"{name} is not valid Unicode text (it holds a lone surrogate)", field=name
            ) from None
    return text


def check_query(params: Mapping[str, str]) -> None:
    """Refuse query names and values that are not valid Unicode text, before sending."""
    for name, value in params.items():
        _unicode(name, "query parameter name")
        if isinstance(value, str):
            _unicode(value, name)


def build_path(template: str, **params: object) -> str:
    """Fill ``{name}`` placeholders, each escaped as exactly one path segment.

    ``build_path("/events/{id}", id="../organization")`` gives
    ``/events/..%2Forganization``: a parameter can never climb out of its
    endpoint. Empty values are refused before anything is sent.
    """
    for name, value in params.items():  # (a loop: a comprehension is a call of its own)
        params[name] = _segment(value, name)
    return template.format_map(params)
