"""The rate-control scenarios of issue 11, shared by the benchmark figure and ``tests/rate``.

* :func:`limited_fake`: the Intervals fake behind a token bucket (``rps``, ``burst``),
  answering 429 with a whole-second ``Retry-After`` (``style="header"``) or the body's
  epoch-ms ``retryAfter`` (``style="body"``), every answer after ``latency`` seconds.
* :func:`bulk`: ``fetch_many(client.get_event, ids)`` timed, with the 429s counted.
* :func:`fleet`: the same from several processes at once (``python -m benchmarks.rate
  worker``), optionally sharing one budget through ``rate_store``.
* ``python -m benchmarks.rate serve ...`` runs a limited fake in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import attrs
from aiohttp import web
from aiohttp.typedefs import Handler

import common
from common.testing import RateLimitKind, RateLimitStyle
from intervals_async import IntervalsClient
from intervals_async.testing import FakeIntervals

__all__ = ["KEY", "Run", "bulk", "fleet", "limited_fake", "serve_in_process"]

KEY = "test-key"
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@attrs.frozen
class Run:
    """One bulk fetch: how long it took and what the server answered."""

    keys: int
    seconds: float
    requests: int
    refused: int
    failed: int

    @property
    def refused_share(self) -> float:
        """429 answers / requests."""
        return self.refused / max(self.requests, 1)

    def efficiency(self, rps: float, burst: int = 0) -> float:
        """Ideal time / time, the ideal being ``keys / rps`` (as issue 11 counts it)."""
        del burst
        return (self.keys / rps) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The run as JSON-able data."""
        return attrs.asdict(self)


_STYLES: dict[str, RateLimitStyle] = {
    "header": "header",
    "body": "body",
    "body-rounded": "body-rounded",
    "none": "none",
}
_KINDS: dict[str, RateLimitKind] = {"token": "token", "sliding": "sliding", "fixed": "fixed"}


def _latency(seconds: float) -> Any:
    @web.middleware
    async def delay(request: web.Request, handler: Handler) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await handler(request)

    return delay


@contextlib.asynccontextmanager
async def limited_fake(
    rps: float | None,
    burst: int = 1,
    style: str = "header",
    latency: float = 0.02,
    kind: str = "token",
) -> AsyncIterator[FakeIntervals]:
    """The Intervals fake (300 events, no validation) behind a token bucket (or a sliding
    or fixed window, ``kind``), with latency; ``style`` as in ``FakeServer.rate_limit``."""
    server = FakeIntervals(validate=False)
    if latency:
        server.app.middlewares.insert(0, _latency(latency))
    if rps is not None:
        server.rate_limit(rps, burst, _STYLES[style], _KINDS[kind])
    async with server:
        yield server


def _counter(statuses: list[int]) -> aiohttp.TraceConfig:
    async def on_end(_: Any, __: Any, params: aiohttp.TraceRequestEndParams) -> None:
        statuses.append(params.response.status)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    return trace


async def bulk(url: str, ids: Sequence[str], concurrency: int = 50, **options: Any) -> Run:
    """``fetch_many(client.get_event, ids, concurrency)``: time, requests, 429s, failures."""
    statuses: list[int] = []  # (the library's default retry policy)
    failed = 0
    async with IntervalsClient(
        api_key=KEY, base_url=url, trace_configs=[_counter(statuses)], **options
    ) as client:
        started = time.monotonic()
        async for result in common.fetch_many(client.get_event, ids, concurrency=concurrency):
            failed += not result.ok
        seconds = time.monotonic() - started
    return Run(len(ids), seconds, len(statuses), statuses.count(429), failed)


def fleet(
    url: str,
    ids: Sequence[str],
    processes: int,
    *,
    concurrency: int = 50,
    rate_limit: float | None = None,
    rate_burst: int = 1,
    rate_store: str | None = None,
    rate_key: str | None = None,
    timeout: float = 120.0,
) -> tuple[float, list[Run]]:
    """``processes`` worker processes, each fetching ``ids`` from the same instant;
    (the slowest one's seconds, their runs)."""
    command = [sys.executable, "-m", "benchmarks.rate", "worker", url, "--ids", ",".join(ids)]
    # All start at the same instant, once every interpreter is up.
    command += ["--concurrency", str(concurrency), "--start-at", f"{time.time() + 3.0:.3f}"]
    if rate_limit is not None:
        command += ["--rate-limit", f"{rate_limit:g}", "--rate-burst", str(rate_burst)]
    if rate_store is not None:
        command += ["--rate-store", rate_store]
    if rate_key is not None:
        command += ["--rate-key", rate_key]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=_ROOT)
        for _ in range(processes)
    ]
    runs = []
    try:
        for worker in workers:
            out, _ = worker.communicate(timeout=timeout)
            if worker.returncode:
                raise RuntimeError(f"worker failed with status {worker.returncode}")
            runs.append(Run(**json.loads(out.strip().splitlines()[-1])))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    return max(run.seconds for run in runs), runs


