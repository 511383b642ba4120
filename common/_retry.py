"""The retry policy: pure functions, no I/O, tested without a network.

One place decides whether an attempt is retried and how long to wait:

* safe requests (GET/HEAD/OPTIONS) are retried on connection errors, timeouts
  and the statuses in :attr:`RetryPolicy.retry_statuses`;
* a write is retried on the same failures only when it carries an idempotency
  key (the server then replays instead of repeating); without one, only when
  the failure proves the server did not process it: the connection was never
  made, or the server answered 429;
* 409 is never retried;
* the wait is the server's (``Retry-After`` header, or a provider-specific wait
  in the body) when it gave one, else exponential backoff with full jitter.
  A server wait longer than :attr:`RetryPolicy.max_retry_wait` is not waited
  for at all: the error is raised at once, carrying ``retry_after``.
"""

from __future__ import annotations

import datetime
import math
import random
import sys
from collections.abc import Callable, Iterable
from email.utils import parsedate_to_datetime

import attrs

from ._errors import InvalidRequestError
from ._sender import Failure
from ._validate import _validator, between, check_bool, check_int
from .ratelimit._local import Report

__all__ = [
    "CallState",
    "Decision",
    "Failure",
    "FailedAttempt",
    "RetryPolicy",
    "backoff_delay",
    "decide",
    "http_date",
    "is_retryable",
    "longest_retry_after",
    "parse_retry_after",
    "server_now",
]

#: A 429 wait this short is taken as exact (the body's epoch ms), not rounded up to whole
#: seconds: a rounded one seen from the client is a second less the way back (>= 0.75 s).
PRECISE_BELOW = 0.5
#: A 429 naming no wait at all holds every request of the client back this long (at most
#: the refused call's own backoff): without it the rest of the crowd went on and was
#: refused too (simulated, 40/s burst 40: 25% refused, now 11.5%; 15.3% -> 8.8% over 300
#: keys; every family of the matrix with no wait information rose in mean efficiency,
#: 71 -> 73 cells met). Longer holds cost small bursts at high rates their pace (0.5 s:
#: 100/s burst 10, 0.94 -> 0.59).
NO_WAIT_HOLD = 0.1

#: Seconds past the whole second a response's ``Date`` names that our clock may read and
#: still be taken as the server's (the second itself, and the way back): beyond it, or
#: before that second, the two clocks disagree (see :func:`server_now`).
CLOCK_SKEW = 1.5

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


#: The fields' checks, those of a request's fields (InvalidRequestError naming the field):
#: a count, seconds (finite: an infinite backoff with no deadline was a wait without end),
#: a flag.
_COUNT = _validator(lambda field, value: check_int(field, value, 0, sys.maxsize), required=True)
_SECONDS = _validator(between(0.0, 1e12), required=True)
_FLAG = _validator(check_bool, required=True)


def _statuses(_: object, attribute: attrs.Attribute[frozenset[int]], value: object) -> None:
    if not isinstance(value, frozenset) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in value
    ):
        raise InvalidRequestError(
            "retry_statuses must be a frozenset of HTTP statuses", field="retry_statuses"
        )


@attrs.frozen
class RetryPolicy:
    """When and how long to retry.

    ``max_retries`` retries follow the first attempt (so ``max_retries=2`` means
    at most 3 attempts). Backoff for retry ``n`` (1-based) is a uniform random
    wait in ``[0, min(backoff_max, backoff_base * 2 ** (n - 1))]``. Setting
    ``backoff_base=0`` switches backoff sleeps off (useful in tests).
    """

    max_retries: int = attrs.field(default=2, validator=_COUNT)
    backoff_base: float = attrs.field(default=0.5, validator=_SECONDS)
    backoff_max: float = attrs.field(default=8.0, validator=_SECONDS)
    max_retry_wait: float = attrs.field(default=60.0, validator=_SECONDS)
    #: Retries after a refusal (a 429, or a 503 naming its wait), counted apart from
    #: ``max_retries`` so that a crowd of requests sharing a rate limit does not
    #: run out of retries while taking turns; 0 when ``max_retries`` is 0.
    max_rate_limit_retries: int = attrs.field(default=8, validator=_COUNT)
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({408, 429, 500, 502, 503, 504}), validator=_statuses
    )
    retry_writes_with_idempotency_key: bool = attrs.field(default=True, validator=_FLAG)


