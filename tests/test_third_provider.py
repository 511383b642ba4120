"""Adding a provider without touching ``common``: ClubHub, through the registry, the bulk
helpers and the command line (a real subprocess that finds it by its entry point)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

import common
from common.provider import Registry, SourceOptions
from intervals_async.testing import FakeIntervals

from .cli.conftest import ROOT, Servers, eventsync
from .third_provider import PLUGIN, TOKEN, ClubHubSource, FakeClubHub

pytestmark = pytest.mark.anyio


def install_entry_point(where: Path) -> dict[str, str]:
    """What ``pip install clubhub-provider`` would leave behind: a dist-info with the entry point.

    Returns the environment that puts it on the path of a subprocess.
    """
    info = where / "clubhub_provider-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: clubhub-provider\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[eventsync.providers]\nclubhub = tests.third_provider:PLUGIN\n"
    )
    return {"PYTHONPATH": f"{where}:{ROOT}"}


def test_common_never_names_the_third_provider() -> None:
    for path in (ROOT / "common").rglob("*.py"):
        assert "clubhub" not in path.read_text().lower(), path


async def test_registered_by_hand_it_runs_through_merge_events_and_fetch_many() -> None:
    registry = Registry.discover()
    registry.add(PLUGIN)
    assert [p.name for p in registry] == ["intervals", "ridewithgps", "clubhub"]
    async with AsyncExitStack() as stack:
        club = await stack.enter_async_context(FakeClubHub())
        intervals = await stack.enter_async_context(FakeIntervals(validate=False, events=20))
        options = {"clubhub": club.url, "intervals": intervals.url}
        sources = []
        for name, url in options.items():
            plugin = registry.get(name)
            with pytest.MonkeyPatch.context() as env:
                env.setenv("CLUBHUB_TOKEN", TOKEN)
                env.setenv("INTERVALS_API_KEY", "test-key")
                source = await stack.enter_async_context(
                    plugin.open_source(SourceOptions(base_url=url))
                )
            sources.append(source)
        assert isinstance(sources[0], ClubHubSource)
        assert isinstance(sources[0], common.EventSource)
        merged = [e async for e in common.merge_events(*sources, date_from=dt.date(2026, 6, 2))]
        clubhub = [e for e in merged if e.provider == "clubhub"]
        assert sorted(e.id for e in clubhub) == ["2", "3", "4", "5"]
        assert len(merged) > len(clubhub)  # Intervals events came through the same stream
        results = {
            r.key.id: r
            async for r in common.fetch_many(
                lambda e: sources[0].get_event(e.id), clubhub, concurrency=4
            )
        }
        assert all(r.ok for r in results.values())
        assert len(results["4"].unwrap().participants) == 4


@pytest.fixture(scope="module")
def club() -> Iterator[FakeClubHub]:
    fake = FakeClubHub()
    with Servers(fake):
        yield fake


def test_the_command_finds_it_by_its_entry_point(club: FakeClubHub, tmp_path: Path) -> None:
    env = {
        **install_entry_point(tmp_path),
        "CLUBHUB_TOKEN": TOKEN,
        "CLUBHUB_BASE_URL": club.url,
    }
    ran = eventsync("providers", env=env)
    assert ran.code == 0, ran.err
    assert "clubhub: ClubHub" in ran.out and "$CLUBHUB_TOKEN" in ran.out
    ran = eventsync("--help", env=env)
    assert "CLUBHUB_BASE_URL" in ran.out and "ClubHub" in ran.out

    # every provider: the two built-ins have no credentials here and are skipped, loudly
    ran = eventsync("events", "--participants", "--format", "jsonl", env=env)
    assert ran.code == 0, ran.err
    assert "Intervals skipped" in ran.err and "RideWithGPS skipped" in ran.err
    records = {r["id"]: r for r in map(json.loads, ran.out.splitlines())}
    assert sorted(records) == ["1", "2", "3", "4", "5"]
    assert records["4"]["participants_complete"] is True
    assert len(records["4"]["participants"]) == 4
    assert records["3"]["participants"] is None  # private: unknown, not none
    assert "clubhub event 3" in ran.err

    ran = eventsync("participants", "clubhub", "2", env=env)
    assert ran.code == 0, ran.err
    assert [json.loads(line)["name"] for line in ran.out.splitlines()] == ["member 0", "member 1"]
    ran = eventsync("participants", "clubhub", "3", env=env)
    assert ran.code == 3 and "ClubHub does not show the participants of event 3" in ran.err
    ran = eventsync("event", "clubhub", "9", env=env)
    assert ran.code == 4, ran.err
    assert "no such club night" in ran.err  # its own error shape, read by its own parser
    assert [r.path for r in club.requests].count("/events") >= 3  # paged, 2 a page

    ran = eventsync("events", "--provider", "clubhub", env={**env, "CLUBHUB_TOKEN": ""})
    assert ran.code == 3 and "set CLUBHUB_TOKEN" in ran.err


def test_the_demo_runs_its_fake_too(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    ran = eventsync("demo", "--out", str(out), env=install_entry_point(tmp_path))
    assert ran.code == 0, ran.err
    providers = {json.loads(line)["provider"] for line in out.read_text().splitlines()}
    assert providers == {"intervals", "ridewithgps", "clubhub"}
