"""RideWithGPS seen through the common types: :class:`RideWithGPSSource`.

The mapping functions are pure; the source only adds the calls. An event
without a ``start_date`` cannot be a :class:`common.Event`:
:meth:`RideWithGPSSource.get_event` raises :class:`common.DecodeError` for it,
and :meth:`RideWithGPSSource.iter_events` leaves it out with a
:class:`common.SkippedEventWarning` naming it, whatever the dates asked for.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import common
from common import provider

from ._client import RideWithGPSClient
from ._models import Event, EventSummary, Participant, ParticipantStatus, User

logger = logging.getLogger(__name__)

__all__ = [
    "RideWithGPSSource",
    "map_event",
    "map_participant",
    "map_participants",
    "map_status",
    "user_name",
]

# Keyed by the enum members, which are str: a plain-string status finds its entry too.
_STATUSES: dict[str, common.ParticipantStatus] = {
    ParticipantStatus.JOINED: common.ParticipantStatus.GOING,
    # the docs' own example of a user on the participant list: going, like "joined"
    ParticipantStatus.PARTICIPANT: common.ParticipantStatus.GOING,
    ParticipantStatus.INTERESTED: common.ParticipantStatus.INTERESTED,
    ParticipantStatus.DECLINED: common.ParticipantStatus.DECLINED,
    ParticipantStatus.DISALLOWED: common.ParticipantStatus.DENIED,
}
# At most 19 digits: int() of thousands of digits is a ValueError, and no id is that long.
_DIGITS = re.compile(r"[0-9]{1,19}")


def map_status(status: ParticipantStatus | str | None) -> common.ParticipantStatus:
    """joined and participant → GOING, interested → INTERESTED, declined →
    DECLINED, disallowed → DENIED; anything else → UNKNOWN (never an error)."""
    if not isinstance(status, str):
        return common.ParticipantStatus.UNKNOWN
    return _STATUSES.get(status, common.ParticipantStatus.UNKNOWN)


def _text(value: str | None) -> str | None:
    """``value`` stripped, or None when it is absent or blank."""
    text = value.strip() if isinstance(value, str) else ""
    return text or None


def user_name(user: User) -> str | None:
    """The user's name: ``name``, else ``display_name``, else ``first_name`` and
    ``last_name`` (either alone when only one is given).

    The prose docs send ``name``; RideWithGPS's OpenAPI description sends the
    other three. Blank strings count as absent; None only when no part is given.
    """
    whole = _text(user.name) or _text(user.display_name)
    if whole is not None:
        return whole
    parts = [part for part in (_text(user.first_name), _text(user.last_name)) if part]
    return " ".join(parts) or None


def map_participant(participant: Participant, event_id: int | str) -> common.Participant:
    """A participant as a :class:`common.Participant`; its id is the user id.

    ``name`` follows :func:`user_name`; ``email`` is the user's ``email`` when
    the API sends one (the OpenAPI description's ``User`` has it). Raises
    :class:`common.DecodeError` for one whose user has no ``id`` (see
    :func:`map_participants`).
    """
    user = participant.user
    if user is None or user.id is None:
        raise common.DecodeError(
            f"RideWithGPS event {event_id}: a participant has no user id"
            " @ $.event.participants[].user.id"
        )
    status = participant.status
    raw_status = status.value if isinstance(status, ParticipantStatus) else (status or "")
    return common.Participant(
        provider=common.Provider.RIDEWITHGPS,
        id=str(user.id),
        event_id=str(event_id),
        name=user_name(user),
        email=_text(user.email),
        status=map_status(status),
        raw_status=raw_status,
        raw=participant,
    )


def map_participants(event: Event) -> tuple[common.Participant, ...]:
    """The event's participants as :class:`common.Participant` (it must show them). One
    without a user id (the description requires none) has no id to be given: left out,
    with a warning (a decode error for it lost the whole event)."""
    known = [p for p in event.participants or () if p.user is not None and p.user.id is not None]
    if len(known) < len(event.participants or ()):
        logger.warning(
            "RideWithGPS event %s: %d participant(s) without a user id left out",
            event.id,
            len(event.participants or ()) - len(known),
        )
    return tuple(map_participant(p, event.id) for p in known)


def map_event(event: EventSummary) -> common.Event:
    """An event (short or full) as a :class:`common.Event`.

    ``start_time``/``end_time`` are None for all-day events, ``starts_at`` is
    aware in the event's ``time_zone`` (None when the time or zone is unknown;
    ``timezone`` is None too for a name this machine's tz database lacks),
    ``url`` is the web page (``html_url``), ``name`` is ``""`` when the API
    sends none. For a full :class:`Event`, ``distances_m`` come from the
    routes' ``distance`` (metres) when it is a finite positive number, and
    ``participants`` from its participants: None when the API left them out
    (it shows them only to the event's owner), ``()`` when there are none.

    Raises :class:`common.DecodeError` naming the field when the event has no
    ``start_date``, which a :class:`common.Event` cannot do without.
    """
    if event.start_date is None:
        raise common.DecodeError(
            f"RideWithGPS event {event.id} cannot be mapped:"
            " required field missing or null @ $.event.start_date"
        )
    all_day = bool(event.all_day)
    timezone = event.time_zone
    if timezone is not None and provider.zone_or_none(timezone) is None:
        timezone = None  # a name this machine does not know: unknown, not guessed
    start_time = None if all_day else event.start_time
    distances: tuple[float, ...] = ()
    participants: tuple[common.Participant, ...] | None = None  # a summary: not shown
    if isinstance(event, Event):
        distances = tuple(r.distance for r in event.routes if r.distance is not None)
        participants = (
            None
            if event.participants is None  # not shown to this caller: unknown, not none
            else map_participants(event)
        )
    return common.Event(
        provider=common.Provider.RIDEWITHGPS,
        id=str(event.id),
        name=event.name or "",
        start_date=event.start_date,
        start_time=start_time,
        end_date=event.end_date,
        end_time=None if all_day else event.end_time,
        timezone=timezone,
        starts_at=provider.local_start(event.start_date, start_time, timezone),
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


class RideWithGPSSource(common.EventSource):
    """A :class:`common.EventSource` over a :class:`RideWithGPSClient`.

    Example::

        async with RideWithGPSClient() as rw:
            source = RideWithGPSSource(rw)
            async for event in source.iter_events(date_from=date(2026, 1, 1)):
                print(event.name, event.starts_at)
    """

    provider = common.Provider.RIDEWITHGPS

    def __init__(self, client: RideWithGPSClient) -> None:
        if not isinstance(client, RideWithGPSClient):
            raise common.InvalidRequestError(
                f"client must be a RideWithGPSClient, got {type(client).__name__}", field="client"
            )
        self.client = client

    def __repr__(self) -> str:
        return f"RideWithGPSSource({self.client!r})"

    def iter_events(
        self,
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        updated_since: dt.datetime | None = None,
    ) -> AsyncGenerator[common.Event, None]:
        """Every event starting within ``date_from``..``date_to`` (inclusive, either optional).

        The API has no date filter: every event is listed and filtered here by
        its ``start_date``. Events come in the short form (no participants or
        distances); :meth:`get_event` gives the full one.

        An event without a ``start_date`` is left out, with or without dates,
        and a :class:`common.SkippedEventWarning` names it and says why
        (``warnings.simplefilter("error", common.SkippedEventWarning)`` turns
        that into an exception).

        ``updated_since`` (timezone-aware) is passed to
        :meth:`RideWithGPSClient.iter_events`: only events updated since then come,
        and only the pages that hold them are read.
        """
        start, end = provider.date_window(date_from, date_to)
        summaries = self.client.iter_events(updated_since=updated_since)  # checked at once
        return self._iter_events(summaries, start, end)

    async def _iter_events(
        self,
        summaries: AsyncIterator[EventSummary],
        date_from: dt.date | None,
        date_to: dt.date | None,
    ) -> AsyncGenerator[common.Event, None]:
        async for summary in summaries:
            day = summary.start_date
            if day is None:
                provider.warn(
                    common.SkippedEventWarning(
                        f"RideWithGPS event {summary.id} left out of iter_events:"
                        " it has no start_date"
                    )
                )
                continue
            if (date_from is not None and day < date_from) or (
                date_to is not None and day > date_to
            ):
                continue
            yield map_event(summary)

    async def get_event(self, event_id: str) -> common.Event:
        """The full event (a numeric id, as a string); ``participants`` is None when
        the API does not show them to you (only the event's owner sees them).

        Raises :class:`common.DecodeError` when the event has no ``start_date``.
        """
        return map_event(await self.client.get_event(_event_id(event_id)))

    async def list_participants(self, event_id: str) -> list[common.Participant]:
        """The event's participants ([] when nobody joined).

        Raises :class:`common.PermissionDeniedError` when the API does not show
        them to you (only to the event's owner): hidden is not the same as none.
        """
        event = await self.client.get_event(_event_id(event_id))
        if event.participants is None:
            raise common.PermissionDeniedError(
                f"RideWithGPS shows the participants of event {event.id} only to its owner",
                status_code=403,
            )
        return list(map_participants(event))
