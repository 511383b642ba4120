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
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import attrs

from .._bulk import fetch_many, merge_events
from .._errors import APIError, MissingCredentialsError, PermissionDeniedError, TruncationWarning
from .._json import dumps
from .._records import participant_record, provider_name
from .._types import Event, EventSource
from ..provider import ProviderPlugin, Registry, SourceOptions
from ._output import (
    Outcome,
    Writer,
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


class Usage(Exception):
    """A usage error: exit code 2, one line."""


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
    """``warnings.showwarning`` for the run: one warning line, and a truncation is counted.

    A truncation while one event's details are fetched is noted against that event
    (and reported with it); any other (a listing cut short) counts for the whole run.
    """
    if issubclass(category, TruncationWarning):
        notes, tally = _EVENT_NOTES.get(), _TALLY.get()
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

    def add(self, outcome: Outcome) -> None:
        self.written[provider_name(outcome.event.provider)] += 1
        if outcome.error is not None:
            self.failed.append(outcome.label())
            warn(f"{outcome.label()}: details not fetched: {outcome.error}")
        elif not outcome.visible:
            name = provider_name(outcome.event.provider)
            self.hidden.setdefault(name, []).append(outcome.event.id)
        elif outcome.complete is False:
            self.incomplete.append(outcome.label())

    def finish(self) -> int:
        """The closing lines on stderr, and the exit code."""
        for name, ids in sorted(self.hidden.items()):
            listed = ", ".join(ids[:10]) + (", …" if len(ids) > 10 else "")
            warn(
                f"participants not shown to you (only to the event's owner): {name} event {listed}"
            )
        counts = ", ".join(f"{name} {n}" for name, n in sorted(self.written.items()))
        text = f"eventsync: wrote {sum(self.written.values())} events"
        text += f" ({counts})" if counts else ""
        problems = []
        if self.listings_cut:
            problems.append(f"{self.listings_cut} listing(s) possibly cut short")
        if self.failed:
            problems.append(f"{len(self.failed)} failed")
        if self.incomplete:
            problems.append(f"{len(self.incomplete)} with participants possibly cut short")
        if self.hidden:
            hidden = sum(map(len, self.hidden.values()))
            problems.append(f"{hidden} with participants not shown to you")
        sys.stderr.write(text + ("; " + ", ".join(problems) if problems else "") + "\n")
        partial = self.failed or self.incomplete or self.listings_cut
        return EXIT_PARTIAL if partial else EXIT_OK


# -- sources ---------------------------------------------------------------------------------


def _options(args: argparse.Namespace, plugin: ProviderPlugin | None) -> SourceOptions:
    """The flags as client options; ``--base-url`` only for the one provider chosen."""
    return SourceOptions(
        base_url=args.base_url if plugin is not None else None,
        rate_limit=args.rate_limit,
        rate_store=args.rate_store,
    )


async def _open(stack: AsyncExitStack, plugin: ProviderPlugin, options: SourceOptions) -> Any:
    """The plugin's source; missing credentials said in environment variables, not keywords."""
    try:
        return await stack.enter_async_context(plugin.open_source(options))
    except MissingCredentialsError:
        raise MissingCredentialsError(
            f"no {plugin.title} credentials: set {plugin.credentials}"
        ) from None


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


# -- fetching ------------------------------------------------------------------------------


async def _details(source: EventSource, plugin: ProviderPlugin, event_id: str) -> Outcome:
    """One event in full, with any truncation of its participants noted against it."""
    notes: list[str] = []
    token = _EVENT_NOTES.set(notes)
    try:
        event = await source.get_event(event_id)
    finally:
        _EVENT_NOTES.reset(token)
    visible = plugin.participants_visible(event)
    for note in notes:
        warn(f"{plugin.name} event {event.id}: participants: {note}")
    return Outcome(event, details=True, complete=visible and not notes, visible=visible)


def _progress(console: Console) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )


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
        count = 0
        async for event in merge_events(*sources, date_from=date_from, date_to=date_to):
            count += 1
            progress.advance(listing)
            if with_details:
                listed.append(event)
            else:
                emit(Outcome(event))
        progress.update(listing, total=count)
        if not with_details:
            return
        by_name = {provider_name(s.provider): s for s in sources}
        details = progress.add_task("fetching details", total=len(listed))

        async def detail(event: Event) -> Outcome:
            name = provider_name(event.provider)
            try:
                return await _details(by_name[name], registry.get(name), event.id)
            except APIError as exc:  # written from the listing, marked and counted
                return Outcome(event, details=True, complete=False, error=one_line(exc))

        async for result in fetch_many(detail, listed, concurrency=concurrency):
            progress.advance(details)
            if result.value is not None:
                emit(result.value)
            else:  # not an APIError (a provider's bug): still written, and counted
                emit(Outcome(result.key, details=True, complete=False, error=str(result.error)))


