"""JSON in and out, with msgspec: one library for parsing, encoding and decoding models.

What the library accepts is JSON as RFC 8259 and UTF-8 define it, nothing more, and
msgspec's parser holds every rule itself:

* ``NaN``, ``Infinity``, ``-Infinity`` (not JSON) and numbers beyond a double
  (``1e400``, which would become ``inf``) are refused;
* strings must be valid Unicode: invalid UTF-8 and a lone surrogate escape
  (``"\\ud800"``) are refused, so no decoded string ever fails to encode again (in
  the CLI's output, in a cache, in a database). One rule, everywhere: refuse at decode;
* integers are exact at any size (never a float).
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec

from ._errors import InvalidRequestError

__all__ = ["JSONDecodeError", "dumps", "loads", "loads_or_none"]

JSONDecodeError = ValueError


def _plain(value: Any) -> Any:
    """A subclass of ``str``, ``int`` or ``float`` (a numpy ``float64``, a caller's own
    id type) as the plain value it passed its field's check as; msgspec has no rule for
    them. (The base class's own method: a subclass's ``__str__`` cannot change the text.)"""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    raise TypeError(f"Encoding objects of type {type(value).__name__} is unsupported")


_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder(enc_hook=_plain).encode

#: The integers a request body may carry: 64 bits, signed or unsigned, as servers expect.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def loads(body: bytes | str) -> Any:
    """Parse JSON; raises ValueError when the body is not JSON (see the module's rules)."""
    try:
        return _decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        message = str(exc)
        if "truncated" in message and _complete(body):
            # msgspec reads a lone high surrogate escape as a pair cut short: say so
            message = "a lone surrogate escape is not valid Unicode (invalid utf-16 surrogate)"
        raise ValueError(message) from None


def _complete(body: bytes | str) -> bool:
    """Whether the standard library's more lenient parser reads the whole body."""
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


def loads_or_none(body: bytes) -> Any:
    """Parse JSON, or None when the body is empty or not JSON. Never raises."""
    if not body:
        return None
    try:
        return loads(body)
    except ValueError:
        return None


def _check_numbers(value: Any) -> None:
    """Refuse NaN and infinities (msgspec would send ``null``) and integers beyond 64 bits."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):  # (subclasses too: they are sent as plain numbers)
            if not math.isfinite(item):
                raise InvalidRequestError(f"{float.__repr__(item)} cannot be sent as JSON")
        elif isinstance(item, int) and not isinstance(item, bool):
            if not _INT_MIN <= item <= _INT_MAX:
                raise InvalidRequestError("cannot be sent as JSON: integer exceeds 64-bit range")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def dumps(value: Any) -> bytes:
    """Serialise to compact UTF-8 JSON; :class:`InvalidRequestError` for what is not JSON.

    A string with a lone surrogate (which is what Python makes of a non-UTF-8
    byte on a command line), an integer beyond 64 bits, ``NaN`` or an infinity
    cannot be sent.
    """
    _check_numbers(value)
    try:
        return _encode(value)
    except (msgspec.EncodeError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidRequestError(f"cannot be sent as JSON: {exc}") from None
