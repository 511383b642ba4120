"""Calendars people subscribe to: :func:`to_ics`, common events as one iCalendar document.

Built on the ``icalendar`` library (the ``ics`` extra), imported only when called, so
``import common`` works without it. The output is a pure function of the events: the same
events give the same bytes, which is what lets a feed be regenerated every hour and served
with a stable ETag, and what lets a subscribed calendar update an event in place (by its
UID) instead of duplicating it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import re
from collections.abc import Iterable
from typing import Any

from ._errors import InvalidRequestError
from ._types import Event, zone_or_none

__all__ = ["ICS_EPOCH", "ics_uid", "to_ics"]

#: The DTSTAMP of an event whose provider gives no last-update time: a fixed instant, so two
#: runs over the same events give the same bytes (RFC 5545 requires some DTSTAMP).
ICS_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_PRODID = "-//eventsync//eventsync calendar feed//EN"
_INSTALL_HINT = "common.to_ics needs the icalendar library: pip install 'eventsync[ics]'"


def ics_uid(event: Event) -> str:
    """The event's UID, ``<provider>-<id>@eventsync``: the same event, the same UID, in every
    feed and every run, and another event another UID. ``%`` and what iCalendar text may
    not hold are written ``%XX`` (``-`` too in the provider's name: ``club-x`` and id
    ``1`` must not be ``club`` and id ``x-1``), so the built-in names and usual ids are
    written as they are."""
    provider = event.provider.value if isinstance(event.provider, enum.Enum) else event.provider
    return f"{_PROVIDER_ESCAPED.sub(_hex, provider)}-{_ID_ESCAPED.sub(_hex, event.id)}@eventsync"


_ID_ESCAPED = re.compile("[%\x00-\x1f\x7f\ud800-\udfff]")
_PROVIDER_ESCAPED = re.compile("[-%\x00-\x1f\x7f\ud800-\udfff]")


def _hex(match: re.Match[str]) -> str:
    return f"%{ord(match.group()):02X}"


def to_ics(events: Iterable[Event], *, name: str | None = None) -> str:
    """An iCalendar (RFC 5545) document with one VEVENT per event, as text (CRLF lines).

    * ``UID`` is :func:`ics_uid` (``intervals-<id>@eventsync``): stable, so a calendar
      subscribed to the document updates an event in place. An event given twice appears once.
    * An event with a start time starts at that time in its ``timezone`` (``TZID``, with a
      ``VTIMEZONE`` when the installed icalendar can write one), or in UTC when only an aware
      ``starts_at`` without a zone name is known. An event whose timezone is unknown (an
      Intervals event without a series) is written in UTC, as the contract says: its wall-clock
      time read as UTC, since no zone is known to convert from (the event's ``raw`` keeps
      what the provider said). An event without a start time is all-day (``VALUE=DATE``; the
      end date is inclusive in :class:`common.Event` and exclusive in iCalendar, so one day is
      added).
    * ``LOCATION`` joins the place name, locality, region and country; ``GEO`` is the
      coordinates; ``DESCRIPTION`` the description (and the registration link when it is not
      the ``URL``); ``URL`` the event's page, else its registration page.
    * ``DTSTAMP`` (and ``LAST-MODIFIED``) is the provider's last update of the event when it
      tells one (RideWithGPS ``updated_at``), else :data:`ICS_EPOCH`: the output depends on
      the events only, so two runs over the same data give the same bytes.
    * VEVENTs are ordered by start, then UID, whatever the order of ``events``.

    ``name`` names the calendar (``NAME`` and ``X-WR-CALNAME``, which calendar apps show).
    Raises :class:`common.InvalidRequestError` naming the ``ics`` extra when icalendar is
    not installed.

    ::

        from datetime import date
        import common

        event = common.Event(provider="intervals", id="ev_71a2", name="Canal 10K",
                             start_date=date(2026, 9, 13))
        feed = common.to_ics([event], name="Liffey Striders")
        assert "UID:intervals-ev_71a2@eventsync" in feed
    """
    try:
        import icalendar
    except ImportError:
        raise InvalidRequestError(_INSTALL_HINT, field="icalendar") from None
    if name is not None and not isinstance(name, str):
        raise InvalidRequestError(f"name must be a string, got {type(name).__name__}", field="name")
    unique: dict[str, Event] = {}
    given: Iterable[object] = events if isinstance(events, Iterable) else [events]
    for event in given:
        if not isinstance(event, Event):
            raise InvalidRequestError(
                f"events must be common.Event items, got {type(event).__name__}", field="events"
            )
        unique.setdefault(ics_uid(event), event)
    calendar = icalendar.Calendar()
    calendar.add("prodid", _PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    if name is not None:
        # as text explicitly: icalendar knows neither property and would write a CR or LF
        # of the name unescaped (a property line of the caller's choosing)
        calendar.add("name", icalendar.vText(_text(name)))
        calendar.add("x-wr-calname", icalendar.vText(_text(name)))
    ordered = sorted(unique.items(), key=lambda item: (_sort_key(item[1]), item[0]))
    for uid, event in ordered:
        calendar.add_component(_vevent(icalendar, uid, event))
    add_zones = getattr(calendar, "add_missing_timezones", None)  # icalendar >= 6.1
    if add_zones is not None and ordered:
        # the zones' rules for the years of the events (and the next), not icalendar's default
        # 1970-2038: a feed of this season should not carry seventy years of transitions
        # Only the timed events use a zone: an all-day event far ahead (a placeholder until
        # 2099) must not move the window past this season's timed ones.
        timed = [event for _, event in ordered if event.start_time is not None]
        days = [event.start_date for event in timed]
        days += [event.end_date for event in timed if event.end_date is not None]
        if days:
            # every year of them (a span of centuries writes ~30 kB a century, in ms)
            first, last = min(days).year, min(max(days).year + 2, dt.MAXYEAR)
            add_zones(first_date=dt.date(first, 1, 1), last_date=dt.date(last, 1, 1))
        # icalendar adds them in the order of a set of names (hash order: another order in
        # another process); sorted by TZID, the bytes are the same in every run
        calendar.subcomponents.sort(key=_zones_first)
    if not ordered:  # RFC 5545 wants a component at least: a feed of no event has UTC's zone
        zone, standard = icalendar.Timezone(), icalendar.TimezoneStandard()
        standard.add("dtstart", dt.datetime(1970, 1, 1))
        standard.add("tzoffsetfrom", dt.timedelta(0))
        standard.add("tzoffsetto", dt.timedelta(0))
        standard.add("tzname", "UTC")
        zone.add("tzid", "UTC")
        zone.add_component(standard)
        calendar.add_component(zone)
    text: str = calendar.to_ical().decode("utf-8")
    return text


def _zones_first(component: Any) -> tuple[int, str]:
    """VTIMEZONEs first, by TZID; the sort is stable, so the VEVENTs keep their order."""
    if component.name == "VTIMEZONE":
        return 0, str(component.get("TZID", ""))
    return 1, ""


def _sort_key(event: Event) -> tuple[dt.date, dt.time]:
    return event.start_date, _wall(event.start_time or dt.time.min)


def _wall(time: dt.time) -> dt.time:
    """The wall-clock time: a plug-in's aware time and a naive one cannot be compared."""
    return time.replace(tzinfo=None)


