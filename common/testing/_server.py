"""The fake server base: real HTTP on a local port, a request log, faults, a rate limit and
(optionally) checks against the API's OpenAPI description.

Per request the order is: record the request, apply a queued fault, apply the rate limit,
then :meth:`FakeServer.dispatch`: unknown operation (a violation; 404/405), :meth:`authenticate`,
the request against the description (:meth:`invalid_request`), the route's handler. Every
response (fault responses excepted) goes through :meth:`FakeServer.inspect_response`, which
checks it against the description.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections import deque
from collections.abc import Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

import attrs
import msgspec
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from .._clock import loop_time
from ._spec import SpecChecker, resolve_validate

__all__ = [
    "ApiError",
    "FakeServer",
    "Fault",
    "Handler",
    "RateLimitKind",
    "RateLimitStyle",
    "RecordedRequest",
    "error_code",
    "json_response",
    "slugify",
]

logger = logging.getLogger(__name__)

RateLimitStyle = Literal["body", "body-rounded", "header", "none"]
"""How a 429 tells the wait: in the JSON body (Intervals' documented way: exact epoch ms, or
``body-rounded`` up to whole seconds as the real server does), a whole-second
``Retry-After``, or ``none`` (a bare 429)."""
RateLimitKind = Literal["token", "sliding", "fixed"]
"""The limit's shape: a token bucket, a sliding window or a fixed window (``burst`` requests
per ``burst / rps`` seconds for the two windows)."""

_Server = TypeVar("_Server", bound="FakeServer")
_CODES = {422: "VALIDATION_ERROR", 429: "RATE_LIMITED", 500: "INTERNAL_ERROR"}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_code(status: int) -> str:
    """Upper-case error code of ``status``, e.g. ``NOT_FOUND`` (404), ``INTERNAL_ERROR`` (500)."""
    if status in _CODES:
        return _CODES[status]
    return _phrase(status).upper().replace(" ", "_").replace("-", "_")


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response serialized with msgspec."""
    return web.Response(
        body=msgspec.json.encode(data),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def slugify(text: str) -> str:
    """Lower-case ``text`` with runs of other characters turned into single dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None


class ApiError(Exception):
    """Raised by a fake's handlers to answer an API error (see :meth:`FakeServer.api_error`)."""

    def __init__(self, status: int, message: str, details: Any = None) -> None:
        """``details`` is API specific, e.g. field errors."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


@attrs.define
class RecordedRequest:
    """One request as the fake received it, and what it answered."""

    method: str
    """HTTP method, upper case."""
    path: str
    """Raw path as received, percent-escapes preserved, without the query string."""
    query: dict[str, str]
    """Query parameters (the last value wins for repeated names)."""
    headers: CIMultiDict[str]
    """Request headers; names are case-insensitive, as in HTTP."""
    body: bytes
    """Raw request body."""
    json: Any
    """The body parsed as JSON, or ``None`` when empty or not JSON."""
    received_at: float = 0.0
    """When it arrived, on the event loop's clock (compare with other requests')."""
    status: int | None = None
    """Status answered; ``None`` while in flight and when the connection was dropped."""


@attrs.frozen
class Fault:
    """A misbehaviour to apply to one matching request (see :meth:`FakeServer.inject`).

    ``delay`` is applied first. Then ``drop`` closes the connection without a response;
    ``status`` and/or ``body`` answer instead of the real handler (an error body in the API's
    own shape for ``status``; ``body`` is sent verbatim with ``content_type``, status 200 unless
    ``status`` is given); otherwise the real handler answers, and ``after_handler`` then
    closes the connection instead of sending its response (the write *was* processed).
    ``headers`` are added to whatever response is sent.
    """

    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    after_handler: bool = False
    headers: dict[str, str] | None = None
    body: bytes | None = None
    content_type: str = "application/json"

    @classmethod
    def http(cls, status: int, headers: dict[str, str] | None = None) -> Fault:
        """Answer ``status`` with the API's error body."""
        return cls(status=status, headers=headers)

    @classmethod
    def slow(cls, delay: float) -> Fault:
        """Let the real handler answer after ``delay`` seconds."""
        return cls(delay=delay)

    @classmethod
    def disconnect(cls, delay: float = 0.0) -> Fault:
        """Close the connection without any response (the client sees a disconnect)."""
        return cls(delay=delay, drop=True)

    @classmethod
    def lost_response(cls) -> Fault:
        """Process the request, then close the connection instead of answering."""
        return cls(after_handler=True)

    @classmethod
    def raw(cls, body: bytes, status: int = 200, content_type: str = "application/json") -> Fault:
        """Answer ``body`` verbatim, e.g. an HTML error page or truncated JSON."""
        return cls(status=status, body=body, content_type=content_type)


