"""JSON in and out: orjson, with the standard library as a fallback for what orjson refuses.

What the library accepts is JSON as RFC 8259 and UTF-8 define it, nothing more:

* ``NaN``, ``Infinity``, ``-Infinity`` (not JSON) and numbers beyond a double
  (``1e400``, which would become ``inf``) are refused;
* strings must be valid Unicode: a lone surrogate escape (``"\\ud800"``) is
  refused too, so no decoded string ever fails to encode again (in the CLI's
  output, in a cache, in a database). One rule, everywhere: refuse at decode;
* integers beyond 64 bits, which some orjson versions refuse, are kept exact
  by the standard library fallback.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from ._errors import InvalidRequestError

__all__ = ["JSONDecodeError", "dumps", "loads", "loads_or_none"]

JSONDecodeError = ValueError


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _check_strings(value: Any) -> None:
    """Refuse lone surrogates anywhere in parsed JSON (the fallback path only)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                item.encode("utf-8")  # UnicodeEncodeError for a lone surrogate
        elif isinstance(item, dict):
            for key, inner in item.items():
                stack.append(key)
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)


def loads(body: bytes | str) -> Any:
    """Parse JSON; raises ValueError when the body is not JSON (see the module's rules)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            text = body.decode("utf-8") if isinstance(body, bytes) else body
            value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
            _check_strings(value)
        except (ValueError, UnicodeError, RecursionError) as exc:
            raise ValueError(str(exc)) from None
        return value


def loads_or_none(body: bytes) -> Any:
    """Parse JSON, or None when the body is empty or not JSON. Never raises."""
    if not body:
        return None
    try:
        return loads(body)
    except ValueError:
        return None


def _check_numbers(value: Any) -> None:
    """Refuse NaN and infinities, which orjson would silently send as ``null``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is float:
            if not math.isfinite(item):
                raise InvalidRequestError(f"{item!r} cannot be sent as JSON")
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
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise InvalidRequestError(f"cannot be sent as JSON: {exc}") from None