def _vevent(icalendar: Any, uid: str, event: Event) -> Any:
    vevent = icalendar.Event()
    vevent.add("uid", _text(uid))
    stamp = _updated_at(event)
    vevent.add("dtstamp", stamp or ICS_EPOCH)
    if stamp is not None:
        vevent.add("last-modified", stamp)
    vevent.add("summary", _text(event.name))
    start, end = _span(event)
    vevent.add("dtstart", start)
    if end is not None:
        vevent.add("dtend", end)
    place = _place(event)
    if place:
        vevent.add("location", _text(place))
    lat, lng = event.location.lat, event.location.lng
    if lat is not None and lng is not None:
        # RFC 5545's FLOAT has no exponent (icalendar wrote 1e-05 near the equator or
        # Greenwich), and six decimal places at most
        vevent.add("geo", icalendar.prop.vInline(f"{_float(lat)};{_float(lng)}"))
    url = _link(event.url) or _link(event.registration_url)
    if url:
        vevent.add("url", url)
    description = _description(event, url)
    if description:
        vevent.add("description", _text(description))
    return vevent


#: RFC 5545's TEXT excludes the control characters but HTAB (CR and LF are escaped); a
#: lone surrogate is no text at all (the document could not be written as UTF-8).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _text(value: str) -> str:
    """``value`` without the characters iCalendar text may not hold."""
    return _CONTROL.sub("", value)


