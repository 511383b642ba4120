"""The Intervals client: one thin method per operation on top of :class:`provider.BaseClient`.

Validation happens before anything is sent (write bodies are the request classes
of :mod:`._models`); the transport does auth, retries, rate limiting and timeouts;
the package's decoder turns bodies into models. Every listing is a
:func:`provider.paginate` over one ``fetch`` (the cursor ``hasMore``/``after``, and
for ``iter_events`` date windows split as a strategy on top), and every request goes
through :meth:`BaseClient._call <common.provider.BaseClient._call>` with the scope each
needs; :meth:`IntervalsClient._explain` adds the scope hint to a 403 and the idempotency
hint to a 409.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

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
    EventCreated,
    EventDetail,
    EventList,
    EventType,
    Group,
    GroupList,
    Organization,
    ParticipantRegistered,
    Recurrence,
    RecurrenceList,
    RecurrenceStatus,
    Registration,
    RegistrationCreate,
    RegistrationList,
    Series,
    SeriesList,
)

__all__ = ["DEFAULT_API_VERSION", "DEFAULT_BASE_URL", "IntervalsClient"]

DEFAULT_BASE_URL = "https://api.intervals.run"
#: The ``Intervals-Version`` this client was written and tested against.
DEFAULT_API_VERSION = "2026-03-01"
#: The API's largest page, sent when the caller gives no ``limit`` (the server's default is 50).
MAX_LIMIT = 100
#: Date windows in a row that may bring no new event before ``iter_events`` gives up: a
#: sub-window legitimately re-reads what its parent brought (at most two in a row seen
#: against the fake, 300 to 2,500 events, an overfull day included); a server that
#: ignores ``dateFrom``/``dateTo`` brings nothing new from its second answer on.
WINDOW_PATIENCE = 4

_Item = TypeVar("_Item", bound="_Identified")
_T = TypeVar("_T")
#: A date window of ``GET /events``, inclusive; None is an open end.
Window = tuple[dt.date | None, dt.date | None]


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


class _Listing(Protocol[_Item]):
    @property
    def data(self) -> list[_Item]: ...

    @property
    def has_more(self) -> bool | None: ...


# --- pure helpers -------------------------------------------------------------------------


def retry_after_from_body(data: Any, now: float) -> float | None:
    """Seconds to wait, from a 429 body's ``error.retryAfter`` (epoch milliseconds).

    ``now`` is the current time in epoch seconds. Never negative; None when the
    body names no usable wait. Never raises.
    """
    error = data.get("error") if isinstance(data, Mapping) else None
    value = error.get("retryAfter") if isinstance(error, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = value / 1000 - now
    except OverflowError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def parse_error(body: bytes) -> provider.ErrorDetails:
    """An Intervals error body: ``{"error": {"code", "message", "errors": {field: [...]}}}``.

    Anything else is read by the generic parser. Never raises.
    """
    details = provider.parse_error_body(body)
    error = details.data.get("error") if isinstance(details.data, Mapping) else None
    if not isinstance(error, Mapping):
        return details
    return provider.ErrorDetails(
        message=provider.error_text(error.get("message")) or details.message,
        code=provider.error_text(error.get("code")) or details.code,
        field_errors=provider.error_fields(error.get("errors")) or details.field_errors,
        data=details.data,
    )


def split_window(lo: dt.date | None, hi: dt.date | None, dates: list[dt.date]) -> Window | None:
    """Where to split a window that returned a full page: the dates' median, clamped.

    Returns ``m`` such that ``[lo, m]`` and ``[m + 1, hi]`` are both strictly
    smaller than ``[lo, hi]`` (either bound may be open, None), as ``(m, m + 1)``;
    None when the window is a single day (an open end counts as the first or last
    representable day) or no date is known, and it cannot be split.
    """
    first, last = lo or dt.date.min, hi or dt.date.max
    if not dates or first >= last:
        return None
    ordered = sorted(dates)
    middle = min(max(ordered[(len(ordered) - 1) // 2], first), last - dt.timedelta(days=1))
    return middle, middle + dt.timedelta(days=1)


def _within_window(
    events: Sequence[Event], lo: dt.date | None, hi: dt.date | None
) -> tuple[Sequence[Event], int]:
    """The events dated within ``lo``..``hi`` (an undated or unparsed date is kept: it
    cannot be placed), and how many were left out."""
    if lo is None and hi is None:
        return events, 0
    inside = [
        e
        for e in events
        if not isinstance(e.date, dt.date)
        or ((lo is None or e.date >= lo) and (hi is None or e.date <= hi))
    ]
    return inside, len(events) - len(inside)


def _of_series(
    events: Sequence[Event], series_id: str | None
) -> tuple[Sequence[Event], str | None]:
    """The events of ``series_id`` (all when None), and a warning when the server may have
    ignored the filter: the current reference lists no ``seriesId`` (the seed description
    does), so events of another series are left out and events that name none are kept,
    said to be unsure."""
    if series_id is None:
        return events, None
    kept = [e for e in events if e.series_id in (None, series_id)]
    unnamed = sum(e.series_id is None for e in kept)
    if unnamed == 0 and len(kept) == len(events):
        return events, None
    parts = []
    if len(kept) < len(events):
        parts.append(f"{len(events) - len(kept)} event(s) of another series were left out")
    if unnamed:
        parts.append(
            f"{unnamed} event(s) name no series and may be of another one (the current"
            " API reference has no seriesId filter: the server may ignore it)"
        )
    return kept, f"GET /events with seriesId={series_id!r:.40}: " + "; ".join(parts)


def _describe_window(lo: dt.date | None, hi: dt.date | None) -> str:
    return f"dateFrom={lo or '(open)'} dateTo={hi or '(open)'}"


@attrs.frozen
class _WindowCursor:
    """Where :meth:`IntervalsClient.iter_events` stands: the windows still to ask for
    (a stack, the current one last) and the server's cursor within the current one."""

    windows: tuple[Window, ...]
    after: str | None = None

    def describe(self) -> str:
        where = _describe_window(*self.windows[-1])
        return where if self.after is None else f"{where} after={self.after}"


