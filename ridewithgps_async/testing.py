"""A fake RideWithGPS API v1 (events endpoints) for tests and benchmarks.

``async with FakeRideWithGPS() as server:`` serves, on ``server.url``, the five events
operations of RideWithGPS' own OpenAPI description (shipped as ``ridewithgps_async/openapi.json``):
``GET/POST /api/v1/events.json`` and ``GET/PUT/DELETE /api/v1/events/{id}.json``, plus ``PATCH``
for updates (the prose docs' method, checked as ``PUT``). Listings filter by ``name`` (partial,
case-insensitive) and ``visibility``; ``GET`` of one event takes ``privacy_code`` (a non-public
event shared by link). Every response carries ``x-request-id`` and ``x-rwgps-datetime``.

Credentials: any of the three documented forms -- ``Authorization: Bearer test-access-token``,
Basic ``test-api-key:test-auth-token``, or the headers ``x-rwgps-api-key: test-api-key`` and
``x-rwgps-auth-token: test-auth-token`` (change them with the constructor's arguments).

Order of checks per request, after the base class' faults and rate limit: unknown route (404/405,
recorded as a violation) → authentication (401) → the request against the description (400 with
``{"errors": [...]}``, recorded in :attr:`~common.testing.FakeServer.violations`) → handler.
Responses are checked against the description too (a mismatch is recorded; the
response is still sent). With openapi-core missing (``pip install 'eventsync[testing]'``),
``validate=None`` skips these checks. Where the prose docs document more than the description,
the fake follows the docs and the checks allow it: Bearer or Basic credentials instead of the
header pair the description requires, ``PATCH``, ``start_time``/``end_time`` null on all-day
events; error bodies take the shape of ``error_style`` and are checked in its ``"errors"``
shape only (the description's).

Data (:attr:`FakeRideWithGPS.db`), dated relative to today: the authenticated user owns
``events`` seeded events, generated on demand from their index (so 100 000 cost little memory),
plus a few events of other users and of an organization, some of which the user participates in
or organizes, some it may not view (403, one shared by link). Participants' users come in both
documented shapes (``name``; ``first_name``/``last_name``/``display_name``). Events created or
edited through the API are stored in ``db.events``.

Run it alone with ``python -m ridewithgps_async.testing --port 8123 [--events N]
[--no-validate] [--rate-limit RPS]``: it prints its URL on one line when ready, the credentials
it accepts on stderr, and serves until killed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import math
import random
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import msgspec
from aiohttp import web

from common import testing
from common.testing import ApiError, FakeServer, Handler, json_response, run_cli, slugify

__all__ = ["ErrorStyle", "FakeRideWithGPS", "RideWithGPSData", "generate_data", "load_spec"]

ErrorStyle = Literal["error", "errors", "message", "rotate"]
"""Error body shape: ``{"error": s}``, ``{"errors": [s]}``, ``{"message": s}``, or each in turn."""

_SEED_BASE = 1_000_000  # seeded event ``i`` has id ``_SEED_BASE + i``
_ORG_ID = 5000
_SUMMARY_KEYS = (
    "id",
    "user_id",
    "url",
    "html_url",
    "visibility",
    "name",
    "description",
    "logo_url",
    "banner_url",
    "location",
    "lat",
    "lng",
    "time_zone",
    "start_date",
    "start_time",
    "end_date",
    "end_time",
    "all_day",
    "created_at",
    "updated_at",
)
_EDITABLE = (
    "name",
    "description",
    "visibility",
    "location",
    "lat",
    "lng",
    "time_zone",
    "start_date",
    "start_time",
    "end_date",
    "end_time",
    "all_day",
)
_VISIBILITIES = ("public", "private", "friends_only", "managers_only", "members_only")
# name, lat, lng, the place's time zone (Nuuk's under its old alias, which the API still uses)
_PLACES = [
    ("The bakery, Portland", 45.561964, -122.68902, "America/Los_Angeles"),
    ("Mt. Tabor Park, Portland", 45.5118, -122.5934, "America/Los_Angeles"),
    ("Prospect Park, Brooklyn", 40.6602, -73.969, "America/New_York"),
    ("Richmond Park gate, London", 51.4426, -0.2749, "Europe/London"),
    ("Tempelhofer Feld, Berlin", 52.4731, 13.4039, "Europe/Berlin"),
    ("Nuuk harbour", 64.1766, -51.7361, "America/Godthab"),
    ("Centennial Park, Sydney", -33.8968, 151.2322, "Australia/Sydney"),
    ("Cubbon Park, Bengaluru", 12.9763, 77.5929, "Asia/Calcutta"),
]
_NAMES = ["Long day", "Coffee ride", "Gravel grinder", "Hill repeats", "Century", "Night ride"]
_PEOPLE = [
    ("Alice", "Nguyen"),
    ("Bruno", "Costa"),
    ("Chen", "Wei"),
    ("Dana", "Okafor"),
    ("Emeka", "Eze"),
    ("Freya", "Lund"),
    ("Goran", "Petrović"),
    ("Hana", "Sato"),
    ("Ivo", "Novak"),
    ("Jude", "Byrne"),
]
_STATUSES = ["joined", "joined", "interested", "declined", "disallowed", "participant"]
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}")
# operationId: (method, path) of the routes served; PATCH is checked as the description's PUT
_ONE = "/api/v1/events/{id}.json"
_OPERATIONS = {
    "listEvents": ("GET", "/api/v1/events.json"),
    "createEvent": ("POST", "/api/v1/events.json"),
    "getEvent": ("GET", _ONE),
    "updateEvent": ("PUT", _ONE),
    "patchEvent": ("PATCH", _ONE),
    "deleteEvent": ("DELETE", _ONE),
}


def load_spec() -> dict[str, Any]:
    """RideWithGPS' own OpenAPI description of API v1, freshly parsed (callers may mutate it)."""
    return testing.load_spec("ridewithgps_async")


