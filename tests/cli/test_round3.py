"""The third hostile round, command line: a malformed --base-url, SIGTERM mid-run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from common.testing import Fault

from .conftest import ROOT, Fakes, clean_env, eventsync


def test_a_malformed_base_url_flag_is_one_line_and_exit_2(fakes: Fakes) -> None:
    # (the same value in INTERVALS_BASE_URL already was; the flag gave a traceback, exit 1)
    ran = eventsync(
        "--base-url", "http://[::1", "events", "--provider", "intervals",
        env=fakes.env(),
    )  # fmt: skip
    assert ran.code == 2, ran.err
    assert ran.err_lines == ["eventsync: error: Intervals: base_url is not a URL: Invalid IPv6 URL"]


def test_sigterm_mid_run_stops_cleanly_leaving_the_export_and_nothing_beside_it(
    fakes: Fakes, tmp_path: Path
) -> None:
    target = tmp_path / "events.jsonl"
    target.write_text("the last good export\n")
    asked = len(fakes.intervals.requests)
    fakes.intervals.inject(Fault.slow(10), method="GET", path="/events")
    proc = subprocess.Popen(
        [sys.executable, "-m", "common._cli", "--no-progress", "events", "--provider",
         "intervals", "--format", "jsonl", "--out", str(target)],
        env=clean_env(fakes.env()), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(fakes.intervals.requests) <= asked and time.monotonic() < deadline:
            time.sleep(0.05)  # until the listing is under way
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert err.splitlines()[-1] == "eventsync: terminated"
    assert target.read_text() == "the last good export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["events.jsonl"]  # no .part left


def test_eventsync_log_writes_each_attempt_once(fakes: Fakes) -> None:
    # EVENTSYNC_LOG's own handler and the command's handler on the root both wrote every
    # library record: each attempt twice.
    before = len(fakes.intervals.requests)
    ran = eventsync(
        "events", "--provider", "intervals", "--format", "jsonl",
        env=fakes.env(EVENTSYNC_LOG="debug"),
    )  # fmt: skip
    assert ran.code in (0, 6), ran.err
    sent = len(fakes.intervals.requests) - before
    attempts = [line for line in ran.err_lines if " -> 200 (attempt " in line]
    assert sent > 0 and len(attempts) == sent, ran.err
