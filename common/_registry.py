"""The plug-in interface and its registry: :class:`ProviderPlugin`, :class:`Registry`.

Re-exported by :mod:`common.provider` (see there for how a provider declares
itself); kept apart so the registry's loading rules live in one small module.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import metadata
from typing import Any

import attrs

from ._errors import InvalidRequestError
from ._types import Event, EventSource
from .ratelimit._redis import redact_url

logger = logging.getLogger(__name__)

#: The entry-point group providers register under.
ENTRY_POINT_GROUP = "eventsync.providers"
#: Names no provider may take: ``all`` is the command line's "every provider".
RESERVED_NAMES = frozenset({"all"})
#: The distribution whose providers are the built-ins: a name clash keeps theirs.
BUILT_IN_DISTRIBUTION = "eventsync"


def _distribution(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return str(getattr(dist, "name", None) or "an unknown distribution")


def _is_built_in(entry: metadata.EntryPoint) -> bool:
    return _distribution(entry).lower().replace("_", "-") == BUILT_IN_DISTRIBUTION


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
            participants to the caller. A source says so itself with
            ``Event.participants is None``; this hook is for a source that cannot
            (it returns an empty list either way).
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
        """Every provider installed under the entry-point ``group``, in name order.

        The built-ins (distribution ``eventsync``) load first, and a name that
        is taken keeps its first owner: another distribution's provider called
        ``intervals`` never replaces the built-in (nor receives its
        credentials); it is not even imported, and goes to :attr:`broken`
        naming its distribution. So does one named ``all`` (reserved), and one
        whose import fails in any way, ``SystemExit`` included; only the user's
        ``KeyboardInterrupt`` is let through.
        """
        registry = cls()
        owners: dict[str, str] = {}
        entries = sorted(
            metadata.entry_points(group=group), key=lambda e: (not _is_built_in(e), e.name)
        )
        for entry in entries:
            origin = _distribution(entry)
            try:
                if entry.name in RESERVED_NAMES:
                    raise ValueError(f"the name {entry.name!r} is reserved")
                if entry.name in registry._names():
                    raise ValueError(
                        f"the name {entry.name!r} is taken by the provider of"
                        f" {owners.get(entry.name, 'another distribution')}"
                    )
                plugin = entry.load()
                if not isinstance(plugin, ProviderPlugin):
                    raise TypeError(f"{entry.value} is not a common.provider.ProviderPlugin")
                registry.add(plugin)
                owners.update(dict.fromkeys((plugin.name, *plugin.aliases), origin))
            except KeyboardInterrupt:
                raise
            # A broken third-party plugin must not break the rest, whatever it raises
            # (a SystemExit at import would otherwise end the whole program quietly).
            except BaseException as exc:
                logger.debug("provider entry point %r failed to load", entry.name, exc_info=True)
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                registry.broken.append((entry.name, f"from {origin} ({entry.value}): {reason}"))
        return registry

    def add(self, plugin: ProviderPlugin) -> None:
        """Register ``plugin``; a name or alias already taken, or reserved (``all``),
        is a ``ValueError``."""
        for key in (plugin.name, *plugin.aliases):
            if key in RESERVED_NAMES:
                raise ValueError(f"provider name {key!r} is reserved")
            if key in self._names():
                raise ValueError(f"provider name {key!r} is already registered")
        self._plugins[plugin.name] = plugin

    def get(self, name: str) -> ProviderPlugin:
        """The provider called ``name`` (or aliased so); ``LookupError`` when none is."""
        for plugin in self._plugins.values():
            if name == plugin.name or name in plugin.aliases:
                return plugin
        installed = ", ".join(self._plugins) or "none"
        raise LookupError(f"no provider {name[:40]!r}; installed: {installed}")

    def _names(self) -> set[str]:
        return {key for p in self._plugins.values() for key in (p.name, *p.aliases)}

    def __iter__(self) -> Iterator[ProviderPlugin]:
        return iter(self._plugins.values())

    def __len__(self) -> int:
        return len(self._plugins)

    def __repr__(self) -> str:
        return f"Registry({', '.join(self._plugins)})"
