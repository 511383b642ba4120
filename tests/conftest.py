"""Shared fixtures: the anyio backend, and every started fake held to its API's description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.testing import FakeServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_violations: the test sends requests its fake's API description refuses"
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fakes_keep_to_their_descriptions(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """A request or response a started fake found not matching its API's description fails
    the test that caused it (clear ``server.violations`` or mark ``allow_violations`` when
    the mismatch is the point of the test)."""
    started: list[FakeServer] = []
    start = FakeServer.start

    async def recording_start(server: FakeServer) -> None:
        started.append(server)
        await start(server)

    monkeypatch.setattr(FakeServer, "start", recording_start)
    yield
    if request.node.get_closest_marker("allow_violations") is None:
        found = [f"{type(s).__name__}: {line}" for s in started for line in s.violations]
        assert not found, "requests or responses not matching the description:\n" + "\n".join(found)
