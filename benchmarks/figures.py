"""The figures. Each starts its own fake server process and returns table rows.

Contenders of one figure share that server and run interleaved (see :mod:`._timing`); the
library always decodes into its models, the bare aiohttp loops into dicts with orjson, and
figure 8's hand-written client into pydantic v2 models of the same shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import json
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pydantic

import common
from intervals_async import EventList, IntervalsClient, RegistrationList
from intervals_async._models import DECODER as INTERVALS_DECODER
from intervals_async.testing import generate_data

from . import _pydantic_models as pyd
from ._generated import GeneratedClient, generated_client
from ._report import Goal, Row
from ._servers import INTERVALS, INTERVALS_KEY, RIDEWITHGPS, fake_server
from ._timing import Timings, Workload, best_of, interleaved

__all__ = ["FIGURES", "FULL", "SMOKE", "Context", "Settings"]

_ROOT = Path(__file__).resolve().parent.parent
_HEADERS = {"Authorization": f"Bearer {INTERVALS_KEY}", "Accept": "application/json"}
_DETAIL_ONLY = ("endDate", "endTime")  # the listing shape lacks them


@dataclasses.dataclass(frozen=True)
class Settings:
    """Sizes of every figure; :data:`FULL` and :data:`SMOKE` are the two presets."""

    smoke: bool
    rounds: int
    warmup_requests: int
    seed_events: int
    sequential_requests: int
    bulk_events: int
    bulk_rounds: int
    bulk_concurrency: int
    rate_limit: float
    rate_burst: int
    rate_keys: int
    rate_concurrency: int
    decode_repeat: int
    decode_min_seconds: float
    e2e_requests: int
    e2e_list_requests: int
    memory_events: int
    memory_page_size: int
    hand_bulk_events: int


FULL = Settings(
    smoke=False,
    rounds=15,
    warmup_requests=200,
    seed_events=300,
    sequential_requests=1000,
    bulk_events=5000,
    bulk_rounds=9,
    bulk_concurrency=64,
    rate_limit=50.0,
    rate_burst=5,
    rate_keys=500,
    rate_concurrency=16,
    decode_repeat=9,
    decode_min_seconds=0.1,
    e2e_requests=500,
    e2e_list_requests=100,
    memory_events=100_000,
    memory_page_size=200,
    hand_bulk_events=2000,
)
SMOKE = Settings(
    smoke=True,
    rounds=1,
    warmup_requests=5,
    seed_events=300,
    sequential_requests=30,
    bulk_events=300,
    bulk_rounds=1,
    bulk_concurrency=64,
    rate_limit=20.0,
    rate_burst=5,
    rate_keys=30,
    rate_concurrency=8,
    decode_repeat=1,
    decode_min_seconds=0.001,
    e2e_requests=20,
    e2e_list_requests=5,
    memory_events=2000,
    memory_page_size=200,
    hand_bulk_events=200,
)


class Context:
    """What the figures share in one run: the settings and the generated client."""

    def __init__(self, settings: Settings, stack: contextlib.ExitStack) -> None:
        self.settings = settings
        self._stack = stack
        self._generated: GeneratedClient | None = None

    @property
    def generated(self) -> GeneratedClient:
        """The openapi-python-client package, generated on first use."""
        if self._generated is None:
            self._generated = self._stack.enter_context(generated_client())
        return self._generated


# --- helpers ------------------------------------------------------------------------------


def _event_ids(count: int, seed_events: int) -> list[str]:
    """``count`` ids of the fake's seeded events (seed 0), cycling when there are fewer."""
    ids = list(generate_data(0, seed_events).events)
    return list(itertools.islice(itertools.cycle(ids), count))


def _ratio_row(
    figure: str, library: float, contender: float, goal: Goal, unit: str, scale: float, **extra: Any
) -> Row:
    return Row(
        figure=figure,
        library=f"{library * scale:.1f} {unit}",
        contender=f"{contender * scale:.1f} {unit}",
        value=library / contender,
        goal=goal,
        details={"library_seconds": library, "contender_seconds": contender, **extra},
    )


