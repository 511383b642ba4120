"""The test kit: fake HTTP servers, an in-memory sender and a virtual clock.

* :class:`FakeServer` (in :mod:`._server`): an :class:`aiohttp.web.Application` served on a
  real local TCP port, so clients talk to it over real HTTP, with what every fake needs: a
  request log (:attr:`FakeServer.requests`, :attr:`FakeServer.statuses`), fault injection
  (:meth:`FakeServer.inject` with :class:`Fault`), a token-bucket rate limit
  (:meth:`FakeServer.rate_limit`) and, optionally, checks of every request and response
  against the API's OpenAPI description (:meth:`FakeServer.description`, :class:`SpecChecker`;
  needs the ``testing`` extra's openapi-core). A provider's fake subclasses it: routes with
  :meth:`FakeServer.add_operation`, credentials in :meth:`FakeServer.authenticate`, errors in
  its API's shape (:meth:`FakeServer.error_body`). :func:`run_cli` serves one in its own
  process (benchmarks, manual tries).
* :class:`ScriptedServer`: answers every path from a script of handlers, for testing an HTTP
  client against exact misbehaviour.
* :class:`MemorySender` and the virtual clock (:func:`run_virtual`, :func:`virtual_backend`):
  the transport's policy (retries, waits, pacing, deadlines) without sockets or real time.
"""

from ._memory import MemoryHandler, MemorySender, Sent, connection_lost, not_connected, reply
from ._run import build_arg_parser, run_cli
from ._scripted import ScriptedServer, ScriptHandler
from ._server import (
    ApiError,
    FakeServer,
    Fault,
    Handler,
    RateLimitKind,
    RateLimitStyle,
    RecordedRequest,
    error_code,
    json_response,
    slugify,
)
from ._spec import SpecChecker, load_spec, resolve_validate
from ._virtual import VirtualEventLoop, run_virtual, virtual_backend

__all__ = [
    # fake servers
    "ApiError",
    "FakeServer",
    "Fault",
    "Handler",
    "RateLimitKind",
    "RateLimitStyle",
    "RecordedRequest",
    "ScriptHandler",
    "ScriptedServer",
    "SpecChecker",
    "build_arg_parser",
    "error_code",
    "json_response",
    "load_spec",
    "resolve_validate",
    "run_cli",
    "slugify",
    # the in-memory sender and the virtual clock
    "MemoryHandler",
    "MemorySender",
    "Sent",
    "VirtualEventLoop",
    "connection_lost",
    "not_connected",
    "reply",
    "run_virtual",
    "virtual_backend",
]
