"""The common types: one Event and Participant shape for every provider."""

from __future__ import annotations

import datetime as dt
import enum
import zoneinfo
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = [
    "Event",
    "EventSource",
    "Location",
    "Participant",
    "ParticipantStatus",
    "Provider",
    "local_start",
    "zone_or_none",
]


class Provider(str, enum.Enum):
    """The built-in providers' names. A provider's name is any ``str`` (a plug-in names
    itself); these constants are equal to, print and serialize as their plain strings."""

    INTERVALS = "intervals"
    RIDEWITHGPS = "ridewithgps"

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)


class ParticipantStatus(str, enum.Enum):
    """A participation status normalised across providers (docs/reference/common-types.md)."""

    GOING = "going"
    INTERESTED = "interested"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    DECLINED = "declined"
    DENIED = "denied"
    UNKNOWN = "unknown"


@attrs.frozen
class Location:
    """Where an event takes place; every part optional."""

    name: str | None = None
    locality: str | None = None
    region: str | None = None
    country: str | None = None
    lat: float | None = None
    lng: float | None = None


@attrs.frozen
class Participant:
    """Someone taking part in (or interested in) an event.

    ``id`` is the Intervals registration id or the RideWithGPS user id (that
    API has no participation id). ``raw_status`` keeps the provider's own word.
    """

    provider: str
    id: str
    event_id: str
    name: str | None
    email: str | None
    status: ParticipantStatus
    raw_status: str
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Event:
    """An event, whichever platform it came from.

    ``starts_at`` is timezone-aware whenever ``timezone`` is known, and None
    when either the timezone or the start time is unknown: it is never guessed.
    ``raw`` is the provider model it was mapped from, so nothing is lost.

    ``participants`` is None when the provider does not show them to this
    caller (a RideWithGPS event the caller does not own): unknown, which is
    not the same as ``()``, an event nobody has joined. Events from a listing
    carry None too: listings never include participants (``get_event`` does).
    None is the default: a source that knows there are none says ``()``.
    """

    provider: str
    id: str
    name: str
    start_date: dt.date
    start_time: dt.time | None = None
    end_date: dt.date | None = None
    end_time: dt.time | None = None
    timezone: str | None = None
    starts_at: dt.datetime | None = None
    location: Location = attrs.field(factory=Location)
    description: str | None = None
    url: str | None = None
    registration_url: str | None = None
    distances_m: tuple[float, ...] = ()
    participants: tuple[Participant, ...] | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@runtime_checkable
class EventSource(Protocol):
    """A provider seen through the common types; ``provider`` is its name (a class
    attribute will do)."""

    @property
    def provider(self) -> str: ...

    def iter_events(
        self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> AsyncIterator[Event]:
        """Every event (within the dates, inclusive, when given)."""
        ...

    async def get_event(self, event_id: str) -> Event:
        """One event with its details and participants."""
        ...

    async def list_participants(self, event_id: str) -> list[Participant]:
        """Everyone registered for (or interested in) the event."""
        ...


def local_start(date: dt.date, time: dt.time | None, timezone: str | None) -> dt.datetime | None:
    """The aware start datetime, or None when the time or the timezone is unknown.

    Old IANA aliases (``America/Godthab``) resolve through the system's tz
    database; an unknown name gives None rather than a guess. So does an
    instant that ``datetime`` cannot hold in UTC (a start on 0001-01-01 east of
    Greenwich, on 9999-12-31 west of it): it could not be compared with any
    other ``starts_at`` without an ``OverflowError``.
    """
    if time is None or not timezone:
        return None
    zone = zone_or_none(timezone)
    if zone is None:
        return None
    try:
        start = dt.datetime.combine(date, time, tzinfo=zone)
        start.astimezone(dt.timezone.utc)  # proves comparisons and sorting cannot overflow
    except OverflowError:
        return None
    return start


#: Files of the tz database that are not zone names: the machine's own zone
#: (``localtime``), POSIX defaults, and the database's copies under other rules. A name
#: that means "whatever this machine is set to" would give another instant elsewhere.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory", "posix", "right"})


def zone_or_none(name: str) -> zoneinfo.ZoneInfo | None:
    """The ZoneInfo for an IANA name, or None when this machine does not know it (or it
    names no zone: ``localtime``, ``posixrules``, ``Factory``, ``posix/…``, ``right/…``)."""
    if name in _NOT_ZONES or name.startswith(("posix/", "right/")):
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None
