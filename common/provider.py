"""For provider authors: the plug-in interface, its registry, and the building blocks.

Users need only :mod:`common`; a provider package is written against this module:
the client base (:class:`BaseClient`, the auth classes), decoding (:class:`Decoder`,
:func:`make_converter`), paths and request classes (:func:`build_path`,
:func:`required`, :func:`optional`, :func:`request_method`, ``check_*``), listings
(:func:`paginate`, :class:`Chunk`), error bodies (:func:`parse_error_body`), the
seam under the transport (:class:`Sender`, :class:`Request`, :class:`Response`) and
the fake server base (:class:`FakeServer`, from :mod:`common.testing`). How requests
are retried and paced is the core's business, not re-exported here.

The core never imports a provider package. A provider describes itself with a
:class:`ProviderPlugin` (data: its name, the ``str`` its events carry in
``Event.provider``; a client factory reading credentials from the environment; the
adapter to a :class:`common.EventSource`; the environment variables it reads;
optionally an in-process fake for the demo) and declares it as an entry point of the
group ``eventsync.providers`` in its own ``pyproject.toml``, where the ``eventsync``
command (and :meth:`Registry.discover`) finds it::

    [project.entry-points."eventsync.providers"]
    myclub = "myclub_async._provider:PLUGIN"

``tests/third_provider/`` is a complete one, outside ``common``.
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
from ._errors import warn
from ._http import AiohttpSender
from ._paginate import Chunk, paginate
from ._registry import ENTRY_POINT_GROUP, EnvVar, ProviderPlugin, Registry, SourceOptions
from ._sender import AttemptFailed, Failure, Request, Response, Sender
from ._transport import Transport
from ._types import local_start, zone_or_none
from ._url import build_path
from ._validate import (
    Check,
    any_text,
    between,
    build_request,
    check_bool,
    check_country,
    check_date,
    check_enum,
    check_int,
    check_number,
    check_span,
    check_text,
    check_time,
    check_timezone,
    check_uri,
    date_window,
    not_sent,
    nullable,
    one_of,
    optional,
    path_argument,
    request_method,
    required,
    shown,
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
    "check_bool",
    "check_country",
    "check_date",
    "check_enum",
    "check_int",
    "check_number",
    "check_span",
    "check_text",
    "check_time",
    "check_timezone",
    "check_uri",
    "date_window",
    "not_sent",
    "path_argument",
    "nullable",
    "one_of",
    "optional",
    "request_method",
    "required",
    # listings and the common types' helpers
    "Chunk",
    "local_start",
    "paginate",
    "shown",
    "warn",
    "zone_or_none",
    # the fake server base (from common.testing, imported on first use)
    "ApiError",
    "FakeServer",
    "Handler",
    "json_response",
]

_FAKE = frozenset({"ApiError", "FakeServer", "Handler", "json_response"})


if TYPE_CHECKING:  # a misspelt name stays an error for type checkers
    from .testing import ApiError, FakeServer, Handler, json_response
else:

    def __getattr__(name: str) -> Any:
        # The fake base is for tests: importing the test kit (aiohttp's server) waits
        # for its use.
        if name in _FAKE:
            from . import testing

            return getattr(testing, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
