"""Where the core reads time: the running event loop's clock, so that a loop with a virtual
clock (:func:`common.testing.run_virtual`) runs every wait and deadline without waiting."""

from __future__ import annotations

import asyncio
import time

__all__ = ["loop_time", "wall_time"]


def loop_time() -> float:
    """Monotonic seconds of the running event loop (``time.monotonic()`` on asyncio's own)."""
    return asyncio.get_running_loop().time()


def wall_time() -> float:
    """Epoch seconds (for ``Retry-After`` dates and epoch-ms waits): the running loop's
    ``wall_time()`` when it keeps its own (a virtual clock), else the system's."""
    own = getattr(asyncio.get_running_loop(), "wall_time", None)
    return own() if own is not None else time.time()
