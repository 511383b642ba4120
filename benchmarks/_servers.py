"""The fake servers, each in its own process so its CPU time is not the benchmark's.

``with fake_server("intervals_async.testing", "--events", "300") as url:`` starts
``python -m intervals_async.testing --port 0 --no-validate ...``, waits for the URL it prints
on one line when it listens, and terminates it on exit (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator

__all__ = ["INTERVALS", "INTERVALS_KEY", "RIDEWITHGPS", "RIDEWITHGPS_KEYS", "fake_server"]

INTERVALS = "intervals_async.testing"
RIDEWITHGPS = "ridewithgps_async.testing"
#: The API key the Intervals fake accepts (all scopes).
INTERVALS_KEY = "test-key"
#: The ``(api_key, auth_token)`` pair the RideWithGPS fake accepts.
RIDEWITHGPS_KEYS = ("test-api-key", "test-auth-token")

_READY_TIMEOUT = 60.0
_STOP_TIMEOUT = 5.0


@contextlib.contextmanager
def fake_server(module: str, *args: str, ready_timeout: float = _READY_TIMEOUT) -> Iterator[str]:
    """Run ``python -m module --port 0 --no-validate *args``; yield its base URL."""
    command = [sys.executable, "-m", module, "--port", "0", "--no-validate", *args]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        yield _wait_for_url(process, ready_timeout)
    finally:
        _stop(process)


def _wait_for_url(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line the server prints, read in a thread so a silent server cannot hang us."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=timeout).strip()
    except queue.Empty:
        raise RuntimeError(f"{process.args!r} printed no URL within {timeout:g}s") from None
    if not line.startswith("http"):
        code = process.poll()
        raise RuntimeError(f"{process.args!r} did not start (exit status {code}, said {line!r})")
    return line


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
