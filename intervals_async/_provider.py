"""Intervals as a plug-in provider of the ``eventsync`` command (entry point ``intervals``).

Only data and three small factories: the client, the source adapter and the
in-process fake for the demo. Nothing here is imported by the core.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import common
from common.provider import EnvVar, ProviderPlugin, SourceOptions

from ._client import DEFAULT_BASE_URL, IntervalsClient
from ._source import IntervalsSource

__all__ = ["PLUGIN"]


def _client(options: SourceOptions) -> IntervalsClient:
    """A client with $INTERVALS_API_KEY; base URL from the options, else $INTERVALS_BASE_URL."""
    base_url = options.base_url or os.environ.get("INTERVALS_BASE_URL") or DEFAULT_BASE_URL
    return IntervalsClient(**{**options.keywords(), "base_url": base_url})


@asynccontextmanager
async def _fake() -> AsyncIterator[IntervalsClient]:
    """The fake server (imported only here: it is test tooling) and a client on it.

    The fake sends the documented ``hasMore`` cursor, so the seeded event with
    120 registrations comes out whole.
    """
    from .testing import FakeIntervals

    async with (
        FakeIntervals(validate=False, cursor_pagination=True) as server,
        IntervalsClient(api_key="test-key", base_url=server.url) as client,
    ):
        yield client


#: Longer than this is no id (they are 24 characters): not sent as a megabyte request line.
MAX_ID = 1000


def _check_id(text: str) -> str:
    """An Intervals event id: printable text (a stray byte from the shell is refused), at
    most :data:`MAX_ID` characters."""
    if not text.strip() or not text.isprintable() or len(text) > MAX_ID:
        raise common.InvalidRequestError(f"not an Intervals event id: {text[:40]!r}")
    return text


PLUGIN = ProviderPlugin(
    name="intervals",
    title="Intervals",
    client=_client,
    source=IntervalsSource,
    credentials="INTERVALS_API_KEY",
    environment=(
        EnvVar("INTERVALS_API_KEY", "Intervals API key (required)"),
        EnvVar("INTERVALS_BASE_URL", f"Intervals server (default {DEFAULT_BASE_URL})"),
    ),
    fake=_fake,
    check_id=_check_id,
)
