"""The RideWithGPS events client: one thin method per operation on the shared core.

Authentication, retries, rate limiting, timeouts, error mapping and decoding
all live in :mod:`common`; this module only names the endpoints, validates the
arguments before anything is sent, and applies RideWithGPS's pagination rules.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypedDict

import aiohttp

import common

from ._models import DECODER, Event, EventList, EventSummary, Pagination, Visibility

if TYPE_CHECKING:
    # Only for type checkers (typing.Unpack is 3.11+); annotations are never evaluated.
    from typing_extensions import Unpack

__all__ = ["DEFAULT_BASE_URL", "EventChanges", "RideWithGPSClient"]

#: Where the API lives.
DEFAULT_BASE_URL = "https://ridewithgps.com"
#: The events listing's page size when none is asked for (the server's default).
DEFAULT_PAGE_SIZE = 20
MIN_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200

_EVENTS = "/api/v1/events.json"
_EVENT = "/api/v1/events/{id}.json"
_MAX_ID = 2**63 - 1
#: The ``visibility`` values the API's description lists for the listing filter.
LISTING_VISIBILITIES = ("public", "friends_only", "private")

#: Update fields for which None is sent as JSON null (clearing the value).
NULLABLE_FIELDS = frozenset({"description", "start_time"})

AuthStyle = Literal["basic", "headers"]


class EventChanges(TypedDict, total=False):
    """The fields :meth:`RideWithGPSClient.update_event` accepts, all optional.

    ``description`` and ``start_time`` may be None: that sends JSON null,
    clearing the value (the API documents both as nullable: all-day events
    have no start time). None for any other field is refused.
    """

    name: str
    description: str | None
    visibility: Visibility | str
    location: str
    lat: float
    lng: float
    time_zone: str
    start_date: dt.date | str
    start_time: dt.time | str | None
    end_date: dt.date | str
    end_time: dt.time | str
    route_ids: Sequence[int]
    organizer_ids: Sequence[int]


_WRITE_FIELDS = frozenset(EventChanges.__annotations__)


def _check_id(field: str, value: Any) -> int:
    return common.check_int(field, value, 1, _MAX_ID)


def _check_ids(field: str, value: Any) -> list[int]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise common.InvalidRequestError(
            f"{field}: must be a list of positive integers", field=field
        )
    return [_check_id(f"{field}[{index}]", item) for index, item in enumerate(value)]


def _check_field(field: str, value: Any) -> Any:
    """One write field in its wire form, or InvalidRequestError naming it."""
    if value is None:
        if field in NULLABLE_FIELDS:
            return None
        raise common.InvalidRequestError(f"{field}: must not be None", field=field)
    if field == "name":
        return common.check_text(field, value)
    if field in ("description", "location"):
        return common.check_text(field, value, allow_empty=True)
    if field == "visibility":
        return common.check_enum(field, value, Visibility)
    if field == "lat":
        return common.check_number(field, value, -90, 90)
    if field == "lng":
        return common.check_number(field, value, -180, 180)
    if field == "time_zone":
        return common.check_timezone(field, value)
    if field in ("start_date", "end_date"):
        return common.check_date(field, value)
    if field in ("start_time", "end_time"):
        return common.check_time(field, value, seconds=False)
    if field in ("route_ids", "organizer_ids"):
        return _check_ids(field, value)
    raise common.InvalidRequestError(f"unknown event field {field!r}", field=field)


def event_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate write fields and return the request body ``{"event": {...}}`` (pure).

    Checks each field's form (real dates, ``HH:MM`` times, coordinates in
    range, a documented visibility, a known IANA timezone, lists of positive
    ids) and that the event does not end before it starts.
    """
    unknown = sorted(set(fields) - _WRITE_FIELDS)
    if unknown:
        names = ", ".join(unknown)
        raise common.InvalidRequestError(
            f"unknown event field(s): {names}; accepted: {', '.join(sorted(_WRITE_FIELDS))}",
            field=unknown[0],
        )
    event = {field: _check_field(field, value) for field, value in fields.items()}
    start, end = event.get("start_date"), event.get("end_date")
    if start is not None and end is not None:
        # ISO dates and HH:MM times compare correctly as strings.
        if end < start:
            raise common.InvalidRequestError(
                f"end_date: {end} is before start_date {start}", field="end_date"
            )
        start_time, end_time = event.get("start_time"), event.get("end_time")
        if end == start and start_time and end_time and end_time < start_time:
            raise common.InvalidRequestError(
                f"end_time: {end_time} is before start_time {start_time} on the same day",
                field="end_time",
            )
    return {"event": event}


