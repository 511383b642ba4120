"""A fake RideWithGPS API v1 (events endpoints) for tests and benchmarks.

``async with FakeRideWithGPS() as server:`` serves, on ``server.url``:
``GET/POST /api/v1/events.json`` and ``GET/PATCH/PUT/DELETE /api/v1/events/{id}.json``,
authenticated by any of the three documented forms (Bearer token, Basic ``api_key:auth_token``,
``x-rwgps-api-key`` + ``x-rwgps-auth-token`` headers). Every response carries ``x-request-id``
and ``x-rwgps-datetime``.

Data (:attr:`FakeRideWithGPS.db`): the authenticated user owns ``events`` seeded events,
generated on demand from their index (so 100 000 cost little memory), plus a few events of other
users and of an organization, some of which the user participates in or organizes, some it may
not view (403). Events created or edited through the API are stored in ``db.events``.

Run it alone with ``python -m ridewithgps_async.testing --port 8123 [--events N]
[--rate-limit RPS]``: it prints its URL on one line when ready and serves until killed.
"""

from __future__ import annotations

import argparse
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
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from common.testing import ApiError, FakeServer, json_response, run_cli, slugify

__all__ = ["ErrorStyle", "FakeRideWithGPS", "RideWithGPSData", "generate_data"]

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
_TIME_ZONES = [
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "America/Godthab",  # an old alias, still accepted
    "Australia/Sydney",
    "Asia/Calcutta",
]
_PLACES = [
    ("The bakery, Portland", 45.561964, -122.68902),
    ("Mt. Tabor Park", 45.5118, -122.5934),
    ("Richmond Park gate", 51.4426, -0.2749),
    ("Tempelhofer Feld", 52.4731, 13.4039),
    ("Nuuk harbour", 64.1766, -51.7361),
    ("Centennial Park", -33.8968, 151.2322),
]
_NAMES = ["Long day", "Coffee ride", "Gravel grinder", "Hill repeats", "Century", "Night ride"]
_PEOPLE = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Freya", "Goran", "Hana", "Ivo", "Jude"]
_STATUSES = ["joined", "joined", "interested", "declined", "disallowed", "participant"]
_SEED_END = dt.datetime(2025, 10, 1, 12, tzinfo=dt.timezone.utc)  # newest seeded update
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}")


def _stamp(moment: dt.datetime, time_zone: str = "UTC") -> str:
    """ISO 8601 with the zone's offset at that moment (DST aware)."""
    try:
        zone: dt.tzinfo = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.timezone.utc
    return moment.astimezone(zone).isoformat(timespec="seconds")


def _user(user_id: int, name: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    created = _SEED_END - dt.timedelta(days=400 + user_id % 97)
    return {
        "id": user_id,
        "name": name,
        "created_at": _stamp(created),
        "updated_at": _stamp(created + dt.timedelta(days=30)),
        **(extra or {}),
    }


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


@attrs.define
class RideWithGPSData:
    """The fake's records: users, materialized events and the authenticated user's listing."""

    seed: int
    user_id: int
    """The authenticated user."""
    seeded: int
    """How many generated events the user owns (ids ``1_000_000 + index``)."""
    users: dict[int, dict[str, Any]]
    """Users by id, as the API shows them (``id``, ``name``, ``created_at``, ``updated_at``...)."""
    events: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    """Stored full events by id (others', created, edited); shape of ``GET`` ``event`` minus
    ``url``/``html_url`` and route ``url``, with ``participants`` always present."""
    listed: list[int] = attrs.field(factory=list)
    """Ids of the events the user owns or participates in, newest ``updated_at`` first."""
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
        return _SEED_END - dt.timedelta(seconds=index * step)

    def _generate(self, index: int) -> dict[str, Any]:
        rng = random.Random(f"{self.seed}-{index}")
        event = _build_event(
            rng, self, _SEED_BASE + index, self.user_id, self._updated(index), "public"
        )
        # hand-picked cases early in the list: every participant status, an all-day event,
        # multi-day events across daylight-saving changes, an old time-zone alias
        if index == 0:
            event["participants"] = [
                _participant(rng, self.users[uid], status)
                for uid, status in enumerate(
                    ("joined", "interested", "declined", "disallowed", "participant"), start=2001
                )
            ]
        special = {
            1: ("America/Los_Angeles", "2026-03-07", "2026-03-09", False),
            2: ("Europe/London", "2026-10-24", "2026-10-26", False),
            3: ("America/Godthab", "2026-03-28", "2026-03-29", False),
            4: ("Australia/Sydney", "2026-04-04", "2026-04-05", True),
        }.get(index)
        if special is not None:
            zone, start, end, all_day = special
            event.update(time_zone=zone, start_date=start, end_date=end, all_day=all_day)
            event.update(start_time=None if all_day else "08:00")
            event.update(end_time=None if all_day else "17:30")
        return event


def _participant(rng: random.Random, user: dict[str, Any], status: str) -> dict[str, Any]:
    joined = _SEED_END - dt.timedelta(days=rng.randrange(1, 200))
    return {
        "user": user,
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
    """A full stored event with random but plausible content."""
    zone = rng.choice(_TIME_ZONES)
    location, lat, lng = rng.choice(_PLACES)
    start = dt.date(2025, 6, 1) + dt.timedelta(days=rng.randrange(540))
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
            _participant(rng, db.users[uid], rng.choice(_STATUSES))
            for uid in rng.sample(others, rng.randint(0, 5))
        ],
    }


