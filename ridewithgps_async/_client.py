"""The RideWithGPS events client: one thin method per operation on the shared core.

Authentication, retries, rate limiting, timeouts, error mapping and decoding
all live in :mod:`common`; this module only names the endpoints, validates the
arguments before anything is sent, and applies RideWithGPS's pagination rules.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import attrs

import common
from common import provider

if TYPE_CHECKING:
    # Only for type checkers (typing.Unpack is 3.11+); annotations are never evaluated.
    from typing_extensions import Unpack

from ._models import (
    CONVERTER,
    DECODER,
    Event,
    EventCreate,
    EventList,
    EventSummary,
    EventUpdate,
    Pagination,
    Visibility,
    check_id,
)

__all__ = ["DEFAULT_BASE_URL", "RideWithGPSClient"]

#: Where the API lives.
DEFAULT_BASE_URL = "https://ridewithgps.com"
#: The events listing's page size when none is asked for (the server's default).
DEFAULT_PAGE_SIZE = 20
MIN_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200

_EVENTS = "/api/v1/events.json"
_EVENT = "/api/v1/events/{id}.json"
#: The ``visibility`` values the API's description lists for the listing filter.
LISTING_VISIBILITIES = ("public", "friends_only", "private")

AuthStyle = Literal["basic", "headers"]


def parse_error(body: bytes) -> provider.ErrorDetails:
    """A RideWithGPS error body, in any of its three documented shapes.

    ``{"error": "text"}`` (the prose docs), ``{"errors": ["text", ...]}`` (the API's
    description; joined with ``; ``) and ``{"message": "text"}`` (its own
    command-line client), in that order of precedence. Never raises.
    """
    details = provider.parse_error_body(body)
    data = details.data
    if not isinstance(data, Mapping) or isinstance(data.get("error"), str):
        return details
    errors = data.get("errors")
    texts = [t for t in map(provider.error_text, errors) if t] if isinstance(errors, list) else []
    return attrs.evolve(details, message="; ".join(texts)) if texts else details


def next_page(page: int, items: int, page_size: int, pagination: Pagination | None) -> int | None:
    """The page to ask for after ``page``, or None when it was the last one (pure).

    Stops on an empty page or when ``page`` reached ``page_count`` (which the
    description requires). Only without a ``page_count`` does a null or absent
    ``next_page_url`` (the prose docs' last-page signal) end it: a page count that
    says there is more is asked for, since a wrong guess costs one empty page and the
    other one would lose every page after this. Without any ``meta.pagination``, a
    full page is taken to mean there may be more, and so is one of the server's own
    size (20) when more was asked for: the older docs name no ``page_size``, and a
    server that ignores it lost every page after the first.
    """
    if items == 0:
        return None
    if pagination is None:
        return page + 1 if items >= min(page_size, DEFAULT_PAGE_SIZE) else None
    if pagination.page_count is not None:
        return page + 1 if page < pagination.page_count else None
    if pagination.next_page_url is None:
        return None
    return page + 1


def _filters(name: str | None, visibility: Visibility | str | None) -> dict[str, str]:
    """The listing's ``name`` and ``visibility`` query parameters, checked."""
    params: dict[str, str] = {}
    if name is not None:
        params["name"] = provider.check_text("name", name)
    if visibility is not None:
        value = provider.check_enum("visibility", visibility, Visibility)
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
) -> provider.Auth:
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
        return provider.BearerAuth(token)
    key = _credential("api_key", api_key)
    secret = _credential("auth_token", auth_token)
    if key is None and secret is None:
        token = _credential("$RWGPS_ACCESS_TOKEN", environ.get("RWGPS_ACCESS_TOKEN"))
        if token is not None:
            return provider.BearerAuth(token)
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
        return provider.HeaderAuth({"x-rwgps-api-key": key, "x-rwgps-auth-token": secret})
    return provider.BasicAuth(key, secret)


