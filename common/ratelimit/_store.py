"""Where a rate budget lives: the store protocol, its reply, and the in-process store.

A *budget* is the :class:`~._local.PaceState` of one key plus the probe's lease.
The limiter (``._limiter``) asks a :class:`RateStore` for turns and tells it how
each attempt ended; the store applies the pacing rules (:class:`~._local.Pacer`)
atomically. :class:`MemoryStore` is the in-process store (one client, or the
fall-back of a shared one); ``._redis.RedisRateStore`` is the same semantics in
Redis (``rate.lua``), checked equal by a property test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

import anyio
import attrs

from .._clock import loop_time
from ._local import Pacer, PaceState, Report, accept, rate_at, reserve

__all__ = [
    "MAX_LEASE",
    "QUEUE_LIMIT",
    "SKEW",
    "Budget",
    "MemoryStore",
    "RateStore",
    "StoreError",
    "Turn",
]

#: The longest probe lease a store grants (seconds); a longer one read back is corrupt.
MAX_LEASE = 30.0
#: A stored time this far (seconds) beyond what the rules could have written is corrupt.
SKEW = 1.0
#: A schedule more than this many intervals (and more than ``max_wait``) ahead is corrupt.
QUEUE_LIMIT = 1000


class StoreError(Exception):
    """A store operation failed: no answer in time, a connection error, a reply the
    store's own rules would never give. The limiter then paces locally."""


@attrs.frozen
class Turn:
    """A store's answer to :meth:`RateStore.acquire`.

    ``kind``:

    * ``"go"``: a pacing slot is reserved ``wait`` seconds from now (0: send now);
      ``probe`` says this turn holds the probe lease; ``interval`` is what
      :meth:`RateStore.release` gives back if the turn is never used, in budget
      episode ``episode``;
    * ``"cool"``: a cool-down has ``wait`` seconds left (the server's own wait,
      ``server_wait`` >= ``wait``); nothing is reserved;
    * ``"probe"``: another request holds the probe lease for ``wait`` seconds more;
      nothing is reserved.

    ``sent_at`` is the store's time when it answered: the attempt's time for
    :meth:`RateStore.report` (a refusal of a turn taken before the current
    episode began joins that episode). ``reset``: the store found corrupt state
    (a time far ahead: clock skew, a restored snapshot) and started the budget anew.
    """

    kind: Literal["go", "cool", "probe"]
    wait: float = 0.0
    server_wait: float = 0.0
    probe: bool = False
    interval: float = 0.0
    sent_at: float = 0.0
    episode: int = 0
    reset: bool = False

    @classmethod
    def parse(cls, raw: object) -> Turn:
        """A turn from the wire form ``[kind, wait, server_wait, probe, interval,
        sent_at, episode, reset]`` (bytes or str items); :class:`StoreError` for
        anything the store's rules would not return."""
        try:
            if not isinstance(raw, (list, tuple)) or len(raw) != 8:
                raise ValueError("not a list of 8")
            items = [_text(item) for item in raw]
            kind, flags = items[0], (items[3], items[7])
            if kind not in ("go", "cool", "probe") or not set(flags) <= {"0", "1"}:
                raise ValueError("unknown kind or flag")
            wait, server_wait, interval, sent_at = (float(items[i]) for i in (1, 2, 4, 5))
            episode = int(items[6])
            if not all(math.isfinite(x) for x in (wait, interval, sent_at)):
                raise ValueError("not finite")
            if math.isnan(server_wait):  # +inf: a server's absurd wait, refused upstream
                raise ValueError("not a number")
            if min(wait, interval, episode) < 0:
                raise ValueError("negative")
            if kind != "go" and wait <= 0:  # a cool-down or a lease that is over: no wait
                raise ValueError(f"a {kind} turn without a wait")
            if kind == "probe" and wait > MAX_LEASE + SKEW:
                raise ValueError("probe lease too long")
        except (ValueError, TypeError, UnicodeDecodeError) as error:
            raise StoreError(f"unexpected reply from the rate store ({error})") from None
        return cls(
            kind,  # type: ignore[arg-type]
            wait,
            server_wait,
            flags[0] == "1",
            interval,
            sent_at,
            episode,
            flags[1] == "1",
        )

    def wire(self) -> list[str]:
        """The wire form :meth:`parse` reads (what ``rate.lua`` returns)."""
        return [
            self.kind,
            repr(self.wait),
            repr(self.server_wait),
            str(int(self.probe)),
            repr(self.interval),
            repr(self.sent_at),
            str(self.episode),
            str(int(self.reset)),
        ]


#: A :class:`Turn`'s fields in order (``Turn(*fields)``).
TurnFields = tuple[Literal["go", "cool", "probe"], float, float, bool, float, float, int, bool]


