"""What ``eventsync`` does: open the chosen providers' sources, fetch, and count what went wrong.

Providers come only from the registry (:mod:`common.provider`). A failure of
one event's details never stops the others: the event is written from the
listing, marked, named in a warning and counted; the run then ends with
:data:`EXIT_PARTIAL`.
"""

from __future__ import annotations

import argparse
import contextvars
import datetime as dt
import inspect
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from .._bulk import fetch_many, merge_events
from .._errors import (
    APIError,
    MissingCredentialsError,
    PermissionDeniedError,
    SkippedEventWarning,
    TruncationWarning,
)
from .._records import participant_record
from .._types import Event, EventSource, Participant
from ..provider import ProviderPlugin, Registry, SourceOptions
from ._output import (
    Outcome,
    Usage,
    Writer,
    by_start,
    json_line,
    one_line,
    output,
    summary_table,
    terminal_width,
    warn,
)

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_API, EXIT_PARTIAL = 0, 2, 3, 4, 5, 6
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM


__all__ = ["ProviderFailed", "Usage"]


class ProviderFailed(Exception):
    """One provider's failure, named with the server it came from (the exit code is
    its ``error``'s)."""

    def __init__(self, where: str, error: BaseException) -> None:
        said = one_line(error)
        if not isinstance(error, APIError):  # a plug-in's own bug: its type says most
            said = f"{type(error).__name__}: {said}"
        super().__init__(f"{where}: {said}")
        self.where = where
        self.error = error


# -- warnings that belong to one event -----------------------------------------------------

#: Truncation warnings raised while one event's details are fetched land here (per task).
_EVENT_NOTES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "eventsync_event_notes", default=None
)
#: The run's tally, so a listing cut short (not tied to one event) is counted too.
_TALLY: contextvars.ContextVar[Tally | None] = contextvars.ContextVar(
    "eventsync_tally", default=None
)


def show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    """``warnings.showwarning`` for the run: one warning line; a truncation or an event a
    source skipped is counted.

    A truncation while one event's details are fetched is noted against that event
    (and reported with it); any other (a listing cut short) counts for the whole run.
    """
    tally = _TALLY.get()
    if issubclass(category, SkippedEventWarning) and tally is not None:
        tally.skipped += 1
    if issubclass(category, TruncationWarning):
        notes = _EVENT_NOTES.get()
        if notes is not None:
            notes.append(str(message))
            return
        if tally is not None:
            tally.listings_cut += 1
    warn(str(message))


@attrs.define
class Tally:
    """What a run wrote, and everything that did not go as asked (for the summary)."""

    written: Counter[str] = attrs.field(factory=Counter)
    failed: list[str] = attrs.field(factory=list)
    incomplete: list[str] = attrs.field(factory=list)
    hidden: dict[str, list[str]] = attrs.field(factory=dict)
    listings_cut: int = 0
    skipped: int = 0  # events a source could not read as events (SkippedEventWarning)
    providers_failed: list[ProviderFailed] = attrs.field(factory=list)

    def provider_failed(self, failure: ProviderFailed) -> None:
        """A provider that could not be opened or listed: named now, counted in the summary."""
        self.providers_failed.append(failure)
        warn(f"{failure}; its events are missing")

    def add(self, outcome: Outcome) -> None:
        self.written[str(outcome.event.provider)] += 1
        if outcome.error is not None:
            self.failed.append(outcome.label())
            warn(f"{outcome.label()}: details not fetched: {outcome.error}")
        elif not outcome.visible:
            name = str(outcome.event.provider)
            self.hidden.setdefault(name, []).append(outcome.event.id)
        elif outcome.complete is False:
            self.incomplete.append(outcome.label())

    def finish(self, *, where: str | None = None, warn_hidden: bool = True) -> int:
        """The closing lines on stderr, and the exit code."""
        for name, ids in sorted(self.hidden.items()):
            listed = ", ".join(sorted(ids, key=lambda i: (len(i), i))[:10])
            listed += ", …" if len(ids) > 10 else ""
            if warn_hidden:
                warn(
                    "participants not shown to you (only to the event's owner):"
                    f" {name} event {listed}"
                )
        counts = ", ".join(f"{name} {n}" for name, n in sorted(self.written.items()))
        total = sum(self.written.values())
        text = f"eventsync: wrote {total} event{'' if total == 1 else 's'}"
        text += f" to {where}" if where else ""
        text += f" ({counts})" if counts else ""
        problems = []
        if self.providers_failed:
            names = ", ".join(f.where for f in self.providers_failed)
            problems.append(f"{len(self.providers_failed)} provider(s) failed: {names}")
        if self.listings_cut:
            problems.append(f"{self.listings_cut} listing(s) possibly cut short")
        if self.skipped:
            problems.append(f"{self.skipped} skipped (not readable as events)")
        if self.failed:
            problems.append(f"{len(self.failed)} failed")
        if self.incomplete:
            problems.append(f"{len(self.incomplete)} with participants possibly cut short")
        if self.hidden:
            hidden = sum(map(len, self.hidden.values()))
            problems.append(f"{hidden} with participants not shown to you")
        sys.stderr.write(text + ("; " + ", ".join(problems) if problems else "") + "\n")
        partial = (
            self.failed
            or self.incomplete
            or self.listings_cut
            or self.skipped
            or self.providers_failed
        )
        return EXIT_PARTIAL if partial else EXIT_OK


