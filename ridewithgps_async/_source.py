"""RideWithGPS seen through the common types: :class:`RideWithGPSSource`.

The mapping functions are pure; the source only adds the calls.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import AsyncIterator
from typing import Any

import common

from ._client import RideWithGPSClient
from ._models import Event, EventSummary, Participant, ParticipantStatus, Route

__all__ = ["RideWithGPSSource", "map_event", "map_participant", "map_status"]

_STATUSES = {
    ParticipantStatus.JOINED: common.ParticipantStatus.GOING,
    ParticipantStatus.INTERESTED: common.ParticipantStatus.INTERESTED,
    ParticipantStatus.DECLINED: common.ParticipantStatus.DECLINED,
    ParticipantStatus.DISALLOWED: common.ParticipantStatus.DENIED,
}
_DIGITS = re.compile(r"[0-9]+")


def map_status(status: ParticipantStatus | str | None) -> common.ParticipantStatus:
    """joined → GOING, interested → INTERESTED, declined → DECLINED,
    disallowed → DENIED; anything else (e.g. ``"participant"``) → UNKNOWN."""
    if isinstance(status, ParticipantStatus):
        return _STATUSES[status]
    return common.ParticipantStatus.UNKNOWN


def map_participant(participant: Participant, event_id: int | str) -> common.Participant:
    """A participant as a :class:`common.Participant`; its id is the user id."""
    status = participant.status
    raw_status = status.value if isinstance(status, ParticipantStatus) else (status or "")
    return common.Participant(
        provider=common.Provider.RIDEWITHGPS,
        id=str(participant.user.id),
        event_id=str(event_id),
        name=participant.user.name,
        email=None,
        status=map_status(status),
        raw_status=raw_status,
        raw=participant,
    )


def _distance(route: Route) -> float | None:
    value: Any = route.extra.get("distance")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def map_event(event: EventSummary) -> common.Event:
    """An event (short or full) as a :class:`common.Event`.

    ``start_time``/``end_time`` are None for all-day events, ``starts_at`` is
    aware in the event's ``time_zone`` (None when the time or zone is unknown),
    ``url`` is the web page (``html_url``). For a full :class:`Event`,
    ``distances_m`` come from the routes' ``distance`` (metres) when the API
    sends it, and ``participants`` from its participants.
    """
    if event.start_date is None:
        raise common.DecodeError(f"RideWithGPS event {event.id} has no start_date")
    all_day = bool(event.all_day)
    start_time = None if all_day else event.start_time
    distances: tuple[float, ...] = ()
    participants: tuple[common.Participant, ...] = ()
    if isinstance(event, Event):
        distances = tuple(d for d in map(_distance, event.routes) if d is not None)
        participants = tuple(map_participant(p, event.id) for p in event.participants or ())
    return common.Event(
        provider=common.Provider.RIDEWITHGPS,
        id=str(event.id),
        name=event.name,
        start_date=event.start_date,
        start_time=start_time,
        end_date=event.end_date,
        end_time=None if all_day else event.end_time,
        timezone=event.time_zone,
        starts_at=common.local_start(event.start_date, start_time, event.time_zone),
        location=common.Location(name=event.location, lat=event.lat, lng=event.lng),
        description=event.description,
        url=event.html_url,
        registration_url=None,
        distances_m=distances,
        participants=participants,
        raw=event,
    )


def _event_id(event_id: Any) -> int:
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        return event_id
    if isinstance(event_id, str) and _DIGITS.fullmatch(event_id):
        return int(event_id)
    raise common.InvalidRequestError(
        f"event_id: a RideWithGPS event id is a positive integer, got {event_id!r:.40}",
        field="event_id",
    )


def _check_day(field: str, value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise common.InvalidRequestError(f"{field}: must be a datetime.date", field=field)
    return value


class RideWithGPSSource:
    """A :class:`common.EventSource` over a :class:`RideWithGPSClient`.

    Example::

        async with RideWithGPSClient() as rw:
            source = RideWithGPSSource(rw)
            async for event in source.iter_events(date_from=date(2026, 1, 1)):
                print(event.name, event.starts_at)
    """

    provider = common.Provider.RIDEWITHGPS

    def __init__(self, client: RideWithGPSClient) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"RideWithGPSSource({self.client!r})"

    def iter_events(
        self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> AsyncIterator[common.Event]:
        """Every event starting within ``date_from``..``date_to`` (inclusive, either optional).

        The API has no date filter: every event is listed and filtered here by
        its ``start_date``. Events come in the short form (no participants or
        distances); :meth:`get_event` gives the full one.
        """
        start = _check_day("date_from", date_from)
        end = _check_day("date_to", date_to)
        if start is not None and end is not None and end < start:
            raise common.InvalidRequestError(
                f"date_to: {end} is before date_from {start}", field="date_to"
            )
        return self._iter_events(start, end)

    async def _iter_events(
        self, date_from: dt.date | None, date_to: dt.date | None
    ) -> AsyncIterator[common.Event]:
        async for summary in self.client.iter_events():
            day = summary.start_date
            if date_from is not None and (day is None or day < date_from):
                continue
            if date_to is not None and (day is None or day > date_to):
                continue
            yield map_event(summary)

    async def get_event(self, event_id: str) -> common.Event:
        """The full event, with participants when you own it (a numeric id, as a string)."""
        return map_event(await self.client.get_event(_event_id(event_id)))

    async def list_participants(self, event_id: str) -> list[common.Participant]:
        """The event's participants ([] when the API shows none, e.g. you do not own it)."""
        event = await self.client.get_event(_event_id(event_id))
        return [map_participant(p, event.id) for p in event.participants or ()]