def backoff_delay(
    retry_number: int, policy: RetryPolicy, rand: Callable[[], float] = random.random
) -> float:
    """Full-jitter exponential backoff for the ``retry_number``-th retry (1-based).

    Never negative, never above ``policy.backoff_max``.
    """
    exponent = min(max(retry_number - 1, 0), 62)  # keeps 2**n finite and cheap
    ceiling = min(policy.backoff_max, policy.backoff_base * (2.0**exponent))
    return max(0.0, min(ceiling, ceiling * rand()))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None if absent or unusable.

    Accepts delta-seconds (``"120"``) and an HTTP-date in each of RFC 9110's three
    forms (IMF-fixdate ``"Wed, 21 Oct 2026 07:28:00 GMT"``, the obsolete RFC 850
    ``"Wednesday, 21-Oct-26 07:28:00 GMT"`` and asctime ``"Wed Oct 21 07:28:00 2026"``),
    relative to ``now`` (epoch seconds). A date in the past means 0. Never raises.
    """
    if not value:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        digits = text.lstrip("0") or "0"  # leading zeros change nothing: 0120 is 120
        return float(int(digits[:12]) if len(digits) <= 12 else 10**12)  # absurd: finite
    when = http_date(text)
    return None if when is None else max(0.0, when - now)


def http_date(value: str | None) -> float | None:
    """An HTTP-date (any of RFC 9110's three forms) as epoch seconds, or None."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime names no zone: HTTP-dates are always UTC (RFC 9110 5.6.7)
        when = when.replace(tzinfo=datetime.timezone.utc)
    try:
        return when.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def server_now(date: str | None, now: float) -> float:
    """The time a wait the server wrote as a moment (an HTTP-date, Intervals' epoch ms)
    counts from: ``now`` (our clock, epoch seconds) while it reads within the whole
    second the response's ``Date`` names (up to :data:`CLOCK_SKEW` past its start), so
    that an exact 25 ms wait keeps its precision; else the server's clock, the middle of
    that second. (A server clock 5 s ahead turned its 50 ms waits into 5 s ones, 120 s
    ahead into a refusal of every call; and while only a skew over 2 s was corrected,
    1.9 s ahead cut the efficiency of a bulk job to 0.30.)"""
    served = http_date(date)
    if served is None or served <= now <= served + CLOCK_SKEW:
        return now
    return served + 0.5


def longest_retry_after(values: Iterable[str], now: float) -> float | None:
    """The wait of a response's ``Retry-After`` field lines: the longest usable one, or None.

    The field is a singleton; a server that sends it twice is read at its strictest, so
    no request goes before any wait it named (``parse_retry_after`` reads each line).
    """
    waits = [wait for value in values if (wait := parse_retry_after(value, now)) is not None]
    return max(waits) if waits else None


def is_retryable(attempt: FailedAttempt, policy: RetryPolicy) -> bool:
    """Whether a failed attempt may be retried (ignoring the attempt count).

    ``allow_write_retries`` overrides the idempotency-key rule for one request:
    True trusts the server to de-duplicate, False never retries once the request
    may have reached the server.
    """
    failure, status, allow = attempt.failure, attempt.status, attempt.allow_write_retries
    if failure is Failure.STATUS and status == 409:
        return False
    if failure is Failure.STATUS and status not in policy.retry_statuses:
        return False
    if attempt.method.upper() in SAFE_METHODS:
        return True
    # A write: retry freely only when the server can de-duplicate it.
    if allow is None:
        allow = attempt.has_idempotency_key and policy.retry_writes_with_idempotency_key
    if allow:
        return True
    # Otherwise only when the failure proves the write was not processed.
    return failure is Failure.NOT_SENT or (failure is Failure.STATUS and status == 429)


# --- the decision after each attempt ---------------------------------------------------


@attrs.frozen
class FailedAttempt:
    """A failed attempt, as the decision needs it."""

    method: str
    failure: Failure
    status: int | None = None
    #: The wait the server named (``Retry-After`` or the body's), None when it named none.
    server_wait: float | None = None
    has_idempotency_key: bool = False
    allow_write_retries: bool | None = None


@attrs.frozen
class CallState:
    """One call's counters: the attempt that just failed, retries and refusals."""

    attempt: int = 1
    retries: int = 0
    waits: int = 0


@attrs.frozen
class Decision:
    """What to do after a failed attempt."""

    #: Send again (after ``delay``), or raise the attempt's error.
    retry: bool
    #: Seconds from now before the next attempt.
    delay: float
    #: What the limiter learns: a 429's shared cool-down, or that the server answered.
    report: Report
    #: The call's counters for the next attempt.
    state: CallState


def _usable(wait: float | None) -> float | None:
    """A server wait worth honouring: positive and finite (a past or zero one is not)."""
    return wait if wait is not None and 0 < wait < math.inf else None


def decide(
    outcome: FailedAttempt,
    state: CallState,
    policy: RetryPolicy,
    now: float,
    deadline_at: float | None,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """The decision after a failed attempt: pure, over (outcome, state, policy, now).

    * A refusal is a 429, or a 503 naming a usable wait (a server that throttles or
      sheds load with 503 + ``Retry-After``): the server will answer later.
    * A server-named wait (positive, finite) is honoured; a refusal's is shared by the
      whole client as a cool-down. One longer than ``max_retry_wait`` fails the call
      at once, and the others for at most ``max_retry_wait`` (then one probe goes).
    * A 429 without a usable wait (none, zero, in the past), or any status naming a
      wait that is none (a 503's ``Retry-After: 0``), backs off like any other retry,
      never less than half the backoff ceiling: never a tight loop.
      One naming no wait at all holds the others back :data:`NO_WAIT_HOLD` at most.
    * Refusals count against ``max_rate_limit_retries`` (a 429 without a wait too: a
      limit that names no wait refused keys after two retries, inside their deadline),
      the rest against ``max_retries``; no retry would start after ``deadline_at``.
    """
    wait = _usable(outcome.server_wait)
    refused = outcome.status == 429 or (outcome.status == 503 and wait is not None)
    if refused:
        budget = policy.max_retries > 0 and state.waits < policy.max_rate_limit_retries
        tries = state.waits
        next_state = attrs.evolve(state, attempt=state.attempt + 1, waits=state.waits + 1)
    else:
        budget = state.retries < policy.max_retries
        tries = state.retries
        next_state = attrs.evolve(state, attempt=state.attempt + 1, retries=state.retries + 1)
    if wait is not None:
        delay = wait
    elif refused or outcome.server_wait is not None:
        delay = backoff_delay(tries + 1, policy, lambda: 0.5 + 0.5 * rand())
    else:
        delay = backoff_delay(tries + 1, policy, rand)
    too_long = wait is not None and wait > policy.max_retry_wait
    retry = (
        budget
        and not too_long
        and (deadline_at is None or now + delay < deadline_at)
        and is_retryable(outcome, policy)
    )
    if refused:
        # A 429 naming no wait at all holds the whole client back briefly (NO_WAIT_HOLD);
        # an unusable one (zero, past: clock skew) holds nobody else back. Either way
        # this call backs off, and the refusal slows the pace down.
        server_wait = 0.0 if wait is None else wait
        cool_down = min(delay, NO_WAIT_HOLD) if outcome.server_wait is None else server_wait
        report = Report.refused_for(
            min(cool_down, policy.max_retry_wait),
            server_wait,
            # Under a second only a precise wait (the body's epoch ms) can be: a
            # Retry-After is whole seconds, and a longer wait is a window, not a pace.
            precise=wait is not None and wait < PRECISE_BELOW,
        )
    elif outcome.status is not None:
        report = Report.accepted()
    else:
        report = Report.no_answer()
    return Decision(retry=retry, delay=delay, report=report, state=next_state)
