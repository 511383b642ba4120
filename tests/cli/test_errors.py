"""Issue 14, "errors are one line, with the documented exit codes": real subprocesses."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, Fakes, clean_env, eventsync


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("eventsync: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("provider", ["intervals", "rwgps"])
def test_reversed_dates_are_a_usage_error_worded_alike_and_nothing_is_sent(
    fakes: Fakes, provider: str
) -> None:
    before = fakes.sent()
    ran = eventsync(
        "events", "--provider", provider, "--from", "2026-05-01", "--to", "2026-04-01",
        env=fakes.env(),
    )  # fmt: skip
    assert ran.code == 2
    assert ran.out == ""
    assert (
        _one_error_line(ran.err) == "eventsync: error: --to 2026-04-01 is before --from 2026-05-01"
    )
    assert fakes.sent() == before


def test_a_closed_stdout_ends_the_run_quietly_with_exit_0(fakes: Fakes) -> None:
    command = (
        f"set -o pipefail; {sys.executable} -m common._cli --no-progress events"
        " --format jsonl | head -1"
    )
    done = subprocess.run(
        ["bash", "-c", command], env=clean_env(fakes.env()), capture_output=True, text=True,
        cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1
    assert done.stderr == ""


@pytest.mark.parametrize("fmt", ["table", "csv", "jsonl"])
def test_on_401_nothing_goes_to_stdout_and_no_resume_hint(fakes: Fakes, fmt: str) -> None:
    ran = eventsync(
        "events", "--provider", "intervals", "--format", fmt,
        env=fakes.env(INTERVALS_API_KEY="wrong-key"),
    )  # fmt: skip
    assert ran.code == 3
    assert ran.out == ""
    line = _one_error_line(ran.err)
    assert "401" in line and "resume" not in line and "wrong-key" not in line


def test_debug_shows_the_traceback_and_keeps_the_exit_code(fakes: Fakes) -> None:
    ran = eventsync("--debug", "event", "intervals", "no-such-event", env=fakes.env())
    assert ran.code == 4
    assert "Traceback" in ran.err and "NotFoundError" in ran.err
    assert ran.err_lines[-1].startswith("eventsync: error: ")


def test_base_url_with_every_provider_is_a_usage_error_before_anything_is_sent(
    fakes: Fakes,
) -> None:
    before = fakes.sent()
    ran = eventsync("--base-url", fakes.intervals.url, "events", env=fakes.env())
    assert ran.code == 2
    assert "--base-url" in _one_error_line(ran.err) and "--provider" in ran.err
    assert fakes.sent() == before
    ran = eventsync(
        "--base-url", fakes.intervals.url, "events", "--provider", "intervals", "--format",
        "jsonl", env=fakes.env(INTERVALS_BASE_URL="http://127.0.0.1:9"),
    )  # fmt: skip
    assert ran.code == 0, ran.err  # one provider: the flag wins over the variable


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "fast"])
def test_rate_limit_must_be_above_zero(fakes: Fakes, value: str) -> None:
    before = fakes.sent()
    ran = eventsync(f"--rate-limit={value}", "events", env=fakes.env())
    assert ran.code == 2
    line = _one_error_line(ran.err)
    assert "--rate-limit" in line and "above 0" in line and "None" not in line
    assert fakes.sent() == before


@pytest.mark.parametrize("event_id", ["5" * 5000, "-3", "12a", "0", str(2**63)])
def test_a_bad_ridewithgps_id_is_a_usage_error(fakes: Fakes, event_id: str) -> None:
    before = fakes.sent()
    ran = eventsync("event", "rwgps", event_id, env=fakes.env())
    assert ran.code == 2
    assert "whole number" in _one_error_line(ran.err)
    assert len(ran.err) < 300  # the 5000 digits are not echoed back
    assert fakes.sent() == before


def test_missing_credentials_speak_in_environment_variables(fakes: Fakes) -> None:
    env = fakes.env()
    del env["INTERVALS_API_KEY"]
    ran = eventsync("events", "--provider", "intervals", env=env)
    assert ran.code == 3
    line = _one_error_line(ran.err)
    assert "INTERVALS_API_KEY" in line and "api_key=" not in line
    # every provider: the one without credentials is skipped, loudly
    ran = eventsync("events", "--format", "jsonl", env=env)
    assert ran.code == 0, ran.err
    assert "Intervals skipped: no credentials (set INTERVALS_API_KEY)" in ran.err
    assert ran.out.count('"provider":"ridewithgps"') == len(ran.out.splitlines()) > 0
    ran = eventsync("events", env={})
    assert ran.code == 3
    assert "RWGPS_ACCESS_TOKEN" in _one_error_line(ran.err)


def test_argparse_errors_are_one_line_too() -> None:
    ran = eventsync("events", "--provider", "nowhere")
    assert ran.code == 2
    assert "nowhere" in _one_error_line(ran.err)
    ran = eventsync("events", "--from", "2026-02-30")
    assert ran.code == 2
    assert "not a YYYY-MM-DD date" in _one_error_line(ran.err)


def test_not_found_and_server_errors(fakes: Fakes) -> None:
    ran = eventsync("participants", "intervals", "no-such-event", env=fakes.env())
    assert ran.code == 4
    assert ran.out == ""
    _one_error_line(ran.err)
    ran = eventsync("event", "rwgps", "999999", env=fakes.env())
    assert ran.code in (3, 4)
    _one_error_line(ran.err)


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_rate_store_reaches_the_clients_and_an_unreachable_redis_does_not_stop_the_run(
    fakes: Fakes, how: str
) -> None:
    """Nothing listens on port 1: the clients warn once and pace locally (issue 11)."""
    url = "redis://127.0.0.1:1/0"
    flags = ["--rate-store", url] if how == "flag" else []
    env = fakes.env(**({"EVENTSYNC_RATE_STORE": url} if how == "variable" else {}))
    ran = eventsync(*flags, "events", "--provider", "rwgps", "--format", "jsonl", env=env)
    assert ran.code == 0, ran.err
    assert len(ran.out.splitlines()) == 49
    assert "eventsync: warning: rate store unavailable" in ran.err
    assert "Traceback" not in ran.err


def test_rate_store_is_shared_through_a_real_redis(fakes: Fakes, tmp_path: Path) -> None:
    """Two runs with the same --rate-store leave their shared pacing state in one Redis."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    redis = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", tmp_path],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        for _ in range(2):
            ran = eventsync(
                "--rate-limit", "200", "--rate-store", url, "events", "--provider", "rwgps",
                "--format", "jsonl", env=fakes.env(),
            )  # fmt: skip
            assert ran.code == 0, ran.err
            assert "unavailable" not in ran.err
        import redis as redis_py

        with redis_py.Redis.from_url(url) as check:
            assert check.dbsize() > 0  # the runs kept their budget there
    finally:
        redis.terminate()
        redis.wait(10)


def test_both_providers_refusing_the_credentials_is_one_line_and_exit_3(fakes: Fakes) -> None:
    env = fakes.env(INTERVALS_API_KEY="wrong-key", RWGPS_ACCESS_TOKEN="wrong-token")
    ran = eventsync("events", "--format", "csv", env=env)
    assert ran.code == 3
    assert ran.out == ""
    line = _one_error_line(ran.err)
    assert "401" in line and "wrong-" not in line


def test_an_id_with_a_stray_byte_is_a_usage_error_before_anything_is_sent(fakes: Fakes) -> None:
    """A non-UTF-8 byte reaches Python as a lone surrogate: refused, not sent as ``ev001``."""
    before = fakes.sent()
    done = subprocess.run(
        [sys.executable, "-m", "common._cli", "participants", "intervals", b"ev001\xff"],
        env=clean_env(fakes.env()), capture_output=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == b""
    assert b"not an Intervals event id" in done.stderr
    assert fakes.sent() == before
