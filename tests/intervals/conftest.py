"""Fixtures, in the shape both provider conftests share: ``fake(**options)`` starts a fake,
``client_for(server, **options)`` makes a client of it, and the ``server`` and ``client``
fixtures are the defaults. Every spec violation fails the test (see ``tests/conftest.py``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

import common
from intervals_async import IntervalsClient
from intervals_async.testing import FakeIntervals

KEY = "test-key"
FAST = common.RetryPolicy(backoff_base=0)

ClientFactory = Callable[..., IntervalsClient]
#: Seeded dates are relative to "today"; pinned here so tests may name dates (all of 2026).
TODAY = dt.date(2026, 4, 1)


@asynccontextmanager
async def fake(**options: Any) -> AsyncIterator[FakeIntervals]:
    """A started fake Intervals with ``options`` (seeded as of :data:`TODAY`)."""
    options.setdefault("today", TODAY)
    async with FakeIntervals(**options) as server:
        yield server


def client_for(server: FakeIntervals, **options: Any) -> IntervalsClient:
    """A client of ``server`` with the test key and no backoff sleeps."""
    options.setdefault("api_key", KEY)
    options.setdefault("retry_policy", FAST)
    return IntervalsClient(base_url=server.url, **options)


@pytest.fixture
async def server() -> AsyncIterator[FakeIntervals]:
    async with fake() as started:
        yield started


@pytest.fixture
async def client(server: FakeIntervals) -> AsyncIterator[IntervalsClient]:
    async with client_for(server) as opened:
        yield opened
