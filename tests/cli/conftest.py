"""The eventsync command in real subprocesses, against the fakes on loopback.

The fakes run in this process (an event loop in a background thread) so a test
can inject faults and read what arrived; the command runs as
``python -m common._cli`` with only the environment a test gives it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from intervals_async.testing import FakeIntervals
from ridewithgps_async.testing import FakeRideWithGPS

ROOT = Path(__file__).resolve().parents[2]


class Servers:
    """Fakes served from a background thread's event loop (the command runs elsewhere)."""

    def __init__(self, *fakes: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.fakes = fakes
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def __enter__(self) -> Servers:
        self._thread.start()
        for fake in self.fakes:
            self.call(fake.start())
        return self

    def __exit__(self, *exc: object) -> None:
        for fake in self.fakes:
            self.call(fake.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@attrs.frozen
class Fakes:
    intervals: FakeIntervals
    rwgps: FakeRideWithGPS

    def env(self, **extra: str) -> dict[str, str]:
        """Credentials and base URLs of both fakes (what a user would export)."""
        return {
            "INTERVALS_API_KEY": "test-key",
            "INTERVALS_BASE_URL": self.intervals.url,
            "RWGPS_ACCESS_TOKEN": "test-access-token",
            "RWGPS_BASE_URL": self.rwgps.url,
            **extra,
        }

    def sent(self) -> int:
        return len(self.intervals.requests) + len(self.rwgps.requests)


@pytest.fixture(scope="package")
def fakes() -> Iterator[Fakes]:
    """Both fakes, as the spec describes them: no cursor, so a 120-registration event is cut.

    Every request the command sends is checked against the Intervals spec.
    """
    intervals, rwgps = FakeIntervals(validate=True), FakeRideWithGPS()
    with Servers(intervals, rwgps):
        yield Fakes(intervals, rwgps)
    assert intervals.violations == []


@attrs.frozen
class Ran:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def clean_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any provider or eventsync variable, plus ``env``."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INTERVALS_", "RWGPS_", "EVENTSYNC_", "CLUBHUB_"))
        and k not in ("COLUMNS", "LINES")
    }
    return {**base, "PYTHONPATH": str(ROOT), **(env or {})}


def eventsync(
    *argv: str, env: Mapping[str, str] | None = None, progress: bool = False, timeout: float = 60
) -> Ran:
    """Run the command to the end; stdout and stderr captured separately."""
    flags = [] if progress else ["--no-progress"]
    done = subprocess.run(
        [sys.executable, "-m", "common._cli", *flags, *argv],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def eventsync_in_terminal(
    *argv: str, env: Mapping[str, str], columns: int = 100, rows: int = 30, timeout: float = 60
) -> Ran:
    """Run the command with stdout on a pseudo-terminal of ``columns`` x ``rows``."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "common._cli", "--no-progress", *argv],
        env=clean_env({**env, "TERM": "xterm-256color"}),
        stdout=slave,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif proc.poll() is not None:
            break
    os.close(master)
    _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    out = b"".join(chunks).decode().replace("\r\n", "\n")
    return Ran(proc.returncode, out, err.decode())