def _id(item: _Identified) -> str:
    return item.id


def _after(after: str | None) -> str | None:
    return None if after is None else f"after={after}"


# --- listing arguments ---------------------------------------------------------------


def _limit(limit: int | None) -> int:
    return MAX_LIMIT if limit is None else provider.check_int("limit", limit, 1, MAX_LIMIT)


def _bound(field: str, value: dt.date | str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(provider.check_date(field, value))


def _event_filters(
    type: EventType | str | None,
    series_id: str | None,
    date_from: dt.date | str | None,
    date_to: dt.date | str | None,
) -> tuple[dict[str, str], dt.date | None, dt.date | None]:
    """The type/series query parameters and the parsed date bounds, validated."""
    params: dict[str, str] = {}
    if type is not None:
        params["type"] = provider.check_enum("type", type, EventType)
    if series_id is not None:
        params["seriesId"] = provider.check_text("series_id", series_id)
    lo, hi = _bound("date_from", date_from), _bound("date_to", date_to)
    if lo is not None and hi is not None and lo > hi:
        raise common.InvalidRequestError(
            f"date_from ({lo}) is after date_to ({hi})", field="date_from"
        )
    return params, lo, hi


def _cursor_params(after: str | None, before: str | None) -> dict[str, str]:
    """``after`` / ``before`` (an object's ``_id``, exclusive); the API takes one, never both."""
    if after is not None and before is not None:
        raise common.InvalidRequestError(
            "after and before are exclusive: page forwards or backwards, not both", field="after"
        )
    params = {}
    if after is not None:
        params["after"] = provider.check_text("after", after)
    if before is not None:
        params["before"] = provider.check_text("before", before)
    return params


def _status_params(status: RecurrenceStatus | str | None) -> dict[str, str]:
    if status is None:
        return {}
    return {"status": provider.check_enum("status", status, RecurrenceStatus)}


def _date_params(lo: dt.date | None, hi: dt.date | None) -> dict[str, str]:
    params = {}
    if lo is not None:
        params["dateFrom"] = lo.isoformat()
    if hi is not None:
        params["dateTo"] = hi.isoformat()
    return params


def _window_query(
    filters: Mapping[str, str], lo: dt.date | None, hi: dt.date | None
) -> dict[str, str]:
    """The ``GET /events`` query of one date window, asking for a full page."""
    return {**filters, **_date_params(lo, hi), "limit": str(MAX_LIMIT)}


# --- the client ---------------------------------------------------------------------------


class IntervalsClient(provider.BaseClient):
    """Async client of the Intervals API (https://api.intervals.run).

    ::

        async with IntervalsClient(api_key="...") as client:
            org = await client.get_organization()
            async for event in client.iter_events(date_from=date(2026, 1, 1)):
                print(event.name, event.date)

    Args:
        api_key: the organization's API key; defaults to ``$INTERVALS_API_KEY``.
            Missing or empty raises :class:`common.InvalidRequestError`.
        base_url: the API's root (https; plain http only for loopback hosts).
        session: a caller-owned ``aiohttp.ClientSession``, never closed by the client.
        sender: instead of a session, another :class:`common.provider.Sender` (tests:
            :class:`common.testing.MemorySender`, answers from a function, on a virtual
            clock with :func:`common.testing.run_virtual`).
        api_version: sent as ``Intervals-Version`` to pin the API's behaviour; None
            sends no header (the server's latest stable version answers).
        **options: :class:`common.Options`, with defaults: ``timeout=30.0`` (seconds
            per attempt), ``deadline=120.0`` (seconds for a whole call, waits
            included), ``max_retries=2``, ``max_retry_wait=60.0``, ``retry_policy``,
            ``rate_limit=None`` (requests per second; None learns the pace from 429s,
            including the wait named in the body's ``retryAfter``), ``rate_burst=1``,
            ``rate_store=None`` (a Redis URL or :class:`common.RedisRateStore` sharing
            the budget), ``rate_key=None``, ``max_concurrency=100``,
            ``max_response_bytes``, ``trace_configs``.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        api_version: str | None = DEFAULT_API_VERSION,
        sender: provider.Sender | None = None,
        **options: Unpack[common.ClientOptions],
    ) -> None:
        if api_key is None:
            api_key = os.environ.get("INTERVALS_API_KEY")
        if not isinstance(api_key, str) or not api_key.strip():
            raise common.MissingCredentialsError(
                "an API key is required: pass api_key= or set INTERVALS_API_KEY", field="api_key"
            )
        headers = {}
        if api_version is not None:
            headers["Intervals-Version"] = provider.check_text("api_version", api_version)
        super().__init__(
            base_url=base_url,
            auth=provider.BearerAuth(api_key.strip()),
            decoder=DECODER,
            provider="intervals",
            session=session,
            sender=sender,
            headers=headers,
            body_wait=retry_after_from_body,
            parse_error=parse_error,
            **options,
        )

    # --- the one request path and the one listing path ----------------------------------

    def _explain(
        self, error: common.APIStatusError, scope: str | None, request: provider.RequestArgs
    ) -> None:
        """A hint on a 403 (the scope needed) and a 409 (the key reused); the server's own
        ``message`` is kept as it was sent."""
        if isinstance(error, common.PermissionDeniedError) and scope is not None:
            error.hint = f"this call needs the {scope!r} scope; check the API key's scopes"
        key = request.get("idempotency_key")
        if isinstance(error, common.ConflictError) and key is not None:
            error.hint = (
                f"the Idempotency-Key {key!r} was already used with a different"
                " request body; use a new key for a different request"
            )

    def _pages(
        self,
        scope: str,
        path: str,
        envelope: type[_Listing[_Item]],
        params: Mapping[str, str],
        limit: int | None,
        *,
        follow_cursor: bool = True,
        hint: str = "",
    ) -> AsyncGenerator[_Item, None]:
        """One listing: ``limit`` (None: the maximum), the cursor when the server sends
        ``hasMore`` (only when ``limit`` is None and ``follow_cursor``: ``after`` = the last
        item's ``_id``), and the truncation warning when a full page may not be all."""
        page_size = _limit(limit)
        query = {**params, "limit": str(page_size)}
        follow = limit is None and follow_cursor

        async def fetch(after: str | None) -> provider.Chunk[_Item, str | None]:
            params = query if after is None else {**query, "after": after}
            page = await self._call("GET", path, envelope, scope=scope, params=params)
            if follow and page.has_more and page.data:
                return provider.Chunk(page.data, page.data[-1].id)
            if page.has_more and not page.data:  # nothing to take the next cursor from
                return provider.Chunk(
                    [], warning=f"GET {path} said hasMore but sent no items: the listing stops"
                )
            # At most the limit asked for (a server may send more); without one, all it sent.
            data = page.data if limit is None else page.data[:limit]
            more = page.has_more if page.has_more is not None else len(data) >= page_size
            warning = None
            if page_size == MAX_LIMIT and more:
                warning = (
                    f"GET {path} returned {len(page.data)} items and says there are more"
                    f" (asked for {MAX_LIMIT}, the API's maximum): the listing may be cut"
                    f" short{hint}"
                    if page.has_more
                    else f"GET {path} returned {MAX_LIMIT} items, the API's maximum: the"
                    f" listing may be cut short{hint}"
                )
            return provider.Chunk(data, warning=warning)

        return provider.paginate(fetch, None, key=_id, where=_after, what=f"GET {path}", patience=1)

    async def _list(
        self,
        scope: str,
        path: str,
        envelope: type[_Listing[_Item]],
        params: Mapping[str, str],
        limit: int | None,
        *,
        follow_cursor: bool = True,
        hint: str = "",
    ) -> list[_Item]:
        """:meth:`_pages`, collected: every page within the one call's deadline."""
        pages = self._one_call()._pages(
            scope, path, envelope, params, limit, follow_cursor=follow_cursor, hint=hint
        )
        return [item async for item in pages]

    # --- operations ---------------------------------------------------------------------

    async def get_organization(self) -> Organization:
        """The organization the API key belongs to; a cheap way to check the key (the
        current reference lists the ``read:series`` scope for it).

        ::

            org = await client.get_organization()
            print(org.name, org.plan)
        """
        return await self._call(
            "GET", "/organization", Organization, scope="read:series", root="data"
        )

    async def list_series(self, slug: str | None = None, limit: int | None = None) -> list[Series]:
        """The organization's series (needs the ``read:series`` scope).

        ``slug`` filters to one series. ``limit=None`` asks for the API's maximum
        (100) and, when the server paginates by cursor, follows it to the end;
        otherwise a full page warns with :class:`common.TruncationWarning`.

        ::

            (club,) = await client.list_series(slug="tuesday-track-club")
            print(club.timezone, club.schedule.start_time)
        """
        params = {} if slug is None else {"slug": provider.check_text("slug", slug)}
        return await self._list("read:series", "/series", SeriesList, params, limit)

    async def list_events(
        self,
        limit: int | None = None,
        type: EventType | str | None = None,
        series_id: str | None = None,
        date_from: dt.date | str | None = None,
        date_to: dt.date | str | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> list[Event]:
        """One request's worth of events (at most 100), filtered (``read:events`` scope).

        Dates are inclusive. ``after`` / ``before`` are an event's id, the cursor of
        the API's pagination (exclusive; one or the other): the page after (or
        before) that event. A full page warns with :class:`common.TruncationWarning`:
        use :meth:`iter_events` to get every event.

        ::

            races = await client.list_events(type=EventType.RACE, date_from=date(2026, 5, 1))
            more = await client.list_events(type=EventType.RACE, after=races[-1].id)
        """
        params, lo, hi = _event_filters(type, series_id, date_from, date_to)
        params.update(_date_params(lo, hi))
        params.update(_cursor_params(after, before))
        events = await self._list(
            "read:events",
            "/events",
            EventList,
            params,
            limit,
            follow_cursor=False,
            hint="; use iter_events() to get every event",
        )
        kept, unsure = _of_series(events, params.get("seriesId"))
        if unsure is not None:
            provider.warn(unsure, common.TruncationWarning)
        return list(kept)

    def iter_events(
        self,
        type: EventType | str | None = None,
        series_id: str | None = None,
        date_from: dt.date | str | None = None,
        date_to: dt.date | str | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Every matching event, past the API's 100-item cap, each once, roughly by date.

        Follows the cursor (``hasMore``/``after``) when the server sends one;
        otherwise splits a date window that returns a full page at the median of
        its dates and asks for each half, until no window is full. A single day
        that alone fills a page is yielded as far as the API allows, with a
        :class:`common.TruncationWarning` naming the day. Events stream out as
        each window completes. Arguments are validated at once, before the first
        request; a request that finally fails names where to resume
        (``exc.resume_page``).

        ::

            async for event in client.iter_events(date_from=date(2026, 1, 1)):
                print(event.date, event.name)
        """
        params, lo, hi = _event_filters(type, series_id, date_from, date_to)
        return self._iter_windows(params, lo, hi)

    async def _iter_windows(
        self, filters: dict[str, str], lo: dt.date | None, hi: dt.date | None
    ) -> AsyncGenerator[Event, None]:
        said: set[str] = set()  # what was warned about once in this listing

        async def fetch(cursor: _WindowCursor) -> provider.Chunk[Event, _WindowCursor]:
            *rest, (lo, hi) = cursor.windows
            query = _window_query(filters, lo, hi)
            if cursor.after is not None:
                query["after"] = cursor.after
            page = await self._call("GET", "/events", EventList, scope="read:events", params=query)
            items, outside = _within_window(page.data, lo, hi)
            left_out = (
                f"GET /events sent {outside} event(s) dated outside {_describe_window(lo, hi)}"
                " (the server ignores the dates?): left out"
                if outside
                else None
            )
            items, unsure = _of_series(items, filters.get("seriesId"))
            if unsure is not None and "series" not in said:  # once per listing
                said.add("series")
                left_out = f"{left_out}; {unsure}" if left_out else unsure
            passed: list[Event] = []  # what the filters left out: progress too
            if len(items) < len(page.data):
                kept = {id(event) for event in items}
                passed = [event for event in page.data if id(event) not in kept]
            if page.has_more and page.data:  # the server's cursor, within this window
                within = _WindowCursor(cursor.windows, page.data[-1].id)
                return provider.Chunk(items, within, left_out, filtered=passed)
            warning = None
            if page.has_more and not page.data:  # nothing to take the next cursor from
                warning = (
                    f"GET /events said hasMore but sent no items for {cursor.describe()}:"
                    " the rest of this window cannot be had"
                )
            elif page.has_more is None and len(page.data) >= MAX_LIMIT:  # no cursor: split
                dates = [e.date for e in page.data if isinstance(e.date, dt.date)]
                inside = [d for d in dates if (lo or d) <= d <= (hi or d)]
                # none inside: the server ignores dateFrom/dateTo, and splitting on would walk
                # the calendar a day at a time (millions of requests if its ids never repeat)
                split = split_window(lo, hi, dates) if inside else None
                if split is not None:  # the earlier half on top of the stack
                    rest += [(split[1], hi), (lo, split[0])]
                elif dates and not inside:
                    warning = (
                        f"GET /events returned {MAX_LIMIT} events for"
                        f" {_describe_window(lo, hi)}, none of them in that window: the"
                        " server ignores the dates, so the window is not split further and"
                        " some of its events may be missing"
                    )
                else:
                    warning = (
                        f"GET /events returned {MAX_LIMIT} events for"
                        f" {_describe_window(lo, hi)}, the API's maximum, and the window"
                        " cannot be split further (a single day): some of its events may be"
                        " missing"
                    )
            following = _WindowCursor(tuple(rest)) if rest else None
            whole = not page.has_more and len(page.data) < MAX_LIMIT  # this window, all of it
            return provider.Chunk(items, following, warning or left_out, whole, passed)

        events = provider.paginate(
            fetch,
            _WindowCursor(((lo, hi),)),
            key=_id,
            where=_WindowCursor.describe,
            what="GET /events",
            patience=WINDOW_PATIENCE,
        )
        async for event in events:
            yield event

    async def get_event(self, event_id: str) -> EventDetail:
        """One event with its runs (``read:events`` scope).

        ::

            detail = await client.get_event(event_id)
            print(detail.event.name, [run.distance_label for run in detail.runs])
        """
        path = provider.build_path("/events/{id}", id=event_id)
        return await self._call("GET", path, EventDetail, scope="read:events", root="data")

    @provider.request_method(EventCreate)
    async def create_event(self, request: EventCreate) -> str:
        """Create an event and return its id (``write:events`` scope).

        The keywords are :class:`EventCreate`'s: ``name``, ``slug`` (unique in the
        organization), ``type`` and ``date`` are required; times are ``HH:MM`` or
        ``HH:MM:SS`` (or ``datetime.time``). The request carries an
        ``Idempotency-Key`` (a new UUID unless ``idempotency_key`` is given) that is
        reused on every retry, so a retried create never makes two events. A
        409 (:class:`common.ConflictError`) means the key was already used with
        a different body.

        ::

            event_id = await client.create_event(
                name="Harbour 10K", slug="harbour-10k-2026", type=EventType.RACE,
                date=date(2026, 6, 7), start_time="09:00",
                address=Address(address_locality="Dublin", address_country="IE"),
            )
        """
        created = await self._call(
            "POST",
            "/events",
            EventCreated,
            scope="write:events",
            root="data",
            json=CONVERTER.unstructure(request),
            idempotency_key=request.idempotency_key or str(uuid.uuid4()),
        )
        return created.event_id

    async def list_registrations(
        self,
        event_id: str,
        limit: int | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> list[Registration]:
        """The registrations of an event (``read:participants`` scope).

        ``limit=None`` asks for the maximum (100) and follows the server's cursor
        when it sends one; otherwise a full page warns with
        :class:`common.TruncationWarning`. ``after`` / ``before``: a registration's id,
        the API's cursor (exclusive; one or the other; ``before`` reads one page back).

        ::

            for registration in await client.list_registrations(event_id):
                print(registration.email, registration.registration_status)
        """
        params = {"eventId": provider.check_text("event_id", event_id)}
        params.update(_cursor_params(after, before))
        return await self._list(
            "read:participants",
            "/registration",
            RegistrationList,
            params,
            limit,
            follow_cursor=before is None,
        )

    async def list_recurrences(
        self,
        status: RecurrenceStatus | str | None = None,
        limit: int | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> list[Recurrence]:
        """One request's worth of recurrences (how events repeat; ``read:recurrences``
        scope), filtered by ``status``; ``after`` / ``before`` as in :meth:`list_events`.

        A full page warns with :class:`common.TruncationWarning`: use
        :meth:`iter_recurrences` to get every one.

        ::

            for rec in await client.list_recurrences(status=RecurrenceStatus.ACTIVE):
                print(rec.event_id, rec.schedule.days_of_week, rec.schedule.start_time)
        """
        return await self._list(
            "read:recurrences",
            "/recurrences",
            RecurrenceList,
            {**_status_params(status), **_cursor_params(after, before)},
            limit,
            follow_cursor=False,
            hint="; use iter_recurrences() to get every recurrence",
        )

    def iter_recurrences(
        self, status: RecurrenceStatus | str | None = None
    ) -> AsyncGenerator[Recurrence, None]:
        """Every recurrence (filtered by ``status``), following ``hasMore`` with ``after``.

        A server that sends no ``hasMore`` (the seed description's) gives one page;
        a full one warns with :class:`common.TruncationWarning`. Arguments are
        validated at once.

        ::

            async for rec in client.iter_recurrences(status="active"):
                print(rec.label)
        """
        params = _status_params(status)
        return self._pages("read:recurrences", "/recurrences", RecurrenceList, params, None)

    async def list_groups(
        self, limit: int | None = None, after: str | None = None, before: str | None = None
    ) -> list[Group]:
        """The organization's groups (``read:groups`` scope).

        ``limit=None`` asks for the maximum (100) and follows the server's cursor;
        otherwise a full page warns with :class:`common.TruncationWarning`. ``after`` /
        ``before``: a group's id (exclusive; one or the other; ``before`` reads one page).

        ::

            for group in await client.list_groups():
                print(group.slug, group.status)
        """
        params = _cursor_params(after, before)
        return await self._list(
            "read:groups", "/groups", GroupList, params, limit, follow_cursor=before is None
        )

    async def get_group(self, slug: str) -> Group:
        """One group by its slug (``read:groups`` scope); an unknown slug is a
        :class:`common.NotFoundError`.

        ::

            group = await client.get_group("dawn-patrol")
        """
        path = provider.build_path("/groups/{slug}", slug=slug)
        return await self._call("GET", path, Group, scope="read:groups", root="data")

    async def list_group_events(
        self,
        slug: str,
        limit: int | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> list[Event]:
        """One request's worth of the events of a group (``read:groups`` scope);
        ``after`` / ``before`` as in :meth:`list_events`.

        A full page warns with :class:`common.TruncationWarning`: use
        :meth:`iter_group_events` to get every event.

        ::

            events = await client.list_group_events("dawn-patrol", limit=20)
        """
        path = provider.build_path("/groups/{slug}/events", slug=slug)
        return await self._list(
            "read:groups",
            path,
            EventList,
            _cursor_params(after, before),
            limit,
            follow_cursor=False,
            hint="; use iter_group_events() to get every event",
        )

    def iter_group_events(self, slug: str) -> AsyncGenerator[Event, None]:
        """Every event of a group, following ``hasMore`` with ``after``.

        A server that sends no ``hasMore`` gives one page; a full one warns with
        :class:`common.TruncationWarning`. The slug is validated at once.

        ::

            async for event in client.iter_group_events("dawn-patrol"):
                print(event.date, event.name)
        """
        path = provider.build_path("/groups/{slug}/events", slug=slug)
        return self._pages("read:groups", path, EventList, {}, None)

    @provider.request_method(RegistrationCreate)
    async def register_participant(self, request: RegistrationCreate) -> str:
        """Register a participant for a run of an event; returns the participant id
        (``write:participants`` scope).

        The keywords are :class:`RegistrationCreate`'s: ``event_run_id``, ``email``
        and ``registration_type`` are required; ``status`` is sent as confirmed
        unless given (today's reference marks it required).

        Registrations are idempotent by default: the request carries an
        ``Idempotency-Key`` (a new UUID per call unless ``idempotency_key`` is
        given), the same on every retry, and the server de-duplicates by it, so a
        registration is retried like :meth:`create_event` (after a 5xx such as 503,
        a timeout, a dropped connection) and never made twice. A 409
        (:class:`common.ConflictError`) means the key was already used with a
        different body; it is never retried. ``retry_if_maybe_sent=False`` opts out
        (for a server that does not de-duplicate): the failure is raised as soon as
        the request may have reached the server.

        ::

            participant_id = await client.register_participant(
                event_run_id=run.id, email="ada@example.com",
                registration_type=RegistrationType.FREE, name="Ada Okafor",
            )
        """
        registered = await self._call(
            "POST",
            "/registration",
            ParticipantRegistered,
            scope="write:participants",
            root="data",
            json=CONVERTER.unstructure(request),
            idempotency_key=request.idempotency_key or str(uuid.uuid4()),
            allow_write_retries=request.retry_if_maybe_sent,
        )
        return registered.participant_id