# -- commands ------------------------------------------------------------------------------


async def cmd_demo(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """Every provider's fake in-process, everything pulled through the common types."""
    if args.base_url:
        raise Usage("--base-url does not apply to demo (it runs its own servers)")
    tally = Tally()
    _TALLY.set(tally)  # this run's task only: anyio.run gives it its own context
    outcomes: list[Outcome] = []
    async with AsyncExitStack() as stack:
        sources = [
            await stack.enter_async_context(plugin.open_fake_source())
            for plugin in registry
            if plugin.fake is not None
        ]
        with output(args.out) as stream:
            writer = Writer(stream, "jsonl", width=None)

            def emit(outcome: Outcome) -> None:
                writer.write(outcome)
                tally.add(outcome)
                outcomes.append(outcome)

            await _collect(registry, sources, emit, console, with_details=True)
    sys.stdout.write(summary_table(outcomes, terminal_width(sys.stdout)))
    sys.stdout.write(f"wrote {len(outcomes)} events to {args.out}\n")
    return tally.finish()


async def cmd_events(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """Every event of the chosen providers, as a table, JSON lines or CSV."""
    if args.date_from and args.date_to and args.date_to < args.date_from:
        raise Usage(f"--to {args.date_to} is before --from {args.date_from}")
    tally = Tally()
    _TALLY.set(tally)  # this run's task only: anyio.run gives it its own context
    async with AsyncExitStack() as stack:
        sources = await _open_chosen(stack, args, registry)
        with output(args.out) as stream:
            writer = Writer(stream, args.format, width=terminal_width(stream))

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
    return tally.finish()


async def _fetch_one(
    args: argparse.Namespace, registry: Registry
) -> tuple[ProviderPlugin, Outcome]:
    """One event in full; its failure is the run's error (there is nothing else to write)."""
    plugin = registry.get(args.provider)
    event_id = plugin.check_id(args.id)
    async with AsyncExitStack() as stack:
        source = await _open(stack, plugin, _options(args, plugin))
        return plugin, await _details(source, plugin, event_id)


async def cmd_event(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """One event with its participants, as one JSON line."""
    _, outcome = await _fetch_one(args, registry)
    sys.stdout.write(dumps(outcome.record()).decode() + "\n")
    return EXIT_PARTIAL if outcome.complete is False and outcome.visible else EXIT_OK


async def cmd_participants(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """An event's participants as JSON lines; participants you may not see are an error."""
    plugin, outcome = await _fetch_one(args, registry)
    if not outcome.visible:
        raise PermissionDeniedError(
            f"{plugin.title} does not show the participants of event {outcome.event.id} to"
            " you (only to its owner)",
            status_code=403,
        )
    for participant in outcome.event.participants:
        sys.stdout.write(dumps(participant_record(participant)).decode() + "\n")
    return EXIT_PARTIAL if outcome.complete is False else EXIT_OK


async def cmd_providers(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    """The installed providers, their aliases and the environment variables they read."""
    for plugin in registry:
        aliases = f" (also: {', '.join(plugin.aliases)})" if plugin.aliases else ""
        sys.stdout.write(f"{plugin.name}{aliases}: {plugin.title}\n")
        for variable in plugin.environment:
            sys.stdout.write(f"  ${variable.name}: {variable.help}\n")
    return EXIT_OK
