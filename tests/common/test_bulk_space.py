"""fetch_many over the whole space of keys and calls, on a virtual clock.

Each example: up to 30 keys as a list, a generator or an async generator (which may
raise at any key), calls that return, raise, raise a foreign ``CancelledError`` or hang,
each after a delay, at a random concurrency; the caller may break out of the loop, or
be cancelled (its own deadline). Whatever happens: no more than ``concurrency`` calls
at once, no key twice, each result the call's own (a foreign cancellation a
``CancelledElsewhereError``), nothing left running once the loop is over, and, when the
loop runs to its end, a result for every key drawn, ``on_progress`` counting each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator

import anyio
import anyio.lowlevel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import common
from common.testing import run_virtual

CALL = st.tuples(st.sampled_from(["ok", "error", "cancelled", "hang"]), st.floats(0, 2))


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    calls=st.lists(CALL, max_size=30),
    concurrency=st.integers(1, 8),
    form=st.sampled_from(["list", "generator", "async generator"]),
    fail_at=st.one_of(st.none(), st.integers(0, 30)),
    break_after=st.one_of(st.none(), st.integers(0, 30)),
    caller_deadline=st.floats(0.5, 10),
)
def test_fetch_many_keeps_its_contract_whatever_the_keys_and_calls_do(
    calls: list[tuple[str, float]],
    concurrency: int,
    form: str,
    fail_at: int | None,
    break_after: int | None,
    caller_deadline: float,
) -> None:
    n = len(calls)
    failing = fail_at is not None and fail_at < n and form != "list"

    async def job() -> None:
        in_flight = most = 0
        progress: list[tuple[int, int | None]] = []

        async def fn(key: int) -> int:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            try:
                kind, delay = calls[key]
                await anyio.sleep(1e6 if kind == "hang" else delay)
                if kind == "error":
                    raise ValueError(key)
                if kind == "cancelled":
                    raise asyncio.CancelledError  # not the caller's: someone else's
                return key * 10
            finally:
                in_flight -= 1

        def plain() -> Iterator[int]:
            for key in range(n):
                if failing and key == fail_at:
                    raise KeyError("the keys failed")
                yield key

        async def streamed() -> AsyncIterator[int]:
            for key in plain():
                await anyio.lowlevel.checkpoint()
                yield key

        keys: Iterable[int] | AsyncIterator[int] = (
            list(range(n)) if form == "list" else plain() if form == "generator" else streamed()
        )
        results: list[common.Result[int, int]] = []
        raised: BaseException | None = None
        broke = False
        stream = common.fetch_many(
            fn, keys, concurrency=concurrency, on_progress=lambda d, t: progress.append((d, t))
        )
        with anyio.CancelScope(deadline=anyio.current_time() + caller_deadline) as scope:
            try:
                async with contextlib.aclosing(stream):
                    async for result in stream:
                        results.append(result)
                        if break_after is not None and len(results) >= break_after:
                            broke = True
                            break
            except KeyError as error:
                raised = error
        await anyio.sleep(100)  # a call left running (a hung one) would still be in flight
        assert in_flight == 0
        assert most <= concurrency
        seen = [result.key for result in results]
        assert len(set(seen)) == len(seen)
        for result in results:
            kind = calls[result.key][0]
            if kind == "ok":
                assert result.ok and result.value == result.key * 10
            elif kind == "error":
                assert isinstance(result.error, ValueError)
            else:
                assert isinstance(result.error, common.CancelledElsewhereError), result.error
        assert raised is None or failing
        if broke or scope.cancelled_caught:
            return
        drawn = fail_at if failing else n
        assert fail_at is None or not failing or raised is not None
        assert sorted(seen) == list(range(drawn))
        assert progress == [(done, n if form == "list" else None) for done in range(1, drawn + 1)]

    run_virtual(job, debug=False)
