"""``docs/guides/celery.md`` as written: its ``jobs.py`` and ``producer.py``, and the
commands of "Try it against the fakes" run line by line (ports changed to free ones),
each background one waited for as a person would; every process is killed at the end."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rate.conftest import free_port

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "celery.md"


def _block(text: str, opening: str) -> str:
    found = re.search(re.escape(opening) + r"\n(.*?)```", text, re.S)
    assert found, opening
    return found.group(1)


def _wait_port(port: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listening on {port}")


@contextlib.contextmanager
def _groups() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for process in started:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, sig)
            for process in started:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(20)


@pytest.mark.timeout(240)
def test_guide_commands_as_written(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("EVENTSYNC_REQUIRE_REDIS") == "1":
            pytest.fail(message + "; EVENTSYNC_REQUIRE_REDIS=1 requires it")
        pytest.skip(message)
    text = GUIDE.read_text()
    (tmp_path / "jobs.py").write_text(_block(text, '```python title="jobs.py"'))
    (tmp_path / "producer.py").write_text(_block(text, '```python title="producer.py"'))
    commands = _block(text.split("## Try it against the fakes", 1)[1], "```console")
    redis_port, fake_port = free_port(), free_port()
    commands = commands.replace("6379", str(redis_port)).replace("8765", str(fake_port))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    worker_log = tmp_path / "worker.log"
    with _groups() as started:
        for line in commands.strip().splitlines():
            if line.startswith("export "):
                env.update(part.split("=", 1) for part in shlex.split(line)[1:])  # type: ignore[misc]
                continue
            if line.endswith(" &"):
                log = worker_log if "celery" in line else tmp_path / f"bg{len(started)}.log"
                with open(log, "wb") as out:
                    started.append(
                        subprocess.Popen(
                            ["bash", "-c", line[:-2]], cwd=tmp_path, env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True,
                        )
                    )  # fmt: skip
                if "redis-server" in line:
                    _wait_port(redis_port)
                elif "intervals_async.testing" in line:
                    _wait_port(fake_port)
                else:
                    deadline = time.monotonic() + 90
                    while " ready." not in worker_log.read_text(errors="replace"):
                        assert time.monotonic() < deadline, worker_log.read_text()
                        time.sleep(0.2)
                continue
            subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, check=True, timeout=180)
        lines = (tmp_path / "events.jsonl").read_text().splitlines()
        answers = [json.loads(line) for line in lines]
        assert len(answers) == 20
        for answer in answers[:3]:  # the CLI writes the same object for the same event
            cli = subprocess.run(
                ["eventsync", "--no-progress", "event", "intervals", answer["id"]],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert cli.returncode in (0, 6), cli.stderr
            assert json.loads(cli.stdout) == answer
        worker = started[-1]
        os.killpg(worker.pid, signal.SIGTERM)  # the worker's warm shutdown closes its clients
        worker.wait(30)
    log = worker_log.read_text(errors="replace")
    assert "closed 1 eventsync client(s)" in log
    assert "Unclosed" not in log and "ResourceWarning" not in log, log