def _float(value: float) -> str:
    """``value`` as RFC 5545 writes a FLOAT: digits, a point, at most six decimals."""
    text = f"{value:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _span(event: Event) -> tuple[dt.date | dt.datetime, dt.date | dt.datetime | None]:
    """DTSTART and DTEND (None: no end known)."""
    if event.start_time is None:  # all day; iCalendar's end date is exclusive
        last = event.end_date if event.end_date and event.end_date >= event.start_date else None
        if last is not None and last > event.start_date and event.end_time == dt.time():
            last -= dt.timedelta(days=1)  # it ends as that day begins: the day before is its last
        last = last or event.start_date
        # (on the calendar's last day no day follows: no DTEND, which means one day)
        return event.start_date, last + dt.timedelta(days=1) if last < dt.date.max else None
    zone = zone_or_none(event.timezone) if event.timezone else None
    # no zone known: UTC (the contract), never a floating time
    tzinfo: dt.tzinfo = zone or dt.timezone.utc
    start = dt.datetime.combine(event.start_date, event.start_time, tzinfo=tzinfo)
    if zone is None and event.starts_at is not None and event.starts_at.tzinfo is not None:
        # (within a day of year 1 or 9999 it overflows: its own wall time, as UTC, then)
        with contextlib.suppress(OverflowError):
            start = event.starts_at.astimezone(tzinfo)
    if event.end_time is None:
        # an end day without a time: the event runs to the end of that day (without a
        # DTEND a timed start would mean an event of no length at all)
        last = event.end_date
        if last is None or last <= event.start_date or last >= dt.date.max:
            return start, None
        end_day, end_time = last + dt.timedelta(days=1), dt.time()
    else:
        end_day, end_time = event.end_date or event.start_date, event.end_time
        if event.end_date is None and _wall(event.end_time) < _wall(event.start_time):
            # no end day and an end time before the start: it ends the next day
            if end_day >= dt.date.max:
                return start, None
            end_day += dt.timedelta(days=1)
    end_local = dt.datetime.combine(end_day, end_time)
    if zone is None and event.starts_at is not None:
        # the end in the same offset as the start, then in UTC
        offset = event.starts_at.utcoffset() or dt.timedelta(0)
        try:
            end = (end_local - offset).replace(tzinfo=dt.timezone.utc)
        except OverflowError:
            return start, None
    else:
        end = end_local.replace(tzinfo=tzinfo)
    # Compared as instants: in one zone Python compares wall clocks, and a start in a
    # clock change's gap (read with the offset before it) came after a later-looking end.
    try:
        later = end.astimezone(dt.timezone.utc) > start.astimezone(dt.timezone.utc)
    except OverflowError:  # within a day of the calendar's ends
        later = end > start
    return start, end if later else None


def _link(url: str | None) -> str | None:
    """``url`` when it can be a URI property; None when it holds a control character (a CR or
    LF could end the property line, and icalendar refuses such a URI with a ValueError) or a
    lone surrogate (no UTF-8 can write it: a bare UnicodeEncodeError)."""
    if not url or any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        return None
    if not url.isascii():
        try:
            url.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return url


def _updated_at(event: Event) -> dt.datetime | None:
    """The provider's last update of the event, in UTC, when its model says (aware only)."""
    value = getattr(event.raw, "updated_at", None)
    if isinstance(value, dt.datetime) and value.utcoffset() is not None:
        try:
            return value.astimezone(dt.timezone.utc)
        except OverflowError:  # a server's 0001-01-01T00:00:00+05:00: before year 1 in UTC
            return None
    return None


def _place(event: Event) -> str:
    where = event.location
    parts = [where.name, where.locality, where.region, where.country]
    seen: list[str] = []
    for part in parts:
        text = part.strip() if isinstance(part, str) else ""
        if text and text not in seen:
            seen.append(text)
    return ", ".join(seen)


def _description(event: Event, url: str | None) -> str:
    lines = [event.description.strip()] if event.description and event.description.strip() else []
    if event.registration_url and event.registration_url != url:
        lines.append(f"Registration: {event.registration_url}")
    return "\n\n".join(lines)
