"""RideWithGPS event models, and the one converter and decoder that build them.

The API's JSON keys are already snake_case, so attribute names are the keys.
RideWithGPS adds keys to v1 responses without a version change: every model
keeps the keys it does not know in ``extra`` instead of refusing them. Only
``id`` (and ``name`` for events) is required; everything else defaults to None,
so a sparse response still decodes.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs

import common

__all__ = [
    "DECODER",
    "Event",
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
    """A participant's status as documented.

    The API also sends values outside this list (its own example shows
    ``"participant"``); those decode as the plain string.
    """

    JOINED = "joined"
    INTERESTED = "interested"
    DECLINED = "declined"
    DISALLOWED = "disallowed"


@attrs.frozen
class User:
    """A RideWithGPS user as embedded in a participant."""

    id: int
    name: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Route:
    """A route in its short representation (fetch ``url`` for the track).

    Keys beyond the documented ones (e.g. ``distance``, in metres) are in ``extra``.
    """

    id: int
    url: str | None = None
    name: str | None = None
    description: str | None = None
    locality: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Organizer:
    """An organization member organising the event.

    Documented as ``{"id", "name", "created_at", "updated_at"}``; also seen as
    ``{"id", "text"}``, hence ``text``. :attr:`display_name` reads either.
    """

    id: int
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

    user: User
    status: ParticipantStatus | str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Photo:
    """A photo attached to an event; exactly one per event is ``highlighted``."""

    id: int
    url: str | None = None
    highlighted: bool | None = None
    caption: str | None = None
    created_at: dt.datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class EventSummary:
    """An event in the listing's short representation (no routes, organizers, participants).

    ``start_time`` is None for ``all_day`` events. ``visibility`` is a
    :class:`Visibility`, or the plain string for a value not documented yet.
    """

    id: int
    name: str
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

    events: list[EventSummary]
    meta: PaginationMeta | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


#: The package's one converter (keys are already snake_case: no renaming).
CONVERTER = common.make_converter()
#: The package's one decoder, built at import and shared by every client.
DECODER = common.Decoder(CONVERTER)
