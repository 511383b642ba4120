"""JSON in and out: orjson, with the standard library as a fallback for what orjson refuses.

orjson rejects integers beyond 64 bits and lone surrogate escapes, both of which
are valid JSON; the fallback keeps such bodies decodable instead of failing.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["JSONDecodeError", "dumps", "loads", "loads_or_none"]

JSONDecodeError = ValueError


def loads(body: bytes | str) -> Any:
    """Parse JSON; raises ValueError when the body is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(str(exc)) from None


def loads_or_none(body: bytes) -> Any:
    """Parse JSON, or None when the body is empty or not JSON. Never raises."""
    if not body:
        return None
    try:
        return loads(body)
    except ValueError:
        return None


def dumps(value: Any) -> bytes:
    """Serialise to compact UTF-8 JSON."""
    return orjson.dumps(value)
