#!/usr/bin/env python3
"""Project tasks that set themselves up: only python3 and the package index needed.

    python3 tasks.py demo     # the main job: the CLI demo against the embedded fake servers
    python3 tasks.py test     # lint, types, the test suite with coverage floors
    python3 tasks.py bench    # the benchmarks (add --smoke for a tiny run)

Each creates (or reuses) a virtual environment in .venv and installs the
project into it with the extras the task needs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
PACKAGES = ["common", "intervals_async", "ridewithgps_async"]
COVERAGE_FLOORS = {"common/*": 90, "intervals_async/*": 85, "ridewithgps_async/*": 85}


def run(*args: str | Path, **env: str) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env={**os.environ, **env})
    if result.returncode:
        sys.exit(result.returncode)


def venv(extras: str) -> None:
    """Create .venv and install the project with ``extras`` when anything changed."""
    if not PY.exists():
        run(sys.executable, "-m", "venv", VENV)
        run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    stamp = VENV / f".installed-{extras}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        run(PY, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]")
        stamp.write_text(digest)


def demo(args: list[str]) -> None:
    venv("cli,testing")
    run(BIN / "eventsync", "demo", *args)


def test(args: list[str]) -> None:
    venv("dev")
    run(PY, "-m", "ruff", "check", *PACKAGES, "tests", "benchmarks", "tasks.py")
    run(PY, "-m", "ruff", "format", "--check", *PACKAGES, "tests", "benchmarks", "tasks.py")
    run(PY, "-m", "mypy", "--strict", *PACKAGES)
    run(PY, "-m", "coverage", "erase")
    run(PY, "-m", "coverage", "run", "-m", "pytest", *args, PYTHONDEVMODE="1")
    run(PY, "-m", "coverage", "report")
    for pattern, floor in COVERAGE_FLOORS.items():
        run(
            PY,
            "-m",
            "coverage",
            "report",
            f"--include={pattern}",
            f"--fail-under={floor}",
            "--format=total",
        )


def bench(args: list[str]) -> None:
    venv("dev,bench")
    run(PY, "-m", "benchmarks", *args)


TASKS = {"demo": demo, "test": test, "bench": bench}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        sys.exit(f"usage: python3 tasks.py {{{'|'.join(TASKS)}}} [args...]")
    TASKS[sys.argv[1]](sys.argv[2:])
