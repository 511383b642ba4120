"""The Intervals domain models, decoded from the API's JSON with one converter.

Attributes are snake_case; the JSON keys are their camelCase forms (``_id`` for
``id``), derived by :func:`common.camel_case`. Every enum of the spec has a
``str`` enum here, and each enum-typed field also accepts a plain string, so a
value the API adds later decodes and is kept instead of failing. The spec types
response dates as free strings, so dates are ``datetime.date`` when they are
ISO dates and the string as sent otherwise. Times stay ``"HH:MM"`` strings, as
the spec has them. Unknown response fields are ignored.
"""

from __future__ import annotations

import datetime as dt
import enum

import attrs

import common

__all__ = [
    "DECODER",
    "Address",
    "DistanceStandard",
    "Event",
    "EventCreated",
    "EventDetail",
    "EventList",
    "EventRun",
    "EventType",
    "Frequency",
    "Organization",
    "OrganizationRole",
    "ParticipantRegistered",
    "Plan",
    "Registration",
    "RegistrationList",
    "RegistrationStatus",
    "RegistrationType",
    "RunRegistrationStatus",
    "RunStatus",
    "Schedule",
    "Series",
    "SeriesList",
    "SeriesStatus",
    "SeriesType",
]


# --- enums (one per enum of the spec) ---------------------------------------------------


class OrganizationRole(str, enum.Enum):
    """What an organization does (``Organization.roles``)."""

    ORGANIZER = "organizer"
    SPONSOR = "sponsor"
    FEDERATION = "federation"


class Plan(str, enum.Enum):
    """The organization's subscription plan."""

    FREE = "free"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


class SeriesStatus(str, enum.Enum):
    """Whether a series is running."""

    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class SeriesType(str, enum.Enum):
    """The kind of a series."""

    RUN_CLUB = "runClub"
    RACE_SERIES = "raceSeries"
    PARKRUN = "parkrun"
    TIME_TRIAL = "timeTrial"


class Frequency(str, enum.Enum):
    """How often a series recurs."""

    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    CUSTOM = "custom"


class EventType(str, enum.Enum):
    """The kind of an event (also a filter of :meth:`IntervalsClient.list_events`)."""

    RACE = "race"
    RUN_CLUB = "runClub"
    TIME_TRIAL = "timeTrial"
    OTHER = "other"


class DistanceStandard(str, enum.Enum):
    """The standard label of a run's distance."""

    K5 = "5K"
    K10 = "10K"
    K15 = "15K"
    HALF_MARATHON = "Half Marathon"
    MARATHON = "Marathon"
    K50 = "50K"
    M50 = "50M"
    K100 = "100K"
    M100 = "100M"
    ULTRA = "Ultra"
    OTHER = "Other"


class RunStatus(str, enum.Enum):
    """Whether a run takes place as planned (``eventStatus`` in the API)."""

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    POSTPONED = "postponed"
    RESCHEDULED = "rescheduled"


class RunRegistrationStatus(str, enum.Enum):
    """Whether a run takes registrations."""

    OPEN = "open"
    CLOSED = "closed"
    SOLD_OUT = "sold_out"
    UNKNOWN = "unknown"


class RegistrationType(str, enum.Enum):
    """Free or paid registration."""

    FREE = "free"
    PAID = "paid"


class RegistrationStatus(str, enum.Enum):
    """The state of a registration (``status`` when sent, ``registrationStatus`` when read).

    The spec's four values. Words of the older docs (``waitlisted``, ``pending``)
    decode as plain strings; :class:`IntervalsSource` maps ``waitlisted`` like
    ``waitlist``. They are not members, so they are never sent.
    """

    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    WAITLIST = "waitlist"
    REFUNDED = "refunded"


# --- models -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Address:
    """A postal address, as read from the API and as sent to it.

    ``address_locality`` (the city) and ``address_country`` (ISO 3166-1
    alpha-2, two letters) are required::

        Address(name="Copley Square", address_locality="Boston", address_country="US")
    """

    address_locality: str
    address_country: str
    name: str | None = None
    street_address: str | None = None
    address_region: str | None = None
    postal_code: str | None = None


