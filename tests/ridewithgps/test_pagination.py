"""list_events and iter_events: page numbers, stop rules, next_page_url distrust, duplicates."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import msgspec
import pytest
from aiohttp import web

import common
from common.testing import FakeServer, Fault
from ridewithgps_async import EventSummary, RideWithGPSClient, Visibility
from ridewithgps_async._client import next_page
from ridewithgps_async._models import Pagination
from ridewithgps_async.testing import FakeRideWithGPS

from .conftest import make_client

pytestmark = pytest.mark.anyio

LISTED = 49  # the fake's 45 seeded events + 4 of others the user takes part in


def pages_asked(fake: FakeRideWithGPS) -> list[dict[str, str]]:
    return [r.query for r in fake.requests if r.path == "/api/v1/events.json"]


async def collect(rw: RideWithGPSClient, **kwargs: Any) -> list[EventSummary]:
    return [event async for event in rw.iter_events(**kwargs)]


def listing(count: int, first_id: int = 1, meta: Any = None) -> bytes:
    body: dict[str, Any] = {"events": [{"id": first_id + n, "name": f"E{n}"} for n in range(count)]}
    if meta is not None:
        body["meta"] = meta
    return msgspec.json.encode(body)


# --- list_events --------------------------------------------------------------------------


async def test_list_events_first_page(client: RideWithGPSClient, fake: FakeRideWithGPS) -> None:
    page = await client.list_events()
    assert isinstance(page, common.Page)
    assert len(page.items) == 20
    assert all(isinstance(e, EventSummary) for e in page.items)
    assert (page.total, page.next_page) == (LISTED, 2)
    assert fake.requests[0].query == {}  # the server's defaults


async def test_list_events_last_and_past_the_end(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    last = await client.list_events(page=3, page_size=20)
    assert (len(last.items), last.next_page) == (LISTED - 40, None)
    assert fake.requests[-1].query == {"page": "3", "page_size": "20"}
    beyond = await client.list_events(page=2, page_size=200)
    assert (beyond.items, beyond.total, beyond.next_page) == ([], LISTED, None)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": True}, "page"),
        ({"page": "2"}, "page"),
        ({"page_size": 19}, "page_size"),
        ({"page_size": 201}, "page_size"),
        ({"page_size": 50.0}, "page_size"),
    ],
)
async def test_list_events_validation(
    client: RideWithGPSClient, fake: FakeRideWithGPS, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(common.InvalidRequestError) as caught:
        await client.list_events(**kwargs)
    assert caught.value.field == field
    if "page_size" in kwargs:
        with pytest.raises(common.InvalidRequestError):
            client.iter_events(page_size=kwargs["page_size"])  # refused at the call
    assert fake.requests == []


async def test_list_events_without_meta(client: RideWithGPSClient, fake: FakeRideWithGPS) -> None:
    fake.inject(Fault.raw(listing(20)), Fault.raw(listing(5)))
    full = await client.list_events()
    assert (full.total, full.next_page) == (None, 2)  # a full page: maybe more
    short = await client.list_events(page=2)
    assert (short.total, short.next_page) == (None, None)


def test_next_page_rules() -> None:
    more = Pagination(record_count=60, page_count=3, next_page_url="u")
    assert next_page(1, 20, 20, more) == 2
    assert next_page(3, 20, 20, more) is None  # reached page_count
    assert next_page(1, 0, 20, more) is None  # empty page
    # the page count, which the description requires, decides over a null next_page_url
    assert next_page(1, 20, 20, Pagination(page_count=3, next_page_url=None)) == 2
    assert next_page(1, 20, 20, Pagination(record_count=60, next_page_url=None)) is None
    assert next_page(1, 20, 20, Pagination(next_page_url="u")) == 2  # no page_count
    assert next_page(1, 20, 20, None) == 2
    assert next_page(1, 19, 20, None) is None
    # No meta, 50 asked for and 20 sent: maybe the server's own page size (the older docs
    # name no page_size), not the last page (it said None: every later page was lost).
    assert next_page(1, 20, 50, None) == 2
    assert next_page(1, 19, 50, None) is None


# --- iter_events --------------------------------------------------------------------------


async def test_iter_events_every_event_once(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    events = await collect(client, page_size=20)
    assert len(events) == LISTED
    assert [e.id for e in events] == fake.db.listed
    assert [q["page"] for q in pages_asked(fake)] == ["1", "2", "3"]


async def test_iter_events_asks_for_the_largest_page_unless_told(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    # Every event in the fewest requests: the server's own default page is 20 (an audit
    # counted 23 requests for 454 events; 3 at 200 each).
    events = await collect(client)
    assert len(events) == LISTED
    assert pages_asked(fake) == [{"page": "1", "page_size": "200"}]
    assert (await client.list_events()).next_page == 2  # one page: the server's default


async def test_next_page_url_on_another_host_is_never_requested() -> None:
    async with FakeServer() as elsewhere, FakeRideWithGPS(next_page_host=elsewhere.url) as fake:
        async with make_client(fake) as rw:
            first = await rw.list_events()
            assert first.next_page == 2
            events = await collect(rw)
        assert len(events) == LISTED
        assert elsewhere.requests == []  # no request, so no credentials, went there
        assert all(r.path == "/api/v1/events.json" for r in fake.requests)


async def test_malformed_next_page_url_is_only_a_hint() -> None:
    async with FakeRideWithGPS(malformed_next_page_url=True) as fake, make_client(fake) as rw:
        events = await collect(rw, page_size=20)
    assert len(events) == LISTED
    assert [q["page"] for q in pages_asked(fake)] == ["1", "2", "3"]
    assert all(q["page_size"] == "20" for q in pages_asked(fake))


async def test_next_page_url_on_the_last_page_stops_at_page_count() -> None:
    async with FakeRideWithGPS(next_page_url_on_last_page=True) as fake, make_client(fake) as rw:
        events = await collect(rw, page_size=20)
    assert len(events) == LISTED
    assert len(pages_asked(fake)) == 3


async def test_an_empty_page_stops(client: RideWithGPSClient, fake: FakeRideWithGPS) -> None:
    meta = {"pagination": {"record_count": 99, "page_count": 5, "next_page_url": "x"}}
    fake.inject(Fault.raw(listing(20, meta=meta)), Fault.raw(listing(0, meta=meta)))
    with pytest.warns(common.TruncationWarning, match="20 of the 99 events its record_count"):
        events = await collect(client)
    assert len(events) == 20
    assert len(fake.requests) == 2


async def test_pages_without_a_record_count_are_read_to_the_end(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    # A listing whose meta names no record_count (or no meta at all): every page is read to
    # the last one, and nothing is warned about (no count to fall short of, none to fall).
    more = {"pagination": {"next_page_url": "x"}}
    fake.inject(
        Fault.raw(listing(20, first_id=1, meta=more)),
        Fault.raw(listing(20, first_id=21)),
        Fault.raw(listing(5, first_id=41, meta={"pagination": {"next_page_url": None}})),
    )
    events = await collect(client, page_size=20)  # a warning would fail the test
    assert [e.id for e in events] == list(range(1, 46))
    assert len(fake.requests) == 3


@pytest.mark.parametrize("since", [None, "2020-01-01T00:00:00+00:00"])
async def test_an_event_deleted_while_paging_is_warned_about(
    client: RideWithGPSClient, fake: FakeRideWithGPS, since: str | None
) -> None:
    # Event 5 is deleted once page 1 is read: event 21 moves onto page 1, never read, and
    # no event comes twice. record_count fell (60 to 59), but nothing said so: 59 events
    # of 59 "received", no warning, event 21 missing.
    def meta(count: int) -> dict[str, Any]:
        return {"pagination": {"record_count": count, "page_count": 3, "next_page_url": "x"}}

    fake.inject(
        Fault.raw(listing(20, first_id=1, meta=meta(60))),
        Fault.raw(listing(20, first_id=22, meta=meta(59))),
        Fault.raw(listing(19, first_id=42, meta=meta(59))),
    )
    kwargs = {} if since is None else {"updated_since": dt.datetime.fromisoformat(since)}
    with pytest.warns(common.TruncationWarning, match="fell from 60 to 59 at page 2"):
        events = await collect(client, page_size=20, **kwargs)
    assert 21 not in {e.id for e in events}  # what the warning is about
    assert len(events) == 59


async def test_a_page_of_repeated_ids_warns_and_stops() -> None:
    async with FakeRideWithGPS(repeat_page=2) as fake, make_client(fake) as rw:
        with pytest.warns(common.TruncationWarning, match="page 2"):
            events = await collect(rw, page_size=20)
    assert len(events) == 20
    assert len({e.id for e in events}) == 20
    assert len(pages_asked(fake)) == 2  # never loops


async def test_ids_seen_on_an_earlier_page_are_skipped(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    events: list[EventSummary] = []

    async def read() -> None:
        async for event in client.iter_events(page_size=20):
            events.append(event)
            if len(events) == 20:
                # an update moves an event of page 2 to the top: page 2 now starts with
                # the last event of page 1, which must not come twice
                await client.update_event(fake.db.listed[25], name="Moved")

    with pytest.warns(common.TruncationWarning, match="page 2 brought again an item"):
        await read()
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)) == LISTED - 1  # the moved event went past us: said


async def test_a_failing_page_names_where_to_resume(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    seen = 0

    async def consume() -> None:
        nonlocal seen
        async for _ in client.iter_events(page_size=20):
            seen += 1
            if seen == 20:
                fake.inject(*[Fault.http(500)] * 3)

    with pytest.raises(common.ServerError) as caught:
        await consume()
    assert seen == 20
    assert caught.value.resume_page == 2
    assert "resume from page 2" in str(caught.value)
    assert caught.value.attempts == 3


# --- filters ------------------------------------------------------------------------------


async def test_name_and_visibility_filters(
    client: RideWithGPSClient, fake: FakeRideWithGPS
) -> None:
    public = [e async for e in client.iter_events(visibility="public")]
    assert public
    assert {e.visibility for e in public} == {"public"}
    assert all(q["visibility"] == "public" for q in pages_asked(fake))
    word = public[0].name.split()[0]
    page = await client.list_events(name=word, visibility=Visibility.PUBLIC, page_size=50)
    assert page.items
    assert all(word.lower() in e.name.lower() for e in page.items)
    assert fake.requests[-1].query == {"name": word, "visibility": "public", "page_size": "50"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"visibility": "members_only"}, "visibility"),  # an event visibility, not a filter
        ({"visibility": "everyone"}, "visibility"),
        ({"name": ""}, "name"),
        ({"name": 3}, "name"),
    ],
)
async def test_filters_are_checked_before_sending(
    client: RideWithGPSClient, fake: FakeRideWithGPS, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(common.InvalidRequestError) as caught:
        await client.list_events(**kwargs)
    assert caught.value.field == field
    with pytest.raises(common.InvalidRequestError):
        client.iter_events(**kwargs)  # refused at the call, before any request
    assert fake.requests == []


# --- a server that ignores the page number ------------------------------------------------


class PageOne(FakeServer):
    """Answers page 1 whatever page is asked for, always promising another."""

    def __init__(self) -> None:
        super().__init__()
        self.app.router.add_get("/api/v1/events.json", self.events)

    async def events(self, request: web.Request) -> web.Response:
        meta = {"pagination": {"record_count": 10**6, "page_count": 10**5, "next_page_url": "x"}}
        return web.Response(body=listing(20, meta=meta), content_type="application/json")


async def test_a_server_ignoring_the_page_number_is_asked_twice() -> None:
    server = PageOne()
    async with server, RideWithGPSClient(access_token="t", base_url=server.url) as rw:
        with pytest.warns(common.TruncationWarning, match="not making progress"):
            events = await collect(rw)
    assert len(events) == 20
    assert len(server.requests) == 2


class OwnPageSize(FakeServer):
    """The older docs' server: ``page`` only, its own 20 a page, no meta."""

    def __init__(self, events: int) -> None:
        super().__init__()
        self.events = events
        self.app.router.add_get("/api/v1/events.json", self.listing)

    async def listing(self, request: web.Request) -> web.Response:
        first = (int(request.query.get("page", "1")) - 1) * 20 + 1
        count = max(0, min(20, self.events - first + 1))
        return web.Response(body=listing(count, first_id=first), content_type="application/json")


@pytest.mark.parametrize(("events", "requests"), [(45, 3), (40, 3), (5, 2), (0, 1)])
async def test_a_server_keeping_to_its_own_page_size_without_meta_loses_nothing(
    events: int, requests: int
) -> None:
    # The older docs name only ``page``: a server built from them serves its own 20 a page
    # whatever ``page_size`` says, and sends no meta. A first page shorter than asked for
    # (200) is not the last by that alone: 25 of 45 events were lost, silently.
    server = OwnPageSize(events)
    async with server, RideWithGPSClient(access_token="t", base_url=server.url) as rw:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing to warn about: every event came
            got = await collect(rw)
    assert [event.id for event in got] == list(range(1, events + 1))
    # the pages that hold events, and one more only to see that the first was all of it
    assert [r.query["page"] for r in server.requests] == [str(n) for n in range(1, requests + 1)]
