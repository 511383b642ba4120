"""The pacing rules, pure: every method takes the time (``now``) and does no I/O.

:class:`Pacer` holds the rules over a :class:`PaceState`: a GCRA schedule (a token
bucket written as the next slot's time), the shared 429 cool-down with its probe,
and the adaptive pace (see ``docs/RATE_CONTROL.md``). The stores of ``._store``
(in process) and ``._redis`` (the same rules in ``rate.lua``) apply them to a
budget; the limiter of ``._limiter`` waits for turns from a store.
"""

from __future__ import annotations

import math

import attrs

__all__ = ["PaceState", "Pacer", "Report", "accept", "rate_at", "reserve"]

#: Each congestion episode paces this much under what the server showed it accepts.
MARGIN = 0.95
#: Seconds to climb back to the estimate after an episode (CUBIC's K); beyond it
#: the pace doubles every :data:`DOUBLING` seconds, so a raised limit (or one the
#: estimate undershot) is found again within seconds.
CLIMB = 2.0
DOUBLING = 1.0
#: ... and, beyond a measured estimate (not a first guess from one burst), no faster than
#: once per this many requests at it: by the clock alone a slow limit's pace doubled
#: every second or two requests, and Intervals' Premium plan (100/minute, burst 20) was
#: refused one request in five (simulated; 8 more cells of the matrix meet their goal).
DOUBLING_REQUESTS = 10.0
#: A learned pace this many times its estimate is no longer a limit: pacing goes off
#: (every waiter goes at once: at 16 times a first guess of 10/s, the burst over a
#: one-second wait, 100/s burst 10 met it within its job and 30 waiters went into the
#: refusal together, 72 of 372 requests refused, simulated; 42 at 64 times).
UNPACED_ABOVE = 64.0
#: ... and a refusal while pacing is off counts as one at this many times the estimate
#: (its floor, half of it, is then 8 times the estimate rather than 32).
UNPACED_GUESS = 16.0
#: The slowest pace ever learned (requests per second).
MIN_RATE = 0.05
#: ... and to no less than this fraction (one multiplicative decrease per episode).
HALVE = 0.5
#: A refused pace is cut to at most this fraction of itself.
DECREASE = 0.9
#: Acceptances needed before their count over time is trusted as the server's pace,
#: when more requests were refused than the one that began the episode (a crowd: the
#: server turned away requests the client had ready, so its count is the server's)...
MIN_SAMPLE = 1
#: ... and when only that one was (a sequential client): one acceptance then a long wait
#: says nothing of a pace, and such a pace would space the client out far below what
#: it was doing (one request then a 30 s wait paced it at one per 20 s).
SOLO_SAMPLE = 4
#: A refusal with nothing accepted since the episode began is part of it: the limit is
#: still closed (a window of 10 per 10 s, 100 a minute), which says nothing of its pace.
#: Naming no wait, it holds everyone back as long again as the limit has been closed, at
#: most this many seconds. (Each refused retry was an episode of its own that cut the pace:
#: a hundred in a window closed for 10 s, down to one request per 20 s, and the keys behind
#: it ran out of time; each call's own retries went out meanwhile.)
CLOSED_HOLD = 2.0
#: The server's recent pace: acceptances are counted in windows of this many seconds;
#: a new episode's estimate never goes below the last window's rate (or the current
#: one's, half a window in) when it holds at least RECENT_SAMPLE acceptances.
RECENT = 0.5
RECENT_SAMPLE = 4
#: Slots of a configured burst the schedule leaves unused. Run to empty, the server's
#: bucket refuses a request that the way there brought in a little early, and each
#: refusal is an episode that lowers the pace (4 processes sharing 40/s burst 40:
#: 3.4% refused, efficiency 0.72 simulated; one slot spare: none, 1.00).
BURST_SLACK = 1
#: A configured rate with no burst given (``rate_burst`` 1, the default) is paced this
#: much under it. Requests reach the server with the network's jitter, so a schedule
#: exactly at the limit lands two of them closer than the limit allows now and then:
#: against a burst of 1, a sliding or a fixed window, every such refusal cost a
#: cool-down (10/s burst 1, ±4 ms of jitter: 4.7% refused; a sliding window of 40/s:
#: efficiency 0.51 with whole-second waits). 5% under: none refused on all three kinds
#: (simulated). A burst given (2 or more) is a token bucket's, whose spare slot
#: (BURST_SLACK) takes the jitter: paced at the full rate. Only until the first refusal:
#: from then on the episode's rules pace (kept after it, the margin slowed the recovery of
#: four processes each given the whole limit without a shared store: 10 s became 15-19).
KNOWN_MARGIN = 0.95
#: A probe beyond a measured estimate refused without finding more holds the next one
#: back this many times the refusal's cool-down (then twice as long each time, at most
#: MAX_HOLD seconds), paced at the floor meanwhile: with whole-second waits each probe
#: cost a second, every 2-3 s, for the whole job (10/s burst 1, 600 keys: efficiency
#: 0.51 -> 0.76 simulated).
HOLD_AFTER = 2.0
MAX_HOLD = 30.0
#: ... "without finding more": the new estimate within this factor of the old one.
HOLD_GAIN = 1.2
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
    #: Requests given a slot since the episode began (or since ``started``), less those
    #: given back unused: beyond ``accepted`` + 1, the client had a crowd waiting.
    sent: int = 0
    #: The pace right after the episode, and the estimate it climbs back to.
    floor: float = 0.0
    estimate: float = 0.0
    #: When the climb began: the episode, or for a first estimate made with no pace in
    #: force (a guess from one burst) CLIMB before the cool-down ends, so it doubles at once.
    climb_from: float = 0.0
    #: Seconds more the pace stays at ``floor`` (instead of the concave climb's CLIMB)
    #: before probing beyond the estimate: 0 until a probe beyond a measured estimate is
    #: refused and finds the same limit again (within HOLD_GAIN), then HOLD_AFTER times
    #: that refusal's cool-down, doubling with each such probe (at most MAX_HOLD); a
    #: probe that finds another limit sets it back to 0.
    hold: float = 0.0
    #: Acceptances counted since ``window_at`` (windows of RECENT seconds), and the
    #: rate of the last full window (0: too few acceptances in it).
    window_at: float = 0.0
    window_accepted: int = 0
    recent_rate: float = 0.0
    #: When the server last refused, if no turn was taken since: its bucket was empty
    #: then, so the burst credit comes back only as fast as the pace refills it (a
    #: configured burst let out whole after an exact 25 ms wait was refused whole).
    drained_at: float | None = None


