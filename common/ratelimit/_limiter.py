"""The limiter every request goes through: one waiting loop over a :class:`RateStore`.

The transport uses the :class:`Limiter` protocol::

    async with limiter.slot(deadline_at, not_before=..., max_wait=..., lease=...) as slot:
        ...send one attempt...
        slot.report(Report.accepted())   # or Report.refused_for(...), Report.no_answer()

``slot()`` waits for the call's own backoff, the first round's gate (limit
unknown, in process only), a concurrency permit, then asks the store for a turn
until one comes: it sits out a cool-down, waits behind another request's probe,
or sleeps until its pacing slot; calls whose slot is further off than ``HORIZON``
wait in line, earliest deadline first, and only the line's head asks. Every wait
is bounded by the call's deadline; a turn that cannot come in time raises without
sending. A waiter cancelled (or out of time) gives its turn back to the store.

:class:`PacedLimiter` is that loop. Over a :class:`MemoryStore` it is the
client's own budget (:class:`LocalLimiter`); over a shared store (Redis) every
store call is bounded by a share of the call's deadline, runs in its own task
(a cancelled caller never leaves a turn or a probe lease behind: what the call
was granted is given back when the answer comes), and any failure means local
pacing on a fall-back :class:`MemoryStore` with one warning per outage.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal, Protocol, TypeVar

import anyio
import attrs

from .._clock import loop_time
from .._errors import APITimeoutError, ClientClosedError, RateLimitError
from ._local import FIRST_ROUND_WAIT, KNOWN_MARGIN, MARGIN, MIN_RATE, Report
from ._store import QUEUE_LIMIT, SKEW, MemoryStore, RateStore, StoreError, Turn

__all__ = ["Limiter", "LocalLimiter", "PacedLimiter", "Slot"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a probe holds the others back at most, unless the caller says less.
PROBE_LEASE = 30.0
#: How often a request behind another process's probe asks again (a shared store).
PROBE_POLL = 0.02
#: A waiter holds no pacing slot further ahead than this (seconds): one taken sooner
#: would keep the pace of the time it queued.
HORIZON = 0.25
#: A shared store call may take this share of what is left of the call's deadline.
STORE_SHARE = 0.2
#: ... and a report, made once the answer is in, at least this long (seconds).
REPORT_MIN = 0.05
#: A call given this many turns without a slot by a shared store paces locally (a
#: store that only ever says "wait" must not hold a call with no deadline forever).
MAX_WAITS = 10_000
#: A held call's share of its deadline running out is an outage, not the end of its
#: deadline, once the share held this many of the store's round trips.
STORE_PATIENCE = 4.0
#: Giving a turn back after a cancellation takes at most this long.
GIVE_BACK_WITHIN = 1.0
#: After a shared store failed, pace locally this long before trying it again.
RETRY_STORE_AFTER = 1.0
#: While the shared store fails, each process paces at its own share of the budget: what
#: its answers through it over its last this many seconds came to (at least SHARE_MIN of
#: them), times SHARE_ROOM (the others' share may have fallen meanwhile).
SHARE_WINDOW = 2.0
SHARE_MIN = 4
SHARE_ROOM = 1.5
#: After a warning about the shared store, no other one for this long (one per outage).
WARN_EVERY = 60.0
#: The slowest interval a new budget is seeded with (a learned pace is never below MIN_RATE).
_SLOWEST = 1.0 / MIN_RATE


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

    @property
    def outcome(self) -> Report:
        """The reported outcome (no answer when nothing was reported)."""
        return self._report or Report.no_answer()


class Limiter(Protocol):
    """What the transport needs of a limiter (local or shared)."""

    def slot(
        self,
        deadline_at: float | None,
        *,
        not_before: float = 0.0,
        max_wait: float = math.inf,
        lease: float = PROBE_LEASE,
        what: str = "",
    ) -> contextlib.AbstractAsyncContextManager[Slot]:
        """Wait for a turn to send; raise (nothing sent) when it cannot come in time.

        ``lease``: how long this attempt may hold the probe (its own timeout).
        """
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


class _Permits:
    """The concurrency cap: asyncio.Semaphore's rules (first come, first served; a
    permit given back goes to the first waiter) with a free permit taken at once,
    without a coroutine and without asyncio's scan of its waiters on every call.
    A waiter may give an ``order`` instead: the smallest goes first (ties in turn).
    """

    __slots__ = ("_count", "_free", "_waiters")

    def __init__(self, count: int) -> None:
        self._free = count
        self._count = itertools.count()  # arrival order, among equal ``order``s
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []  # a heap

    def take(self) -> bool:
        """Take a free permit now (True), or none (False) while all are out or others wait."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    def idle(self) -> bool:
        """No permit out and nobody waiting (a count of one: nobody holds it)."""
        return self._free > 0 and not self._waiters

    async def wait(self, order: float = 0.0) -> None:
        """Take a permit, waiting for one in turn (``order``, then arrival)."""
        if self.take():
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (order, next(self._count), waiter)
        heapq.heappush(self._waiters, entry)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give()  # handed a permit, then cancelled: the next waiter's
            elif entry in self._waiters:
                self._waiters.remove(entry)
                heapq.heapify(self._waiters)
            raise

    def give(self) -> None:
        """Give a permit back: to the first waiter still waiting, else to the free ones."""
        waiters = self._waiters
        while waiters:
            _, _, waiter = heapq.heappop(waiters)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class PacedLimiter:
    """The waiting loop (see the module) over ``store`` for budget ``key``.

    ``fallback``: the store used while a shared ``store`` fails (default: a new
    :class:`MemoryStore`). ``first_round``: hold new requests while the first
    round's answers come in (limit unknown; see ``docs/RATE_CONTROL.md``).
    ``owns_store``: :meth:`aclose` closes ``store``.
    """

    def __init__(
        self,
        store: RateStore,
        key: str = "local",
        *,
        rate_limit: float | None = None,
        burst: int = 1,
        max_concurrency: int = 100,
        clock: Callable[[], float] = loop_time,
        fallback: MemoryStore | None = None,
        first_round: bool = False,
        owns_store: bool = False,
    ) -> None:
        if rate_limit is not None and not 0 < rate_limit < math.inf:
            raise ValueError("rate must be a positive number of requests per second")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.store = store
        # An in-process store on our clock answers at once: the limiter calls it without
        # awaiting, and grants a turn free now without its waiting loop (``_Turn.__aenter__``).
        self._memory = store if type(store) is MemoryStore and store.clock is clock else None
        self.key = key
        self.rate_limit = rate_limit
        self.burst = burst
        self.clock = clock
        self.fallback = fallback or MemoryStore(clock)
        self._owns_store = owns_store
        self._permits = _Permits(max_concurrency)
        # The line of calls waiting for a pacing slot beyond HORIZON, earliest deadline
        # first: its head sleeps until its slot is near and only the head asks the store
        # (each waiter giving its slot back and asking again was a lottery: 20 callers at
        # rate_limit=10 with a 5 s deadline, 2 s of queue, lost 13 calls of 107 to it).
        self._line = _Permits(1)
        # The first round's gate, while the limit is unknown: the requests sent before
        # any answer came back are the first round. Once its first answer is in, no new
        # request starts until the round is over (all answered, or a refusal), so that
        # the answers accepted first do not send a second crowd into a limit that the
        # round's refusals, answered last, are about to reveal. None: the gate is open.
        self._round: _FirstRound | None = _FirstRound() if first_round else None
        self._down_until = 0.0  # no shared store call before this (local clock)
        self._round_trip = 0.0  # the shared store's last answer took this long
        self._quiet_until = 0.0  # no new warning about the store before this
        self._reset_quiet_until = 0.0  # no new warning of a reset budget before this
        self._interval = 0.0  # the shared pace last seen (seconds between requests)
        # When this process's last answers through the shared budget came (see _alone)
        self._goes: collections.deque[float] = collections.deque(maxlen=256)
        self._share: float | None = None  # of the budget, while the store fails
        self._episodes = 0  # episodes this limiter's reports began: sleeping turns are void
        self._cool_until = 0.0  # a cool-down this limiter reported (local clock)
        self._background: set[asyncio.Task[Any]] = set()  # turns being given back
        self._closed = anyio.Event()  # set by aclose: every wait ends at once

    def __repr__(self) -> str:
        return f"{type(self).__name__}(store={self.store!r})"

    @property
    def shared(self) -> bool:
        """Whether the budget is in a shared store that answered last time."""
        return self.store.shared and self._down_until == 0.0

    async def aclose(self) -> None:
        """End every wait (those calls raise :class:`ClientClosedError`, unsent), wait for
        turns being given back, and close the store when this limiter owns it."""
        self._closed.set()
        with anyio.CancelScope(shield=True):
            try:
                while self._background:
                    await asyncio.wait(set(self._background))
            finally:  # (even when cut short: the store's connections are closed)
                if self._owns_store:
                    await self.store.aclose()

    def slot(
        self,
        deadline_at: float | None,
        *,
        not_before: float = 0.0,
        max_wait: float = math.inf,
        lease: float = PROBE_LEASE,
        what: str = "",
    ) -> _Turn:
        """Wait for a turn (see :class:`Limiter`); ``async with`` gives the :class:`Slot`."""
        return _Turn(self, deadline_at, not_before, max_wait, lease, what)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less: :meth:`aclose` ends the wait and fails the call
        (a client closed at a service's shutdown does not keep calls waiting out a
        cool-down, a backoff or a pacing slot)."""
        with anyio.move_on_after(seconds):
            await self._closed.wait()
        self._check_open()

    def _bind_clock(self) -> None:
        """Read the running loop's clock directly from now on. The default clock,
        :func:`loop_time`, looks the loop up at every read (a third of a turn's cost on
        Python 3.11); a limiter's waiters belong to one loop anyway (its client's)."""
        clock = asyncio.get_running_loop().time
        for store in (self.store, self.fallback):
            if type(store) is MemoryStore and store.clock is loop_time:
                store.clock = clock
        self.clock = clock

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise ClientClosedError("the client was closed while this call waited; not sent")

    # -- the concurrency cap and the first round's gate -------------------------------

    async def _acquire_permit(self, deadline_at: float | None, what: str) -> None:
        if self._round is not None:
            await self._first_round_gate(deadline_at, what)
        if self._permits.take():  # a free permit: no trip through the event loop
            return
        try:
            await self._bounded(self._permits.wait(), deadline_at, what, "in the queue")
        except BaseException:
            self._left_round()
            raise

    def _release_permit(self) -> None:
        self._permits.give()
        if self._round is not None:
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

    def _open_gate(self) -> None:
        first, self._round = self._round, None
        if first is not None:
            first.over.set()

    def _first_round_answered(self, report: Report) -> None:
        """Its first answer closes the gate; a refusal opens it for good (the
        cool-down then holds every request back)."""
        first = self._round
        if first is None:
            return
        if report.refused:
            self._open_gate()
        elif report.answered and first.answered_at is None:
            first.answered_at = self.clock()
            first.round_trip = max(0.0, first.answered_at - first.started)

    async def _bounded(
        self, waiting: Awaitable[object], deadline_at: float | None, what: str, why: str
    ) -> None:
        if deadline_at is None:
            await waiting
            return
        with anyio.move_on_after(max(0.0, deadline_at - self.clock())) as scope:
            await waiting
        if scope.cancelled_caught:
            raise deadline_error(what, why)

    # -- the store ------------------------------------------------------------------

    def _store_for_now(self, call: _Call) -> RateStore:
        """The shared store, or the fall-back while it fails (for this call, or for all
        until ``RETRY_STORE_AFTER`` has passed)."""
        if call.local or not self.store.shared:
            return self.store if not self.store.shared else self.fallback
        if self._down_until and self.clock() < self._down_until:
            return self.fallback
        return self.store

    async def _acquire_shared(
        self,
        call: Coroutine[Any, Any, Turn],
        bound: float,
        store_timeout: float,
        undo: Callable[[Turn], Coroutine[Any, Any, object]],
    ) -> Turn:
        """A shared store's turn, waited for ``bound`` seconds (the call's share of its
        deadline); the ask itself runs in a task of its own, for ``store_timeout``.

        When the caller stops waiting (``bound`` passed, or it was cancelled, natively or
        by a cancel scope) it leaves at once and the task goes on: whatever the store
        grants it then is given back by ``undo``, so a slow answer leaves no slot or
        probe lease behind. (Cut off at ``bound``, an ask the store had already granted
        held its slot: each such ask pushed the shared schedule one interval further
        ahead, for every process.)
        """
        task = asyncio.ensure_future(self._within(call, store_timeout))
        self._keep(task)
        done: set[asyncio.Task[Turn]] = set()
        try:
            done, _ = await asyncio.wait((task,), timeout=bound)
        finally:
            if not done:  # cancelled, or ``bound`` passed: the task goes on without us
                self._keep(asyncio.ensure_future(self._undo_when_done(task, undo)))
        if not done:
            raise _CutOff(f"no answer from the rate store within {bound:.3g}s")
        return task.result()

    async def _within(self, call: Coroutine[Any, Any, T], bound: float) -> T:
        try:
            with anyio.fail_after(bound):
                return await call
        except TimeoutError:
            raise StoreError(f"no answer from the rate store within {bound:.3g}s") from None

    async def _undo_when_done(
        self, task: asyncio.Task[T], undo: Callable[[T], Coroutine[Any, Any, object]]
    ) -> None:
        with contextlib.suppress(StoreError):
            result = await task
            await self._within(undo(result), GIVE_BACK_WITHIN)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failure of a task nobody awaits is no warning

    def _failed(self, error: StoreError, bound: float, *, held: bool = False) -> None:
        """A shared store call failed: pace locally (for ``RETRY_STORE_AFTER``, unless
        it only ran out of this call's short share of its deadline).

        ``held``: the store held this call back before. When only its share ran out,
        and that share was too short for the store's round trip (near the call's
        deadline), that is no sign of an outage: said at DEBUG, and the call fails as a
        deadline rather than go out past the hold. A store that failed (an error, or no
        answer in several of its round trips: stopped, unreachable) is an outage for a
        held call too: it paces locally, behind what this process saw (Redis failing
        never fails a call; a held call failed at a fifth of its deadline)."""
        now = self.clock()
        if self._closed.is_set():  # a call ending after its client closed: no outage
            return
        short = bound < getattr(self.store, "timeout", bound)
        patient = bound >= STORE_PATIENCE * self._round_trip  # several of its round trips
        if held and isinstance(error, _CutOff) and not patient:
            logger.debug("rate store: %s (the end of this call's deadline)", error)
            return
        if now >= self._quiet_until:  # one line per outage, not one per request
            logger.warning("rate store unavailable (%s); pacing locally until it is back", error)
            self._quiet_until = now + WARN_EVERY
        # A share shorter than the store's timeout that had several of its round trips is
        # an outage too: with a deadline of 5 s or less every share was, and each call
        # waited its share out for as long as Redis hung (0.2 of its deadline, every call).
        if not short or held or patient:
            self._down_until = now + RETRY_STORE_AFTER

    def _warn_reset(self) -> None:
        now = self.clock()
        if now < self._reset_quiet_until:  # one line a minute (clients on one key told
            return  # different rate_limit values reset it each other's turn)
        self._reset_quiet_until = now + WARN_EVERY
        logger.warning(
            "rate store held what its rules could not have written (a time far ahead of "
            "its clock: clock skew, a restored snapshot? or a value not a number); the "
            "budget %r was started anew",
            self.key,
        )

    async def _acquire(
        self, store: RateStore, call: _Call, max_wait: float, lease: float
    ) -> Turn | None:
        """A turn from ``store``; None when the shared store failed (pace locally)."""
        seed = 1.0 / self._interval if self._interval else 0.0
        max_wait = min(max_wait, 1e12)
        if type(store) is MemoryStore:
            rate_limit, burst = self.rate_limit, self.burst
            if store is self.fallback and self.store.shared:
                rate_limit, burst, seed = self._alone(seed)
            return store.acquire_now(
                self.key,
                rate_limit=rate_limit,
                burst=burst,
                lease=lease,
                max_wait=max_wait,
                seed=seed,
            )

        def asking() -> Coroutine[Any, Any, Turn]:
            return store.acquire(
                self.key,
                rate_limit=self.rate_limit,
                burst=self.burst,
                lease=lease,
                max_wait=max_wait,
                seed=seed,
            )

        if not store.shared:
            return await asking()
        timeout = getattr(store, "timeout", math.inf)
        bound = call.store_bound(self.clock(), timeout)
        if bound <= 0:  # no time left to ask: the deadline check below fails the call
            call.local = True
            return None
        asked_at = self.clock()
        try:
            turn = await self._acquire_shared(asking(), bound, timeout, self._give_back_to(store))
            self._check(turn, max_wait)
        except StoreError as error:
            self._failed(error, bound, held=call.held)
            call.local = True
            return None
        self._round_trip = self.clock() - asked_at
        self._down_until = 0.0
        self._share = None  # (measured anew at the next outage)
        if turn.kind == "go" and turn.interval:
            # (never slower than MIN_RATE: the seed of a new budget, 1 / it, is a pace a
            # rule could write; a configured rate under it still caps the pace)
            self._interval = turn.interval if turn.interval < _SLOWEST else _SLOWEST
        return turn

    def _alone(self, seed: float) -> tuple[float | None, int, float]:
        """The rate limit, burst and seed to pace this process alone while the shared
        store fails: its share of the budget, what its last answers through it came to (over
        :data:`SHARE_WINDOW` seconds, with :data:`SHARE_ROOM`), never more than the whole;
        the whole when they were too few to tell. (Each of four processes paced at the
        whole ``rate_limit``: four times the server's rate, refusals, and calls failed at
        their deadline.)"""
        if self._share is None:
            goes, self._share = self._goes, 1.0
            whole = self.rate_limit or (1.0 / self._interval if self._interval else 0.0)
            if whole and goes:
                start = goes[-1] - SHARE_WINDOW
                if len(goes) == goes.maxlen:  # (a full record may not reach back that far)
                    start = max(start, goes[0])
                recent = sum(1 for at in goes if at > start)
                if recent >= SHARE_MIN:
                    span = max(goes[-1] - start, 1e-3)
                    self._share = min(1.0, SHARE_ROOM * recent / span / whole)
        share = self._share
        rate_limit = None if self.rate_limit is None else self.rate_limit * share
        return rate_limit, max(1, int(self.burst * share)), seed * share

    def _check(self, turn: Turn, max_wait: float) -> None:
        """A shared store's turn the rules could not give (a wait beyond any bound) is a
        failure, never a wait: the store's own reset would have caught it."""
        limit = max(max_wait, QUEUE_LIMIT * turn.interval) + SKEW
        slowest = MIN_RATE * MARGIN  # no learned pace is slower (its floor), nor a
        # configured one (with its margin)
        if self.rate_limit is not None and self.rate_limit * KNOWN_MARGIN < slowest:
            slowest = self.rate_limit * KNOWN_MARGIN
        if turn.kind == "go" and (
            turn.wait > limit
            or (turn.wait and not turn.interval)
            or turn.interval > 1.0 / slowest + SKEW
        ):
            raise StoreError(f"unexpected reply from the rate store (a wait of {turn.wait:.3g}s)")

    def _give_back_to(self, store: RateStore) -> Callable[[Turn], Coroutine[Any, Any, None]]:
        async def give_back(turn: Turn) -> None:
            if turn.kind == "go":
                await store.release(
                    self.key, interval=turn.interval, episode=turn.episode, probe=turn.probe
                )

        return give_back

    async def _give_back(self, store: RateStore, turn: Turn) -> None:
        """Return a turn not used (the store keeps the schedule's part if the episode
        it was taken in is over)."""
        releasing = store.release(
            self.key, interval=turn.interval, episode=turn.episode, probe=turn.probe
        )
        if not store.shared:
            await releasing
            return
        # In the background: a cancelled caller leaves now; a failure just loses the turn
        # (the lease ends by itself; the schedule moves on).
        self._keep(asyncio.ensure_future(self._within(releasing, GIVE_BACK_WITHIN)))

    # -- the waiting loop -----------------------------------------------------------

    def _turn_now(
        self,
        store: MemoryStore,
        deadline_at: float | None,
        max_wait: float,
        lease: float,
        now: float,
    ) -> Slot | Turn:
        """The loop's first ask of an in-process store on our clock, without a coroutine:
        the slot of a turn to send now, or the turn for the loop."""
        # (conditional expressions, not min(): this runs for every request)
        hold = lease if lease < PROBE_LEASE else PROBE_LEASE
        if deadline_at is not None:
            hold = min(hold, max(0.0, deadline_at - now))
        fields = store.take(
            self.key,
            self.rate_limit,
            self.burst,
            hold,
            max_wait if max_wait < 1e12 else 1e12,
            1.0 / self._interval if self._interval else 0.0,
            now,
        )
        if fields[0] == "go" and fields[1] <= 0 and not fields[7]:
            return Slot(fields[5], fields[4], fields[3])
        return Turn(*fields)

    async def _turn(
        self,
        call: _Call,
        max_wait: float,
        lease: float,
        what: str,
        first: tuple[Turn, RateStore] | None = None,
    ) -> tuple[Slot, RateStore]:
        """The waiting loop; ``first``: a turn already taken from that store."""
        try:
            return await self._wait_for_turn(call, max_wait, lease, what, first)
        finally:
            self._hand_on(call)

    async def _wait_for_turn(
        self,
        call: _Call,
        max_wait: float,
        lease: float,
        what: str,
        first: tuple[Turn, RateStore] | None,
    ) -> tuple[Slot, RateStore]:
        deadline_at, line = call.deadline_at, self._line
        waits = 0
        while True:
            if first is not None:
                (turn, store), first = first, None
            else:
                if not call.head and not line.idle():  # others wait for slots: in line
                    # (earliest deadline first: a call refused and retried, or slowed by
                    # a cool-down, does not go behind every call that came after it)
                    order = math.inf if deadline_at is None else deadline_at
                    await self._bounded(line.wait(order), deadline_at, what, "in line for a slot")
                    call.head = True
                    self._check_open()  # (the head before us may have left because of it)
                store = self._store_for_now(call)
                if store.shared and waits >= MAX_WAITS:
                    self._failed(StoreError(f"{waits} turns without a slot"), math.inf)
                    call.local = True
                    continue
                waits += 1
                now = self.clock()
                hold = lease if deadline_at is None else min(lease, max(0.0, deadline_at - now))
                handing = None
                if call.head and store.shared:
                    # A shared store answers after a round trip: one slower than the pace
                    # hands the line on (the next asks meanwhile), or a slow store would
                    # pace the line at one ask per round trip.
                    after = self._interval if 0 < self._interval < HORIZON else HORIZON
                    handing = asyncio.get_running_loop().call_later(after, self._hand_on, call)
                try:
                    asked = await self._acquire(store, call, max_wait, min(hold, PROBE_LEASE))
                finally:
                    if handing is not None:
                        handing.cancel()
                if asked is None:
                    if call.held and deadline_at is not None and self._down_until <= now:
                        # The shared budget held this call back (another process's probe,
                        # a cool-down) and only the call's share of its deadline ran out,
                        # not the store: paced locally it would go out past that hold.
                        raise deadline_error(what, "behind the shared budget's hold")
                    continue  # the shared store failed: the fall-back's turn next
                turn = asked
            if turn.reset:
                self._warn_reset()
            now = self.clock()
            if turn.kind == "go" and turn.wait > HORIZON and not turn.probe:
                # Hold no slot further ahead than HORIZON: one reserved at a slow pace
                # keeps it while the pace climbs (a crowd of 50 queued at a first guess of
                # 10/s kept that pace for 5 s while the server allowed 100/s). The line's
                # head sleeps until its slot is near; the others wait behind it in turn.
                await self._give_back(store, turn)
                if deadline_at is not None and now + turn.wait >= deadline_at:
                    raise deadline_error(what, f"before its pacing slot in {turn.wait:.3g}s")
                if not call.head:
                    call.head = line.take()
                    if not call.head:
                        continue  # in line first (at the loop's top)
                await self._pause(max(turn.wait - HORIZON, HORIZON / 2))
                continue
            self._hand_on(call)  # what follows waits no slot out: the next in line may ask
            if turn.kind != "go" and store.shared:
                call.held = True
            if turn.kind == "cool":
                # (the longer of the two: a cool-down another client's longer
                # max_retry_wait wrote, or a budget edited by hand, holds no call past its own)
                longest = turn.wait if turn.wait > turn.server_wait else turn.server_wait
                if longest > max_wait:
                    raise cool_down_error(longest, "longer than max_retry_wait")
                if deadline_at is not None and now + turn.wait >= deadline_at:
                    raise cool_down_error(turn.wait, "beyond the call's deadline")
                await self._pause(turn.wait)
                continue
            if turn.kind == "probe":
                left = math.inf if deadline_at is None else deadline_at - now
                if left <= 0:
                    raise deadline_error(what, "behind the probe request")
                poll = turn.wait if not store.shared else PROBE_POLL
                await store.changed(self.key, min(poll, left))
                if deadline_at is not None and self.clock() >= deadline_at:
                    raise deadline_error(what, "behind the probe request")
                continue
            slot = Slot(turn.sent_at, turn.interval, turn.probe)
            if turn.wait <= 0:
                call.taken_at = now
                return slot, store
            episodes = self._episodes
            try:
                if deadline_at is not None and now + turn.wait >= deadline_at:
                    raise deadline_error(what, f"before its pacing slot in {turn.wait:.3g}s")
                await self._pause(turn.wait)
            except BaseException:
                await self._give_back(store, turn)
                raise
            if self._episodes == episodes and self._cool_until <= self.clock():
                call.taken_at = self.clock()
                return slot, store
            # A refusal came while we slept: give the turn back (the schedule's part only
            # in the same episode: a new one voided it) and queue again at the new pace.
            await self._give_back(store, turn)

    def _hand_on(self, call: _Call) -> None:
        """The call is no longer the line's head: the next in line asks for a turn."""
        if call.head:
            call.head = False
            self._line.give()

    def _learn(self, report: Report) -> None:
        """Learn from an attempt's outcome in the limiter itself (cool-down, first round)."""
        if report.refused:  # sleeping turns wake into the cool-down and queue again
            self._cool_until = max(self._cool_until, self.clock() + report.cool_down)
        if self._round is not None:
            self._first_round_answered(report)

    def _settle_now(self, slot: Slot, store: MemoryStore) -> None:
        """:meth:`_settle` with an in-process store, without a coroutine."""
        report = slot.outcome
        self._learn(report)
        reply = store.report_now(
            self.key, report, rate_limit=self.rate_limit, sent_at=slot.sent_at, probe=slot.probe
        )
        if reply == "new":
            self._episodes += 1

    async def _settle(self, slot: Slot, store: RateStore, call: _Call) -> None:
        """Tell the store how the attempt ended; let the first round's gate learn."""
        if type(store) is MemoryStore:
            self._settle_now(slot, store)
            return
        report = slot.outcome
        self._learn(report)
        reporting = store.report(
            self.key, report, rate_limit=self.rate_limit, sent_at=slot.sent_at, probe=slot.probe
        )
        if not store.shared:
            self._reported(await reporting)
            return
        # The fall-back learns from every answer too, so it starts where the shared
        # budget was (behind its cool-down) if the store fails; and what this process
        # was given of the budget (_alone).
        if report.answered and not report.refused:
            self._goes.append(self.clock())
        await self.fallback.report(
            self.key, report, rate_limit=self.rate_limit, sent_at=call.taken_at, probe=False
        )
        bound = call.report_bound(self.clock(), getattr(store, "timeout", math.inf))
        task = asyncio.ensure_future(self._report_shared(reporting, bound))
        self._keep(task)
        # The call waits for its report no longer than its deadline: the rest of a slow
        # report goes on in the background (bounded; aclose waits for it). A cancelled
        # caller leaves at once the same way.
        left = None if call.deadline_at is None else call.deadline_at - self.clock()
        if left is None or left >= bound:  # the report's bound is the call's: as before
            await asyncio.shield(task)
        else:
            await asyncio.wait((task,), timeout=max(0.0, left))

    async def _report_shared(
        self, reporting: Coroutine[Any, Any, Literal["ok", "same", "new"]], bound: float
    ) -> None:
        try:
            reply = await self._within(reporting, bound)
            if reply not in ("ok", "same", "new"):
                raise StoreError("unexpected reply from the rate store")
        except StoreError as error:
            self._failed(error, bound)
            return
        self._reported(reply)

    def _reported(self, reply: str) -> None:
        if reply == "new":
            self._episodes += 1