@attrs.frozen
class _QueuedFault:
    fault: Fault
    method: str | None
    path: str | None
    query: tuple[tuple[str, str], ...]

    def matches(self, request: web.Request) -> bool:
        return (
            (self.method is None or self.method == request.method)
            and (self.path is None or request.rel_url.raw_path.startswith(self.path))
            and all(value in request.query.getall(name, ()) for name, value in self.query)
        )


@attrs.define
class _TokenBucket:
    rps: float
    burst: int
    style: RateLimitStyle
    tokens: float
    updated: float
    kind: RateLimitKind = "token"
    #: The windows: accepted arrival times (sliding), or the window's start and count (fixed).
    window: deque[float] = attrs.field(factory=deque)
    window_start: float = 0.0
    window_count: int = 0

    def take(self) -> float | None:
        """Take a token; ``None`` when granted, else the seconds until one is available."""
        now = loop_time()
        if self.kind == "sliding":
            span = self.burst / self.rps
            while self.window and self.window[0] <= now - span:
                self.window.popleft()
            if len(self.window) < self.burst:
                self.window.append(now)
                return None
            return self.window[0] + span - now
        if self.kind == "fixed":
            span = self.burst / self.rps
            start = math.floor(now / span) * span
            if start != self.window_start:
                self.window_start, self.window_count = start, 0
            if self.window_count < self.burst:
                self.window_count += 1
                return None
            return start + span - now
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rps)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rps


