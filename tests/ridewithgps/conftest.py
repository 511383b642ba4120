"""Fixtures, in the shape both provider conftests share: ``fake(**options)`` starts a fake,
``client_for(server, **options)`` makes a client of it, and the ``server`` and ``client``
fixtures are the defaults. Every request not matching RideWithGPS' OpenAPI description fails
the test (see ``tests/conftest.py``). Older names kept: the ``fake`` fixture (= ``server``)
and ``make_client`` (= ``client_for``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import common
from ridewithgps_async import RideWithGPSClient
from ridewithgps_async.testing import FakeRideWithGPS

API_KEY = "test-api-key"
AUTH_TOKEN = "test-auth-token"
ACCESS_TOKEN = "test-access-token"
#: No backoff sleeps: retry tests stay fast.
FAST = common.RetryPolicy(backoff_base=0)
ENV_NAMES = ("RWGPS_ACCESS_TOKEN", "RWGPS_API_KEY", "RWGPS_AUTH_TOKEN")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own credentials never leak into a test."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@asynccontextmanager
async def fake(**options: Any) -> AsyncIterator[FakeRideWithGPS]:
    """A started fake RideWithGPS with ``options``."""
    async with FakeRideWithGPS(**options) as server:
        yield server


def client_for(server: FakeRideWithGPS, **options: Any) -> RideWithGPSClient:
    """A client of ``server``: the key pair unless other credentials are given, no backoff."""
    if not {"access_token", "api_key", "auth_token"} & set(options):
        options.update(api_key=API_KEY, auth_token=AUTH_TOKEN)
    options.setdefault("retry_policy", FAST)
    return RideWithGPSClient(base_url=server.url, **options)


make_client = client_for


@pytest.fixture
async def server() -> AsyncIterator[FakeRideWithGPS]:
    async with fake() as started:
        yield started


@pytest.fixture(name="fake")
def _fake_fixture(server: FakeRideWithGPS) -> FakeRideWithGPS:
    return server


@pytest.fixture
async def client(server: FakeRideWithGPS) -> AsyncIterator[RideWithGPSClient]:
    async with client_for(server) as opened:
        yield opened
