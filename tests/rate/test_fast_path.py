"""The limiter's fast path (an in-process store: a turn free now is granted without the
waiting loop, the report settled without a coroutine) decides exactly as the loop does.

The same script of requests (gaps, concurrent batches, answers: accepted, refused, no
answer, cancelled while waiting) runs on a virtual clock through a :class:`LocalLimiter`
(fast path) and through a :class:`PacedLimiter` over a store the fast path does not
take (the full loop, every store call awaited); the turns given (when, the slot's
fields) and the budget left must be the same.
"""

from __future__ import annotations

import asyncio
import math

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from common.ratelimit import LocalLimiter, PacedLimiter
from common.ratelimit._limiter import _Permits
from common.ratelimit._local import Report
from common.ratelimit._store import Budget, MemoryStore
from common.testing import run_virtual


class _LoopOnly(MemoryStore):
    """A MemoryStore the fast path does not recognise: the limiter awaits every call."""


answers = st.one_of(
    st.just(Report.accepted()),
    st.just(Report.no_answer()),
    st.builds(
        lambda cool, extra, precise: Report.refused_for(cool, cool + extra, precise=precise),
        st.floats(0.01, 5.0),
        st.floats(0.0, 2.0),
        st.booleans(),
    ),
)
#: One batch: requests sent at once, each (its answer, how long it takes to come,
#: whether its caller gives up after this long instead).
batch = st.tuples(
    st.floats(0.0, 3.0),  # the gap before the batch
    st.lists(
        st.tuples(answers, st.floats(0.0, 0.5), st.none() | st.floats(0.0, 2.0)),
        min_size=1,
        max_size=6,
    ),
)


async def _run(
    fast: bool,
    rate_limit: float | None,
    burst: int,
    batches: list[tuple[float, list[tuple[Report, float, float | None]]]],
) -> tuple[list[tuple[float, float, float, bool]], Budget]:
    clock = asyncio.get_running_loop().time
    limiter: PacedLimiter
    if fast:
        limiter = LocalLimiter(rate_limit, burst=burst, max_concurrency=4, clock=clock)
    else:
        limiter = PacedLimiter(
            _LoopOnly(clock),
            rate_limit=rate_limit,
            burst=burst,
            max_concurrency=4,
            clock=clock,
            first_round=rate_limit is None,
        )
    turns: list[tuple[float, float, float, bool]] = []

    async def one(report: Report, takes: float, gives_up: float | None) -> None:
        with anyio.move_on_after(math.inf if gives_up is None else gives_up):
            async with limiter.slot(None, max_wait=60.0) as slot:
                turns.append((clock(), slot.sent_at, slot.interval, slot.probe))
                await anyio.sleep(takes)
                slot.report(report)

    for gap, requests in batches:
        await anyio.sleep(gap)
        async with anyio.create_task_group() as group:
            for request in requests:
                group.start_soon(one, *request)
    await limiter.aclose()
    return turns, await limiter.store.read(limiter.key)


@settings(max_examples=150, deadline=None)
@given(
    st.none() | st.floats(0.5, 50.0),
    st.integers(1, 3),
    st.lists(batch, min_size=1, max_size=8),
)
def test_the_fast_path_gives_the_turns_of_the_waiting_loop(
    rate_limit: float | None,
    burst: int,
    batches: list[tuple[float, list[tuple[Report, float, float | None]]]],
) -> None:
    # asyncio's debug mode (on under PYTHONDEVMODE) off, as the simulator has it: it
    # records a stack per callback, which made these 150 x 2 scripts 3x slower (no
    # threads, no sockets here for its checks to catch; the comparison is the same).
    fast = run_virtual(_run, True, rate_limit, burst, batches, debug=False)
    loop = run_virtual(_run, False, rate_limit, burst, batches, debug=False)
    assert fast == loop
    assert fast[0]  # turns were given (the script is never empty)


def test_the_fast_path_is_taken_for_an_in_process_store() -> None:
    """The differential above compares two paths, not one path with itself."""

    async def main() -> tuple[bool, bool]:
        clock = asyncio.get_running_loop().time
        local = LocalLimiter(clock=clock)
        other = PacedLimiter(_LoopOnly(clock), clock=clock)
        return local._memory is local.store, other._memory is None

    assert run_virtual(main) == (True, True)


def test_the_concurrency_cap_serves_in_turn_and_loses_no_permit() -> None:
    """``_Permits`` (the cap's counter): never more out than the cap, waiters served in
    arrival order, and a waiter cancelled right after it was handed a permit passes it on."""

    async def main() -> tuple[int, list[str], bool, int]:
        permits = _Permits(2)
        out = most = 0
        order: list[str] = []

        async def one(name: str, hold: float) -> None:
            nonlocal out, most
            await permits.wait()
            out += 1
            most = max(most, out)
            order.append(name)
            await anyio.sleep(hold)
            out -= 1
            permits.give()

        async with anyio.create_task_group() as group:
            for index in range(6):
                group.start_soon(one, f"r{index}", 1.0)
                await anyio.sleep(0.01)  # arrival order r0, r1, ...
        # Handed a permit, then cancelled before it ran: the permit goes to the next one.
        assert permits.take() and permits.take() and not permits.take()
        handed = asyncio.ensure_future(permits.wait())
        after = asyncio.ensure_future(permits.wait())
        await asyncio.sleep(0)
        permits.give()  # to ``handed``...
        handed.cancel()  # ...cancelled before it resumes
        await asyncio.sleep(0)
        await asyncio.wait_for(after, 1.0)  # ``after`` got it
        permits.give()
        permits.give()
        return most, order, handed.cancelled(), permits._free

    most, order, cancelled, free = run_virtual(main)
    assert most == 2
    assert order == [f"r{index}" for index in range(6)]
    assert cancelled and free == 2