def next_page(page: int, items: int, page_size: int, pagination: Pagination | None) -> int | None:
    """The page to ask for after ``page``, or None when it was the last one (pure).

    Stops on an empty page, when ``page`` reached ``page_count``, or when
    ``next_page_url`` is null (the documented last-page signal). Without any
    ``meta.pagination``, a full page is taken to mean there may be more.
    """
    if items == 0:
        return None
    if pagination is None:
        return page + 1 if items >= page_size else None
    if pagination.page_count is not None and page >= pagination.page_count:
        return None
    if pagination.next_page_url is None:
        return None
    return page + 1


def _filters(name: str | None, visibility: Visibility | str | None) -> dict[str, str]:
    """The listing's ``name`` and ``visibility`` query parameters, checked."""
    params: dict[str, str] = {}
    if name is not None:
        params["name"] = common.check_text("name", name)
    if visibility is not None:
        value = common.check_enum("visibility", visibility, Visibility)
        if value not in LISTING_VISIBILITIES:
            allowed = ", ".join(LISTING_VISIBILITIES)
            raise common.InvalidRequestError(
                f"visibility: the listing filters by one of {allowed}; got {value!r}",
                field="visibility",
            )
        params["visibility"] = value
    return params


def _credential(name: str, value: Any) -> str | None:
    """An explicit or environment credential; empty means absent. Never echoes the value."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise common.InvalidRequestError(f"{name} must be a string", field=name)
    if not value.strip():
        return None
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise common.InvalidRequestError(
            f"{name} must not contain whitespace or control characters", field=name
        )
    return value


def resolve_auth(
    *,
    access_token: str | None,
    api_key: str | None,
    auth_token: str | None,
    auth_style: AuthStyle,
    environ: Mapping[str, str],
) -> common.Auth:
    """Pick the credentials (pure): explicit arguments first, then the environment.

    An access token wins over a key pair from the same source; an explicit
    pair (even half of one, completed from the environment) wins over an
    access token from the environment.
    """
    if auth_style not in ("basic", "headers"):
        raise common.InvalidRequestError(
            f"auth_style must be 'basic' or 'headers', got {auth_style!r}", field="auth_style"
        )
    token = _credential("access_token", access_token)
    if token is not None:
        return common.BearerAuth(token)
    key = _credential("api_key", api_key)
    secret = _credential("auth_token", auth_token)
    if key is None and secret is None:
        token = _credential("$RWGPS_ACCESS_TOKEN", environ.get("RWGPS_ACCESS_TOKEN"))
        if token is not None:
            return common.BearerAuth(token)
    if key is None:
        key = _credential("$RWGPS_API_KEY", environ.get("RWGPS_API_KEY"))
    if secret is None:
        secret = _credential("$RWGPS_AUTH_TOKEN", environ.get("RWGPS_AUTH_TOKEN"))
    if key is None and secret is None:
        raise common.MissingCredentialsError(
            "no RideWithGPS credentials: pass access_token= (or set $RWGPS_ACCESS_TOKEN), or"
            " api_key= and auth_token= (or set $RWGPS_API_KEY and $RWGPS_AUTH_TOKEN)",
            field="access_token",
        )
    if key is None:
        raise common.MissingCredentialsError(
            "auth_token is set but api_key is missing: pass api_key= or set $RWGPS_API_KEY",
            field="api_key",
        )
    if secret is None:
        raise common.MissingCredentialsError(
            "api_key is set but auth_token is missing: pass auth_token= or set $RWGPS_AUTH_TOKEN",
            field="auth_token",
        )
    if auth_style == "headers":
        return common.HeaderAuth({"x-rwgps-api-key": key, "x-rwgps-auth-token": secret})
    return common.BasicAuth(key, secret)


class RideWithGPSClient(common.BaseClient):
    """Async client for the RideWithGPS events API (v1).

    Credentials, in order of precedence:

    * ``access_token`` (OAuth): sent as ``Authorization: Bearer <token>``;
    * ``api_key`` + ``auth_token``: sent as ``Authorization: Basic
      base64(api_key:auth_token)`` by default, or, with
      ``auth_style="headers"``, as the ``x-rwgps-api-key`` and
      ``x-rwgps-auth-token`` headers;
    * unset arguments default to ``$RWGPS_ACCESS_TOKEN``, ``$RWGPS_API_KEY``
      and ``$RWGPS_AUTH_TOKEN``. Missing credentials (or half a pair) raise
      :class:`common.InvalidRequestError` here, naming what is missing.

    Credentials go only to ``base_url``'s origin: requests are built from
    ``base_url`` + a fixed path, redirects are never followed, and the
    listing's ``next_page_url`` is never requested. ``repr()``, errors and
    logs never show them.

    Writes (create, update, delete) are not idempotent: they are retried only
    when the request cannot have reached the server (connection refused, 429).

    Other keywords (``deadline``, ``retry_policy``, ``rate_burst``,
    ``max_response_bytes``, ``trace_configs``) go to :class:`common.BaseClient`.

    Example::

        async with RideWithGPSClient(api_key="...", auth_token="...") as rw:
            async for event in rw.iter_events():
                print(event.name, event.start_date)
    """

    def __init__(
        self,
        *,
        access_token: str | None = None,
        api_key: str | None = None,
        auth_token: str | None = None,
        auth_style: AuthStyle = "basic",
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        rate_limit: float | None = None,
        max_concurrency: int = 100,
        **options: Any,
    ) -> None:
        auth = resolve_auth(
            access_token=access_token,
            api_key=api_key,
            auth_token=auth_token,
            auth_style=auth_style,
            environ=os.environ,
        )
        super().__init__(
            base_url=base_url,
            auth=auth,
            decoder=DECODER,
            session=session,
            timeout=timeout,
            max_retries=max_retries,
            rate_limit=rate_limit,
            max_concurrency=max_concurrency,
            **options,
        )

    # -- listing ---------------------------------------------------------------

    async def list_events(
        self,
        page: int | None = None,
        page_size: int | None = None,
        name: str | None = None,
        visibility: Visibility | str | None = None,
    ) -> common.Page[EventSummary]:
        """One page of the events the user owns or takes part in, newest update first.

        ``page`` starts at 1; ``page_size`` is 20..200 (server default 20).
        ``name`` keeps events whose name contains it; ``visibility`` keeps one of
        ``public``, ``friends_only``, ``private`` (the values the API's description
        lists for this filter). ``total`` is ``meta.pagination.record_count``;
        ``next_page`` is None on the last page.

        Example::

            page = await rw.list_events(page=2, page_size=50, name="gravel")
            for event in page.items:
                print(event.id, event.name)
        """
        number = 1 if page is None else _check_id("page", page)
        size = self._page_size(page_size)
        params = _filters(name, visibility)
        if page is not None:
            params["page"] = str(number)
        if page_size is not None:
            params["page_size"] = str(size)
        listing = await self._call("GET", _EVENTS, EventList, params=params)
        pagination = listing.meta.pagination if listing.meta is not None else None
        return common.Page(
            items=listing.events,
            total=pagination.record_count if pagination is not None else None,
            next_page=next_page(number, len(listing.events), size, pagination),
        )

    def iter_events(
        self,
        page_size: int | None = None,
        name: str | None = None,
        visibility: Visibility | str | None = None,
    ) -> AsyncIterator[EventSummary]:
        """Every event (matching ``name`` and ``visibility``, as in :meth:`list_events`),
        page after page, each at most once.

        Each next page is asked for by number at ``base_url``; the listing's
        ``next_page_url`` only says whether there is one. Iteration stops when
        ``next_page_url`` is null, the page reached ``page_count``, or a page is
        empty. An event seen on an earlier page (the listing is ordered by
        ``updated_at`` and can shift while paging) is skipped; a page holding
        only events already seen ends the iteration with a
        :class:`common.TruncationWarning`, since paging further could loop
        forever. Only one page is held in memory. Arguments are checked at once,
        before the first request; a failure names the page to resume from
        (``exc.resume_page``).

        Example::

            async for event in rw.iter_events(page_size=200, visibility="public"):
                print(event.id, event.name)
        """
        self._page_size(page_size)  # arguments refused here, not at the first page
        _filters(name, visibility)

        async def fetch(page: int) -> common.Chunk[EventSummary, int]:
            result = await self.list_events(page, page_size, name, visibility)
            return common.Chunk(result.items, result.next_page)

        return common.paginate(
            fetch, 1, key=lambda event: event.id, where=lambda page: page, what=f"GET {_EVENTS}"
        )

    @staticmethod
    def _page_size(page_size: int | None) -> int:
        if page_size is None:
            return DEFAULT_PAGE_SIZE
        return common.check_int("page_size", page_size, MIN_PAGE_SIZE, MAX_PAGE_SIZE)

    # -- single events ---------------------------------------------------------

    async def get_event(self, event_id: int, privacy_code: str | None = None) -> Event:
        """The full event: routes, photos, organizers (organization events) and
        participants (when you own the event).

        ``privacy_code`` opens a non-public event shared by link. 403
        (:class:`common.PermissionDeniedError`) when you may not view it.

        Example::

            event = await rw.get_event(1234)
            print(event.name, [route.name for route in event.routes])
        """
        path = common.build_path(_EVENT, id=_check_id("event_id", event_id))
        params = {}
        if privacy_code is not None:
            params["privacy_code"] = common.check_text("privacy_code", privacy_code)
        return await self._call("GET", path, Event, root="event", params=params)

    async def create_event(
        self,
        *,
        name: str | None = None,
        start_date: dt.date | str | None = None,
        description: str | None = None,
        visibility: Visibility | str | None = None,
        location: str | None = None,
        lat: float | None = None,
        lng: float | None = None,
        time_zone: str | None = None,
        start_time: dt.time | str | None = None,
        end_date: dt.date | str | None = None,
        end_time: dt.time | str | None = None,
        route_ids: Sequence[int] | None = None,
        organizer_ids: Sequence[int] | None = None,
        **unknown: NoReturn,
    ) -> Event:
        """Create an event and return it in full.

        ``name`` and ``start_date`` are required; the other fields are sent
        only when given (None means "not given"). Dates are ``datetime.date``
        or ``YYYY-MM-DD``, times ``datetime.time`` or ``HH:MM`` (24 h),
        ``time_zone`` an IANA name. Everything is validated before sending
        (:class:`common.InvalidRequestError` naming the field). Not retried
        once the request may have reached the server.

        Example::

            event = await rw.create_event(
                name="Saturday ride", start_date=date(2026, 5, 2), start_time="08:00",
                time_zone="Europe/Paris", route_ids=[123],
            )
        """
        if name is None:
            raise common.InvalidRequestError("name: is required", field="name")
        if start_date is None:
            raise common.InvalidRequestError("start_date: is required", field="start_date")
        given = {
            "name": name,
            "start_date": start_date,
            "description": description,
            "visibility": visibility,
            "location": location,
            "lat": lat,
            "lng": lng,
            "time_zone": time_zone,
            "start_time": start_time,
            "end_date": end_date,
            "end_time": end_time,
            "route_ids": route_ids,
            "organizer_ids": organizer_ids,
        }
        fields = {key: value for key, value in given.items() if value is not None}
        body = event_body({**fields, **unknown})
        return await self._call("POST", _EVENTS, Event, root="event", json=body)

    async def update_event(self, event_id: int, **changes: Unpack[EventChanges]) -> Event:
        """Change the given fields (PATCH) and return the full event.

        Only the keywords passed are sent; at least one is needed. Fields are
        those of :meth:`create_event` (see :class:`EventChanges`).
        ``description=None`` or ``start_time=None`` sends JSON null, clearing
        the value; None for any other field is refused. Not retried once the
        request may have reached the server.

        Example::

            event = await rw.update_event(1234, name="Sunday ride", description=None)
        """
        path = common.build_path(_EVENT, id=_check_id("event_id", event_id))
        if not changes:
            raise common.InvalidRequestError("update_event: no field to change was given")
        body = event_body(changes)
        return await self._call("PATCH", path, Event, root="event", json=body)

    async def delete_event(self, event_id: int) -> None:
        """Delete an event (the API answers 204 No Content). Not retried once sent.

        Example::

            await rw.delete_event(1234)
        """
        path = common.build_path(_EVENT, id=_check_id("event_id", event_id))
        await self._send("DELETE", path)
