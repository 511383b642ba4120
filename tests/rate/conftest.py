"""Fixtures of the rate-control tests: the anyio backend and a real ``redis-server``.

``redis_url`` starts ``redis-server`` (the OS package) on a free loopback port in a
temporary directory, without persistence, and stops it afterwards. Where the binary
is missing the Redis tests skip saying how to install it, unless
``EVENTSYNC_REQUIRE_REDIS=1`` (set by ``.ci/run``) turns that into a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@attrs.define
class RedisServer:
    """A running ``redis-server``; :meth:`stop` kills it, :meth:`start` brings it back."""

    binary: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    #: More ``redis-server`` flags (``--requirepass ...``).
    extra: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        command += self.extra
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not start within 10 s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)


def redis_binary() -> str:
    """The ``redis-server`` binary; skips the test without it (fails under CI's
    ``EVENTSYNC_REQUIRE_REDIS=1``), and without redis-py."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("EVENTSYNC_REQUIRE_REDIS") == "1":
            pytest.fail(message + "; EVENTSYNC_REQUIRE_REDIS=1 requires it")
        pytest.skip(message)
    pytest.importorskip(
        "redis", reason="redis-py is not installed (pip install 'eventsync[redis]')"
    )
    return binary


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary(), free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url