# -- sources ---------------------------------------------------------------------------------


def _options(args: argparse.Namespace, plugin: ProviderPlugin | None) -> SourceOptions:
    """The flags as client options; ``--base-url`` only for the one provider chosen."""
    return SourceOptions(
        base_url=args.base_url if plugin is not None else None,
        rate_limit=args.rate_limit,
        rate_store=args.rate_store,
    )


@attrs.frozen
class Opened:
    """A provider's source, and how to name it in an error (its title and host)."""

    plugin: ProviderPlugin
    source: EventSource
    where: str


def _where(plugin: ProviderPlugin, base_url: str | None) -> str:
    try:  # host and port only: a user:password part is never printed
        parts = urlsplit(base_url) if base_url else None
        host = "" if parts is None else (parts.hostname or "")
        if ":" in host:
            host = f"[{host}]"  # an IPv6 address, as a URL writes it
        if host and parts is not None and parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:  # a malformed URL (the client refuses it, with the reason)
        host = ""
    return f"{plugin.title} ({host})" if host else plugin.title


async def _open(stack: AsyncExitStack, plugin: ProviderPlugin, options: SourceOptions) -> Opened:
    """The plugin's source; missing credentials said in environment variables, not keywords,
    and any other failure (a plug-in's client factory raising) named with its provider."""
    try:
        client = await stack.enter_async_context(plugin.client(options))
    except MissingCredentialsError:
        raise MissingCredentialsError(
            f"no {plugin.title} credentials: set {plugin.credentials}"
        ) from None
    except Exception as exc:
        raise ProviderFailed(_where(plugin, options.base_url), exc) from exc
    where = _where(plugin, getattr(client, "base_url", None) or options.base_url)
    try:
        return Opened(plugin, plugin.source(client), where)
    except Exception as exc:
        raise ProviderFailed(where, exc) from exc


async def _open_chosen(
    stack: AsyncExitStack, args: argparse.Namespace, registry: Registry, tally: Tally
) -> list[Opened]:
    """The sources of ``--provider``; for ``all``, of every provider that has credentials
    (one that cannot be opened is named and counted; the others go on)."""
    if args.provider != "all":
        plugin = registry.get(args.provider)
        return [await _open(stack, plugin, _options(args, plugin))]
    if args.base_url:
        raise Usage("--base-url needs one --provider (it names one server), not all")
    opened: list[Opened] = []
    skipped: list[ProviderPlugin] = []
    failed: list[ProviderFailed] = []
    for plugin in registry:
        try:
            opened.append(await _open(stack, plugin, _options(args, None)))
        except MissingCredentialsError:
            skipped.append(plugin)
        except ProviderFailed as failure:
            failed.append(failure)
    if not opened and failed:
        raise failed[0]
    if not opened:
        wanted = "; ".join(f"{p.title}: {p.credentials}" for p in skipped)
        raise MissingCredentialsError(f"no credentials for any provider: set {wanted}")
    for plugin in skipped:
        warn(f"{plugin.title} skipped: no credentials (set {plugin.credentials})")
    for each in failed:
        tally.provider_failed(each)
    return opened


