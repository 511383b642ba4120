"""The pacing rules and the retry decision as pure functions: no I/O, an injected clock."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import common
from common import RetryPolicy
from common._retry import NO_WAIT_HOLD, CallState, FailedAttempt, Failure, decide
from common.ratelimit import Pacer, Report
from common.ratelimit._local import CLIMB, rate_at

POLICY = RetryPolicy()


def refused(wait: float, *, precise: bool = False, cap: float = 60.0) -> Report:
    return Report.refused_for(min(wait, cap), wait, precise=precise)


# --- the pacer ------------------------------------------------------------------------


def test_a_configured_rate_spaces_slots_and_allows_its_burst_less_one_spare() -> None:
    # One slot of the burst stays unused (BURST_SLACK): the server's bucket is never run
    # to empty, so a request the network brings in a little early is not refused.
    pacer = Pacer(10, burst=4)
    times = [pacer.reserve(100.0)[0] for _ in range(5)]
    assert times == pytest.approx([100.0, 100.0, 100.0, 100.1, 100.2])
    assert [Pacer(10, burst=b).reserve(100.0)[0] for b in (1, 2)] == [100.0, 100.0]
    one = Pacer(10, burst=2)
    assert [one.reserve(100.0)[0] for _ in range(3)] == pytest.approx([100.0, 100.1, 100.2])


def test_no_rate_means_no_pacing() -> None:
    pacer = Pacer(None)
    assert [pacer.reserve(5.0) for _ in range(100)] == [(5.0, 0.0)] * 100


def test_released_slots_are_given_back() -> None:
    pacer = Pacer(10)
    taken = [pacer.reserve(100.0) for _ in range(500)]
    for _, interval in taken:
        pacer.release(interval, 100.0)
    assert pacer.reserve(100.0)[0] == 100.0  # nothing left reserved far ahead


def test_a_right_configured_rate_is_never_undercut() -> None:
    pacer = Pacer(40)
    now = 0.0
    for _ in range(10_000):
        sent, _ = pacer.reserve(now)
        now = sent
        pacer.on_report(Report.accepted(), sent, now)
    assert pacer.interval(now) == pytest.approx(1 / 40)


def test_refusals_of_requests_in_flight_are_one_episode() -> None:
    pacer = Pacer(None)
    for i in range(40):
        pacer.reserve(0.0)
        pacer.on_report(Report.accepted(), 0.0, 0.001 * i)
    pacer.on_report(refused(1.0), 0.0, 0.05)
    after_first = (pacer.state.episodes, pacer.state.estimate)
    for _ in range(30):  # the rest of the crowd, sent before the first refusal came back
        pacer.on_report(refused(1.0), 0.01, 0.06)
    assert (pacer.state.episodes, pacer.state.estimate) == after_first
    assert after_first[0] == 1
    assert after_first[1] == pytest.approx(40 / 1.05)  # accepted over the server's window


def test_a_refusal_of_a_request_sent_as_the_episode_began_is_part_of_it() -> None:
    """Sent at the very time the episode began (a virtual clock, a coarse one): not shown
    to be sent after it, so no second decrease (two requests sent together and refused
    together with no usable wait were two episodes, the pace cut twice)."""
    pacer = Pacer(None)
    for _ in range(4):
        pacer.reserve(0.0)
        pacer.on_report(Report.accepted(), 0.0, 1.0)
    pacer.on_report(Report.refused_for(0.0, 0.0, precise=False), 1.0, 1.0)
    first = (pacer.state.episodes, pacer.state.estimate)
    pacer.on_report(Report.refused_for(0.0, 0.0, precise=False), 1.0, 1.0)
    assert (pacer.state.episodes, pacer.state.estimate) == first == (1, pytest.approx(4.0))


def test_the_pace_comes_from_what_the_server_accepted_between_refusals() -> None:
    pacer = Pacer(None)
    pacer.reserve(0.0)
    pacer.on_report(refused(0.5), 0.0, 0.0)
    for i in range(100):  # 100 accepted in the 10 s until the next refusal
        pacer.on_report(Report.accepted(), 0.1 * i, 0.1 * i)
    pacer.on_report(refused(0.0), 9.9, 10.0)
    assert pacer.state.estimate == pytest.approx(min(100 / 10.0, 0.9 * pacer.state.estimate / 0.9))
    assert 8.0 < pacer.state.estimate <= 10.0


def test_one_acceptance_sets_a_pace_for_a_crowd_but_not_for_a_sequential_client() -> None:
    # A sequential listing: one page accepted, the next refused for 30 s. One request
    # per 30 s is no pace for it: it goes on unpaced after the cool-down (it was paced
    # one per 20 s when a single acceptance was trusted).
    sequential = Pacer()
    for _ in range(2):
        sequential.reserve(0.0)
    sequential.on_report(Report.accepted(), 0.0, 0.0)
    sequential.on_report(refused(30.0), 0.0, 0.0)
    assert sequential.interval(30.0) == 0.0
    # The same acceptance with a crowd refused behind it (50 sent): that is the pace.
    crowd = Pacer()
    for _ in range(50):
        crowd.reserve(0.0)
    crowd.on_report(Report.accepted(), 0.0, 0.0)
    crowd.on_report(refused(1.0), 0.0, 0.0)
    assert crowd.interval(1.0) == pytest.approx(1.0)
    # Slots given back unused were never sent: a crowd that gave its slots back is alone.
    returned = Pacer()
    taken = [returned.reserve(0.0) for _ in range(50)]
    for _, interval in taken[2:]:
        returned.release(interval, 0.0)
    returned.on_report(Report.accepted(), 0.0, 0.0)
    returned.on_report(refused(1.0), 0.0, 0.0)
    assert returned.interval(1.0) == 0.0


def test_a_learned_pace_is_not_cut_below_what_the_server_just_accepted() -> None:
    # A first guess of 10/s (a crowd, 10 accepted, a one-second wait), then the climb:
    # the server accepts 40/s from t=1 until a refusal at t=3.2 (the pace, ~46/s, is
    # beyond it). Counted over the episode that is 88 / 4.2 s = 21/s, and half the
    # refused pace is 23/s; the last half-second window saw the server's 40/s.
    pacer = Pacer()
    for _ in range(50):
        pacer.reserve(0.0)
    for _ in range(10):
        pacer.on_report(Report.accepted(), 0.0, 0.0)
    pacer.on_report(refused(1.0), 0.0, 0.0)
    assert pacer.state.estimate == pytest.approx(10.0)
    t = 1.0
    while t < 3.2:
        pacer.on_report(Report.accepted(), t, t)
        t += 1 / 40
    assert rate_at(pacer.state, 3.2, None) == pytest.approx(46, abs=1)
    pacer.on_report(refused(1.0), 3.2, 3.2)
    assert 38 <= pacer.state.estimate <= 42


def test_a_precise_wait_bounds_the_estimate() -> None:
    pacer = Pacer(None)
    pacer.reserve(0.0)
    for _ in range(40):
        pacer.on_report(Report.accepted(), 0.0, 0.01)
    pacer.on_report(refused(0.025, precise=True), 0.0, 0.02)
    assert pacer.state.estimate == pytest.approx(40.0)


def test_a_configured_rate_too_high_is_corrected_down_and_never_exceeded() -> None:
    pacer = Pacer(80)
    now = 0.0
    for _ in range(80):
        now, _ = pacer.reserve(now)
        pacer.on_report(Report.accepted(), now, now)
    pacer.on_report(refused(1.0), now, now)
    assert pacer.state.estimate < 45
    for t in (0.0, 1.0, CLIMB, 10.0, 1000.0):
        rate = rate_at(pacer.state, now + t, pacer.configured)
        assert rate is not None and rate <= 80


def test_the_climb_back_takes_seconds_and_unknown_limits_end_unpaced() -> None:
    pacer = Pacer(None)
    pacer.reserve(0.0)
    for _ in range(20):
        pacer.on_report(Report.accepted(), 0.0, 0.0)
    pacer.on_report(refused(1.0), 0.0, 1.0)
    # A first estimate made with no pace in force is a guess: its climb is over when
    # the cool-down ends, and the pace doubles from there.
    assert pacer.state.climb_from == pytest.approx(pacer.state.cool_until - CLIMB)
    pacer.on_report(Report.accepted(), 2.9, 2.95)  # (nothing accepted: the same episode)
    pacer.on_report(refused(0.0), 3.0, 3.0)  # a paced refusal: the full climb
    episode, estimate = pacer.state.episode_at, pacer.state.estimate
    assert episode == pacer.state.climb_from == 3.0
    assert rate_at(pacer.state, episode, None) == pytest.approx(estimate * 0.95)
    assert rate_at(pacer.state, episode + CLIMB, None) == pytest.approx(estimate)
    assert rate_at(pacer.state, episode + 3 * CLIMB, None) > 1.2 * estimate  # type: ignore[operator]
    assert rate_at(pacer.state, episode + 30.0, None) is None  # no limit seen for long: unpaced


def test_a_cool_down_pushes_the_schedule_and_asks_for_a_probe() -> None:
    pacer = Pacer(10)
    pacer.reserve(0.0)
    pacer.on_report(refused(2.0), 0.0, 0.5)
    assert pacer.state.probe and pacer.state.cool_until == pytest.approx(2.5)
    assert pacer.reserve(0.6)[0] >= 2.5
    pacer.on_report(Report.accepted(), 2.5, 2.6)
    assert not pacer.state.probe


def test_an_absurd_wait_blocks_only_up_to_its_cap() -> None:
    pacer = Pacer(None)
    pacer.on_report(refused(1e20, cap=5.0), 0.0, 0.0)
    assert pacer.state.cool_until == 5.0 and pacer.state.server_until >= 1e20
    pacer.on_report(Report.accepted(), 5.0, 5.1)  # the probe went through
    assert pacer.state.server_until <= 5.1


@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["ok", "429", "none", "release"]),
            st.floats(min_value=0, max_value=2),
            st.floats(min_value=0, max_value=100, allow_nan=False),
        ),
        max_size=60,
    ),
    configured=st.one_of(st.none(), st.floats(min_value=0.1, max_value=1000)),
)
def test_the_pacer_stays_sane_under_any_sequence(
    events: list[tuple[str, float, float]], configured: float | None
) -> None:
    pacer = Pacer(configured)
    now = 0.0
    for kind, step, wait in events:
        now += step
        sent, interval = pacer.reserve(now)
        assert sent >= now and math.isfinite(sent)
        if kind == "ok":
            pacer.on_report(Report.accepted(), sent, now)
        elif kind == "429":
            pacer.on_report(refused(wait, cap=10.0), sent, now)
        elif kind == "none":
            pacer.on_report(Report.no_answer(), sent, now)
        else:
            pacer.release(interval, now)
        rate = rate_at(pacer.state, now, configured)
        assert rate is None or rate > 0
        if configured is not None:
            assert rate is not None and rate <= configured
        assert pacer.state.cool_until <= now + 10.0 + 1e-9  # never blocked beyond the cap


# --- the retry decision ---------------------------------------------------------------


def outcome(
    status: int | None = 429, wait: float | None = None, method: str = "GET"
) -> FailedAttempt:
    failure = Failure.STATUS if status is not None else Failure.MAYBE_SENT
    return FailedAttempt(method=method, failure=failure, status=status, server_wait=wait)


def test_a_429_wait_is_honoured_and_shared() -> None:
    d = decide(outcome(429, 3.0), CallState(), POLICY, now=0.0, deadline_at=None)
    assert d.retry and d.delay == 3.0
    assert d.report.refused and d.report.cool_down == 3.0 and not d.report.precise
    assert d.state == CallState(attempt=2, retries=0, waits=1)


def test_an_epoch_ms_wait_is_precise() -> None:
    d = decide(outcome(429, 0.0251), CallState(), POLICY, now=0.0, deadline_at=None)
    assert d.report.precise


@pytest.mark.parametrize("wait", [None, 0.0, -3.0, math.inf, math.nan])
def test_a_429_without_a_usable_wait_backs_off_never_a_tight_loop(wait: float | None) -> None:
    policy = RetryPolicy(backoff_base=0.5)
    state = CallState()
    delays = []
    while True:
        d = decide(outcome(429, wait), state, policy, 0.0, None, rand=lambda: 0.0)
        if not d.retry:
            break
        delays.append(d.delay)
        state = d.state
        if wait is None:  # no wait named at all: the whole client holds back briefly
            assert d.report.cool_down == min(d.delay, NO_WAIT_HOLD) == NO_WAIT_HOLD
            assert d.report.server_wait == 0.0 and not d.report.precise
        else:  # a wait named but unusable (now, past, absurd): nobody else is held back
            assert d.report.cool_down == 0.0
    # half the backoff ceiling at least, growing; max_rate_limit_retries (8) counts them (two
    # retries, as max_retries allows, refused keys a limit would have answered in time)
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_a_wait_longer_than_max_retry_wait_fails_at_once_and_caps_the_cool_down() -> None:
    d = decide(outcome(429, 31_700 * 365 * 86400.0), CallState(), POLICY, 0.0, None)
    assert not d.retry
    assert d.report.cool_down == POLICY.max_retry_wait and d.report.server_wait > 1e11


def test_no_retry_would_start_after_the_deadline() -> None:
    assert not decide(outcome(429, 20.0), CallState(), POLICY, 0.0, deadline_at=3.0).retry
    assert decide(outcome(503), CallState(), RetryPolicy(backoff_base=0), 0.0, 3.0).retry


def test_budgets_and_writes() -> None:
    spent = CallState(attempt=3, retries=2)
    assert not decide(outcome(503), spent, POLICY, 0.0, None).retry
    assert decide(outcome(429, 1.0), spent, POLICY, 0.0, None).retry  # waits have their own
    assert not decide(outcome(None, method="POST"), CallState(), POLICY, 0.0, None).retry
    assert not decide(outcome(409), CallState(), POLICY, 0.0, None).retry
    assert decide(outcome(None), CallState(), POLICY, 0.0, None).report == Report.no_answer()
    assert decide(outcome(500), CallState(), POLICY, 0.0, None).report == Report.accepted()


# --- options --------------------------------------------------------------------------


def test_an_explicit_retry_policy_is_not_overridden_by_the_default() -> None:
    options = common.Options()
    assert options.max_retries == 2 and options.max_retry_wait == 60.0
    from common._options import resolve_options

    assert resolve_options(retry_policy=RetryPolicy(max_retries=5)).max_retries == 5
    assert resolve_options(max_retries=4).max_retries == 4
    assert resolve_options(retry_policy=RetryPolicy(backoff_base=0), max_retries=7).max_retries == 7
    assert resolve_options(retry_policy=RetryPolicy(max_retries=5), max_retries=5).max_retries == 5
    with pytest.raises(common.InvalidRequestError, match="contradicts") as info:
        resolve_options(retry_policy=RetryPolicy(max_retries=5), max_retries=3)
    assert info.value.field == "max_retries"
    with pytest.raises(common.InvalidRequestError, match="contradicts"):
        resolve_options(retry_policy=RetryPolicy(max_retry_wait=5), max_retry_wait=9)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", 0),
        ("timeout", None),
        ("deadline", -1),
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("max_retry_wait", -1),
        ("rate_limit", 0),
        ("rate_limit", math.inf),
        ("rate_burst", 0),
        ("max_concurrency", 0),
        ("max_response_bytes", 0),
        ("rate_store", "http://not-redis"),
        ("rate_store", 42),
        ("rate_key", ""),
        ("retry_policy", "fast"),
        ("dedline", 3),
    ],
)
def test_bad_options_are_refused_naming_the_field(name: str, value: object) -> None:
    from common._options import resolve_options

    with pytest.raises(common.InvalidRequestError) as info:
        resolve_options(**{name: value})
    assert info.value.field == name


def test_a_503_naming_its_wait_is_a_refusal_and_one_naming_none_a_server_error() -> None:
    # A server throttling or shedding load with 503 + Retry-After lost keys after two
    # retries, and taught the limiter nothing: it is a refusal, as a 429.
    named = decide(outcome(503, 1.0), CallState(), POLICY, 0.0, None)
    assert named.retry and named.delay == 1.0
    assert named.report.refused and named.report.cool_down == 1.0
    assert named.state == CallState(attempt=2, retries=0, waits=1)
    plain = decide(outcome(503, None), CallState(), POLICY, 0.0, None)
    assert not plain.report.refused
    assert plain.state == CallState(attempt=2, retries=1, waits=0)


def test_a_wait_written_as_a_moment_counts_from_the_server_s_clock_only_when_apart() -> None:
    from common._retry import server_now

    date = "Sat, 05 Dec 2026 12:00:00 GMT"
    served = 1796472000.0  # that moment
    assert server_now(None, served + 100) == served + 100
    assert server_now("not a date", served + 100) == served + 100
    assert server_now(date, served + 0.7) == served + 0.7  # within its second: ours (precise)
    assert server_now(date, served + 1.4) == served + 1.4  # (and the way back)
    assert server_now(date, served + 100) == served + 0.5  # its clock behind: the middle
    assert server_now(date, served + 1.6) == served + 0.5
    # ahead of ours, even by under 2 s (a bulk job's efficiency was 0.30 at 1.9 s ahead)
    assert server_now(date, served - 100) == served + 0.5
    assert server_now(date, served - 1.9) == served + 0.5
    assert server_now(date, served - 0.1) == served + 0.5