def generate_data(seed: int = 0, events: int = 45, user_id: int = 1001) -> RideWithGPSData:
    """Users, seven events of others (some listed for the user) and ``events`` of the user."""
    users = {user_id: _user(user_id, "Casey Rider")}
    for n, name in enumerate(_PEOPLE, start=2001):
        extra = {"locality": "Portland", "avatar_url": None} if n % 3 == 0 else None
        users[n] = _user(n, name, extra)
    users[_ORG_ID] = _user(_ORG_ID, "Cascade Bicycle Club", {"account_type": "organization"})
    db = RideWithGPSData(seed, user_id, events, users)
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
        updated = _SEED_END - dt.timedelta(days=3 + 5 * position, hours=position)
        event = _build_event(rng, db, event_id, owner, updated, visibility)
        if status is not None:
            event["participants"].append(_participant(rng, users[user_id], status))
        if organizers == "full":  # the user organizes 101, so may edit it
            members = [user_id, 2001] if event_id == 101 else [2002]
            event["organizers"] = [users[uid] for uid in members]
        elif organizers == "text":
            event["organizers"] = [{"id": 2002, "text": users[2002]["name"]}]
        if organizers is not None:
            event["logo_url"] = f"https://assets.example.com/org/{_ORG_ID}/logo.png"
        db.events[event_id] = event
    listed = [(db._updated(index), _SEED_BASE + index) for index in range(events)]
    for event_id, _, _, status, _ in others:
        if status is not None:
            updated = dt.datetime.fromisoformat(db.events[event_id]["updated_at"])
            listed.append((updated, event_id))
    listed.sort(reverse=True)
    db.listed = [event_id for _, event_id in listed]
    return db


# --- the fake ------------------------------------------------------------------------------


class FakeRideWithGPS(FakeServer):
    """Fake RideWithGPS events API.

    Args:
        seed: seed of the generated data.
        events: number of seeded events owned by the user (generated lazily).
        user_id: the user the credentials belong to.
        access_token: valid ``Bearer`` token.
        api_key, auth_token: valid pair for Basic auth and the ``x-rwgps-*`` headers.
        error_style: shape of error bodies (422 validation errors are always
            ``{"errors": [...]}``).
        next_page_host: scheme and host of ``next_page_url`` instead of :attr:`url`.
        malformed_next_page_url: write ``next_page_url`` as ``...?page=2?page_size=20``.
        next_page_url_on_last_page: keep a ``next_page_url`` on the last page.
        repeat_page: this page number answers the previous page's events again.
        host, port: where to listen (port 0: any free port).
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
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Build the data and the routes."""
        super().__init__(host=host, port=port)
        self.db = generate_data(seed, events, user_id)
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
        router = self.app.router
        router.add_get("/api/v1/events.json", self._list_events)
        router.add_post("/api/v1/events.json", self._create_event)
        one = r"/api/v1/events/{id:\d+}.json"
        router.add_get(one, self._get_event)
        router.add_patch(one, self._update_event)
        router.add_put(one, self._update_event)
        router.add_delete(one, self._delete_event)

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

    async def dispatch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authenticate (401 otherwise), then answer."""
        self._authenticate(request)
        return await handler(request)

    def _authenticate(self, request: web.Request) -> None:
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

    def _viewable(self, request: web.Request) -> dict[str, Any]:
        event = self.db.event(int(request.match_info["id"]))
        if event is None:
            raise ApiError(404, "Record not found")
        if event["visibility"] != "public" and self.db.user_id not in self._involved(event):
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
        return json_response({"event": self._full(self._viewable(request))})

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
            "time_zone": "America/Los_Angeles",
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
        if event["all_day"]:
            event["start_time"] = event["end_time"] = None
        if isinstance(fields.get("route_ids"), list):
            event["routes"] = [_route(int(route_id)) for route_id in fields["route_ids"]]
        if "organizers" in event and isinstance(fields.get("organizer_ids"), list):
            users = self.db.users
            event["organizers"] = [
                users[int(i)] for i in fields["organizer_ids"] if int(i) in users
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
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
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


def _factory(options: argparse.Namespace) -> FakeServer:
    return FakeRideWithGPS(
        seed=options.seed,
        events=45 if options.events is None else options.events,
        host=options.host,
        port=options.port,
    )


if __name__ == "__main__":
    run_cli(_factory, lambda url: print(url, flush=True), "Serve a fake RideWithGPS API.")
