"""RideWithGPS as a plug-in provider of the ``eventsync`` command (entry point ``ridewithgps``).

Only data and small factories: the client, the source adapter, the fake for the
demo, the event-id check and whether the API showed an event's participants.
Nothing here is imported by the core.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import common
from common.provider import EnvVar, ProviderPlugin, SourceOptions

from ._client import DEFAULT_BASE_URL, RideWithGPSClient
from ._models import Event
from ._source import RideWithGPSSource

__all__ = ["PLUGIN"]

_MAX_ID = 2**63 - 1


def _client(options: SourceOptions) -> RideWithGPSClient:
    """A client with $RWGPS_ACCESS_TOKEN (or the key pair); base URL from the options,
    else $RWGPS_BASE_URL."""
    base_url = options.base_url or os.environ.get("RWGPS_BASE_URL") or DEFAULT_BASE_URL
    return RideWithGPSClient(**{**options.keywords(), "base_url": base_url})


@asynccontextmanager
async def _fake() -> AsyncIterator[RideWithGPSClient]:
    """The fake server (imported only here: it is test tooling) and a client on it."""
    from .testing import FakeRideWithGPS

    async with (
        FakeRideWithGPS() as server,
        RideWithGPSClient(access_token=server.access_token, base_url=server.url) as client,
    ):
        yield client


def _check_id(text: str) -> str:
    """A RideWithGPS event id is a whole number from 1 to 2**63-1 (checked before int())."""
    digits = text.strip()
    if (
        not (digits.isascii() and digits.isdigit())
        or len(digits) > 19
        or not (0 < int(digits) <= _MAX_ID)
    ):
        raise common.InvalidRequestError(
            f"a RideWithGPS event id is a whole number from 1 to {_MAX_ID}, got {text[:40]!r}"
        )
    return digits


def _participants_visible(event: common.Event) -> bool:
    """The API lists participants only to the event's owner; otherwise it sends none."""
    return not isinstance(event.raw, Event) or event.raw.participants is not None


PLUGIN = ProviderPlugin(
    name="ridewithgps",
    title="RideWithGPS",
    aliases=("rwgps",),
    client=_client,
    source=RideWithGPSSource,
    credentials="RWGPS_ACCESS_TOKEN, or RWGPS_API_KEY and RWGPS_AUTH_TOKEN",
    environment=(
        EnvVar("RWGPS_ACCESS_TOKEN", "RideWithGPS OAuth access token"),
        EnvVar("RWGPS_API_KEY", "RideWithGPS API key (with RWGPS_AUTH_TOKEN)"),
        EnvVar("RWGPS_AUTH_TOKEN", "RideWithGPS auth token (with RWGPS_API_KEY)"),
        EnvVar("RWGPS_BASE_URL", f"RideWithGPS server (default {DEFAULT_BASE_URL})"),
    ),
    fake=_fake,
    check_id=_check_id,
    participants_visible=_participants_visible,
)
