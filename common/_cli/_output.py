"""What ``eventsync`` writes: records, the table, CSV, JSON lines, and its stderr lines.

Nothing here sends a request; :mod:`._run` decides what to fetch and hands each
event over as an :class:`Outcome`.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import re
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, Protocol

import attrs

from .._errors import APIError
from .._ics import to_ics
from .._json import dumps
from .._records import event_record
from .._types import Event

CSV_FIELDS = (
    "provider", "id", "name", "start_date", "start_time", "end_date", "end_time", "timezone",
    "starts_at", "location", "description", "url", "registration_url", "distances_m",
    "participants", "participants_complete", "error",
)  # fmt: skip


class Usage(Exception):
    """A usage error: exit code 2, one line (a bad flag or value, an ``--out`` not writable)."""


class Sink(Protocol):
    """Where records are written: a text stream."""

    def write(self, text: str, /) -> Any: ...
    def flush(self) -> Any: ...
    def isatty(self) -> bool: ...


def warn(message: str) -> None:
    """A warning on stderr, in the one style of the tool."""
    sys.stderr.write(f"eventsync: warning: {message}\n")


def one_line(exc: BaseException) -> str:
    """The error as one line; the CLI cannot resume a listing, so no resume hint."""
    if isinstance(exc, APIError) and exc.resume_page is not None:
        saved, exc.resume_page = exc.resume_page, None
        try:
            text = str(exc)
        finally:
            exc.resume_page = saved
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


@attrs.frozen
class Outcome:
    """One event as written, and what is known about its details.

    ``details`` False: only the listing was read, so participants and distances
    are unknown (null), not empty. ``complete`` False: the participants shown may
    be fewer than there are (cut short, hidden, or the fetch failed).
    """

    event: Event
    details: bool = False
    complete: bool | None = None
    visible: bool = True
    error: str | None = None

    def record(self) -> dict[str, Any]:
        """The JSON object written for this event (see :func:`common._records.event_record`)."""
        data = event_record(
            self.event, details=self.details, complete=self.complete, error=self.error
        )
        if not self.visible:
            data["participants"] = None
        return data

    def label(self) -> str:
        return f"{self.event.provider} event {self.event.id}"


def json_line(data: Any, stream: Sink) -> str:
    """``data`` as one JSON line that ``stream`` can encode: ``\\u`` escapes (lossless)
    for what its encoding cannot carry (``PYTHONIOENCODING=ascii``), UTF-8 otherwise."""
    text = dumps(data).decode()
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    except LookupError:
        pass
    return text + "\n"


def by_start(outcome: Outcome) -> tuple[Any, ...]:
    """The order of every format: start (date, then time, all-day first), provider, id."""
    e = outcome.event
    return (
        e.start_date,
        e.start_time is not None,
        # (the wall-clock time: a plug-in's aware time and a naive one cannot be compared)
        (e.start_time or dt.time.min).replace(tzinfo=None),
        str(e.provider),
        len(e.id),
        e.id,
    )


class Writer:
    """Writes records as a table, JSON lines or CSV; nothing before the first record.

    JSON lines and CSV are flushed record by record (an interrupted run keeps
    what it wrote); a table is drawn at the end, as wide as the terminal.
    """

    def __init__(
        self, stream: Sink, fmt: str, *, width: int | None, calendar_name: str | None = None
    ) -> None:
        self.stream = stream
        self.fmt = fmt
        self.width = width
        self.calendar_name = calendar_name
        self.rows: list[Outcome] = []
        self._csv: csv.DictWriter[str] | None = None

    def write(self, outcome: Outcome) -> None:
        if self.fmt in ("table", "ics"):
            self.rows.append(outcome)
            return
        data = outcome.record()
        if self.fmt == "jsonl":
            self.stream.write(json_line(data, self.stream))
        else:
            if self._csv is None:
                self._csv = csv.DictWriter(self.stream, CSV_FIELDS, extrasaction="ignore")
                self._csv.writeheader()
            self._csv.writerow(_csv_row(data))
        self.stream.flush()

    def close(self, *, succeeded: bool) -> None:
        """Finish: the table (when there are rows), or a CSV header for an empty result."""
        if self.fmt == "table" and self.rows:
            self.stream.write(events_table(sorted(self.rows, key=by_start), self.width))
        elif self.fmt == "ics" and succeeded:  # a partial feed would delete events downstream
            events = [outcome.event for outcome in sorted(self.rows, key=by_start)]
            self.stream.write(to_ics(events, name=self.calendar_name))  # CRLF, as RFC 5545
        elif self.fmt == "csv" and self._csv is None and succeeded:
            csv.DictWriter(self.stream, CSV_FIELDS).writeheader()
        self.stream.flush()


#: A cell starting with one of these is a formula to a spreadsheet (OWASP's "CSV
#: injection"): an event's name or place from the API must not run as one when the file
#: is opened. Such a cell gets a leading ``'``, unless it is a plain number.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def _csv_row(data: dict[str, Any]) -> dict[str, Any]:
    """Flat CSV cells; an unknown value is an empty cell, never 0. Distances are written
    exactly (as JSON lines has them), no cell can start a spreadsheet formula, and a NUL
    is left out (CSV readers refuse it, and Python 3.10's writer failed on it)."""
    row = dict(data)
    row["location"] = ", ".join(str(v) for v in (data["location"] or {}).values() if v is not None)
    distances, people = data["distances_m"], data["participants"]
    row["distances_m"] = "" if distances is None else " ".join(repr(d) for d in distances)
    row["participants"] = "" if people is None else len(people)
    complete = data["participants_complete"]
    row["participants_complete"] = "" if complete is None else str(complete).lower()
    for name, value in row.items():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            value = row[name] = value.replace("\x00", "")
        if value.startswith(_FORMULA) and not _NUMBER.fullmatch(value):
            row[name] = "'" + value
    return row


#: What a table cell may not hold: C0 and C1 controls and DEL (tabs and line breaks
#: become spaces first).
_TERMINAL_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile("[\t\n\r]+")


def _cells(outcome: Outcome, with_details: bool) -> dict[str, str]:
    e = outcome.event
    where = ", ".join(p for p in (e.location.locality, e.location.country) if p)
    cells = {
        "provider": str(e.provider),
        "id": e.id,
        "date": e.start_date.isoformat(),
        "time": e.start_time.strftime("%H:%M") if e.start_time else "",
        "timezone": e.timezone or "",
        "name": e.name,
        "where": where or (e.location.name or ""),
        "km": " ".join(f"{d / 1000:.1f}".removesuffix(".0") for d in e.distances_m),
    }
    # A server's text on a terminal: no control character (an ESC sequence would retitle
    # or clear the terminal); rich markup in it is shown as written (see _build).
    cells = {
        column: _TERMINAL_CONTROL.sub("", _LINE_BREAKS.sub(" ", text))
        for column, text in cells.items()
    }
    if with_details:
        hidden = outcome.error or not outcome.visible or e.participants is None
        people = "?" if hidden else str(len(e.participants or ()))
        cells["people"] = people + ("+" if outcome.complete is False and people != "?" else "")
    return cells


#: When the terminal is too narrow: columns cut (with "…") down to a floor, in this order…
_SHRINK = (("where", 8), ("km", 8), ("timezone", 12), ("name", 20))
#: …then columns left out, in this order, and the name cut further as a last resort.
#: ``id`` and ``date`` are never cut nor left out (a cut id is a wrong id), nor is
#: ``provider`` when more than one is listed (an id means nothing without it); a
#: terminal narrower than those lets the line wrap instead.
_DROP = ("where", "km", "timezone", "time")
_NEVER_CUT = ("id", "date", "provider", "people")


def events_table(outcomes: Sequence[Outcome], width: int | None) -> str:
    """The events table: empty columns dropped, and ``width`` (None: unbounded) kept by
    cutting long names and places first and leaving out the least useful columns last."""
    from rich.cells import cell_len

    with_details = any(o.details for o in outcomes)
    rows = [_cells(o, with_details) for o in outcomes]
    kept = [c for c in rows[0] if any(row[c] for row in rows)]
    natural = {c: max(cell_len(c), *(cell_len(row[c]) for row in rows)) for c in kept}
    widths = dict(natural)
    if width is not None:
        if len({row["provider"] for row in rows}) == 1:
            widths.pop("provider")  # one provider: the column says nothing a row needs
        width = max(width, sum(widths[c] + 1 for c in _NEVER_CUT if c in widths) + 4)

        def excess() -> int:
            return sum(widths.values()) + len(widths) - 1 - width  # one space between columns

        for column, floor in _SHRINK:
            if column in widths and excess() > 0:
                widths[column] = max(floor, widths[column] - excess())
        for column in _DROP:
            if excess() > 0:
                widths.pop(column, None)
        for column in ("name", "timezone", "where", "km"):  # room left over goes back
            if column in widths and excess() < 0:
                widths[column] = min(natural[column], widths[column] - excess())
        if excess() > 0 and "name" in widths:
            widths["name"] = max(4, widths["name"] - excess())
    return _render(_build(rows, widths), width)


def _build(rows: list[dict[str, str]], widths: dict[str, int]) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 0))
    for column, most in widths.items():
        table.add_column(
            column,
            no_wrap=True,
            overflow="ellipsis",
            min_width=most if column in _NEVER_CUT else None,
            max_width=most,
            justify="right" if column == "people" else "left",
        )
    for row in rows:
        table.add_row(*(Text(row[c]) for c in widths))  # text, never markup: "[/x]" as is
    return table