def _text(item: object) -> str:
    if isinstance(item, bytes):
        return item.decode()
    if isinstance(item, (str, int)) and not isinstance(item, bool):
        return str(item)
    raise TypeError(f"a {type(item).__name__} item")


@attrs.define
class Budget:
    """One key's state in a store: the pacing state and the probe's lease."""

    state: PaceState = attrs.field(factory=PaceState)
    #: The probe's holder has it until then (0: nobody).
    lease: float = 0.0
    #: The cool-down that set ``state.cool_until`` (seconds; None: never set by a refusal).
    cool_for: float | None = None


@runtime_checkable
class RateStore(Protocol):
    """Where clients sharing a budget keep it (in process, Redis, a simulation).

    Every operation is atomic on the key's :class:`Budget` and applies the rules of
    :class:`~._local.Pacer`. Times are the store's own clock; ``now`` (seconds on
    that clock) overrides it for tests and simulations, None means the store's
    clock. The limiter bounds each call by its own timeout, so an operation may
    block (a network round trip) but must not hide a failure: it raises
    :class:`StoreError` for any failure, never anything else. Keys are str.
    """

    #: True for a store shared across processes (network calls: the limiter bounds,
    #: shields and falls back); False for one that answers at once (in process).
    shared: bool

    async def acquire(
        self,
        key: str,
        *,
        rate_limit: float | None,
        burst: int,
        lease: float,
        max_wait: float,
        seed: float = 0.0,
        now: float | None = None,
    ) -> Turn:
        """Take a turn (see :class:`Turn`).

        Before anything, a budget with a time further ahead than its rules could
        have written is corrupt and starts anew (``Turn.reset``): ``started`` or
        the episode more than :data:`SKEW` ahead of now, the cool-down longer than
        the one that set it (else ``max_wait``), a lease beyond :data:`MAX_LEASE`,
        the schedule more than ``max(max_wait, QUEUE_LIMIT intervals)`` ahead. A
        new budget starts at pace ``seed`` (requests/s; 0: none) when given.
        Then: a cool-down in force answers ``"cool"``; a probe due takes the
        lease for ``lease`` seconds unless someone holds it (``"probe"``); then
        :meth:`Pacer.reserve` with ``rate_limit`` and ``burst`` answers ``"go"``.
        """
        ...

    async def release(
        self,
        key: str,
        *,
        interval: float,
        episode: int,
        probe: bool,
        now: float | None = None,
    ) -> None:
        """Give back a ``"go"`` turn never used: its lease if ``probe``, and
        ``interval`` of the schedule if the budget is still in episode ``episode``."""
        ...

    async def report(
        self,
        key: str,
        report: Report,
        *,
        rate_limit: float | None,
        sent_at: float,
        probe: bool,
        now: float | None = None,
    ) -> Literal["ok", "same", "new"]:
        """How an attempt of a ``"go"`` turn (its ``sent_at``) ended: frees the lease
        if ``probe``, then :meth:`Pacer.on_report`. ``"new"``: a refusal began a
        congestion episode; ``"same"``: a refusal joined the current one."""
        ...

    async def changed(self, key: str, within: float) -> None:
        """Wait up to ``within`` seconds for the key's budget to change (a store
        without notifications sleeps a short poll interval instead)."""
        ...

    async def read(self, key: str) -> Budget:
        """A copy of the key's budget (a fresh one if there is none)."""
        ...

    async def aclose(self) -> None:
        """Release what the store owns."""
        ...


