"""The audits of 2026-12-04: hostile input through the public surface (``API.md``'s every
callable and option), each finding reproduced first (each test fails on the code before
its fix). The rule: a clear, typed error (:class:`common.InvalidRequestError` naming the
field), before anything is sent, and no credential shown."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import threading
from typing import Any

import pytest

import common
from common._json import dumps
from common.testing import MemorySender, reply, run_virtual
from intervals_async import IntervalsClient, IntervalsSource
from intervals_async.testing import FakeIntervals
from ridewithgps_async import RideWithGPSClient
from ridewithgps_async._models import EventSummary
from ridewithgps_async.testing import FakeRideWithGPS

pytestmark = pytest.mark.anyio


class _Float(float):
    """What numpy's float64 is to the library: a float subclass."""


class _Int(int):
    pass


class _Text(str):
    def __str__(self) -> str:
        return "not what was checked"


async def test_an_id_too_long_to_write_is_refused_unsent() -> None:
    # str() of an int past 4,300 digits raised a bare ValueError.
    async with (
        FakeIntervals() as server,
        IntervalsClient(api_key="test-key", base_url=server.url) as c,
    ):
        with pytest.raises(common.InvalidRequestError, match="too long to be an id") as refused:
            await c.get_event(10**5000)  # type: ignore[arg-type]
        assert refused.value.field == "id"
        assert server.requests == []


async def test_values_of_a_subclass_are_sent_as_the_plain_values_they_were_checked_as() -> None:
    # numpy.float64 (a float subclass), an int or str subclass passed every field check, then
    # failed the JSON encoding with an error naming no field; nothing was sent.
    async with (
        FakeRideWithGPS() as server,
        RideWithGPSClient(access_token="test-access-token", base_url=server.url) as rw,
    ):
        made = await rw.create_event(
            name=_Text("Gravel loop"),
            start_date=dt.date(2026, 9, 1),
            lat=_Float(45.5),
            lng=_Float(-122.6),
        )
    sent = server.requests[-1].json["event"]
    assert (sent["name"], sent["lat"], sent["lng"]) == ("Gravel loop", 45.5, -122.6)
    assert made.name == "Gravel loop"
    assert server.violations == []  # the body passed the description's check
    # a NaN or a huge integer of a subclass is refused as the plain ones are
    for value in (_Float("nan"), _Int(2**70)):
        with pytest.raises(common.InvalidRequestError, match="cannot be sent as JSON"):
            dumps({"lat": value})


async def test_a_source_s_dates_that_are_no_dates_are_refused_unsent() -> None:
    # IntervalsSource took "2026-01-01", sent the listing, then compared a date with a str:
    # a bare TypeError. merge_events wrapped one such error per source in a MergeError.
    async with (
        FakeIntervals() as server,
        IntervalsClient(api_key="test-key", base_url=server.url) as c,
    ):
        source = IntervalsSource(c)
        with pytest.raises(common.InvalidRequestError) as refused:
            source.iter_events(date_from="2026-01-01")  # type: ignore[arg-type]
        assert refused.value.field == "date_from"
        with pytest.raises(common.InvalidRequestError) as refused:
            async for _ in common.merge_events(source, source, date_from=dt.datetime(2026, 1, 1)):
                pass
        assert refused.value.field == "date_from"
        with pytest.raises(common.InvalidRequestError) as refused:
            source.iter_events(date_from=dt.date(2026, 2, 1), date_to=dt.date(2026, 1, 1))
        assert refused.value.field == "date_to"
        assert server.requests == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"trace_configs": 5}, "trace_configs"),
        ({"trace_configs": ["x"]}, "trace_configs"),
        ({"trace_configs": "abc"}, "trace_configs"),
        ({"session": 5}, "session"),
        ({"session": "http://x"}, "session"),
        ({"retry_policy": None}, None),  # None: the default policy
    ],
)
def test_options_of_the_wrong_kind_are_refused_at_construction(
    options: dict[str, Any], field: str | None
) -> None:
    # A bare TypeError or AttributeError at construction, or at the first call (which also
    # left an unclosed session behind).
    if field is None:
        IntervalsClient(api_key="k", **options)
        return
    with pytest.raises(common.InvalidRequestError) as refused:
        IntervalsClient(api_key="k", **options)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_retries": "2"}, "max_retries"),
        ({"max_retries": 2.5}, "max_retries"),
        ({"max_retries": None}, "max_retries"),
        ({"backoff_base": math.nan}, "backoff_base"),
        ({"backoff_max": math.inf}, "backoff_max"),  # with no deadline: a wait without end
        ({"max_retry_wait": -1}, "max_retry_wait"),
        ({"max_rate_limit_retries": True}, "max_rate_limit_retries"),
        ({"retry_statuses": None}, "retry_statuses"),  # failed after the first request
        ({"retry_statuses": frozenset({"503"})}, "retry_statuses"),
        ({"retry_writes_with_idempotency_key": 1}, "retry_writes_with_idempotency_key"),
    ],
)
def test_a_retry_policy_is_checked_when_made(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(common.InvalidRequestError) as refused:
        common.RetryPolicy(**fields)
    assert refused.value.field == field


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/api\udc80v1",  # a lone surrogate: yarl dropped it (/apiv1)
        "http://127.0.0.1:8080/a\nb",  # a line break: dropped too (/ab)
        "http://127.0.0.1:8080/a b",
        "https://exa mple.com",
    ],
)
def test_a_base_url_that_would_be_rewritten_is_refused(url: str) -> None:
    with pytest.raises(common.InvalidRequestError) as refused:
        IntervalsClient(api_key="k", base_url=url)
    assert refused.value.field == "base_url"


