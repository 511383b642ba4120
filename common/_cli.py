"""``eventsync``: the command-line tool (install the ``cli`` extra).

An application on top of the library: it knows providers only through the
registry (:mod:`common.provider`), so an installed third-party provider shows
up here without a change. Data goes to stdout or ``--out``; progress, warnings
and errors go to stderr, so pipes stay clean. The exit codes are in
:data:`EXIT_CODES` and in ``eventsync --help``.
"""

from __future__ import annotations

import argparse
import contextvars
import csv
import datetime as dt
import enum
import io
import logging
import math
import os
import sys
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from importlib import metadata
from typing import IO, TYPE_CHECKING, Any

import anyio
import attrs

from ._bulk import fetch_many, merge_events
from ._errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    MissingCredentialsError,
    NotFoundError,
    PermissionDeniedError,
    TruncationWarning,
)
from ._json import dumps
from ._types import Event, EventSource
from .provider import ClientOptions, ProviderPlugin, Registry

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EXIT_CODES", "main"]

EXIT_OK, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_API, EXIT_PARTIAL = 0, 2, 3, 4, 5, 6
EXIT_INTERRUPTED = 130
#: Documented in --help and the README.
EXIT_CODES = {
    EXIT_OK: "ok (also when the reader of stdout stops early, as `| head` does)",
    EXIT_USAGE: "usage: a bad flag, value or event id; nothing was sent",
    EXIT_AUTH: "authentication: credentials missing or refused (401/403), participants hidden",
    EXIT_NOT_FOUND: "not found",
    EXIT_API: "other API or network error",
    EXIT_PARTIAL: "partial: some items failed or may be incomplete; the rest was written",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); what was written stays written",
}
RATE_STORE_VARIABLE = "EVENTSYNC_RATE_STORE"
CSV_FIELDS = (
    "provider", "id", "name", "start_date", "start_time", "end_date", "end_time", "timezone",
    "starts_at", "location", "description", "url", "registration_url", "distances_m",
    "participants", "participants_complete", "error",
)  # fmt: skip