def _render(table: Any, width: int | None) -> str:
    """A rich table as plain text; ``width`` None draws it at its natural width."""
    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=width or 100_000, no_color=True, highlight=False).print(table)
    return buffer.getvalue()


def terminal_width(stream: Sink) -> int | None:
    """The terminal's width when ``stream`` is one (rich reads $COLUMNS or asks the tty)."""
    if not stream.isatty():
        return None
    from rich.console import Console

    return Console(file=stream).width  # type: ignore[arg-type]


class Output:
    """The stream records go to, and whether the run's result is to be kept.

    For ``--out FILE`` the records go to a file beside it, renamed over it by
    :func:`output` only after :meth:`keep` (the run wrote its result); any other
    ending leaves the target as it was.
    """

    def __init__(self, stream: IO[str], name: str | None) -> None:
        self._stream = stream
        self.name = name  # None: stdout, whose errors (a closed pipe) are the caller's
        self.kept = False

    def keep(self) -> None:
        """The run wrote its result: replace the target with it."""
        self.kept = True

    def write(self, text: str, /) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise self._failed(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> BaseException:
        """The error a failed write means: stdout's reader gone (a closed pipe, quietly
        the caller's), else a Usage error naming where (a full device, a size limit)."""
        if self.name is None:
            if isinstance(exc, BrokenPipeError):
                return exc
            return Usage(f"stdout: cannot write: {exc.strerror or exc}")
        return _unwritable(self.name, exc)

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self) -> str:
        return str(getattr(self._stream, "encoding", None) or "utf-8")


