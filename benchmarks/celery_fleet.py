"""The fleet of figure 7 through Celery, shared by the benchmark row and ``tests/celery``.

* :class:`ThreadedFake`: the Intervals fake behind a token bucket, served by a thread of
  this process (so its request log can be read here).
* :func:`workers`: real ``celery worker`` processes on this module's :data:`app`, each in
  its own process group, always killed with their pool processes on exit.
* :func:`producer`: the tasks as a producer sends them (an app on the given broker).
* :func:`run`: send every id, wait for every answer; :func:`figure_rows`: the benchmark rows.

This module is also the workers' app (``celery -A benchmarks.celery_fleet worker``):
broker, result backend and rate budget come from ``$CELERY_BROKER_URL``,
``$CELERY_RESULT_BACKEND`` and ``$EVENTSYNC_RATE_STORE``, the client from
``$INTERVALS_API_KEY`` / ``$INTERVALS_BASE_URL``; ``$EVENTSYNC_FLEET_OPTIONS`` holds
client options as JSON (e.g. ``{"rate_limit": 40}``; unset: the defaults, the pace
learned from the 429s).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
from celery import Celery

from common.celery import EventsyncTasks
from common.testing import FakeServer
from intervals_async.testing import FakeIntervals

__all__ = ["ThreadedFake", "Worker", "app", "figure_rows", "producer", "run", "tasks", "workers"]

ROOT = Path(__file__).resolve().parent.parent
KEY = "test-key"

#: The workers' app; its broker and backend come from the environment (see above).
app = Celery("eventsync-fleet")
tasks = EventsyncTasks(app, **json.loads(os.environ.get("EVENTSYNC_FLEET_OPTIONS") or "{}"))


class ThreadedFake:
    """``FakeIntervals`` (``events`` events, no validation) limited to ``rps`` (``burst``),
    or another ``server``, served by a thread with its own event loop; ``with`` starts
    and stops it."""

    def __init__(
        self,
        events: int = 300,
        rps: float | None = None,
        burst: int = 1,
        style: str = "header",
        *,
        server: FakeServer | None = None,
    ):
        self.server: Any = server or FakeIntervals(validate=False, events=events)
        self._limit = (rps, burst, "body" if style == "body" else "header")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake", daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ids(self) -> list[str]:
        """The seeded events' ids."""
        return list(self.server.db.events)

    def answered(self, event_id: str) -> int:
        """How many times ``GET /events/{event_id}`` was answered 200."""
        path = f"/events/{event_id}"
        return sum(r.path.endswith(path) and r.status == 200 for r in list(self.server.requests))

    def __enter__(self) -> ThreadedFake:
        self._thread.start()

        async def start() -> None:
            rps, burst, style = self._limit
            if rps is not None:  # the bucket runs on the server's loop clock
                self.server.rate_limit(rps, burst, style)
            await self.server.__aenter__()

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(30)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            stop = self.server.__aexit__(None, None, None)
            asyncio.run_coroutine_threadsafe(stop, self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop.close()


@attrs.define
class Worker:
    """One ``celery worker`` (a process group: the worker and its pool processes)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole group (the pool processes too); gone already is fine."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def stop(self, grace: float = 20.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL to whatever of the group is left."""
        if self.process.poll() is None:
            self.kill(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        self.kill(signal.SIGKILL)  # pool processes outliving their parent, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


@contextlib.contextmanager
def workers(
    count: int,
    env: dict[str, str],
    logs: Path,
    *,
    concurrency: int = 2,
    pool: str = "prefork",
    app_module: str = "benchmarks.celery_fleet",
    cwd: Path = ROOT,
    ready_within: float = 90.0,
) -> Iterator[list[Worker]]:
    """``count`` workers started together, yielded once each says it is ready."""
    started: list[Worker] = []
    try:
        for number in range(count):
            log = logs / f"worker{number}.log"
            command = [sys.executable, "-m", "celery", "-A", app_module, "worker"]
            command += ["--pool", pool, "--concurrency", str(concurrency)]
            command += ["--hostname", f"w{number}@%h", "--loglevel", "INFO"]
            command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
            with open(log, "wb") as out:
                process = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env={**os.environ, **env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own group: killed with its pool processes
                )
            started.append(Worker(f"w{number}", process, log))
        deadline = time.monotonic() + ready_within
        for worker in started:
            while " ready." not in worker.text():
                if worker.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker {worker.name} did not start:\n{worker.text()}")
                time.sleep(0.1)
        yield started
    finally:
        for worker in started:
            worker.stop()


def producer(broker: str, backend: str) -> EventsyncTasks:
    """The tasks on an app that only sends them (what a producer script holds)."""
    return EventsyncTasks(Celery("eventsync-producer", broker=broker, backend=backend))


@attrs.frozen
class Answers:
    """Every id sent and answered: the results in order, and when."""

    results: list[Any]
    seconds: float
    last_done: dt.datetime


def run(
    sender: EventsyncTasks, ids: Sequence[str], *, timeout: float = 170.0, on_sent: Any = None
) -> Answers:
    """Send ``get_event("intervals", id)`` for each id; wait for all (``timeout`` in total).

    ``on_sent`` (optional) is called once everything is queued (a test kills a worker there).
    """
    started = time.monotonic()
    pending = [sender.get_event.delay("intervals", event_id) for event_id in ids]
    if on_sent is not None:
        on_sent()
    deadline = started + timeout
    try:
        results = [r.get(timeout=max(0.1, deadline - time.monotonic())) for r in pending]
        seconds = time.monotonic() - started
        last_done = max(r.date_done for r in pending)
    finally:
        for r in pending:
            r.forget()
    return Answers(results, seconds, last_done)


def environment(fake_url: str, redis_url: str) -> dict[str, str]:
    """Broker, result backend and rate budget in three databases of one Redis; the client."""
    base = redis_url.rsplit("/", 1)[0]
    return {
        "CELERY_BROKER_URL": f"{base}/0",
        "CELERY_RESULT_BACKEND": f"{base}/1",
        "EVENTSYNC_RATE_STORE": f"{base}/2",
        "INTERVALS_API_KEY": KEY,
        "INTERVALS_BASE_URL": fake_url,
    }


def figure_rows(processes: int, keys: int, rps: float = 40.0) -> list[Any]:
    """Figure 7's fleet through Celery: the fleet's ``processes`` x ``keys`` get_event
    calls as that many tasks, on ``processes / 2`` workers x 2, against ``rps`` (burst rps).

    A task is the CLI's ``event`` (the event and its registrations: two requests, plus the
    series once per process), so the ideal time is the requests answered 200 / ``rps``.
    """
    import tempfile

    from .rate import Run, _pair, redis_server

    rows: list[Any] = []
    with redis_server() as url, tempfile.TemporaryDirectory() as logs:
        if url is None:
            return rows  # redis-server missing: the row cannot run
        for label, limit, eff_goal, refused_goal in (
            # The fleet's goals, efficiency a little lower: a task costs broker round trips.
            ("rate_store, rate_limit=40 rate_burst=40", rps, 0.85, 0.01),
            ("rate_store, no rate_limit", None, 0.80, 0.10),
        ):
            with ThreadedFake(300, rps, int(rps), "header") as fake:
                env = environment(fake.url, url)
                if limit is not None:
                    options = {"rate_limit": limit, "rate_burst": int(rps)}  # the server's own
                    env["EVENTSYNC_FLEET_OPTIONS"] = json.dumps(options)
                ids = fake.ids[:keys] * processes
                with workers(max(1, processes // 2), env, Path(logs)):
                    sender = producer(env["CELERY_BROKER_URL"], env["CELERY_RESULT_BACKEND"])
                    answers = run(sender, ids)
                statuses = [r.status for r in fake.server.requests]
                answered = statuses.count(200)
                total = Run(answered, answers.seconds, len(statuses), statuses.count(429), 0)
                _flush(url)
            title = f"7 celery {processes} processes x {len(ids)} tasks, {label}"
            details = {**total.as_dict(), "tasks": len(ids), "rate_limit": limit}
            rows += _pair(title, total, rps, eff_goal, refused_goal, details)
    return rows


def _flush(url: str) -> None:
    """Forget the learned budget and the queues between two runs."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()