def _timed_row(
    figure: str,
    timings: Timings,
    contender: str,
    per_round: int,
    goal: Goal,
    unit: str,
    scale: float,
) -> Row:
    """A row from interleaved rounds: median wall-clock per item of library / ``contender``.

    The details add the client process' CPU time per item, which the server's share and
    other load on the machine distort less than the wall-clock.
    """
    library_cpu = timings.median_cpu("library") / per_round
    contender_cpu = timings.median_cpu(contender) / per_round
    return _ratio_row(
        figure,
        timings.median_wall("library") / per_round,
        timings.median_wall(contender) / per_round,
        goal,
        unit,
        scale,
        library_cpu_seconds=library_cpu,
        contender_cpu_seconds=contender_cpu,
        cpu_ratio=library_cpu / contender_cpu if contender_cpu else None,
        per_round=per_round,
        wall_rounds=timings.wall,
        cpu_rounds=timings.cpu,
    )


async def _bare_get(session: aiohttp.ClientSession, url: str) -> Any:
    """What a hand-written loop does per event: GET, check, read, orjson to dicts."""
    async with session.get(url) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status}")
        body = await response.read()
    return orjson.loads(body)


@contextlib.asynccontextmanager
async def _intervals_pair(
    url: str,
) -> AsyncIterator[tuple[IntervalsClient, aiohttp.ClientSession]]:
    """The library client and a bare session, both reused across rounds."""
    async with (
        IntervalsClient(api_key=INTERVALS_KEY, base_url=url) as client,
        aiohttp.ClientSession(headers=_HEADERS) as session,
    ):
        yield client, session


def _run(coroutine: Callable[[], Coroutine[Any, Any, list[Row]]]) -> list[Row]:
    return asyncio.run(coroutine())


# --- 1. sequential get_event --------------------------------------------------------------


def sequential(context: Context) -> list[Row]:
    """Figure 1: sequential ``get_event``, library / bare aiohttp + orjson."""
    settings = context.settings
    ids = _event_ids(settings.sequential_requests, settings.seed_events)
    warm = ids[: settings.warmup_requests]

    with fake_server(INTERVALS, "--events", str(settings.seed_events)) as url:

        async def measure() -> list[Row]:
            async with _intervals_pair(url) as (client, session):

                def library(keys: Sequence[str]) -> Workload:
                    async def run() -> None:
                        for event_id in keys:
                            await client.get_event(event_id)

                    return run

                def bare(keys: Sequence[str]) -> Workload:
                    async def run() -> None:
                        for event_id in keys:
                            await _bare_get(session, f"{url}/events/{event_id}")

                    return run

                timings = await interleaved(
                    {"library": library(ids), "bare": bare(ids)},
                    rounds=settings.rounds,
                    warmup={"library": library(warm), "bare": bare(warm)},
                )
            return [
                _timed_row(
                    "1 sequential get_event / bare aiohttp+orjson",
                    timings,
                    "bare",
                    len(ids),
                    Goal("<=", 1.10),
                    "µs/req",
                    1e6,
                )
            ]

        return _run(measure)


# --- 2. concurrent bulk fetch -------------------------------------------------------------


