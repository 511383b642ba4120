"""The request policy over the whole space of server answers, on a virtual clock.

Each example is a server script (answers, each after a delay: 200; 429 with a
``Retry-After`` in seconds, as an HTTP-date, or unusable; 429 with Intervals' body
wait; 429 naming nothing; 5xx with or without a wait; a connection lost after sending;
no connection; no answer at all) against clients with random options and a few calls
at once. Whatever the server does, every call of every example keeps four promises:

* it ends within its ``deadline`` (to the microsecond on the virtual clock), and
  without one within a bound made of its options;
* it raises nothing but an :class:`common.APIError` (a bare exception fails the test);
* its error counts exactly the attempts that reached the sender (``attempts``), and no
  call sends more than ``max_retries`` + 1 attempts plus its honoured 429 waits;
* a write without an idempotency key is sent again only after an answer that proves it
  was not processed (no connection, or a 429).

And calls cancelled at any moment (waiting for a cool-down, a pacing slot or the probe, or
in flight) leave the client's budget free: no probe lease held, no slot reserved beyond
the burst, the next call on a healthy server sent at once.
"""

from __future__ import annotations

import contextlib
import email.utils
import math
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import common
from common import provider
from common._clock import wall_time
from common.provider import Request, Response
from common.ratelimit._limiter import PacedLimiter
from common.ratelimit._local import KNOWN_MARGIN, MIN_RATE, rate_at
from common.ratelimit._store import RateStore
from common.testing import MemorySender, connection_lost, not_connected, reply, run_virtual
from common.testing.ratesim import SharedStore
from intervals_async._client import retry_after_from_body

HOST = "https://api.example.com"
DELAY = st.floats(0, 3)
ANSWER = st.one_of(
    st.tuples(st.just("ok"), DELAY),
    st.tuples(st.just("429 seconds"), DELAY, st.integers(0, 200)),
    st.tuples(st.just("429 unusable"), DELAY),
    st.tuples(st.just("429 date"), DELAY, st.floats(-100, 200)),
    st.tuples(st.just("429 body"), DELAY, st.floats(-100, 200)),
    st.tuples(st.just("429 nothing"), DELAY),
    st.tuples(
        st.just("5xx"),
        DELAY,
        st.sampled_from([500, 502, 503, 504]),
        st.one_of(st.none(), st.integers(0, 100)),
    ),
    st.tuples(st.just("lost"), DELAY),
    st.tuples(st.just("not connected"), DELAY),
    st.tuples(st.just("no answer"), DELAY),
)
#: A server's script: its answers in turn (the last one repeats).
SCRIPTS = st.lists(ANSWER, min_size=1, max_size=12)
#: The client's options, as every test here draws them.
TIMEOUTS = st.floats(0.05, 10)
DEADLINES = st.one_of(st.none(), st.floats(0.05, 20))
MAX_RETRIES = st.integers(0, 6)
MAX_RETRY_WAITS = st.floats(0.0, 100)
BURSTS = st.integers(1, 5)
#: A rate limit or none (a few slow paces often: cancellations then meet waiters).
PACES = st.one_of(st.none(), st.sampled_from([0.5, 2.0, 5.0]), st.floats(0.1, 50))
#: When each call is cancelled (None: never), often early.
CANCELS = st.lists(st.one_of(st.none(), st.floats(0, 0.5), st.floats(0, 5)), min_size=2, max_size=8)
#: Answers after which a write may be sent again without an idempotency key.
NOT_PROCESSED = {"not connected", "429 seconds", "429 unusable", "429 date", "429 body",
                 "429 nothing"}  # fmt: skip
#: Honoured 429 waits a call may take beyond max_retries (RetryPolicy's default).
RATE_LIMIT_RETRIES = common.RetryPolicy().max_rate_limit_retries


def _answer(answer: tuple[Any, ...], request: Request, wall: float) -> Response:
    kind = answer[0]
    error = {"error": {"code": "X", "message": "m"}}
    if kind == "ok":
        return reply({"ok": True})
    if kind == "429 seconds":
        return reply(error, 429, {"Retry-After": str(answer[2])})
    if kind == "429 unusable":
        return reply(error, 429, {"Retry-After": "soon"})
    if kind == "429 date":
        return reply(
            error, 429, {"Retry-After": email.utils.formatdate(wall + answer[2], usegmt=True)}
        )
    if kind == "429 body":
        at = int((wall + answer[2]) * 1000)
        return reply({"error": {"code": "RATE_LIMITED", "retryAfter": at}}, 429)
    if kind == "429 nothing":
        return reply(error, 429)
    if kind == "5xx":
        wait = answer[3]
        return reply(error, answer[2], {} if wait is None else {"Retry-After": str(wait)})
    if kind == "lost":
        raise connection_lost(request)
    raise not_connected(request)


