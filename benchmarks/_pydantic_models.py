"""The contender a user would hand-write: pydantic v2 models of the same shape as ours.

Same fields as :mod:`intervals_async` (snake_case attributes, camelCase aliases, ``_id`` for
``id``), frozen, ``datetime.date`` dates, str enums that also accept an unknown value (kept as
the string, like ours: ``left_to_right`` so a known value becomes the enum), unknown keys
ignored. Decoded with ``model_validate_json`` (JSON parsing included).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EventDetail", "EventDetailResponse", "EventList", "RegistrationList"]

E = TypeVar("E", bound=enum.Enum)


def _camel(name: str) -> str:
    if name == "id":
        return "_id"
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=_camel, populate_by_name=True)


# ``Kind | str``: the enum when the value is listed, else the string as sent.
_LeftToRight = Field(union_mode="left_to_right")


class EventType(str, enum.Enum):
    RACE = "race"
    RUN_CLUB = "runClub"
    TIME_TRIAL = "timeTrial"
    OTHER = "other"


class RegistrationType(str, enum.Enum):
    FREE = "free"
    PAID = "paid"


class RegistrationStatus(str, enum.Enum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    WAITLIST = "waitlist"
    REFUNDED = "refunded"


class DistanceStandard(str, enum.Enum):
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
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    POSTPONED = "postponed"
    RESCHEDULED = "rescheduled"


class RunRegistrationStatus(str, enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    SOLD_OUT = "sold_out"
    UNKNOWN = "unknown"


DateOrStr = Annotated[Union[dt.date, str], _LeftToRight]  # noqa: UP007


class Address(_Model):
    address_locality: str
    address_country: str
    name: str | None = None
    street_address: str | None = None
    address_region: str | None = None
    postal_code: str | None = None


class Event(_Model):
    id: str
    name: str
    slug: str
    type: Annotated[Union[EventType, str], _LeftToRight]  # noqa: UP007
    date: DateOrStr
    organization_id: str
    series_id: str | None = None
    start_time: str | None = None
    address: Address | None = None
    lat: float | None = None
    lng: float | None = None
    description: str | None = None
    website_url: str | None = None
    registration_url: str | None = None
    end_date: DateOrStr | None = None
    end_time: str | None = None


class EventRun(_Model):
    id: str
    event_id: str
    distance_meters: float
    distance_standard: Annotated[Union[DistanceStandard, str], _LeftToRight]  # noqa: UP007
    distance_label: str
    date: DateOrStr
    start_time: str | None = None
    event_status: Annotated[Union[RunStatus, str, None], _LeftToRight] = None  # noqa: UP007
    registration_url: str | None = None
    registration_status: Annotated[
        Union[RunRegistrationStatus, str, None],  # noqa: UP007
        _LeftToRight,
    ] = None
    max_participants: float | None = None
    is_virtual: bool | None = None
    is_relay: bool | None = None
    is_walking: bool | None = None


class EventDetail(_Model):
    event: Event
    runs: list[EventRun]


class EventDetailResponse(_Model):
    """``GET /events/{id}``'s whole body: ``{"data": {"event": ..., "runs": [...]}}``."""

    data: EventDetail


class Registration(_Model):
    id: str
    event_id: str
    event_run_id: str
    email: str
    registration_type: Annotated[Union[RegistrationType, str], _LeftToRight]  # noqa: UP007
    registration_status: Annotated[Union[RegistrationStatus, str], _LeftToRight]  # noqa: UP007
    name: str | None = None
    pace_group: str | None = None
    bib_identifier: str | None = None
    checked_in: bool | None = None


class EventList(_Model):
    data: list[Event]
    has_more: bool | None = None


class RegistrationList(_Model):
    data: list[Registration]
    has_more: bool | None = None
