"""The common types' helpers: local_start never raises and never gives an instant that
cannot be compared with another."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common import provider

ZONES = sorted(available_timezones())


@settings(max_examples=500, deadline=None)
@given(
    st.dates(),
    st.none() | st.times(),
    st.none() | st.sampled_from(ZONES) | st.text(max_size=20),
)
def test_local_start_is_none_or_a_comparable_instant(
    day: dt.date, time: dt.time | None, zone: str | None
) -> None:
    start = provider.local_start(day, time, zone)
    if time is None or not zone or provider.zone_or_none(zone) is None:
        assert start is None
        return
    if start is None:  # only at the ends of the calendar
        assert day.year in (1, 9999)
        return
    assert (start.date(), start.time()) == (day, time.replace(tzinfo=None))
    assert start.tzinfo is not None
    assert start.astimezone(dt.timezone.utc).tzinfo is dt.timezone.utc
    bounds = [dt.datetime.min.replace(tzinfo=dt.timezone.utc), start]
    bounds.append(dt.datetime.max.replace(tzinfo=dt.timezone.utc))
    assert sorted(bounds)[1] is start  # comparable with any other aware instant


@pytest.mark.parametrize(
    ("day", "time", "zone"),
    [
        (dt.date(1, 1, 1), dt.time(0, 30), "Etc/GMT-14"),  # before 0001-01-01 00:00 UTC
        (dt.date(1, 1, 1), dt.time(0, 0), "Asia/Tokyo"),  # zoneinfo itself overflows
        (dt.date(9999, 12, 31), dt.time(23, 30), "America/New_York"),  # after 9999 UTC
    ],
)
def test_instants_beyond_datetime_are_unknown(day: dt.date, time: dt.time, zone: str) -> None:
    assert provider.local_start(day, time, zone) is None


def test_an_ordinary_start() -> None:
    start = provider.local_start(dt.date(2026, 3, 29), dt.time(9, 30), "Europe/London")
    assert start == dt.datetime(2026, 3, 29, 9, 30, tzinfo=ZoneInfo("Europe/London"))
    assert start is not None
    assert start.utcoffset() == dt.timedelta(hours=1)


@pytest.mark.parametrize(
    "zone", ["", "\x00", "a" * 5000, "\ud800", "/etc/passwd", "../x", "Europe"]
)
def test_hostile_zone_names_are_unknown(zone: str) -> None:
    assert provider.zone_or_none(zone) is None
    assert provider.local_start(dt.date(2026, 1, 1), dt.time(9), zone) is None