@pytest.mark.parametrize(
    "url", ["redis://:hunter2\n@127.0.0.1:6379/0", "redis://:hunter2\n@host:6379/x"]
)
def test_a_redis_password_with_a_line_break_is_never_shown(url: str) -> None:
    # The mask's pattern stopped at the line break: the password was in the error, and a
    # valid URL was accepted and shown whole by the options' repr.
    with pytest.raises(common.InvalidRequestError) as refused:
        IntervalsClient(api_key="k", rate_store=url)
    assert "hunter2" not in str(refused.value) and refused.value.field == "rate_store"
    assert "hunter2" not in common.ratelimit._redis.redact_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0?password=Top;Secret99",  # showed "password=***;Secret99"
        "redis://127.0.0.1:6379/x?password=Top@Secret99",  # showed "redis://***@Secret99"
        "redis://user:Top@Secret99@127.0.0.1:6379/0",
    ],
)
def test_a_redis_password_with_a_separator_in_it_is_never_shown(url: str) -> None:
    # (found by an outside review: redis-py reads each whole password; the mask did not)
    shown = common.ratelimit._redis.redact_url(url)
    assert "Secret99" not in shown and "Top" not in shown
    try:
        client = IntervalsClient(api_key="k", rate_store=url)
    except common.InvalidRequestError as refused:
        shown = str(refused)
    else:
        shown = repr(client.options)
    assert "Secret99" not in shown


def test_a_basic_auth_key_with_a_colon_is_refused() -> None:
    # RFC 7617: the server splits the pair at the first colon, and so did the redaction:
    # an echo of "app:SECRETKEY123" was shown whole.
    with pytest.raises(common.InvalidRequestError, match="colon"):
        RideWithGPSClient(api_key="app:SECRETKEY123", auth_token="token-1", auth_style="basic")


async def test_fetch_many_and_merge_events_refuse_arguments_of_the_wrong_kind() -> None:
    async def fetch(key: int) -> int:
        return key

    cases: list[tuple[dict[str, Any], str]] = [
        ({"fn": fetch, "keys": 5}, "keys"),  # a bare TypeError
        ({"fn": fetch, "keys": [1], "on_progress": 5}, "on_progress"),  # after all the work
        ({"fn": None, "keys": [1]}, "fn"),
    ]
    for arguments, field in cases:
        with pytest.raises(common.InvalidRequestError) as refused:
            async for _ in common.fetch_many(**arguments, concurrency=2):
                pass
        assert refused.value.field == field
    with pytest.raises(common.InvalidRequestError) as refused:
        async for _ in common.merge_events(None):  # type: ignore[arg-type]
            pass  # a bare AttributeError
    assert refused.value.field == "sources"


