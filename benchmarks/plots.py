"""``python -m benchmarks.plots RESULTS.json [--out docs/img]``: the figures as PNGs.

Reads the JSON that ``python -m benchmarks --json FILE`` writes and draws, from the rows
it holds (nothing here is typed in by hand):

- ``bench-speed.png``: every time ratio (library / contender, goal ``<=``: figures 1, 2,
  4 and 5), a bar each, with its goal marked;
- ``bench-rate.png``: rate control (figures 3 and 7): the efficiency of each scenario
  (goal ``>=``) and the share of requests refused (goal in %);
- with ``--table FILE``, every row as a Markdown table (the benchmarks page includes it).

A chart whose rows are not in the file (a run with ``--only``) is not written, so the
PNG of an earlier run stays. The title says which run it was (full or smoke, when,
Python, CPUs, load), since HTTP figures depend on the machine. ``tasks.py bench`` calls
this after each run; the documentation embeds the PNGs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # after choosing the backend

__all__ = ["Result", "load", "main", "plot_rate", "plot_speed", "write_table"]

_GOAL = re.compile(r"^\s*(<=|<|>=)\s*([0-9.]+)\s*(.*?)\s*$")
_MET, _MISSED, _GOAL_COLOUR = "#2e7d32", "#c62828", "#212121"
#: Efficiency above this is drawn at the edge (a server burst can make it >> 1 in smoke runs).
_EFFICIENCY_AXIS = 2.0
#: Where a results file may record when it ran (ISO dates first).
_DATE_KEYS = ("at", "date", "started_at", "finished_at")


class Result:
    """One row of the results file, with its goal parsed."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.figure: str = row["figure"]
        self.library: str = str(row.get("library", ""))
        self.contender: str = str(row.get("contender", ""))
        self.value = float(row["value"])
        self.met = bool(row["met"])
        match = _GOAL.match(str(row["goal"]))
        if match is None:
            raise ValueError(f"unreadable goal {row['goal']!r} of {self.figure!r}")
        self.op, self.limit, self.unit = match.group(1), float(match.group(2)), match.group(3)
        #: The run the row came from, when the file was filled figure by figure.
        self.run: dict[str, Any] = row.get("run") or {}

    @property
    def number(self) -> str:
        """The figure's number as the table shows it: ``1``, ``4a``, ``7``."""
        return self.figure.split(" ", 1)[0]


def load(path: Path) -> tuple[dict[str, Any], list[Result]]:
    """The run's description and its rows."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return document.get("meta", {}), [Result(row) for row in document["results"]]


def _title(what: str, meta: dict[str, Any], rows: Sequence[Result], path: Path) -> str:
    runs = [row.run for row in rows if row.run] or [meta]
    smoke = any(run.get("smoke") for run in runs)
    kind = "smoke run (tiny sizes, one round)" if smoke else "full run"
    dates = sorted({_date(run) for run in runs} - {None}) or [_file_date(path)]
    when = dates[0] if len(dates) == 1 else f"runs of {dates[0]} to {dates[-1]}"
    loads = [run["load_average_at_start"] for run in runs if run.get("load_average_at_start")]
    busy = f", load {max(loads):.1f}" if loads else ""
    return (
        f"{what}\n{kind}, {when}, Python {meta.get('python', '?')},"
        f" {meta.get('cpus', '?')} CPUs{busy}"
    )


def _date(run: dict[str, Any]) -> str | None:
    return next((str(run[key])[:10] for key in _DATE_KEYS if run.get(key)), None)


def _file_date(path: Path) -> str:
    """The results file's own time, for a run that did not record when it ran."""
    return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc).strftime("%Y-%m-%d")


