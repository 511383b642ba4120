"""For provider authors: the plug-in interface, its registry, and the building blocks.

Users need only :mod:`common` (the contract's names); a provider package is
written against this module: :class:`BaseClient`, :class:`Decoder` and
:func:`make_converter`, :func:`build_path`, :func:`paginate` and :class:`Chunk`,
the request-class helpers (:func:`required`, :func:`optional`,
:func:`request_method`), the checks (``check_*``), the auth classes, the
error-body tools, the seam under the transport (:class:`Sender`,
:class:`Request`, :class:`Response`) and the fake server base
(:class:`FakeServer`, from :mod:`common.testing`) are all re-exported here.
How requests are retried and paced is the core's business, not a provider's:
those rules are not.

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

from typing import TYPE_CHECKING, Any

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
from ._paginate import Chunk, paginate
from ._registry import ENTRY_POINT_GROUP, EnvVar, ProviderPlugin, Registry, SourceOptions
from ._retry import Failure
from ._sender import AttemptFailed, Request, Response, Sender
from ._transport import Transport
from ._types import local_start, zone_or_none
from ._url import build_path
from ._validate import (
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
    not_sent,
    nullable,
    one_of,
    optional,
    request_method,
    required,
)

if TYPE_CHECKING:
    from .testing import ApiError, FakeServer, Handler, json_response

__all__ = [
    # the plug-in interface
    "ENTRY_POINT_GROUP",
    "EnvVar",
    "ProviderPlugin",
    "Registry",
    "SourceOptions",
    # the client: base class, auth, the transport under it
    "Auth",
    "BaseClient",
    "BasicAuth",
    "BearerAuth",
    "HeaderAuth",
    "NoAuth",
    "RequestArgs",
    "Transport",
    # one attempt: the seam under the transport
    "AiohttpSender",
    "AttemptFailed",
    "Failure",
    "Request",
    "Response",
    "Sender",
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
    "not_sent",
    "nullable",
    "one_of",
    "optional",
    "request_method",
    "required",
    # listings and the common types' helpers
    "Chunk",
    "local_start",
    "paginate",
    "zone_or_none",
    # the fake server base (from common.testing, imported on first use)
    "ApiError",
    "FakeServer",
    "Handler",
    "json_response",
]

_FAKE = frozenset({"ApiError", "FakeServer", "Handler", "json_response"})


def __getattr__(name: str) -> Any:
    # The fake base is for tests: importing the test kit (aiohttp's server) waits for its use.
    if name in _FAKE:
        from . import testing

        return getattr(testing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