class _Guarded:
    """A source whose listing's failure is kept (with its provider's name) instead of
    ending every other provider's listing: nothing the others fetched is thrown away."""

    def __init__(self, opened: Opened, failures: list[ProviderFailed]) -> None:
        self.opened = opened
        self.provider = opened.source.provider
        self.failures = failures
        self.listed = 0

    async def iter_events(
        self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> AsyncIterator[Event]:
        try:
            async for event in self.opened.source.iter_events(date_from=date_from, date_to=date_to):
                self.listed += 1
                yield event
        except Exception as exc:
            self.failures.append(ProviderFailed(self.opened.where, exc))

    async def get_event(self, event_id: str) -> Event:
        return await self.opened.source.get_event(event_id)

    async def list_participants(self, event_id: str) -> list[Participant]:
        return await self.opened.source.list_participants(event_id)


# -- fetching ------------------------------------------------------------------------------


async def _details(source: EventSource, plugin: ProviderPlugin, event_id: str) -> Outcome:
    """One event in full, with any truncation of its participants noted against it."""
    notes: list[str] = []
    token = _EVENT_NOTES.set(notes)
    try:
        event = await source.get_event(event_id)
    finally:
        _EVENT_NOTES.reset(token)
    visible = event.participants is not None and plugin.participants_visible(event)
    for note in notes:
        warn(f"{plugin.name} event {event.id}: participants: {note}")
    return Outcome(event, details=True, complete=visible and not notes, visible=visible)


def _spinner(console: Console) -> Any:
    """Progress of a listing, whose total is unknown: a spinner and a count."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}: {task.completed}"),
        console=console,
        transient=console.is_terminal,
    )


def _bar(console: Console) -> Any:
    """Progress of the details, whose total is known: a bar and done/total."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=console.is_terminal,
    )


async def _collect(
    registry: Registry,
    opened: Sequence[Opened],
    emit: Callable[[Outcome], None],
    console: Console,
    tally: Tally,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    with_details: bool = False,
    concurrency: int = 16,
    defer: bool = False,
) -> None:
    """Every event of every source to ``emit``, in :func:`by_start` order, progress on stderr.

    The listing is read whole (so the order never depends on timing); details
    are fetched concurrently and emitted in that order. ``defer``: emit only
    once the progress display is gone (data and progress on one terminal never
    share a line). A provider whose listing fails is counted in ``tally``; when
    every one fails before listing anything, the first failure is raised.
    """
    failures: list[ProviderFailed] = []
    guarded = [_Guarded(o, failures) for o in opened]
    with _spinner(console) as progress:
        listing = progress.add_task("listing events", total=None)
        listed: list[Event] = []
        async for event in merge_events(*guarded, date_from=date_from, date_to=date_to):
            listed.append(event)
            progress.advance(listing)
    if failures and len(failures) == len(guarded) and not listed:
        raise failures[0]
    for each in failures:
        tally.provider_failed(each)
    listed.sort(key=lambda e: by_start(Outcome(e)))
    held: list[Outcome] = []
    out = held.append if defer else emit
    if not with_details:
        for event in listed:
            out(Outcome(event))
    else:
        by_name = {str(o.source.provider): o for o in opened}

        async def detail(index: int) -> Outcome:
            event = listed[index]
            chosen = by_name[str(event.provider)]
            try:
                return await _details(chosen.source, chosen.plugin, event.id)
            except APIError as exc:  # written from the listing, marked and counted
                return Outcome(event, details=True, complete=False, error=one_line(exc))

        ready: dict[int, Outcome] = {}
        following = 0
        with _bar(console) as progress:
            details = progress.add_task("fetching details", total=len(listed))
            async for result in fetch_many(detail, range(len(listed)), concurrency=concurrency):
                progress.advance(details)
                if result.value is not None:
                    ready[result.key] = result.value
                else:  # not an APIError (a provider's bug): still written, and counted
                    error = str(result.error)
                    event = listed[result.key]
                    ready[result.key] = Outcome(event, details=True, complete=False, error=error)
                while following in ready:  # in listing order, as soon as it can
                    out(ready.pop(following))
                    following += 1
    for outcome in held:
        emit(outcome)


# -- commands ------------------------------------------------------------------------------


