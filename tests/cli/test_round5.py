"""The fifth hostile round's command-line findings, each reproduced first (each test fails
on the code before its fix)."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import resource
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest

import common
from common._cli._output import Outcome, events_table

from .conftest import ROOT, Fakes, clean_env, eventsync


def test_a_password_in_the_base_url_is_never_printed(fakes: Fakes) -> None:
    # The error named the provider with the URL's user:password part as its "host".
    url = fakes.env()["INTERVALS_BASE_URL"].replace("http://", "http://alice:Sup3rSecretPw@")
    ran = eventsync("--base-url", url, "events", "--provider", "intervals", env=fakes.env())
    assert ran.code == 2, ran.err
    assert "Sup3rSecretPw" not in ran.err + ran.out and "alice" not in ran.err, ran.err
    assert "base_url must not carry credentials" in ran.err


def _named(name: str) -> Outcome:
    return Outcome(
        common.Event(
            provider="ridewithgps", id="1", name=name, start_date=dt.date(2026, 9, 1), raw=None
        )
    )


def test_the_table_shows_a_servers_text_as_text_without_control_characters() -> None:
    # Rich read an event's name as markup ("[/x]" raised MarkupError, exit 1; "[bold]…"
    # vanished) and passed ESC sequences to the terminal (a new title, a cleared screen).
    names = ["[bold]Club ride[/bold]", "Ride [/x] to the coast", "\x1b]0;pwned\x07\x1b[2J Night"]
    table = events_table([_named(n) for n in names], width=None)
    assert "[bold]Club ride[/bold]" in table and "Ride [/x] to the coast" in table
    assert "]0;pwned[2J Night" in table
    assert not any(c in table for c in "\x1b\x07\x9b"), repr(table)


def test_a_calendar_name_that_is_not_utf8_is_a_usage_error(fakes: Fakes, tmp_path: Path) -> None:
    # A byte that is not UTF-8 on the command line reached the iCalendar writer: a
    # UnicodeEncodeError traceback, exit 1.
    ran = eventsync(
        "events", "--provider", "intervals", "--format", "ics",
        "--calendar-name", "Caf\udce9 rides", "--out", str(tmp_path / "cal.ics"),
        env=fakes.env(),
    )  # fmt: skip
    assert ran.code == 2, ran.err
    assert len(ran.err_lines) == 1 and "--calendar-name" in ran.err, ran.err


def test_a_long_but_legal_out_name_is_written(fakes: Fakes, tmp_path: Path) -> None:
    # The part file beside it is named after it: 245 bytes plus its own went past the
    # 255-byte limit, and a writable name was called unwritable (exit 2).
    target = tmp_path / ("e" * 239 + ".jsonl")
    ran = eventsync(
        "events", "--provider", "intervals", "--format", "jsonl", "--out", str(target),
        env=fakes.env(),
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert target.read_text().count("\n") > 0
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_write_error_on_a_regular_out_file_names_it_and_exits_2(
    fakes: Fakes, tmp_path: Path
) -> None:
    # The failed flush was reported as a Usage error naming the path, then closing the
    # file flushed again and its bare OSError replaced it: exit 5, no path.
    target = tmp_path / "events.jsonl"
    target.write_text("the last good export\n")

    def small_files() -> None:  # RLIMIT_FSIZE: a write past 16 KiB fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    done = subprocess.run(
        [sys.executable, "-m", "common._cli", "--no-progress", "events", "--provider",
         "intervals", "--format", "jsonl", "--out", str(target)],
        env=clean_env(fakes.env()), capture_output=True, text=True, cwd=ROOT, timeout=60,
        preexec_fn=small_files,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"--out {target}: cannot write" in done.stderr, done.stderr
    assert target.read_text() == "the last good export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["events.jsonl"]


def test_the_provider_is_named_with_its_host_and_port_only() -> None:
    from common._cli._run import _where
    from common.provider import Registry

    plugin = next(p for p in Registry.discover() if p.name == "intervals")
    assert _where(plugin, "http://[::1]:8080/api") == f"{plugin.title} ([::1]:8080)"
    assert _where(plugin, "https://bob:pw@Example.org/") == f"{plugin.title} (example.org)"


def test_sigterm_at_any_moment_leaves_the_export_and_nothing_beside_it(
    fakes: Fakes, tmp_path: Path
) -> None:
    # The handler raised where the signal landed, a worker or the event loop itself: the
    # part file beside --out was left in 8 of 40 runs. SIGTERM now cancels the run, as
    # Ctrl-C does. Ten moments across the run (participants too: many requests in flight).
    target = tmp_path / "events.jsonl"
    for moment in (0.35, 0.45, 0.55, 0.65, 0.75, 0.9, 1.05, 1.2, 1.4, 1.6):
        target.write_text("the last good export\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "common._cli", "--no-progress", "events", "--participants",
             "--format", "jsonl", "--out", str(target)],
            env=clean_env(fakes.env()), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            time.sleep(moment)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert [p.name for p in tmp_path.iterdir()] == ["events.jsonl"], (moment, err)
        text = target.read_text()
        # A run may finish before its moment: 0, or 6 with these fakes (an event's
        # participants are cut short, as in test_round2's item 11), with the new export
        # whole. Cut short, the last good export is left, or (the signal came after the
        # new one replaced it, as the run ended) the new one, whole.
        if proc.returncode in (0, 6):
            assert _whole_export(text), (moment, proc.returncode, err)
        else:
            assert proc.returncode in (143, -15), (moment, proc.returncode, err)
            assert text == "the last good export\n" or _whole_export(text), (moment, err)


def _whole_export(text: str) -> bool:
    """Every event of both fakes, one JSON object per line."""
    lines = text.splitlines()
    return len(lines) == 300 + 49 and all(json.loads(line)["id"] for line in lines)


def _run_with(fakes: Fakes, *argv: str, **popen: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "common._cli", "--no-progress", *argv],
        env=clean_env(fakes.env()), text=True, cwd=ROOT, timeout=60, **popen,
    )  # fmt: skip


def test_a_closed_stdout_or_stderr_is_no_traceback(fakes: Fakes, tmp_path: Path) -> None:
    # Python has None for a stream the caller closed (">&-"): an AttributeError
    # traceback, and with stderr closed the export was fetched, then never written.
    target = tmp_path / "events.jsonl"
    no_stdout = _run_with(
        fakes, "events", "--provider", "intervals", "--format", "jsonl",
        stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert no_stdout.returncode == 2, no_stdout.stderr
    assert no_stdout.stderr == "eventsync: error: stdout is closed: give --out FILE\n"
    no_stderr = _run_with(
        fakes, "events", "--provider", "intervals", "--format", "jsonl", "--out", str(target),
        stdout=subprocess.PIPE, preexec_fn=lambda: os.close(2),
    )  # fmt: skip
    assert no_stderr.returncode == 0
    assert target.read_text().count("\n") > 0


def test_a_broken_stderr_pipe_still_writes_the_export(fakes: Fakes, tmp_path: Path) -> None:
    # Left from the fifth round: stderr's reader gone (its first line, "wrote N events",
    # raised BrokenPipeError) ended the run with exit 0, the export never renamed into place.
    target = tmp_path / "events.jsonl"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        ran = _run_with(
            fakes, "events", "--provider", "intervals", "--format", "jsonl", "--out", str(target),
            stdout=subprocess.PIPE, stderr=write_end,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert ran.returncode == 0
    assert target.read_text().count("\n") > 0


def test_a_full_stdout_is_named(fakes: Fakes) -> None:
    # "[Errno 28] No space left on device", exit 5: no word of where.
    with open("/dev/full", "w") as full:
        ran = _run_with(
            fakes, "events", "--provider", "intervals", "--format", "jsonl",
            stdout=full, stderr=subprocess.PIPE,
        )  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.splitlines()[-1] == (
        "eventsync: error: stdout: cannot write: No space left on device"
    )


def test_ctrl_c_while_the_tool_loads_is_an_interruption(fakes: Fakes) -> None:
    # Left from the fifth round: a Ctrl-C in the first 0.3 s gave a KeyboardInterrupt
    # traceback and a death by SIGINT. The signal is sent as each of these imports completes
    # (``-X importtime`` reports them), so that it lands in what follows: the tool's set-up,
    # the providers. (Not earlier: Python importing ``common`` is before any of our code.)
    assert 'eventsync = "common._cli:main"' in (ROOT / "pyproject.toml").read_text()
    entry = "import sys; from common._cli import main; sys.exit(main())"  # the script's
    for moment in ("intervals_async._client", "ridewithgps_async._client", "rich.console"):
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-c", entry, "--no-progress", "events",
             "--format", "jsonl"],
            env=clean_env(fakes.env()), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, cwd=ROOT,
        )  # fmt: skip
        assert proc.stderr is not None
        try:
            seen = []
            for line in proc.stderr:
                seen.append(line)
                if line.rpartition("|")[2].strip() == moment:
                    proc.send_signal(signal.SIGINT)
                    break
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        err = "".join(seen) + err
        assert proc.returncode == 130, (moment, proc.returncode, err[-2000:])
        assert "Traceback" not in err and "eventsync: interrupted" in err, (moment, err[-2000:])


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_a_run_whose_stdout_reader_stopped_reading(
    fakes: Fakes, signum: signal.Signals, code: int
) -> None:
    # The run blocked in write() to a pipe its reader no longer read: the loop that stops
    # the run on a signal never ran again, and SIGTERM then three Ctrl-C changed nothing
    # until the reader went away (third outside review).
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "common._cli", "--no-progress", "events", "--participants",
             "--format", "jsonl"],
            env=clean_env(fakes.env()), stdout=write_end, stderr=subprocess.PIPE,
            text=True, cwd=ROOT,
        )  # fmt: skip
        os.close(write_end)
        try:
            # until the pipe holds over 32 kB and stays so: the run is blocked writing
            give_up, seen = time.monotonic() + 60, [-1]
            while time.monotonic() < give_up and (
                seen[-1] <= 32_000 or seen[-4:] != [seen[-1]] * 4
            ):
                time.sleep(0.2)
                seen.append(_unread(read_end))
            assert seen[-1] > 32_000 and proc.poll() is None, seen
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == code, err
        assert "Traceback" not in err
    finally:
        os.close(read_end)


def _unread(fd: int) -> int:
    """Bytes waiting in a pipe."""
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)
