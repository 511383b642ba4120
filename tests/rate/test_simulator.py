"""Rate control over the whole space of server shapes, on the simulator's virtual clock.

Deterministic (seeded, no sockets, no real time), so the bounds are exact figures rather
than loopback's generous ones: the machine's load cannot move them.
"""

from __future__ import annotations

import attrs
import pytest

from common.testing.ratesim import (
    WAIT_FORMS,
    Cell,
    CellResult,
    default_matrix,
    family_summary,
    format_table,
    run_cell,
    run_matrix,
)
from intervals_async._client import retry_after_from_body

from .._coverage import untraced

#: Cells of the matrix meeting their goal on this commit: a ratchet (raise it as the
#: pacing improves, never lower it). See docs/RATE_CONTROL.md for the families short of it.
MET_AT_LEAST = 94


#: The matrix takes about 15 s of CPU alone, 60 s under coverage and dev mode, and more
#: than the suite's 120 s timeout on a 2-CPU machine under other load (a newcomer's run
#: beside pip installs and a Celery worker): deterministic, so only its CPU is at stake.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def matrix() -> list[CellResult]:
    # Tracing the matrix's 236 jobs took this fixture from about 15 s to 58 s; the client
    # code they run is covered as much without them (2026-12-05: every module of the three
    # packages the same but the simulator's own, ``common/testing/ratesim.py``, 89% -> 70%;
    # the other tests here still run cells).
    with untraced():
        return run_matrix(default_matrix(), retry_after_from_body)


def test_the_matrix_covers_the_space(matrix: list[CellResult]) -> None:
    cells = [r.cell for r in matrix]
    assert len(cells) >= 200
    assert {c.kind for c in cells} == {"token", "sliding", "fixed"}
    assert {c.wait for c in cells} == set(WAIT_FORMS)
    assert min(c.rate for c in cells) == 1 and max(c.rate for c in cells) == 1000
    assert min(c.latency for c in cells) == 0.001 and max(c.latency for c in cells) == 0.5
    assert min(c.concurrency for c in cells) == 1 and max(c.concurrency for c in cells) == 500
    assert {c.processes for c in cells} == {1, 2, 4, 8}


#: Cells where calls ran out of retries (keys lost), with the library's default retry
#: policy. Before a 429 naming no wait counted against max_rate_limit_retries (8) instead
#: of max_retries (2), 13 cells lost 43 keys with it (the matrix then ran with
#: max_retries=8, where none did); none may.
LOSING_KEYS_AT_MOST = 0


def test_every_key_is_fetched_and_no_cell_beats_the_server(matrix: list[CellResult]) -> None:
    losing = [r.cell.label for r in matrix if r.ok < r.keys]
    assert len(losing) <= LOSING_KEYS_AT_MOST, losing
    assert all(r.cell.wait == "none" for r in matrix if r.ok < r.keys), losing
    for result in matrix:
        # The definition: nothing accepts more than the limit's capacity over the span.
        assert result.efficiency <= 1.0 + 1e-9, result.cell.label
        assert result.efficiency <= result.cell.cap()[0] + 0.02, result.cell.label


def test_the_cells_meeting_their_goal_do_not_decrease(matrix: list[CellResult]) -> None:
    met = sum(r.meets_goal for r in matrix)
    assert met >= MET_AT_LEAST, "\n" + format_table(matrix)
    assert len(family_summary(matrix)) >= 30


def test_a_configured_burst_set_a_little_high_never_storms(matrix: list[CellResult]) -> None:
    # After a refusal the burst's credit came back whole after an exact 25 ms wait, into
    # an empty bucket: each refusal let the burst out again (89% refused, 80 of 200 keys
    # lost at 40/s burst 40 with rate_limit=44). It now refills as the server does.
    high = [r for r in matrix if r.cell.tag == "limit 10% high"]
    assert len(high) == 9
    assert all(r.ok == r.keys and r.refused_share <= 0.07 for r in high), format_table(high)
    alone = [r for r in high if r.cell.processes == 1]
    assert all(r.meets_goal and r.refused_share <= 0.01 for r in alone), format_table(alone)


