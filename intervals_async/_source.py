"""Intervals seen through the common types: :class:`IntervalsSource`, a :class:`common.EventSource`.

Intervals events carry no timezone. An event of a series takes the series'
timezone (series are looked up once per source and cached); an event without
one gets ``timezone=None`` and ``starts_at=None``: never a guess. When the
``/series`` lookup fails for any reason but a rejected key (401: that one is
raised), every timezone stays unknown, one warning is logged, and the events
still come. An event whose ``date`` is not a date is left out of
:meth:`IntervalsSource.iter_events` with a :class:`common.SkippedEventWarning`,
and is a :class:`common.DecodeError` from :meth:`IntervalsSource.get_event`.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import math
import re
from collections.abc import AsyncGenerator

import anyio

import common
from common import provider

from ._client import IntervalsClient
from ._models import Event, EventDetail, EventRun, Registration

__all__ = ["IntervalsSource", "to_common_event", "to_participant"]

logger = logging.getLogger(__name__)

_STATUSES: dict[str, common.ParticipantStatus] = {
    "confirmed": common.ParticipantStatus.GOING,
    "waitlist": common.ParticipantStatus.WAITLISTED,
    "waitlisted": common.ParticipantStatus.WAITLISTED,  # the older docs' word
    "cancelled": common.ParticipantStatus.CANCELLED,
    "refunded": common.ParticipantStatus.REFUNDED,
    # "pending" (older docs) has no common equivalent: UNKNOWN, like any other word
}


def _word(value: enum.Enum | str) -> str:
    """The API's own word for an enum-or-string field."""
    return str(value.value) if isinstance(value, enum.Enum) else value


def _date_or_none(value: dt.date | str | None) -> dt.date | None:
    return value if isinstance(value, dt.date) else None


def _time_or_none(value: str | None) -> dt.time | None:
    """``startTime``/``endTime`` (the description's free "HH:MM" string) as a time; a one-digit
    hour (``9:00``) is read as ``09:00``; None for what no clock shows (``24:00`` here)."""
    if value is None:
        return None
    text = value.strip()
    if _ONE_DIGIT_HOUR.fullmatch(text):
        text = "0" + text
    try:
        return provider.parse_time(text)
    except ValueError:
        return None


_ONE_DIGIT_HOUR = re.compile(r"[0-9]:[0-5][0-9](?::[0-5][0-9])?")


def _end(event: Event) -> tuple[dt.date | None, dt.time | None]:
    """The end day and time; ``endTime`` ``24:00`` (the end of its day) is 00:00 the next day."""
    end_date = _date_or_none(event.end_date)
    if event.end_time is not None and event.end_time.strip() in ("24:00", "24:00:00"):
        day = end_date or (event.date if isinstance(event.date, dt.date) else None)
        if day is not None and day < dt.date.max:
            return day + dt.timedelta(days=1), dt.time()
    return end_date, _time_or_none(event.end_time)


def _distance(run: EventRun) -> float | None:
    """The run's distance in metres when it is a finite positive number."""
    metres = run.distance_meters
    return metres if math.isfinite(metres) and metres > 0 else None


def to_participant(registration: Registration) -> common.Participant:
    """A registration as a :class:`common.Participant` (id = the registration id).

    ``confirmed`` → GOING, ``waitlist``/``waitlisted`` → WAITLISTED,
    ``cancelled`` → CANCELLED, ``refunded`` → REFUNDED; any other word (e.g.
    ``pending``) → UNKNOWN. ``raw_status`` keeps the API's word either way.
    """
    raw_status = _word(registration.registration_status)
    return common.Participant(
        provider=common.Provider.INTERVALS,
        id=registration.id,
        event_id=registration.event_id,
        name=registration.name,
        email=registration.email,
        status=_STATUSES.get(raw_status, common.ParticipantStatus.UNKNOWN),
        raw_status=raw_status,
        raw=registration,
    )


def to_common_event(
    event: Event,
    *,
    timezone: str | None,
    runs: tuple[EventRun, ...] | list[EventRun] = (),
    participants: tuple[common.Participant, ...] | None = None,
    raw: object = None,
) -> common.Event:
    """An Intervals event as a :class:`common.Event`.

    ``timezone`` is the series' timezone (None when unknown); ``raw`` defaults
    to ``event``; ``distances_m`` keeps the runs' finite positive distances.
    Raises :class:`common.DecodeError` when the event's date is not a date,
    since a common event cannot exist without one.
    """
    if not isinstance(event.date, dt.date):
        raise common.DecodeError(
            f"Intervals event {event.id!r} cannot be mapped: its field date is"
            f" {provider.shown(event.date)}, not a YYYY-MM-DD date"
        )
    start_time = _time_or_none(event.start_time)
    end_date, end_time = _end(event)
    if timezone is not None and provider.zone_or_none(timezone) is None:
        timezone = None  # a name this machine does not know: unknown, not guessed
    address = event.address
    return common.Event(
        provider=common.Provider.INTERVALS,
        id=event.id,
        name=event.name,
        start_date=event.date,
        start_time=start_time,
        end_date=end_date,
        end_time=end_time,
        timezone=timezone,
        starts_at=provider.local_start(event.date, start_time, timezone),
        location=common.Location(
            name=address.name if address else None,
            locality=address.address_locality if address else None,
            region=address.address_region if address else None,
            country=address.address_country if address else None,
            lat=event.lat,
            lng=event.lng,
        ),
        description=event.description,
        url=event.website_url,
        registration_url=event.registration_url,
        distances_m=tuple(d for d in map(_distance, runs) if d is not None),
        participants=participants,
        raw=event if raw is None else raw,
    )


