"""Fixtures: the fake RideWithGPS over real loopback HTTP and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
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


def make_client(server: FakeRideWithGPS, **kwargs: Any) -> RideWithGPSClient:
    """A client for ``server``; the key pair unless other credentials are given."""
    if not {"access_token", "api_key", "auth_token"} & set(kwargs):
        kwargs.update(api_key=API_KEY, auth_token=AUTH_TOKEN)
    kwargs.setdefault("retry_policy", FAST)
    return RideWithGPSClient(base_url=server.url, **kwargs)


@pytest.fixture
async def fake() -> AsyncIterator[FakeRideWithGPS]:
    async with FakeRideWithGPS() as server:
        yield server


@pytest.fixture
async def client(fake: FakeRideWithGPS) -> AsyncIterator[RideWithGPSClient]:
    async with make_client(fake) as rw:
        yield rw