def _check_aware(field: str, value: dt.datetime | None) -> dt.datetime | None:
    """A timezone-aware datetime (a naive one would be compared with offsets by guess)."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise common.InvalidRequestError(
            f"{field}: must be a timezone-aware datetime, e.g."
            " datetime(2026, 5, 1, tzinfo=timezone.utc)",
            field=field,
        )
    return value


def _older(event: EventSummary, since: dt.datetime) -> bool:
    """Whether ``event`` was last updated before ``since`` (unknown: not older)."""
    return event.updated_at is not None and event.updated_at < since


class RideWithGPSClient(provider.BaseClient):
    """Async client for the RideWithGPS events API (v1).

    Credentials, in order of precedence:

    * ``access_token`` (OAuth): sent as ``Authorization: Bearer <token>``;
    * ``api_key`` + ``auth_token``: sent as the ``x-rwgps-api-key`` and
      ``x-rwgps-auth-token`` headers by default (the form RideWithGPS's OpenAPI
      description declares), or, with ``auth_style="basic"``, as
      ``Authorization: Basic base64(api_key:auth_token)`` (the prose docs' form);
    * unset arguments default to ``$RWGPS_ACCESS_TOKEN``, ``$RWGPS_API_KEY``
      and ``$RWGPS_AUTH_TOKEN``. Missing credentials (or half a pair) raise
      :class:`common.InvalidRequestError` here, naming what is missing.

    Credentials go only to ``base_url``'s origin: requests are built from
    ``base_url`` + a fixed path, redirects are never followed, and the
    listing's ``next_page_url`` is never requested. ``repr()``, errors and
    logs never show them.

    Writes (create, update, delete) are not idempotent: they are retried only
    when the request cannot have reached the server (connection refused, 429).

    Options (``timeout``, ``deadline``, ``max_retries``, ``max_retry_wait``,
    ``retry_policy``, ``rate_limit``, ``rate_burst``, ``rate_store``, ``rate_key``,
    ``max_concurrency``, ``max_response_bytes``, ``trace_configs``) are
    :class:`common.Options`'s, with its defaults. ``session=`` borrows a caller's
    ``aiohttp.ClientSession`` (never closed by the client); ``sender=`` replaces the
    HTTP sender (tests: :class:`common.testing.MemorySender`).

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
        auth_style: AuthStyle = "headers",
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        sender: provider.Sender | None = None,
        **options: Unpack[common.ClientOptions],
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
            provider="ridewithgps",
            session=session,
            sender=sender,
            parse_error=parse_error,
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
        number = 1 if page is None else check_id("page", page)
        size = self._page_size(page_size)
        params = _filters(name, visibility)
        if page is not None:
            params["page"] = str(number)
        if page_size is not None:
            params["page_size"] = str(size)
        listing = await self._call("GET", _EVENTS, EventList, params=params)
        return self._page(listing, number, size)

    @staticmethod
    def _page(listing: EventList, number: int, size: int) -> common.Page[EventSummary]:
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
        updated_since: dt.datetime | None = None,
    ) -> AsyncGenerator[EventSummary, None]:
        """Every event (matching ``name`` and ``visibility``, as in :meth:`list_events`),
        page after page, each at most once. ``page_size`` None asks for the most the API
        gives per page (200; its own default is 20): the fewest requests.

        ``updated_since`` (a timezone-aware datetime) makes the listing incremental:
        since the API lists events by ``updated_at``, newest first, paging stops at
        the first event updated before it, so a job that runs every hour reads only
        the pages that changed (every event of that last page updated since then is
        yielded, in whatever order the page lists them). Events updated at
        ``updated_since`` exactly are included (keep the newest ``updated_at`` you
        saw and pass it next time; the boundary event comes again). An event without
        ``updated_at`` cannot be placed and is yielded without stopping.

        Each next page is asked for by number at ``base_url``; the listing's
        ``next_page_url`` only says whether there is one. Iteration stops when
        the page reached ``page_count`` (or, without a ``page_count``, when
        ``next_page_url`` is null or absent), or a page is empty; without any pagination
        ``meta``, at a page shorter than the first (a first page shorter than asked for
        may be the server's own page size: the older docs name no ``page_size``). An
        event seen on an earlier page (the listing is ordered by ``updated_at`` and can
        shift while paging) is skipped, with one
        :class:`common.TruncationWarning`: an event updated meanwhile moved to a page
        already read and is missing from this listing; a page holding
        only events already seen ends the iteration with a
        :class:`common.TruncationWarning`, since paging further could loop
        forever; so does a listing that ends with fewer events than its
        ``record_count`` names, or whose ``record_count`` falls from one page to
        the next (an event deleted after its page was read moves the others up: one
        is then on a page already read, and nothing comes twice to show it). One
        page of events is held in memory, and the ids of those already yielded
        (about 60 bytes each). Arguments are checked at once,
        before the first request; a failure names the page to resume from
        (``exc.resume_page``).

        Example::

            async for event in rw.iter_events(page_size=200, visibility="public"):
                print(event.id, event.name)
        """
        # Every event in as few requests as the API allows: the server's own default is 20.
        size = MAX_PAGE_SIZE if page_size is None else self._page_size(page_size)
        since = _check_aware("updated_since", updated_since)

        received = 0
        total: int | None = None  # the record_count of the pages read so far
        served = size  # the page size the server keeps to (see below)
        # (arguments refused here, not at the first page)
        params = {**_filters(name, visibility), "page_size": str(size)}

        async def fetch(page: int) -> provider.Chunk[EventSummary, int]:
            nonlocal received, total, served
            query = {**params, "page": str(page)}
            listing = await self._call("GET", _EVENTS, EventList, params=query)
            meta = listing.meta
            if page == 1 and (meta is None or meta.pagination is None) and listing.events:
                # No meta to tell the last page by: the older docs name no ``page_size``,
                # so a server may keep to its own (20), and a first page shorter than asked
                # for is not the last by that alone. Its length is taken as the server's
                # size: the next page shows which (one request more when this page was all
                # of it; none missed when it was not).
                served = len(listing.events)
            result = self._page(listing, page, served)
            warning = None
            if result.total is not None:
                if total is not None and result.total < total:
                    # An event deleted (or hidden) after its page was read moves every
                    # later one up a place: the first of this page is on one already read,
                    # and no event comes twice to show it. (One added moves them down: an
                    # event comes twice, which the paginator warns about.)
                    warning = (
                        f"GET {_EVENTS} changed while it was read: its record_count fell"
                        f" from {total} to {result.total} at page {page} (an event removed"
                        " moves the others up, one onto a page already read): some events"
                        " may be missing; read it again"
                    )
                total = result.total
            if since is None:
                received += len(result.items)
                if warning is None and result.next_page is None and (total or 0) > received:
                    warning = (
                        f"GET {_EVENTS} ended at page {page} with {received} of the"
                        f" {total} events its record_count names (a page count that lies,"
                        " or an empty page before the last): some events may be missing"
                    )
                return provider.Chunk(result.items, result.next_page, warning)
            # The whole page is read: a server that lists out of order (the description
            # promises no order) has newer events after an older one on the same page.
            newer = [event for event in result.items if not _older(event, since)]
            following = result.next_page if len(newer) == len(result.items) else None
            return provider.Chunk(newer, following, warning)

        return provider.paginate(
            fetch,
            1,
            key=lambda event: event.id,
            where=lambda page: page,
            what=f"GET {_EVENTS}",
            shifts=True,
        )

    @staticmethod
    def _page_size(page_size: int | None) -> int:
        if page_size is None:
            return DEFAULT_PAGE_SIZE
        return provider.check_int("page_size", page_size, MIN_PAGE_SIZE, MAX_PAGE_SIZE)

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
        path = provider.build_path(_EVENT, id=check_id("event_id", event_id))
        params = {}
        if privacy_code is not None:
            params["privacy_code"] = provider.check_text("privacy_code", privacy_code)
        return await self._call("GET", path, Event, root="event", params=params)

    @provider.request_method(EventCreate)
    async def create_event(self, request: EventCreate) -> Event:
        """Create an event and return it in full.

        The keywords are :class:`EventCreate`'s: ``name`` and ``start_date`` are
        required; the other fields (:class:`EventFields`) are sent only when given.
        Everything is validated before sending (:class:`common.InvalidRequestError`
        naming the field). Not retried once the request may have reached the server.

        Example::

            event = await rw.create_event(
                name="Saturday ride", start_date=date(2026, 5, 2), start_time="08:00",
                time_zone="Europe/Paris", route_ids=[123],
            )
        """
        body = {"event": CONVERTER.unstructure(request)}
        return await self._call("POST", _EVENTS, Event, root="event", json=body)

    @provider.request_method(EventUpdate)
    async def update_event(self, request: EventUpdate) -> Event:
        """Change the given fields (``PUT``, partial) and return the full event.

        Called as ``update_event(event_id, **fields)`` with the fields of
        :class:`EventFields`; only those given are sent, and at least one is needed.
        ``description=None`` or ``time_zone=None`` sends JSON null, clearing the
        value. Not retried once the request may have reached the server. ``PUT`` is
        the API description's method (and the live API's); a server that refuses it
        with 405 (nothing changed) is sent the same body as ``PATCH``, the prose
        docs' method.

        Example::

            event = await rw.update_event(1234, name="Sunday ride", description=None)
        """
        path = provider.build_path(_EVENT, id=request.event_id)
        fields = CONVERTER.unstructure(request)
        if not fields:
            raise common.InvalidRequestError("update_event: no field to change was given")
        body = {"event": fields}
        call = self._one_call()  # one deadline for both requests
        try:
            return await call._call("PUT", path, Event, root="event", json=body)
        except common.APIStatusError as refused:
            if refused.status_code != 405:
                raise
            sent = refused.attempts
        try:
            return await call._call("PATCH", path, Event, root="event", json=body)
        except common.APIError as error:
            error.attempts += sent  # the PUT's count too: every request this call sent
            raise

    async def delete_event(self, event_id: int) -> None:
        """Delete an event (the API answers 204 No Content). Not retried once sent.

        Example::

            await rw.delete_event(1234)
        """
        path = provider.build_path(_EVENT, id=check_id("event_id", event_id))
        await self._send("DELETE", path)