class IntervalsSource(common.EventSource):
    """An :class:`IntervalsClient` as a :class:`common.EventSource`.

    ::

        async with IntervalsClient() as client:
            source = IntervalsSource(client)
            async for event in source.iter_events(date_from=date(2026, 1, 1)):
                print(event.starts_at, event.name)

    Events from :meth:`iter_events` have no participants (fetching them would
    cost one request per event); :meth:`get_event` fills them in.
    """

    provider = common.Provider.INTERVALS

    def __init__(self, client: IntervalsClient) -> None:
        if not isinstance(client, IntervalsClient):
            raise common.InvalidRequestError(
                f"client must be an IntervalsClient, got {type(client).__name__}", field="client"
            )
        self.client = client
        self._timezones: dict[str, str] | None = None
        self._lock = anyio.Lock()

    async def _timezone(self, series_id: str | None) -> str | None:
        """The timezone of the series, looked up once per source; None when unknown."""
        if series_id is None:
            return None
        if self._timezones is None:
            async with self._lock:
                if self._timezones is None:
                    self._timezones = await self._load_timezones()
        return self._timezones.get(series_id)

    async def _load_timezones(self) -> dict[str, str]:
        try:
            series = await self.client.list_series()
        except common.AuthenticationError:
            raise  # a rejected key fails every other call too: say so now
        except common.APIError as exc:
            # 403 (a key without read:series), 404 (the current reference no longer lists
            # /series), 5xx, connection errors, bodies that do not decode: the events are
            # still there, only their timezones are not. Say so once, never guess.
            logger.warning(
                "series timezones unavailable (%s), events keep timezone=None: %s",
                type(exc).__name__,
                exc,
            )
            return {}
        return {s.id: s.timezone for s in series}

    def iter_events(
        self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> AsyncGenerator[common.Event, None]:
        """Every event (within the dates, inclusive), without participants.

        An event whose ``date`` is not a ``YYYY-MM-DD`` date is left out with a
        :class:`common.SkippedEventWarning` naming it. The dates are checked at once.
        """
        date_from, date_to = provider.date_window(date_from, date_to)
        return self._iter_events(date_from, date_to)

    async def _iter_events(
        self, date_from: dt.date | None, date_to: dt.date | None
    ) -> AsyncGenerator[common.Event, None]:
        async for event in self.client.iter_events(date_from=date_from, date_to=date_to):
            if not isinstance(event.date, dt.date):
                text = (
                    f"Intervals event {event.id!r} left out of iter_events:"
                    f" its date {provider.shown(event.date)} is not a YYYY-MM-DD date"
                )  # server text: a credential it echoed is redacted
                provider.warn(common.SkippedEventWarning(self.client.transport.redact(text)))
                continue
            if (date_from is not None and event.date < date_from) or (
                date_to is not None and event.date > date_to
            ):
                continue  # a server that ignores dateFrom/dateTo: the dates asked for still hold
            yield to_common_event(event, timezone=await self._timezone(event.series_id))

    async def get_event(self, event_id: str) -> common.Event:
        """One event with its runs' distances and its participants; ``raw`` is the
        :class:`EventDetail`. ``participants`` is None when the API key may not read
        them (no ``read:participants`` scope: a 403), as the contract says for
        participants the provider does not show this caller; :meth:`list_participants`
        raises the :class:`common.PermissionDeniedError` itself. The event and its
        registrations' pages end by one ``deadline``; the series' timezones (looked up
        once per source, for every call after) by their own."""
        # (checked as its registrations' listing checks it, before anything is sent: an id
        # that is no string went out, then failed there)
        provider.check_text("event_id", event_id)
        client = self.client._one_call()  # the event and its registrations: one deadline
        detail: EventDetail = await client.get_event(event_id)
        participants: tuple[common.Participant, ...] | None
        try:
            participants = tuple(await self._participants(client, event_id))
        except common.PermissionDeniedError:
            participants = None  # not shown to this caller: unknown, not none
        timezone = await self._timezone(detail.event.series_id)
        try:
            return to_common_event(
                detail.event,
                timezone=timezone,
                runs=detail.runs,
                participants=participants,
                raw=detail,
            )
        except common.DecodeError as exc:  # it shows the server's date: redact what it echoed
            message = self.client.transport.redact(exc.message)
        # Raised outside the handler: ``from None`` only hides the context, and the error
        # caught (the unredacted text) would still be its ``__context__``.
        raise common.DecodeError(message)

    async def list_participants(self, event_id: str) -> list[common.Participant]:
        """Everyone registered for the event, whatever their status."""
        return await self._participants(self.client, event_id)

    @staticmethod
    async def _participants(client: IntervalsClient, event_id: str) -> list[common.Participant]:
        return [to_participant(r) for r in await client.list_registrations(event_id)]
