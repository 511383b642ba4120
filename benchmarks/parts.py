"""Where figure 8c's time goes: one request's client CPU in the bulk loop, part by part.

``python -m benchmarks.parts [ROUNDS]`` starts the Intervals fake, then times 2,000
``get_event``-sized requests at concurrency 64 in each of the stages below, in one
process, interleaved round by round (``_timing.interleaved``: order flipped every round,
a full collection before each), and prints the median CPU per request of each stage, what
it adds to the one before, and its ratio to the hand-written client's (figure 8's
contender, timed in the same rounds).

Every stage but the last runs under the same driver (``gather`` + a semaphore), so the
difference between two stages is what the later one adds:

- ``bare``: aiohttp ``get`` + ``read`` + ``orjson.loads`` (dicts);
- ``hand-written``: the same with pydantic v2 models (``model_validate_json``);
- ``sender``: the library's sender alone, one ``Request`` per key;
- ``transport, no limiter``: ``Transport.request`` with a limiter that does nothing;
- ``transport``: ``Transport.request`` as it is (the limiter's turn and report);
- ``+ decode``: that plus decoding into the typed models;
- ``get_event``: the client's method (path building, the call layers);
- ``fetch_many``: ``fetch_many(client.get_event, ...)``, figure 8c's library side.

In a loop like this every part costs several times what it costs alone in a tight loop
(``benchmarks.instructions`` counts the latter). The likely cause is that the client and
the server share two cores, and each part's code and data are no longer in the caches
by the next request. That is not measured: this machine has no hardware counters.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from ._servers import INTERVALS, INTERVALS_KEY, fake_server
from ._timing import Workload, interleaved

KEYS = 2000
CONCURRENCY = 64


class _NoLimiter:
    """A limiter that does nothing: every turn is free at once, nothing is learned."""

    def __init__(self) -> None:
        from common.ratelimit import Slot

        self._slot = Slot(0.0, 0.0, False)

    def slot(self, *args: Any, **kwargs: Any) -> _NoLimiter:
        return self  # (its own context manager: no generator per turn)

    async def __aenter__(self) -> Any:
        return self._slot

    async def __aexit__(self, *exc_info: object) -> None:
        pass

    async def aclose(self) -> None:
        pass


async def _measure(url: str, rounds: int) -> dict[str, float]:
    import aiohttp
    import orjson
    from yarl import URL

    import common
    from common import provider
    from common.provider import Request
    from intervals_async import EventDetail, IntervalsClient
    from intervals_async.testing import generate_data

    from . import _pydantic_models as pyd

    ids = list(generate_data(0, 300).events)
    keys = [ids[i % len(ids)] for i in range(KEYS)]
    headers = {"Authorization": f"Bearer {INTERVALS_KEY}", "Accept": "application/json"}
    async with (
        IntervalsClient(api_key=INTERVALS_KEY, base_url=url) as client,
        IntervalsClient(api_key=INTERVALS_KEY, base_url=url) as unpaced,
        aiohttp.ClientSession(headers=headers) as session,
    ):
        transport = client.transport
        unpaced.transport._shared.limiter = _NoLimiter()  # (the stage's only difference)
        bare_transport = unpaced.transport
        base = URL(url, encoded=True)
        sender_headers = transport._shared.headers
        sender = transport._shared.sender
        decoder = client._decoder

        async def bare(key: str) -> object:
            async with session.get(f"{url}/events/{key}") as response:
                if response.status != 200:
                    raise RuntimeError(response.status)
                return orjson.loads(await response.read())

        async def hand_written(key: str) -> object:
            async with session.get(f"{url}/events/{key}") as response:
                if response.status != 200:
                    raise RuntimeError(response.status)
                return pyd.EventDetailResponse.model_validate_json(await response.read())

        async def sender_only(key: str) -> object:
            path = f"/events/{key}"
            target = base.with_path(path, encoded=True)
            request = Request("GET", target, sender_headers, None, 30.0, 1 << 26, path)
            return await sender.send(request)

        async def no_limiter(key: str) -> object:
            return await bare_transport.request("GET", provider.build_path("/events/{id}", id=key))

        async def with_limiter(key: str) -> object:
            return await transport.request("GET", provider.build_path("/events/{id}", id=key))

        async def decoded(key: str) -> object:
            path = provider.build_path("/events/{id}", id=key)
            response = await transport.request("GET", path)
            return decoder.decode(response.body, EventDetail, root="data")

        def gathered(one: Callable[[str], Awaitable[object]]) -> Workload:
            async def run() -> None:
                slots = asyncio.Semaphore(CONCURRENCY)

                async def guarded(key: str) -> object:
                    async with slots:
                        return await one(key)

                results = await asyncio.gather(*(guarded(key) for key in keys))
                assert len(results) == KEYS

            return run

        async def bulk() -> None:
            done = 0
            async for result in common.fetch_many(client.get_event, keys, concurrency=CONCURRENCY):
                result.unwrap()
                done += 1
            assert done == KEYS

        stages: dict[str, Workload] = {
            "bare": gathered(bare),
            "hand-written": gathered(hand_written),
            "sender": gathered(sender_only),
            "transport, no limiter": gathered(no_limiter),
            "transport": gathered(with_limiter),
            "+ decode": gathered(decoded),
            "get_event": gathered(client.get_event),
            "fetch_many": bulk,
        }
        timings = await interleaved(stages, rounds=rounds, warmup=stages)
    hand = timings.cpu["hand-written"]
    return {name: timings.median_cpu(name) / KEYS * 1e6 for name in stages} | {
        f"{name}/hand": statistics.median(
            mine / theirs for mine, theirs in zip(timings.cpu[name], hand, strict=True)
        )
        for name in stages
    }


def main(argv: list[str]) -> int:
    """Print each stage's median CPU per request, its increment, and its ratio to hand."""
    rounds = int(argv[0]) if argv else 11
    with fake_server(INTERVALS, "--events", "300") as url:
        result = asyncio.run(_measure(url, rounds))
    print(f"{KEYS} requests at concurrency {CONCURRENCY}, {rounds} rounds: CPU per request")
    previous: float | None = None
    for name in [key for key in result if not key.endswith("/hand")]:
        us = result[name]
        added = "" if previous is None or name == "hand-written" else f"{us - previous:+6.1f}"
        ratio = result[name + "/hand"]
        print(f"  {name:>22}: {us:6.1f} µs {added:>7}   {ratio:.3f} of hand-written")
        if name != "hand-written":
            previous = us
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
