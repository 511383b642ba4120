"""Result rows, the final table and the JSON file."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import operator
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

__all__ = ["Goal", "Row", "figure_number", "format_table", "write_json"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
}


@dataclasses.dataclass(frozen=True)
class Goal:
    """What the compared value should be, e.g. ``Goal("<=", 1.10)``."""

    op: Literal["<=", "<", ">="]
    limit: float
    unit: str = ""

    def met(self, value: float) -> bool:
        """Whether ``value`` reaches the goal."""
        return _OPS[self.op](value, self.limit)

    def __str__(self) -> str:
        return f"{self.op} {self.limit:g}{self.unit}"


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table: the library's figure next to the contender's."""

    figure: str
    library: str
    contender: str
    value: float
    """The compared quantity: usually the ratio library / contender."""
    goal: Goal
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def met(self) -> bool:
        """Whether :attr:`value` reaches :attr:`goal`."""
        return self.goal.met(self.value)

    def cells(self) -> list[str]:
        """The table cells."""
        shown = f"{self.value:.3f}" if not self.goal.unit else f"{self.value:.2f}{self.goal.unit}"
        return [
            self.figure,
            self.library,
            self.contender,
            shown,
            str(self.goal),
            "yes" if self.met else "NO",
        ]

    def as_dict(self) -> dict[str, Any]:
        """The row for the JSON file."""
        return {
            "figure": self.figure,
            "library": self.library,
            "contender": self.contender,
            "value": self.value,
            "goal": str(self.goal),
            "met": self.met,
            "details": self.details,
        }


_HEADER = ["figure", "library", "contender", "ratio", "goal", "met?"]


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table, one row per figure (Markdown-compatible)."""
    lines = [_HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(_HEADER))]

    def render(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([render(lines[0]), rule, *(render(line) for line in lines[1:])])


def figure_number(figure: str) -> int:
    """``"4a decode ..."`` → 4."""
    digits = figure[: len(figure) - len(figure.lstrip("0123456789"))]
    return int(digits) if digits else 0


def write_json(path: Path, rows: Sequence[Row], meta: dict[str, Any]) -> None:
    """Write ``{"meta": ..., "results": [...]}`` to ``path``.

    The rows of the figures run replace theirs in an existing file; the other figures' rows
    stay, each with the ``run`` (the meta) it came from, so a file can be filled figure by
    figure (``--only``) and plotted whole.
    """
    run = {key: meta[key] for key in ("at", "load_average_at_start", "smoke") if key in meta}
    kept: list[dict[str, Any]] = []
    if path.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            previous = json.loads(path.read_text())
            done = set(meta.get("figures", ()))
            kept = [r for r in previous["results"] if figure_number(r["figure"]) not in done]
    fresh = [{**row.as_dict(), "run": run} for row in rows]
    results = sorted([*kept, *fresh], key=lambda r: (figure_number(r["figure"]), r["figure"]))
    document = {"meta": meta, "results": results}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