async def cmd_demo(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """Every provider's fake in-process, everything pulled through the common types."""
    if args.base_url:
        raise Usage("--base-url does not apply to demo (it runs its own servers)")
    tally = Tally()
    _TALLY.set(tally)  # this run's task only: anyio.run gives it its own context
    outcomes: list[Outcome] = []
    with output(args.out) as target:
        async with AsyncExitStack() as stack:
            opened = []
            for plugin in registry:
                if plugin.fake is not None:
                    source = await stack.enter_async_context(plugin.open_fake_source())
                    opened.append(Opened(plugin, source, f"{plugin.title} (demo)"))
            writer = Writer(target, "jsonl", width=None)

            def emit(outcome: Outcome) -> None:
                writer.write(outcome)
                tally.add(outcome)
                outcomes.append(outcome)

            await _collect(registry, opened, emit, console, tally, with_details=True)
        # the fakes' seed data has events the demo user does not own: said in the summary
        code = tally.finish(where=args.out, warn_hidden=False)
        target.keep()
    sys.stdout.write(summary_table(outcomes, terminal_width(sys.stdout)))
    return code


async def cmd_events(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """Every event of the chosen providers, as a table, JSON lines, CSV or an iCalendar feed."""
    if args.date_from and args.date_to and args.date_to < args.date_from:
        raise Usage(f"--to {args.date_to} is before --from {args.date_from}")
    tally = Tally()
    _TALLY.set(tally)  # this run's task only: anyio.run gives it its own context
    with output(args.out) as target:  # checked before anything is sent
        async with AsyncExitStack() as stack:
            opened = await _open_chosen(stack, args, registry, tally)
            if args.updated_since is not None:
                opened = [
                    attrs.evolve(each, source=_since(each.source, args.updated_since))
                    for each in opened
                ]
            writer = Writer(
                target,
                args.format,
                width=terminal_width(target),
                calendar_name=args.calendar_name,
            )

            def emit(outcome: Outcome) -> None:
                writer.write(outcome)
                tally.add(outcome)

            succeeded = False
            try:
                await _collect(
                    registry, opened, emit, console, tally,
                    date_from=args.date_from, date_to=args.date_to,
                    with_details=args.participants, defer=target.isatty(),
                )  # fmt: skip
                succeeded = True
            finally:
                writer.close(succeeded=succeeded)
        code = tally.finish()
        missing = (
            "a provider failed" if tally.providers_failed
            else "a listing may be cut short" if tally.listings_cut
            else None
        )  # fmt: skip
        if args.format == "ics" and missing and target.name is not None:
            # A calendar app drops every event missing from a feed: with a provider's events
            # (or the rest of a listing) missing, the feed served stays the last whole one.
            # (An event a source skipped has no date a feed could hold: not a reason.)
            warn(f"--out {target.name} left as it was: {missing}, so this feed would"
                 " miss events")  # fmt: skip
        else:
            target.keep()  # exit 0, or 6 with what was fetched: the run wrote its result
    return code


class _UpdatedSince:
    """A source whose listing passes ``updated_since`` on (its ``iter_events`` takes it)."""

    def __init__(self, source: EventSource, updated_since: dt.datetime) -> None:
        self.source = source
        self.provider = source.provider
        self.updated_since = updated_since
        self.get_event = source.get_event
        self.list_participants = source.list_participants

    def iter_events(
        self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> Any:
        return self.source.iter_events(  # type: ignore[call-arg]
            date_from=date_from, date_to=date_to, updated_since=self.updated_since
        )


def _since(source: EventSource, updated_since: dt.datetime) -> EventSource:
    """``source`` listing only what changed since ``updated_since`` when it can; else itself,
    with a warning that all its events are listed (a superset: nothing is missed)."""
    if "updated_since" in inspect.signature(source.iter_events).parameters:
        return _UpdatedSince(source, updated_since)
    warn(
        f"{source.provider} events carry no update time: --updated-since does"
        " not narrow them, all are listed"
    )
    return source


async def _fetch_one(
    args: argparse.Namespace, registry: Registry
) -> tuple[ProviderPlugin, Outcome]:
    """One event in full; its failure is the run's error (there is nothing else to write)."""
    plugin = registry.get(args.provider)
    event_id = plugin.check_id(args.id)
    async with AsyncExitStack() as stack:
        opened = await _open(stack, plugin, _options(args, plugin))
        try:
            return plugin, await _details(opened.source, plugin, event_id)
        except Exception as exc:
            raise ProviderFailed(opened.where, exc) from exc


async def cmd_event(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """One event with its participants, as one JSON line."""
    _, outcome = await _fetch_one(args, registry)
    sys.stdout.write(json_line(outcome.record(), sys.stdout))
    return EXIT_PARTIAL if outcome.complete is False and outcome.visible else EXIT_OK


async def cmd_participants(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """An event's participants as JSON lines; participants you may not see are an error."""
    plugin, outcome = await _fetch_one(args, registry)
    if not outcome.visible:
        raise PermissionDeniedError(
            f"{plugin.title} does not show the participants of event {outcome.event.id} to"
            " you (only to its owner, or to an API key allowed to read them)",
            status_code=403,
        )
    for participant in outcome.event.participants or ():
        sys.stdout.write(json_line(participant_record(participant), sys.stdout))
    return EXIT_PARTIAL if outcome.complete is False else EXIT_OK


async def cmd_providers(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """The installed providers, their aliases and the environment variables they read."""
    for plugin in registry:
        aliases = f" (also: {', '.join(plugin.aliases)})" if plugin.aliases else ""
        sys.stdout.write(f"{plugin.name}{aliases}: {plugin.title}\n")
        for variable in plugin.environment:
            sys.stdout.write(f"  ${variable.name}: {variable.help}\n")
    return EXIT_OK