def concurrent(context: Context) -> list[Row]:
    """Figure 2: N event details at concurrency 64, ``fetch_many`` / ``gather`` + semaphore."""
    settings = context.settings
    count, concurrency = settings.bulk_events, settings.bulk_concurrency
    with fake_server(INTERVALS, "--events", str(count)) as url:
        ids = _event_ids(count, count)  # generated here while the server generates the same
        warm = ids[: max(settings.warmup_requests, concurrency * 2)]

        async def measure() -> list[Row]:
            async with _intervals_pair(url) as (client, session):

                def library(keys: Sequence[str]) -> Workload:
                    async def run() -> None:
                        ok = 0
                        async for result in common.fetch_many(
                            client.get_event, keys, concurrency=concurrency
                        ):
                            result.unwrap()
                            ok += 1
                        assert ok == len(keys)

                    return run

                def bare(keys: Sequence[str]) -> Workload:
                    async def run() -> None:
                        slots = asyncio.Semaphore(concurrency)

                        async def one(event_id: str) -> Any:
                            async with slots:
                                return await _bare_get(session, f"{url}/events/{event_id}")

                        results = await asyncio.gather(*(one(event_id) for event_id in keys))
                        assert len(results) == len(keys)

                    return run

                timings = await interleaved(
                    {"library": library(ids), "bare": bare(ids)},
                    rounds=settings.bulk_rounds,
                    warmup={"library": library(warm), "bare": bare(warm)},
                )
            return [
                _timed_row(
                    f"2 {count} get_event @{concurrency}: fetch_many / gather+Semaphore",
                    timings,
                    "bare",
                    count,
                    Goal("<=", 1.25),
                    "µs/req",
                    1e6,
                )
            ]

        return _run(measure)


# --- 3. rate-limited bulk fetch -----------------------------------------------------------


def _status_counter(statuses: list[int]) -> aiohttp.TraceConfig:
    """A trace config that appends the status of every response the session receives."""

    async def on_request_end(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
    ) -> None:
        statuses.append(params.response.status)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace


def rate_limited(context: Context) -> list[Row]:
    """Figure 3: ``rate_limit=R`` against a fake allowing R/s: achieved rate and 429 share."""
    settings = context.settings
    rate, keys = settings.rate_limit, settings.rate_keys
    ids = _event_ids(keys, settings.seed_events)
    server_args = ["--events", str(settings.seed_events), "--rate-limit", f"{rate:g}"]
    server_args += ["--burst", str(settings.rate_burst), "--rate-limit-style", "header"]
    with fake_server(INTERVALS, *server_args) as url:

        async def measure() -> list[Row]:
            statuses: list[int] = []
            failed = 0
            async with IntervalsClient(
                api_key=INTERVALS_KEY,
                base_url=url,
                rate_limit=rate,
                trace_configs=[_status_counter(statuses)],
            ) as client:
                loop = asyncio.get_running_loop()
                started = loop.time()
                async for result in common.fetch_many(
                    client.get_event, ids, concurrency=settings.rate_concurrency
                ):
                    failed += not result.ok
                elapsed = loop.time() - started
            succeeded = keys - failed
            achieved = succeeded / elapsed
            limited = statuses.count(429)
            details = {
                "limit_rps": rate,
                "burst": settings.rate_burst,
                "keys": keys,
                "succeeded": succeeded,
                "failed": failed,
                "requests": len(statuses),
                "responses_429": limited,
                "seconds": elapsed,
            }
            return [
                Row(
                    figure=f"3 rate-limited {keys} keys: achieved / limit",
                    library=f"{achieved:.1f} req/s",
                    contender=f"{rate:g} req/s (limit)",
                    value=achieved / rate,
                    goal=Goal(">=", 0.95),
                    details=details,
                ),
                Row(
                    figure="3 rate-limited: 429 answers / requests",
                    library=f"{limited} x 429",
                    contender=f"{len(statuses)} requests",
                    value=100 * limited / max(len(statuses), 1),
                    goal=Goal("<=", 1.0, "%"),
                    details=details,
                ),
            ]

        return _run(measure)


# --- 4. decoding --------------------------------------------------------------------------


