"""A virtual clock: an asyncio event loop whose time jumps to the next timer.

When no callback is ready, the loop does not wait for its next timer: it sets
its clock to that timer's time and runs it. Sleeps, timeouts, backoff, pacing
and cool-downs then cost nothing, and a run is deterministic (no wall-clock
noise). Only for code that does no real I/O (sockets would look idle and time
would jump past their answers): pair it with :class:`MemorySender`.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["VirtualEventLoop", "run_virtual", "virtual_backend"]

T = TypeVar("T")

#: Where a virtual clock starts: loop time, and the epoch seconds it stands for.
START = 1_000.0
EPOCH = 1_800_000_000.0  # 2027-01-15, so that dates in headers are plausible
#: Real seconds to wait for a thread or signal when no timer is set, before calling it
#: a deadlock (every task waits on something nothing will set).
IDLE_LIMIT = 5.0


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without blocking; a wait for a timer moves the clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = START

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer: only a thread or a signal could wake the loop
            ready = super().select(IDLE_LIMIT)
            if not ready:
                raise RuntimeError(
                    "virtual clock: every task is waiting and no timer is set (a deadlock)"
                )
            return ready
        self.now += timeout
        return []


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on a virtual clock (see the module). ``time()`` starts at
    :data:`START`; ``wall_time()`` is the epoch time it stands for, which the core reads
    for ``Retry-After`` dates and epoch-ms waits."""

    def __init__(self, epoch: float = EPOCH) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)
        self._epoch = epoch - START

    def time(self) -> float:
        """The virtual monotonic time."""
        return float(self._jumping.now)

    def wall_time(self) -> float:
        """Epoch seconds at the virtual time."""
        return self._epoch + self._jumping.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by hand (timers due by then run on the next turn)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._jumping.now += seconds


def run_virtual(
    main: Callable[..., Awaitable[T]], *args: Any, epoch: float = EPOCH, debug: bool | None = None
) -> T:
    """Run ``main(*args)`` to completion on a new :class:`VirtualEventLoop`.

    ``debug`` sets asyncio's debug mode for this loop (``None``: as the interpreter says, on
    under ``PYTHONDEVMODE``); long simulations turn it off, since it slows them several times.
    """
    loop = VirtualEventLoop(epoch)
    if debug is not None:
        loop.set_debug(debug)
    try:
        return loop.run_until_complete(_call(main, *args))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


async def _call(main: Callable[..., Awaitable[T]], *args: Any) -> T:
    return await main(*args)


def virtual_backend() -> tuple[str, dict[str, Any]]:
    """The ``anyio_backend`` value running an anyio test on a virtual clock::

    pytestmark = [pytest.mark.anyio,
                  pytest.mark.parametrize("anyio_backend", [virtual_backend()])]
    """
    return ("asyncio", {"loop_factory": VirtualEventLoop})
