"""``python -m benchmarks [--smoke] [--only 1,4] [--json FILE]``: run the figures, print the table.

Exit status 0 when every selected figure ran (goals missed or not), 1 when one crashed
(its traceback is printed and the others still run), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
import traceback
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ._report import Row, format_table, write_json
from .figures import FIGURES, FULL, LAST, SMOKE, Context

#: Where the results go unless ``--json`` says otherwise (the docs plot them).
RESULTS = Path(__file__).resolve().parent / "results" / "figures.json"


def _figures(text: str) -> list[int]:
    try:
        chosen = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        message = f"expected figure numbers like 1,4, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    unknown = [n for n in chosen if n not in FIGURES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"figures are {min(FIGURES)}..{max(FIGURES)}")
    return _in_order(chosen)


def _in_order(figures: list[int]) -> list[int]:
    """Figures by number, those of :data:`LAST` after the others."""
    return sorted(figures, key=lambda number: (number in LAST, number))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, one round: checks the scripts run"
    )
    parser.add_argument(
        "--only",
        type=_figures,
        default=_in_order(list(FIGURES)),
        metavar="N[,N]",
        help="figures to run",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="where the results go as JSON (default: benchmarks/results/figures.json for a"
        " full run, nowhere for --smoke)",
    )
    return parser


def _versions() -> dict[str, str]:
    names = [
        "aiohttp",
        "msgspec",
        "cattrs",
        "attrs",
        "orjson",
        "pydantic",
        "httpx",
        "openapi-python-client",
    ]
    found: dict[str, str] = {}
    for name in names:
        with contextlib.suppress(Exception):
            found[name] = version(name)
    return found


_BUSY = 0.5  # the 1-minute load average above which we warn


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None


def main(argv: list[str] | None = None) -> int:
    """Run the selected figures; the exit status."""
    options = _parser().parse_args(argv)
    settings = SMOKE if options.smoke else FULL
    rows: list[Row] = []
    crashed: list[int] = []
    started = time.perf_counter()
    print(
        f"benchmarks ({'smoke' if settings.smoke else 'full'}): figures"
        f" {','.join(map(str, options.only))}; Python {platform.python_version()},"
        f" {os.cpu_count()} CPUs",
        flush=True,
    )
    load = _load()
    if load is not None and load > _BUSY:
        print(
            f"warning: load average {load:.2f} on {os.cpu_count()} CPUs: something else is"
            " running, wall-clock ratios will be noisy (see the client CPU ratios too)",
            flush=True,
        )
    with contextlib.ExitStack() as stack:
        context = Context(settings, stack)
        for number in options.only:
            figure_started = time.perf_counter()
            try:
                figure_rows = FIGURES[number](context)
            except Exception:
                crashed.append(number)
                print(f"figure {number} CRASHED:", file=sys.stderr, flush=True)
                traceback.print_exc()
                continue
            rows += figure_rows
            took = time.perf_counter() - figure_started
            for row in figure_rows:
                cpu_ratio = row.details.get("cpu_ratio")
                cpu = f"; client CPU ratio {cpu_ratio:.3f}" if cpu_ratio is not None else ""
                verdict = "met" if row.met else "MISSED"
                print(
                    f"  [{took:5.1f}s] {row.figure}: {row.library} vs {row.contender}"
                    f" -> {row.cells()[3]} (goal {row.goal}: {verdict}{cpu})",
                    flush=True,
                )
    total = time.perf_counter() - started
    print()
    print(format_table(rows))
    missed = [row.figure for row in rows if not row.met]
    print(
        f"\n{len(rows) - len(missed)}/{len(rows)} goals met; {total:.1f}s"
        + (f"; figures {','.join(map(str, crashed))} CRASHED" if crashed else ""),
        flush=True,
    )
    target = options.json or (None if settings.smoke else RESULTS)
    if target is not None and rows:
        meta: dict[str, Any] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "smoke": settings.smoke,
            "figures": options.only,
            "crashed": crashed,
            "seconds": total,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_start": load,
            "versions": _versions(),
            "settings": settings.__dict__,
        }
        write_json(target, rows, meta)
        print(f"results: {target}", flush=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