def test_a_known_limit_without_a_burst_is_not_refused_by_a_window(
    matrix: list[CellResult],
) -> None:
    # Paced exactly at the limit, the network's jitter landed requests at a window's edge
    # now and then, each a whole-second cool-down (sliding window, 40/s: efficiency 0.41).
    # A limit given without a burst is paced 5% under it (KNOWN_MARGIN).
    windows = [r for r in matrix if r.cell.tag == "burst not given" and r.cell.kind != "token"]
    assert len(windows) == 6
    assert all(r.refused == 0 and r.efficiency >= 0.90 for r in windows), format_table(windows)


def test_intervals_plans_are_met_without_refusing_one_request_in_five(
    matrix: list[CellResult],
) -> None:
    # Premium is 100/minute: probing by the clock doubled its pace every second or two
    # requests, and a sequential client was refused 15-20% of the time (now 8-12%).
    plans = [r for r in matrix if r.cell.tag.startswith("Intervals")]
    assert len(plans) == 12
    assert all(r.ok == r.keys and r.efficiency >= 0.95 for r in plans), format_table(plans)
    alone = [r for r in plans if r.cell.concurrency == 1]
    assert all(r.refused_share <= 0.12 for r in alone), format_table(alone)


def test_a_cell_is_deterministic() -> None:
    cell = Cell("sliding", 100, 10, "none", latency=0.05, seed=7)  # backoff jitter too
    assert run_cell(cell) == run_cell(cell)
    assert run_cell(attrs.evolve(cell, seed=8)) != run_cell(cell)  # the seed matters


def test_the_three_http_date_forms_are_read_alike() -> None:
    # Same server, same seed: only the form of the date differs, so the jobs are identical.
    results = [
        run_cell(Cell("token", 40, 40, form, latency=0.02, seed=3))
        for form in ("imf-date", "rfc850-date", "asctime-date")
    ]
    assert results[0].refused > 0  # the dates were used
    assert len({(r.requests, r.refused, r.server_span) for r in results}) == 1


# --- the symptoms, each a cell ------------------------------------------------------


def _job(cell: Cell) -> CellResult:
    return run_cell(cell, retry_after_from_body)


def test_body_waits_rounded_to_whole_seconds_do_not_pin_the_pace_at_one_per_second() -> None:
    # Issue 18: 300 ids at concurrency 50 against 40/s burst 40 settled at 1 request/s
    # (efficiency 0.14): a rounded wait seen after its way back (~0.99 s) passed for exact.
    result = _job(Cell("token", 40, 40, "body-rounded", keys=300))
    assert result.efficiency >= 0.85 and result.refused_share <= 0.10


def test_a_fleet_with_rounded_body_waits_shares_the_limit() -> None:
    # Issue 18: four processes on one key, 0.12.
    result = _job(Cell("token", 40, 40, "body-rounded", processes=4, keys=400))
    assert result.efficiency >= 0.85


def test_exact_body_waits_and_whole_second_headers_keep_their_figures() -> None:
    for wait in ("body-exact", "seconds"):
        result = _job(Cell("token", 40, 40, wait, keys=300))
        assert result.efficiency >= 0.85 and result.refused_share <= 0.10, wait


def test_a_known_limit_is_never_refused() -> None:
    # One process with the server's burst; four sharing one budget, as the fleet,
    # with the server's burst (refused 3.4% before the schedule kept a slot of it spare,
    # BURST_SLACK) and with rate_burst=1.
    for processes, burst in ((1, 40), (4, 40), (4, 1)):
        cell = Cell(
            "token", 40, 40, "seconds", processes=processes, rate_limit=40, rate_burst=burst
        )
        result = _job(attrs.evolve(cell, keys=400))
        assert result.refused_share <= 0.01 and result.efficiency >= 0.85, (processes, burst)


def test_a_small_burst_is_not_refused_by_every_returning_crowd() -> None:
    # With one request accepted per episode the pace stayed off and the whole crowd came
    # back at once after each cool-down: 98% of the requests were refused.
    result = _job(Cell("token", 10, 1, "seconds", latency=0.02, keys=200))
    assert result.refused_share <= 0.30  # the first crowd's 49 of 200 are unavoidable