@contextlib.contextmanager
def serve_in_process(
    rps: float | None,
    burst: int = 1,
    style: str = "header",
    latency: float = 0.02,
    kind: str = "token",
) -> Any:
    """Run :func:`limited_fake` in its own process; yield its URL."""
    command = [sys.executable, "-m", "benchmarks.rate", "serve", "--burst", str(burst)]
    command += ["--style", style, "--latency", str(latency), "--kind", kind]
    if rps is not None:
        command += ["--rps", f"{rps:g}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=_ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("http"):
            raise RuntimeError(f"the limited fake did not start: {line!r}")
        yield line
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def _serve(options: argparse.Namespace) -> None:
    async with limited_fake(
        options.rps, options.burst, options.style, options.latency, options.kind
    ) as fake:
        print(fake.url, flush=True)
        await asyncio.Event().wait()


async def _work(options: argparse.Namespace) -> None:
    extra: dict[str, Any] = {}
    if options.rate_limit is not None:
        extra["rate_limit"] = options.rate_limit
        extra["rate_burst"] = options.rate_burst
    if options.rate_store is not None:
        extra["rate_store"] = options.rate_store
    if options.rate_key is not None:
        extra["rate_key"] = options.rate_key
    await asyncio.sleep(max(0.0, options.start_at - time.time()))
    run = await bulk(options.url, options.ids.split(","), options.concurrency, **extra)
    print(json.dumps(run.as_dict()), flush=True)


def main(argv: list[str] | None = None) -> None:
    """``serve`` a limited fake, or run one fleet ``worker``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rate")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--rps", type=float, default=None)
    serve.add_argument("--burst", type=int, default=1)
    serve.add_argument("--style", choices=sorted(_STYLES), default="header")
    serve.add_argument("--kind", choices=sorted(_KINDS), default="token")
    serve.add_argument("--latency", type=float, default=0.02)
    work = sub.add_parser("worker")
    work.add_argument("url")
    work.add_argument("--ids", required=True)
    work.add_argument("--concurrency", type=int, default=50)
    work.add_argument("--rate-limit", type=float, default=None)
    work.add_argument("--rate-burst", type=int, default=1)
    work.add_argument("--rate-store", default=None)
    work.add_argument("--rate-key", default=None)
    work.add_argument("--start-at", type=float, default=0.0, help="epoch seconds to start at")
    options = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(options) if options.command == "serve" else _work(options))


if __name__ == "__main__":
    main()


# --- the benchmark figure -----------------------------------------------------------------

#: (name, server rps, burst, 429 style, limit kind, client options): issue 11's table,
#: then issue 18's shapes (whole-second body waits, sliding window, no wait, small burst).
SCENARIOS: list[tuple[str, float, int, str, str, dict[str, Any]]] = [
    (
        "limit configured right (40/s burst 40)",
        40,
        40,
        "header",
        "token",
        {"rate_limit": 40, "rate_burst": 40},
    ),
    ("unknown, 40/s burst 40, Retry-After", 40, 40, "header", "token", {}),
    ("unknown, 40/s burst 40, body retryAfter", 40, 40, "body", "token", {}),
    ("unknown, 40/s burst 40, body retryAfter rounded", 40, 40, "body-rounded", "token", {}),
    ("unknown, 40/s burst 40, sliding window, Retry-After", 40, 40, "header", "sliding", {}),
    ("unknown, 40/s burst 40, 429 with no wait", 40, 40, "none", "token", {}),
    ("unknown, 100/s burst 10", 100, 10, "header", "token", {}),
    ("rate_limit=80 against 40/s", 40, 40, "header", "token", {"rate_limit": 80}),
]
#: The issues' goals per scenario: (efficiency at least, refused share at most).
GOALS = [
    (0.95, 0.01),
    (0.90, 0.05),
    (0.90, 0.05),
    (0.90, 0.05),
    (0.85, 0.10),
    (0.80, 0.10),
    (0.70, 0.15),
    (0.90, 0.05),
]


@contextlib.contextmanager
def redis_server() -> Any:
    """A throwaway ``redis-server`` on a free port; yields its URL (None when not installed)."""
    import shutil
    import socket
    import tempfile

    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", directory]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(500):
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.01)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait()


#: Where the full run draws the simulator's matrix for the docs.
PLOT = os.path.join(_ROOT, "docs", "img", "rate-matrix.png")


def simulated(plot: str | None, every: int = 1) -> list[Any]:
    """The simulator's matrix (``common.testing.ratesim``): printed whole, drawn to
    ``plot`` (matplotlib), one row per family (cells meeting their goal, the lowest
    cap, the lowest efficiency against the family's lowest goal). ``every``: run only
    every n-th cell (a smoke run; the test suite runs them all)."""
    from common.testing import ratesim
    from intervals_async._client import retry_after_from_body

    from ._report import Goal, Row

    results = ratesim.run_matrix(ratesim.default_matrix()[::every], retry_after_from_body)
    print(ratesim.format_table(results), flush=True)
    if plot is not None:
        os.makedirs(os.path.dirname(plot), exist_ok=True)
        ratesim.plot_matrix(results, plot)
    rows = []
    for family in ratesim.family_summary(results):
        goal = min(r.cell.goal()[0] for r in results if r.cell.family == family["family"])
        rows.append(
            Row(
                figure=f"7 sim: {family['family']}: lowest efficiency",
                library=f"{family['met']}/{family['cells']} cells meet their goal",
                contender=f"cap {family['min_cap']:.2f}",
                value=family["min_efficiency"],
                goal=Goal(">=", round(goal, 2)),
                details=family,
            )
        )
    return rows


def figure(keys: int, fleet_processes: int, fleet_keys: int) -> list[Any]:
    """Issue 11's and 18's table: efficiency (ideal time / time) and refused share per
    scenario, then the fleet (processes sharing one key) with and without ``rate_store``;
    first the simulator's matrix (drawn to :data:`PLOT` on a full run)."""
    from intervals_async.testing import generate_data

    from ._report import Row

    all_ids = list(generate_data(0, 300).events)
    ids = all_ids[:keys]
    full = keys >= 300
    rows: list[Row] = simulated(PLOT if full else None, every=1 if full else 10)
    for (name, rps, burst, style, kind, options), (eff_goal, refused_goal) in zip(
        SCENARIOS, GOALS, strict=True
    ):
        with serve_in_process(rps, burst, style, kind=kind) as url:
            run = asyncio.run(bulk(url, ids, 50, **options))
        details = {**run.as_dict(), "rps": rps, "burst": burst, "style": style, "kind": kind}
        details.update(options)
        rows += _pair(f"7 {keys} get_event, {name}", run, rps, eff_goal, refused_goal, details)
    fleet_ids = all_ids[:fleet_keys]
    with redis_server() as store:
        for label, style, limit, burst, eff_goal, refused_goal in (
            ("rate_store, rate_limit=40 rate_burst=40", "header", 40.0, 40, 0.95, 0.01),
            ("rate_store, no rate_limit", "header", None, 1, 0.80, 0.10),
            ("rate_store, body retryAfter rounded", "body-rounded", None, 1, 0.85, 0.10),
            ("no rate_store, rate_limit=40", "header", 40.0, 1, 0.90, 0.01),
        ):
            with serve_in_process(40, 40, style) as url:
                shared = store if "no rate_store" not in label else None
                if shared is None and "no rate_store" not in label:
                    continue  # redis-server missing: the shared rows cannot run
                wall, runs = fleet(
                    url,
                    fleet_ids,
                    fleet_processes,
                    rate_limit=limit,
                    rate_store=shared,
                    rate_burst=burst,
                )
            total = Run(
                sum(r.keys for r in runs),
                wall,
                sum(r.requests for r in runs),
                sum(r.refused for r in runs),
                sum(r.failed for r in runs),
            )
            title = f"7 fleet {fleet_processes} x {fleet_keys}, one key, {label}"
            details = {**total.as_dict(), "processes": fleet_processes, "rate_limit": limit}
            details["style"] = style
            rows += _pair(title, total, 40, eff_goal, refused_goal, details)
    from .celery_fleet import figure_rows  # the same calls as Celery tasks (extra celery)

    return rows + figure_rows(fleet_processes, fleet_keys)


def _pair(
    title: str, run: Run, rps: float, eff_goal: float, refused_goal: float, details: Any
) -> list[Any]:
    from ._report import Goal, Row

    ideal = run.keys / rps
    return [
        Row(
            figure=f"{title}: efficiency",
            library=f"{run.seconds:.2f} s",
            contender=f"{ideal:.2f} s ideal",
            value=run.efficiency(rps),
            goal=Goal(">=", eff_goal),
            details=details,
        ),
        Row(
            figure=f"{title}: refused",
            library=f"{run.refused} x 429",
            contender=f"{run.requests} requests",
            value=100 * run.refused_share,
            goal=Goal("<=", 100 * refused_goal, "%"),
            details=details,
        ),
    ]
