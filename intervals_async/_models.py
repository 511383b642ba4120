"""The Intervals domain models, decoded from the API's JSON with one converter.

Attributes are snake_case; the JSON keys are their camelCase forms, derived by
:func:`provider.camel_case`, except ``id``, whose key ``_id`` is declared on the field.
Every enum of the spec has a
``str`` enum here, and each enum-typed field also accepts a plain string, so a
value the API adds later decodes and is kept instead of failing. The spec types
response dates as free strings, so dates are ``datetime.date`` when they are
ISO dates and the string as sent otherwise. Times stay ``"HH:MM"`` strings, as
the spec has them. Unknown response fields are ignored.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping
from typing import Any

import attrs

import common
from common import provider

__all__ = [
    "CONVERTER",
    "DECODER",
    "Address",
    "DistanceStandard",
    "Event",
    "EventCreate",
    "EventCreated",
    "EventDetail",
    "EventList",
    "EventRun",
    "EventType",
    "Frequency",
    "Group",
    "GroupList",
    "GroupStatus",
    "Organization",
    "OrganizationRole",
    "ParticipantRegistered",
    "Plan",
    "Recurrence",
    "RecurrenceList",
    "RecurrenceSchedule",
    "RecurrenceStatus",
    "Registration",
    "RegistrationCreate",
    "RegistrationList",
    "RegistrationStatus",
    "RegistrationOverride",
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
    """The organization's subscription plan.

    The current reference's four values, and ``premium``, the seed description's
    (a server on the older version may still send it).
    """

    FREE = "free"
    LOCAL = "local"
    ELITE = "elite"
    ENTERPRISE = "enterprise"
    PREMIUM = "premium"


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


class RecurrenceStatus(str, enum.Enum):
    """Whether a recurrence publishes runs (also a filter of
    :meth:`IntervalsClient.list_recurrences`)."""

    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class GroupStatus(str, enum.Enum):
    """Whether a group is running."""

    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


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


class RegistrationOverride(str, enum.Enum):
    """An organizer's override of a run's registration window (current reference)."""

    PAUSED = "paused"
    CLOSED = "closed"


class RunRegistrationStatus(str, enum.Enum):
    """Whether a run takes registrations (the seed description's field; the current
    reference replaced it by the window, ``sold_out`` and the override)."""

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


#: The Intervals key of every ``id``.
_ID = {"json": "_id"}


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

    id: str = attrs.field(metadata=_ID)
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

    id: str = attrs.field(metadata=_ID)
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
    returned by :meth:`IntervalsClient.get_event`. ``series_id`` is the seed
    description's; the current reference no longer lists it.
    """

    id: str = attrs.field(metadata=_ID)
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

    id: str = attrs.field(metadata=_ID)
    event_id: str
    distance_meters: float
    distance_standard: DistanceStandard | str
    distance_label: str
    date: dt.date | str
    start_time: str | None = None
    event_status: RunStatus | str | None = None
    registration_url: str | None = None
    registration_status: RunRegistrationStatus | str | None = None
    registration_opens_at: dt.datetime | None = None
    registration_closes_at: dt.datetime | None = None
    sold_out: bool | None = None
    registration_override: RegistrationOverride | str | None = None
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

    id: str = attrs.field(metadata=_ID)
    event_id: str
    event_run_id: str
    email: str
    registration_type: RegistrationType | str
    registration_status: RegistrationStatus | str
    name: str | None = None
    pace_group: str | None = None
    bib_identifier: str | None = None
    checked_in: bool | None = None


@attrs.frozen(kw_only=True)
class RecurrenceSchedule:
    """How a recurrence repeats. The reference shows these fields in its example
    without tabulating them, so every one is optional."""

    frequency: Frequency | str | None = None
    days_of_week: list[int] | None = None
    """0 = Sunday … 6 = Saturday."""
    start_time: str | None = None
    """``"HH:MM"``."""
    duration_minutes: float | None = None


@attrs.frozen(kw_only=True)
class Recurrence:
    """How an event repeats (``GET /recurrences``): what auto-publishes its future runs."""

    id: str = attrs.field(metadata=_ID)
    event_id: str
    """The parent event."""
    schedule: RecurrenceSchedule
    status: RecurrenceStatus | str
    label: str | None = None
    default_course_id: str | None = None
    auto_publish_horizon_weeks: float | None = None
    """Weeks of runs published ahead."""


@attrs.frozen(kw_only=True)
class Group:
    """A group of the organization (``GET /groups``, ``GET /groups/{slug}``)."""

    id: str = attrs.field(metadata=_ID)
    organization_id: str
    name: str
    slug: str
    status: GroupStatus | str
    description: str | None = None
    card_image_id: str | None = None
    cover_image_id: str | None = None


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
class RecurrenceList:
    """The body of ``GET /recurrences``."""

    data: list[Recurrence]
    has_more: bool | None = None


@attrs.frozen(kw_only=True)
class GroupList:
    """The body of ``GET /groups``."""

    data: list[Group]
    has_more: bool | None = None


@attrs.frozen(kw_only=True)
class EventCreated:
    """``data`` of the answer to ``POST /events``."""

    event_id: str


@attrs.frozen(kw_only=True)
class ParticipantRegistered:
    """``data`` of the answer to ``POST /registration``."""

    participant_id: str


