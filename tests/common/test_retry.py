"""The retry policy's pure functions, without I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import RetryPolicy
from common._retry import (
    CallState,
    Decision,
    FailedAttempt,
    Failure,
    backoff_delay,
    decide,
    is_retryable,
    parse_retry_after,
)

NOW = 1_800_000_000.0
POLICY = RetryPolicy()


@given(
    retry=st.integers(min_value=-5, max_value=10_000),
    base=st.floats(min_value=0, max_value=100, allow_nan=False),
    cap=st.floats(min_value=0, max_value=100, allow_nan=False),
    rand=st.floats(min_value=0, max_value=1, allow_nan=False),
)
def test_backoff_never_exceeds_its_cap(retry: int, base: float, cap: float, rand: float) -> None:
    policy = RetryPolicy(backoff_base=base, backoff_max=cap)
    delay = backoff_delay(retry, policy, lambda: rand)
    assert 0.0 <= delay <= cap


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=8.0)
    assert [backoff_delay(n, policy, lambda: 1.0) for n in (1, 2, 3, 4, 5, 6)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        8.0,
    ]
    assert backoff_delay(3, policy, lambda: 0.25) == 0.5
    assert backoff_delay(3, RetryPolicy(backoff_base=0), lambda: 1.0) == 0.0


@given(st.text())
def test_retry_after_parser_never_raises(value: str) -> None:
    result = parse_retry_after(value, NOW)
    assert result is None or result >= 0


@given(st.binary().map(lambda b: b.decode("latin-1")))
def test_retry_after_parser_never_raises_on_header_bytes(value: str) -> None:
    parse_retry_after(value, NOW)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        (None, None),
        ("", None),
        ("-1", None),
        ("1.5", None),
        ("soon", None),
        ("Fri, 15 Jan 2027 08:00:00 GMT", None),  # computed below
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
    ],
)
def test_retry_after_both_forms(header: str | None, expected: float | None) -> None:
    if header and header.startswith("Fri"):
        from email.utils import parsedate_to_datetime

        expected = parsedate_to_datetime(header).timestamp() - NOW
    assert parse_retry_after(header, NOW) == expected


def test_retry_after_http_date_relative_to_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", 1792567670.0) == 10.0


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_get_is_retried_on_transient_statuses(status: int) -> None:
    assert is_retryable(
        FailedAttempt("GET", Failure.STATUS, status, has_idempotency_key=False), POLICY
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
def test_get_is_not_retried_on_permanent_statuses(status: int) -> None:
    assert not is_retryable(
        FailedAttempt("GET", Failure.STATUS, status, has_idempotency_key=False), POLICY
    )


@pytest.mark.parametrize("failure", [Failure.NOT_SENT, Failure.MAYBE_SENT])
def test_get_is_retried_on_connection_failures(failure: Failure) -> None:
    assert is_retryable(FailedAttempt("GET", failure, None, has_idempotency_key=False), POLICY)


@pytest.mark.parametrize(
    ("failure", "status", "expected"),
    [
        (Failure.NOT_SENT, None, True),  # connection refused: never reached the server
        (Failure.STATUS, 429, True),  # the server refused to process it
        (Failure.MAYBE_SENT, None, False),  # may have been processed
        (Failure.STATUS, 500, False),
        (Failure.STATUS, 503, False),
        (Failure.STATUS, 408, False),
    ],
)
def test_write_without_key_only_when_not_processed(
    failure: Failure, status: int | None, expected: bool
) -> None:
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        assert (
            is_retryable(FailedAttempt(method, failure, status, has_idempotency_key=False), POLICY)
            is expected
        )


def test_write_with_key_is_retried_like_a_get_but_never_on_409() -> None:
    for failure, status in [(Failure.MAYBE_SENT, None), (Failure.STATUS, 500)]:
        assert is_retryable(
            FailedAttempt("POST", failure, status, has_idempotency_key=True), POLICY
        )
    assert not is_retryable(
        FailedAttempt("POST", Failure.STATUS, 409, has_idempotency_key=True), POLICY
    )
    # ... unless the caller says the server does not de-duplicate
    assert not is_retryable(
        FailedAttempt(
            "POST", Failure.MAYBE_SENT, None, has_idempotency_key=True, allow_write_retries=False
        ),
        POLICY,
    )
    assert is_retryable(
        FailedAttempt(
            "POST", Failure.STATUS, 500, has_idempotency_key=False, allow_write_retries=True
        ),
        POLICY,
    )


def test_409_is_never_retried_even_if_listed() -> None:
    policy = RetryPolicy(retry_statuses=frozenset({409, 500}))
    assert not is_retryable(
        FailedAttempt("GET", Failure.STATUS, 409, has_idempotency_key=True), policy
    )


def test_a_server_wait_wins_over_backoff_and_a_too_long_one_is_refused() -> None:
    policy = RetryPolicy(max_retry_wait=10.0)

    def after(wait: float | None) -> Decision:
        attempt = FailedAttempt("GET", Failure.STATUS, 503, server_wait=wait)
        return decide(attempt, CallState(), policy, NOW, None, lambda: 1.0)

    assert (after(3.0).retry, after(3.0).delay) == (True, 3.0)
    assert after(11.0).retry is False
    assert after(0.0).delay == after(None).delay == 0.5  # no usable wait: backoff


@pytest.mark.parametrize("status", [429, 503])
def test_a_wait_named_that_is_none_backs_off_at_least_half_the_ceiling(status: int) -> None:
    # A 503's Retry-After: 0 got full jitter from 0 (a retry 2 ms later), where errors.md
    # says a zero or past wait backs off at least half the backoff ceiling, as a 429's.
    policy = RetryPolicy()
    attempt = FailedAttempt("GET", Failure.STATUS, status, server_wait=0.0)
    decision = decide(attempt, CallState(), policy, NOW, None, lambda: 0.0)
    assert decision.retry
    assert decision.delay == pytest.approx(policy.backoff_base / 2)


@given(
    retries=st.integers(min_value=0, max_value=100),
    status=st.sampled_from([429, 500, 503]),
    wait=st.none() | st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
def test_a_retry_never_waits_longer_than_allowed(
    retries: int, status: int, wait: float | None
) -> None:
    policy = RetryPolicy(max_retries=200, max_retry_wait=30.0, backoff_max=8.0)
    attempt = FailedAttempt("GET", Failure.STATUS, status, server_wait=wait)
    decision = decide(attempt, CallState(retries=retries), policy, NOW, None)
    assert not decision.retry or 0 <= decision.delay <= 30.0