def test_a_small_burst_s_first_guess_does_not_release_the_crowd_into_a_refusal() -> None:
    # Issue 18's 100/s burst 10 row (goal: 15% refused at most). The first guess, the
    # burst over the one-second wait, is 10/s; the climb met 16 times it within the job,
    # pacing switched off and every waiter went at once: 30 refused together, 19.4% in
    # all. Pacing now goes off at 64 times the estimate (UNPACED_ABOVE): 12.3%.
    result = _job(Cell("token", 100, 10, "seconds", keys=300))
    assert result.ok == result.keys and result.refused_share <= 0.15


def test_a_429_naming_no_wait_holds_the_crowd_back() -> None:
    # Issue 18's "429 with no wait information" row (40/s burst 40, goal 10% refused):
    # with nobody else held back, the rest of the crowd went on into the same refusal
    # (15.3% refused at 300 keys); with a hold of NO_WAIT_HOLD for the whole client, 8.8%.
    result = _job(Cell("token", 40, 40, "none", keys=300))
    assert result.efficiency >= 0.85 and result.refused_share <= 0.10


# --- long jobs: minutes of the server's rate, where the matrix's cells last seconds ---------


def test_a_long_job_on_intervals_premium_plan_loses_no_key() -> None:
    # 100/minute, burst 20, the body's wait rounded to whole seconds: 300 keys at 50 at
    # once is three minutes of queue. Calls refused (or held by a cool-down) went to the
    # back of the line of waiters, behind every call that came after them, and 12 of 300
    # failed "in line" after their 120 s deadline (the lottery before the line: 3). The
    # line is now earliest deadline first (the probe's hold keeps this job whole too: 12
    # lost without either, none with one; the seam test checks the order alone).
    with untraced():
        result = _job(Cell("token", 100 / 60, 20, "body-rounded", latency=0.05, keys=300))
    assert result.ok == result.keys
    assert result.efficiency >= 0.95


def test_a_long_job_does_not_pay_for_a_probe_every_few_seconds() -> None:
    # With whole-second waits each probe beyond a right estimate cost a second, every 2-3
    # seconds for the whole job: 10/s burst 1 over 600 keys 0.51, a sliding window 0.56,
    # 100/s burst 10 over 3,000 keys 0.57. A probe refused without finding more now holds
    # the next one back twice as long each time (HOLD_AFTER, MAX_HOLD): 0.76, 0.68, 0.70.
    with untraced():
        results = [
            _job(Cell("token", 10, 1, "seconds", keys=600)),
            _job(Cell("sliding", 40, 40, "seconds", keys=1500)),
            _job(Cell("token", 100, 10, "seconds", keys=3000)),
        ]
    assert [round(r.efficiency, 2) >= 0.65 for r in results] == [True, True, True], results
    assert all(r.ok == r.keys for r in results)


def test_a_sequential_client_learns_a_pace_against_a_small_burst(matrix: list[CellResult]) -> None:
    # One request at a time, unpaced: each episode saw too few acceptances to be a pace
    # (SOLO_SAMPLE), so pacing stayed off and every other request was refused, for good
    # (50/s burst 1, whole-second waits: 49.9% refused, efficiency 0.02). Refused again
    # after such an episode, one acceptance is enough: 2.4%, 0.23.
    alone = [r for r in matrix if r.cell.tag == "sequential"]
    assert len(alone) == 9
    assert all(r.ok == r.keys and r.refused_share <= 0.10 for r in alone), format_table(alone)
    assert all(r.efficiency >= 0.2 for r in alone), format_table(alone)


def test_processes_pace_at_their_own_share_while_the_shared_store_fails() -> None:
    # Four processes sharing rate_limit=20 (the server's own) when Redis dies 2 s in: each
    # paced alone at the whole 20/s, four times the server's rate: 150 refusals, and on a
    # real fleet (third outside review) 17-36 of 400 calls past a 10 s deadline. At its
    # own share (what it was given of the budget, with room): 101.
    cell = Cell(
        "token", 20, 20, "seconds", processes=4, concurrency=25, keys=400, rate_limit=20,
        rate_burst=20, store_fails_after=2.0,
    )  # fmt: skip
    result = run_cell(cell)
    assert result.ok == result.keys
    assert result.refused <= 110, format_table([result])
