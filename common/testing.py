"""In-memory fake HTTP servers for tests and benchmarks: the shared machinery.

A fake is an :class:`aiohttp.web.Application` served on a real local TCP port, so clients talk
to it over real HTTP. :class:`FakeServer` adds what every fake needs:

* a request log (:attr:`FakeServer.requests`) and the statuses sent
  (:attr:`FakeServer.statuses`, :meth:`FakeServer.count_status`);
* fault injection (:meth:`FakeServer.inject` with :class:`Fault`): error statuses, delays,
  dropped connections, lost responses, raw bodies;
* a token-bucket rate limit (:meth:`FakeServer.rate_limit`) answering 429.

Per request the order is: record the request, apply a queued fault, apply the rate limit, then
:meth:`FakeServer.dispatch` (the subclass' authentication, validation and route handler).

Subclasses render error bodies (:meth:`FakeServer.error_body`) and 429 responses
(:meth:`FakeServer.rate_limit_response`) in their API's own shapes and add their routes to
:attr:`FakeServer.app`. :func:`run_cli` runs a fake in its own process for benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import re
import signal
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, TypeVar

import attrs
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = [
    "ApiError",
    "Fault",
    "FakeServer",
    "RateLimitStyle",
    "RecordedRequest",
    "build_arg_parser",
    "error_code",
    "json_response",
    "run_cli",
    "slugify",
]

logger = logging.getLogger(__name__)

RateLimitStyle = Literal["body", "header"]
"""How a 429 tells the wait: in the JSON body (Intervals' documented way) or a ``Retry-After``."""

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


@attrs.frozen
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    """HTTP method, upper case."""
    path: str
    """Raw path as received, percent-escapes preserved, without the query string."""
    query: dict[str, str]
    """Query parameters (the last value wins for repeated names)."""
    headers: dict[str, str]
    """Request headers (the last value wins for repeated names)."""
    body: bytes
    """Raw request body."""
    json: Any
    """The body parsed as JSON, or ``None`` when empty or not JSON."""


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

    def matches(self, request: web.Request) -> bool:
        return (self.method is None or self.method == request.method) and (
            self.path is None or request.rel_url.raw_path.startswith(self.path)
        )


@attrs.define
class _TokenBucket:
    rps: float
    burst: int
    style: RateLimitStyle
    tokens: float
    updated: float

    def take(self) -> float | None:
        """Take a token; ``None`` when granted, else the seconds until one is available."""
        now = time.monotonic()
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
        with ``path`` (if given; an exact path is a prefix of itself).
        """
        upper = method.upper() if method is not None else None
        self._faults.extend(_QueuedFault(fault, upper, path) for fault in faults)

    @property
    def pending_faults(self) -> int:
        """How many injected faults are not used up yet."""
        return len(self._faults)

    def rate_limit(self, rps: float | None, burst: int = 1, style: RateLimitStyle = "body") -> None:
        """Answer 429 beyond a token bucket of ``burst`` tokens refilled at ``rps``/s.

        ``None`` switches the limit off. The bucket starts full.
        """
        if rps is None:
            self._bucket = None
            return
        if rps <= 0 or burst < 1:
            raise ValueError("rps must be > 0 and burst >= 1")
        self._bucket = _TokenBucket(rps, burst, style, float(burst), time.monotonic())

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
        """The 429 answer; this default sends the error body and a ``Retry-After`` header."""
        response = self.error_response(429, "Rate limit exceeded")
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return response

    async def dispatch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer a request that passed faults and rate limiting; subclasses wrap this."""
        return await handler(request)

    async def inspect_response(self, request: web.Request, response: web.StreamResponse) -> None:
        """Called with every response about to be sent, except injected fault responses."""

    # --- machinery -----------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.rel_url.raw_path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
                json=_parse_json(body),
            )
        )
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
        "--rate-limit-style", choices=["body", "header"], default="body", help="how 429 tells"
    )
    return parser


def run_cli(
    factory: Callable[[argparse.Namespace], FakeServer],
    on_ready: Callable[[str], None],
    description: str,
    argv: list[str] | None = None,
) -> None:
    """Parse ``argv``, serve ``factory(options)`` until killed; ``on_ready(url)`` once listening."""
    options = build_arg_parser(description).parse_args(argv)

    async def serve() -> None:
        server = factory(options)
        if options.rate_limit is not None:
            server.rate_limit(options.rate_limit, options.burst, options.rate_limit_style)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        async with server:
            on_ready(server.url)
            await stop.wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
