"""What users write, type-checked by ``tasks.py test`` (``mypy --strict``), never run.

Correct code must pass; each wrong line carries the ignore its error needs, and
``--strict`` (``warn_unused_ignores``) fails when the library lets it pass: a type
that went loose shows here. (Found by a user-side typing audit, 2026-12-04.)
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from celery import Celery

import common
from common.celery import EventsyncTasks
from intervals_async import IntervalsClient, IntervalsSource
from ridewithgps_async import EventUpdate, RideWithGPSClient, RideWithGPSSource


async def documented(ic: IntervalsClient, rw: RideWithGPSClient) -> None:
    # the id first, as API.md writes it (mypy saw a keyword-only id with a default)
    await rw.update_event(5, name="New name")
    EventUpdate(5, description=None)
    # writes are coroutines: tasks can be made of them (they were typed Awaitable)
    created = asyncio.create_task(rw.create_event(name="Ride", start_date="2027-05-01"))
    registered = asyncio.create_task(
        ic.register_participant(event_run_id="r1", email="a@b.example", registration_type="free")
    )
    await asyncio.gather(created, registered)
    # the two sources in one list are event sources (it was list[object])
    sources = [IntervalsSource(ic), RideWithGPSSource(rw)]
    by_name = {source.provider: source for source in sources}
    async with aclosing(common.merge_events(*by_name.values())) as events:
        async for event in events:
            print(event.name)
    # the streams close with aclosing, as the bulk guide does (they were AsyncIterator)
    async with aclosing(common.fetch_many(ic.get_event, ["e1"], concurrency=4)) as results:
        async for result in results:
            print(result.unwrap().event.name)
    async with aclosing(ic.iter_events()) as listing:
        async for item in listing:
            print(item.id)
    async with aclosing(rw.iter_events()) as summaries:
        async for summary in summaries:
            print(summary.id)


async def wrong(ic: IntervalsClient, rw: RideWithGPSClient) -> None:
    await ic.create_event(name="No slug, type or date")  # type: ignore[call-arg]
    await rw.create_event(name=None, start_date="2027-05-01")  # type: ignore[arg-type]
    await ic.register_participant(email="a@b.example")  # type: ignore[call-arg]
    from common.provider import BaseClinet  # type: ignore[attr-defined]  # noqa: F401

    common.Options(trace_configs=42)  # type: ignore[arg-type]
    EventsyncTasks(Celery("jobs"), rate_limt=5.0)  # type: ignore[call-arg]
