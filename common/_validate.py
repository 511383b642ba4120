"""Validation before sending: small pure checks that raise InvalidRequestError naming the field,
and the write-request classes built on them.

Each check returns the value in the form the wire wants (dates as ``YYYY-MM-DD``,
enums as their string value). A provider declares each write body once, as an
attrs class whose fields carry these checks (:func:`required`, :func:`optional`,
:func:`nullable`, :func:`not_sent`), and gives its client method that class's
keywords with :func:`request_method`; the provider's converter serialises it
(see :func:`common.provider.make_converter`).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import inspect
import ipaddress
import math
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import attrs

from ._errors import InvalidRequestError
from ._types import zone_or_none

__all__ = [
    "NOT_GIVEN",
    "Check",
    "any_text",
    "between",
    "build_request",
    "check_bool",
    "check_country",
    "check_date",
    "check_enum",
    "check_header",
    "check_int",
    "check_number",
    "check_text",
    "check_time",
    "check_timezone",
    "check_uri",
    "format_time",
    "not_sent",
    "nullable",
    "one_of",
    "optional",
    "request_method",
    "required",
]

P = ParamSpec("P")
B = TypeVar("B")
R = TypeVar("R")

#: A check: ``check(field, value)`` returns the value in its wire form or raises
#: :class:`InvalidRequestError` naming ``field``.
Check = Callable[[str, Any], Any]

# (ASCII digits only: ``\d`` would take any script's, which no server reads as a time)
_TIME_HM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
_TIME_HMS = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?")
# RFC 3986's URI grammar (an IRI's non-ASCII, a space, <>"{}|^`, a bad escape, a second
# "#" or "@", a port of letters, brackets outside a host: no URI, which ``format: uri``
# refuses): scheme ":" ["//" authority] path ["?" query] ["#" fragment].
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|{_PCT})"
_URI = re.compile(
    rf"[A-Za-z][A-Za-z0-9+.\-]*:"
    rf"(?://(?:(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|{_PCT})*@)?"  # userinfo
    rf"(?P<host>\[[^\]]*\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|{_PCT})*)(?::[0-9]*)?"
    rf"(?:/{_PCHAR}*)*"  # path-abempty
    rf"|/?(?:{_PCHAR}+(?:/{_PCHAR}*)*)?)"  # path-absolute, -rootless or -empty
    rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?"
)
_IP_FUTURE = re.compile(r"v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


def _fail(field: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}: {message}", field=field)


def shown(value: Any) -> str:
    """``value`` as an error message shows it: its repr, cut at 40 characters with a ``…``
    that says so (so a credential a server echoed, split by the cut, is still found and
    redacted), and an integer too long to write out (over 4,300 digits) by its size."""
    try:
        text = repr(value)
    except ValueError:
        return f"an integer of {len(format(value, 'x')) * 1.2041:.0f} digits or so"
    return text if len(text) <= 40 else text[:39] + "…"


#: What no header line may hold (HTTP field values: visible text, spaces and tabs).
_NOT_IN_HEADERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_header(name: str, value: Any) -> str:
    """A header value to send: one line of Latin-1 text (no CR, LF or other control)."""
    if not isinstance(value, str):
        raise _fail(name, f"must be a string, got {type(value).__name__}")
    if _NOT_IN_HEADERS.search(value) or _NOT_IN_HEADERS.search(name):
        raise _fail(name, "must be one line of text (no CR, LF or other control character)")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise _fail(name, "must be Latin-1 text to go in a header") from None
    return value


def check_text(field: str, value: Any, *, allow_empty: bool = False) -> str:
    """A string; non-empty (not only whitespace) unless ``allow_empty``."""
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise _fail(field, "must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no JSON body can carry it
        raise _fail(field, "is not valid Unicode text (a lone surrogate)") from None
    # The text it is, not what a subclass's __str__ says ((str, Enum) members went out
    # in paths and queries by their names: "StrId.A")
    return str.__str__(value)


def check_bool(field: str, value: Any) -> bool:
    """``True`` or ``False`` itself (a string ``"false"`` is not false)."""
    if not isinstance(value, bool):
        raise _fail(field, f"must be True or False, got {type(value).__name__}")
    return value


def check_date(field: str, value: Any) -> str:
    """A real calendar date, given as ``datetime.date`` or an ISO ``YYYY-MM-DD`` string."""
    if isinstance(value, dt.datetime):
        raise _fail(field, "must be a date, not a datetime")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise _fail(field, f"{value!r} is not a real calendar date") from None
    raise _fail(field, "must be a datetime.date or a YYYY-MM-DD string")


def date_window(date_from: Any, date_to: Any) -> tuple[dt.date | None, dt.date | None]:
    """An event source's ``date_from``..``date_to``: each a ``datetime.date`` or None, in
    order; :class:`InvalidRequestError` otherwise, before anything is sent."""
    for field, value in (("date_from", date_from), ("date_to", date_to)):
        if value is not None and (isinstance(value, dt.datetime) or not isinstance(value, dt.date)):
            raise _fail(field, f"must be a datetime.date, got {type(value).__name__}")
    if date_from is not None and date_to is not None and date_to < date_from:
        raise _fail("date_to", f"{date_to} is before date_from {date_from}")
    return date_from, date_to


def check_time(field: str, value: Any, *, seconds: bool = True) -> str:
    """A 24 h time, ``datetime.time`` or ``HH:MM`` (or ``HH:MM:SS`` when ``seconds``)."""
    if isinstance(value, dt.time):
        if value.tzinfo is not None:
            raise _fail(field, "must be a local time without a timezone")
        if value.microsecond:
            raise _fail(field, "must not have fractions of a second")
        if value.second and not seconds:
            raise _fail(field, "must be HH:MM (no seconds)")
        return format_time(value)
    pattern = _TIME_HMS if seconds else _TIME_HM
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    raise _fail(field, "must be HH:MM or HH:MM:SS" if seconds else "must be HH:MM (24 h)")


def check_number(field: str, value: Any, low: float, high: float) -> float:
    """A finite number within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(field, f"must be a number, got {type(value).__name__}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond any float: out of every float range
        finite = False
    if not finite or not low <= value <= high:
        raise _fail(field, f"must be between {low:g} and {high:g}, got {shown(value)}")
    return value


def check_int(field: str, value: Any, low: int, high: int) -> int:
    """An integer within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise _fail(field, f"must be between {low} and {high}, got {shown(value)}")
    return int.__index__(value)  # the number, not a subclass ((int, Enum): "IntId.A")


def check_uri(field: str, value: Any) -> str:
    """An absolute URI (RFC 3986's grammar; a host in brackets an IPv6 address)."""
    text = check_text(field, value)
    match = _URI.fullmatch(text)
    host = match and match.group("host")
    if not match or (host and host[0] == "[" and not _ip_literal(host[1:-1])):
        raise _fail(field, f"{text!r} is not an absolute URI")
    return text


def _ip_literal(text: str) -> bool:
    if _IP_FUTURE.fullmatch(text):
        return True
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return text.isascii()


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
    raise _fail(field, f"must be one of {', '.join(allowed)}; got {shown(value)}")


def any_text(field: str, value: Any) -> str:
    """A string, empty allowed."""
    return check_text(field, value, allow_empty=True)


def one_of(kind: type[enum.Enum]) -> Check:
    """The check of a member of ``kind`` (or its string value)."""
    return lambda field, value: check_enum(field, value, kind)


def between(low: float, high: float) -> Check:
    """The check of a finite number within ``[low, high]``."""
    return lambda field, value: check_number(field, value, low, high)


def check_timezone(field: str, value: Any) -> str:
    """An IANA timezone name this machine knows (old aliases included)."""
    text = check_text(field, value)
    if zone_or_none(text) is None:
        raise _fail(field, f"{text!r} is not a known IANA timezone")
    return text


def check_span(
    start_date: Any,
    start_time: Any,
    end_date: Any,
    end_time: Any,
    *,
    time: Check = check_time,
    start_field: str = "start_date",
) -> None:
    """An event that does not end before it starts: ``end_date`` not before the start's
    date and, on one day, ``end_time`` not before ``start_time`` (each None when not
    given; an ``end_date`` of None is the start's own day, a ``start_date`` of None
    checks nothing). ``time`` checks the times; ``start_field`` names the start's date."""
    if start_date is None:
        return
    start = check_date(start_field, start_date)
    end = start if end_date is None else check_date("end_date", end_date)
    if end < start:  # (ISO dates and times compare as their strings)
        raise _fail("end_date", f"{end} is before {start_field} {start}")
    if end == start and start_time is not None and end_time is not None:
        first, last = time("start_time", start_time), time("end_time", end_time)
        if last < first:
            later = " (an event ending on a later day needs its end_date)" * (end_date is None)
            raise _fail("end_time", f"{last} is before start_time {first} on the same day{later}")


def format_time(value: dt.time) -> str:
    """``HH:MM``, or ``HH:MM:SS`` when there are seconds: a time's wire form."""
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


# --- write-request classes ----------------------------------------------------------------


class _NotGiven:
    def __repr__(self) -> str:
        return "<not given>"


#: The default of a :func:`nullable` field: not sent, told apart from None (sent as null).
NOT_GIVEN: Any = _NotGiven()

#: Field metadata keys read by the provider converter's serialiser.
NULLABLE = "nullable"
SENT = "sent"


def _validator(check: Check, *, required: bool = False) -> Callable[[Any, Any, Any], None]:
    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None or value is NOT_GIVEN:
            if required:
                raise _fail(attribute.name, "is required")
            return
        check(attribute.name, value)

    return validate


def required(check: Check, *, json: str | None = None) -> dict[str, Any]:
    """A field the request must have, as ``attrs.field``'s arguments::

        name: str = attrs.field(**provider.required(check_text))

    None (or left out) is refused, naming the field. Written as ``attrs.field(...)``
    at the field, a type checker sees no default: the argument is required in the
    method's signature. At run time the default is None, so that a missing field is
    an :class:`InvalidRequestError` naming it, not a ``TypeError``.
    """
    return _FieldArgs(default=None, validator=_validator(check, required=True), metadata=_key(json))


class _FieldArgs(dict[str, Any]):
    """``attrs.field``'s arguments: a field whose default is one was written without
    ``attrs.field(**...)`` (see :func:`request_method`, which refuses it)."""


def path_argument(check: Check) -> dict[str, Any]:
    """A required argument passed first and not sent in the body (the id in the path), as
    ``attrs.field``'s arguments: ``event_id: int = attrs.field(kw_only=False,
    **provider.path_argument(check_id))`` (``kw_only=False`` written there, for type
    checkers)."""
    return _FieldArgs(validator=_validator(check, required=True), metadata={SENT: False})


def optional(
    check: Check, *, json: str | None = None, converter: Callable[[Any], Any] | None = None
) -> Any:
    """A field sent when given; None means "not given". ``converter`` runs first."""
    return attrs.field(
        default=None, validator=_validator(check), converter=converter, metadata=_key(json)
    )


def nullable(check: Check, *, json: str | None = None) -> Any:
    """A field the API lets a caller clear: None is sent as JSON null; left out, it is not sent."""
    metadata = {**_key(json), NULLABLE: True}
    return attrs.field(default=NOT_GIVEN, validator=_validator(check), metadata=metadata)


def not_sent(check: Check | None = None, *, default: Any = None) -> Any:
    """A keyword of the request that is not part of the JSON body (a header, an option);
    :func:`path_argument` for one passed first."""
    validator = None if check is None else _validator(check)
    return attrs.field(default=default, validator=validator, metadata={SENT: False})


def _key(json: str | None) -> dict[str, str]:
    return {} if json is None else {"json": json}


def build_request(cls: Callable[P, B], *args: P.args, **kwargs: P.kwargs) -> B:
    """``cls(*args, **kwargs)``; an unknown keyword is an :class:`InvalidRequestError` naming it."""
    accepted = [a.name for a in attrs.fields(cast("type[Any]", cls)) if a.init]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise InvalidRequestError(
            f"unknown field {unknown[0]!r}; accepted: {', '.join(sorted(accepted))}",
            field=unknown[0],
        )
    try:
        return cls(*args, **kwargs)
    except TypeError as exc:  # e.g. too many positional arguments
        raise InvalidRequestError(str(exc)) from None


def request_method(
    request: Callable[P, B],
) -> Callable[
    [Callable[[Any, B], Awaitable[R]]], Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]
]:
    """Give a client method the arguments of the request class ``request``.

    ::

        @request_method(EventCreate)
        async def create_event(self, request: EventCreate) -> str: ...

    is called as ``client.create_event(name=..., date=...)``: the arguments build
    (and validate) an ``EventCreate``, before anything is sent, and type checkers
    see ``EventCreate``'s own signature, so a misspelt keyword is flagged there
    and refused with :class:`InvalidRequestError` at run time.
    """
    for field in attrs.fields(cast("type[Any]", request)):
        if isinstance(field.default, _FieldArgs):  # provider.required(...) without attrs.field
            raise TypeError(
                f"{getattr(request, '__name__', request)}.{field.name}: write"
                " attrs.field(**provider.required(...)), not provider.required(...) alone"
            )

    def decorate(
        send: Callable[[Any, B], Awaitable[R]],
    ) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]:
        @functools.wraps(send)
        async def method(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return await send(self, build_request(request, *args, **kwargs))

        fields = inspect.signature(request).parameters.values()
        me = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
        returns = inspect.signature(send).return_annotation
        method.__signature__ = inspect.Signature([me, *fields], return_annotation=returns)  # type: ignore[attr-defined]
        return method

    return decorate
