"""One error mapper: a non-2xx response (status, headers, body) into an exception.

Pure: no I/O. Reads every error shape the two APIs use:

* Intervals: ``{"error": {"code", "message", "errors": {field: [..]}, "retryAfter"}}``
* RideWithGPS: ``{"error": "text"}``, ``{"errors": ["text", ...]}``, ``{"message": "text"}``
* anything else (an HTML page from a proxy, an empty body): the status' reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from ._auth import redact
from ._errors import APIStatusError, error_class_for
from ._json import loads_or_none

__all__ = ["BodyWait", "ErrorDetails", "ErrorParser", "build_status_error", "parse_error_body"]

#: A provider hook that finds a wait (seconds from ``now``, epoch seconds) in a
#: decoded error body, e.g. Intervals' ``error.retryAfter`` in epoch milliseconds.
BodyWait = Callable[[Any, float], "float | None"]
#: A provider hook that reads an error body (bytes) into :class:`ErrorDetails`; never raises.
ErrorParser = Callable[[bytes], "ErrorDetails"]

_MAX_MESSAGE = 500


class ErrorDetails:
    """What an error body said, whatever its shape."""

    __slots__ = ("code", "data", "field_errors", "message")

    def __init__(
        self,
        message: str | None,
        code: str | None,
        field_errors: dict[str, list[str]],
        data: Any,
    ) -> None:
        self.message = message
        self.code = code
        self.field_errors = field_errors
        self.data = data


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _field_errors(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, list[str]] = {}
    for key, messages in value.items():
        if isinstance(messages, str):
            out[str(key)] = [messages]
        elif isinstance(messages, list):
            out[str(key)] = [m for m in (_text(x) for x in messages) if m is not None]
    return out


def parse_error_body(body: bytes) -> ErrorDetails:
    """Read an error body of any known shape. Never raises."""
    data = loads_or_none(body)
    message: str | None = None
    code: str | None = None
    field_errors: dict[str, list[str]] = {}
    if isinstance(data, Mapping):
        error = data.get("error")
        if isinstance(error, Mapping):  # Intervals
            message = _text(error.get("message"))
            code = _text(error.get("code"))
            field_errors = _field_errors(error.get("errors"))
        elif isinstance(error, str):  # RideWithGPS, documented
            message = error
        errors = data.get("errors")
        if message is None and isinstance(errors, list):  # RideWithGPS, its OpenAPI
            texts = [t for t in (_text(x) for x in errors) if t]
            message = "; ".join(texts) if texts else None
        elif isinstance(errors, Mapping) and not field_errors:
            field_errors = _field_errors(errors)
        if message is None:
            message = _text(data.get("message"))  # RideWithGPS, its CLI
        if code is None:
            code = _text(data.get("code"))
    if message is not None and len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "…"
    return ErrorDetails(message, code, field_errors, data)


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

    ``retry_after`` is the parsed ``Retry-After`` header; when absent, the
    provider's ``body_wait`` may name one from the body. Server text repeated
    in the error (message, code, field errors, request id) has the client's
    own credentials (``secrets``) redacted: a server may echo the request's
    headers. ``body_limit`` is set when the body was larger than the cap and
    ``body`` holds only its start: the error keeps its status (and so its
    retry decision), and its message says the body was cut.
    """
    details = (parse_error or parse_error_body)(body)
    if retry_after is None and body_wait is not None and details.data is not None:
        try:
            retry_after = body_wait(details.data, now)
        except Exception:  # a hostile body must not break error mapping
            retry_after = None
    message = details.message or _reason(status)
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
