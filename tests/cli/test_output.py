"""Issue 14, "partial results are never silent" and "output fits": the command in subprocesses."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from common.testing import Fault
from intervals_async.testing import FakeIntervals

from .conftest import Fakes, Servers, eventsync, eventsync_in_terminal


def _big_event(fakes: Fakes) -> str:
    """The seeded Intervals event with more registrations than one listing returns (120)."""
    return max(
        fakes.intervals.db.registrations, key=lambda k: len(fakes.intervals.db.registrations[k])
    )


def test_values_not_fetched_are_null_not_zero_or_empty(fakes: Fakes) -> None:
    ran = eventsync("events", "--provider", "intervals", "--format", "jsonl", env=fakes.env())
    assert ran.code == 0, ran.err
    records = [json.loads(line) for line in ran.out.splitlines()]
    assert len(records) == len(fakes.intervals.db.events)
    for record in records:
        assert record["participants"] is None
        assert record["distances_m"] is None
        assert record["participants_complete"] is None
    ran = eventsync("events", "--provider", "rwgps", "--format", "csv", env=fakes.env())
    assert ran.code == 0, ran.err
    rows = list(csv.DictReader(io.StringIO(ran.out)))
    assert rows and all(r["participants"] == "" and r["distances_m"] == "" for r in rows)
    assert all(r["participants_complete"] == "" for r in rows)


def test_a_failed_event_and_a_cut_listing_are_written_marked_counted_and_exit_6(
    fakes: Fakes,
) -> None:
    big = _big_event(fakes)
    failing = next(e for e in fakes.intervals.db.events if e != big)
    fakes.intervals.inject(*[Fault.http(500)] * 3, path=f"/events/{failing}")
    ran = eventsync(
        "events", "--provider", "intervals", "--participants", "--format", "csv", env=fakes.env()
    )
    assert ran.code == 6, ran.err
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(ran.out))}
    assert len(rows) == len(fakes.intervals.db.events)  # everything else is still written
    assert rows[failing]["participants"] == ""  # unknown, not 0
    assert rows[failing]["participants_complete"] == "false"
    assert "500" in rows[failing]["error"]
    assert rows[big]["participants"] == "100"
    assert rows[big]["participants_complete"] == "false"
    others = [r for k, r in rows.items() if k not in (big, failing)]
    assert all(r["participants_complete"] == "true" and r["error"] == "" for r in others)
    # each problem is named on stderr, and counted in the last line
    assert any(failing in line and "500" in line for line in ran.err_lines)
    assert any(big in line and "cut short" in line for line in ran.err_lines)
    assert ran.err_lines[-1].startswith("eventsync: wrote 300 events")
    assert "1 failed" in ran.err_lines[-1]
    assert "1 with participants possibly cut short" in ran.err_lines[-1]


def test_jsonl_marks_the_cut_listing_per_event(fakes: Fakes) -> None:
    big = _big_event(fakes)
    day = fakes.intervals.db.events[big]["date"]
    ran = eventsync(
        "events", "--provider", "intervals", "--from", day, "--to", day, "--participants",
        "--format", "jsonl", env=fakes.env(),
    )  # fmt: skip
    assert ran.code == 6, ran.err
    records = {r["id"]: r for r in map(json.loads, ran.out.splitlines())}
    assert len(records[big]["participants"]) == 100
    assert records[big]["participants_complete"] is False
    assert all(r["participants_complete"] for k, r in records.items() if k != big)


def test_participants_of_a_cut_listing_warn_and_exit_6(fakes: Fakes) -> None:
    big = _big_event(fakes)
    ran = eventsync("participants", "intervals", big, env=fakes.env())
    assert ran.code == 6, ran.err
    assert len(ran.out.splitlines()) == 100
    assert any(big in line and "cut short" in line for line in ran.err_lines)


def test_participants_you_cannot_see_are_an_error_not_silence(fakes: Fakes) -> None:
    ran = eventsync("participants", "rwgps", "101", env=fakes.env())
    assert ran.code == 3
    assert ran.out == ""
    assert ran.err_lines == [ran.err_lines[0]] and ran.err.startswith("eventsync: error:")
    assert "101" in ran.err and "owner" in ran.err


def test_events_not_yours_have_unknown_participants_not_none(fakes: Fakes) -> None:
    ran = eventsync(
        "events", "--provider", "ridewithgps", "--participants", "--format", "jsonl",
        env=fakes.env(),
    )  # fmt: skip
    assert ran.code == 0, ran.err
    records = {r["id"]: r for r in map(json.loads, ran.out.splitlines())}
    assert records["101"]["participants"] is None
    assert records["101"]["participants_complete"] is False
    assert isinstance(records["1000000"]["participants"], list)
    assert "not shown to you" in ran.err and "ridewithgps event 101" in ran.err


@pytest.mark.parametrize("columns", [60, 100])
def test_table_fits_the_terminal_and_drops_empty_columns(fakes: Fakes, columns: int) -> None:
    first = next(iter(fakes.intervals.db.events))
    original = fakes.intervals.db.events[first]["name"]
    long_name = "The very long name of a club's Sunday morning long run " * 4
    fakes.intervals.db.events[first]["name"] = long_name
    try:
        ran = eventsync_in_terminal(
            "events", "--provider", "intervals", env=fakes.env(), columns=columns
        )
    finally:
        fakes.intervals.db.events[first]["name"] = original
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert len(lines) > 300
    assert max(len(line) for line in lines) <= columns
    row = next(line for line in lines if first in line)
    assert "The very long name" in row and "…" in row  # truncated, not wrapped
    header = lines[0]
    assert "name" in header and "km" not in header and "participants" not in header


def test_table_with_participants_shows_counts(fakes: Fakes) -> None:
    ran = eventsync_in_terminal(
        "events", "--provider", "rwgps", "--participants", env=fakes.env(), columns=120
    )
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert lines[0].split()[-1] == "people"
    rows = {line.split()[0]: line for line in lines[2:]}
    assert rows["1000000"].split()[-1] == "5"  # five people on the first seeded event
    assert rows["101"].split()[-1] == "?"  # not shown to you: unknown, not 0
    assert "km" in lines[0]  # distances come with the details, and 120 columns hold them


def test_table_to_a_file_or_pipe_is_not_wrapped(fakes: Fakes, tmp_path: object) -> None:
    ran = eventsync("events", "--provider", "intervals", env=fakes.env())
    assert ran.code == 0, ran.err
    rows = [line for line in ran.out.splitlines() if "intervals" in line]
    assert len(rows) == len(fakes.intervals.db.events)  # one line per event: nothing wrapped


def test_version_and_help_name_every_variable_and_default() -> None:
    ran = eventsync("--version")
    assert ran.code == 0 and ran.out.startswith("eventsync 0.")
    ran = eventsync("--help")
    assert ran.code == 0
    for variable in (
        "INTERVALS_API_KEY", "INTERVALS_BASE_URL", "RWGPS_ACCESS_TOKEN", "RWGPS_API_KEY",
        "RWGPS_AUTH_TOKEN", "RWGPS_BASE_URL", "EVENTSYNC_RATE_STORE",
    ):  # fmt: skip
        assert variable in ran.out
    assert "6   partial" in ran.out and "130 interrupted" in ran.out
    ran = eventsync("events", "--help")
    assert "(default: all" in ran.out and "(default: table)" in ran.out
    assert "INTERVALS_BASE_URL" in ran.out


def test_every_stderr_line_is_in_one_style(fakes: Fakes) -> None:
    """Library log records, truncation warnings and the tool's own lines look alike."""
    big = _big_event(fakes)
    day = fakes.intervals.db.events[big]["date"]
    fakes.intervals.inject(Fault.http(403), path="/series")  # the library logs a warning
    ran = eventsync("events", "--from", day, "--participants", "--format", "jsonl", env=fakes.env())
    assert ran.code == 6
    kinds = [re.match(r"eventsync: (warning:|wrote) ", line) for line in ran.err_lines]
    assert all(kinds), ran.err
    assert any("timezones unavailable" in line for line in ran.err_lines)  # from logging
    assert any(big in line for line in ran.err_lines)  # from warnings.warn, tied to its event
    assert ran.err_lines[-1].startswith("eventsync: wrote ")  # the tool's own summary