class Usage(Exception):
    """A usage error: exit code 2, one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_USAGE, f"eventsync: error: {message} (see '{self.prog} --help')\n")


# -- records: what one output line holds -----------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_dict(item: Any) -> dict[str, Any]:
    """A JSON-ready dict of a common Event or Participant (``raw`` left out)."""
    data = attrs.asdict(item, recurse=True, filter=lambda a, _: a.name != "raw")
    return {k: _plain(v) for k, v in data.items()}


def provider_name(event: Event) -> str:
    """The name of the provider an event came from (a third party's enum or plain str too)."""
    return str(getattr(event.provider, "value", event.provider))


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
        data = to_dict(self.event)
        fetched = self.details and self.error is None
        data["distances_m"] = data["distances_m"] if fetched else None
        data["participants"] = data["participants"] if fetched and self.visible else None
        data["participants_complete"] = self.complete
        data["error"] = self.error
        return data

    def label(self) -> str:
        return f"{provider_name(self.event)} event {self.event.id}"


class Writer:
    """Writes records as a table, JSON lines or CSV; nothing before the first record.

    JSON lines and CSV are flushed record by record (an interrupted run keeps
    what it wrote); a table is drawn at the end, as wide as the terminal.
    """

    def __init__(self, stream: IO[str], fmt: str, *, width: int | None) -> None:
        self.stream = stream
        self.fmt = fmt
        self.width = width
        self.rows: list[Outcome] = []
        self._csv: csv.DictWriter[str] | None = None

    def write(self, outcome: Outcome) -> None:
        if self.fmt == "table":
            self.rows.append(outcome)
            return
        data = outcome.record()
        if self.fmt == "jsonl":
            self.stream.write(dumps(data).decode() + "\n")
        else:
            if self._csv is None:
                self._csv = csv.DictWriter(self.stream, CSV_FIELDS, extrasaction="ignore")
                self._csv.writeheader()
            self._csv.writerow(_csv_row(data))
        self.stream.flush()

    def close(self, *, succeeded: bool) -> None:
        """Finish: the table (when there are rows), or a CSV header for an empty result."""
        if self.fmt == "table" and self.rows:
            self.stream.write(_table(self.rows, self.width))
        elif self.fmt == "csv" and self._csv is None and succeeded:
            csv.DictWriter(self.stream, CSV_FIELDS).writeheader()
        self.stream.flush()


def _csv_row(data: dict[str, Any]) -> dict[str, Any]:
    """Flat CSV cells; an unknown value is an empty cell, never 0."""
    row = dict(data)
    row["location"] = ", ".join(str(v) for v in (data["location"] or {}).values() if v is not None)
    distances, people = data["distances_m"], data["participants"]
    row["distances_m"] = "" if distances is None else " ".join(f"{d:g}" for d in distances)
    row["participants"] = "" if people is None else len(people)
    complete = data["participants_complete"]
    row["participants_complete"] = "" if complete is None else str(complete).lower()
    return row


def _cells(outcome: Outcome, with_details: bool) -> dict[str, str]:
    e = outcome.event
    where = ", ".join(p for p in (e.location.locality, e.location.country) if p)
    cells = {
        "provider": provider_name(e),
        "id": e.id,
        "date": e.start_date.isoformat(),
        "time": e.start_time.strftime("%H:%M") if e.start_time else "",
        "timezone": e.timezone or "",
        "name": e.name,
        "where": where or (e.location.name or ""),
        "km": " ".join(f"{d / 1000:g}" for d in e.distances_m),
    }
    if with_details:
        people = "?" if outcome.error or not outcome.visible else str(len(e.participants))
        cells["participants"] = people + (
            "+" if outcome.complete is False and people != "?" else ""
        )
    return cells


#: Columns that give up width (truncated with "…") when the terminal is narrow.
_FLEXIBLE = {"name": 2, "where": 1}


def _table(outcomes: Sequence[Outcome], width: int | None) -> str:
    """The events table: empty columns dropped, long names truncated to fit ``width``."""
    with_details = any(o.details for o in outcomes)
    rows = [_cells(o, with_details) for o in outcomes]
    columns = [c for c in rows[0] if any(row[c] for row in rows)]
    limits: dict[str, int | None] = dict.fromkeys(columns)
    if width is not None:
        flexible = [c for c in columns if c in _FLEXIBLE]
        # What everything but the flexible columns takes, measured by drawing it once.
        squeezed = _build(columns, rows, dict.fromkeys(flexible, 1))
        room = width - max(map(len, _render(squeezed, None).splitlines())) + len(flexible)
        shares = sum(_FLEXIBLE[c] for c in flexible) or 1
        natural = {c: max(len(c), *(len(row[c]) for row in rows)) for c in flexible}
        for c in flexible:
            limits[c] = min(natural[c], max(6, room * _FLEXIBLE[c] // shares))
    return _render(_build(columns, rows, limits), width)


def _build(columns: list[str], rows: list[dict[str, str]], limits: dict[str, int | None]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 0))
    for c in columns:
        table.add_column(c, no_wrap=True, overflow="ellipsis", max_width=limits.get(c))
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    return table


def _render(table: Any, width: int | None) -> str:
    """A rich table as plain text; ``width`` None draws it at its natural width."""
    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=width or 100_000, no_color=True, highlight=False).print(table)
    return buffer.getvalue()


def _terminal_width(stream: IO[str]) -> int | None:
    """The terminal's width when ``stream`` is one (rich reads $COLUMNS or asks the tty)."""
    if not stream.isatty():
        return None
    from rich.console import Console

    return Console(file=stream).width


@contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    if path is None or path == "-":
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline="") as stream:
        yield stream


def _progress(console: Console) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )


# -- one run: options, sources, and what went wrong ------------------------------------


#: Truncation warnings raised while one event's details are fetched land here.
_NOTES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "eventsync_notes", default=None
)