#: How long a healthy server takes to answer, once an example's script is over.
HEALTHY = 0.01


class Script:
    """An example's server: its answers in turn (the last one repeats), each after its
    delay; once ``healthy``, 200 after :data:`HEALTHY` seconds. ``received``: per path,
    the kinds of answer its attempts met."""

    def __init__(self, answers: list[tuple[Any, ...]]) -> None:
        self.answers = answers
        self.healthy = False
        self.answered = 0
        self.received: dict[str, list[str]] = {}

    async def __call__(self, request: Request) -> Response:
        if self.healthy:
            await anyio.sleep(HEALTHY)
            return reply({"ok": True})
        answer = self.answers[min(self.answered, len(self.answers) - 1)]
        self.answered += 1
        self.received.setdefault(request.path, []).append(answer[0])
        await anyio.sleep(answer[1] if answer[0] != "no answer" else 1e6)
        return _answer(answer, request, wall_time())


def _transport(server: Script, **options: Any) -> provider.Transport:
    return provider.Transport(
        HOST,
        auth=provider.BearerAuth("k"),
        sender=MemorySender(server),
        body_wait=retry_after_from_body,
        **options,
    )


async def _call(transport: provider.Transport, path: str, cancel: float | None) -> float:
    """One GET, cancelled after ``cancel`` seconds (None: never), its error ignored; the
    seconds it took."""
    started = anyio.current_time()
    with (
        anyio.move_on_after(math.inf if cancel is None else cancel),
        contextlib.suppress(common.APIError),
    ):
        await transport.request("GET", path)
    return anyio.current_time() - started


async def _assert_budget_free(
    store: RateStore, key: str, rate_limit: float | None, burst: int
) -> None:
    """No probe lease held, no slot reserved beyond the burst (at the slowest pace since
    the last refusal; a known rate is paced KNOWN_MARGIN under). With no pace in force
    the schedule is not read (a turn goes at once; the next refusal starts it anew)."""
    budget = await store.read(key)
    now = anyio.current_time()
    assert budget.lease <= now, "a finished call holds the probe's lease"
    state = budget.state
    pace = rate_at(state, now, rate_limit)
    if pace:
        interval = 1 / (min(pace, state.floor or pace) * KNOWN_MARGIN)
        ahead = state.tat - max(now, state.cool_until)
        assert ahead <= burst * interval + 1e-6, (ahead, interval, state)