class FakeServer:
    """Base of the fake servers: an async context manager serving :attr:`app` on a local port.

    ``async with FakeX() as server:`` starts it (:meth:`start`) and closes it (:meth:`aclose`).
    A subclass declares its routes with :meth:`add_operation` (or adds plain ones to
    :attr:`app`), renders errors in its API's shape (:meth:`error_body`, :meth:`api_error`,
    :meth:`rate_limit_response`) and checks credentials in :meth:`authenticate`. With a
    description (:meth:`description`) and openapi-core installed, requests and responses of
    its operations are checked against it (``validate``: ``None`` when openapi-core is
    installed, ``True`` demands it, ``False`` never) and mismatches recorded in
    :attr:`violations`. All state is per instance.
    """

    shutdown_timeout: float = 0.5
    """Seconds :meth:`aclose` lets in-flight handlers (e.g. delayed ones) finish."""
    check_description: bool = True
    """Whether the description itself must be valid OpenAPI (RideWithGPS' own is not)."""

    def __init__(
        self, *, validate: bool | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        """Prepare the application; nothing listens until :meth:`start`."""
        self.host = host
        self.port = port
        self.app = web.Application(middlewares=[self._middleware])
        """The aiohttp application; subclasses add their routes to its router."""
        self.operations: dict[str, tuple[str, str]] = {}
        """The described operations served: ``operationId -> (method, path in the description)``."""
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order."""
        self.statuses: list[int] = []
        """Status of every response sent, in order (dropped connections send none)."""
        self.violations: list[str] = []
        """Mismatches with the API's description seen, as readable lines (fakes that check)."""
        self.checker: SpecChecker | None = None
        """The checks against :meth:`description`, None when not checking."""
        if resolve_validate(validate):
            spec = self.description()
            if spec is not None:
                self.checker = SpecChecker(spec, check_description=self.check_description)
        self._faults: list[_QueuedFault] = []
        self._bucket: _TokenBucket | None = None
        self._server: TestServer | None = None
        self._url: str | None = None

    @property
    def validate(self) -> bool:
        """Whether requests and responses are checked against the description."""
        return self.checker is not None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash); set by :meth:`start`."""
        if self._url is None:
            raise RuntimeError("the fake server is not started")
        return self._url

    async def start(self) -> None:
        """Start listening; the chosen port is in :attr:`url`."""
        server = TestServer(self.app, host=self.host, port=self.port)
        self._server = server
        try:
            await server.start_server(
                handle_signals=False, access_log=None, shutdown_timeout=self.shutdown_timeout
            )
        except BaseException:
            await self.aclose()
            raise
        self._url = str(server.make_url("")).rstrip("/")
        logger.debug("%s listening on %s", type(self).__name__, self._url)

    async def aclose(self) -> None:
        """Stop listening and close every connection (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            await server.close()

    async def __aenter__(self: _Server) -> _Server:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the server."""
        await self.aclose()

    # --- test controls -------------------------------------------------------------------

    def inject(self, *faults: Fault, method: str | None = None, path: str | None = None) -> None:
        """Queue ``faults``; each is used up by one matching request, in queue order.

        A request matches when its method equals ``method`` (if given) and its raw path starts
        with ``path`` (if given; an exact path is a prefix of itself). A query in ``path``
        (``"/registration?eventId=e1"``) must be matched too: each of its values must be among
        the request's values of that name; other query parameters may be present.
        """
        upper = method.upper() if method is not None else None
        prefix = path
        query: tuple[tuple[str, str], ...] = ()
        if path is not None and "?" in path:
            prefix, _, raw_query = path.partition("?")
            query = tuple(parse_qsl(raw_query, keep_blank_values=True))
        self._faults.extend(_QueuedFault(fault, upper, prefix or None, query) for fault in faults)

    @property
    def pending_faults(self) -> int:
        """How many injected faults are not used up yet."""
        return len(self._faults)

    def rate_limit(
        self,
        rps: float | None,
        burst: int = 1,
        style: RateLimitStyle = "body",
        kind: RateLimitKind = "token",
    ) -> None:
        """Answer 429 beyond a token bucket of ``burst`` tokens refilled at ``rps``/s (or
        the window ``kind``, see :data:`RateLimitKind`), naming the wait as ``style`` says.

        ``None`` switches the limit off. The bucket starts full.
        """
        if rps is None:
            self._bucket = None
            return
        if rps <= 0 or burst < 1:
            raise ValueError("rps must be > 0 and burst >= 1")
        self._bucket = _TokenBucket(rps, burst, style, float(burst), loop_time(), kind)

    def count_status(self, status: int) -> int:
        """How many responses with ``status`` were sent."""
        return self.statuses.count(status)

    # --- subclass hooks ------------------------------------------------------------------

    def description(self) -> Mapping[str, Any] | None:
        """The API's OpenAPI description to check traffic against; None (this default):
        no checks."""
        return None

    def add_operation(
        self, operation: str, method: str, path: str, handler: Handler, *, route: str | None = None
    ) -> None:
        """Serve the described ``operation`` (``method path`` in the description) with
        ``handler``, on ``route`` (an aiohttp route pattern; default ``path``)."""
        self.operations[operation] = (method, path)
        self.app.router.add_route(method, route or path, handler, name=operation)

    def authenticate(self, request: web.Request, operation: str | None) -> None:
        """Raise :class:`ApiError` (401, 403) for bad credentials; this default accepts all."""

    def spec_method(self, request: web.Request) -> str:
        """The description's method for ``request`` (its own, unless the API documents more)."""
        return request.method

    def invalid_request(self, errors: dict[str, list[str]]) -> ApiError:
        """The answer to a request the description refuses (``{field: [messages]}``);
        this default: 422 with the errors as details."""
        return ApiError(422, "Request does not match the API description", errors)

    def checked_body(self, request: web.Request, response: web.Response) -> bytes | None:
        """The body of ``response`` as checked against the description (a subclass removes
        documented extensions the description lacks); None: not checked."""
        return response.body if isinstance(response.body, bytes) else b""

    def error_body(self, status: int, code: str, message: str) -> Any:
        """The JSON error body of this API for ``status``; subclasses override."""
        return {"error": message}

    def error_response(
        self, status: int, message: str | None = None, code: str | None = None
    ) -> web.Response:
        """An error response rendered with :meth:`error_body`."""
        if message is None:
            message = _phrase(status)
        return json_response(self.error_body(status, code or error_code(status), message), status)

    def api_error(self, error: ApiError) -> web.Response:
        """The response to an :class:`ApiError` raised while answering; this default ignores
        ``details``."""
        return self.error_response(error.status, error.message)

    def rate_limit_response(self, retry_after: float, style: RateLimitStyle) -> web.Response:
        """The 429 answer; this default sends the error body and a ``Retry-After`` header
        (none for ``style="none"``)."""
        response = self.error_response(429, "Rate limit exceeded")
        if style != "none":
            response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return response

    async def dispatch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer a request that passed faults and rate limiting: an operation not described
        (when the fake describes any) is a violation, then :meth:`authenticate`, the request
        against the description, ``handler``. Subclasses may wrap it."""
        operation = request.match_info.route.name
        if self.operations and operation not in self.operations:
            where = f"{request.method} {request.rel_url.raw_path}"
            self.violations.append(f"{where}: not in the description")
            return await handler(request)  # raises 404 / 405
        self.authenticate(request, operation)
        if self.checker is not None and operation is not None:
            body = await request.read()
            errors = self.checker.request_errors(request, body, method=self.spec_method(request))
            if errors:
                where = f"{request.method} {request.rel_url}"
                self.violations.append(f"request {where}: {msgspec.json.encode(errors).decode()}")
                raise self.invalid_request(errors)
        return await handler(request)

    async def inspect_response(self, request: web.Request, response: web.StreamResponse) -> None:
        """Called with every response about to be sent, except injected fault responses; this
        default checks it against the description. An error status its operation does not
        declare is checked against the one every operation declares, 401."""
        operation = self.operations.get(request.match_info.route.name or "")
        if self.checker is None or operation is None or not isinstance(response, web.Response):
            return
        data = self.checked_body(request, response)
        if data is None:
            return
        method = self.spec_method(request)
        status = response.status
        declared = self.checker.spec["paths"][operation[1]][method.lower()]["responses"]
        if status >= 400 and str(status) not in declared:
            status = 401
        body = await request.read()
        for error in self.checker.response_errors(
            request, body, response, data=data, status=status, method=method
        ):
            where = f"{request.method} {request.rel_url}"
            self.violations.append(f"response {response.status} to {where}: {error}")

    def credentials(self) -> list[str]:
        """Human-readable lines naming the credentials this fake accepts (printed by
        :func:`run_cli`); this default accepts anything."""
        return ["any credentials"]

    # --- machinery -----------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        record = RecordedRequest(
            method=request.method,
            path=request.rel_url.raw_path,
            query=dict(request.query),
            headers=CIMultiDict(request.headers),
            body=body,
            json=_parse_json(body),
            received_at=loop_time(),
        )
        self.requests.append(record)
        fault = self._take_fault(request)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.drop:
            return self._drop(request)
        response: web.StreamResponse
        if fault is not None and (fault.status is not None or fault.body is not None):
            response = self._fault_response(fault)
        else:
            response = await self._answer(request, handler)
            await self.inspect_response(request, response)
        if fault is not None and fault.headers:
            response.headers.update(fault.headers)
        if fault is not None and fault.after_handler:
            return self._drop(request)
        self.statuses.append(response.status)
        record.status = response.status
        return response

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._bucket is not None:
            wait = self._bucket.take()
            if wait is not None:
                return self.rate_limit_response(wait, self._bucket.style)
        try:
            return await self.dispatch(request, handler)
        except ApiError as error:
            return self.api_error(error)
        except web.HTTPException as exc:  # unknown route or method
            return self.error_response(exc.status, exc.reason)
        except Exception:
            logger.exception("fake handler failed on %s %s", request.method, request.path)
            return self.error_response(500, "Internal server error")

    def _take_fault(self, request: web.Request) -> Fault | None:
        for index, queued in enumerate(self._faults):
            if queued.matches(request):
                del self._faults[index]
                return queued.fault
        return None

    def _fault_response(self, fault: Fault) -> web.Response:
        if fault.body is None:
            assert fault.status is not None
            return self.error_response(fault.status)
        return web.Response(
            body=fault.body, status=fault.status or 200, content_type=fault.content_type
        )

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.close()
        raise asyncio.CancelledError  # nothing can be sent on a closed connection