def test_a_listing_cut_short_counts_and_exits_6() -> None:
    """101 events on one day: Intervals returns 100 and cannot split a day any further."""
    crowded = [
        {"name": f"Parkrun {n}", "slug": f"parkrun-{n}", "type": "runClub", "date": "2026-06-06"}
        for n in range(101)
    ]
    fake = FakeIntervals(validate=False, events=crowded)
    with Servers(fake):
        env = {"INTERVALS_API_KEY": "test-key", "INTERVALS_BASE_URL": fake.url}
        ran = eventsync("events", "--provider", "intervals", "--format", "jsonl", env=env)
    assert ran.code == 6, ran.err
    assert len(ran.out.splitlines()) == 100  # what came is written
    assert any("2026-06-06" in line and "warning" in line for line in ran.err_lines)
    assert "1 listing(s) possibly cut short" in ran.err_lines[-1]


def test_every_format_orders_a_plug_ins_aware_times_beside_naive_ones() -> None:
    # (a plug-in may give an aware start_time; comparing it with a naive one raised a bare
    # TypeError, a traceback from the command line)
    import datetime as dt

    import common
    from common._cli._output import Outcome, by_start

    day = dt.date(2026, 9, 13)
    aware = common.Event("p", "1", "A", day, start_time=dt.time(9, tzinfo=dt.timezone.utc))
    naive = common.Event("p", "2", "B", day, start_time=dt.time(10))
    ordered = sorted([Outcome(naive), Outcome(aware)], key=by_start)
    assert [outcome.event.id for outcome in ordered] == ["1", "2"]