def rate_at(state: PaceState, now: float, configured: float | None) -> float | None:
    """The pace in force at ``now`` (requests/s); None means no pacing.

    Never above a configured rate; without refusals exactly the configured one.
    After an episode: a concave climb from ``floor`` to ``estimate`` over
    :data:`CLIMB` seconds (or, once probes found the same limit again and again,
    ``floor`` for CLIMB + ``hold`` seconds), then a convex climb beyond it (CUBIC's
    shape), doubling every :data:`DOUBLING` seconds, or every
    :data:`DOUBLING_REQUESTS` requests at a slow measured estimate (its climb began at
    the episode; a first guess's began before its cool-down ended).
    """
    if state.episode_at is None or not state.estimate:
        return configured
    t = max(0.0, now - state.climb_from)
    if state.hold and t < CLIMB + state.hold:
        rate = state.floor  # a limit the probes found again and again: paced under it
    elif t < CLIMB:
        rate = state.estimate - (state.estimate - state.floor) * (1.0 - t / CLIMB) ** 3
    else:
        t -= state.hold
        doubling = DOUBLING
        if state.climb_from == state.episode_at:  # measured, not guessed
            doubling = max(DOUBLING, DOUBLING_REQUESTS / state.estimate)
        rate = state.estimate * 2.0 ** min((t - CLIMB) / doubling, 30.0)
    if configured is not None:
        return min(rate, configured)
    return None if rate > UNPACED_ABOVE * state.estimate else rate


def accept(state: PaceState, now: float) -> None:
    """An answer that was not a refusal (the stores' usual report, without a :class:`Pacer`):
    counted since the episode and in the current window of RECENT seconds."""
    state.accepted += 1
    elapsed = now - state.window_at
    if elapsed >= RECENT:
        full = state.window_accepted >= RECENT_SAMPLE and elapsed < 2 * RECENT
        state.recent_rate = state.window_accepted / elapsed if full else 0.0
        state.window_at, state.window_accepted = now, 0
    state.window_accepted += 1
    state.probe = False
    if state.server_until > now:
        state.server_until = now