#: The zone of the fake's account: a new event's, and one whose zone was cleared.
_ACCOUNT_ZONE = "America/Los_Angeles"


def _stamp(moment: dt.datetime, time_zone: str = "UTC") -> str:
    """ISO 8601 with the zone's offset at that moment (DST aware)."""
    try:
        zone: dt.tzinfo = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.timezone.utc
    return moment.astimezone(zone).isoformat(timespec="seconds")


def _user(
    user_id: int, name: str, now: dt.datetime, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    created = now - dt.timedelta(days=400 + user_id % 97)
    return {
        "id": user_id,
        "name": name,
        "created_at": _stamp(created),
        "updated_at": _stamp(created + dt.timedelta(days=30)),
        **(extra or {}),
    }


def _participant_user(user: Mapping[str, Any]) -> dict[str, Any]:
    """The user as a participant: the prose docs' ``name`` (odd ids) or the description's
    ``first_name``/``last_name``/``display_name`` (even ids)."""
    if user["id"] % 2 or "first_name" not in user:
        return {key: user[key] for key in ("id", "name", "created_at", "updated_at")}
    keys = ("id", "first_name", "last_name", "display_name", "created_at", "updated_at")
    return {key: user[key] for key in keys}


def _next_offset_change(zone: str, after: dt.date) -> dt.date:
    """The first day after ``after`` on which ``zone``'s UTC offset changes (or a month on)."""
    tz = ZoneInfo(zone)
    day = after
    for _ in range(400):
        noon = dt.datetime.combine(day, dt.time(12), tz)
        if noon.utcoffset() != (noon + dt.timedelta(days=1)).utcoffset():
            return day + dt.timedelta(days=1)
        day += dt.timedelta(days=1)
    return after + dt.timedelta(days=30)


def _route(route_id: int) -> dict[str, Any]:
    """A route's short representation, minus ``url`` (added when rendered)."""
    rng = random.Random(route_id)
    return {
        "id": route_id,
        "name": f"{rng.choice(_NAMES)} route {route_id}",
        "description": rng.choice(["", "Mostly paved.", "Bring a headlamp."]),
        "locality": rng.choice(["Portland", "London", "Berlin", "Nuuk"]),
        "distance": round(rng.uniform(15_000, 160_000), 1),  # a key the docs do not list
        "elevation_gain": round(rng.uniform(50, 2500), 1),
    }


# --- data ---------------------------------------------------------------------------------


def _midnight_utc() -> dt.datetime:
    return dt.datetime.combine(dt.date.today(), dt.time(), dt.timezone.utc)


@attrs.define
class RideWithGPSData:
    """The fake's records: users, materialized events and the authenticated user's listing."""

    seed: int
    user_id: int
    """The authenticated user."""
    seeded: int
    """How many generated events the user owns (ids ``1_000_000 + index``)."""
    users: dict[int, dict[str, Any]]
    """Users by id: ``id``, ``name``, ``created_at``, ``updated_at`` (the prose docs' shape),
    people also ``first_name``, ``last_name``, ``display_name`` (the description's ``User``)."""
    now: dt.datetime = attrs.field(factory=_midnight_utc)
    """The newest seeded update; seeded dates lie around it."""
    events: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    """Stored full events by id (others', created, edited); shape of ``GET`` ``event`` minus
    ``url``/``html_url`` and route ``url``, with ``participants`` always present."""
    listed: list[int] = attrs.field(factory=list)
    """Ids of the events the user owns or participates in, newest ``updated_at`` first."""
    privacy_codes: dict[int, str] = attrs.field(factory=dict)
    """Codes that let anyone view a non-public event (``GET ...?privacy_code=``), by id."""
    deleted: set[int] = attrs.field(factory=set)
    """Ids deleted through the API."""
    events_created: int = 0
    """Events created through ``POST``."""
    next_id: int = 900_000

    def event(self, event_id: int) -> dict[str, Any] | None:
        """The stored or generated event ``event_id`` (``None`` when unknown or deleted)."""
        if event_id in self.deleted:
            return None
        if event_id in self.events:
            return self.events[event_id]
        index = event_id - _SEED_BASE
        if 0 <= index < self.seeded:
            return self._generate(index)
        return None

    def _updated(self, index: int) -> dt.datetime:
        step = max(300, 365 * 86400 // max(self.seeded, 1))
        return self.now - dt.timedelta(seconds=index * step)

    def _generate(self, index: int) -> dict[str, Any]:
        rng = random.Random(f"{self.seed}-{index}")
        visibility = (
            "private" if index % 11 == 6 else "friends_only" if index % 7 == 5 else "public"
        )
        event = _build_event(
            rng, self, _SEED_BASE + index, self.user_id, self._updated(index), visibility
        )
        # hand-picked cases early in the list: every participant status, an all-day event,
        # multi-day events across the next daylight-saving change, an old time-zone alias
        if index == 0:
            event["participants"] = [
                _participant(rng, self, self.users[uid], status)
                for uid, status in enumerate(
                    ("joined", "interested", "declined", "disallowed", "participant"), start=2001
                )
            ]
        special = {1: (0, False), 2: (3, False), 3: (5, False), 4: (6, True)}.get(index)
        if special is not None:
            place, all_day = special
            location, lat, lng, zone = _PLACES[place]
            end = _next_offset_change(zone, self.now.date())
            start = end - dt.timedelta(days=1 if all_day else 2)
            event.update(location=location, lat=lat, lng=lng, time_zone=zone, all_day=all_day)
            event.update(start_date=start.isoformat(), end_date=end.isoformat())
            event.update(start_time=None if all_day else "08:00")
            event.update(end_time=None if all_day else "17:30")
        return event


def _participant(
    rng: random.Random, db: RideWithGPSData, user: dict[str, Any], status: str
) -> dict[str, Any]:
    joined = db.now - dt.timedelta(days=rng.randrange(1, 200))
    return {
        "user": _participant_user(user),
        "status": status,
        "created_at": _stamp(joined),
        "updated_at": _stamp(joined),
    }


def _build_event(
    rng: random.Random,
    db: RideWithGPSData,
    event_id: int,
    owner: int,
    updated: dt.datetime,
    visibility: str,
) -> dict[str, Any]:
    """A full stored event with random but plausible content, at a place in its time zone."""
    location, lat, lng, zone = rng.choice(_PLACES)
    start = db.now.date() + dt.timedelta(days=rng.randrange(-120, 240))
    all_day = rng.random() < 0.15
    start_time = None if all_day else f"{rng.randrange(6, 19):02d}:{rng.choice(['00', '30'])}"
    photos = [
        {
            "id": event_id * 10 + n,
            "url": f"https://photos.example.com/{event_id}/{n}.jpg",
            "highlighted": n == 0,
            "caption": rng.choice([None, "Start line", "Summit!"]),
            "created_at": _stamp(updated),
        }
        for n in range(rng.randint(0, 3))
    ]
    others = [uid for uid in db.users if uid not in (owner, db.user_id, _ORG_ID)]
    return {
        "id": event_id,
        "user_id": owner,
        "visibility": visibility,
        "name": f"{rng.choice(_NAMES)} #{event_id}",
        "description": rng.choice([None, "", "Regroup at every turn.", "No-drop pace, ~25 km/h."]),
        "logo_url": None,
        "banner_url": None,
        "location": location,
        "lat": lat,
        "lng": lng,
        "time_zone": zone,
        "start_date": start.isoformat(),
        "start_time": start_time,
        "end_date": (start + dt.timedelta(days=rng.choice([0, 0, 0, 1]))).isoformat(),
        "end_time": None if all_day else "18:00",
        "all_day": all_day,
        "created_at": _stamp(updated - dt.timedelta(days=rng.randrange(0, 60)), zone),
        "updated_at": _stamp(updated, zone),
        "routes": [_route(rng.randrange(10_000, 99_999)) for _ in range(rng.randint(0, 3))],
        "photos": photos,
        "participants": [
            _participant(rng, db, db.users[uid], rng.choice(_STATUSES))
            for uid in rng.sample(others, rng.randint(0, 5))
        ],
    }


def generate_data(
    seed: int = 0, events: int = 45, user_id: int = 1001, now: dt.datetime | None = None
) -> RideWithGPSData:
    """Users, seven events of others (some listed for the user) and ``events`` of the user.

    Dates lie around ``now`` (default: today's midnight UTC): updates before it, events from
    four months before to eight months after.
    """
    now = now or _midnight_utc()
    users = {user_id: _user(user_id, "Casey Rider", now)}
    for n, (first, last) in enumerate(_PEOPLE, start=2001):
        extra: dict[str, Any] = {
            "first_name": first,
            "last_name": last,
            "display_name": f"{first} {last[0]}.",
        }
        if n % 3 == 0:
            extra.update(locality="Portland", avatar_url=None)
        users[n] = _user(n, first, now, extra)
    users[_ORG_ID] = _user(_ORG_ID, "Cascade Bicycle Club", now, {"account_type": "organization"})
    db = RideWithGPSData(seed, user_id, events, users, now)
    rng = random.Random(f"{seed}-others")
    # (id, owner, visibility, user's participation or None, organizers shape or None)
    others: list[tuple[int, int, str, str | None, str | None]] = [
        (101, _ORG_ID, "public", "joined", "full"),
        (102, _ORG_ID, "members_only", "interested", "text"),
        (103, 2003, "friends_only", "joined", None),
        (104, 2004, "public", "participant", None),
        (105, 2005, "private", None, None),
        (106, _ORG_ID, "managers_only", None, "full"),
        (107, 2006, "public", None, None),
    ]
    for position, (event_id, owner, visibility, status, organizers) in enumerate(others):
        updated = now - dt.timedelta(days=3 + 5 * position, hours=position)
        event = _build_event(rng, db, event_id, owner, updated, visibility)
        if status is not None:
            event["participants"].append(_participant(rng, db, users[user_id], status))
        if organizers == "full":  # the user organizes 101, so may edit it
            members = [user_id, 2001] if event_id == 101 else [2002]
            event["organizers"] = [_organizer(users[uid]) for uid in members]
        elif organizers == "text":
            event["organizers"] = [{"id": 2002, "text": users[2002]["name"]}]
        if organizers is not None:
            event["logo_url"] = f"https://assets.example.com/org/{_ORG_ID}/logo.png"
        db.events[event_id] = event
    db.privacy_codes[105] = "c0ffee42"  # a private event shared by link
    listed = [(db._updated(index), _SEED_BASE + index) for index in range(events)]
    for event_id, _, _, status, _ in others:
        if status is not None:
            updated = dt.datetime.fromisoformat(db.events[event_id]["updated_at"])
            listed.append((updated, event_id))
    listed.sort(reverse=True)
    db.listed = [event_id for _, event_id in listed]
    return db


def _organizer(user: Mapping[str, Any]) -> dict[str, Any]:
    """An organizer as the description's ``Event.organizers`` items show it."""
    return {key: user[key] for key in ("id", "name", "created_at", "updated_at")}


# --- the fake ------------------------------------------------------------------------------


class FakeRideWithGPS(FakeServer):
    """Fake RideWithGPS events API.

    Args:
        seed: seed of the generated data.
        events: number of seeded events owned by the user (generated lazily).
        user_id: the user the credentials belong to.
        access_token: valid ``Bearer`` token.
        api_key: with ``auth_token``, the valid pair for Basic auth and the ``x-rwgps-*``
            headers.
        auth_token: see ``api_key``.
        error_style: shape of error bodies (422 validation errors are always
            ``{"errors": [...]}``).
        next_page_host: scheme and host of ``next_page_url`` instead of :attr:`url`.
        malformed_next_page_url: write ``next_page_url`` as ``...?page=2?page_size=20``.
        next_page_url_on_last_page: keep a ``next_page_url`` on the last page.
        repeat_page: this page number answers the previous page's events again.
        validate: check requests and responses against RideWithGPS' OpenAPI description with
            openapi-core: ``None`` (default) when it is installed (``pip install
            'eventsync[testing]'``), ``True`` demands it (:class:`ImportError` otherwise),
            ``False`` never (benchmarks).
        now: the moment seeded dates are placed around (default: today's midnight UTC).
        host: the address to listen on.
        port: the port to listen on (0: any free port).

    Credentials accepted (see :meth:`credentials`): ``Authorization: Bearer`` ``access_token``,
    or the pair ``api_key`` / ``auth_token`` as Basic auth or as the ``x-rwgps-api-key`` and
    ``x-rwgps-auth-token`` headers; defaults ``test-access-token``, ``test-api-key``,
    ``test-auth-token``.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        events: int = 45,
        user_id: int = 1001,
        access_token: str = "test-access-token",
        api_key: str = "test-api-key",
        auth_token: str = "test-auth-token",
        error_style: ErrorStyle = "error",
        next_page_host: str | None = None,
        malformed_next_page_url: bool = False,
        next_page_url_on_last_page: bool = False,
        repeat_page: int | None = None,
        validate: bool | None = None,
        now: dt.datetime | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Build the data, the routes and (when validating) the checker."""
        super().__init__(validate=validate, host=host, port=port)
        self.db = generate_data(seed, events, user_id, now)
        """The in-memory records; tests may read and change them."""
        self.access_token = access_token
        self.api_key = api_key
        self.auth_token = auth_token
        self.error_style = error_style
        self.next_page_host = next_page_host
        self.malformed_next_page_url = malformed_next_page_url
        self.next_page_url_on_last_page = next_page_url_on_last_page
        self.repeat_page = repeat_page
        self.auth_forms: list[str] = []
        """Per authenticated request: ``"bearer"``, ``"basic"``, ``"headers"`` or ``"none"``."""
        self._styles: Iterator[str] = itertools.cycle(["error", "errors", "message"])
        self.app.on_response_prepare.append(self._add_headers)
        handlers: dict[str, Handler] = {
            "listEvents": self._list_events,
            "createEvent": self._create_event,
            "getEvent": self._get_event,
            "updateEvent": self._update_event,
            "patchEvent": self._update_event,
            "deleteEvent": self._delete_event,
        }
        for operation, (method, path) in _OPERATIONS.items():
            route = path.replace("{id}", r"{id:\d+}")
            self.add_operation(operation, method, path, handlers[operation], route=route)

    check_description = False  # RideWithGPS' own description is not strictly valid OpenAPI 3.0

    def description(self) -> dict[str, Any]:
        """RideWithGPS' description, loosened where the prose docs document more: credentials
        may come as Bearer or Basic instead of the header pair (checked by
        :meth:`authenticate`), and all-day events have null ``start_time``/``end_time``."""
        spec = load_spec()
        for name in ("api_key", "auth_token"):
            spec["components"]["parameters"][name]["required"] = False
        summary = spec["components"]["schemas"]["EventSummary"]["properties"]
        for name in ("start_time", "end_time"):
            summary[name]["nullable"] = True
        return spec

    def credentials(self) -> list[str]:
        """The three accepted forms with this fake's values."""
        return [
            f"Authorization: Bearer {self.access_token}",
            f"Authorization: Basic base64({self.api_key}:{self.auth_token})",
            f"x-rwgps-api-key: {self.api_key} + x-rwgps-auth-token: {self.auth_token}",
        ]

    def error_body(self, status: int, code: str, message: str) -> Any:
        """The body in :attr:`error_style`."""
        style = next(self._styles) if self.error_style == "rotate" else self.error_style
        if style == "errors":
            return {"errors": [message]}
        return {style: message}

    def api_error(self, error: ApiError) -> web.Response:
        """Validation errors (``details``: a list of messages) as ``{"errors": [...]}``."""
        if error.details is not None:
            return json_response({"errors": error.details}, error.status)
        return super().api_error(error)

    def invalid_request(self, errors: dict[str, list[str]]) -> ApiError:
        """400 with ``{"errors": ["field: message", ...]}``."""
        messages = [f"{field}: {'; '.join(texts)}" for field, texts in errors.items()]
        return ApiError(400, "Request does not match the API description", messages)

    def spec_method(self, request: web.Request) -> str:
        """``PATCH`` (the prose docs') is the description's ``PUT``."""
        return "PUT" if request.method == "PATCH" else request.method

    def checked_body(self, request: web.Request, response: web.Response) -> bytes | None:
        """Error bodies only in the description's own ``error_style="errors"``."""
        if response.status >= 400 and self.error_style != "errors":
            return None  # the shapes of the prose docs and of other clients
        return super().checked_body(request, response)

    def authenticate(self, request: web.Request, operation: str | None) -> None:
        """Any of the three forms (recorded in :attr:`auth_forms`), else 401."""
        headers = request.headers
        scheme, _, credentials = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            form, valid = "bearer", credentials.strip() == self.access_token
        elif scheme.lower() == "basic":
            try:
                pair = base64.b64decode(credentials.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                pair = ""
            form, valid = "basic", pair == f"{self.api_key}:{self.auth_token}"
        elif "x-rwgps-api-key" in headers or "x-rwgps-auth-token" in headers:
            form = "headers"
            valid = (headers.get("x-rwgps-api-key"), headers.get("x-rwgps-auth-token")) == (
                self.api_key,
                self.auth_token,
            )
        else:
            form, valid = "none", False
        self.auth_forms.append(form)
        if not valid:
            raise ApiError(401, "Failed to authenticate the user")

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["x-request-id"] = uuid.uuid4().hex
        response.headers["x-rwgps-datetime"] = _stamp(dt.datetime.now(dt.timezone.utc))

    # --- rendering -----------------------------------------------------------------------

    def _summary(self, event: Mapping[str, Any]) -> dict[str, Any]:
        urls = {
            "url": f"{self.url}/api/v1/events/{event['id']}.json",
            "html_url": f"{self.url}/events/{event['id']}-{slugify(event['name'])}",
        }
        return {key: urls[key] if key in urls else event[key] for key in _SUMMARY_KEYS}

    def _full(self, event: Mapping[str, Any]) -> dict[str, Any]:
        full = self._summary(event)
        full["routes"] = [
            {**route, "url": f"{self.url}/api/v1/routes/{route['id']}.json"}
            for route in event["routes"]
        ]
        full["photos"] = event["photos"]
        if "organizers" in event:
            full["organizers"] = event["organizers"]
        if event["user_id"] == self.db.user_id:
            full["participants"] = event["participants"]
        return full

    def _involved(self, event: Mapping[str, Any]) -> set[int]:
        people = {p["user"]["id"] for p in event["participants"]}
        return people | {o["id"] for o in event.get("organizers", ())} | {event["user_id"]}

    def _viewable(self, request: web.Request, *, by_link: bool = False) -> dict[str, Any]:
        event = self.db.event(int(request.match_info["id"]))
        if event is None:
            raise ApiError(404, "Record not found")
        code = self.db.privacy_codes.get(event["id"])
        shared = by_link and code is not None and request.query.get("privacy_code") == code
        if (
            event["visibility"] != "public"
            and not shared
            and self.db.user_id not in self._involved(event)
        ):
            raise ApiError(403, "You do not have permission to view this event")
        return event

    def _editable(self, request: web.Request) -> dict[str, Any]:
        event = self._viewable(request)
        organizers = {o["id"] for o in event.get("organizers", ())}
        if self.db.user_id != event["user_id"] and self.db.user_id not in organizers:
            raise ApiError(403, "You do not have permission to edit this event")
        return event

    # --- handlers ------------------------------------------------------------------------

    async def _list_events(self, request: web.Request) -> web.Response:
        query = request.query
        page, size = _int(query, "page", 1), _int(query, "page_size", 20)
        if page < 1:
            raise ApiError(400, "page must be a positive integer")
        if not 20 <= size <= 200:
            raise ApiError(400, "page_size must be between 20 and 200")
        ids = self.db.listed
        name, visibility = query.get("name", "").lower(), query.get("visibility")
        if name or visibility:
            ids = [
                event_id
                for event_id in ids
                if (event := self.db.event(event_id)) is not None
                and name in event["name"].lower()
                and visibility in (None, event["visibility"])
            ]
        page_count = math.ceil(len(ids) / size)
        source = page - 1 if page == self.repeat_page else page
        events = [self.db.event(event_id) for event_id in ids[(source - 1) * size : source * size]]
        more = page < page_count or (self.next_page_url_on_last_page and page == page_count)
        filters = {key: query[key] for key in ("name", "visibility") if key in query}
        pagination = {
            "record_count": len(ids),
            "page_count": page_count,
            "page_size": size,
            "next_page_url": self._page_url(page + 1, size, filters) if more else None,
        }
        return json_response(
            {
                "events": [self._summary(event) for event in events if event is not None],
                "meta": {"pagination": pagination},
            }
        )

    def _page_url(self, page: int, size: int, filters: dict[str, str]) -> str:
        base = f"{self.next_page_host or self.url}/api/v1/events.json"
        if self.malformed_next_page_url:
            return f"{base}?page={page}?page_size={size}"
        return f"{base}?{urlencode({'page': page, 'page_size': size, **filters})}"

    async def _get_event(self, request: web.Request) -> web.Response:
        return json_response({"event": self._full(self._viewable(request, by_link=True))})

    async def _create_event(self, request: web.Request) -> web.Response:
        fields = await _event_fields(request)
        errors = [
            f"{label} can't be blank"
            for key, label in (("name", "Name"), ("start_date", "Start date"))
            if not fields.get(key)
        ]
        _check_fields(fields, errors)
        now = dt.datetime.now(dt.timezone.utc)
        event_id = self.db.next_id
        self.db.next_id += 1
        event: dict[str, Any] = {
            "id": event_id,
            "user_id": self.db.user_id,
            "visibility": "public",
            "description": None,
            "logo_url": None,
            "banner_url": None,
            "location": None,
            "lat": None,
            "lng": None,
            "time_zone": _ACCOUNT_ZONE,
            "start_time": None,
            "end_date": fields["start_date"],
            "end_time": None,
            "all_day": fields.get("start_time") is None,
            "created_at": _stamp(now),
            "routes": [],
            "photos": [],
            "participants": [],
        }
        self._apply(event, fields, now)
        self.db.events[event_id] = event
        self.db.listed.insert(0, event_id)
        self.db.events_created += 1
        return json_response({"event": self._full(event)}, 201)

    async def _update_event(self, request: web.Request) -> web.Response:
        event = dict(self._editable(request))
        fields = await _event_fields(request)
        errors = ["Name can't be blank"] if "name" in fields and not fields["name"] else []
        _check_fields(fields, errors)
        self._apply(event, fields, dt.datetime.now(dt.timezone.utc))
        self.db.events[event["id"]] = event
        if event["id"] in self.db.listed:
            self.db.listed.remove(event["id"])
            self.db.listed.insert(0, event["id"])
        return json_response({"event": self._full(event)})

    def _apply(self, event: dict[str, Any], fields: Mapping[str, Any], now: dt.datetime) -> None:
        """Copy the editable fields; ``route_ids`` and ``organizer_ids`` too (``organizers``
        is ignored, as by the real API)."""
        event.update({key: fields[key] for key in _EDITABLE if key in fields})
        if event["time_zone"] is None:  # cleared (null is allowed in a request, never in
            event["time_zone"] = _ACCOUNT_ZONE  # an answer): the account's zone
        if event["all_day"]:
            event["start_time"] = event["end_time"] = None
        if isinstance(fields.get("route_ids"), list):
            event["routes"] = [_route(int(route_id)) for route_id in fields["route_ids"]]
        if "organizers" in event and isinstance(fields.get("organizer_ids"), list):
            users = self.db.users
            event["organizers"] = [
                _organizer(users[int(i)]) for i in fields["organizer_ids"] if int(i) in users
            ]
        event["updated_at"] = _stamp(now, event["time_zone"])

    async def _delete_event(self, request: web.Request) -> web.Response:
        event = self._editable(request)
        self.db.events.pop(event["id"], None)
        self.db.deleted.add(event["id"])
        if event["id"] in self.db.listed:
            self.db.listed.remove(event["id"])
        return web.Response(status=204)


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name, default))
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None


async def _event_fields(request: web.Request) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        body = None
    fields = body.get("event") if isinstance(body, dict) else None
    if not isinstance(fields, dict):
        raise ApiError(400, "param is missing or the value is empty: event")
    return fields


def _check_fields(fields: Mapping[str, Any], errors: list[str]) -> None:
    """Add format errors to ``errors`` and raise a 422 if there are any."""
    for key in ("start_date", "end_date"):
        if fields.get(key) and not _DATE.fullmatch(str(fields[key])):
            errors.append(f"{key.replace('_', ' ').capitalize()} must be YYYY-MM-DD")
    for key in ("start_time", "end_time"):
        if fields.get(key) and not _TIME.fullmatch(str(fields[key])):
            errors.append(f"{key.replace('_', ' ').capitalize()} must be HH:MM")
    if "visibility" in fields and fields["visibility"] not in _VISIBILITIES:
        errors.append("Visibility is not included in the list")
    if errors:
        raise ApiError(422, errors[0], errors)


if __name__ == "__main__":
    run_cli(FakeRideWithGPS, "Serve a fake RideWithGPS API.")