async def _healthy_call(
    server: Script, transport: provider.Transport, max_retry_wait: float, burst: int
) -> float:
    """The seconds a call takes once the server is healthy and every wait is over: a
    server's by ``max_retry_wait`` (a longer one is held to it), the schedule by ``burst``
    slots at the slowest pace (1 / MIN_RATE seconds each: a full bucket of reservations,
    or the credit refilling after a refusal drained it)."""
    await anyio.sleep(max_retry_wait + burst / MIN_RATE + 1)
    server.healthy = True
    started = anyio.current_time()
    await transport.request("GET", "/after")  # (an error fails the test)
    return anyio.current_time() - started


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    answers=SCRIPTS,
    timeout=TIMEOUTS,
    deadline=DEADLINES,
    max_retries=MAX_RETRIES,
    max_retry_wait=MAX_RETRY_WAITS,
    rate_limit=st.one_of(st.none(), st.floats(0.1, 50)),
    calls=st.integers(1, 6),
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    keyed=st.booleans(),
)
def test_every_call_keeps_its_bounds_whatever_the_server_answers(
    answers: list[tuple[Any, ...]],
    timeout: float,
    deadline: float | None,
    max_retries: int,
    max_retry_wait: float,
    rate_limit: float | None,
    calls: int,
    method: str,
    keyed: bool,
) -> None:
    server = Script(answers)

    async def job() -> list[tuple[str, float, object]]:
        transport = _transport(
            server,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
            rate_limit=rate_limit,
        )
        ended: list[tuple[str, float, object]] = []

        async def call(path: str) -> None:
            started = anyio.current_time()
            outcome: object = "ok"
            try:
                await transport.request(method, path, idempotency_key=path if keyed else None)
            except common.APIError as error:
                outcome = error
            ended.append((path, anyio.current_time() - started, outcome))

        async with transport, anyio.create_task_group() as group:
            for n in range(calls):
                group.start_soon(call, f"/calls/{n}")
        return ended

    ended = run_virtual(job, debug=False)
    assert len(ended) == calls
    most = max_retries + 1 + (RATE_LIMIT_RETRIES if max_retries else 0)
    backoff = common.RetryPolicy().backoff_max
    # Without a deadline: each attempt, then each wait (a server's up to max_retry_wait, a
    # backoff, a pacing slot), for each call queued ahead of this one.
    loose = calls * most * (timeout + max(max_retry_wait, backoff) + 1 / (rate_limit or math.inf))
    for path, took, outcome in ended:
        kinds = server.received.get(path, [])
        assert took <= (loose if deadline is None else deadline) + 1e-6, (took, outcome, kinds)
        assert len(kinds) <= most, kinds
        if isinstance(outcome, common.APIError):
            assert outcome.attempts == len(kinds), (outcome, kinds)
        if method == "POST" and not keyed:
            assert all(kind in NOT_PROCESSED for kind in kinds[:-1]), kinds


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    answers=SCRIPTS,
    timeout=TIMEOUTS,
    max_retries=MAX_RETRIES,
    max_retry_wait=MAX_RETRY_WAITS,
    rate_limit=PACES,
    burst=BURSTS,
    cancel_after=CANCELS,
)
def test_calls_cancelled_at_any_moment_leave_the_budget_free(
    answers: list[tuple[Any, ...]],
    timeout: float,
    max_retries: int,
    max_retry_wait: float,
    rate_limit: float | None,
    burst: int,
    cancel_after: list[float | None],
) -> None:
    """Calls cancelled anywhere (waiting for a cool-down, a pacing slot or the probe, or in
    flight) leave no probe lease held and no slot reserved beyond the burst; once the
    server's waits are over, the next call on a healthy server goes at once."""
    server = Script(answers)

    async def job() -> None:
        transport = _transport(
            server,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
            rate_limit=rate_limit,
            rate_burst=burst,
        )
        async with transport:
            async with anyio.create_task_group() as group:
                for n, cancel in enumerate(cancel_after):
                    group.start_soon(_call, transport, f"/calls/{n}", cancel)
            limiter = transport.limiter
            assert isinstance(limiter, PacedLimiter)
            await _assert_budget_free(limiter.store, limiter.key, rate_limit, burst)
            took = await _healthy_call(server, transport, max_retry_wait, burst)
            assert took == pytest.approx(HEALTHY)

    run_virtual(job, debug=False)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    answers=SCRIPTS,
    timeout=TIMEOUTS,
    deadline=DEADLINES,
    max_retries=MAX_RETRIES,
    max_retry_wait=MAX_RETRY_WAITS,
    rate_limit=PACES,
    burst=BURSTS,
    round_trip=st.floats(0.0005, 0.05),
    processes=st.integers(1, 3),
    cancel_after=CANCELS,
)
def test_a_shared_budget_behind_a_slow_store_keeps_the_same_bounds(
    answers: list[tuple[Any, ...]],
    timeout: float,
    deadline: float | None,
    max_retries: int,
    max_retry_wait: float,
    rate_limit: float | None,
    burst: int,
    round_trip: float,
    processes: int,
    cancel_after: list[float | None],
) -> None:
    """Processes sharing a budget through a store with a round trip (the simulator's, with
    Redis's rules): no call overruns its deadline waiting for the store (a report made
    once the answer is in took up to 50 ms past it), and an ask the caller stopped waiting
    for (cut off by its share of the deadline, or cancelled) gives back what the store
    granted it late (each kept its slot: the shared schedule ran ahead for everyone)."""
    server = Script(answers)

    async def job() -> None:
        store = SharedStore(round_trip)
        transports = []
        for _ in range(processes):
            transport = _transport(
                server,
                timeout=timeout,
                deadline=deadline,
                max_retries=max_retries,
                max_retry_wait=max_retry_wait,
            )
            # (what RedisLimiter is, over the simulated store: ratesim's processes)
            transport._shared.limiter = PacedLimiter(
                store, "shared", rate_limit=rate_limit, burst=burst, first_round=False
            )
            transports.append(transport)

        async def call(transport: provider.Transport, path: str, cancel: float | None) -> None:
            took = await _call(transport, path, cancel)
            assert deadline is None or took <= deadline + 1e-6

        async with contextlib.AsyncExitStack() as stack:
            for transport in transports:
                await stack.enter_async_context(transport)
            async with anyio.create_task_group() as group:
                for n, cancel in enumerate(cancel_after):
                    group.start_soon(call, transports[n % processes], f"/calls/{n}", cancel)
            await anyio.sleep(1.5)  # the asks and reports still on their way are answered
            await _assert_budget_free(store, "shared", rate_limit, burst)
            took = await _healthy_call(server, transports[0], max_retry_wait, burst)
            # an ask and a report of the store, the answer
            assert took <= HEALTHY + 2 * round_trip + 1e-6

    run_virtual(job, debug=False)