class MemoryStore:
    """The in-process :class:`RateStore`: budgets in a dict, on ``clock``
    (default: the running event loop's clock). Operations never block and never fail."""

    shared = False

    def __init__(self, clock: Callable[[], float] = loop_time) -> None:
        self.clock = clock
        self._budgets: dict[str, Budget] = {}
        self._changed: dict[str, anyio.Event] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(keys={len(self._budgets)})"

    def _budget(self, key: str) -> Budget:
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = Budget()
        return budget

    def _notify(self, key: str) -> None:
        if not self._changed:  # nobody waits (the usual case)
            return
        event = self._changed.pop(key, None)
        if event is not None:
            event.set()

    # Each operation is a plain method (``*_now``) and its awaitable form for the
    # protocol: the limiter calls the plain ones of a MemoryStore, as every request
    # goes through them (a coroutine per call costs more than the rules it runs).

    async def acquire(
        self,
        key: str,
        *,
        rate_limit: float | None,
        burst: int,
        lease: float,
        max_wait: float,
        seed: float = 0.0,
        now: float | None = None,
    ) -> Turn:
        """See :meth:`RateStore.acquire`."""
        return self.acquire_now(
            key,
            rate_limit=rate_limit,
            burst=burst,
            lease=lease,
            max_wait=max_wait,
            seed=seed,
            now=now,
        )

    def acquire_now(
        self,
        key: str,
        *,
        rate_limit: float | None,
        burst: int,
        lease: float,
        max_wait: float,
        seed: float = 0.0,
        now: float | None = None,
    ) -> Turn:
        """:meth:`acquire`, at once."""
        now = self.clock() if now is None else now
        return Turn(*self.take(key, rate_limit, burst, lease, max_wait, seed, now))

    def take(
        self,
        key: str,
        rate_limit: float | None,
        burst: int,
        lease: float,
        max_wait: float,
        seed: float,
        now: float,
    ) -> TurnFields:
        """:meth:`acquire_now`'s turn as the tuple of its fields (in :class:`Turn`'s
        order): the limiter's fast path builds a :class:`Turn` only when it must wait."""
        budget = self._budget(key)
        reset = corrupt(budget, now, rate_limit, max_wait)
        if reset:
            budget = self._budgets[key] = Budget()
        state = budget.state
        if state.started is None:
            state.started = now
            if seed > 0 and state.episode_at is None:  # a new budget starts at the caller's pace
                state.episode_at = state.climb_from = now
                state.estimate = state.floor = seed
        if state.cool_until > now:
            cool_for, server_wait = state.cool_until - now, state.server_until - now
            return "cool", cool_for, server_wait, False, 0.0, now, state.episodes, reset
        probe = False
        if state.probe:
            if budget.lease > now:
                return "probe", budget.lease - now, 0.0, False, 0.0, now, state.episodes, reset
            budget.lease = now + lease
            probe = True
        send_at, interval = reserve(state, rate_limit, burst, now)
        return "go", send_at - now, 0.0, probe, interval, now, state.episodes, reset

    async def release(
        self,
        key: str,
        *,
        interval: float,
        episode: int,
        probe: bool,
        now: float | None = None,
    ) -> None:
        """See :meth:`RateStore.release`."""
        self.release_now(key, interval=interval, episode=episode, probe=probe, now=now)

    def release_now(
        self,
        key: str,
        *,
        interval: float,
        episode: int,
        probe: bool,
        now: float | None = None,
    ) -> None:
        """:meth:`release`, at once."""
        now = self.clock() if now is None else now
        budget = self._budget(key)
        if probe:
            budget.lease = 0.0
        Pacer(None, 1, budget.state).release(interval, now, episode)
        self._notify(key)

    async def report(
        self,
        key: str,
        report: Report,
        *,
        rate_limit: float | None,
        sent_at: float,
        probe: bool,
        now: float | None = None,
    ) -> Literal["ok", "same", "new"]:
        """See :meth:`RateStore.report`."""
        return self.report_now(
            key, report, rate_limit=rate_limit, sent_at=sent_at, probe=probe, now=now
        )

    def report_now(
        self,
        key: str,
        report: Report,
        *,
        rate_limit: float | None,
        sent_at: float,
        probe: bool,
        now: float | None = None,
    ) -> Literal["ok", "same", "new"]:
        """:meth:`report`, at once."""
        now = self.clock() if now is None else now
        budget = self._budget(key)
        state = budget.state
        if probe:
            budget.lease = 0.0
        if not report.refused:
            if report.answered:
                accept(state, now)
            self._notify(key)
            return "ok"
        cool_until, episodes = state.cool_until, state.episodes
        written = Pacer(rate_limit, 1, state).on_report(report, sent_at, now)
        self._notify(key)
        if now + written > cool_until:  # the cool-down in force (see corrupt())
            budget.cool_for = written
        return "new" if state.episodes != episodes else "same"

    async def changed(self, key: str, within: float) -> None:
        """See :meth:`RateStore.changed`: woken by the key's next release or report."""
        event = self._changed.get(key)
        if event is None:
            event = self._changed[key] = anyio.Event()
        with anyio.move_on_after(within):
            await event.wait()

    async def read(self, key: str) -> Budget:
        """See :meth:`RateStore.read`."""
        return attrs.evolve(self._budget(key), state=attrs.evolve(self._budget(key).state))

    async def aclose(self) -> None:
        """Nothing to release."""


def corrupt(budget: Budget, now: float, rate_limit: float | None, max_wait: float) -> bool:
    """Whether ``budget`` holds a time its rules could not have written by ``now``
    (see :meth:`RateStore.acquire`); ``rate.lua`` has the same test."""
    state = budget.state
    if state.started is not None and state.started > now + SKEW:
        return True
    if state.episode_at is not None and state.episode_at > now + SKEW:
        return True
    cool_for = max_wait if budget.cool_for is None else budget.cool_for
    if state.cool_until - now > cool_for + SKEW or budget.lease - now > MAX_LEASE + SKEW:
        return True
    ahead = state.tat - (now if now > state.cool_until else state.cool_until)
    if ahead <= SKEW:  # within any bound below
        return False
    rate = rate_at(state, now, rate_limit)
    return rate is not None and ahead > max(max_wait, QUEUE_LIMIT / rate) + SKEW
