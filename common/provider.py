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

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import metadata
from typing import Any

import attrs

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
from ._errors import InvalidRequestError
from ._http import Response
from ._options import DEFAULT_MAX_RESPONSE_BYTES, CallOptions, ClientOptions, Options
from ._page import Page, resume_from
from ._paginate import Chunk, paginate
from ._retry import (
    CallState,
    Decision,
    Failure,
    Outcome,
    backoff_delay,
    decide,
    is_retryable,
    parse_retry_after,
    retry_delay,
)
from ._transport import Transport
from ._types import Event, EventSource, local_start, zone_or_none
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
from .ratelimit._redis import redact_url

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
    "Response",
    "Transport",
    # retry decisions and pacing (pure, for tests and custom limiters)
    "CallState",
    "Decision",
    "Failure",
    "Limiter",
    "LocalLimiter",
    "Outcome",
    "PaceState",
    "Pacer",
    "Report",
    "Slot",
    "backoff_delay",
    "decide",
    "is_retryable",
    "parse_retry_after",
    "retry_delay",
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

logger = logging.getLogger(__name__)

#: The entry-point group providers register under.
ENTRY_POINT_GROUP = "eventsync.providers"


@attrs.frozen(kw_only=True)
class SourceOptions:
    """What an application (e.g. the command line) asks of every provider's client.

    None means "the provider's default": ``base_url`` then comes from the
    provider's own environment variable, else its production URL.
    """

    base_url: str | None = None
    rate_limit: float | None = None
    rate_store: str | None = attrs.field(
        default=None, repr=lambda url: repr(url and redact_url(url))
    )

    def keywords(self) -> dict[str, Any]:
        """The options that are set, as client constructor keywords."""
        return {key: value for key, value in attrs.asdict(self).items() if value is not None}


@attrs.frozen
class EnvVar:
    """An environment variable a provider reads, and what for (shown in help texts)."""

    name: str
    help: str


def _any_id(text: str) -> str:
    return text


def _always(event: Event) -> bool:
    return True


@attrs.frozen(kw_only=True)
class ProviderPlugin:
    """One provider, as applications see it.

    Attributes:
        name: the value its events carry as ``Event.provider`` (``"intervals"``).
        title: its name for people (``"Intervals"``).
        client: builds a client (an async context manager) from :class:`SourceOptions`;
            credentials and a default base URL come from the environment. Raises
            :class:`common.MissingCredentialsError` when there are none.
        source: wraps that client as a :class:`common.EventSource`.
        credentials: which environment variables hold credentials, as a phrase
            (``"INTERVALS_API_KEY"``), for error messages.
        environment: every environment variable the provider reads.
        aliases: other names accepted for it (``"rwgps"``).
        fake: optional; an in-process fake server and a client connected to it,
            for demos (the client is closed, then the server, on exit).
        check_id: turns an event id as typed by a person into the one the source
            takes, raising :class:`common.InvalidRequestError` before anything is sent.
        participants_visible: False when the provider did not show this event's
            participants to the caller (so an empty list would mean "unknown", not "none").
    """

    name: str
    title: str
    client: Callable[[SourceOptions], Any]
    source: Callable[[Any], EventSource]
    credentials: str
    environment: tuple[EnvVar, ...] = ()
    aliases: tuple[str, ...] = ()
    fake: Callable[[], AbstractAsyncContextManager[Any]] | None = None
    check_id: Callable[[str], str] = _any_id
    participants_visible: Callable[[Event], bool] = _always

    @asynccontextmanager
    async def open_source(self, options: SourceOptions) -> AsyncIterator[EventSource]:
        """A source over a new client, closed on exit."""
        async with self.client(options) as client:
            yield self.source(client)

    @asynccontextmanager
    async def open_fake_source(self) -> AsyncIterator[EventSource]:
        """A source over the provider's in-process fake (see :attr:`fake`)."""
        if self.fake is None:
            raise InvalidRequestError(f"the {self.title} provider ships no fake server")
        async with self.fake() as client:
            yield self.source(client)


class Registry:
    """The providers an application can use, by name or alias.

    :meth:`discover` loads every installed provider's entry point;
    :meth:`add` registers one by hand (tests, applications with their own).
    Entry points that fail to load are kept in :attr:`broken` (name, reason)
    instead of failing every other provider.
    """

    def __init__(self, plugins: Iterable[ProviderPlugin] = ()) -> None:
        self._plugins: dict[str, ProviderPlugin] = {}
        self.broken: list[tuple[str, str]] = []
        for plugin in plugins:
            self.add(plugin)

    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP) -> Registry:
        """Every provider installed under the entry-point ``group``, in name order."""
        registry = cls()
        for entry in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
            try:
                plugin = entry.load()
                if not isinstance(plugin, ProviderPlugin):
                    raise TypeError(f"{entry.value} is not a common.provider.ProviderPlugin")
                registry.add(plugin)
            except Exception as exc:  # a broken third-party plugin must not break the rest
                logger.debug("provider entry point %r failed to load", entry.name, exc_info=True)
                registry.broken.append((entry.name, f"{type(exc).__name__}: {exc}"))
        return registry

    def add(self, plugin: ProviderPlugin) -> None:
        """Register ``plugin``; a name or alias already taken is a ``ValueError``."""
        for key in (plugin.name, *plugin.aliases):
            if key in self._names():
                raise ValueError(f"provider name {key!r} is already registered")
        self._plugins[plugin.name] = plugin

    def get(self, name: str) -> ProviderPlugin:
        """The provider called ``name`` (or aliased so); ``LookupError`` when none is."""
        for plugin in self._plugins.values():
            if name == plugin.name or name in plugin.aliases:
                return plugin
        raise LookupError(f"no provider {name!r}; installed: {', '.join(self._plugins) or 'none'}")

    def _names(self) -> set[str]:
        return {key for p in self._plugins.values() for key in (p.name, *p.aliases)}

    def __iter__(self) -> Iterator[ProviderPlugin]:
        return iter(self._plugins.values())

    def __len__(self) -> int:
        return len(self._plugins)

    def __repr__(self) -> str:
        return f"Registry({', '.join(self._plugins)})"