def warn(message: str) -> None:
    """A warning on stderr, in the one style of the tool."""
    sys.stderr.write(f"eventsync: warning: {message}\n")


def _show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    notes = _NOTES.get()
    if notes is not None and issubclass(category, TruncationWarning):
        notes.append(str(message))  # attributed to the event being fetched, reported with it
        return
    warn(str(message))


class _LowerLevel(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"eventsync: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.levelno <= logging.DEBUG:
            text += "\n" + self.formatException(record.exc_info)
        return text


@attrs.define
class Tally:
    """What a run wrote, and everything that did not go as asked (for the summary)."""

    written: Counter[str] = attrs.field(factory=Counter)
    failed: list[str] = attrs.field(factory=list)
    incomplete: list[str] = attrs.field(factory=list)
    hidden: dict[str, list[str]] = attrs.field(factory=dict)

    def add(self, outcome: Outcome) -> None:
        self.written[provider_name(outcome.event)] += 1
        if outcome.error is not None:
            self.failed.append(outcome.label())
            warn(f"{outcome.label()}: details not fetched: {outcome.error}")
        elif not outcome.visible:
            self.hidden.setdefault(provider_name(outcome.event), []).append(outcome.event.id)
        elif outcome.complete is False:
            self.incomplete.append(outcome.label())

    @property
    def partial(self) -> bool:
        return bool(self.failed or self.incomplete)

    def summary(self) -> str:
        counts = ", ".join(f"{name} {n}" for name, n in sorted(self.written.items()))
        text = f"eventsync: wrote {sum(self.written.values())} events"
        text += f" ({counts})" if counts else ""
        problems = []
        if self.failed:
            problems.append(f"{len(self.failed)} failed")
        if self.incomplete:
            problems.append(f"{len(self.incomplete)} with participants possibly cut short")
        if self.hidden:
            hidden = sum(map(len, self.hidden.values()))
            problems.append(f"{hidden} with participants not shown to you")
        if problems:
            text += "; " + ", ".join(problems)
        return text + "\n"


def _options(args: argparse.Namespace, plugin: ProviderPlugin | None) -> ClientOptions:
    return ClientOptions(
        base_url=args.base_url if plugin is not None else None,
        rate_limit=args.rate_limit,
        rate_store=args.rate_store,
    )


async def _open(stack: AsyncExitStack, plugin: ProviderPlugin, options: ClientOptions) -> Any:
    """The plugin's source; missing credentials said in environment variables, not keywords."""
    try:
        return await stack.enter_async_context(plugin.open_source(options))
    except MissingCredentialsError:
        raise MissingCredentialsError(
            f"no {plugin.title} credentials: set {plugin.credentials}"
        ) from None


async def _detail(event: Event, source: EventSource, plugin: ProviderPlugin) -> Outcome:
    """One event's details and participants, with any truncation noted against it."""
    notes: list[str] = []
    token = _NOTES.set(notes)
    try:
        full = await source.get_event(event.id)
    except APIError as exc:
        return Outcome(event, details=True, complete=False, error=_one_line(exc))
    finally:
        _NOTES.reset(token)
    visible = plugin.participants_visible(full)
    for note in notes:
        warn(f"{provider_name(full)} event {full.id}: participants: {note}")
    return Outcome(full, details=True, complete=visible and not notes, visible=visible)


async def _collect(
    registry: Registry,
    sources: Sequence[EventSource],
    emit: Callable[[Outcome], None],
    console: Console,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    with_details: bool = False,
    concurrency: int = 16,
) -> None:
    """Stream events from all sources to ``emit``, with progress on stderr."""
    listed: list[Event] = []
    with _progress(console) as progress:
        listing = progress.add_task("listing events", total=None)
        async for event in merge_events(*sources, date_from=date_from, date_to=date_to):
            progress.advance(listing)
            if with_details:
                listed.append(event)
            else:
                emit(Outcome(event))
        progress.update(listing, total=progress.tasks[listing].completed)
        if not with_details:
            return
        by_name = {source_name(s): s for s in sources}
        details = progress.add_task("fetching details", total=len(listed))

        async def detail(event: Event) -> Outcome:
            name = provider_name(event)
            return await _detail(event, by_name[name], registry.get(name))

        async for result in fetch_many(detail, listed, concurrency=concurrency):
            progress.advance(details)
            if result.value is not None:
                emit(result.value)
            else:  # not an APIError (those are outcomes): still written, and counted
                emit(Outcome(result.key, details=True, complete=False, error=str(result.error)))


def source_name(source: EventSource) -> str:
    return str(getattr(source.provider, "value", source.provider))


def _summary_table(outcomes: Sequence[Outcome], width: int | None) -> str:
    from rich.table import Table

    table = Table("provider", "events", "participants", "statuses", title="Summary")
    for name in sorted({provider_name(o.event) for o in outcomes}):
        mine = [o.event for o in outcomes if provider_name(o.event) == name]
        statuses = Counter(p.status.value for e in mine for p in e.participants)
        table.add_row(
            name,
            str(len(mine)),
            str(sum(statuses.values())),
            ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
        )
    return _render(table, width)


# -- commands --------------------------------------------------------------------------


async def cmd_demo(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """Every provider's fake in-process, everything pulled through the common types."""
    if args.base_url:
        raise Usage("--base-url does not apply to demo (it runs its own servers)")
    tally = Tally()
    outcomes: list[Outcome] = []
    async with AsyncExitStack() as stack:
        sources = [
            await stack.enter_async_context(plugin.open_fake_source())
            for plugin in registry
            if plugin.fake is not None
        ]
        with _output(args.out) as stream:
            writer = Writer(stream, "jsonl", width=None)

            def emit(outcome: Outcome) -> None:
                writer.write(outcome)
                tally.add(outcome)
                outcomes.append(outcome)

            await _collect(registry, sources, emit, console, with_details=True)
    sys.stdout.write(_summary_table(outcomes, _terminal_width(sys.stdout)))
    sys.stdout.write(f"wrote {len(outcomes)} events to {args.out}\n")
    return _finish(tally)


def _finish(tally: Tally) -> int:
    for name, ids in sorted(tally.hidden.items()):
        listed = ", ".join(ids[:10]) + (", …" if len(ids) > 10 else "")
        warn(f"participants not shown to you (only to the event's owner): {name} event {listed}")
    sys.stderr.write(tally.summary())
    return EXIT_PARTIAL if tally.partial else EXIT_OK


async def _open_chosen(
    stack: AsyncExitStack, args: argparse.Namespace, registry: Registry
) -> list[EventSource]:
    """The sources of ``--provider``; for ``all``, of every provider that has credentials."""
    if args.provider != "all":
        plugin = registry.get(args.provider)
        return [await _open(stack, plugin, _options(args, plugin))]
    if args.base_url:
        raise Usage("--base-url needs one --provider (it names one server), not all")
    sources, skipped = [], []
    for plugin in registry:
        try:
            sources.append(await _open(stack, plugin, _options(args, None)))
        except MissingCredentialsError:
            skipped.append(plugin)
    if not sources:
        wanted = "; ".join(f"{p.title}: {p.credentials}" for p in skipped)
        raise MissingCredentialsError(f"no credentials for any provider: set {wanted}")
    for plugin in skipped:
        warn(f"{plugin.title} skipped: no credentials (set {plugin.credentials})")
    return sources


async def cmd_events(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    if args.date_from and args.date_to and args.date_to < args.date_from:
        raise Usage(f"--to {args.date_to} is before --from {args.date_from}")
    tally = Tally()
    async with AsyncExitStack() as stack:
        sources = await _open_chosen(stack, args, registry)
        with _output(args.out) as stream:
            writer = Writer(stream, args.format, width=_terminal_width(stream))

            def emit(outcome: Outcome) -> None:
                writer.write(outcome)
                tally.add(outcome)

            succeeded = False
            try:
                await _collect(
                    registry, sources, emit, console,
                    date_from=args.date_from, date_to=args.date_to,
                    with_details=args.participants,
                )  # fmt: skip
                succeeded = True
            finally:
                writer.close(succeeded=succeeded)
    return _finish(tally)


async def cmd_event(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    _, outcome = await _fetch_one(args, registry)
    sys.stdout.write(dumps(outcome.record()).decode() + "\n")
    return EXIT_PARTIAL if outcome.complete is False and outcome.visible else EXIT_OK


async def cmd_participants(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    plugin, outcome = await _fetch_one(args, registry)
    if not outcome.visible:
        raise PermissionDeniedError(
            f"{plugin.title} does not show the participants of event {outcome.event.id} to"
            " you (only to its owner)",
            status_code=403,
        )
    for participant in outcome.event.participants:
        sys.stdout.write(dumps(to_dict(participant)).decode() + "\n")
    return EXIT_PARTIAL if outcome.complete is False else EXIT_OK


async def _fetch_one(
    args: argparse.Namespace, registry: Registry
) -> tuple[ProviderPlugin, Outcome]:
    """One event in full; a failure is the run's error (there is nothing else to write)."""
    plugin = registry.get(args.provider)
    event_id = plugin.check_id(args.id)
    async with AsyncExitStack() as stack:
        source = await _open(stack, plugin, _options(args, plugin))
        notes: list[str] = []
        token = _NOTES.set(notes)
        try:
            event = await source.get_event(event_id)
        finally:
            _NOTES.reset(token)
    visible = plugin.participants_visible(event)
    for note in notes:
        warn(f"{plugin.name} event {event.id}: participants: {note}")
    return plugin, Outcome(event, details=True, complete=visible and not notes, visible=visible)


async def cmd_providers(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    for plugin in registry:
        aliases = f" (also: {', '.join(plugin.aliases)})" if plugin.aliases else ""
        sys.stdout.write(f"{plugin.name}{aliases}: {plugin.title}\n")
        for variable in plugin.environment:
            sys.stdout.write(f"  ${variable.name}: {variable.help}\n")
    return EXIT_OK


# -- entry point -----------------------------------------------------------------------


def _version() -> str:
    try:
        return metadata.version("eventsync")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"--rate-limit is requests per second, a number above 0 (got {text!r}); leave it"
            " out to let the pace be learned from the server's 429 answers"
        )
    return value


def _environment_help(registry: Registry) -> str:
    lines = ["environment variables:"]
    for plugin in registry:
        lines += [f"  {v.name:<22}{v.help}" for v in plugin.environment]
    lines.append(f"  {RATE_STORE_VARIABLE:<22}default of --rate-store")
    lines.append("exit codes:")
    lines += [f"  {code:<4}{text}" for code, text in EXIT_CODES.items()]
    return "\n".join(lines)


def build_parser(registry: Registry) -> argparse.ArgumentParser:
    """The argument parser (documented in the README)."""
    names = [p.name for p in registry]
    choices = [*names, *(a for p in registry for a in p.aliases), "all"]
    epilog = _environment_help(registry)
    parser = _Parser(
        prog="eventsync",
        description=f"Pull events and participants from {', '.join(p.title for p in registry)}.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"eventsync {_version()}")
    parser.add_argument(
        "--debug", action="store_true", help="debug logs and tracebacks (same exit codes)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--base-url", metavar="URL", help="the server of the one --provider chosen (for tests)"
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate,
        metavar="RPS",
        help="requests per second per provider, above 0 (default: learned from 429 answers)",
    )
    parser.add_argument(
        "--rate-store",
        metavar="URL",
        default=os.environ.get(RATE_STORE_VARIABLE) or None,
        help=f"Redis URL of a rate budget shared by several runs (default ${RATE_STORE_VARIABLE})",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run against built-in fake servers")
    demo.add_argument(
        "--out", default="events.jsonl", help="JSON lines file (default: %(default)s)"
    )
    demo.set_defaults(run=cmd_demo)

    events = commands.add_parser(
        "events",
        help="list events",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    events.add_argument(
        "--provider",
        choices=choices,
        default="all",
        metavar="NAME",
        help=f"{' | '.join(choices)} (default: %(default)s: every provider with credentials)",
    )
    events.add_argument(
        "--from", dest="date_from", type=_date, metavar="DATE", help="YYYY-MM-DD, inclusive"
    )
    events.add_argument(
        "--to", dest="date_to", type=_date, metavar="DATE", help="YYYY-MM-DD, inclusive"
    )
    events.add_argument(
        "--format",
        choices=("table", "jsonl", "csv"),
        default="table",
        metavar="FORMAT",
        help="table | jsonl | csv (default: %(default)s)",
    )
    events.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    events.add_argument(
        "--participants",
        action="store_true",
        help="also fetch each event's details and participants (one request or two per event)",
    )
    events.set_defaults(run=cmd_events)

    for name, run, what in (
        ("event", cmd_event, "one event with its participants, as JSON"),
        ("participants", cmd_participants, "an event's participants, as JSON lines"),
    ):
        command = commands.add_parser(name, help=what)
        command.add_argument(
            "provider", choices=choices[:-1], metavar="PROVIDER", help=" | ".join(choices[:-1])
        )
        command.add_argument("id", metavar="EVENT_ID")
        command.set_defaults(run=run)
    providers = commands.add_parser("providers", help="list the installed providers")
    providers.set_defaults(run=cmd_providers)
    return parser


def _flatten(exc: BaseException) -> list[BaseException]:
    group = getattr(exc, "exceptions", None)
    if isinstance(exc, BaseException) and isinstance(group, (list, tuple)):
        return [leaf for inner in group for leaf in _flatten(inner)]
    return [exc]


def _root(exc: BaseException) -> BaseException:
    """The error that decides the exit: out of task groups, the one that matters most."""
    leaves = _flatten(exc)
    for kind in (KeyboardInterrupt, BrokenPipeError, Usage, APIError, OSError):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0]


def _one_line(exc: BaseException) -> str:
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


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, Usage):
        return EXIT_USAGE
    if isinstance(exc, (AuthenticationError, PermissionDeniedError, MissingCredentialsError)):
        return EXIT_AUTH
    if isinstance(exc, InvalidRequestError):
        return EXIT_USAGE
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    return EXIT_API


def _quiet_stdout() -> None:
    """The reader went away: send what is left to /dev/null so exit flushes quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None, *, registry: Registry | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it).

    ``registry`` defaults to every provider installed (entry points).
    """
    registry = Registry.discover() if registry is None else registry
    args = build_parser(registry).parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LowerLevel())
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, handlers=[handler])
    for name, reason in registry.broken:
        warn(f"provider {name!r} could not be loaded: {reason}")
    try:
        from rich.console import Console
    except ImportError:
        sys.stderr.write(
            "eventsync: error: the command needs its extra: pip install 'eventsync[cli]'\n"
        )
        return EXIT_USAGE
    console = Console(stderr=True, quiet=args.no_progress)
    run: Callable[[argparse.Namespace, Registry, Console], Any] = args.run
    try:
        with warnings.catch_warnings():
            # A truncated listing is worth one line on stderr (or a note on its event).
            warnings.simplefilter("always", TruncationWarning)
            warnings.showwarning = _show_warning
            return int(anyio.run(run, args, registry, console))
    except BaseException as caught:  # sorted out below; anything unexpected is re-raised
        exc = _root(caught)
        if isinstance(exc, KeyboardInterrupt):
            sys.stderr.write("eventsync: interrupted\n")
            return EXIT_INTERRUPTED
        if isinstance(exc, BrokenPipeError):
            _quiet_stdout()
            return EXIT_OK
        if not isinstance(exc, (Usage, APIError, OSError)):
            raise
        if args.debug:
            traceback.print_exception(caught)
        sys.stderr.write(f"eventsync: error: {_one_line(exc)}\n")
        return _exit_code(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
