"""One real worker per other pool the integration supports, ``solo`` and ``threads``
(prefork, the default, runs in test_fleet and test_guide). A 429 beyond the call's
retries comes back after the server's wait; the clients are closed when the worker
stops, with nothing left unclosed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.celery_fleet import ThreadedFake, producer, run, workers
from common.testing import Fault


@pytest.mark.timeout(180)
@pytest.mark.parametrize("pool", ["solo", "threads"])
def test_pool_answers_requeues_a_429_and_closes_its_clients(
    pool: str, fake: ThreadedFake, env: dict[str, str], logs: Path
) -> None:
    ids = fake.ids[:10]
    # The call gives up on the first 429 (max_retries 0): the task is re-queued instead.
    env["EVENTSYNC_FLEET_OPTIONS"] = json.dumps({"max_retries": 0})
    fake.server.inject(Fault.http(429, {"Retry-After": "2"}), path=f"/events/{ids[0]}")
    with workers(1, env, logs, concurrency=2, pool=pool) as (worker,):
        answers = run(producer(env["CELERY_BROKER_URL"], env["CELERY_RESULT_BACKEND"]), ids)
        worker.stop()
        text = worker.text()
    assert [r["id"] for r in answers.results] == ids
    tries = [r for r in fake.server.requests if r.path.endswith(f"/events/{ids[0]}")]
    assert [r.status for r in tries] == [429, 200]
    assert tries[1].received_at - tries[0].received_at >= 1.9  # the server's wait, honoured
    assert "re-queued in 2.0 s" in text
    assert "closed 1 eventsync client(s)" in text
    assert "Unclosed" not in text and "ResourceWarning" not in text, text


@pytest.mark.timeout(180)
def test_a_worker_told_to_prefetch_more_still_reserves_one_task_a_process(
    fake: ThreadedFake, env: dict[str, str], logs: Path
) -> None:
    # The worker's command line (here its environment form) came after the app's
    # configuration: 8 tasks a process were reserved, and a live worker ran some twice.
    env["CELERY_WORKER_PREFETCH_MULTIPLIER"] = "8"
    with workers(1, env, logs, concurrency=2) as (worker,):
        app = producer(env["CELERY_BROKER_URL"], env["CELERY_RESULT_BACKEND"]).app
        stats: dict[str, Any] = {}
        for _ in range(20):
            stats = app.control.inspect(timeout=2.0).stats() or {}
            if stats:
                break
        worker.stop()
        text = worker.text()
    ((_, reported),) = stats.items()
    assert reported["prefetch_count"] == 2  # concurrency x 1 (was 16)
    assert "worker_prefetch_multiplier 8 replaced by 1" in text
