"""The exception hierarchy, read top to bottom.

Every exception the library raises on purpose derives from :class:`APIError`.
No exception text ever contains a credential: messages are built from the
method, the path (never the query string's secrets: we send none there) and
what the server said.
"""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CancelledElsewhereError",
    "ClientClosedError",
    "ConflictError",
    "DecodeError",
    "InvalidRequestError",
    "MergeError",
    "MissingCredentialsError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "SkippedEventWarning",
    "TruncationWarning",
    "ValidationError",
]


class APIError(Exception):
    """Root of all library errors.

    ``attempts`` is how many HTTP attempts were made (0 when nothing was sent);
    ``resume_page`` is set by paginating iterators when they give up, naming the
    page (or cursor) to resume from.
    """

    attempts: int = 0
    resume_page: int | str | None = None

    def __init__(self, message: str, *, attempts: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts

    def __str__(self) -> str:
        return self._describe(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with its attributes, not by calling __init__ again with ``args``
        # (status_code, errors... are keywords or more than args holds): errors cross
        # process boundaries (multiprocessing, a process pool, Celery's pickle serializer).
        return (_unpickle, (type(self), self.args), self.__dict__)

    def _describe(self, text: str) -> str:
        """``text`` with how many attempts were made and where to resume, when known."""
        if self.attempts > 1:
            text += f" (after {self.attempts} attempts)"
        if self.resume_page is not None:
            text += f" [resume from page {self.resume_page!r}]"
        return text


def _unpickle(kind: type[APIError], args: tuple[Any, ...]) -> APIError:
    """A pickled :class:`APIError`, its attributes set after (``__setstate__``)."""
    return kind.__new__(kind, *args)


class APIConnectionError(APIError):
    """Connect, reset or DNS failure, after retries."""


class APITimeoutError(APIConnectionError):
    """The request timed out, after retries."""


class ClientClosedError(APIError):
    """The client, or the caller's session it borrows, was closed before or while the
    request was sent (a request cut off in flight may have reached the server)."""


class CancelledElsewhereError(APIError):
    """A call (or a source) was cancelled by something other than its caller.

    :func:`common.fetch_many` gives it as a key's ``Result.error`` when the
    function raised ``CancelledError`` although the caller was not cancelled
    (it awaited a future or a task that something else cancelled), and
    :func:`common.merge_events` raises it when a source meets one: the work is
    not finished, so it is never counted as done. The original
    ``CancelledError`` is its ``__cause__``. The caller's own cancellation is
    never turned into this: it propagates as ``CancelledError``.
    """


class MergeError(APIError):
    """Several concurrent sources failed together; ``errors`` holds each one's error.

    Raised by :func:`common.merge_events` instead of an ``ExceptionGroup`` (one
    failure is raised as itself).
    """

    def __init__(self, message: str, errors: tuple[Exception, ...]) -> None:
        super().__init__(message)
        self.errors = errors


class DecodeError(APIError):
    """A 2xx body is not JSON or does not match the model; the message names the field path."""


class InvalidRequestError(APIError, ValueError):
    """Client-side validation failed; nothing was sent."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MissingCredentialsError(InvalidRequestError):
    """No credentials were given or found in the environment (raised at construction)."""


class APIStatusError(APIError):
    """The server answered with a non-2xx status.

    ``message`` is what the server said, as it said it; ``hint`` (None unless a
    provider knows better) is the library's advice, shown by ``str()`` only.
    """

    hint: str | None = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        field_errors: dict[str, list[str]] | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.status_code = status_code
        self.code = code
        self.field_errors: dict[str, list[str]] = field_errors or {}
        self.retry_after = retry_after
        self.request_id = request_id
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        code = f" {self.code}" if self.code else ""
        text = f"{where}{self.status_code}{code}: {self.message}"
        if self.field_errors:
            details = "; ".join(f"{k}: {', '.join(v)}" for k, v in self.field_errors.items())
            text += f" ({details})"
        if self.hint:
            text += f" ({self.hint})"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return self._describe(text)


class BadRequestError(APIStatusError):
    """400: the server found the request malformed."""


class AuthenticationError(APIStatusError):
    """401: the credentials are missing or invalid."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials lack a permission (for Intervals, a scope)."""


class NotFoundError(APIStatusError):
    """404: no such resource."""


class ConflictError(APIStatusError):
    """409: a conflict, e.g. an idempotency key reused with another body. Never retried."""


class ValidationError(APIStatusError):
    """422: the server refused the content of the request."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` says how long the server asked to wait."""


class ServerError(APIStatusError):
    """5xx: the server failed."""


class TruncationWarning(UserWarning):
    """A listing may have been cut short by the API's limit with no way to get the rest."""


class SkippedEventWarning(UserWarning):
    """An event source left an event out of a listing; the message names the event and why."""


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[APIStatusError]:
    """The :class:`APIStatusError` subclass for an HTTP status (a status outside HTTP's
    100-599, which aiohttp lets through, is a plain :class:`APIStatusError`)."""
    if 500 <= status < 600:
        return ServerError
    return STATUS_ERRORS.get(status, APIStatusError)


#: Packages whose frames a warning skips to name the caller's line (the library's own).
_LIBRARY = frozenset({"common", "intervals_async", "ridewithgps_async"})


def warn(message: str | Warning, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` at the caller's line: the first frame outside the library and
    outside the package that calls this (a provider's, built in or not: a listing's
    warning comes from several layers of generators and wrappers; a fixed ``stacklevel``
    named one of them)."""
    try:
        frame = sys._getframe(1)  # the caller: stacklevel 2
    except ValueError:  # called as the first frame of a thread: no caller to name
        warnings.warn(message, category, stacklevel=1)
        return
    inside = {*_LIBRARY, _package(frame)}
    level = 2
    while frame.f_back is not None and _package(frame) in inside:
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def _package(frame: types.FrameType) -> str:
    return str(frame.f_globals.get("__name__", "")).partition(".")[0]