def _bodies(seed_events: int) -> tuple[bytes, bytes]:
    """A 100-event ``GET /events`` body and a 100-registration ``GET /registration`` body."""
    data = generate_data(0, seed_events)
    events = sorted(data.events.values(), key=lambda e: (e["date"], e["_id"]))[:100]
    listing = [{k: v for k, v in e.items() if k not in _DETAIL_ONLY} for e in events]
    registrations = max(data.registrations.values(), key=len)[:100]
    if len(listing) < 100 or len(registrations) < 100:
        raise RuntimeError("the seeded data has fewer than 100 events or registrations")
    return orjson.dumps({"data": listing}), orjson.dumps({"data": registrations})


def decoding(context: Context) -> list[Row]:
    """Figure 4: bytes → models, library / pydantic v2, and / openapi-python-client."""
    settings = context.settings
    generated = context.generated
    events_body, registrations_body = _bodies(settings.seed_events)
    cases: list[tuple[str, bytes, type[Any], type[pydantic.BaseModel], Any]] = [
        ("events", events_body, EventList, pyd.EventList, generated.EventList),
        ("registrations", registrations_body, RegistrationList, pyd.RegistrationList,
         generated.RegistrationList),
    ]  # fmt: skip
    rows: list[Row] = []
    letters = iter("abcd")
    for name, body, ours, pydantic_model, generated_model in cases:

        def generated_decode(body: bytes = body, model: Any = generated_model) -> Any:
            return model.from_dict(orjson.loads(body))

        functions: dict[str, Callable[[], Any]] = {
            "library": functools.partial(INTERVALS_DECODER.decode, body, ours),
            "pydantic": functools.partial(pydantic_model.model_validate_json, body),
            "generated": generated_decode,
        }
        for contender, function in functions.items():
            items = function().data
            if len(items) != 100:
                raise RuntimeError(f"{contender} decoded {len(items)} {name}, not 100")
        best = best_of(
            functions, repeat=settings.decode_repeat, min_seconds=settings.decode_min_seconds
        )
        for contender, goal in (("pydantic", 0.8), ("generated", 0.5)):
            label = "pydantic v2" if contender == "pydantic" else "openapi-python-client"
            rows.append(
                _ratio_row(
                    f"4{next(letters)} decode 100 {name} / {label}",
                    best["library"],
                    best[contender],
                    Goal("<=", goal),
                    "µs",
                    1e6,
                    repeat=settings.decode_repeat,
                    body_bytes=len(body),
                )
            )
    return rows


# --- 5. end to end against the generated client -------------------------------------------


def end_to_end(context: Context) -> list[Row]:
    """Figure 5: sequential ``get_event`` and ``list_events(limit=100)``, library / generated."""
    settings = context.settings
    generated = context.generated
    ids = _event_ids(settings.e2e_requests, settings.seed_events)
    warm = ids[: settings.warmup_requests]
    lists = settings.e2e_list_requests
    with fake_server(INTERVALS, "--events", str(settings.seed_events)) as url:

        async def measure() -> list[Row]:
            gen_client = generated.AuthenticatedClient(base_url=url, token=INTERVALS_KEY)
            async with (
                IntervalsClient(api_key=INTERVALS_KEY, base_url=url) as client,
                gen_client as gen,
            ):

                def library_get(keys: Sequence[str]) -> Workload:
                    async def run() -> None:
                        for event_id in keys:
                            await client.get_event(event_id)

                    return run

                def generated_get(keys: Sequence[str]) -> Workload:
                    async def run() -> None:
                        for event_id in keys:
                            detail = await generated.get_event.asyncio(event_id, client=gen)
                            if not isinstance(detail, generated.EventDetail):
                                raise RuntimeError(f"generated get_event returned {detail!r}")

                    return run

                def library_list(times: int) -> Workload:
                    async def run() -> None:
                        for _ in range(times):
                            events = await client.list_events(limit=100)
                            assert len(events) == 100

                    return run

                def generated_list(times: int) -> Workload:
                    async def run() -> None:
                        for _ in range(times):
                            page = await generated.list_events.asyncio(client=gen, limit=100)
                            if not isinstance(page, generated.EventList):
                                raise RuntimeError(f"generated list_events returned {page!r}")

                    return run

                get_timings = await interleaved(
                    {"library": library_get(ids), "generated": generated_get(ids)},
                    rounds=settings.rounds,
                    warmup={"library": library_get(warm), "generated": generated_get(warm)},
                )
                with warnings.catch_warnings():
                    # a full page of 100 warns (use iter_events); the warning is not the point
                    warnings.simplefilter("ignore", common.TruncationWarning)
                    list_timings = await interleaved(
                        {"library": library_list(lists), "generated": generated_list(lists)},
                        rounds=settings.rounds,
                        warmup={"library": library_list(2), "generated": generated_list(2)},
                    )
            return [
                _timed_row(
                    "5a e2e sequential get_event / openapi-python-client",
                    get_timings,
                    "generated",
                    len(ids),
                    Goal("<=", 0.6),
                    "µs/req",
                    1e6,
                ),
                _timed_row(
                    "5b e2e list_events(limit=100) / openapi-python-client",
                    list_timings,
                    "generated",
                    lists,
                    Goal("<=", 0.5),
                    "µs/req",
                    1e6,
                ),
            ]

        return _run(measure)


