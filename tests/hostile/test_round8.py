"""The third outside review (2026-12-05, night): each finding reproduced first (each test
fails on the code before its fix)."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

import aiohttp
import pytest

import common
from common.provider import Request, Response, Transport
from common.testing import MemorySender, reply, run_virtual
from intervals_async import IntervalsClient, IntervalsSource
from intervals_async.testing import FakeIntervals

PAGES = 10


def _registration(i: int) -> dict[str, Any]:
    return {
        "_id": f"reg_{i:04d}",
        "eventId": "ev_1",
        "eventRunId": "run_1",
        "email": f"u{i}@example.com",
        "registrationType": "free",
        "registrationStatus": "confirmed",
    }


async def _slow_pages(request: Request) -> Response:
    """Every answer after 0.6 s; ``/registration`` and ``/groups`` by cursor, 10 pages."""
    await asyncio.sleep(0.6)
    if request.path.startswith("/events/"):
        event = {"_id": "ev_1", "name": "E", "slug": "e", "type": "race", "date": "2026-09-13"}
        return reply({"data": {"event": {**event, "organizationId": "org_1"}, "runs": []}})
    query = request.url.query
    start = int(query["after"].rpartition("_")[2]) + 1 if "after" in query else 0
    items = [_registration(i) for i in range(start, min(start + 100, PAGES * 100))]
    if request.path == "/groups":
        items = [
            {
                "_id": f"grp_{i:04d}",
                "organizationId": "org_1",
                "name": "G",
                "slug": f"g{i}",
                "status": "active",
            }
            for i in range(start, min(start + 100, PAGES * 100))
        ]
    return reply({"data": items, "hasMore": start + 100 < PAGES * 100})


@pytest.mark.parametrize("call", ["list_registrations", "list_groups", "source.get_event"])
def test_a_call_that_reads_many_pages_ends_by_its_one_deadline(call: str) -> None:
    # "deadline: seconds for a whole call": each page had a deadline of its own, so a
    # listing of 10 pages answered in 0.6 s each took 6 s with deadline=1.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with IntervalsClient(
            api_key="k", sender=MemorySender(_slow_pages), deadline=1.0
        ) as client:
            calls = {
                "list_registrations": lambda: client.list_registrations("ev_1"),
                "list_groups": client.list_groups,
                "source.get_event": lambda: IntervalsSource(client).get_event("ev_1"),
            }
            started = loop.time()
            with pytest.raises(common.APITimeoutError):
                await calls[call]()
            assert loop.time() - started == pytest.approx(1.0, abs=1e-3)
            # and the client's later calls have deadlines of their own
            assert (await client.get_event("ev_1")).event.id == "ev_1"

    run_virtual(main)


def test_a_borrowed_session_of_another_loop_is_refused_typed_and_unsent() -> None:
    # A caller's session made in an earlier asyncio.run() let aiohttp's bare RuntimeError
    # ("Event loop is closed") out of the call.
    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    session = asyncio.run(make())

    async def main() -> None:
        async with FakeIntervals() as server:
            client = IntervalsClient(api_key="k", base_url=server.url, session=session)
            async with client:
                with pytest.raises(common.InvalidRequestError, match="another event loop"):
                    await client.get_organization()
            assert server.requests == []

    try:
        asyncio.run(main())
    finally:
        session._connector = None  # its loop is gone: nothing of it can be closed there


@pytest.mark.parametrize("options", [{"timeout": -1}, {"base_url": "ftp://x"}])
def test_a_client_whose_constructor_failed_still_has_a_repr(options: dict[str, Any]) -> None:
    # A traceback shown with its frames' locals calls repr() on the half-built client:
    # it raised AttributeError ('_transport'), and the traceback could not be shown.
    with pytest.raises(common.InvalidRequestError) as caught:
        IntervalsClient(api_key="k", **options)
    shown = "".join(
        traceback.TracebackException.from_exception(caught.value, capture_locals=True).format()
    )
    assert "IntervalsClient(base_url=None)" in shown
    assert repr(Transport.__new__(Transport)) == "Transport(base_url=None, auth=None)"
