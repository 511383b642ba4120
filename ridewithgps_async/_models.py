"""RideWithGPS event models, and the one converter and decoder that build them.

The API's JSON keys are already snake_case, so attribute names are the keys.
RideWithGPS adds keys to v1 responses without a version change: every model
keeps the keys it does not know in ``extra`` instead of refusing them. Only an
event's ``id`` is required (what it is addressed by); everything else defaults to
None, so a sparse response still decodes. RideWithGPS's own OpenAPI description requires
no key of an event at all, and recorded live responses to updates carry only a
handful.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

import common
from common import provider

__all__ = [
    "CONVERTER",
    "DECODER",
    "Event",
    "EventCreate",
    "EventFields",
    "EventUpdate",
    "EventList",
    "EventSummary",
    "Organizer",
    "Pagination",
    "PaginationMeta",
    "Participant",
    "ParticipantStatus",
    "Photo",
    "Route",
    "User",
    "Visibility",
]


class Visibility(str, enum.Enum):
    """Who can see an event.

    ``public``, ``private`` and ``friends_only`` apply to user events;
    ``public``, ``managers_only`` and ``members_only`` to organization events.
    """

    PUBLIC = "public"
    PRIVATE = "private"
    FRIENDS_ONLY = "friends_only"
    MANAGERS_ONLY = "managers_only"
    MEMBERS_ONLY = "members_only"


class ParticipantStatus(str, enum.Enum):
    """A participant's status.

    The four documented values, and ``participant``, which the documentation's
    own example shows for a user on the event's participant list. Any other
    value the API sends decodes as the plain string.
    """

    JOINED = "joined"
    INTERESTED = "interested"
    DECLINED = "declined"
    DISALLOWED = "disallowed"
    PARTICIPANT = "participant"


@attrs.frozen
class User:
    """A RideWithGPS user as embedded in a participant.

    The prose docs show ``name``; the OpenAPI description's ``User`` has
    ``first_name``, ``last_name``, ``display_name`` and ``email`` instead. Both
    shapes decode; :attr:`common.Participant.name` is ``name``, else
    ``display_name``, else ``first_name`` + ``last_name``.
    """

    #: None when the API leaves it out (the description requires no key of a ``User``).
    id: int | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    email: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Route:
    """A route in its short representation (fetch ``url`` for the track).

    Keys beyond the prose docs' ones (the OpenAPI description's ``RouteSummary``
    adds ``distance``, ``elevation_gain``, ``visibility`` ...) are in ``extra``
    as sent, so an odd value there never fails the whole event.
    """

    id: int | None = None  # (the description's RouteSummary requires no key)
    url: str | None = None
    name: str | None = None
    description: str | None = None
    locality: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def distance(self) -> float | None:
        """``distance`` in metres when it is a finite positive number, else None."""
        value: Any = self.extra.get("distance")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        try:
            metres = float(value)  # a JSON integer can be far beyond any float
        except OverflowError:
            return None
        return metres if math.isfinite(metres) and metres > 0 else None


@attrs.frozen
class Organizer:
    """An organization member organising the event.

    Documented as ``{"id", "name", "created_at", "updated_at"}``; also seen as
    ``{"id", "text"}``, hence ``text``. :attr:`display_name` reads either. The
    description requires none of the keys, ``id`` included.
    """

    id: int | None = None
    name: str | None = None
    text: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def display_name(self) -> str | None:
        """``name``, else ``text``."""
        return self.name if self.name is not None else self.text


@attrs.frozen
class Participant:
    """A user's participation in an event (visible to the event's owner only).

    ``status`` is a :class:`ParticipantStatus`, or the plain string when the
    API sends a value outside the documented ones.
    """

    #: None when the API leaves it out (the description requires no key of one).
    user: User | None = None
    status: ParticipantStatus | str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Photo:
    """A photo attached to an event; exactly one per event is ``highlighted``. The
    description requires none of the keys, ``id`` included."""

    id: int | None = None
    url: str | None = None
    highlighted: bool | None = None
    caption: str | None = None
    created_at: dt.datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class EventSummary:
    """An event in the listing's short representation (no routes, organizers, participants).

    ``start_time`` is None for ``all_day`` events. ``visibility`` is a
    :class:`Visibility`, or the plain string for a value not documented yet
    (live responses have carried ``"members"``). ``name`` is None only when
    the API leaves it out, which its description allows.
    """

    id: int
    name: str | None = None
    user_id: int | None = None
    url: str | None = None
    html_url: str | None = None
    visibility: Visibility | str | None = None
    description: str | None = None
    logo_url: str | None = None
    banner_url: str | None = None
    location: str | None = None
    lat: float | None = None
    lng: float | None = None
    time_zone: str | None = None
    start_date: dt.date | None = None
    start_time: dt.time | None = None
    end_date: dt.date | None = None
    end_time: dt.time | None = None
    all_day: bool | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Event(EventSummary):
    """The full representation of an event.

    ``organizers`` is None when the key is absent (a user event, not an
    organization's) and ``participants`` is None when the authenticated user
    does not own the event: absent and empty are different answers.
    """

    routes: list[Route] = attrs.field(factory=list)
    organizers: list[Organizer] | None = None
    participants: list[Participant] | None = None
    photos: list[Photo] = attrs.field(factory=list)


@attrs.frozen
class Pagination:
    """``meta.pagination`` of a listing.

    ``next_page_url`` only hints that there is a next page: the client never
    requests it (the documentation's own examples of it are malformed).
    """

    record_count: int | None = None
    page_count: int | None = None
    page_size: int | None = None
    next_page_url: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class PaginationMeta:
    """``meta`` of a listing."""

    pagination: Pagination | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class EventList:
    """The whole listing response: ``{"events": [...], "meta": {...}}``."""

    events: list[EventSummary] = attrs.field(factory=list)  # required by neither description
    meta: PaginationMeta | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


# --- write requests: one body, its checks on its fields ---------------------------------

#: The largest event id (and page number) the client sends.
MAX_ID = 2**63 - 1


def check_id(field: str, value: Any) -> int:
    """A positive integer id."""
    return provider.check_int(field, value, 1, MAX_ID)


_NOT_IDS = (str, bytes, bytearray, memoryview, Mapping)


def check_ids(field: str, value: Any) -> list[int]:
    """A list of positive integer ids (not a string, bytes or a mapping)."""
    if isinstance(value, _NOT_IDS) or not isinstance(value, Sequence):
        raise common.InvalidRequestError(
            f"{field}: must be a list of positive integers", field=field
        )
    return [check_id(f"{field}[{index}]", item) for index, item in enumerate(value)]


def _id_list(value: Sequence[int] | None) -> Sequence[int] | None:
    """Any other sequence of ids (a range, an array, a tuple) as the list it is sent as."""
    if isinstance(value, Sequence) and not isinstance(value, _NOT_IDS):
        return list(value)
    return value  # None, or what check_ids refuses


def _hh_mm(field: str, value: Any) -> str:
    return provider.check_time(field, value, seconds=False)


@attrs.frozen(kw_only=True)
class EventFields:
    """The fields of an event write (``{"event": {...}}``, the API's ``EventPayload``).

    Dates are ``datetime.date`` or ``YYYY-MM-DD``, times ``datetime.time`` or
    ``HH:MM`` (24 h), ``time_zone`` an IANA name. None means "not given", except
    for ``description`` and ``time_zone``, which the API lets you clear: None
    sends JSON null. The event may not end before it starts.
    """

    name: str | None = provider.optional(provider.check_text)
    description: str | None = provider.nullable(provider.any_text)
    visibility: Visibility | str | None = provider.optional(provider.one_of(Visibility))
    location: str | None = provider.optional(provider.any_text)
    lat: float | None = provider.optional(provider.between(-90, 90))
    lng: float | None = provider.optional(provider.between(-180, 180))
    time_zone: str | None = provider.nullable(provider.check_timezone)
    start_date: dt.date | str | None = provider.optional(provider.check_date)
    start_time: dt.time | str | None = provider.optional(_hh_mm)
    end_date: dt.date | str | None = provider.optional(provider.check_date)
    end_time: dt.time | str | None = provider.optional(_hh_mm)
    route_ids: Sequence[int] | None = provider.optional(check_ids, converter=_id_list)
    organizer_ids: Sequence[int] | None = provider.optional(check_ids, converter=_id_list)

    def __attrs_post_init__(self) -> None:
        if self.end_date is not None:  # (an update's stored dates are the server's)
            provider.check_span(
                self.start_date, self.start_time, self.end_date, self.end_time, time=_hh_mm
            )


@attrs.frozen(kw_only=True)
class EventCreate(EventFields):
    """The keywords of :meth:`RideWithGPSClient.create_event`: ``name`` and
    ``start_date`` required, the other :class:`EventFields` sent when given."""

    name: str = attrs.field(**provider.required(provider.check_text))
    start_date: dt.date | str = attrs.field(**provider.required(provider.check_date))

    def __attrs_post_init__(self) -> None:  # created without an end_date: ends that day
        provider.check_span(
            self.start_date, self.start_time, self.end_date, self.end_time, time=_hh_mm
        )


@attrs.frozen(kw_only=True)
class EventUpdate(EventFields):
    """The arguments of :meth:`RideWithGPSClient.update_event`: the event's id, then
    the :class:`EventFields` to change (only those given are sent)."""

    event_id: int = attrs.field(kw_only=False, **provider.path_argument(check_id))


#: The package's one converter (keys are already snake_case: no renaming).
CONVERTER = provider.make_converter()
#: The package's one decoder, built at import and shared by every client.
DECODER = provider.Decoder(CONVERTER)
