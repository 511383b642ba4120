"""fetch_many and merge_events: completeness under faults, bounded memory, clean cancellation."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import random
import subprocess
import sys
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import aclosing

import anyio
import anyio.lowlevel
import pytest
from aiohttp import web

import common

from .conftest import ScriptedServer

pytestmark = pytest.mark.anyio


def flaky(
    seed: int = 7, rate: float = 0.2, max_in_a_row: int = 2
) -> tuple[web.RequestHandler, Counter[str]]:
    """500 on about ``rate`` of requests (seeded), never more than ``max_in_a_row`` per key."""
    rng = random.Random(seed)
    failures: Counter[str] = Counter()

    async def handler(request: web.Request) -> web.StreamResponse:
        key = request.match_info["tail"]
        if failures[key] < max_in_a_row and rng.random() < rate:
            failures[key] += 1
            return web.json_response({"error": "boom"}, status=500)
        return web.json_response({"key": key})

    return handler, failures


async def test_every_key_succeeds_through_random_500s_with_retries(server: ScriptedServer) -> None:
    handler, failures = flaky()
    server.answer(handler)
    progress: list[tuple[int, int | None]] = []
    policy = common.RetryPolicy(backoff_base=0.001)
    async with common.provider.Transport(server.url, retry_policy=policy, max_retries=2) as t:

        async def fetch(key: int) -> bytes:
            return (await t.request("GET", f"/items/{key}")).body

        results = [
            r
            async for r in common.fetch_many(
                fetch, range(300), concurrency=16, on_progress=lambda d, n: progress.append((d, n))
            )
        ]
    assert sum(failures.values()) > 30  # the faults really happened
    assert sorted(r.key for r in results) == list(range(300))
    assert all(r.ok for r in results)
    assert results[0].value == b'{"key": "items/%d"}' % results[0].key
    assert progress[-1] == (300, 300) and len(progress) == 300


async def test_without_retries_failures_are_per_key(server: ScriptedServer) -> None:
    handler, failures = flaky()
    server.answer(handler)
    async with common.provider.Transport(server.url, max_retries=0) as t:

        async def fetch(key: int) -> bytes:
            return (await t.request("GET", f"/items/{key}")).body

        results = [r async for r in common.fetch_many(fetch, range(300), concurrency=16)]
    failed = [r for r in results if not r.ok]
    assert len(results) == 300
    assert len(failed) == len(failures) > 30
    assert all(isinstance(r.error, common.ServerError) for r in failed)
    with pytest.raises(common.ServerError):
        failed[0].unwrap()


async def test_at_most_concurrency_in_flight_and_keys_drawn_lazily() -> None:
    in_flight = {"now": 0, "max": 0}
    drawn = {"n": 0}

    def keys() -> object:
        for k in range(200):
            drawn["n"] += 1
            yield k

    async def fn(key: int) -> int:
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        await anyio.sleep(0.001)
        in_flight["now"] -= 1
        return key

    seen = 0
    async for _ in common.fetch_many(fn, keys(), concurrency=5):  # type: ignore[arg-type]
        seen += 1
        # never more than the slots in use plus what waits in the buffer
        assert drawn["n"] <= seen + 5 + 5 + 1
    assert seen == 200 and 1 <= in_flight["max"] <= 5


async def test_async_iterable_keys_and_unknown_total() -> None:
    async def keys() -> AsyncIterator[int]:
        for k in range(10):
            yield k

    progress: list[tuple[int, int | None]] = []

    async def double(k: int) -> int:
        return 2 * k

    results = [
        r
        async for r in common.fetch_many(
            double, keys(), concurrency=3, on_progress=lambda d, n: progress.append((d, n))
        )
    ]
    assert sorted(r.unwrap() for r in results) == [2 * k for k in range(10)]
    assert progress[-1] == (10, None)


async def test_memory_stays_flat_for_10000_keys() -> None:
    async def fn(key: int) -> int:
        await anyio.lowlevel.checkpoint()
        return key

    async def peak(n: int) -> int:
        gc.collect()
        tracemalloc.start()
        count = 0
        async for _ in common.fetch_many(fn, iter(range(n)), concurrency=32):
            count += 1
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == n
        return top

    small = await peak(1_000)
    large = await peak(10_000)
    assert large < small * 2 + 200_000, (small, large)


async def test_breaking_out_cancels_in_flight_work(server: ScriptedServer) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/0"):
            return web.json_response({})
        await asyncio.sleep(5)
        return web.json_response({})

    server.answer(slow)
    before = asyncio.all_tasks()
    async with common.provider.Transport(server.url) as t:

        async def fetch(key: int) -> int:
            await t.request("GET", f"/items/{key}")
            return key

        async with aclosing(common.fetch_many(fetch, range(100), concurrency=8)) as results:
            async for _ in results:
                break
        leftovers = [
            task for task in asyncio.all_tasks() - before if "RequestHandler" not in repr(task)
        ]
        assert leftovers == []


async def test_plain_break_is_cleaned_up_too() -> None:
    started = asyncio.Event()

    async def fn(key: int) -> int:
        if key:
            started.set()
            await anyio.sleep(10)
        return key

    before = asyncio.all_tasks()
    async for _ in common.fetch_many(fn, range(10), concurrency=4):
        await started.wait()
        break
    # Without aclosing(), Python closes the generator from a finaliser task shortly after.
    gc.collect()
    with anyio.fail_after(2):
        while asyncio.all_tasks() - before:  # noqa: ASYNC110 - polling other tasks' state
            await asyncio.sleep(0.01)


async def test_cancelling_the_caller_leaves_nothing_running(server: ScriptedServer) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response({})

    server.answer(slow)
    before = asyncio.all_tasks()
    client = common.provider.Transport(server.url)
    session = client.session

    async def fetch(key: int) -> int:
        await client.request("GET", f"/items/{key}")
        return key

    async def consume() -> None:
        async with client:
            async for _ in common.fetch_many(fetch, range(1000), concurrency=16):
                pass

    with anyio.move_on_after(0.3) as scope:
        await consume()
    assert scope.cancelled_caught
    for _ in range(5):
        await asyncio.sleep(0)
    leftovers = [
        task for task in asyncio.all_tasks() - before if "RequestHandler" not in repr(task)
    ]
    assert leftovers == []
    assert session.closed  # and no ResourceWarning (warnings are errors here)


async def test_bad_concurrency_is_refused() -> None:
    async def fn(key: int) -> int:
        return key

    for bad in (0, -1, True, 1.5, None):  # the library's own typed error (a ValueError too)
        with pytest.raises(common.InvalidRequestError, match="concurrency") as caught:
            async for _ in common.fetch_many(fn, [1], concurrency=bad):  # type: ignore[arg-type]
                pass
        assert caught.value.field == "concurrency"


class ListSource:
    """A tiny in-memory EventSource."""

    def __init__(self, provider: common.Provider, ids: list[str], fail: bool = False) -> None:
        self.provider = provider
        self.ids = ids
        self.fail = fail

    async def iter_events(
        self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> AsyncIterator[common.Event]:
        for event_id in self.ids:
            await anyio.lowlevel.checkpoint()
            yield common.Event(
                provider=self.provider, id=event_id, name=event_id, start_date=dt.date(2026, 1, 1)
            )
        if self.fail:
            raise common.ServerError("down", status_code=500)

    async def get_event(self, event_id: str) -> common.Event:
        raise NotImplementedError

    async def list_participants(self, event_id: str) -> list[common.Participant]:
        return []


async def test_merge_events_reads_every_source() -> None:
    a = ListSource(common.Provider.INTERVALS, [f"a{i}" for i in range(50)])
    b = ListSource(common.Provider.RIDEWITHGPS, [f"b{i}" for i in range(70)])
    assert isinstance(a, common.EventSource)
    events = [e async for e in common.merge_events(a, b)]
    assert sorted(e.id for e in events) == sorted(a.ids + b.ids)


async def test_merge_events_raises_a_failing_source_error_plainly() -> None:
    a = ListSource(common.Provider.INTERVALS, ["a"])
    b = ListSource(common.Provider.RIDEWITHGPS, ["b"], fail=True)
    with pytest.raises(common.ServerError):
        async for _ in common.merge_events(a, b):
            pass


_ENDS_AFTER_A_BREAK = """
import asyncio, sys
import common

reported = []

class Source:
    provider = "x"

    def __init__(self, name):
        self.name = name

    async def iter_events(self, *, date_from=None, date_to=None):
        yield 0
        await asyncio.Event().wait()  # the rest never comes: in flight until cancelled

async def slow(key):
    if key:
        await asyncio.Event().wait()  # in flight until cancelled
    return key

async def main():
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, context: reported.append(context["message"]))
    if sys.argv[1] == "fetch_many":
        async for result in common.fetch_many(slow, range(50), concurrency=10):
            break
    else:
        async for event in common.merge_events(Source("a"), Source("b")):
            break

asyncio.run(main())
print(reported)
"""


@pytest.mark.parametrize("what", ["fetch_many", "merge_events"])
def test_a_program_that_ends_just_after_a_break_ends_quietly(what: str) -> None:
    # asyncio.run cancels every task at once when main returns: the workers then failed
    # with anyio's BrokenResourceError (the consumer's end closed) or took the caller's own
    # break for a cancellation from elsewhere, and asyncio reported each at shutdown
    # ("unhandled exception during asyncio.run() shutdown", a MergeError of "4 sources").
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", _ENDS_AFTER_A_BREAK, what],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
    assert "Error" not in done.stderr, done.stderr
