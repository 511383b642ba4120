"""``eventsync``: the command-line tool (install the ``cli`` extra).

An application on top of the library, in three parts: this module (flags,
exit codes, the one-line errors), :mod:`._run` (what each command fetches,
through the provider registry only) and :mod:`._output` (tables, CSV, JSON
lines). Data goes to stdout or ``--out``; progress, warnings and errors go to
stderr, so pipes stay clean. The exit codes are :data:`EXIT_CODES`, also shown
by ``eventsync --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import logging
import math
import os
import shutil
import signal
import sys
import textwrap
import traceback
import types
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from .._errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    MergeError,
    MissingCredentialsError,
    NotFoundError,
    PermissionDeniedError,
    TruncationWarning,
)
from .._log import shown_by_env
from ..provider import Registry
from ..ratelimit._redis import check_store_url
from ._output import Output, one_line, warn
from ._run import (
    EXIT_API,
    EXIT_AUTH,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_TERMINATED,
    EXIT_USAGE,
    ProviderFailed,
    Usage,
    cmd_demo,
    cmd_event,
    cmd_events,
    cmd_participants,
    cmd_providers,
    show_warning,
)

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EXIT_CODES", "build_parser", "main"]

#: Every exit code, as --help and docs/guides/cli.md document it.
EXIT_CODES = {
    EXIT_OK: "ok (also when the reader of stdout stops early, as `| head` does)",
    EXIT_USAGE: "usage: a bad flag, value or event id; nothing was sent",
    EXIT_AUTH: "authentication: credentials missing or refused (401/403), participants hidden",
    EXIT_NOT_FOUND: "not found",
    EXIT_API: "other API or network error",
    EXIT_PARTIAL: "partial: some items failed or may be incomplete; the rest was written",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); what was written stays written",
    EXIT_TERMINATED: "terminated (SIGTERM), stopping as cleanly as for Ctrl-C",
}
RATE_STORE_VARIABLE = "EVENTSYNC_RATE_STORE"


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_USAGE, f"eventsync: error: {message} (see '{self.prog} --help')\n")


class _LowerLevel(logging.Formatter):
    """Log lines in the tool's one style: ``eventsync: warning: ...``."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"eventsync: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.levelno <= logging.DEBUG:
            text += "\n" + self.formatException(record.exc_info)
        return text


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


def _text(text: str) -> str:
    """Text to write out: a byte that was not UTF-8 on the command line (a lone surrogate
    to Python) cannot be."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("not UTF-8 text (a byte that is not UTF-8)") from None
    return text


def _instant(text: str) -> dt.datetime:
    """An ISO 8601 date and time with its offset (``Z`` accepted): an instant, not a guess."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"not a date and time with an offset, e.g. 2026-05-01T06:00:00Z: {text!r}"
        )
    return value


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


def _entry(label: str, text: str, indent: int, width: int) -> str:
    """One ``label  text`` entry of the epilog, its text wrapped under itself (never
    mid-word); a label longer than its column puts the text on the next line."""
    head = f"  {label:<{indent - 2}}"
    if len(head) > indent:
        head += "\n" + " " * indent
    lines = textwrap.wrap(text, width=max(width - indent, 20), break_on_hyphens=False)
    return head + ("\n" + " " * indent).join(lines)


def _environment_help(registry: Registry) -> str:
    """The epilog: environment variables and exit codes, wrapped to the terminal."""
    width = min(shutil.get_terminal_size().columns, 100) - 2
    lines = ["environment variables:"]
    for plugin in registry:
        lines += [_entry(v.name, v.help, 24, width) for v in plugin.environment]
    lines.append(_entry(RATE_STORE_VARIABLE, "default of --rate-store", 24, width))
    lines.append("exit codes:")
    lines += [_entry(str(code), text, 6, width) for code, text in EXIT_CODES.items()]
    return "\n".join(lines)


