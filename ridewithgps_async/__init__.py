"""Async client for the RideWithGPS events API (v1), built on :mod:`common`.

Example::

    from ridewithgps_async import RideWithGPSClient, RideWithGPSSource

    async with RideWithGPSClient(api_key="...", auth_token="...") as rw:
        async for summary in rw.iter_events():
            event = await rw.get_event(summary.id)
            print(event.name, [route.name for route in event.routes])
        source = RideWithGPSSource(rw)  # the same events as common.Event

Credentials: ``access_token`` (OAuth), or ``api_key`` + ``auth_token``; they
default to ``$RWGPS_ACCESS_TOKEN``, ``$RWGPS_API_KEY`` and ``$RWGPS_AUTH_TOKEN``.
A fake server for tests is in :mod:`ridewithgps_async.testing`.
"""

from ._client import DEFAULT_BASE_URL, RideWithGPSClient
from ._models import (
    Event,
    EventCreate,
    EventFields,
    EventSummary,
    EventUpdate,
    Organizer,
    Participant,
    ParticipantStatus,
    Photo,
    Route,
    User,
    Visibility,
)
from ._source import RideWithGPSSource

__all__ = [
    "DEFAULT_BASE_URL",
    "Event",
    "EventCreate",
    "EventFields",
    "EventSummary",
    "EventUpdate",
    "Organizer",
    "Participant",
    "ParticipantStatus",
    "Photo",
    "RideWithGPSClient",
    "RideWithGPSSource",
    "Route",
    "User",
    "Visibility",
]
