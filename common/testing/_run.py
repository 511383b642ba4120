"""Running a fake in its own process: ``python -m <provider>.testing``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._server import FakeServer

__all__ = ["build_arg_parser", "run_cli"]


def build_arg_parser(description: str, prog: str | None = None) -> argparse.ArgumentParser:
    """Command-line options shared by the fakes' ``python -m ... .testing`` entry points.

    ``prog`` defaults to how the fake was started (``python -m intervals_async.testing``),
    not the file name argparse would show (``testing.py``).
    """
    if prog is None:
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        prog = f"python -m {spec.name}" if spec is not None and spec.name else None
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--events", type=int, default=None, help="number of seeded events")
    parser.add_argument(
        "--no-validate", action="store_true", help="skip OpenAPI validation (if the fake has it)"
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="RPS",
        help="answer 429 above this many requests per second (default: no limit)",
    )
    parser.add_argument("--burst", type=int, default=1, help="rate-limit burst (default 1)")
    parser.add_argument(
        "--rate-limit-style",
        choices=["body", "body-rounded", "header", "none"],
        default="body",
        help="how a 429 names its wait (default body)",
    )
    parser.add_argument(
        "--rate-limit-kind",
        choices=["token", "sliding", "fixed"],
        default="token",
        help="token bucket, sliding or fixed window (default token)",
    )
    return parser


def run_cli(
    fake: Callable[..., FakeServer],
    description: str,
    argv: list[str] | None = None,
    *,
    switches: Mapping[str, str] | None = None,
    choices: Mapping[str, tuple[str, Sequence[str]]] | None = None,
) -> None:
    """Parse ``argv``, serve ``fake(seed=, validate=, host=, port=[, events=])`` (a fake's
    class) until SIGINT/SIGTERM.

    ``switches``: the fake's own boolean keywords, each offered as a flag
    (``{"cursor_pagination": help}`` gives ``--cursor-pagination``); ``choices``: its
    keywords taking one of some words, the first the default (``{"api": (help,
    ["seed", "current"])}`` gives ``--api {seed,current}``).

    Once listening it prints its URL as the first line of stdout (scripts wait for it), then
    the credentials it accepts (:meth:`FakeServer.credentials`) on stderr.
    """
    parser = build_arg_parser(description)
    for name, text in (switches or {}).items():
        parser.add_argument(f"--{name.replace('_', '-')}", action="store_true", help=text)
    for name, (text, words) in (choices or {}).items():
        parser.add_argument(
            f"--{name.replace('_', '-')}", choices=list(words), default=words[0], help=text
        )
    options = parser.parse_args(argv)

    async def serve() -> None:
        keywords: dict[str, Any] = {"seed": options.seed, "host": options.host}
        keywords.update(port=options.port, validate=False if options.no_validate else None)
        if options.events is not None:
            keywords["events"] = options.events
        named = [*(switches or {}), *(choices or {})]
        keywords.update({name: getattr(options, name) for name in named})
        server = fake(**keywords)
        if options.rate_limit is not None:
            server.rate_limit(
                options.rate_limit,
                options.burst,
                options.rate_limit_style,
                options.rate_limit_kind,
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        async with server:
            print(server.url, flush=True)
            lines = [f"{type(server).__name__} on {server.url} accepts:", *server.credentials()]
            print("\n  ".join(lines), file=sys.stderr, flush=True)
            await stop.wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