def build_parser(registry: Registry) -> argparse.ArgumentParser:
    """The argument parser (documented in docs/guides/cli.md)."""
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

    demo = commands.add_parser(
        "demo",
        help="run against built-in fake servers",
        description="Start every provider's fake server in this process, pull every event"
        " with its participants into a JSON lines file, and print a summary.",
    )
    demo.add_argument(
        "--out", default="events.jsonl", help="JSON lines file (default: %(default)s)"
    )
    demo.set_defaults(run=cmd_demo)

    events = commands.add_parser(
        "events",
        help="list events",
        description="List the events of one provider or of every provider with credentials,"
        " ordered by start, then provider, then id (the same data gives the same bytes)."
        " With --participants, each event's details and participants too.",
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
        choices=("table", "jsonl", "csv", "ics"),
        default="table",
        metavar="FORMAT",
        help="table | jsonl | csv | ics: an iCalendar feed, written once every event is read"
        " (with --out, replaced whole, never half-written) (default: %(default)s)",
    )
    events.add_argument(
        "--calendar-name",
        type=_text,
        metavar="NAME",
        help="with --format ics: the calendar's name",
    )
    events.add_argument(
        "--updated-since",
        type=_instant,
        metavar="DATETIME",
        help="only events updated since then (ISO 8601 with offset, e.g. 2026-05-01T06:00Z):"
        " RideWithGPS stops paging at the first older event; Intervals events carry no update"
        " time, so all of them are listed (a warning says so)",
    )
    events.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    events.add_argument(
        "--participants",
        action="store_true",
        help="also fetch each event's details and participants (one request or two per event)",
    )
    events.set_defaults(run=cmd_events)

    for name, run, what, described in (
        (
            "event",
            cmd_event,
            "one event with its participants, as JSON",
            "Fetch one event in full (details and participants) and write it as one JSON"
            " object, the same as a line of 'events --participants --format jsonl'.",
        ),
        (
            "participants",
            cmd_participants,
            "an event's participants, as JSON lines",
            "Write an event's participants, one JSON object a line. Participants the"
            " provider does not show you (only to the event's owner) are an error (exit 3),"
            " not an empty list.",
        ),
    ):
        command = commands.add_parser(name, help=what, description=described)
        command.add_argument(
            "provider", choices=choices[:-1], metavar="PROVIDER", help=" | ".join(choices[:-1])
        )
        command.add_argument(
            "id",
            metavar="EVENT_ID",
            help="the event's id as the provider gives it (the 'id' column or field of"
            " 'eventsync events'; RideWithGPS ids are whole numbers)",
        )
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
    for kind in (
        KeyboardInterrupt,
        asyncio.CancelledError,  # Ctrl-C on Python 3.10 (see _main)
        BrokenPipeError,
        Usage,
        ProviderFailed,
        APIError,
        OSError,
    ):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0]


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, ProviderFailed):
        return _exit_code(exc.error)
    if isinstance(exc, MergeError) and exc.errors:  # sources failed together: the first decides
        return _exit_code(exc.errors[0])
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


