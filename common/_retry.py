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

import enum
import random
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import attrs

__all__ = [
    "Failure",
    "RetryPolicy",
    "backoff_delay",
    "is_retryable",
    "parse_retry_after",
    "retry_delay",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Failure(enum.Enum):
    """How an attempt failed, as far as retrying is concerned."""

    #: The connection was never established (refused, DNS, connect timeout):
    #: the server cannot have seen the request.
    NOT_SENT = "not_sent"
    #: The connection broke or timed out after the request may have been sent.
    MAYBE_SENT = "maybe_sent"
    #: The server answered with a status.
    STATUS = "status"


@attrs.frozen
class RetryPolicy:
    """When and how long to retry.

    ``max_retries`` retries follow the first attempt (so ``max_retries=2`` means
    at most 3 attempts). Backoff for retry ``n`` (1-based) is a uniform random
    wait in ``[0, min(backoff_max, backoff_base * 2 ** (n - 1))]``. Setting
    ``backoff_base=0`` switches backoff sleeps off (useful in tests).
    """

    max_retries: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    backoff_base: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    backoff_max: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    max_retry_wait: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    #: Retries after a 429 that named its wait (honoured), counted apart from
    #: ``max_retries`` so that a crowd of requests sharing a rate limit does not
    #: run out of retries while taking turns; 0 when ``max_retries`` is 0.
    max_rate_limit_retries: int = attrs.field(default=8, validator=attrs.validators.ge(0))
    retry_statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
    retry_writes_with_idempotency_key: bool = True


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

    Accepts both forms of RFC 9110: delta-seconds (``"120"``) and an HTTP-date
    (``"Wed, 21 Oct 2026 07:28:00 GMT"``), the latter relative to ``now`` (epoch
    seconds). A date in the past means 0. Never raises.
    """
    if not value:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(int(text[:12]))  # a 12-digit cap keeps absurd values finite
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:  # pragma: no cover - guarded by the parser
        return None
    try:
        return max(0.0, when.timestamp() - now)
    except (OverflowError, OSError, ValueError):
        return None


def is_retryable(
    *,
    method: str,
    failure: Failure,
    status: int | None,
    has_idempotency_key: bool,
    policy: RetryPolicy,
    allow_write_retries: bool | None = None,
) -> bool:
    """Whether a failed attempt may be retried (ignoring the attempt count).

    ``allow_write_retries`` overrides the idempotency-key rule for one request:
    True trusts the server to de-duplicate, False never retries once the request
    may have reached the server.
    """
    if failure is Failure.STATUS and status == 409:
        return False
    if failure is Failure.STATUS and status not in policy.retry_statuses:
        return False
    if method.upper() in SAFE_METHODS:
        return True
    # A write: retry freely only when the server can de-duplicate it.
    if allow_write_retries is None:
        allow_write_retries = has_idempotency_key and policy.retry_writes_with_idempotency_key
    if allow_write_retries:
        return True
    # Otherwise only when the failure proves the write was not processed.
    return failure is Failure.NOT_SENT or (failure is Failure.STATUS and status == 429)


def retry_delay(
    retry_number: int,
    policy: RetryPolicy,
    server_wait: float | None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """How long to wait before retry ``retry_number``; None means "do not retry".

    A server-named wait wins over backoff; one longer than ``max_retry_wait`` is
    refused (None), since retrying sooner than the server asked only hammers it.
    """
    if server_wait is not None:
        if server_wait > policy.max_retry_wait:
            return None
        return max(0.0, server_wait)
    return backoff_delay(retry_number, policy, rand)
