"""In-memory fake HTTP servers for tests and benchmarks: the shared machinery.

A fake is an :class:`aiohttp.web.Application` served on a real local TCP port, so clients talk
to it over real HTTP. :class:`FakeServer` adds what every fake needs:

* a request log (:attr:`FakeServer.requests`: what arrived, when, and the status answered)
  and the statuses sent (:attr:`FakeServer.statuses`, :meth:`FakeServer.count_status`);
* fault injection (:meth:`FakeServer.inject` with :class:`Fault`): error statuses, delays,
  dropped connections, lost responses, raw bodies; matched by method, path and query values;
* a token-bucket rate limit (:meth:`FakeServer.rate_limit`) answering 429;
* OpenAPI checks (:class:`SpecChecker`, needs the ``testing`` extra's openapi-core), with
  mismatches recorded in :attr:`FakeServer.violations`.

Per request the order is: record the request, apply a queued fault, apply the rate limit, then
:meth:`FakeServer.dispatch` (the subclass' authentication, validation and route handler).

Subclasses render error bodies (:meth:`FakeServer.error_body`) and 429 responses
(:meth:`FakeServer.rate_limit_response`) in their API's own shapes and add their routes to
:attr:`FakeServer.app`. :class:`ScriptedServer` answers every path from a script of handlers,
for testing transports against exact misbehaviour. :func:`run_cli` runs a fake in its own
process (benchmarks, manual tries).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import re
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

import attrs
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from ._memory import MemoryHandler, MemorySender, Sent, connection_lost, not_connected, reply
from ._virtual import VirtualEventLoop, run_virtual, virtual_backend

__all__ = [
    "ApiError",
    "Fault",
    "FakeServer",
    "RateLimitKind",
    "RateLimitStyle",
    "RecordedRequest",
    "ScriptHandler",
    "ScriptedServer",
    "SpecChecker",
    "MemoryHandler",
    "MemorySender",
    "Sent",
    "VirtualEventLoop",
    "connection_lost",
    "not_connected",
    "reply",
    "run_virtual",
    "virtual_backend",
    "build_arg_parser",
    "error_code",
    "json_response",
    "resolve_validate",
    "run_cli",
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
    """A JSON response serialized with orjson."""
    return web.Response(
        body=orjson.dumps(data), status=status, headers=headers, content_type="application/json"
    )


def slugify(text: str) -> str:
    """Lower-case ``text`` with runs of other characters turned into single dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
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
    """When it arrived, on the :func:`time.monotonic` clock (compare with other requests')."""
    status: int | None = None
    """Status answered; ``None`` while in flight and when the connection was dropped."""

    @property
    def raw_path(self) -> str:
        """:attr:`path` under aiohttp's name for it."""
        return self.path


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
        now = time.monotonic()
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
    Subclasses add routes to :attr:`app` and override :meth:`error_body`, and may override
    :meth:`dispatch` and :meth:`rate_limit_response`. All state is per instance.
    """

    shutdown_timeout: float = 0.5
    """Seconds :meth:`aclose` lets in-flight handlers (e.g. delayed ones) finish."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare the application; nothing listens until :meth:`start`."""
        self.host = host
        self.port = port
        self.app = web.Application(middlewares=[self._middleware])
        """The aiohttp application; subclasses add their routes to its router."""
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order."""
        self.statuses: list[int] = []
        """Status of every response sent, in order (dropped connections send none)."""
        self.violations: list[str] = []
        """Mismatches with the API's description seen, as readable lines (fakes that check)."""
        self._faults: list[_QueuedFault] = []
        self._bucket: _TokenBucket | None = None
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash); set by :meth:`start`."""
        if self._url is None:
            raise RuntimeError("the fake server is not started")
        return self._url

    async def start(self) -> None:
        """Start listening; the chosen port is in :attr:`url`."""
        runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=self.shutdown_timeout
        )
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await self.aclose()
            raise
        host, port = runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"
        logger.debug("%s listening on %s", type(self).__name__, self._url)

    async def aclose(self) -> None:
        """Stop listening and close every connection (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

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
        self._bucket = _TokenBucket(rps, burst, style, float(burst), time.monotonic(), kind)

    def count_status(self, status: int) -> int:
        """How many responses with ``status`` were sent."""
        return self.statuses.count(status)

    # --- subclass hooks ------------------------------------------------------------------

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
        """Answer a request that passed faults and rate limiting; subclasses wrap this."""
        return await handler(request)

    async def inspect_response(self, request: web.Request, response: web.StreamResponse) -> None:
        """Called with every response about to be sent, except injected fault responses."""

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
            received_at=time.monotonic(),
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


# --- checking against an OpenAPI description --------------------------------------------

_INSTALL_HINT = "pip install 'eventsync[testing]'"


def resolve_validate(validate: bool | None) -> bool:
    """Whether a fake checks traffic against its API description.

    ``None``: when openapi-core (the ``testing`` extra) is installed; ``True``: demands it and
    raises :class:`ImportError` naming the extra when missing; ``False``: never.
    """
    if validate is False:
        return False
    try:
        import openapi_core  # noqa: F401
    except ImportError as exc:
        if validate:
            raise ImportError(f"validate=True needs openapi-core: {_INSTALL_HINT}") from exc
        return False
    return True


@attrs.define
class _SpecRequest:
    """A request as openapi-core sees it, on the description's own server URL."""

    host_url: str
    method: str
    path: str
    parameters: Any
    body: bytes | None
    content_type: str


@attrs.frozen
class _SpecResponse:
    data: bytes
    status_code: int
    content_type: str
    headers: Mapping[str, str]


def _describe(error: Exception) -> dict[str, list[str]]:
    """``{field: [messages]}`` for one openapi-core request error."""
    cause = error.__cause__
    schema_errors: Iterable[Any] = getattr(cause, "schema_errors", ())
    name = getattr(error, "name", None)
    if name is not None:  # a parameter
        return {name: [getattr(e, "message", str(e)) for e in schema_errors] or [str(error)]}
    fields: dict[str, list[str]] = {}
    for schema_error in schema_errors:
        field = ".".join(str(part) for part in schema_error.path) or "body"
        fields.setdefault(field, []).append(schema_error.message)
    return fields or {"body": [str(cause or error)]}


class SpecChecker:
    """Checks requests and responses against an OpenAPI description, with openapi-core.

    It only reports: the fake decides what to answer and records the findings in
    :attr:`FakeServer.violations`. ``check_description=False`` loads a description that is
    not strictly valid OpenAPI (RideWithGPS' own) without checking the description itself.
    """

    def __init__(self, spec: Mapping[str, Any], *, check_description: bool = True) -> None:
        """Raises :class:`ImportError` naming the ``testing`` extra without openapi-core."""
        try:
            from openapi_core import Config, OpenAPI
            from openapi_core.datatypes import RequestParameters
        except ImportError as exc:
            raise ImportError(f"spec validation needs openapi-core: {_INSTALL_HINT}") from exc
        self.spec = spec
        """The description checked against (do not change it)."""
        self._parameters = RequestParameters
        self._server = str(spec["servers"][0]["url"]).rstrip("/")
        config = Config() if check_description else Config(spec_validator_cls=None)
        self._openapi = OpenAPI.from_dict(dict(spec), config=config)

    def _request(self, request: web.Request, body: bytes, method: str | None) -> _SpecRequest:
        parameters = self._parameters(
            query=request.query, header=request.headers, cookie=request.cookies
        )
        return _SpecRequest(
            host_url=self._server,
            method=(method or request.method).lower(),
            path=request.rel_url.raw_path,
            parameters=parameters,
            body=body or None,
            content_type=request.content_type,
        )

    def request_errors(
        self, request: web.Request, body: bytes, *, method: str | None = None
    ) -> dict[str, list[str]]:
        """``{field or parameter: [messages]}``, empty when ``request`` matches; ``method``
        checks it as another method's operation."""
        errors: dict[str, list[str]] = {}
        for error in self._openapi.iter_request_errors(self._request(request, body, method)):
            for field, messages in _describe(error).items():
                errors.setdefault(field, []).extend(messages)
        return errors

    def response_errors(
        self,
        request: web.Request,
        body: bytes,
        response: web.Response,
        *,
        data: bytes | None = None,
        status: int | None = None,
        method: str | None = None,
    ) -> list[str]:
        """Messages for each way ``response`` to ``request`` differs from the description.

        ``data`` and ``status`` check another body or status than the response's own (e.g.
        with documented extensions removed); ``method`` as in :meth:`request_errors`.
        """
        if data is None:
            data = response.body if isinstance(response.body, bytes) else b""
        spec_response = _SpecResponse(
            data, status or response.status, response.content_type, response.headers
        )
        spec_request = self._request(request, body, method)
        found = []
        for error in self._openapi.iter_response_errors(spec_request, spec_response):
            cause = f" ({error.__cause__})" if error.__cause__ is not None else ""
            found.append(f"{error}{cause}")
        return found


# --- a server answering from a script ------------------------------------------------------

ScriptHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp handler: one step of a :class:`ScriptedServer`'s script."""


class ScriptedServer(FakeServer):
    """Answers the ``n``-th request with the ``n``-th handler of its script, whatever the
    method and path (``request.match_info["tail"]`` is the path without its leading slash);
    the last handler answers every later request.

    For testing an HTTP client against exact answers and misbehaviour; the request log, faults
    and the rate limit work as in every fake. :meth:`answer` replaces the script; the step is
    ``len(requests)``, so clearing :attr:`requests` starts the script over.
    """

    shutdown_timeout = 0.2

    def __init__(self, *script: ScriptHandler, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on every path; ``script`` may also be given later with :meth:`answer`."""
        super().__init__(host=host, port=port)
        self.script: list[ScriptHandler] = list(script)
        """The handlers, in the order they answer."""
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    def answer(self, *script: ScriptHandler) -> None:
        """Replace the script."""
        self.script = list(script)

    @property
    def bodies(self) -> list[bytes]:
        """The raw body of every request received, in order."""
        return [request.body for request in self.requests]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self.script:
            raise ApiError(500, "ScriptedServer has no script: call answer() first")
        step = min(len(self.requests), len(self.script)) - 1
        return await self.script[step](request)


# --- running a fake in its own process ---------------------------------------------------


def build_arg_parser(description: str) -> argparse.ArgumentParser:
    """Command-line options shared by the fakes' ``python -m ... .testing`` entry points."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--events", type=int, default=None, help="number of seeded events")
    parser.add_argument(
        "--no-validate", action="store_true", help="skip OpenAPI validation (if the fake has it)"
    )
    parser.add_argument("--rate-limit", type=float, default=None, metavar="RPS")
    parser.add_argument("--burst", type=int, default=1, help="rate-limit burst (default 1)")
    parser.add_argument(
        "--rate-limit-style",
        choices=["body", "body-rounded", "header", "none"],
        default="body",
        help="how a 429 names its wait (default body)",
    )
    parser.add_argument(
        "--rate-limit-kind",
        choices=["token", "sliding", "fixed"],
        default="token",
        help="token bucket, sliding or fixed window (default token)",
    )
    return parser


def run_cli(
    factory: Callable[[argparse.Namespace], FakeServer],
    description: str,
    argv: list[str] | None = None,
) -> None:
    """Parse ``argv``, serve ``factory(options)`` until SIGINT/SIGTERM.

    Once listening it prints its URL as the first line of stdout (scripts wait for it), then
    the credentials it accepts (:meth:`FakeServer.credentials`) on stderr.
    """
    options = build_arg_parser(description).parse_args(argv)

    async def serve() -> None:
        server = factory(options)
        if options.rate_limit is not None:
            server.rate_limit(
                options.rate_limit,
                options.burst,
                options.rate_limit_style,
                options.rate_limit_kind,
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        async with server:
            print(server.url, flush=True)
            lines = [f"{type(server).__name__} on {server.url} accepts:", *server.credentials()]
            print("\n  ".join(lines), file=sys.stderr, flush=True)
            await stop.wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
