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


def _served_then_rerun(
    fakes: Fakes, feed: Path, *faults: Fault, provider: str = "intervals"
) -> tuple[bytes, Ran]:
    """The feed written whole to ``feed``, then a run against ``faults`` (on the
    provider's listing): (the first feed's bytes, the second run)."""
    argv = ("events", "--provider", provider, "--format", "ics", "--out", str(feed))
    first = eventsync(*argv, env=fakes.env())
    assert first.code == 0, first.err
    before = feed.read_bytes()
    assert before.startswith(b"BEGIN:VCALENDAR\r\n")  # the lines of RFC 5545
    if provider == "intervals":
        assert before.count(b"BEGIN:VEVENT") == len(fakes.intervals.db.events)
        fakes.intervals.inject(*faults, method="GET", path="/events")
    else:
        fakes.rwgps.inject(*faults, method="GET", path="/api/v1/events.json")
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


def test_a_listing_cut_short_leaves_the_served_feed_whole(fakes: Fakes, tmp_path: Path) -> None:
    # A listing that ends short of its record_count (a TruncationWarning, not a failure)
    # replaced the whole feed with the part read: a calendar app then dropped the rest.
    feed = tmp_path / "club.ics"
    short = {
        "events": [{"id": 1, "name": "Only one"}],
        "meta": {"pagination": {"record_count": 99, "page_count": 1, "next_page_url": None}},
    }
    before, cut = _served_then_rerun(
        fakes, feed, Fault.raw(json.dumps(short).encode()), provider="rwgps"
    )
    assert cut.code == 6, cut.err
    assert "1 of the 99 events" in cut.err
    assert "left as it was: a listing may be cut short" in cut.err
    assert feed.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["club.ics"]


def test_an_event_a_source_skips_is_counted_and_exit_6(fakes: Fakes, tmp_path: Path) -> None:
    # An event the source cannot read as one (a date of "TBD") was a warning line, then
    # "wrote 1 event" and exit 0: nothing said that the export lacked an event.
    listing = {
        "data": [
            {"_id": "ev1", "name": "Dated", "slug": "dated", "type": "race",
             "date": "2027-05-01", "organizationId": "o1"},
            {"_id": "ev2", "name": "Undated", "slug": "undated", "type": "race",
             "date": "TBD", "organizationId": "o1"},
        ]
    }  # fmt: skip
    feed = tmp_path / "club.ics"
    fakes.intervals.inject(Fault.raw(json.dumps(listing).encode()), method="GET", path="/events")
    argv = ("events", "--provider", "intervals", "--format", "ics", "--out", str(feed))
    ran = eventsync(*argv, env=fakes.env())
    assert ran.code == 6, ran.err
    assert ran.err_lines[-1].startswith("eventsync: wrote 1 event")
    assert "1 skipped (not readable as events)" in ran.err_lines[-1]
    # the feed is written: an event with no date can be in no feed, and keeping the old
    # one would keep it from ever changing again
    assert uids(feed.read_text()) == ["intervals-ev1@eventsync"]


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