def _unwritable(path: str, exc: OSError) -> Usage:
    return Usage(f"--out {path}: cannot write: {exc.strerror or exc}")


@contextmanager
def output(path: str | None) -> Iterator[Output]:
    """Where the data goes: stdout, or ``--out`` (checked before anything is fetched).

    A regular file (or none yet) is written beside it and renamed over it when
    the run calls :meth:`Output.keep`; a folder, a missing folder or a place
    that cannot be written is a :class:`Usage` error naming the path. Something
    that is not a regular file (``/dev/null``, a FIFO, a link to a device) is
    written through, never replaced.
    """
    if path is None or path == "-":
        yield Output(sys.stdout, None)
        return
    real = os.path.realpath(path)
    folder = os.path.dirname(real)
    if os.path.isdir(real):
        raise Usage(f"--out {path}: is a folder, not a file")
    if not os.path.isdir(folder):
        raise Usage(f"--out {path}: the folder {os.path.dirname(path) or '.'} does not exist")
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise _unwritable(path, exc) from None
    if mode is not None and not stat.S_ISREG(mode):
        yield from _write_through(path, real)
        return
    try:
        fd, part = tempfile.mkstemp(  # the name cut: a legal long one must leave room
            prefix=f".{os.path.basename(real)[:50]}.", suffix=".part", dir=folder
        )
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        stream = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
        try:
            target = Output(stream, path)
            yield target
            target.flush()
        except BaseException:
            # Closing flushes what a failed write left in the buffer, and fails again: the
            # first error (a Usage naming the path) is the one to tell.
            with contextlib.suppress(OSError):
                stream.close()
            raise
        try:
            stream.close()
        except OSError as exc:
            raise _unwritable(path, exc) from None
        if target.kept:
            try:
                _copy_mode(real, part)
                os.replace(part, real)
            except OSError as exc:
                raise _unwritable(path, exc) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)


def _write_through(path: str, real: str) -> Iterator[Output]:
    try:
        stream = open(real, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        yield Output(stream, path)
    finally:
        try:
            stream.close()
        except OSError as exc:
            raise _unwritable(path, exc) from None


def _copy_mode(real: str, part: str) -> None:
    """The replaced file keeps its permissions; a new one gets the usual (umask) ones."""
    try:
        os.chmod(part, stat.S_IMODE(os.stat(real).st_mode))
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(part, 0o666 & ~umask)


def summary_table(outcomes: Sequence[Outcome], width: int | None) -> str:
    from rich.table import Table

    table = Table("provider", "events", "participants", "statuses", title="Summary")
    for name in sorted({str(o.event.provider) for o in outcomes}):  # stable order
        mine = [o.event for o in outcomes if str(o.event.provider) == name]
        statuses = Counter(p.status.value for e in mine for p in e.participants or ())
        table.add_row(
            name,
            str(len(mine)),
            str(sum(statuses.values())),
            ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
        )
    return _render(table, width)
