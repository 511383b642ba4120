"""A fake Intervals API server for tests and benchmarks, validated against the bundled spec.

``async with FakeIntervals() as server:`` serves the seven operations of the OpenAPI spec
(``intervals_async/openapi.json``) on ``server.url`` over seeded in-memory data dated relative
to today (:attr:`FakeIntervals.db`). Credentials: ``Authorization: Bearer test-key``, a key
with every scope (``api_keys=`` sets others, with their scopes).

``FakeIntervals(api="current")`` behaves like the API of the current public reference instead,
checked against ``intervals_async/openapi-current.json``: every listing pages by cursor
(``after``/``before``, ``hasMore`` always sent), ``/recurrences``, ``/groups``,
``/groups/{slug}`` and ``/groups/{slug}/events`` are served, the plan is ``elite`` and runs
carry the registration window instead of ``registrationStatus``. ``/series`` stays (the
description marks it deprecated). Both modes de-duplicate ``POST /events`` and
``POST /registration`` by ``Idempotency-Key``.

The checks against the spec need openapi-core (``pip install 'eventsync[testing]'``);
``validate=None`` (default) does them when it is installed, ``True`` demands it, ``False``
skips them. Order of checks per request, after the base class' faults and rate
limit: unknown route (404/405, recorded as a violation) → authentication (401) → scope (403)
→ request validation against the spec (422, recorded in :attr:`FakeIntervals.violations`) →
``Idempotency-Key`` replay or conflict (409) → handler. Every response produced past the faults
(401/403/429 included) is validated against the spec before it is sent; a mismatch is recorded
as a violation, and the response is still sent. The spec declares only some error statuses per
operation while the docs allow 400/401/403/404/409/422/429/500 everywhere, so an undeclared error
status is checked against the spec's shared ``Error`` schema instead. Two documented extensions
the spec lacks are not counted: ``error.retryAfter`` in 429 bodies, and ``hasMore`` / ``after`` in
cursor mode.

Run it alone with ``python -m intervals_async.testing --port 8123 [--no-validate] [--events N]
[--rate-limit RPS]``: it prints its URL on one line when ready, the keys it accepts on
stderr, and serves until killed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal, NoReturn

import attrs
import msgspec
from aiohttp import web

from common import testing
from common._clock import wall_time
from common.testing import (
    ApiError,
    FakeServer,
    Handler,
    RateLimitStyle,
    error_code,
    json_response,
    run_cli,
    slugify,
)

__all__ = [
    "ALL_SCOPES",
    "ApiVersion",
    "FakeIntervals",
    "IntervalsData",
    "generate_data",
    "load_spec",
]

ApiVersion = Literal["seed", "current"]
"""Which description a :class:`FakeIntervals` serves: the seed's or the current reference's."""

ALL_SCOPES = (
    "read:series",
    "read:events",
    "read:participants",
    "write:events",
    "write:participants",
    "read:recurrences",
    "read:groups",
)
"""Every scope an API key can carry (the last two: the current reference's)."""

_OPERATIONS: dict[str, tuple[str, str, str | None]] = {
    # operationId: (method, path, scope needed)
    "getOrganization": ("GET", "/organization", None),
    "listSeries": ("GET", "/series", "read:series"),
    "listEvents": ("GET", "/events", "read:events"),
    "createEvent": ("POST", "/events", "write:events"),
    "getEvent": ("GET", "/events/{id}", "read:events"),
    "listRegistrations": ("GET", "/registration", "read:participants"),
    "registerParticipant": ("POST", "/registration", "write:participants"),
}
_SPEC_FILES: dict[str, str] = {"seed": "openapi.json", "current": "openapi-current.json"}
_EVENT_KEYS = (
    "_id",
    "name",
    "slug",
    "type",
    "date",
    "organizationId",
    "seriesId",
    "startTime",
    "address",
    "lat",
    "lng",
    "description",
    "websiteUrl",
    "registrationUrl",
    "endDate",
    "endTime",
)
_DETAIL_ONLY_KEYS = ("endDate", "endTime")  # absent from the listing schema
_ADDRESS_KEYS = (
    "name",
    "streetAddress",
    "addressLocality",
    "addressRegion",
    "postalCode",
    "addressCountry",
)
_REGISTRATION_KEYS = ("email", "name", "registrationType", "paceGroup")
_DEFAULT_LIMIT = 50
_MAX_LIMIT = 100


def _operations_of(spec: Mapping[str, Any]) -> dict[str, tuple[str, str, str | None]]:
    """``{operationId: (method, path, scope)}`` of a description whose operations name their
    scope in ``x-scope`` (the current one: the scopes are written once, there)."""
    return {
        operation["operationId"]: (method.upper(), path, operation.get("x-scope"))
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }


def load_spec(api: ApiVersion = "seed") -> dict[str, Any]:
    """The bundled OpenAPI description, freshly parsed (callers may mutate it): the seed's
    (``openapi.json``) or the current reference's (``openapi-current.json``)."""
    return testing.load_spec("intervals_async", _SPEC_FILES[api])


# --- data ---------------------------------------------------------------------------------


@attrs.define
class IntervalsData:
    """The fake's in-memory records, each shaped exactly as the API returns it."""

    organization: dict[str, Any]
    """``GET /organization`` ``data``."""
    series: list[dict[str, Any]]
    """``GET /series`` items."""
    events: dict[str, dict[str, Any]]
    """Events by ``_id``, shaped as ``GET /events/{id}`` ``data.event``."""
    runs: dict[str, list[dict[str, Any]]]
    """Runs by event ``_id``, shaped as ``GET /events/{id}`` ``data.runs``."""
    registrations: dict[str, list[dict[str, Any]]]
    """Registrations by event ``_id`` in creation order, shaped as ``GET /registration`` items."""
    rng: random.Random = attrs.field(repr=False)
    """Source of new ids."""
    recurrences: list[dict[str, Any]] = attrs.Factory(list)
    """``GET /recurrences`` items, in listing order."""
    groups: list[dict[str, Any]] = attrs.Factory(list)
    """``GET /groups`` items, in listing order."""
    group_events: dict[str, list[str]] = attrs.Factory(dict)
    """Event ``_id`` s of each group, by group slug."""
    events_created: int = 0
    """Events created through ``POST /events`` (idempotent replays excluded)."""
    registrations_created: int = 0
    """Registrations created through ``POST /registration`` (replays excluded)."""

    def new_id(self) -> str:
        """A fresh 24-hex-digit id, like the API's object ids."""
        return f"{self.rng.getrandbits(96):024x}"

    def find_run(self, run_id: str) -> dict[str, Any] | None:
        """The run with ``_id`` ``run_id``, if any."""
        for runs in self.runs.values():
            for run in runs:
                if run["_id"] == run_id:
                    return run
        return None


_PLACES: list[tuple[dict[str, str], float, float]] = [
    (
        {
            "name": "Copley Square",
            "streetAddress": "560 Boylston St",
            "addressLocality": "Boston",
            "addressRegion": "MA",
            "postalCode": "02116",
            "addressCountry": "US",
        },
        42.3499,
        -71.077,
    ),
    (
        {"name": "Battersea Park", "addressLocality": "London", "addressCountry": "GB"},
        51.4791,
        -0.1566,
    ),
    (
        {"addressLocality": "Sydney", "addressRegion": "NSW", "addressCountry": "AU"},
        -33.8908,
        151.2743,
    ),
    (
        {"addressLocality": "Portland", "addressRegion": "OR", "addressCountry": "US"},
        45.5152,
        -122.6784,
    ),
    (
        {"name": "Phoenix Park", "addressLocality": "Dublin", "addressCountry": "IE"},
        53.3559,
        -6.3298,
    ),
    (
        {"name": "Tempelhofer Feld", "addressLocality": "Berlin", "addressCountry": "DE"},
        52.4731,
        13.4039,
    ),
]
# name, series type, status, timezone, schedule, place index or None, type of its events
_SERIES: list[tuple[str, str, str, str, dict[str, Any], int | None, str]] = [
    (
        "Tuesday Track Club",
        "runClub",
        "active",
        "America/New_York",
        {"frequency": "weekly", "dayOfWeek": 2, "startTime": "18:30", "durationMinutes": 60},
        0,
        "runClub",
    ),
    (
        "Thames Winter Series",
        "raceSeries",
        "active",
        "Europe/London",
        {"frequency": "monthly", "dayOfMonth": 1, "startTime": "09:30"},
        1,
        "race",
    ),
    (
        "Bondi Beach parkrun",
        "parkrun",
        "paused",
        "Australia/Sydney",
        {"frequency": "weekly", "dayOfWeek": 6, "startTime": "07:00", "durationMinutes": 45},
        None,
        "other",
    ),
    (
        "Harbour Time Trials",
        "timeTrial",
        "archived",
        "Europe/Dublin",
        {"frequency": "custom", "startTime": "19:00"},
        4,
        "timeTrial",
    ),
]
_STANDALONE = [
    "City Half Marathon",
    "Harbour Mile",
    "Trail Ultra",
    "Charity Fun Run",
    "Club Championship",
]
_DISTANCES: list[tuple[float, str, str]] = [
    (5000, "5K", "5K"),
    (10000, "10K", "10K"),
    (15000, "15K", "15K"),
    (21097.5, "Half Marathon", "Half Marathon"),
    (42195, "Marathon", "Marathon"),
    (50000, "50K", "50K"),
    (80467, "50M", "50 miles"),
    (100000, "100K", "100K"),
    (160934, "100M", "100 miles"),
    (60000, "Ultra", "60K ultra"),
    (3000, "Other", "3K fun run"),
    (8000, "Other", "8K"),
]
_FIRST = ["Ada", "Ben", "Chloé", "Dmitri", "Ewa", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi"]
_LAST = ["Okafor", "Smith", "Müller", "Tanaka", "García", "O'Brien", "Nguyen", "Kowalski", "Silva"]


def _on_schedule(day: dt.date, schedule: Mapping[str, Any]) -> dt.date:
    """The first day from ``day`` on that fits ``schedule`` (its ``dayOfWeek``, 0 = Sunday, or
    ``dayOfMonth``), so a "Tuesday" club meets on Tuesdays."""
    if "dayOfWeek" in schedule:
        ahead = (schedule["dayOfWeek"] - day.isoweekday()) % 7
        return day + dt.timedelta(days=ahead)
    if "dayOfMonth" in schedule:
        if day.day > schedule["dayOfMonth"]:
            day = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        return day.replace(day=schedule["dayOfMonth"])
    return day


def generate_data(
    seed: int = 0,
    events: int | Sequence[Mapping[str, Any]] = 300,
    today: dt.date | None = None,
    api: ApiVersion = "seed",
) -> IntervalsData:
    """Deterministic data for ``seed``: one organization, four series and ``events`` events,
    with, for the current API (``api="current"``), a recurrence per series, three groups
    holding some of the events, the current plan and the runs' registration windows.

    Generated events fall in the year from three months before ``today`` (default: the current
    date), series events on their schedule's weekday or day of the month; the first has 120
    registrations, more than one page of a listing can hold.

    ``events`` may instead be a list of event dicts shaped as ``GET /events/{id}``
    ``data.event`` (``_id`` and ``organizationId`` filled in when missing), each with optional
    ``"runs"`` (shaped as ``data.runs``; ``_id``, ``eventId`` filled in) and ``"registrations"``
    (shaped as ``GET /registration`` items; ``_id``, ``eventId`` filled in, ``eventRunId``
    defaulting to the first run) lists.
    """
    rng = random.Random(seed)
    db = IntervalsData({}, [], {}, {}, {}, rng)
    org_id = db.new_id()
    db.organization = {
        "_id": org_id,
        "name": "Harbourside Running Collective",
        "slug": "harbourside-running",
        "roles": ["organizer"],
        "plan": "premium",
    }
    for name, kind, status, timezone, schedule, place, _ in _SERIES:
        series: dict[str, Any] = {
            "_id": db.new_id(),
            "name": name,
            "slug": slugify(name),
            "organizationId": org_id,
            "status": status,
            "type": kind,
            "timezone": timezone,
            "schedule": schedule,
        }
        if place is not None:
            address, lat, lng = _PLACES[place]
            series.update(
                description=f"{name}: all paces welcome.", address=address, lat=lat, lng=lng
            )
        db.series.append(series)
    if isinstance(events, int):
        start = (today or dt.date.today()) - dt.timedelta(days=90)
        for index in range(events):
            _add_seed_event(db, index, start)
    else:
        for given in events:
            _add_given_event(db, given)
    if api == "current":
        _add_current(db, random.Random(f"{seed}-current"))
    return db


_GROUPS = [("Dawn Patrol", "active"), ("Track Tuesdays", "active"), ("Trail Crew", "paused")]


def _add_current(db: IntervalsData, rng: random.Random) -> None:
    """What the current reference adds to the seed's data, from its own generator (``rng``),
    so the seed's records stay exactly as in seed mode."""
    db.organization["plan"] = "elite"
    for runs in db.runs.values():
        for run in runs:
            run.pop("registrationStatus", None)
            if rng.random() < 0.5:
                opens = dt.datetime.fromisoformat(run["date"]) - dt.timedelta(days=60)
                run["registrationOpensAt"] = f"{opens:%Y-%m-%d}T09:00:00+00:00"
                run["registrationClosesAt"] = f"{run['date']}T06:00:00+00:00"
            if rng.random() < 0.1:
                run["soldOut"] = True
            if rng.random() < 0.05:
                run["registrationOverride"] = rng.choice(["paused", "closed"])
    for series in db.series:
        parent = next((e for e in db.events.values() if e.get("seriesId") == series["_id"]), None)
        if parent is None:
            continue
        schedule = series["schedule"]
        recurrence: dict[str, Any] = {
            "_id": db.new_id(),
            "eventId": parent["_id"],
            "label": series["name"],
            "schedule": {
                "frequency": schedule["frequency"],
                "startTime": schedule["startTime"],
                **({"daysOfWeek": [schedule["dayOfWeek"]]} if "dayOfWeek" in schedule else {}),
                **(
                    {"durationMinutes": schedule["durationMinutes"]}
                    if "durationMinutes" in schedule
                    else {}
                ),
            },
            "status": series["status"],
            "autoPublishHorizonWeeks": 6,
        }
        db.recurrences.append(recurrence)
    for name, status in _GROUPS:
        slug = slugify(name)
        group = {
            "_id": db.new_id(),
            "organizationId": db.organization["_id"],
            "name": name,
            "slug": slug,
            "status": status,
            "description": f"{name}: the club's {status} group.",
        }
        if rng.random() < 0.7:
            group["coverImageId"] = f"img_{rng.getrandbits(32):08x}"
        db.groups.append(group)
        db.group_events[slug] = [e for e in db.events if rng.random() < 0.2]


def _add_given_event(db: IntervalsData, given: Mapping[str, Any]) -> None:
    event = {key: value for key, value in given.items() if key not in ("runs", "registrations")}
    event.setdefault("_id", db.new_id())
    event.setdefault("organizationId", db.organization["_id"])
    event_id = event["_id"]
    db.events[event_id] = event
    db.runs[event_id] = [
        {"_id": db.new_id(), **run, "eventId": event_id} for run in given.get("runs", [])
    ]
    first_run = db.runs[event_id][0]["_id"] if db.runs[event_id] else ""
    db.registrations[event_id] = [
        {"_id": db.new_id(), "eventRunId": first_run, **reg, "eventId": event_id}
        for reg in given.get("registrations", [])
    ]


def _add_seed_event(db: IntervalsData, index: int, start: dt.date) -> None:
    rng = db.rng
    date = start + dt.timedelta(days=rng.randrange(365))
    event: dict[str, Any] = {"_id": db.new_id()}
    place: int | None
    if rng.random() < 0.8:
        pick = rng.randrange(len(_SERIES))
        series_name, _, _, _, schedule, place, kind = _SERIES[pick]
        date = _on_schedule(date, schedule)
        name = f"{series_name} {date:%b} {date.day}"
        event["seriesId"] = db.series[pick]["_id"]
        start_time: str | None = schedule["startTime"]
    else:
        kind = rng.choice(["race", "runClub", "timeTrial", "other"])
        name = f"{rng.choice(_STANDALONE)} {date.year}"
        place = rng.randrange(len(_PLACES))
        start_time = f"{rng.randrange(6, 20):02d}:{rng.choice(['00', '15', '30', '45'])}"
    slug = f"{slugify(name)}-{date.isoformat()}"
    if any(other["slug"] == slug for other in db.events.values()):
        slug = f"{slug}-{index}"
    event.update(
        name=name,
        slug=slug,
        type=kind,
        date=date.isoformat(),
        organizationId=db.organization["_id"],
    )
    if start_time is not None and rng.random() < 0.9:
        event["startTime"] = start_time
    if place is not None and rng.random() < 0.8:
        address, lat, lng = _PLACES[place]
        event["address"] = address
        if rng.random() < 0.7:
            event.update(lat=lat, lng=lng)
    if rng.random() < 0.5:
        event["description"] = f"{name}. Bring water; chip timing for all runs."
    if rng.random() < 0.3:
        event["websiteUrl"] = f"https://example.org/{slug}"
    if rng.random() < 0.4:
        event["registrationUrl"] = f"https://example.org/{slug}/register"
    if rng.random() < 0.05:
        event["endDate"] = (date + dt.timedelta(days=rng.randint(1, 2))).isoformat()
        event["endTime"] = "16:00"
    db.events[event["_id"]] = event
    db.runs[event["_id"]] = runs = []
    for meters, standard, label in rng.sample(_DISTANCES, rng.randint(1, 3)):
        run: dict[str, Any] = {
            "_id": db.new_id(),
            "eventId": event["_id"],
            "distanceMeters": meters,
            "distanceStandard": standard,
            "distanceLabel": label,
            "date": event["date"],
            "eventStatus": rng.choices(
                ["scheduled", "cancelled", "postponed", "rescheduled"], [85, 5, 5, 5]
            )[0],
            "registrationStatus": rng.choice(["open", "open", "closed", "sold_out", "unknown"]),
        }
        if "startTime" in event:
            run["startTime"] = event["startTime"]
        if rng.random() < 0.5:
            run["maxParticipants"] = rng.choice([50, 100, 250, 1000])
        if rng.random() < 0.3:
            run.update(isVirtual=rng.random() < 0.3, isRelay=False, isWalking=rng.random() < 0.2)
        runs.append(run)
    count = 120 if index == 0 else rng.randint(0, 5)  # one event overflows a 100-item page
    db.registrations[event["_id"]] = [
        _seed_registration(db, event["_id"], runs) for _ in range(count)
    ]


def _seed_registration(
    db: IntervalsData, event_id: str, runs: list[dict[str, Any]]
) -> dict[str, Any]:
    rng = db.rng
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    number = rng.randrange(10_000)
    registration: dict[str, Any] = {
        "_id": db.new_id(),
        "eventId": event_id,
        "eventRunId": rng.choice(runs)["_id"],
        "email": f"{slugify(first)}.{slugify(last)}{number}@example.com",
        "registrationType": rng.choice(["free", "paid"]),
        "registrationStatus": rng.choices(
            ["confirmed", "waitlist", "cancelled", "refunded"], [70, 10, 12, 8]
        )[0],
    }
    if rng.random() < 0.9:
        registration["name"] = f"{first} {last}"
    if rng.random() < 0.4:
        registration["paceGroup"] = rng.choice(["sub-20", "20-25", "25-30", "30+"])
    if rng.random() < 0.5:
        registration["bibIdentifier"] = str(number)
    if rng.random() < 0.6:
        registration["checkedIn"] = rng.random() < 0.5
    return registration


# --- the fake ------------------------------------------------------------------------------


@attrs.frozen
class _Stored:
    fingerprint: tuple[str, str, Any]
    status: int
    body: bytes


class FakeIntervals(FakeServer):
    """Fake Intervals API; see the module docstring for the order of checks.

    Args:
        api_keys: valid bearer keys mapped to their scopes; default ``{"test-key": ALL_SCOPES}``.
        seed: seed of the generated data.
        events: number of generated events, or explicit event dicts (see :func:`generate_data`).
        validate: check requests and responses against the spec with openapi-core: ``None``
            (default) when it is installed (``pip install 'eventsync[testing]'``), ``True``
            demands it (:class:`ImportError` otherwise), ``False`` never (benchmarks).
        today: the date seeded events are placed around (default: the current date).
        cursor_pagination: accept ``after`` (an ``_id``, exclusive) and add ``hasMore`` to
            listings, as the docs describe; otherwise neither exists, as in the spec.
        api: ``"seed"`` (default) serves and checks against the seed description;
            ``"current"`` against the current reference's (``openapi-current.json``): its
            endpoints, cursor pagination always (``after``/``before``, ``hasMore``), its data.
        host: the address to listen on.
        port: the port to listen on (0: any free port).

    Credentials accepted (see :meth:`credentials`): ``Authorization: Bearer <key>`` for each
    key of ``api_keys``; by default ``Bearer test-key`` with every scope.
    """

    def __init__(
        self,
        *,
        api_keys: Mapping[str, Collection[str]] | None = None,
        seed: int = 0,
        events: int | Sequence[Mapping[str, Any]] = 300,
        validate: bool | None = None,
        cursor_pagination: bool = False,
        api: ApiVersion = "seed",
        today: dt.date | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Build the data, the routes and (when validating) the spec objects."""
        self.api: ApiVersion = api
        """Which description this fake serves and checks against (before the base reads it)."""
        super().__init__(validate=validate, host=host, port=port)
        self.api_keys = dict(api_keys) if api_keys is not None else {"test-key": ALL_SCOPES}
        self.db = generate_data(seed, events, today, api)
        """The in-memory records; tests may read and change them."""
        self.cursor_pagination = cursor_pagination or api == "current"
        self._operations = _operations_of(load_spec(api)) if api == "current" else _OPERATIONS
        self.idempotent_replays = 0
        """Requests answered from the ``Idempotency-Key`` store."""
        self._idempotency: dict[tuple[str, str], _Stored] = {}
        self._sorted_events: list[dict[str, Any]] | None = None
        handlers: dict[str, Handler] = {
            "getOrganization": self._get_organization,
            "listSeries": self._list_series,
            "listEvents": self._list_events,
            "createEvent": self._idempotent(self._create_event),
            "getEvent": self._get_event,
            "listRegistrations": self._list_registrations,
            "registerParticipant": self._idempotent(self._register),
            "listRecurrences": self._list_recurrences,
            "listGroups": self._list_groups,
            "getGroup": self._get_group,
            "listGroupEvents": self._list_group_events,
        }
        for operation, (method, path, _) in self._operations.items():
            self.add_operation(operation, method, path, handlers[operation])

    def description(self) -> dict[str, Any]:
        """The bundled description of :attr:`api` (:func:`load_spec`)."""
        return load_spec(self.api)

    def credentials(self) -> list[str]:
        """``Authorization: Bearer <key>`` for each key of :attr:`api_keys`, with its scopes."""
        return [
            f"Authorization: Bearer {key}  (scopes: {', '.join(scopes) or 'none'})"
            for key, scopes in self.api_keys.items()
        ]

    def error_body(self, status: int, code: str, message: str) -> Any:
        """``{"error": {"code": ..., "message": ...}}``."""
        return {"error": {"code": code, "message": message}}

    def rate_limit_response(self, retry_after: float, style: RateLimitStyle) -> web.Response:
        """429 with ``error.retryAfter`` (epoch ms) in the body, exact or (``body-rounded``)
        the wait rounded up to whole seconds; else the core's header or bare 429."""
        if style not in ("body", "body-rounded"):
            return super().rate_limit_response(retry_after, style)
        body = self.error_body(429, "RATE_LIMITED", "Rate limit exceeded")
        now = wall_time()
        if style == "body-rounded":
            wait_ms = 1000 * max(1, math.ceil(retry_after))
            body["error"]["retryAfter"] = math.ceil(now * 1000) + wait_ms
        else:
            body["error"]["retryAfter"] = math.ceil((now + retry_after) * 1000)
        return json_response(body, 429)

    def api_error(self, error: ApiError) -> web.Response:
        """The error body, with ``details`` as the field errors ``error.errors``."""
        body = self.error_body(error.status, error_code(error.status), error.message)
        if error.details is not None:
            body["error"]["errors"] = error.details
        return json_response(body, error.status)

    # --- request pipeline ----------------------------------------------------------------

    def authenticate(self, request: web.Request, operation: str | None) -> None:
        """The bearer key (401) and the operation's scope (403)."""
        key = self._api_key(request)
        scope = self._operations[operation][2] if operation in self._operations else None
        if scope is not None and scope not in self.api_keys[key]:
            raise ApiError(403, f"API key lacks the {scope} scope")

    def _api_key(self, request: web.Request) -> str:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or key.strip() not in self.api_keys:
            raise ApiError(401, "Missing or invalid API key")
        return key.strip()

    def checked_body(self, request: web.Request, response: web.Response) -> bytes | None:
        """The body without the documented extensions the seed spec lacks (``hasMore`` in
        cursor mode, ``error.retryAfter``); the current description has both."""
        data = super().checked_body(request, response)
        if self.api == "current":
            return data
        body = msgspec.json.decode(data) if data else None
        if not isinstance(body, dict):
            return data
        if self.cursor_pagination:
            body.pop("hasMore", None)
        if isinstance(body.get("error"), dict):
            body["error"].pop("retryAfter", None)
        return msgspec.json.encode(body)

    def _idempotent(self, handler: Handler) -> Handler:
        """``handler`` behind the ``Idempotency-Key`` store: a repeated key with the same
        request replays the stored answer, with another request is a 409."""

        async def idempotent(request: web.Request) -> web.StreamResponse:
            key = request.headers.get("Idempotency-Key")
            if key is None:
                return await handler(request)
            raw = await request.read()
            try:
                content: Any = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                content = raw
            fingerprint = (request.method, request.rel_url.raw_path, content)
            slot = (self._api_key(request), key)
            stored = self._idempotency.get(slot)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise ApiError(409, "Idempotency key already used with different request body")
                self.idempotent_replays += 1
                return web.Response(
                    body=stored.body, status=stored.status, content_type="application/json"
                )
            response = await handler(request)
            body = response.body if isinstance(response, web.Response) else None
            if isinstance(body, bytes) and response.status < 500:
                self._idempotency[slot] = _Stored(fingerprint, response.status, body)
            return response

        return idempotent

    # --- handlers ------------------------------------------------------------------------

    def _page(self, request: web.Request, items: Iterable[dict[str, Any]]) -> web.Response:
        """``{"data": [...]}`` up to ``limit``; cursor mode: after ``after`` (or before
        ``before``), with ``hasMore``."""
        try:
            limit = int(request.query.get("limit", _DEFAULT_LIMIT))
        except ValueError:
            limit = 0
        if not 1 <= limit <= _MAX_LIMIT:
            raise ApiError(422, "Invalid limit", {"limit": ["must be an integer from 1 to 100"]})
        after = request.query.get("after") if self.cursor_pagination else None
        before = request.query.get("before") if self.api == "current" else None
        if after is not None and before is not None:
            raise ApiError(422, "Invalid cursor", {"after": ["not with before"]})
        if before is not None:
            return self._page_before(before, limit, list(items))
        if after is not None:
            iterator = iter(items)
            if not any(item["_id"] == after for item in iterator):
                self._bad_cursor("after", after)
            items = iterator
        page = list(itertools.islice(items, limit + 1))
        result: dict[str, Any] = {"data": page[:limit]}
        if self.cursor_pagination:
            result["hasMore"] = len(page) > limit
        return json_response(result)

    def _page_before(self, before: str, limit: int, items: list[dict[str, Any]]) -> web.Response:
        """The ``limit`` items just before the one with ``_id`` ``before``; ``hasMore``: some
        come before them."""
        index = next((i for i, item in enumerate(items) if item["_id"] == before), None)
        if index is None:
            self._bad_cursor("before", before)
        start = max(0, index - limit)
        return json_response({"data": items[start:index], "hasMore": start > 0})

    def _bad_cursor(self, name: str, value: str) -> NoReturn:
        """A cursor naming no item: the current reference's ``VALIDATION_ERROR``; 400 before."""
        if self.api == "current":
            raise ApiError(422, f"Unknown cursor: {value}", {name: ["unknown cursor"]})
        raise ApiError(400, f"Unknown cursor: {value}")

    async def _get_organization(self, request: web.Request) -> web.Response:
        return json_response({"data": self.db.organization})

    async def _list_series(self, request: web.Request) -> web.Response:
        slug = request.query.get("slug")
        return self._page(request, (s for s in self.db.series if slug in (None, s["slug"])))

    async def _list_events(self, request: web.Request) -> web.Response:
        query = request.query
        kind, series = query.get("type"), query.get("seriesId")
        cursor = query.get("after") if self.cursor_pagination else None
        if self.api == "current" and "before" in query:
            cursor = query["before"]
        date_from, date_to = query.get("dateFrom", ""), query.get("dateTo", "9999")
        if self._sorted_events is None:
            self._sorted_events = sorted(
                self.db.events.values(), key=lambda e: (e["date"], e["_id"])
            )
        # with ``after``, filtering must not hide the cursor event: filter after the cursor
        matching = (
            {k: v for k, v in event.items() if k not in _DETAIL_ONLY_KEYS}
            for event in self._sorted_events
            if (
                kind in (None, event["type"])
                and series in (None, event.get("seriesId"))
                and date_from <= event["date"] <= date_to
            )
            or event["_id"] == cursor
        )
        return self._page(request, matching)

    async def _get_event(self, request: web.Request) -> web.Response:
        event_id = request.match_info["id"]
        event = self.db.events.get(event_id)
        if event is None:
            raise ApiError(404, "Event not found")
        return json_response({"data": {"event": event, "runs": self.db.runs.get(event_id, [])}})

    async def _list_registrations(self, request: web.Request) -> web.Response:
        event_id = request.query.get("eventId", "")
        if event_id not in self.db.events:
            raise ApiError(404, "Event not found")
        return self._page(request, iter(self.db.registrations.get(event_id, [])))

    async def _list_recurrences(self, request: web.Request) -> web.Response:
        status = request.query.get("status")
        cursor = request.query.get("after", request.query.get("before"))
        return self._page(
            request,
            (r for r in self.db.recurrences if status in (None, r["status"]) or r["_id"] == cursor),
        )

    async def _list_groups(self, request: web.Request) -> web.Response:
        return self._page(request, iter(self.db.groups))

    def _group(self, request: web.Request) -> dict[str, Any]:
        slug = request.match_info["slug"]
        group = next((g for g in self.db.groups if g["slug"] == slug), None)
        if group is None:
            raise ApiError(404, "Group not found")
        return group

    async def _get_group(self, request: web.Request) -> web.Response:
        return json_response({"data": self._group(request)})

    async def _list_group_events(self, request: web.Request) -> web.Response:
        ids = set(self.db.group_events.get(self._group(request)["slug"], ()))
        events = sorted(
            (self.db.events[event_id] for event_id in ids if event_id in self.db.events),
            key=lambda e: (e["date"], e["_id"]),
        )
        listed = ({k: v for k, v in e.items() if k not in _DETAIL_ONLY_KEYS} for e in events)
        return self._page(request, listed)

    async def _create_event(self, request: web.Request) -> web.Response:
        body = await self._json_object(request)
        missing = [key for key in ("name", "slug", "type", "date") if not body.get(key)]
        if missing:
            raise ApiError(422, "Invalid event", {key: ["is required"] for key in missing})
        if any(event["slug"] == body["slug"] for event in self.db.events.values()):
            raise ApiError(422, "Invalid event", {"slug": ["already taken"]})
        if "seriesId" in body and all(s["_id"] != body["seriesId"] for s in self.db.series):
            raise ApiError(422, "Invalid event", {"seriesId": ["not found"]})
        event = {key: body[key] for key in _EVENT_KEYS if key in body}
        if isinstance(event.get("address"), dict):
            event["address"] = {k: v for k, v in event["address"].items() if k in _ADDRESS_KEYS}
        event["_id"] = event_id = self.db.new_id()
        event["organizationId"] = self.db.organization["_id"]
        self.db.events[event_id] = event
        self.db.runs[event_id] = []
        self.db.registrations[event_id] = []
        self.db.events_created += 1
        self._sorted_events = None
        return json_response({"data": {"eventId": event_id}}, 201)

    async def _register(self, request: web.Request) -> web.Response:
        body = await self._json_object(request)
        missing = [key for key in ("eventRunId", "email", "registrationType") if not body.get(key)]
        if missing:
            raise ApiError(422, "Invalid registration", {key: ["is required"] for key in missing})
        run = self.db.find_run(str(body["eventRunId"]))
        if run is None:
            raise ApiError(404, "Event run not found")
        registration_id = self.db.new_id()
        registration = {
            "_id": registration_id,
            "eventId": run["eventId"],
            "eventRunId": run["_id"],
            **{key: body[key] for key in _REGISTRATION_KEYS if key in body},
            "registrationStatus": body.get("status", "confirmed"),
        }
        self.db.registrations.setdefault(run["eventId"], []).append(registration)
        self.db.registrations_created += 1
        return json_response({"data": {"participantId": registration_id}}, 201)

    @staticmethod
    async def _json_object(request: web.Request) -> dict[str, Any]:
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            body = None
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        return body


if __name__ == "__main__":
    run_cli(
        FakeIntervals,
        "Serve a fake Intervals API.",
        switches={
            "cursor_pagination": "send the documented hasMore cursor, as the demo's fake"
            " does, so every registration is listed ('eventsync events --participants'"
            " then exits 0)"
        },
        choices={
            "api": (
                "the seed's API, or the current public reference's (cursors, recurrences,"
                " groups, idempotent registration)",
                ["seed", "current"],
            )
        },
    )