@attrs.frozen(kw_only=True)
class Organization:
    """The organization the API key belongs to (``GET /organization``)."""

    id: str
    name: str
    slug: str
    roles: list[OrganizationRole | str]
    plan: Plan | str


@attrs.frozen(kw_only=True)
class Schedule:
    """When a series recurs; ``start_time`` is ``"HH:MM"`` in the series' timezone."""

    frequency: Frequency | str
    start_time: str
    day_of_week: int | None = None
    """0 = Sunday … 6 = Saturday."""
    day_of_month: int | None = None
    duration_minutes: float | None = None


@attrs.frozen(kw_only=True)
class Series:
    """A recurring series of events; its ``timezone`` (IANA) applies to its events."""

    id: str
    name: str
    slug: str
    organization_id: str
    status: SeriesStatus | str
    type: SeriesType | str
    timezone: str
    schedule: Schedule
    description: str | None = None
    address: Address | None = None
    lat: float | None = None
    lng: float | None = None


@attrs.frozen(kw_only=True)
class Event:
    """An event. ``date`` is a ``datetime.date`` (or the string as sent when not ISO).

    Times are ``"HH:MM"`` strings, local to the series' timezone; the API
    gives events no timezone of their own. ``end_date``/``end_time`` are only
    returned by :meth:`IntervalsClient.get_event`.
    """

    id: str
    name: str
    slug: str
    type: EventType | str
    date: dt.date | str
    organization_id: str
    series_id: str | None = None
    start_time: str | None = None
    address: Address | None = None
    lat: float | None = None
    lng: float | None = None
    description: str | None = None
    website_url: str | None = None
    registration_url: str | None = None
    end_date: dt.date | str | None = None
    end_time: str | None = None


@attrs.frozen(kw_only=True)
class EventRun:
    """One distance of an event (its "run"); participants register for a run."""

    id: str
    event_id: str
    distance_meters: float
    distance_standard: DistanceStandard | str
    distance_label: str
    date: dt.date | str
    start_time: str | None = None
    event_status: RunStatus | str | None = None
    registration_url: str | None = None
    registration_status: RunRegistrationStatus | str | None = None
    max_participants: float | None = None
    is_virtual: bool | None = None
    is_relay: bool | None = None
    is_walking: bool | None = None


@attrs.frozen(kw_only=True)
class EventDetail:
    """An event with its runs (``GET /events/{id}``)."""

    event: Event
    runs: list[EventRun]


@attrs.frozen(kw_only=True)
class Registration:
    """A participant's registration for a run of an event."""

    id: str
    event_id: str
    event_run_id: str
    email: str
    registration_type: RegistrationType | str
    registration_status: RegistrationStatus | str
    name: str | None = None
    pace_group: str | None = None
    bib_identifier: str | None = None
    checked_in: bool | None = None


# --- response envelopes -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SeriesList:
    """The body of ``GET /series``; ``has_more`` only when the server paginates by cursor."""

    data: list[Series]
    has_more: bool | None = None


@attrs.frozen(kw_only=True)
class EventList:
    """The body of ``GET /events``; ``has_more`` only when the server paginates by cursor."""

    data: list[Event]
    has_more: bool | None = None


@attrs.frozen(kw_only=True)
class RegistrationList:
    """The body of ``GET /registration``; ``has_more`` only when paginated by cursor."""

    data: list[Registration]
    has_more: bool | None = None


@attrs.frozen(kw_only=True)
class EventCreated:
    """``data`` of the answer to ``POST /events``."""

    event_id: str


@attrs.frozen(kw_only=True)
class ParticipantRegistered:
    """``data`` of the answer to ``POST /registration``."""

    participant_id: str


#: The package's one decoder (built once, at import).
DECODER = common.Decoder(common.make_converter(common.camel_case))
