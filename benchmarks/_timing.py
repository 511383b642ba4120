"""Fair timing: warm-up, contenders interleaved round by round, medians or best-of.

Each round runs every contender once; the order flips every round (A B, B A, A B …) so
drift (thermal, the server's heap growing, GC) hits every contender alike.
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import time
import timeit
from collections.abc import Awaitable, Callable, Mapping

__all__ = ["Timings", "Workload", "best_of", "interleaved", "median"]

Workload = Callable[[], Awaitable[object]]
"""One round's work of one contender (e.g. 1,000 sequential requests)."""


def _order(names: list[str], round_index: int) -> list[str]:
    return names if round_index % 2 == 0 else names[::-1]


@dataclasses.dataclass
class Timings:
    """Per contender, the wall-clock and this process' CPU seconds of every round."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]

    def median_wall(self, name: str) -> float:
        """Median wall-clock seconds of ``name``'s rounds."""
        return statistics.median(self.wall[name])

    def median_cpu(self, name: str) -> float:
        """Median CPU seconds of ``name``'s rounds: this process only, so the server and other
        load on the machine count less than in :meth:`median_wall`."""
        return statistics.median(self.cpu[name])


async def interleaved(
    timed: Mapping[str, Workload],
    *,
    rounds: int,
    warmup: Mapping[str, Workload] | None = None,
) -> Timings:
    """Time each contender: warm-ups first, then ``rounds`` interleaved rounds."""
    names = list(timed)
    for name in names:
        if warmup is not None and name in warmup:
            await warmup[name]()
    timings = Timings({name: [] for name in names}, {name: [] for name in names})
    for round_index in range(rounds):
        for name in _order(names, round_index):
            gc.collect()
            cpu_started = time.process_time()
            started = time.perf_counter()
            await timed[name]()
            timings.wall[name].append(time.perf_counter() - started)
            timings.cpu[name].append(time.process_time() - cpu_started)
    return timings


def best_of(
    functions: Mapping[str, Callable[[], object]], *, repeat: int, min_seconds: float = 0.1
) -> dict[str, float]:
    """Best seconds per call of each function, timeit style, interleaved over ``repeat`` runs.

    Each function is called first to warm it up and to pick how many calls make one
    measurement of at least ``min_seconds``.
    """
    names = list(functions)
    numbers: dict[str, int] = {}
    for name in names:
        functions[name]()
        numbers[name] = _calls_for(functions[name], min_seconds)
    best = {name: float("inf") for name in names}
    for round_index in range(repeat):
        for name in _order(names, round_index):
            number = numbers[name]
            elapsed = timeit.Timer(functions[name]).timeit(number)
            best[name] = min(best[name], elapsed / number)
    return best


def _calls_for(function: Callable[[], object], min_seconds: float) -> int:
    number = 1
    while True:
        elapsed = timeit.Timer(function).timeit(number)
        if elapsed >= min_seconds or number >= 1_000_000:
            return number
        # aim a little past the target so the next try usually suffices
        number = max(number * 2, int(number * min_seconds * 1.2 / max(elapsed, 1e-9)))


def median(values: list[float]) -> float:
    """The median (``statistics.median``)."""
    return statistics.median(values)
