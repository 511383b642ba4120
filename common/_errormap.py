"""One error mapper: a non-2xx response (status, headers, body) into an exception.

Pure: no I/O. Each provider hands the core a parser of its own error bodies
(:data:`ErrorParser`); :func:`parse_error_body` is the generic one they build on
(``{"message": "text"}`` or ``{"error": "text"}``, a ``code``, field errors as
``{"errors": {field: [...]}}``). A body no parser understands (an HTML page
from a proxy, an empty body) gives the status' reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

import attrs

from ._auth import redact
from ._errors import APIStatusError, error_class_for
from ._json import loads_or_none

__all__ = [
    "BodyWait",
    "ErrorDetails",
    "ErrorParser",
    "build_status_error",
    "error_fields",
    "error_text",
    "parse_error_body",
]

#: A provider hook that finds a wait (seconds from ``now``, epoch seconds) in a
#: decoded error body, e.g. Intervals' ``error.retryAfter`` in epoch milliseconds.
BodyWait = Callable[[Any, float], "float | None"]
#: A provider hook that reads an error body (bytes) into :class:`ErrorDetails`; never raises.
ErrorParser = Callable[[bytes], "ErrorDetails"]

_MAX_MESSAGE = 500
#: Field errors an error keeps, and texts per field: the server's text is redacted and
#: shown, and a body of 300,000 field errors (5 MB) held the event loop for 5 s doing so.
_MAX_FIELDS = 100
_MAX_TEXTS = 10


def _cut(message: str | None) -> str | None:
    if message is not None and len(message) > _MAX_MESSAGE:
        return message[:_MAX_MESSAGE] + "…"
    return message


def _cut_fields(fields: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The first :data:`_MAX_FIELDS` fields, :data:`_MAX_TEXTS` texts each, every text cut."""
    return {
        str(_cut(name)): [str(_cut(text)) for text in texts[:_MAX_TEXTS]]
        for name, texts in itertools.islice(fields.items(), _MAX_FIELDS)
    }


@attrs.frozen
class ErrorDetails:
    """What an error body said, whatever its shape; ``data`` is the parsed JSON (or None).

    A long ``message`` (and each field name and text) is cut to 500 characters; the first
    100 fields are kept, 10 texts each.
    """

    message: str | None = attrs.field(default=None, converter=_cut)
    code: str | None = None
    field_errors: dict[str, list[str]] = attrs.field(factory=dict, converter=_cut_fields)
    data: Any = None


def error_text(value: Any) -> str | None:
    """A string, or a number as text; None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def error_fields(value: Any) -> dict[str, list[str]]:
    """``{field: [message, ...]}`` (or ``{field: message}``) as field errors; {} otherwise."""
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, list[str]] = {}
    for key, messages in itertools.islice(value.items(), _MAX_FIELDS):
        if isinstance(messages, str):
            out[str(key)] = [messages]
        elif isinstance(messages, list):
            out[str(key)] = [m for m in (error_text(x) for x in messages) if m is not None]
    return out


def parse_error_body(body: bytes) -> ErrorDetails:
    """The generic parser: a top-level ``message`` or ``error`` text, ``code``, field
    ``errors``. Never raises; providers refine its result with their own shapes."""
    data = loads_or_none(body)
    if not isinstance(data, Mapping):
        return ErrorDetails(data=data)
    return ErrorDetails(
        message=error_text(data.get("error")) or error_text(data.get("message")),
        code=error_text(data.get("code")),
        field_errors=error_fields(data.get("errors")),
        data=data,
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def build_status_error(
    *,
    status: int,
    body: bytes,
    retry_after: float | None,
    request_id: str | None,
    method: str,
    path: str,
    now: float,
    body_wait: BodyWait | None = None,
    parse_error: ErrorParser | None = None,
    secrets: Iterable[str] = (),
    body_limit: int | None = None,
) -> APIStatusError:
    """The :class:`APIStatusError` subclass for a non-2xx response.

    ``retry_after`` is the parsed ``Retry-After`` header; the provider's ``body_wait``
    may name a wait in the body, and the longer of the two is the error's. Server text repeated
    in the error (message, code, field errors, request id) has the client's
    own credentials (``secrets``) redacted: a server may echo the request's
    headers. ``body_limit`` is set when the body was larger than the cap and
    ``body`` holds only its start: the error keeps its status (and so its
    retry decision), and its message says the body was cut.
    """
    try:
        details = (parse_error or parse_error_body)(body)
    except Exception:  # a provider parser must not break error mapping either
        details = parse_error_body(body)
    # The body's wait (Intervals' retryAfter) too, and the longer of the two: no request
    # goes before either (a header of 1 s beside a body naming 3 s sent three refused
    # retries, and told a re-queued task 1 s).
    if body_wait is not None and details.data is not None:
        try:
            named = body_wait(details.data, now)
        except Exception:  # a hostile body must not break error mapping
            named = None
        if named is not None and (retry_after is None or named > retry_after):
            retry_after = named
    message = details.message or _reason(status)
    if request_id is not None and not request_id.isascii():
        # A header's non-UTF-8 byte arrives as a lone surrogate, which no UTF-8 log or
        # stream can write: escaped (as the JSON body's text cannot hold one at all).
        request_id = request_id.encode("utf-8", "backslashreplace").decode("utf-8")
    if body_limit is not None:
        message += f" (error body larger than {body_limit} bytes, not read)"
    secrets = tuple(secrets)
    if secrets:
        message = redact(message, secrets)
        field_errors = {
            redact(name, secrets): [redact(text, secrets) for text in texts]
            for name, texts in details.field_errors.items()
        }
        code = None if details.code is None else redact(details.code, secrets)
        request_id = None if request_id is None else redact(request_id, secrets)
    else:
        field_errors, code = details.field_errors, details.code
    cls = error_class_for(status)
    return cls(
        message,
        status_code=status,
        code=code,
        field_errors=field_errors,
        retry_after=retry_after,
        request_id=request_id,
        method=method,
        path=path,
    )
