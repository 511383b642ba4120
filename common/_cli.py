"""``eventsync``: the command-line tool (install the ``cli`` extra).

This is an application on top of the library, not part of the core: the core
modules never import it, and it is the one place that imports both providers
(lazily, per command). Data goes to stdout or ``--out``; progress and errors go
to stderr, so pipes stay clean.

Exit codes: 0 ok, 2 usage, 3 authentication, 4 not found, 5 other API error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import enum
import io
import logging
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
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
from ._types import Event, EventSource, Participant

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["main"]

EXIT_OK, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_API, EXIT_INTERRUPTED = 0, 2, 3, 4, 5, 130
PROVIDERS = ("intervals", "rwgps")
CSV_FIELDS = (
    "provider", "id", "name", "start_date", "start_time", "end_date", "end_time", "timezone",
    "starts_at", "location", "description", "url", "registration_url", "distances_m",
    "participants",
)  # fmt: skip


class Usage(Exception):
    """A usage error: exit code 2."""


# -- output --------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_dict(item: Event | Participant) -> dict[str, Any]:
    """A JSON-ready dict of a common Event or Participant (``raw`` left out)."""
    data = attrs.asdict(item, recurse=True, filter=lambda a, _: a.name != "raw")
    return {k: _plain(v) for k, v in data.items()}


class Writer:
    """Writes events as table rows, JSON lines or CSV, flushing each record."""

    def __init__(self, stream: IO[str], fmt: str, console: Console | None) -> None:
        self.stream = stream
        self.fmt = fmt
        self.console = console
        self.rows: list[Event] = []
        self._csv: Any = None
        if fmt == "csv":
            self._csv = csv.DictWriter(stream, CSV_FIELDS, extrasaction="ignore")
            self._csv.writeheader()

    def write(self, event: Event) -> None:
        if self.fmt == "table":
            self.rows.append(event)
            return
        data = to_dict(event)
        if self.fmt == "jsonl":
            self.stream.write(dumps(data).decode() + "\n")
        else:
            data["location"] = ", ".join(
                str(v) for v in (data["location"] or {}).values() if v is not None
            )
            data["distances_m"] = " ".join(f"{d:g}" for d in data["distances_m"])
            data["participants"] = len(data["participants"])
            self._csv.writerow(data)
        self.stream.flush()

    def close(self) -> None:
        if self.fmt == "table":
            self.stream.write(_table(self.rows))
        self.stream.flush()


def _render(table: Any, *, width: int) -> str:
    """A rich table as plain text (data goes to stdout or a file, not the terminal)."""
    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True).print(table)
    return buffer.getvalue()


def _table(events: Sequence[Event]) -> str:
    from rich.table import Table

    table = Table("provider", "id", "date", "time", "timezone", "name", "where", "km")
    for e in events:
        where = ", ".join(p for p in (e.location.locality, e.location.country) if p)
        km = " ".join(f"{d / 1000:g}" for d in e.distances_m)
        start = e.start_time.strftime("%H:%M") if e.start_time else ""
        table.add_row(
            e.provider.value, e.id, e.start_date.isoformat(), start, e.timezone or "", e.name,
            where or (e.location.name or ""), km,
        )  # fmt: skip
    return _render(table, width=160)


@contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    if path is None or path == "-":
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline="") as stream:
        yield stream


def _progress(console: Console | None) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )


# -- sources -------------------------------------------------------------------


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


async def _open_sources(
    stack: AsyncExitStack, providers: Sequence[str], args: argparse.Namespace
) -> dict[str, EventSource]:
    """Clients for the chosen providers; credentials come from the environment.

    ``--base-url`` applies when one provider is chosen; otherwise each
    provider's ``$INTERVALS_BASE_URL`` / ``$RWGPS_BASE_URL``, else its default.
    """
    sources: dict[str, EventSource] = {}
    for name in providers:
        options: dict[str, Any] = {"rate_limit": args.rate_limit} if args.rate_limit else {}
        variable = "INTERVALS_BASE_URL" if name == "intervals" else "RWGPS_BASE_URL"
        url = (args.base_url if len(providers) == 1 else None) or _env(variable)
        if url:
            options["base_url"] = url
        if name == "intervals":
            from intervals_async import IntervalsClient, IntervalsSource

            client: Any = await stack.enter_async_context(IntervalsClient(**options))
            sources[name] = IntervalsSource(client)
        else:
            from ridewithgps_async import RideWithGPSClient, RideWithGPSSource

            client = await stack.enter_async_context(RideWithGPSClient(**options))
            sources[name] = RideWithGPSSource(client)
    return sources


def _providers(choice: str) -> list[str]:
    return list(PROVIDERS) if choice == "all" else [choice]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


# -- commands ------------------------------------------------------------------


async def _collect(
    sources: Sequence[EventSource],
    writer: Writer,
    console: Console | None,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    with_participants: bool = False,
    concurrency: int = 16,
) -> list[Event]:
    """Stream events from all sources into ``writer``, with progress on stderr."""
    events: list[Event] = []
    with _progress(console) as progress:
        listing = progress.add_task("listing events", total=None)
        async for event in merge_events(*sources, date_from=date_from, date_to=date_to):
            events.append(event)
            progress.advance(listing)
            if not with_participants:
                writer.write(event)
        progress.update(listing, total=len(events))
        if not with_participants:
            return events
        by_provider = {source.provider: source for source in sources}
        details = progress.add_task("fetching details", total=len(events))

        async def detail(event: Event) -> Event:
            return await by_provider[event.provider].get_event(event.id)

        full: list[Event] = []
        async for result in fetch_many(detail, events, concurrency=concurrency):
            progress.advance(details)
            event = result.value if result.value is not None else result.key
            if result.error is not None:
                logging.getLogger(__name__).warning("event %s: %s", result.key.id, result.error)
            full.append(event)
            writer.write(event)
        return full


def _summary(events: Sequence[Event]) -> str:
    from rich.table import Table

    table = Table("provider", "events", "participants", "statuses", title="Summary")
    for provider in sorted({e.provider for e in events}, key=lambda p: p.value):
        mine = [e for e in events if e.provider is provider]
        statuses = Counter(p.status.value for e in mine for p in e.participants)
        table.add_row(
            provider.value,
            str(len(mine)),
            str(sum(statuses.values())),
            ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
        )
    return _render(table, width=120)


async def cmd_demo(args: argparse.Namespace, console: Console | None) -> int:
    """Both fakes in-process, everything pulled through the common types."""
    from intervals_async.testing import FakeIntervals
    from ridewithgps_async.testing import FakeRideWithGPS

    async with AsyncExitStack() as stack:
        intervals = await stack.enter_async_context(FakeIntervals(validate=False))
        rwgps = await stack.enter_async_context(FakeRideWithGPS())
        from intervals_async import IntervalsClient, IntervalsSource
        from ridewithgps_async import RideWithGPSClient, RideWithGPSSource

        ic = await stack.enter_async_context(
            IntervalsClient(api_key="test-key", base_url=intervals.url)
        )
        rc = await stack.enter_async_context(
            RideWithGPSClient(access_token="test-access-token", base_url=rwgps.url)
        )
        sources: list[EventSource] = [IntervalsSource(ic), RideWithGPSSource(rc)]
        with _output(args.out) as stream:
            writer = Writer(stream, "jsonl", console)
            events = await _collect(sources, writer, console, with_participants=True)
            writer.close()
    sys.stdout.write(_summary(events))
    sys.stdout.write(f"wrote {len(events)} events to {args.out}\n")
    return EXIT_OK


async def cmd_events(args: argparse.Namespace, console: Console | None) -> int:
    async with AsyncExitStack() as stack:
        sources = await _open_sources(stack, _providers(args.provider), args)
        with _output(args.out) as stream:
            writer = Writer(stream, args.format, console)
            try:
                await _collect(
                    list(sources.values()),
                    writer,
                    console,
                    date_from=args.date_from,
                    date_to=args.date_to,
                    with_participants=args.participants,
                )
            finally:
                writer.close()
    return EXIT_OK


async def cmd_event(args: argparse.Namespace, console: Console | None) -> int:
    async with AsyncExitStack() as stack:
        source = (await _open_sources(stack, [args.provider], args))[args.provider]
        event = await source.get_event(args.id)
    sys.stdout.write(dumps(to_dict(event)).decode() + "\n")
    return EXIT_OK


async def cmd_participants(args: argparse.Namespace, console: Console | None) -> int:
    async with AsyncExitStack() as stack:
        source = (await _open_sources(stack, [args.provider], args))[args.provider]
        participants = await source.list_participants(args.id)
    for participant in participants:
        sys.stdout.write(dumps(to_dict(participant)).decode() + "\n")
    return EXIT_OK


# -- entry point ---------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (documented in the README)."""
    parser = argparse.ArgumentParser(
        prog="eventsync",
        description="Pull events and participants from Intervals and RideWithGPS.",
        epilog="Credentials: $INTERVALS_API_KEY; $RWGPS_ACCESS_TOKEN or "
        "$RWGPS_API_KEY + $RWGPS_AUTH_TOKEN. Exit codes: 0 ok, 2 usage, "
        "3 authentication, 4 not found, 5 other API error, 130 interrupted.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--base-url", help="server to talk to (one provider only)")
    parser.add_argument("--rate-limit", type=float, help="requests per second per provider")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run against built-in fake servers")
    demo.add_argument(
        "--out", default="events.jsonl", help="JSON lines file (default events.jsonl)"
    )
    demo.set_defaults(run=cmd_demo)

    events = commands.add_parser("events", help="list events")
    events.add_argument("--provider", choices=(*PROVIDERS, "all"), default="all")
    events.add_argument("--from", dest="date_from", type=_date, help="YYYY-MM-DD, inclusive")
    events.add_argument("--to", dest="date_to", type=_date, help="YYYY-MM-DD, inclusive")
    events.add_argument("--format", choices=("table", "jsonl", "csv"), default="table")
    events.add_argument("--out", help="write here instead of stdout")
    events.add_argument(
        "--participants", action="store_true", help="fetch each event's details and participants"
    )
    events.set_defaults(run=cmd_events)

    for name, run, what in (
        ("event", cmd_event, "one event, as JSON"),
        ("participants", cmd_participants, "an event's participants, as JSON lines"),
    ):
        command = commands.add_parser(name, help=what)
        command.add_argument("provider", choices=PROVIDERS)
        command.add_argument("id")
        command.set_defaults(run=run)
    return parser


def _show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    sys.stderr.write(f"eventsync: warning: {message}\n")


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return EXIT_AUTH
    if isinstance(exc, MissingCredentialsError):
        return EXIT_AUTH
    if isinstance(exc, InvalidRequestError):
        return EXIT_USAGE
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    return EXIT_API


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="eventsync: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        from rich.console import Console
    except ImportError:
        sys.stderr.write("eventsync: the CLI needs its extra: pip install 'eventsync[cli]'\n")
        return EXIT_USAGE
    console = Console(stderr=True, quiet=args.no_progress)
    run: Callable[[argparse.Namespace, Console | None], Any] = args.run
    try:
        with warnings.catch_warnings():
            # A truncated listing is worth one line on stderr, not a failure.
            warnings.simplefilter("always", TruncationWarning)
            warnings.showwarning = _show_warning
            return int(anyio.run(run, args, console))
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.write("eventsync: interrupted\n")
        return EXIT_INTERRUPTED
    except (APIError, OSError) as exc:
        if args.debug:
            raise
        sys.stderr.write(f"eventsync: error: {exc}\n")
        return _exit_code(exc) if isinstance(exc, APIError) else EXIT_API


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