# --- 6. memory ----------------------------------------------------------------------------


def memory(context: Context) -> list[Row]:
    """Figure 6: peak RSS growth of a fresh process streaming every RideWithGPS event."""
    settings = context.settings
    count, page_size = settings.memory_events, settings.memory_page_size
    with fake_server(RIDEWITHGPS, "--events", str(count)) as url:
        command = [sys.executable, "-m", "benchmarks._memory", url, str(page_size)]
        done = subprocess.run(command, cwd=_ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"the memory process failed ({done.returncode}):\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["events"] < count:
        raise RuntimeError(f"streamed {result['events']} events, expected at least {count}")
    growth_mb = result["growth"] / 2**20
    seconds = result["seconds"]
    return [
        Row(
            figure=f"6 memory: iter_events(page_size={page_size}), {count:,} events",
            library=f"{growth_mb:.1f} MB peak growth",
            contender=f"({result['events'] / seconds:,.0f} events/s)",
            value=growth_mb,
            goal=Goal("<", 50.0, " MB"),
            details=result,
        )
    ]


# --- 8. against a hand-written aiohttp + pydantic client -----------------------------------


async def _pydantic_get(session: aiohttp.ClientSession, url: str, model: Any) -> Any:
    """What a careful user writes: GET, check, read, validate into pydantic models.

    ``model_validate_json`` parses in pydantic-core itself, faster than ``orjson.loads``
    followed by ``model_validate`` (measured): the strongest hand-written contender.
    """
    async with session.get(url) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status}")
        body = await response.read()
    return model.model_validate_json(body)


