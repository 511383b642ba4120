"""For provider authors: the plug-in interface, its registry, and the building blocks.

Users need only :mod:`common` (the contract's names); a provider package is
written against this module: :class:`BaseClient`, :class:`Decoder` and
:func:`make_converter`, :func:`build_path`, :func:`paginate` and :class:`Chunk`,
the request-class helpers (:func:`required`, :func:`optional`,
:func:`request_method`), the checks (``check_*``), the auth classes and the
error-body tools are all re-exported here.

The core never imports a provider package. A provider describes itself with a
:class:`ProviderPlugin` and declares it as an entry point of the group
``eventsync.providers`` in its own ``pyproject.toml``; the ``eventsync``
command (and any application) finds every installed provider through
:meth:`Registry.discover`::

    [project.entry-points."eventsync.providers"]
    myclub = "myclub_async._provider:PLUGIN"

::

    from common.provider import Registry

    registry = Registry.discover()
    plugin = registry.get("intervals")
    async with plugin.open_source(SourceOptions(rate_limit=5)) as source:
        async for event in source.iter_events():
            ...

A plugin is data: its name (the value its events carry in ``Event.provider``),
a client factory that reads credentials from the environment, the adapter
from that client to a :class:`common.EventSource`, the environment variables
it reads (for help texts) and, optionally, a factory of an in-process fake for
the demo. ``tests/third_provider/`` is a complete one, outside ``common``.
"""

from __future__ import annotations

from ._auth import Auth, BasicAuth, BearerAuth, HeaderAuth, NoAuth
from ._client import BaseClient, RequestArgs
from ._decode import (
    Decoder,
    ModelConverter,
    camel_case,
    make_converter,
    parse_date,
    parse_datetime,
    parse_time,
)
from ._errormap import ErrorDetails, error_fields, error_text, parse_error_body
from ._http import AiohttpSender
from ._options import DEFAULT_MAX_RESPONSE_BYTES, CallOptions, ClientOptions, Options
from ._page import Page, resume_from
from ._paginate import Chunk, paginate
from ._registry import ENTRY_POINT_GROUP, EnvVar, ProviderPlugin, Registry, SourceOptions
from ._retry import (
    CallState,
    Decision,
    FailedAttempt,
    Failure,
    backoff_delay,
    decide,
    is_retryable,
    parse_retry_after,
)
from ._sender import AttemptFailed, Request, Response, Sender
from ._transport import Transport
from ._types import local_start, zone_or_none
from ._url import build_path, validate_base_url
from ._validate import (
    NOT_GIVEN,
    Check,
    any_text,
    between,
    build_request,
    check_country,
    check_date,
    check_enum,
    check_int,
    check_number,
    check_text,
    check_time,
    check_timezone,
    check_uri,
    format_time,
    not_sent,
    nullable,
    one_of,
    optional,
    request_method,
    required,
)
from .ratelimit import Limiter, LocalLimiter, Pacer, PaceState, Report, Slot

__all__ = [
    # the plug-in interface
    "ENTRY_POINT_GROUP",
    "EnvVar",
    "ProviderPlugin",
    "Registry",
    "SourceOptions",
    # building a client: transport, auth, options
    "DEFAULT_MAX_RESPONSE_BYTES",
    "Auth",
    "BaseClient",
    "BasicAuth",
    "BearerAuth",
    "CallOptions",
    "ClientOptions",
    "HeaderAuth",
    "NoAuth",
    "Options",
    "RequestArgs",
    "Transport",
    # one attempt: the seam under the transport
    "AiohttpSender",
    "AttemptFailed",
    "Request",
    "Response",
    "Sender",
    # retry decisions and pacing (pure, for tests and custom limiters)
    "CallState",
    "Decision",
    "Failure",
    "Limiter",
    "LocalLimiter",
    "FailedAttempt",
    "PaceState",
    "Pacer",
    "Report",
    "Slot",
    "backoff_delay",
    "decide",
    "is_retryable",
    "parse_retry_after",
    # decoding and error bodies
    "Decoder",
    "ErrorDetails",
    "ModelConverter",
    "camel_case",
    "error_fields",
    "error_text",
    "make_converter",
    "parse_date",
    "parse_datetime",
    "parse_error_body",
    "parse_time",
    # requests: paths, checks, request classes
    "NOT_GIVEN",
    "Check",
    "any_text",
    "between",
    "build_path",
    "build_request",
    "check_country",
    "check_date",
    "check_enum",
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
    "validate_base_url",
    # listings and the common types' helpers
    "Chunk",
    "Page",
    "local_start",
    "paginate",
    "resume_from",
    "zone_or_none",
]
