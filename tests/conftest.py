"""Shared fixtures: the anyio backend, and every started fake held to its API's description."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from common.testing import FakeServer

#: ``python3 tasks.py test`` (CI's command) sets ``HYPOTHESIS_PROFILE=ci``: every property
#: test runs the examples that its own code and hypothesis' version fix, so a run passes or
#: fails as the one before it did (a rare example found by chance turned one run red and
#: not the others: the policy-space test, 2026-12-05). Plain ``pytest`` keeps drawing new
#: examples, and replays from ``.hypothesis/`` the failures it found.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_violations: the test sends requests its fake's API description refuses"
    )
    # Under ``-n N --dist loadfile`` xdist hands out the files with the most tests first:
    # the Celery fleet's (three tests, two minutes, most of it a visibility timeout waited
    # out) then started near the end and ran alone after every other file was done (a
    # worker idle ~100 s). Files go in collection order instead, the long ones first
    # (pytest_collection_modifyitems below).
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def _allowed_long(item: pytest.Item) -> bool:
    """Whether the test may run past the suite's default timeout (a long-running file)."""
    marker = item.get_closest_marker("timeout")  # pytest-timeout's (the dev extra)
    if marker is None or not marker.args:
        return False
    return float(marker.args[0]) > float(item.config.getini("timeout") or 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of a test allowed more than the default timeout run first (each file's
    tests still in their order): a worker of ``--dist loadfile`` starts on them while
    the other takes the many short files, and neither waits for the other at the end."""
    long_files = {item.path for item in items if _allowed_long(item)}
    items.sort(key=lambda item: item.path not in long_files)


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