def hand_written(context: Context) -> list[Row]:
    """Figure 8: the library / aiohttp + pydantic v2 models of the same shape, written by hand:
    sequential ``get_event``, ``list_events(limit=100)``, and 2,000 ``get_event`` through
    ``fetch_many`` / ``gather`` + a semaphore at concurrency 64."""
    settings = context.settings
    ids = _event_ids(settings.e2e_requests, settings.seed_events)
    warm = ids[: settings.warmup_requests]
    lists = settings.e2e_list_requests
    bulk = _event_ids(settings.hand_bulk_events, settings.seed_events)
    concurrency = settings.bulk_concurrency
    with fake_server(INTERVALS, "--events", str(settings.seed_events)) as url:

        async def measure() -> list[Row]:
            async with _intervals_pair(url) as (client, session):

                def library_get(keys: Sequence[str]) -> Workload:
                    async def run() -> None:
                        for event_id in keys:
                            await client.get_event(event_id)

                    return run

                def pydantic_get(keys: Sequence[str]) -> Workload:
                    async def run() -> None:
                        for event_id in keys:
                            await _pydantic_get(
                                session, f"{url}/events/{event_id}", pyd.EventDetailResponse
                            )

                    return run

                def library_list(times: int) -> Workload:
                    async def run() -> None:
                        for _ in range(times):
                            events = await client.list_events(limit=100)
                            assert len(events) == 100

                    return run

                def pydantic_list(times: int) -> Workload:
                    async def run() -> None:
                        for _ in range(times):
                            page = await _pydantic_get(
                                session, f"{url}/events?limit=100", pyd.EventList
                            )
                            assert len(page.data) == 100

                    return run

                def library_bulk(keys: Sequence[str]) -> Workload:
                    async def run() -> None:
                        ok = 0
                        async for result in common.fetch_many(
                            client.get_event, keys, concurrency=concurrency
                        ):
                            result.unwrap()
                            ok += 1
                        assert ok == len(keys)

                    return run

                def pydantic_bulk(keys: Sequence[str]) -> Workload:
                    async def run() -> None:
                        slots = asyncio.Semaphore(concurrency)

                        async def one(event_id: str) -> Any:
                            async with slots:
                                return await _pydantic_get(
                                    session, f"{url}/events/{event_id}", pyd.EventDetailResponse
                                )

                        results = await asyncio.gather(*(one(event_id) for event_id in keys))
                        assert len(results) == len(keys)

                    return run

                get_timings = await interleaved(
                    {"library": library_get(ids), "pydantic": pydantic_get(ids)},
                    rounds=settings.rounds,
                    warmup={"library": library_get(warm), "pydantic": pydantic_get(warm)},
                )
                with warnings.catch_warnings():
                    # a full page of 100 warns (use iter_events); the warning is not the point
                    warnings.simplefilter("ignore", common.TruncationWarning)
                    list_timings = await interleaved(
                        {"library": library_list(lists), "pydantic": pydantic_list(lists)},
                        rounds=settings.rounds,
                        warmup={"library": library_list(2), "pydantic": pydantic_list(2)},
                    )
                bulk_timings = await interleaved(
                    {"library": library_bulk(bulk), "pydantic": pydantic_bulk(bulk)},
                    rounds=settings.bulk_rounds,
                    warmup={"library": library_bulk(warm), "pydantic": pydantic_bulk(warm)},
                )
            return [
                _timed_row(
                    "8a sequential get_event / hand-written aiohttp+pydantic",
                    get_timings,
                    "pydantic",
                    len(ids),
                    Goal("<=", 1.00),
                    "µs/req",
                    1e6,
                ),
                _timed_row(
                    "8b list_events(limit=100) / hand-written aiohttp+pydantic",
                    list_timings,
                    "pydantic",
                    lists,
                    Goal("<=", 1.00),
                    "µs/req",
                    1e6,
                ),
                _timed_row(
                    f"8c {len(bulk)} get_event @{concurrency}: fetch_many"
                    " / hand-written gather+Semaphore+pydantic",
                    bulk_timings,
                    "pydantic",
                    len(bulk),
                    Goal("<=", 1.05),
                    "µs/req",
                    1e6,
                ),
            ]

        return _run(measure)


def rate_control(context: Context) -> list[Row]:
    """Figure 7: issue 11's scenarios (unknown limits, a wrong one, a fleet on Redis)."""
    from . import rate

    if context.settings.smoke:
        return rate.figure(keys=40, fleet_processes=2, fleet_keys=20)
    return rate.figure(keys=300, fleet_processes=4, fleet_keys=100)


FIGURES: dict[int, Callable[[Context], list[Row]]] = {
    1: sequential,
    2: concurrent,
    3: rate_limited,
    4: decoding,
    5: end_to_end,
    6: memory,
    7: rate_control,
    8: hand_written,
}
#: Run after the others: figure 7 runs hundreds of simulated clients, Redis fleets and
#: Celery workers, and a figure timed after it in the same process took 1.3x as long
#: (figure 8's per-request times, library and contender alike, 2026-12-03).
LAST = {7}
