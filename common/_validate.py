"""Validation before sending: small pure checks that raise InvalidRequestError naming the field.

Each returns the value in the form the wire wants (dates as ``YYYY-MM-DD``,
enums as their string value), so a provider method reads as a list of checks.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
import zoneinfo
from typing import Any

from ._errors import InvalidRequestError

__all__ = [
    "check_country",
    "check_date",
    "check_email",
    "check_enum",
    "check_int",
    "check_number",
    "check_text",
    "check_time",
    "check_timezone",
    "check_uri",
]

# The Intervals spec's own email pattern (registerParticipant.email).
_EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$"
)
_TIME_HM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
_TIME_HMS = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


def _fail(field: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}: {message}", field=field)


def check_text(field: str, value: Any, *, allow_empty: bool = False) -> str:
    """A string; non-empty (not only whitespace) unless ``allow_empty``."""
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise _fail(field, "must not be empty")
    return value


def check_date(field: str, value: Any) -> str:
    """A real calendar date, given as ``datetime.date`` or an ISO ``YYYY-MM-DD`` string."""
    if isinstance(value, dt.datetime):
        raise _fail(field, "must be a date, not a datetime")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise _fail(field, f"{value!r} is not a real calendar date") from None
    raise _fail(field, "must be a datetime.date or a YYYY-MM-DD string")


def check_time(field: str, value: Any, *, seconds: bool = True) -> str:
    """A 24 h time, ``datetime.time`` or ``HH:MM`` (or ``HH:MM:SS`` when ``seconds``)."""
    if isinstance(value, dt.time):
        if value.tzinfo is not None:
            raise _fail(field, "must be a local time without a timezone")
        if value.microsecond:
            raise _fail(field, "must not have fractions of a second")
        if value.second and not seconds:
            raise _fail(field, "must be HH:MM (no seconds)")
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    pattern = _TIME_HMS if seconds else _TIME_HM
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    raise _fail(field, "must be HH:MM or HH:MM:SS" if seconds else "must be HH:MM (24 h)")


def check_number(field: str, value: Any, low: float, high: float) -> float:
    """A finite number within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(field, f"must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or not low <= value <= high:
        raise _fail(field, f"must be between {low:g} and {high:g}, got {value!r}")
    return value


def check_int(field: str, value: Any, low: int, high: int) -> int:
    """An integer within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise _fail(field, f"must be between {low} and {high}, got {value}")
    return value


def check_email(field: str, value: Any) -> str:
    """An email address the API's pattern accepts."""
    text = check_text(field, value)
    if not _EMAIL.fullmatch(text):
        raise _fail(field, f"{text!r} is not a valid email address")
    return text


def check_uri(field: str, value: Any) -> str:
    """An absolute URI (``scheme:rest``, no whitespace)."""
    text = check_text(field, value)
    if not _URI.fullmatch(text):
        raise _fail(field, f"{text!r} is not an absolute URI")
    return text


def check_country(field: str, value: Any) -> str:
    """An ISO 3166-1 alpha-2 code: two letters."""
    text = check_text(field, value)
    if not _COUNTRY.fullmatch(text):
        raise _fail(field, f"must be a 2-letter country code, got {text!r}")
    return text


def check_enum(field: str, value: Any, kind: type[enum.Enum]) -> str:
    """A member of ``kind`` (or its string value); returns the string value."""
    if isinstance(value, kind):
        return str(value.value)
    allowed = [str(member.value) for member in kind]
    if isinstance(value, str) and value in allowed:
        return value
    raise _fail(field, f"must be one of {', '.join(allowed)}; got {value!r}")


def check_timezone(field: str, value: Any) -> str:
    """An IANA timezone name this machine knows (old aliases included)."""
    text = check_text(field, value)
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise _fail(field, f"{text!r} is not a known IANA timezone") from None
    return text
