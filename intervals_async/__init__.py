"""Async client of the Intervals API (intervals.run), on the shared :mod:`common` core.

::

    from datetime import date
    from intervals_async import IntervalsClient, IntervalsSource

    async with IntervalsClient(api_key="...") as client:   # default: $INTERVALS_API_KEY
        org = await client.get_organization()
        async for event in client.iter_events(date_from=date(2026, 1, 1)):
            print(event.date, event.name)
        source = IntervalsSource(client)                    # a common.EventSource
        common_event = await source.get_event(event_id)

:class:`IntervalsClient` has one method per operation of the API; the models
(:class:`Event`, :class:`Series`, :class:`Recurrence`, :class:`Group`, …) are frozen attrs
classes with snake_case attributes; :class:`IntervalsSource` maps them to :class:`common.Event` and
:class:`common.Participant`. The fake server for tests lives in
:mod:`intervals_async.testing` (it needs the optional ``openapi-core``).
"""

from ._client import DEFAULT_API_VERSION, DEFAULT_BASE_URL, IntervalsClient
from ._models import (
    Address,
    DistanceStandard,
    Event,
    EventCreate,
    EventCreated,
    EventDetail,
    EventList,
    EventRun,
    EventType,
    Frequency,
    Group,
    GroupList,
    GroupStatus,
    Organization,
    OrganizationRole,
    ParticipantRegistered,
    Plan,
    Recurrence,
    RecurrenceList,
    RecurrenceSchedule,
    RecurrenceStatus,
    Registration,
    RegistrationCreate,
    RegistrationList,
    RegistrationOverride,
    RegistrationStatus,
    RegistrationType,
    RunRegistrationStatus,
    RunStatus,
    Schedule,
    Series,
    SeriesList,
    SeriesStatus,
    SeriesType,
)
from ._source import IntervalsSource

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
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
    "IntervalsClient",
    "IntervalsSource",
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
    "RegistrationOverride",
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