# --- write requests: one class per body, its checks on its fields ----------------------

# The spec's own email pattern (registerParticipant.email).
_EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$"
)


def check_email(field: str, value: Any) -> str:
    """An email address the spec's pattern accepts."""
    text = provider.check_text(field, value)
    if not _EMAIL.fullmatch(text):
        raise common.InvalidRequestError(
            f"{field}: {text!r} is not a valid email address", field=field
        )
    return text


def check_idempotency_key(field: str, value: Any) -> str:
    """A key that fits in a header: at most 255 printable ASCII characters, no spaces."""
    key = provider.check_text(field, value)
    if len(key) > 255 or not key.isascii() or not key.isprintable() or " " in key:
        raise common.InvalidRequestError(
            f"{field}: must be at most 255 printable ASCII characters without spaces",
            field=field,
        )
    return key


def _to_address(value: Any) -> Any:
    """A mapping of :class:`Address`'s snake_case keys becomes an Address."""
    if isinstance(value, Mapping):
        try:
            return Address(**value)
        except TypeError as exc:
            raise common.InvalidRequestError(f"address: {exc}", field="address") from None
    return value


_ADDRESS_CHECKS: dict[str, provider.Check] = {
    "address_locality": provider.check_text,
    "address_country": provider.check_country,
}


def check_address(field: str, value: Any) -> Address:
    """An :class:`Address` whose city is given and whose country has two letters."""
    if not isinstance(value, Address):
        raise common.InvalidRequestError(
            f"{field}: must be an Address or a mapping of its fields", field=field
        )
    for name, item in attrs.asdict(value).items():
        if item is not None or name in _ADDRESS_CHECKS:
            check: provider.Check = _ADDRESS_CHECKS.get(name, provider.any_text)
            check(f"{field}.{name}", item)
    return value


@attrs.frozen(kw_only=True)
class EventCreate:
    """The keywords of :meth:`IntervalsClient.create_event`: the body of ``POST /events``.

    ``name``, ``slug`` (unique in the organization), ``type`` and ``date`` are
    required; other fields are sent when given. ``idempotency_key`` is sent as the
    ``Idempotency-Key`` header (a new UUID unless given).
    """

    name: str = attrs.field(**provider.required(provider.check_text))
    slug: str = attrs.field(**provider.required(provider.check_text))
    type: EventType | str = attrs.field(**provider.required(provider.one_of(EventType)))
    date: dt.date | str = attrs.field(**provider.required(provider.check_date))
    idempotency_key: str | None = provider.not_sent(check_idempotency_key)
    series_id: str | None = provider.optional(provider.check_text)
    end_date: dt.date | str | None = provider.optional(provider.check_date)
    start_time: dt.time | str | None = provider.optional(provider.check_time)
    end_time: dt.time | str | None = provider.optional(provider.check_time)
    address: Address | Mapping[str, str] | None = provider.optional(
        check_address, converter=_to_address
    )
    lat: float | None = provider.optional(provider.between(-90, 90))
    lng: float | None = provider.optional(provider.between(-180, 180))
    description: str | None = provider.optional(provider.any_text)
    website_url: str | None = provider.optional(provider.check_uri)
    registration_url: str | None = provider.optional(provider.check_uri)

    def __attrs_post_init__(self) -> None:  # without an end_date: it ends that day
        provider.check_span(
            self.date, self.start_time, self.end_date, self.end_time, start_field="date"
        )


def _confirmed_unless_given(status: RegistrationStatus | str | None) -> RegistrationStatus | str:
    return RegistrationStatus.CONFIRMED if status is None else status


@attrs.frozen(kw_only=True)
class RegistrationCreate:
    """The keywords of :meth:`IntervalsClient.register_participant`: the body of
    ``POST /registration``.

    ``event_run_id``, ``email`` and ``registration_type`` are required;
    ``status`` is sent as confirmed unless given (today's reference marks it required
    and says it defaults to confirmed; the seed description has it optional with that
    default: sent always, the body suits both). ``idempotency_key`` is sent as
    the ``Idempotency-Key`` header (a new UUID unless given); ``retry_if_maybe_sent``
    (default None: retried, since the server de-duplicates by the key) set to False
    never retries once the request may have reached the server.
    """

    event_run_id: str = attrs.field(**provider.required(provider.check_text))
    email: str = attrs.field(**provider.required(check_email))
    registration_type: RegistrationType | str = attrs.field(
        **provider.required(provider.one_of(RegistrationType))
    )
    name: str | None = provider.optional(provider.any_text)
    status: RegistrationStatus | str | None = provider.optional(
        provider.one_of(RegistrationStatus), converter=_confirmed_unless_given
    )
    pace_group: str | None = provider.optional(provider.any_text)
    notes: str | None = provider.optional(provider.any_text)
    idempotency_key: str | None = provider.not_sent(check_idempotency_key)
    retry_if_maybe_sent: bool | None = provider.not_sent(provider.check_bool, default=None)


#: The package's one converter: it decodes responses and serialises request bodies.
CONVERTER = provider.make_converter(provider.camel_case)
#: The package's one decoder (built once, at import).
DECODER = provider.Decoder(CONVERTER)
