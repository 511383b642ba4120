"""Where one request's client CPU goes, in instructions (repeatable on a loaded machine).

``python -m benchmarks.instructions [N [PART ...]]`` starts the Intervals fake, then runs
each part of a sequential ``get_event`` N times (default 300) in a fresh process under
valgrind's callgrind, instrumentation switched on around the loop only, and prints
instructions per request: an empty loop (the measuring's own cost), the bare aiohttp +
orjson loop, the hand-written aiohttp + pydantic one (figure 8's), the transport alone,
the limiter's turn alone, building the request, the path, decoding, and the whole
``get_event`` (or only the PARTs named). Needs valgrind.

Wall-clock and even CPU time vary by tens of percent on a shared machine; instruction
counts do not, so a change's effect shows at once (the run takes a minute or two).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from ._servers import INTERVALS, INTERVALS_KEY, fake_server

PARTS = [
    "nothing",
    "bare",
    "pydantic",
    "transport",
    "limiter",
    "build",
    "path",
    "decode",
    "get_event",
]


async def _part(name: str, count: int, url: str) -> None:
    import aiohttp
    import orjson
    from yarl import URL

    from common import provider
    from common.provider import Request
    from common.ratelimit._local import Report
    from intervals_async import EventDetail, IntervalsClient
    from intervals_async._models import DECODER
    from intervals_async.testing import generate_data

    from . import _pydantic_models as pyd

    data = generate_data(0, 300)
    ids = list(itertools.islice(itertools.cycle(data.events), count + 100))
    first = ids[0]
    body = orjson.dumps({"data": {"event": data.events[first], "runs": data.runs.get(first, [])}})
    headers = {"Authorization": f"Bearer {INTERVALS_KEY}", "Accept": "application/json"}
    async with (
        IntervalsClient(api_key=INTERVALS_KEY, base_url=url) as client,
        aiohttp.ClientSession(headers=headers) as session,
    ):
        transport = client.transport
        limiter = transport.limiter
        cap = transport.max_response_bytes
        base = URL(url, encoded=True)

        async def bare(event_id: str) -> None:
            async with session.get(f"{url}/events/{event_id}") as response:
                if response.status != 200:
                    raise RuntimeError(response.status)
                orjson.loads(await response.read())

        async def hand_written(event_id: str) -> None:  # figure 8's contender
            async with session.get(f"{url}/events/{event_id}") as response:
                if response.status != 200:
                    raise RuntimeError(response.status)
                pyd.EventDetailResponse.model_validate_json(await response.read())

        async def transport_only(event_id: str) -> None:
            await transport.request("GET", f"/events/{event_id}")

        async def limiter_only(event_id: str) -> None:
            async with limiter.slot(None, max_wait=1e9, what="GET: ") as slot:
                slot.report(Report.accepted())

        async def build(event_id: str) -> None:  # what Transport.request builds per call
            path = f"/events/{event_id}"
            url = base.with_path(path, encoded=True)
            Request("GET", url, headers, None, transport.timeout, cap, path)

        async def nothing(event_id: str) -> None:
            pass

        async def path(event_id: str) -> None:
            provider.build_path("/events/{id}", id=event_id)

        async def decode(event_id: str) -> None:
            DECODER.decode(body, EventDetail, root="data")

        async def get_event(event_id: str) -> None:
            await client.get_event(event_id)

        parts: dict[str, Callable[[str], Awaitable[None]]] = {
            "nothing": nothing,
            "bare": bare,
            "pydantic": hand_written,
            "transport": transport_only,
            "limiter": limiter_only,
            "build": build,
            "path": path,
            "decode": decode,
            "get_event": get_event,
        }
        one = parts[name]
        for event_id in ids[:100]:  # warm-up, uncounted
            await one(event_id)
        _instrument("on")
        for event_id in ids[100:]:
            await one(event_id)
        _instrument("off")


def _instrument(state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], capture_output=True)


def _count(name: str, count: int, url: str) -> int:
    """Instructions of ``count`` runs of ``name`` (callgrind's "Collected")."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={Path(scratch) / 'out'}",
            sys.executable,
            "-m",
            "benchmarks.instructions",
            "--part",
            name,
            str(count),
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(r"Collected\s*:\s*([\d,]+)", done.stderr)
    if done.returncode or found is None:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str]) -> int:
    """Print instructions per request of every part (or run one part: ``--part``)."""
    if argv[:1] == ["--part"]:
        asyncio.run(_part(argv[1], int(argv[2]), argv[3]))
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    count = int(argv[0]) if argv else 300
    names = [name for name in argv[1:] if name in PARTS] or PARTS
    with fake_server(INTERVALS, "--events", "300") as url:
        for name in names:
            print(f"{name:>10}: {_count(name, count, url) / count:10,.0f} instructions", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
