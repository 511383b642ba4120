"""A deterministic rate-control simulator: the real limiter against simulated servers.

Everything runs on a virtual clock (:class:`common.testing.VirtualEventLoop`: sleeps
cost nothing), seeded, so a cell gives the same numbers on any machine, loaded or not.
One cell (:class:`Cell`) is one bulk job: ``keys`` requests sent through
``fetch_many`` at ``concurrency`` by ``processes`` clients (each its own limiter; with
more than one they share a simulated store, see :class:`SharedStore`), against one
simulated server (:class:`SimServer`):

* its limit: a token bucket (``"token"``: ``burst`` tokens refilled at ``rate``/s), a
  sliding window (``"sliding"``: at most ``burst`` accepted in any ``burst / rate``
  seconds) or a fixed window (``"fixed"``: ``burst`` per aligned ``burst / rate`` window);
* how a 429 names its wait (:data:`WaitForm`): ``Retry-After`` delta-seconds rounded up,
  ``Retry-After`` as an HTTP-date in each of RFC 9110's three forms (whole seconds),
  Intervals' body ``{"error": {"code": "RATE_LIMITED", "retryAfter": <epoch ms>}}``
  exact or rounded up to whole seconds, or nothing at all;
* a round trip of ``latency`` seconds with ``jitter`` (uniform, a fraction of it).

The client side is the library's own, whole: each process is a ``Transport`` (its
limiter, retry decisions, ``Retry-After`` and body-wait parsing, deadlines) sending
through a :class:`common.testing.MemorySender` whose handler is the simulated round
trip, driven by :func:`common.fetch_many`; only the socket is replaced.

**Efficiency** of a job (:attr:`CellResult.efficiency`): the requests the server
accepted, divided by the most it would have accepted over the same span,
``n / capacity``, where ``n`` is the number of keys (each accepted once) and
``capacity`` the most the server's limit accepts from the job's first request reaching
it to its last accepted one, ``T`` later: ``burst + rate * T`` for a token bucket (a full
bucket, then the refill) and a sliding window (one window per ``burst / rate`` seconds,
the first one whole), and ``burst`` per aligned window the span touches for a fixed
window (up to one window more than ``T`` holds: a span that begins at a window's end
has that window's burst too). So the figure is at most 1, and 1 means no client could
have finished sooner.

**Caps** (:meth:`Cell.cap`): what no client can beat, stated per cell. ``concurrency``
requests of ``latency`` each carry at most ``concurrency / latency`` per second. With
an unknown limit and a wait in whole seconds, the first refusal (the one every client
meets to learn the limit) holds everyone back at least one second, in which the server
refills no more than ``burst``: at least ``rate - burst`` requests of capacity are lost,
so the efficiency is at most ``n / (n + rate - burst)`` (for a client that honours the
wait for all its requests, as the library does, and whose crowd can exceed the burst).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from email.utils import formatdate
from typing import Any, Literal

import attrs

from .._bulk import fetch_many
from .._clock import wall_time
from .._errormap import BodyWait
from .._retry import RetryPolicy
from .._sender import Request, Response
from .._transport import Transport
from ..ratelimit._limiter import PacedLimiter
from ..ratelimit._local import Report
from ..ratelimit._store import Budget, MemoryStore, StoreError, Turn
from ._memory import MemorySender, reply
from ._virtual import run_virtual

__all__ = [
    "WAIT_FORMS",
    "Cell",
    "CellResult",
    "ServerKind",
    "SharedStore",
    "SimServer",
    "WaitForm",
    "body_retry_after",
    "default_matrix",
    "family_summary",
    "format_table",
    "plot_matrix",
    "run_cell",
    "run_matrix",
]

ServerKind = Literal["token", "sliding", "fixed"]
WaitForm = Literal[
    "seconds", "imf-date", "rfc850-date", "asctime-date", "body-exact", "body-rounded", "none"
]
#: Every wait form, in the order of the report.
WAIT_FORMS: tuple[WaitForm, ...] = (
    "seconds",
    "imf-date",
    "rfc850-date",
    "asctime-date",
    "body-exact",
    "body-rounded",
    "none",
)
#: Forms whose wait is whole seconds (rounded up by the server).
WHOLE_SECONDS = frozenset({"seconds", "imf-date", "rfc850-date", "asctime-date", "body-rounded"})


# --- the simulated server -----------------------------------------------------------------


def body_retry_after(data: Any, now: float) -> float | None:
    """The generic body wait of the simulation: ``error.retryAfter`` in epoch ms
    (Intervals' shape); tests may pass the provider's own hook instead."""
    error = data.get("error") if isinstance(data, Mapping) else None
    value = error.get("retryAfter") if isinstance(error, Mapping) else None
    if not isinstance(value, int):
        return None
    return max(0.0, value / 1000 - now)


@attrs.define
class SimServer:
    """A rate-limited server on the virtual clock: accepts, or answers 429 naming a wait.

    ``rate`` per second with ``burst`` (see the module for the three kinds); ``wait``
    is how the 429 tells when to come back. All counts are kept for the report.
    """

    kind: ServerKind
    rate: float
    burst: int
    wait: WaitForm
    tokens: float = attrs.field(init=False)
    updated: float = 0.0
    window: deque[float] = attrs.field(factory=deque)
    window_start: float = 0.0
    window_count: int = 0
    #: Epoch seconds at loop time 0 (the virtual loop's wall clock).
    epoch: float = 0.0
    accepted_at: list[float] = attrs.field(factory=list)
    first_at: float | None = None
    requests: int = 0
    refused: int = 0

    def __attrs_post_init__(self) -> None:
        self.tokens = float(self.burst)

    @property
    def span(self) -> float:
        """The window of the window kinds: ``burst`` requests per ``burst / rate`` s."""
        return self.burst / self.rate

    def admit(self, now: float) -> float | None:
        """Take one request arriving at ``now``: None when accepted, else the exact wait."""
        self.requests += 1
        if self.first_at is None:
            self.first_at = now
        wait = self._limit(now)
        if wait is None:
            self.accepted_at.append(now)
        else:
            self.refused += 1
        return wait

    def _limit(self, now: float) -> float | None:
        if self.kind == "token":
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return None
            return (1.0 - self.tokens) / self.rate
        if self.kind == "sliding":
            while self.window and self.window[0] <= now - self.span:
                self.window.popleft()
            if len(self.window) < self.burst:
                self.window.append(now)
                return None
            return self.window[0] + self.span - now
        start = math.floor(now / self.span) * self.span
        if start != self.window_start:
            self.window_start, self.window_count = start, 0
        if self.window_count < self.burst:
            self.window_count += 1
            return None
        return start + self.span - now

    def capacity(self, start: float, end: float) -> float:
        """The most this limit accepts from ``start`` to ``end`` (both included)."""
        if self.kind == "fixed":
            windows = math.floor(end / self.span) - math.floor(start / self.span) + 1
            return float(self.burst * windows)
        return self.burst + self.rate * (end - start)

    def refusal(self, wait: float, now: float) -> Response:
        """The 429 naming ``wait`` (seconds from ``now``, loop time) in its form."""
        wall = self.epoch + now
        whole = max(1, math.ceil(wait - 1e-9))
        headers: dict[str, str] = {}
        error: dict[str, Any] = {"code": "RATE_LIMITED", "message": "Rate limit exceeded"}
        if self.wait == "seconds":
            headers["Retry-After"] = str(whole)
        elif self.wait.endswith("-date"):
            # A date is whole seconds: the first whole second at or after the wait's end.
            headers["Retry-After"] = _http_date(math.ceil(wall + wait), self.wait)
        elif self.wait == "body-exact":
            error["retryAfter"] = math.ceil((wall + wait) * 1000)
        elif self.wait == "body-rounded":
            error["retryAfter"] = math.ceil(wall * 1000) + whole * 1000
        return reply({"error": error}, 429, headers)


def _http_date(epoch: int, form: str) -> str:
    moment = time.gmtime(epoch)
    if form == "imf-date":
        return formatdate(epoch, usegmt=True)
    if form == "rfc850-date":
        return time.strftime("%A, %d-%b-%y %H:%M:%S GMT", moment)
    day = f"{moment.tm_mday:2d}"
    return time.strftime(f"%a %b {day} %H:%M:%S %Y", moment)


# --- the shared store ---------------------------------------------------------------------


class SharedStore:
    """The simulated shared store: :class:`MemoryStore`'s rules (those of ``rate.lua``)
    behind a network round trip of ``rtt`` seconds, marked shared so that the limiter
    treats it as it treats Redis (no first-round gate, bounded calls)."""

    shared = True

    def __init__(self, rtt: float = 0.001, fails_at: float | None = None) -> None:
        self.rtt = rtt
        #: From this loop time on, every call fails (:class:`StoreError`), as a dead Redis.
        self.fails_at = fails_at
        self._store = MemoryStore()

    async def _trip(self) -> None:
        await asyncio.sleep(self.rtt / 2)
        if self.fails_at is not None and asyncio.get_running_loop().time() >= self.fails_at:
            raise StoreError("the simulated store is down")

    async def acquire(self, key: str, **options: Any) -> Turn:
        """See :meth:`RateStore.acquire`."""
        await self._trip()
        turn = await self._store.acquire(key, **options)
        await self._trip()
        return turn

    async def release(self, key: str, **options: Any) -> None:
        """See :meth:`RateStore.release`."""
        await self._trip()
        await self._store.release(key, **options)
        await self._trip()

    async def report(
        self, key: str, report: Report, **options: Any
    ) -> Literal["ok", "same", "new"]:
        """See :meth:`RateStore.report`."""
        await self._trip()
        result = await self._store.report(key, report, **options)
        await self._trip()
        return result

    async def changed(self, key: str, within: float) -> None:
        """See :meth:`RateStore.changed` (no notifications across processes: a poll)."""
        await asyncio.sleep(within)

    async def read(self, key: str) -> Budget:
        """See :meth:`RateStore.read`."""
        return await self._store.read(key)

    async def aclose(self) -> None:
        """Nothing to release."""


# --- cells --------------------------------------------------------------------------------


@attrs.frozen
class Cell:
    """One simulated bulk job (see the module docstring for every field's meaning)."""

    kind: ServerKind
    rate: float
    burst: int
    wait: WaitForm
    latency: float = 0.02
    jitter: float = 0.2
    concurrency: int = 50
    processes: int = 1
    #: Keys of the whole job (all processes together); None: :meth:`job_keys`.
    keys: int | None = None
    #: The client's ``rate_limit`` (per process), None for an unknown limit, and its
    #: ``rate_burst`` (a user who knows the limit knows the burst too).
    rate_limit: float | None = None
    rate_burst: int = 1
    seed: int = 0
    #: Names a family of its own (a provider's documented limits), after the rest.
    tag: str = ""
    #: Seconds into the job after which the shared store fails for good (processes > 1).
    store_fails_after: float | None = None

    @property
    def family(self) -> str:
        """The cell's family in the report: server kind, wait form, processes, limit."""
        known = "known" if self.rate_limit is not None else "unknown"
        fleet = f", {self.processes} processes" if self.processes > 1 else ""
        tag = f", {self.tag}" if self.tag else ""
        return f"{self.kind}, {self.wait}, {known}{fleet}{tag}"

    @property
    def label(self) -> str:
        """One line naming the cell."""
        limit = f" rate_limit={self.rate_limit:g}" if self.rate_limit is not None else ""
        return (
            f"{self.kind:7} {self.wait:12} {self.rate:6g}/s b{self.burst:<4d} "
            f"{self.latency * 1000:4.0f}ms c{self.concurrency:<3d} p{self.processes}{limit}"
        )

    def job_keys(self) -> int:
        """The job's size: about four seconds of the server's rate after its burst
        (at least 20, at most 600 keys, so that the matrix stays fast)."""
        if self.keys is not None:
            return self.keys
        return int(min(600, max(20, self.burst + 4 * self.rate)))

    def cap(self) -> tuple[float, str]:
        """The best efficiency any client can reach in this cell, and why."""
        n = self.job_keys()
        cap, why = 1.0, "none"
        carried = self.concurrency * self.processes / self.latency
        if carried < self.rate:
            cap, why = carried / self.rate, "concurrency / latency below the rate"
        crowd = self.concurrency * self.processes
        if (
            self.rate_limit is None
            and self.wait in WHOLE_SECONDS
            and self.burst < min(self.rate, crowd)
            and carried > self.rate
        ):
            lost = self.rate - self.burst
            shape = n / (n + lost)
            if shape < cap:
                cap, why = shape, "one whole-second wait refills only the burst"
        if n <= self.burst:
            # The whole job fits in the burst: only its round trips take time, and the
            # burst no client could use still counts against it.
            fastest = (math.ceil(n / crowd) - 1) * self.latency * (1.0 - self.jitter)
            shape = n / (self.burst + self.rate * fastest)
            if shape < cap:
                cap, why = shape, "the job fits in the burst"
        return cap, why

    def goal(self) -> tuple[float, float]:
        """(efficiency at least, refused share at most): 0.85 and 10%, or within 0.1
        of the cap; refusals beyond the first round's unavoidable ones."""
        cap, _ = self.cap()
        n = self.job_keys()
        first = max(0, min(self.concurrency * self.processes, n) - self.burst)
        if self.rate_limit is not None:
            first = 0
        return min(0.85, cap - 0.1), max(0.10, first / (n + first) + 0.05)


@attrs.frozen
class CellResult:
    """What one cell's job achieved."""

    cell: Cell
    keys: int
    ok: int
    requests: int
    refused: int
    #: From the first request reaching the server to the last one it accepted.
    server_span: float
    #: The job's time on the client (fetch_many's start to its last result).
    seconds: float
    #: The most the server accepts over that span (:meth:`SimServer.capacity`).
    capacity: float

    @property
    def efficiency(self) -> float:
        """``ok / capacity``; see the module docstring."""
        return self.ok / self.capacity

    @property
    def refused_share(self) -> float:
        """429 answers / requests sent."""
        return self.refused / max(1, self.requests)

    @property
    def meets_goal(self) -> bool:
        """Efficiency and refusals within :meth:`Cell.goal`, every key fetched."""
        efficiency, refused = self.cell.goal()
        return (
            self.ok == self.keys and self.efficiency >= efficiency and self.refused_share <= refused
        )


# --- running ------------------------------------------------------------------------------

#: The retry policy of the simulated clients: the library's default (``max_retries=2``;
#: refusals count against ``max_rate_limit_retries``, 8). Every key is fetched with it.
POLICY = RetryPolicy()
#: The deadline of each simulated call (the library's default).
DEADLINE = 120.0


class _Process:
    """One simulated process: a transport whose sender is the simulated round trip."""

    def __init__(
        self,
        cell: Cell,
        server: SimServer,
        rng: random.Random,
        body_wait: BodyWait,
        store: SharedStore | None,
    ) -> None:
        self.cell, self.server, self.rng = cell, server, rng
        self.transport = Transport(
            "https://sim.invalid",
            sender=MemorySender(self._round_trip),
            body_wait=body_wait,
            max_retries=POLICY.max_retries,
            deadline=DEADLINE,
            rate_limit=cell.rate_limit,
            rate_burst=cell.rate_burst,
            max_concurrency=max(cell.concurrency, 1),
        )
        if store is not None:
            # A budget shared through the simulated store, as RedisLimiter shares one
            # through Redis (the transport builds that one only from a Redis URL).
            self.transport._shared.limiter = PacedLimiter(
                store,
                "sim",
                rate_limit=cell.rate_limit,
                burst=cell.rate_burst,
                max_concurrency=max(cell.concurrency, 1),
                first_round=False,
            )

    async def _round_trip(self, request: Request) -> Response:
        """The way there, the server's answer, the way back."""
        latency = self.cell.latency * (1.0 + self.cell.jitter * (2.0 * self.rng.random() - 1.0))
        await asyncio.sleep(latency / 2)
        now = asyncio.get_running_loop().time()
        wait = self.server.admit(now)
        answer = reply({"id": request.path}) if wait is None else self.server.refusal(wait, now)
        await asyncio.sleep(latency / 2)
        return answer

    async def get(self, key: int) -> int:
        """One call, with the transport's retries."""
        await self.transport.request("GET", f"/events/{key}")
        return key


async def _job(cell: Cell, body_wait: BodyWait) -> CellResult:
    loop = asyncio.get_running_loop()
    rng = random.Random(cell.seed)
    server = SimServer(cell.kind, cell.rate, cell.burst, cell.wait)
    server.epoch = wall_time() - loop.time()
    fails_at = None if cell.store_fails_after is None else loop.time() + cell.store_fails_after
    store = SharedStore(fails_at=fails_at) if cell.processes > 1 else None
    n = cell.job_keys()
    shares = [range(p, n, cell.processes) for p in range(cell.processes)]
    started = loop.time()
    ok = 0

    async def process(keys: Sequence[int]) -> None:
        nonlocal ok
        client = _Process(cell, server, random.Random(rng.random()), body_wait, store)
        async with client.transport:
            async for result in fetch_many(client.get, keys, concurrency=cell.concurrency):
                ok += result.ok

    await asyncio.gather(*(process(share) for share in shares))
    first = server.first_at if server.first_at is not None else started
    last = server.accepted_at[-1] if server.accepted_at else first
    return CellResult(
        cell,
        n,
        ok,
        server.requests,
        server.refused,
        last - first,
        loop.time() - started,
        server.capacity(first, last),
    )


def run_cell(cell: Cell, body_wait: BodyWait = body_retry_after) -> CellResult:
    """Run one cell on its own virtual clock (deterministic for a given seed)."""
    # The transport's backoff jitter draws from the random module: seed it for the run
    # (and give the caller's generator state back after).
    saved = random.getstate()
    random.seed(cell.seed)
    try:
        return run_virtual(_job, cell, body_wait, debug=False)  # dev mode: 5x slower
    finally:
        random.setstate(saved)


def run_matrix(cells: Iterable[Cell], body_wait: BodyWait = body_retry_after) -> list[CellResult]:
    """Run every cell."""
    return [run_cell(cell, body_wait) for cell in cells]


# --- the matrix ---------------------------------------------------------------------------


def default_matrix(seed: int = 0) -> list[Cell]:
    """The cells CI runs (over 200, under a minute): each server kind and wait form over
    rate x burst, then latency, concurrency, processes and configured limits."""
    rng = random.Random(seed)
    cells: list[Cell] = []
    grid = [(1, 1), (10, 1), (10, 10), (40, 4), (40, 40), (100, 10), (100, 100), (1000, 100)]
    for wait in WAIT_FORMS:
        for kind in ("token", "sliding", "fixed"):
            for rate, burst in grid:
                latency = rng.choice((0.001, 0.02, 0.05, 0.2))
                cells.append(
                    Cell(kind, rate, burst, wait, latency=latency, seed=rng.randrange(2**32))
                )
    for latency, concurrency in ((0.001, 1), (0.5, 500), (0.2, 10), (0.5, 5), (0.1, 200)):
        for wait in ("seconds", "body-exact", "none"):
            cells.append(
                Cell("token", 40, 40, wait, latency=latency, concurrency=concurrency, seed=seed)
            )
    for processes in (2, 4, 8):
        for wait in ("seconds", "body-rounded", "body-exact", "none"):
            cells.append(Cell("token", 40, 40, wait, processes=processes, seed=seed))
        cells.append(
            Cell("token", 40, 40, "seconds", processes=processes, rate_limit=40, rate_burst=40)
        )
    for rate, burst in ((40, 40), (100, 10), (1000, 1000), (5, 1)):
        for limit in (rate, 2 * rate):
            cells.append(
                Cell("token", rate, burst, "seconds", rate_limit=limit, rate_burst=burst, seed=seed)
            )
    # A known limit with no burst given, against every kind of server: paced a little under
    # it (KNOWN_MARGIN), since a schedule exactly at the limit met the network's jitter at
    # the edge of a burst of 1 or a window, a whole-second cool-down each time.
    # (Servers with small bursts: a burst the user did not give is unused by any client.)
    small: tuple[tuple[ServerKind, int], ...] = (("token", 1), ("sliding", 4), ("fixed", 4))
    for kind, burst in small:
        for wait in ("seconds", "body-exact", "none"):
            cells.append(
                Cell(kind, 40, burst, wait, rate_limit=40, seed=seed, tag="burst not given")
            )
    # A configured burst with the limit set a little high: after the first refusal the
    # burst's credit must come back only as the server refills it (a short exact wait
    # once let the whole burst out again, into an empty bucket: 87% refused, keys lost).
    for wait in ("body-exact", "none"):
        for rate, burst in ((40, 40), (100, 10)):
            for concurrency in (50, 100):
                cells.append(
                    Cell("token", rate, burst, wait, rate_limit=1.1 * rate, rate_burst=burst,
                         concurrency=concurrency, seed=seed, tag="limit 10% high")
                )  # fmt: skip
    cells.append(
        Cell("token", 40, 40, "body-exact", rate_limit=44, rate_burst=40, processes=4,
             concurrency=25, seed=seed, tag="limit 10% high")
    )  # fmt: skip
    # One request at a time against a small burst: an unpaced sequential client learned no
    # pace (too few acceptances an episode) and every other request was refused, for good.
    for rate, burst in ((50, 1), (10, 1), (50, 2)):
        for wait in ("seconds", "none", "body-exact"):
            cells.append(
                Cell("token", rate, burst, wait, latency=0.001, concurrency=1, seed=seed,
                     tag="sequential")
            )  # fmt: skip
    # A window closed for seconds (10 per 10 s, 100 a minute), the 429 naming no wait or
    # whole seconds: every refused retry while it was closed cut the pace again, to one
    # request per 20 s, and the keys behind it ran out of time.
    windows: tuple[ServerKind, ...] = ("fixed", "sliding")
    for window in windows:
        for wait in ("none", "seconds"):
            for per_second, size, keys in ((1.0, 10, 40), (100 / 60, 100, 200)):
                cells.append(
                    Cell(window, per_second, size, wait, concurrency=30, keys=keys, seed=seed,
                         tag="long window")
                )  # fmt: skip
    # Intervals' documented plans (intervals-current.md): Premium 100/minute burst 20,
    # Enterprise 1,000/minute burst 50, the wait in the body (epoch ms), for a minute's
    # worth of Premium and 20 s of Enterprise, from one request at a time to a crowd.
    for per_second, size, keys, plan in (
        (100 / 60, 20, 120, "Premium"),
        (1000 / 60, 50, 383, "Enterprise"),
    ):
        for wait in ("body-exact", "body-rounded"):
            for concurrency in (1, 10, 50):
                cells.append(
                    Cell("token", per_second, size, wait, latency=0.05,
                         concurrency=concurrency, keys=keys, seed=seed, tag=f"Intervals {plan}")
                )  # fmt: skip
    return cells


def family_summary(results: Sequence[CellResult]) -> list[dict[str, Any]]:
    """Per family: cells, how many meet their goal, the worst cap, efficiency and share."""
    families: dict[str, list[CellResult]] = {}
    for result in results:
        families.setdefault(result.cell.family, []).append(result)
    rows = []
    for family, members in families.items():
        rows.append(
            {
                "family": family,
                "cells": len(members),
                "met": sum(r.meets_goal for r in members),
                "min_cap": min(r.cell.cap()[0] for r in members),
                "min_efficiency": min(r.efficiency for r in members),
                "mean_efficiency": sum(r.efficiency for r in members) / len(members),
                "max_refused": max(r.refused_share for r in members),
            }
        )
    return rows


def format_table(results: Sequence[CellResult]) -> str:
    """The matrix as text: one line per cell, then the per-family summary."""
    lines = [f"{'cell':66} {'eff':>5} {'goal':>5} {'cap':>5} {'refused':>7} {'goal':>5}  ok"]
    for r in results:
        eff_goal, refused_goal = r.cell.goal()
        lines.append(
            f"{r.cell.label:66} {r.efficiency:5.2f} {eff_goal:5.2f} {r.cell.cap()[0]:5.2f} "
            f"{100 * r.refused_share:6.1f}% {100 * refused_goal:4.0f}%  "
            f"{'yes' if r.meets_goal else 'NO'}"
        )
    lines.append("")
    lines.append(f"{'family':44} {'met':>7} {'cap':>5} {'min eff':>7} {'mean':>5} {'refused':>7}")
    for row in family_summary(results):
        lines.append(
            f"{row['family']:44} {row['met']:3d}/{row['cells']:<3d} {row['min_cap']:5.2f} "
            f"{row['min_efficiency']:7.2f} {row['mean_efficiency']:5.2f} "
            f"{100 * row['max_refused']:6.1f}%"
        )
    return "\n".join(lines)


def plot_matrix(results: Sequence[CellResult], path: str) -> None:
    """Efficiency over rate x burst, one panel per wait form (token bucket, one process,
    unknown limit); needs matplotlib (the ``bench`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen: Callable[[CellResult], bool] = lambda r: (  # noqa: E731
        r.cell.processes == 1 and r.cell.rate_limit is None and r.cell.concurrency == 50
    )
    figure, grid = plt.subplots(2, 4, figsize=(13, 6.5), sharey=True)
    axes = list(grid.flat)
    axes[-1].axis("off")
    for axis, wait in zip(axes[: len(WAIT_FORMS)], WAIT_FORMS, strict=True):
        for kind, marker in (("token", "o"), ("sliding", "s"), ("fixed", "^")):
            points = [r for r in results if chosen(r) and r.cell.wait == wait]
            points = [r for r in points if r.cell.kind == kind]
            labels = [f"{r.cell.rate:g}/{r.cell.burst}" for r in points]
            axis.plot(labels, [r.efficiency for r in points], marker=marker, label=kind)
        axis.set_title(wait)
        axis.set_ylim(0, 1.05)
        axis.axhline(0.85, color="grey", linewidth=0.8, linestyle="--")
        axis.tick_params(axis="x", labelrotation=90, labelsize=7)
    for axis in (axes[0], axes[4]):
        axis.set_ylabel("efficiency")
    axes[0].legend(fontsize=7)
    figure.suptitle("Simulated efficiency by rate/s / burst: unknown limit, concurrency 50")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