class _BestEffort:
    """A stream for messages, written as far as it can be: once it fails (a closed pipe,
    a full disk) or when the caller closed it (None), what is written goes nowhere. The
    run's result and exit code never depend on whether its messages could be shown
    (a stderr whose reader was gone ended a run with exit 0 and no ``--out`` file)."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self.encoding = str(getattr(stream, "encoding", None) or "utf-8")

    def write(self, text: str, /) -> int:
        self._do(lambda stream: stream.write(text))
        return len(text)

    def flush(self) -> None:
        self._do(lambda stream: stream.flush())

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()

    def _do(self, step: Callable[[TextIO], object]) -> None:
        if self._stream is not None:
            try:
                step(self._stream)
            except (OSError, ValueError):  # ValueError: a stream closed in this process
                self._stream = None


#: The Ctrl-C that stops the run at once, without unwinding (the ones before cancel it).
FORCE_AFTER = 3


class _Terminated(KeyboardInterrupt):
    """SIGTERM, unwinding the run as Ctrl-C does (an ``--out`` file's part is removed)."""


async def _terminable(
    run: Callable[[argparse.Namespace, Registry, Any], Any],
    args: argparse.Namespace,
    registry: Registry,
    console: Any,
) -> Any:
    """``run``, which Ctrl-C (SIGINT) and SIGTERM stop by cancelling it, so that every task
    unwinds in order (an ``--out`` file's part is removed). A handler raising from the
    signal landed inside whatever ran, a worker or the loop itself, and skipped that: so
    did asyncio's own for a second Ctrl-C during the unwinding, which left the part."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    stopped_by: list[signal.Signals] = []

    def stop(signum: signal.Signals) -> None:
        stopped_by.append(signum)
        if stopped_by.count(signal.SIGINT) >= FORCE_AFTER:
            raise KeyboardInterrupt  # an unwinding that does not end: at once, as asked
        if task is not None:
            task.cancel()

    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        for signum in previous:
            loop.add_signal_handler(signum, stop, signum)
            # The loop sees a signal only between callbacks: a write to a reader that stopped
            # reading (a stalled pipe) blocked it for good, and no signal stopped the run.
            # Interrupted (no SA_RESTART), the write lets Python's own handler run first.
            signal.signal(signum, unstick)
            signal.siginterrupt(signum, True)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
        _restore(loop, previous)
        return await run(args, registry, console)
    try:
        return await run(args, registry, console)
    except asyncio.CancelledError:
        if signal.SIGTERM in stopped_by:
            raise _Terminated() from None
        if stopped_by:
            raise KeyboardInterrupt() from None
        raise
    finally:
        _restore(loop, previous)


def unstick(signum: int, frame: types.FrameType | None) -> None:
    """Python's handler of SIGINT and SIGTERM beside the loop's (which stops the run): when
    the signal came during a write of the run's output (:meth:`Output.write`, ``flush``)
    that blocks, what it has not written goes to /dev/null, so that the write ends and the
    loop stops the run; anywhere else, nothing (the loop's handler does the stopping)."""
    if frame is not None and frame.f_code in _WRITES:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stuck = frame.f_locals["self"]._stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stuck)
            os.close(devnull)


_WRITES = (Output.write.__code__, Output.flush.__code__)


def _restore(loop: asyncio.AbstractEventLoop, previous: dict[signal.Signals, Any]) -> None:
    """The caller's own signal handlers, back (removing ours, asyncio sets the default)."""
    for signum, handler in previous.items():
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            if loop.remove_signal_handler(signum) and handler is not None:
                signal.signal(signum, handler)


def _interrupted() -> int:
    sys.stderr.write("eventsync: interrupted\n")
    return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None, *, registry: Registry | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it).

    ``registry`` defaults to every provider installed (entry points).
    """
    saved = sys.stdout, sys.stderr
    # A stream the caller closed (">&-", "2>&-") is None to Python: nowhere to write.
    if sys.stdout is None:
        setattr(sys, "stdout", _BestEffort(None))  # noqa: B010 - not a TextIO, on purpose
    setattr(sys, "stderr", _BestEffort(sys.stderr))  # noqa: B010
    try:
        return _main(argv, registry, stdout_closed=saved[0] is None)
    except KeyboardInterrupt:  # while setting up (loading the providers): nothing started
        return _interrupted()
    finally:
        sys.stdout, sys.stderr = saved


def _main(argv: Sequence[str] | None, registry: Registry | None, *, stdout_closed: bool) -> int:
    registry = Registry.discover() if registry is None else registry
    args = build_parser(registry).parse_args(argv)
    if stdout_closed and getattr(args, "out", None) in (None, "-"):
        sys.stderr.write("eventsync: error: stdout is closed: give --out FILE\n")
        return EXIT_USAGE
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LowerLevel())
    if not args.debug:  # asyncio's debug-mode notes (slow callbacks) are not the user's news
        handler.addFilter(lambda record: not record.name.startswith("asyncio"))
    handler.addFilter(lambda record: not shown_by_env(record))  # EVENTSYNC_LOG: once
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, handlers=[handler])
    for name, reason in registry.broken:
        warn(f"provider {name!r} not loaded: {reason}")
    try:
        from rich.console import Console
    except ImportError:
        sys.stderr.write(
            "eventsync: error: the command needs its extra: pip install 'eventsync[cli]'\n"
        )
        return EXIT_USAGE
    if getattr(args, "format", None) == "ics" and importlib.util.find_spec("icalendar") is None:
        sys.stderr.write(
            "eventsync: error: --format ics needs icalendar: pip install 'eventsync[ics]'\n"
        )
        return EXIT_USAGE
    if args.rate_store and importlib.util.find_spec("redis") is None:
        sys.stderr.write(
            "eventsync: error: --rate-store needs redis-py: pip install 'eventsync[redis]'\n"
        )
        return EXIT_USAGE
    if args.rate_store:  # checked before any provider starts: one line, exit 2
        try:
            check_store_url(args.rate_store)
        except InvalidRequestError as bad:
            sys.stderr.write(f"eventsync: error: {bad} (--rate-store, ${RATE_STORE_VARIABLE})\n")
            return EXIT_USAGE
    # A stdout that cannot encode some text (PYTHONIOENCODING=ascii): JSON lines are
    # escaped before they get here (lossless); the table and CSV get "?" for it.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")
    console = Console(stderr=True, quiet=args.no_progress)
    run: Callable[[argparse.Namespace, Registry, Console], Any] = args.run
    # Ctrl-C and SIGTERM (a service manager, a cron timeout) stop the run, cleaning up (see
    # _terminable); the caller's own handlers are back after.
    try:
        with warnings.catch_warnings():
            # A truncated listing is worth one line on stderr (or a note on its event).
            warnings.simplefilter("always", TruncationWarning)
            warnings.showwarning = show_warning
            return int(anyio.run(_terminable, run, args, registry, console))
    except BaseException as caught:  # sorted out below; anything unexpected is re-raised
        exc = _root(caught)
        if isinstance(exc, _Terminated):
            sys.stderr.write("eventsync: terminated\n")
            return EXIT_TERMINATED
        # (Ctrl-C cancels the run's task; on Python 3.10 the cancellation itself comes out
        # of anyio.run, not the KeyboardInterrupt that 3.11's asyncio.Runner raises after)
        if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
            return _interrupted()
        if isinstance(exc, BrokenPipeError):
            _quiet_stdout()
            return EXIT_OK
        if not isinstance(exc, (Usage, ProviderFailed, APIError, OSError)):
            raise
        if args.debug:
            traceback.print_exception(caught)
        sys.stderr.write(f"eventsync: error: {one_line(exc)}\n")
        return _exit_code(exc)