def test_to_ics_writes_odd_server_data_and_refuses_what_is_no_event() -> None:
    # A RideWithGPS updated_at of 0001-01-01T00:00:00+05:00 decodes, and is before year 1
    # in UTC: a bare OverflowError (and the CLI's --format ics with it). A lone surrogate in
    # a name raised UnicodeEncodeError; name=5 and events=None raised TypeError.
    early = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    event = common.Event(
        provider="ridewithgps",
        id="1",
        name="Ride \udc80 out",
        start_date=dt.date(2026, 5, 1),
        raw=EventSummary(id=1, updated_at=early),
    )
    feed = common.to_ics([event], name="Club \udc80 rides")
    assert "SUMMARY:Ride  out" in feed and "DTSTAMP:19700101T000000Z" in feed
    cases: list[tuple[dict[str, Any], str]] = [
        ({"events": None}, "events"),
        ({"events": [1]}, "events"),
        ({"events": [event], "name": 5}, "name"),
    ]
    for arguments, field in cases:
        with pytest.raises(common.InvalidRequestError) as refused:
            common.to_ics(**arguments)
        assert refused.value.field == field


async def test_the_ridewithgps_fake_takes_a_create_with_no_time_zone() -> None:
    # The client sends "time_zone": null (the description allows it in a request); the
    # public fake answered 500 (ZoneInfo(None)). It takes the account's zone now.
    async with (
        FakeRideWithGPS() as server,
        RideWithGPSClient(access_token="test-access-token", base_url=server.url) as rw,
    ):
        made = await rw.create_event(name="No zone", start_date=dt.date(2026, 9, 1), time_zone=None)
    assert made.name == "No zone" and made.time_zone == "America/Los_Angeles"


def test_a_client_is_closed_in_the_event_loop_it_was_used_in_or_says_so() -> None:
    # Closed from a later asyncio.run() (or another thread's loop), aclose() returned as if
    # done: the first loop's pooled socket stayed open (its loop was gone), and with the
    # loop alive in another thread its waiters were never woken.
    async def handler(request: common.provider.Request) -> common.provider.Response:
        org = {"_id": "org_1", "name": "Club", "slug": "club", "roles": [], "plan": "free"}
        return reply({"data": org})

    client = IntervalsClient(api_key="k", sender=MemorySender(handler))
    asyncio.run(client.get_organization())
    with pytest.raises(common.InvalidRequestError, match="close it there"):
        asyncio.run(client.aclose())


def test_a_close_refused_from_another_loop_leaves_the_client_usable_in_its_own() -> None:
    # The refused close marked the client closed first: its own loop then got
    # ClientClosedError on every call, with its session still open.
    async def handler(request: common.provider.Request) -> common.provider.Response:
        org = {"_id": "org_1", "name": "Club", "slug": "club", "roles": [], "plan": "free"}
        return reply({"data": org})

    client = IntervalsClient(api_key="k", sender=MemorySender(handler))
    own = asyncio.new_event_loop()
    thread = threading.Thread(target=own.run_forever, daemon=True)
    thread.start()
    try:

        def in_own_loop(coroutine: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(coroutine, own).result(timeout=10)

        assert in_own_loop(client.get_organization()).name == "Club"
        with pytest.raises(common.InvalidRequestError, match="close it there"):
            asyncio.run(client.aclose())
        assert in_own_loop(client.get_organization()).name == "Club"  # still open
        in_own_loop(client.aclose())
        with pytest.raises(common.ClientClosedError):
            in_own_loop(client.get_organization())
    finally:
        own.call_soon_threadsafe(own.stop)
        thread.join(10)
        own.close()


def test_a_derived_client_closed_while_its_calls_wait_sends_them_no_more() -> None:
    # Closing a with_options() client stopped only new calls: its calls waiting out a
    # backoff woke up after the close and were sent (and answered). On the virtual clock.
    run_virtual(_derived_client_closed_while_its_call_waits)


async def _derived_client_closed_while_its_call_waits() -> None:
    attempts: list[float] = []

    async def handler(request: common.provider.Request) -> common.provider.Response:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) == 1:  # the call then waits a second to retry
            return reply({"error": {"message": "slow down"}}, 429, {"Retry-After": "1"})
        org = {"_id": "org_1", "name": "Club", "slug": "club", "roles": [], "plan": "free"}
        return reply({"data": org})

    async with IntervalsClient(api_key="k", sender=MemorySender(handler)) as client:
        derived = client.with_options(deadline=10)
        call = asyncio.ensure_future(derived.get_organization())
        await asyncio.sleep(0.1)  # the first attempt refused: the call waits to retry
        await derived.aclose()
        with pytest.raises(common.ClientClosedError):
            await call
        assert len(attempts) == 1  # nothing sent after the close
        assert (await client.get_organization()).name == "Club"  # the original is open
