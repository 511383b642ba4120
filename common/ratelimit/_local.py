"""Rate control: the pacing rules (pure) and the limiter every request goes through.

Three layers, each small:

* :class:`Pacer` holds the rules over a :class:`PaceState` with the time passed
  in (``now``), so they are tested without sleeping: a GCRA schedule (a token
  bucket written as the next slot's time), the shared 429 cool-down with its
  probe, and the adaptive pace (see ``docs/RATE_CONTROL.md``).
* :class:`Limiter` is the protocol the transport uses::

      async with limiter.slot(deadline_at, not_before=..., max_wait=...) as slot:
          ...send one attempt...
          slot.report(Report.accepted())   # or Report.refused(...), Report.no_answer()

  ``slot()`` waits for the concurrency cap, any cool-down, the probe and the
  pacing slot, every one bounded by the call's deadline; a waiter cancelled
  (or out of time) gives its pacing slot back. It raises, sending nothing, when
  the wait cannot end in time.
* :class:`LocalLimiter` is the in-memory implementation; ``common._redis``
  shares the same state between processes through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import anyio
import attrs

from .._errors import APITimeoutError, RateLimitError

__all__ = ["Limiter", "LocalLimiter", "PaceState", "Pacer", "Report", "Slot", "rate_at"]

#: Each congestion episode paces this much under what the server showed it accepts.
MARGIN = 0.95
#: Seconds to climb back to the estimate after an episode (CUBIC's K); beyond it
#: the pace doubles every :data:`DOUBLING` seconds, so a raised limit (or one the
#: estimate undershot) is found again within seconds.
CLIMB = 2.0
DOUBLING = 1.0
#: A learned pace this many times its estimate is no longer a limit: pacing goes off.
UNPACED_ABOVE = 16.0
#: The slowest pace ever learned (requests per second).
MIN_RATE = 0.05
#: ... and to no less than this fraction (one multiplicative decrease per episode).
HALVE = 0.5
#: A refused pace is cut to at most this fraction of itself.
DECREASE = 0.9
#: Acceptances needed before their count over time is trusted as the server's pace.
MIN_SAMPLE = 1
#: A waiter reserves no pacing slot further ahead than this (seconds): reserved sooner,
#: it would keep the pace of the time it queued.
HORIZON = 0.25
#: The first round's gate (no ``rate_limit``): once its first answer is in, new requests
#: wait for the rest of the first round at most this many times that answer's round trip.
FIRST_ROUND_WAIT = 2.0


@attrs.frozen
class Report:
    """How an attempt ended, as far as rate control is concerned."""

    #: The server answered (any status). False: timeout, connection failure, cancelled.
    answered: bool = True
    #: The server refused with 429.
    refused: bool = False
    #: Seconds every request holds back from now (capped at ``max_retry_wait``).
    cool_down: float = 0.0
    #: The wait the server asked for (may be longer than ``cool_down``).
    server_wait: float = 0.0
    #: The server's wait is exact and short (Intervals' epoch-ms ``retryAfter`` under a
    #: second), not rounded up to whole seconds as ``Retry-After`` is: one request per
    #: that wait is then an upper bound of the server's pace.
    precise: bool = False

    @classmethod
    def accepted(cls) -> Report:
        """Any answer but 429."""
        return _ACCEPTED

    @classmethod
    def no_answer(cls) -> Report:
        """No answer: a timeout, a broken connection, a cancellation."""
        return _NO_ANSWER

    @classmethod
    def refused_for(cls, cool_down: float, server_wait: float, *, precise: bool) -> Report:
        """A 429: hold everyone back ``cool_down`` seconds."""
        return cls(refused=True, cool_down=cool_down, server_wait=server_wait, precise=precise)


_ACCEPTED = Report()
_NO_ANSWER = Report(answered=False)


@attrs.define
class PaceState:
    """What the pacing rules remember; shared between processes by the Redis store."""

    #: GCRA's theoretical arrival time: the next free pacing slot.
    tat: float = 0.0
    #: Nobody sends before this (the shared 429 cool-down, capped at max_retry_wait).
    cool_until: float = 0.0
    #: When the server's own wait ends (beyond ``cool_until`` for an absurd wait).
    server_until: float = 0.0
    #: After a cool-down one request goes first, alone, as the probe.
    probe: bool = False
    #: The first send (the start of the first episode's measurement).
    started: float | None = None
    #: When the current congestion episode began (None: never refused).
    episode_at: float | None = None
    #: Episodes so far: a slot reserved in an earlier one is taken again at the new pace.
    episodes: int = 0
    #: Requests the server accepted since the episode began (or since ``started``).
    accepted: int = 0
    #: The pace right after the episode, and the estimate it climbs back to.
    floor: float = 0.0
    estimate: float = 0.0
    #: When the climb began: the episode, or for a first estimate made with no pace in
    #: force (a guess from one burst) CLIMB before the cool-down ends, so it doubles at once.
    climb_from: float = 0.0


def rate_at(state: PaceState, now: float, configured: float | None) -> float | None:
    """The pace in force at ``now`` (requests/s); None means no pacing.

    Never above a configured rate; without refusals exactly the configured one.
    After an episode: a concave climb from ``floor`` to ``estimate`` over
    :data:`CLIMB` seconds, then a convex climb beyond it (CUBIC's shape).
    """
    if state.episode_at is None or not state.estimate:
        return configured
    t = max(0.0, now - state.climb_from)
    if t < CLIMB:
        rate = state.estimate - (state.estimate - state.floor) * (1.0 - t / CLIMB) ** 3
    else:
        rate = state.estimate * 2.0 ** min((t - CLIMB) / DOUBLING, 30.0)
    if configured is not None:
        return min(rate, configured)
    return None if rate > UNPACED_ABOVE * state.estimate else rate


class Pacer:
    """The pacing rules over one :class:`PaceState`; every method takes ``now``."""

    def __init__(
        self, rate_limit: float | None = None, burst: int = 1, state: PaceState | None = None
    ) -> None:
        if rate_limit is not None and not 0 < rate_limit < math.inf:
            raise ValueError("rate must be a positive number of requests per second")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.configured = rate_limit
        self.burst = burst
        self.state = state or PaceState()

    def interval(self, now: float) -> float:
        """Seconds between requests in force now (0: no pacing)."""
        rate = rate_at(self.state, now, self.configured)
        return 1.0 / rate if rate else 0.0

    def ahead(self, now: float) -> float:
        """Seconds from ``now`` to the next free pacing slot (0: free now)."""
        interval = self.interval(now)
        if not interval:
            return 0.0
        state = self.state
        return max(0.0, max(state.tat, state.cool_until) - (self.burst - 1) * interval - now)

    def reserve(self, now: float) -> tuple[float, float]:
        """Take the next pacing slot: (the time to send, the interval taken)."""
        state = self.state
        if state.started is None:
            state.started = now
        interval = self.interval(now)
        if not interval:
            return now, 0.0
        slot = max(state.tat, now, state.cool_until)
        state.tat = slot + interval
        return max(now, slot - (self.burst - 1) * interval), interval

    def release(self, interval: float, now: float, episodes: int | None = None) -> None:
        """Give back a slot taken by :meth:`reserve` (in episode ``episodes``), never used."""
        if interval and (episodes is None or episodes == self.state.episodes):
            self.state.tat = max(now, self.state.tat - interval)

    def on_report(self, report: Report, sent_at: float, now: float) -> None:
        """Learn from an attempt sent at ``sent_at`` that ended with ``report``."""
        state = self.state
        if not report.refused:
            if report.answered:
                state.accepted += 1
                state.probe = False
                state.server_until = min(state.server_until, now)
            return
        state.probe = True
        state.cool_until = max(state.cool_until, now + report.cool_down)
        state.server_until = max(state.server_until, now + report.server_wait, state.cool_until)
        state.tat = max(state.tat, state.cool_until)
        if state.episode_at is not None and sent_at < state.episode_at:
            return  # in flight when the episode began: part of it, not a new one
        self._decrease(report, now)

    def _decrease(self, report: Report, now: float) -> None:
        """One multiplicative decrease, to the best estimate of the server's pace.

        Candidates, the smallest wins: what the server accepted since the last
        episode over that window up to the end of this cool-down (its bucket was
        empty at both ends; needs a few samples); one request per a precise server
        wait (an upper bound: the bucket may be partly refilled); and 0.9 x the
        pace that was just refused (so every episode slows down at least a little).
        """
        state = self.state
        start = state.episode_at if state.episode_at is not None else state.started
        span = max(now - (now if start is None else start) + report.cool_down, 1e-3)
        candidates = []
        if state.accepted >= MIN_SAMPLE:
            candidates.append(state.accepted / span)
        if report.precise and report.server_wait > 0:
            candidates.append(1.0 / report.server_wait)
        current = rate_at(state, now, self.configured)
        if current is None and state.estimate:  # climbed past the point of pacing
            current = UNPACED_ABOVE * state.estimate
        if current is not None:
            candidates.append(current * DECREASE)
        estimate = min(candidates) if candidates else 0.0
        if current is not None:
            # What we sent while climbing from a low pace was accepted whatever the
            # server allows, so the count can undershoot: never cut more than half.
            estimate = max(estimate, current * HALVE)
        # Nothing measured yet and no pace in force: pacing stays off (cool-down and
        # probe only) rather than guessing a pace from one or two requests.
        state.estimate = max(estimate, MIN_RATE) if estimate else 0.0
        state.floor = state.estimate * MARGIN
        state.climb_from = now if current is not None else state.cool_until - CLIMB
        state.episode_at = now
        state.episodes += 1
        state.accepted = 0
        state.tat = max(now, state.cool_until)  # slots reserved at the old pace are void


class Slot:
    """One reserved turn to send; :meth:`report` tells the limiter how it went."""

    __slots__ = ("_report", "interval", "probe", "sent_at")

    def __init__(self, sent_at: float, interval: float, probe: bool) -> None:
        self.sent_at = sent_at
        self.interval = interval
        self.probe = probe
        self._report: Report | None = None

    def report(self, report: Report) -> None:
        """How the attempt ended (not calling it counts as :meth:`Report.no_answer`)."""
        self._report = report


class Limiter(Protocol):
    """What the transport needs of a limiter (local or shared through Redis)."""

    def slot(
        self,
        deadline_at: float | None,
        *,
        not_before: float = 0.0,
        max_wait: float = math.inf,
        what: str = "",
    ) -> contextlib.AbstractAsyncContextManager[Slot]:
        """Wait for a turn to send; raise (nothing sent) when it cannot come in time."""
        ...

    async def aclose(self) -> None:
        """Release what the limiter owns (a Redis connection built from a URL)."""
        ...


def cool_down_error(remaining: float, why: str) -> RateLimitError:
    """The error of a call refused unsent during a cool-down (the transport adds where)."""
    return RateLimitError(
        f"rate limited by the server for another {remaining:.3g}s ({why}); not sent",
        status_code=429,
        code="RATE_LIMITED",
        retry_after=remaining,
    )


def deadline_error(what: str, why: str) -> APITimeoutError:
    """The error of a call whose deadline would pass while waiting for its turn."""
    return APITimeoutError(f"{what}the call's deadline would pass {why}; not sent")


class LocalLimiter:
    """The in-memory limiter: pacing, cool-down, probe and concurrency cap of one client
    (and of the clients derived from it with ``with_options``)."""

    def __init__(
        self,
        rate_limit: float | None = None,
        *,
        burst: int = 1,
        max_concurrency: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pacer = Pacer(rate_limit, burst)
        self.clock = clock
        # asyncio's semaphore takes a free permit without a trip through the event loop.
        self._permits = asyncio.Semaphore(max_concurrency)
        # The first round's gate, while the limit is unknown: the requests sent before
        # any answer came back are the first round. Once its first answer is in, no new
        # request starts until the round is over (all answered, or a refusal), so that
        # the answers accepted first do not send a second crowd into a limit that the
        # round's refusals, answered last, are about to reveal. None: the gate is open.
        self._round: _FirstRound | None = _FirstRound() if rate_limit is None else None
        self._probe_out = False
        self._probe_done: anyio.Event | None = None

    @property
    def state(self) -> PaceState:
        """The pacing state (for inspection and tests)."""
        return self.pacer.state

    async def aclose(self) -> None:
        """Nothing to release."""

    def slot(
        self,
        deadline_at: float | None,
        *,
        not_before: float = 0.0,
        max_wait: float = math.inf,
        what: str = "",
    ) -> _LocalTurn:
        """Wait for a turn (see :class:`Limiter`); ``async with`` gives the :class:`Slot`."""
        return _LocalTurn(self, deadline_at, not_before, max_wait, what)

    async def acquire_permit(self, deadline_at: float | None, what: str = "") -> None:
        """Take one of ``max_concurrency`` permits, waiting no later than the deadline."""
        if self._round is not None:
            await self._first_round_gate(deadline_at, what)
        if not self._permits.locked():
            await self._permits.acquire()  # a free permit: no trip through the event loop
            return
        try:
            await self._bounded(self._permits.acquire(), deadline_at, what, "in the queue")
        except BaseException:
            self._left_round()
            raise

    def release_permit(self) -> None:
        """Give a permit back."""
        self._permits.release()
        self._left_round()

    async def _first_round_gate(self, deadline_at: float | None, what: str) -> None:
        first = self._round
        assert first is not None
        if first.answered_at is None:  # no answer yet: this request joins the first round
            if not first.pending:
                first.started = self.clock()
            first.pending += 1
            return
        # The gate is closed: wait for the round's end, no longer than FIRST_ROUND_WAIT
        # round trips (one slow answer must not stall a job against an unlimited server).
        now = self.clock()
        wait = first.answered_at + FIRST_ROUND_WAIT * first.round_trip - now
        if deadline_at is not None and now + wait >= deadline_at:
            raise deadline_error(what, "behind the first round of requests")
        with anyio.move_on_after(max(0.0, wait)):
            await first.over.wait()
        self._open_gate()

    def _left_round(self) -> None:
        """A request of the first round is over (answered, failed or cancelled)."""
        first = self._round
        if first is not None:
            first.pending -= 1
            if first.pending <= 0 and first.answered_at is not None:
                self._open_gate()

    def open_first_round(self) -> None:
        """Open the first round's gate for good (or never close it)."""
        self._open_gate()

    def _open_gate(self) -> None:
        first, self._round = self._round, None
        if first is not None:
            first.over.set()

    def first_round_answered(self, report: Report) -> None:
        """The first round's gate: its first answer closes it; a refusal opens it for
        good (the cool-down then holds every request back)."""
        first = self._round
        if first is None:
            return
        if report.refused:
            self._open_gate()
        elif report.answered and first.answered_at is None:
            first.answered_at = self.clock()
            first.round_trip = max(0.0, first.answered_at - first.started)

    @contextlib.asynccontextmanager
    async def permit(self, deadline_at: float | None, what: str = "") -> AsyncIterator[None]:
        """Hold one of ``max_concurrency`` permits, waiting no later than the deadline."""
        await self.acquire_permit(deadline_at, what)
        try:
            yield
        finally:
            self.release_permit()

    async def turn(self, deadline_at: float | None, max_wait: float, what: str = "") -> Slot:
        """Wait for the cool-down, the probe and the pacing slot; the caller holds a permit."""
        pacer, state = self.pacer, self.pacer.state
        now = self.clock()
        if (  # the fast path: no pacing, no cool-down, no probe
            state.started is not None
            and pacer.configured is None
            and not state.estimate
            and not state.probe
            and state.cool_until <= now
        ):
            return Slot(now, 0.0, False)
        while True:
            now = self.clock()
            if state.cool_until > now:
                await self._sit_out_cool_down(now, deadline_at, max_wait, what)
                continue
            ahead = pacer.ahead(now)
            if ahead > HORIZON:
                # Reserve no slot further ahead than HORIZON: one reserved at a slow pace
                # keeps it even when the pace climbs meanwhile (a crowd of 50 at 10/s took
                # slots 5 s ahead, and the climb to 100/s was lost for those 5 s).
                if deadline_at is not None and now + ahead >= deadline_at:
                    raise deadline_error(what, f"before its pacing slot in {ahead:.3g}s")
                await anyio.sleep(max(ahead - HORIZON, HORIZON / 2))
                continue
            probe = False
            if state.probe:
                if self._probe_out:
                    await self._behind_probe(deadline_at, what)
                    continue
                probe = self._probe_out = True
                self._probe_done = anyio.Event()
            episodes = state.episodes
            send_at, interval = pacer.reserve(now)
            if send_at <= now:
                return Slot(now, interval, probe)
            try:
                if deadline_at is not None and send_at >= deadline_at:
                    raise deadline_error(what, f"before its pacing slot in {send_at - now:.3g}s")
                await anyio.sleep(send_at - now)
            except BaseException:
                pacer.release(interval, self.clock(), episodes)
                if probe:
                    self._end_probe()
                raise
            if state.cool_until <= self.clock() and state.episodes == episodes:
                return Slot(self.clock(), interval, probe)
            # A 429 arrived while we slept: give the slot back, queue again at the new pace.
            pacer.release(interval, self.clock(), episodes)
            if probe:
                self._end_probe()

    async def _sit_out_cool_down(
        self, now: float, deadline_at: float | None, max_wait: float, what: str
    ) -> None:
        state = self.pacer.state
        if state.server_until - now > max_wait:
            raise cool_down_error(state.server_until - now, "longer than max_retry_wait")
        if deadline_at is not None and state.cool_until >= deadline_at:
            raise cool_down_error(state.cool_until - now, "beyond the call's deadline")
        await anyio.sleep(state.cool_until - now)

    async def _behind_probe(self, deadline_at: float | None, what: str) -> None:
        done = self._probe_done
        if done is None:  # pragma: no cover - set together with _probe_out
            return
        await self._bounded(done.wait(), deadline_at, what, "behind the probe request")

    async def _bounded(
        self, waiting: object, deadline_at: float | None, what: str, why: str
    ) -> None:
        assert asyncio.iscoroutine(waiting)
        if deadline_at is None:
            await waiting
            return
        with anyio.move_on_after(max(0.0, deadline_at - self.clock())) as scope:
            await waiting
        if scope.cancelled_caught:
            raise deadline_error(what, why)

    def settle(self, slot: Slot) -> None:
        """Learn from the slot's report and let the followers of a probe go."""
        report = slot._report or _NO_ANSWER
        self.pacer.on_report(report, slot.sent_at, self.clock())
        self.first_round_answered(report)
        if slot.probe:
            self._end_probe()

    def _end_probe(self) -> None:
        self._probe_out = False
        done, self._probe_done = self._probe_done, None
        if done is not None:
            done.set()


@attrs.define
class _FirstRound:
    """The first round of requests sent while the limit is unknown (see ``LocalLimiter``)."""

    #: Requests of the round not yet over.
    pending: int = 0
    #: When the round's first request went, when its first answer came, and the time
    #: between (a round trip: the gate stays closed FIRST_ROUND_WAIT of them at most).
    started: float = 0.0
    answered_at: float | None = None
    round_trip: float = 0.0
    over: anyio.Event = attrs.field(factory=anyio.Event)


class _LocalTurn:
    """``async with limiter.slot(...)`` of :class:`LocalLimiter` (a class, not a generator:
    this runs for every request)."""

    __slots__ = ("_args", "_limiter", "_slot")

    def __init__(
        self,
        limiter: LocalLimiter,
        deadline_at: float | None,
        not_before: float,
        max_wait: float,
        what: str,
    ) -> None:
        self._limiter = limiter
        self._args = (deadline_at, not_before, max_wait, what)
        self._slot: Slot | None = None

    async def __aenter__(self) -> Slot:
        limiter = self._limiter
        deadline_at, not_before, max_wait, what = self._args
        backoff = not_before - limiter.clock()  # read the clock once: never a negative sleep
        if backoff > 0:  # the call's own backoff, holding no permit
            if deadline_at is not None and not_before >= deadline_at:
                raise deadline_error(what, "before the retry")
            await anyio.sleep(backoff)
        await limiter.acquire_permit(deadline_at, what)
        try:
            self._slot = await limiter.turn(deadline_at, max_wait, what)
        except BaseException:
            limiter.release_permit()
            raise
        return self._slot

    async def __aexit__(self, *exc_info: object) -> None:
        slot, self._slot = self._slot, None
        try:
            if slot is not None:
                self._limiter.settle(slot)
        finally:
            self._limiter.release_permit()
