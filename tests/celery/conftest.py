"""Fixtures of the Celery tests: a real ``redis-server`` (broker, result backend and rate
budget in databases 0, 1 and 2) and the Intervals fake served by a thread of this process.

Celery comes with the ``dev`` extra (``celery[redis]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.celery_fleet import ThreadedFake, environment
from tests.rate.conftest import RedisServer, redis_server  # noqa: F401

#: The fake's limit: every test's workers share it through the budget in Redis.
RPS = 40.0


@pytest.fixture
def fake() -> Iterator[ThreadedFake]:
    """400 events behind a token bucket of RPS per second (burst RPS), 429 with Retry-After."""
    with ThreadedFake(400, RPS, int(RPS), "header") as server:
        yield server


@pytest.fixture
def env(fake: ThreadedFake, redis_server: RedisServer) -> dict[str, str]:  # noqa: F811
    """The workers' environment: the three Redis databases and the client's variables."""
    return environment(fake.url, redis_server.url)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path