class _CutOff(StoreError):
    """No answer within the call's share of its deadline (the store may still answer)."""


@attrs.define
class _Call:
    """What the loop knows of one call."""

    deadline_at: float | None
    #: The shared store failed during this call: pace it locally to the end.
    local: bool = False
    #: When the turn came (the limiter's clock).
    taken_at: float = 0.0
    #: The call is the head of the limiter's line (its next pacing slot is the call's).
    head: bool = False
    #: A shared store held the call back (a probe of another client's, a cool-down).
    held: bool = False

    def store_bound(self, now: float, timeout: float) -> float:
        """A shared store call takes at most ``timeout``, and only a share of the
        deadline's rest: local pacing then takes over in time."""
        if self.deadline_at is None:
            return timeout
        return max(0.0, min(timeout, STORE_SHARE * (self.deadline_at - now)))

    def report_bound(self, now: float, timeout: float) -> float:
        if self.deadline_at is None:
            return timeout
        return min(timeout, max(REPORT_MIN, self.deadline_at - now))


@attrs.define
class _FirstRound:
    """The first round of requests sent while the limit is unknown."""

    #: Requests of the round not yet over.
    pending: int = 0
    #: When the round's first request went, when its first answer came, and the time
    #: between (a round trip: the gate stays closed FIRST_ROUND_WAIT of them at most).
    started: float = 0.0
    answered_at: float | None = None
    round_trip: float = 0.0
    over: anyio.Event = attrs.field(factory=anyio.Event)


