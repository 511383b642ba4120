"""Coverage's tracer paused where tracing measures nothing of the library.

Under ``python3 tasks.py test`` the suite runs under coverage, whose tracer (C, on Python
3.11) slows *every* Python frame, the library's or not, two to four times. Where a test
spends its time in code that is not the library's (hypothesis generating inputs from a
JSON schema, the rate simulator's matrix), pausing the tracer there costs no measurement
of the library's lines that matter and saves most of the time. A paused span can only
leave lines unmeasured, never count one as run: the coverage floors stay honest.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TypeVar

from hypothesis import strategies as st

T = TypeVar("T")


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """Coverage's tracer paused in this thread for the span (nothing else when no coverage
    is running, or another trace function is set: a debugger's).

    This thread's tracer only, as coverage's own ``Collector.pause`` does for each: its
    ``stop()`` takes effect at its next event, in the thread that runs it, and ``start()``
    sets it again for this thread; the frames entered and left in the span are never seen,
    so its record of the frames around the span stays whole. (``Coverage.stop()`` and
    ``start()`` also rescan every imported module and re-apply its patches: about 1 ms
    each time, more than the tracing saved per draw.)
    """
    tracer = sys.gettrace()
    if type(tracer).__name__ not in ("CTracer", "PyTracer"):
        yield
        return
    tracer.stop()  # type: ignore[union-attr]
    try:
        yield
    finally:
        tracer.start()  # type: ignore[union-attr]


def drawn_untraced(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``strategy``, its values generated with the tracer paused (the test that uses them
    still runs traced). For hypothesis-jsonschema's strategies: generating a body from a
    schema took 70% of the model tests' time, and tracing doubled it."""

    @st.composite
    def draw_it(draw: st.DrawFn) -> T:
        with untraced():
            return draw(strategy)

    return draw_it()
