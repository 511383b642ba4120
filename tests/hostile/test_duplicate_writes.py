"""Duplicate writes: one attempt is one request on the wire.

aiohttp re-sends a GET, PUT or DELETE by itself when the connection drops
before the answer. The server may have done the work already: a DELETE
deleted twice, a PUT applied twice, and every attempt we count could be two.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import common

from .conftest import AUTH_FORMS, RawServer, drop, reset, respond

pytestmark = pytest.mark.anyio

FAST = common.RetryPolicy(backoff_base=0)


@pytest.mark.parametrize("fault", [drop, reset], ids=["dropped", "reset"])
@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "POST"])
@pytest.mark.parametrize("form", ["intervals-bearer", "rwgps-basic"])
async def test_a_write_reaches_the_server_once(
    raw: RawServer, form: str, method: str, fault: Any
) -> None:
    raw.answer(fault)
    async with AUTH_FORMS[form](raw.url, retry_policy=FAST) as client:
        with pytest.raises(common.APIConnectionError) as info:
            await client.transport.request(method, "/events/1", json={"name": "x"})
    assert raw.methods == [method]  # today: DELETE and PUT twice
    assert info.value.attempts == 1


async def test_rwgps_delete_is_sent_once_and_not_reported_as_not_found(raw: RawServer) -> None:
    # The server deletes, then the connection drops; a second DELETE would get 404.
    raw.answer(drop, respond(404, {"error": "not found"}))
    async with AUTH_FORMS["rwgps-basic"](raw.url, retry_policy=FAST) as rw:
        with pytest.raises(common.APIConnectionError) as info:
            await rw.delete_event(1)
    assert not isinstance(info.value, common.NotFoundError)
    assert raw.methods == ["DELETE"]


async def test_rwgps_update_and_create_are_sent_once(raw: RawServer) -> None:
    raw.answer(drop)
    async with AUTH_FORMS["rwgps-headers"](raw.url, retry_policy=FAST) as rw:
        with pytest.raises(common.APIConnectionError):
            await rw.update_event(1, name="New name")
        with pytest.raises(common.APIConnectionError):
            await rw.create_event(name="Ride", start_date=dt.date(2026, 5, 2))
    assert len(raw.requests) == 2 and raw.methods[1] == "POST"


async def test_intervals_write_retried_by_the_library_with_its_key(raw: RawServer) -> None:
    # With an idempotency key the library itself decides to retry: each attempt
    # is exactly one request, all with the same key.
    raw.answer(drop)
    async with AUTH_FORMS["intervals-bearer"](raw.url, retry_policy=FAST) as client:
        with pytest.raises(common.APIConnectionError) as info:
            await client.create_event(
                name="Race", slug="race", type="race", date=dt.date(2026, 5, 2)
            )
    assert len(raw.requests) == info.value.attempts == 3
    assert len({seen.headers["idempotency-key"] for seen in raw.requests}) == 1


@pytest.mark.parametrize("max_retries", [0, 2])
async def test_get_attempts_are_counted_honestly(raw: RawServer, max_retries: int) -> None:
    raw.answer(drop)
    async with AUTH_FORMS["oauth-bearer"](
        raw.url, retry_policy=FAST, max_retries=max_retries
    ) as rw:
        with pytest.raises(common.APIConnectionError) as info:
            await rw.get_event(1)
    # today: 2 and 6 requests on the wire for 1 and 3 attempts
    assert len(raw.requests) == info.value.attempts == max_retries + 1


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
async def test_sent_once_on_a_borrowed_session_too(raw: RawServer, method: str) -> None:
    # The owned session has aiohttp's re-send switched off; a caller's session keeps its
    # own, and each request carries the middleware that refuses the second pass.
    import aiohttp

    raw.answer(drop)
    async with (
        aiohttp.ClientSession() as session,
        AUTH_FORMS["intervals-bearer"](
            raw.url, session=session, retry_policy=FAST, max_retries=0
        ) as client,
    ):
        with pytest.raises(common.APIConnectionError) as info:
            await client.transport.request(method, "/events/1")
    assert raw.methods == [method]
    assert info.value.attempts == 1