class _Turn:
    """``async with limiter.slot(...)`` (a class, not a generator: this runs for every
    request)."""

    __slots__ = (
        "_call",
        "_deadline_at",
        "_lease",
        "_limiter",
        "_max_wait",
        "_not_before",
        "_slot",
        "_store",
        "_what",
    )

    def __init__(
        self,
        limiter: PacedLimiter,
        deadline_at: float | None,
        not_before: float,
        max_wait: float,
        lease: float,
        what: str,
    ) -> None:
        self._limiter = limiter
        self._deadline_at = deadline_at
        self._not_before = not_before
        self._max_wait = max_wait
        self._lease = lease
        self._what = what
        self._call: _Call | None = None  # made when the waiting loop runs
        self._slot: Slot | None = None
        self._store: RateStore | None = None

    async def __aenter__(self) -> Slot:
        limiter, deadline_at = self._limiter, self._deadline_at
        max_wait, lease, what = self._max_wait, self._lease, self._what
        if limiter.clock is loop_time:
            limiter._bind_clock()
        now = limiter.clock()
        backoff = self._not_before - now  # read the clock once: never a negative sleep
        if backoff > 0:  # the call's own backoff, holding no permit
            if deadline_at is not None and self._not_before >= deadline_at:
                raise deadline_error(what, "before the retry")
            await limiter._pause(backoff)
            now = limiter.clock()
        memory = limiter._memory
        if (
            memory is not None
            and limiter._round is None
            and limiter._line.idle()
            and limiter._permits.take()
        ):
            # The common case, with no coroutine of ours: a free permit (no trip through
            # the event loop), then one ask of the in-process store; a turn to send now
            # is the slot, any other one goes to the waiting loop.
            try:
                turn = limiter._turn_now(memory, deadline_at, max_wait, lease, now)
                if isinstance(turn, Slot):
                    self._slot, self._store = turn, memory
                    return turn
                call = self._call = _Call(deadline_at)
                self._slot, self._store = await limiter._turn(
                    call, max_wait, lease, what, (turn, memory)
                )
            except BaseException:
                limiter._release_permit()
                raise
            return self._slot
        call = self._call = _Call(deadline_at)
        await limiter._acquire_permit(deadline_at, what)
        try:
            self._slot, self._store = await limiter._turn(call, max_wait, lease, what)
        except BaseException:
            limiter._release_permit()
            raise
        return self._slot

    async def __aexit__(self, *exc_info: object) -> None:
        slot, self._slot = self._slot, None
        limiter, store = self._limiter, self._store
        try:
            if slot is not None and store is not None:
                if store is limiter._memory:
                    limiter._settle_now(slot, limiter._memory)
                else:
                    assert self._call is not None  # the waiting loop made it
                    await limiter._settle(slot, store, self._call)
        finally:
            limiter._release_permit()


class LocalLimiter(PacedLimiter):
    """The in-process limiter: pacing, cool-down, probe and concurrency cap of one
    client (and of the clients derived from it with ``with_options``)."""

    def __init__(
        self,
        rate_limit: float | None = None,
        *,
        burst: int = 1,
        max_concurrency: int = 100,
        clock: Callable[[], float] = loop_time,
    ) -> None:
        super().__init__(
            MemoryStore(clock),
            rate_limit=rate_limit,
            burst=burst,
            max_concurrency=max_concurrency,
            clock=clock,
            first_round=rate_limit is None,
        )