def reserve(
    state: PaceState, configured: float | None, burst: int, now: float
) -> tuple[float, float]:
    """:meth:`Pacer.reserve` on ``state`` (the stores' every turn, without a :class:`Pacer`)."""
    if state.started is None:
        state.started = now
    state.sent += 1
    rate = rate_at(state, now, configured)
    if not rate:
        return now, 0.0
    if configured is not None and burst <= 1 and state.episode_at is None:
        rate = min(rate, configured * KNOWN_MARGIN)
    interval = 1.0 / rate
    slot = max(state.tat, now, state.cool_until)
    credit = max(0, burst - 1 - BURST_SLACK)
    if state.drained_at is not None:  # a burst's credit refills from empty, slot by slot
        if credit:
            slot = max(slot, state.drained_at + (credit + 1) * interval)
        state.drained_at = None
    state.tat = slot + interval
    return max(now, slot - credit * interval), interval


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

    def reserve(self, now: float) -> tuple[float, float]:
        """Take the next pacing slot: (the time to send, the interval taken)."""
        return reserve(self.state, self.configured, self.burst, now)

    def release(self, interval: float, now: float, episodes: int | None = None) -> None:
        """Give back a slot taken by :meth:`reserve` (in episode ``episodes``), never used."""
        if episodes is None or episodes == self.state.episodes:
            self.state.sent = max(0, self.state.sent - 1)
            if interval:
                self.state.tat = max(now, self.state.tat - interval)

    def on_report(self, report: Report, sent_at: float, now: float) -> float:
        """Learn from an attempt sent at ``sent_at`` that ended with ``report``; the
        cool-down a refusal wrote (0 for any other answer)."""
        state = self.state
        if not report.refused:
            if report.answered:
                accept(state, now)
            return 0.0
        cool_down, episode_at = report.cool_down, state.episode_at
        if (  # refused again with the limit still closed and no wait named: CLOSED_HOLD
            episode_at is not None
            and sent_at > episode_at
            and not state.accepted
            and not report.server_wait
        ):
            cool_down = max(cool_down, min(now - episode_at, CLOSED_HOLD))
        state.probe, state.drained_at = True, now
        state.cool_until = max(state.cool_until, now + cool_down)
        state.server_until = max(state.server_until, now + report.server_wait, state.cool_until)
        state.tat = max(state.tat, state.cool_until)
        if episode_at is not None and (sent_at <= episode_at or not state.accepted):
            # In flight when the episode began, or refused before the server accepted
            # anything since: part of it, not a new one (see CLOSED_HOLD).
            return cool_down
        self._decrease(report, now)
        return cool_down

    def _recent(self, now: float) -> float:
        """What the server accepted per second just now (0: not enough to tell)."""
        state = self.state
        elapsed = now - state.window_at
        recent = state.recent_rate if elapsed < 2 * RECENT else 0.0
        if elapsed >= RECENT / 2 and state.window_accepted >= RECENT_SAMPLE:
            recent = max(recent, state.window_accepted / elapsed)
        return recent

    def _decrease(self, report: Report, now: float) -> None:
        """One multiplicative decrease, to the best estimate of the server's pace.

        Candidates, the smallest wins: what the server accepted since the last
        episode over that window up to the end of this cool-down (its bucket was
        empty at both ends; one acceptance is enough when a crowd was refused, a few
        when only the one request was); one request per a precise server
        wait (an upper bound: the bucket may be partly refilled); and 0.9 x the
        pace that was just refused (so every episode slows down at least a little).
        Floors: half the refused pace, and what the server accepted in the last half
        second or so (BBR's delivery rate: a climb from a low pace counts few
        acceptances over the episode, but the last window saw the server's pace).
        """
        state = self.state
        start = state.episode_at if state.episode_at is not None else state.started
        span = max(now - (now if start is None else start) + report.cool_down, 1e-3)
        candidates = []
        current = rate_at(state, now, self.configured)
        # Unpaced, a lone refused request (nothing else sent beyond those accepted) is
        # a sequential client: too few acceptances are no pace for it. Unless it is
        # refused again after an episode that left pacing off: then its own pace is what
        # is refused, one refusal every burst for good (50/s burst 1, whole-second waits:
        # every other request refused, 40 calls in 39 s instead of 0.8).
        alone = current is None and state.sent <= state.accepted + 1
        again = state.episode_at is not None and not state.estimate
        if state.accepted >= (SOLO_SAMPLE if alone and not again else MIN_SAMPLE):
            candidates.append(state.accepted / span)
        if report.precise and report.server_wait > 0:
            candidates.append(1.0 / report.server_wait)
        if current is None and state.estimate:  # climbed past the point of pacing
            current = UNPACED_GUESS * state.estimate
        if current is not None:
            candidates.append(current * DECREASE)
        estimate = min(candidates) if candidates else 0.0
        if current is not None:
            # What we sent while climbing from a low pace was accepted whatever the
            # server allows, so the count can undershoot: never cut more than half.
            estimate = max(estimate, current * HALVE)
            if self.configured is None:
                # (A configured rate too high drains the server's burst at that rate:
                # the last window would vouch for it. Only a learned pace has this floor.)
                estimate = max(estimate, min(self._recent(now), current * DECREASE))
        # Nothing measured yet and no pace in force: pacing stays off (cool-down and
        # probe only) rather than guessing a pace from one or two requests.
        estimate = max(estimate, MIN_RATE) if estimate else 0.0
        if (
            state.episode_at is not None
            and state.estimate > 0
            and state.climb_from == state.episode_at  # a measured estimate, not a guess
            and now - state.climb_from >= CLIMB + state.hold  # refused probing beyond it
        ):
            # and found the same limit again (within HOLD_GAIN either way; a limit that
            # moved, or a share of it that other clients took, is not held): wait longer
            if state.estimate < HOLD_GAIN * estimate < HOLD_GAIN**2 * state.estimate:
                state.hold = min(max(2.0 * state.hold, HOLD_AFTER * report.cool_down), MAX_HOLD)
            else:
                state.hold = 0.0
        state.estimate = estimate
        state.floor = state.estimate * MARGIN
        state.climb_from = now if current is not None else state.cool_until - CLIMB
        state.episode_at = now
        state.episodes += 1
        state.accepted = state.sent = 0
        state.tat = max(now, state.cool_until)  # slots reserved at the old pace are void
