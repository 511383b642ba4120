"""``eventsync events --format ics`` and ``--updated-since``: the command in subprocesses."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import icalendar

from common.testing import Fault

from .conftest import Fakes, Ran, eventsync


def uids(text: str) -> list[str]:
    return [str(v["UID"]) for v in icalendar.Calendar.from_ical(text).walk("VEVENT")]


def test_an_ics_feed_of_every_provider_parses_and_keeps_its_uids(fakes: Fakes) -> None:
    env = fakes.env()
    first = eventsync("events", "--format", "ics", "--calendar-name", "Club", env=env)
    assert first.code == 0, first.err
    assert first.out.startswith("BEGIN:VCALENDAR\n")  # (read with universal newlines)
    calendar = icalendar.Calendar.from_ical(first.out)
    assert str(calendar["X-WR-CALNAME"]) == "Club"
    listed = eventsync("events", "--format", "jsonl", env=env)
    records = [json.loads(line) for line in listed.out.splitlines()]
    assert sorted(uids(first.out)) == sorted(
        f"{r['provider']}-{r['id']}@eventsync" for r in records
    )
    again = eventsync("events", "--format", "ics", "--calendar-name", "Club", env=env)
    assert again.out == first.out  # same data, same bytes: a feed updates in place


def _served_then_rerun(fakes: Fakes, feed: Path, *faults: Fault) -> tuple[bytes, Ran]:
    """The feed written whole to ``feed``, then a run against ``faults``: (the first
    feed's bytes, the second run)."""
    argv = ("events", "--provider", "intervals", "--format", "ics", "--out", str(feed))
    first = eventsync(*argv, env=fakes.env())
    assert first.code == 0, first.err
    before = feed.read_bytes()
    assert before.startswith(b"BEGIN:VCALENDAR\r\n")  # the lines of RFC 5545
    assert before.count(b"BEGIN:VEVENT") == len(fakes.intervals.db.events)
    fakes.intervals.inject(*faults, method="GET", path="/events")
    return before, eventsync(*argv, env=fakes.env())


def test_a_failed_run_leaves_the_served_feed_as_it_was(fakes: Fakes, tmp_path: Path) -> None:
    feed = tmp_path / "club.ics"
    before, failed = _served_then_rerun(fakes, feed, *[Fault.http(500)] * 3)
    assert failed.code == 5, failed.err
    assert feed.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["club.ics"]  # no partial file left


def test_a_listing_that_fails_partway_leaves_the_served_feed_whole(
    fakes: Fakes, tmp_path: Path
) -> None:
    # A calendar app drops the events missing from a feed: exit 6, and the last whole feed
    # stays served (JSON lines and CSV are replaced with what was fetched, as exit 6 says).
    feed = tmp_path / "club.ics"
    before, partial = _served_then_rerun(fakes, feed, Fault.slow(0), *[Fault.http(500)] * 3)
    assert partial.code == 6, partial.err
    assert "left as it was" in partial.err
    assert feed.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["club.ics"]


def test_updated_since_narrows_ridewithgps_and_says_intervals_cannot(fakes: Fakes) -> None:
    env = fakes.env()
    everything = eventsync("events", "--provider", "rwgps", "--format", "jsonl", env=env)
    all_ids = [json.loads(line)["id"] for line in everything.out.splitlines()]
    rwgps = fakes.rwgps
    newest = [rwgps.db.event(i) for i in rwgps.db.listed[:3]]
    since = dt.datetime.fromisoformat(newest[-1]["updated_at"])  # type: ignore[index]
    sent = len(rwgps.requests)
    ran = eventsync(
        "events",
        "--provider",
        "rwgps",
        "--format",
        "jsonl",
        "--updated-since",
        since.isoformat(),
        env=env,
    )
    assert ran.code == 0, ran.err
    got = [json.loads(line)["id"] for line in ran.out.splitlines()]
    assert sorted(got) == sorted(str(e["id"]) for e in newest)  # type: ignore[index]
    assert len(got) < len(all_ids)
    assert len(rwgps.requests) - sent == 1  # the first page held them all

    both = eventsync("events", "--format", "jsonl", "--updated-since", "2026-05-01T00:00Z", env=env)
    assert both.code == 0, both.err
    assert "intervals events carry no update time" in both.err
    providers = {json.loads(line)["provider"] for line in both.out.splitlines()}
    assert "intervals" in providers


def test_updated_since_needs_an_offset() -> None:
    ran = eventsync("events", "--updated-since", "2026-05-01T00:00")
    assert ran.code == 2
    assert "offset" in ran.err