def _bars(axis: Any, rows: Sequence[Result], *, axis_max: float | None = None) -> None:
    """One horizontal bar per row (first row on top), its goal as a tick, its value written."""
    labels = [row.figure for row in rows]
    values = [min(row.value, axis_max) if axis_max else row.value for row in rows]
    positions = list(range(len(rows)))[::-1]
    axis.barh(positions, values, color=[_MET if row.met else _MISSED for row in rows], height=0.6)
    for y, row, shown in zip(positions, rows, values, strict=True):
        axis.plot([row.limit, row.limit], [y - 0.4, y + 0.4], color=_GOAL_COLOUR, lw=2)
        clipped = axis_max is not None and row.value > axis_max
        text = f"{row.value:.3g}{row.unit}{' (off the scale)' if clipped else ''}"
        text += f"  goal {row.op} {row.limit:g}{row.unit}"
        axis.annotate(text, (shown, y), xytext=(4, 0), textcoords="offset points", va="center")
    axis.set_yticks(positions, labels, fontsize=8)
    axis.margins(x=0.45)
    axis.grid(axis="x", alpha=0.3)


def plot_speed(meta: dict[str, Any], rows: Sequence[Result], out: Path, source: Path) -> bool:
    """``bench-speed.png`` from the time ratios; False when the run had none."""
    ratios = [row for row in rows if row.op == "<=" and not row.unit]
    if not ratios:
        return False
    figure, axis = plt.subplots(figsize=(11, 0.5 * len(ratios) + 1.8))
    _bars(axis, ratios)
    axis.set_xlabel("time ratio: library / contender (lower is better; tick: the goal)")
    axis.set_title(_title("Speed against the contenders", meta, ratios, source), fontsize=10)
    figure.tight_layout()
    figure.savefig(out / "bench-speed.png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return True


def plot_rate(meta: dict[str, Any], rows: Sequence[Result], out: Path, source: Path) -> bool:
    """``bench-rate.png`` from figures 3 and 7; False when the run had neither."""
    rated = [row for row in rows if row.number in ("3", "7")]
    efficiency = [row for row in rated if row.op == ">=" and not row.unit]
    refused = [row for row in rated if row.unit == "%"]
    if not efficiency and not refused:
        return False
    height = 0.45 * (len(efficiency) + len(refused)) + 3.0
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, height))
    _bars(top, efficiency, axis_max=_EFFICIENCY_AXIS)
    top.set_xlabel("efficiency: ideal time / time taken (higher is better; tick: the goal)")
    _bars(bottom, refused)
    bottom.set_xlabel("refused: 429 answers / requests, % (lower is better; tick: the goal)")
    for axis, rows_here in ((top, efficiency), (bottom, refused)):
        axis.set_yticks(
            axis.get_yticks(), [row.figure.rsplit(":", 1)[0] for row in rows_here], fontsize=8
        )
    figure.suptitle(_title("Rate control (figures 3 and 7)", meta, rated, source), fontsize=10)
    figure.tight_layout()
    figure.savefig(out / "bench-rate.png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return True


def write_table(meta: dict[str, Any], rows: Sequence[Result], path: Path) -> None:
    """Every row as a Markdown table, with the run it came from (``--table``)."""
    lines = [
        "| figure | library | contender | value | goal | met? | run |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        run = row.run or meta
        load = run.get("load_average_at_start")
        when = f"{_date(run) or '?'}{'' if load is None else f', load {load:.1f}'}"
        when += " (smoke)" if run.get("smoke") else ""
        shown = f"{row.value:.3f}" if not row.unit else f"{row.value:.2f}{row.unit}"
        cells = [row.figure, row.library, row.contender, shown]
        cells += [f"{row.op} {row.limit:g}{row.unit}", "yes" if row.met else "**no**", when]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Draw the charts of one results file; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plots", description=__doc__)
    parser.add_argument("results", type=Path, help="the JSON file of python -m benchmarks")
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="where PNGs go")
    parser.add_argument("--table", type=Path, help="also write every row as a Markdown table")
    options = parser.parse_args(argv)
    meta, rows = load(options.results)
    if options.table is not None:
        write_table(meta, rows, options.table)
    options.out.mkdir(parents=True, exist_ok=True)
    written = [
        name
        for name, draw in (("bench-speed.png", plot_speed), ("bench-rate.png", plot_rate))
        if draw(meta, rows, options.out, options.results)
    ]
    print(f"plots: {', '.join(written) or 'none (no rows to draw)'} in {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
