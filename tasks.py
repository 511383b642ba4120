#!/usr/bin/env python3
"""Project tasks that set themselves up: only python3 and the package index needed.

    python3 tasks.py demo     # the main job: the CLI demo against the embedded fake servers
    python3 tasks.py test     # lint, types, the test suite with coverage floors
    python3 tasks.py docs     # the documentation site into site/ (mkdocs build --strict)
    python3 tasks.py bench    # the benchmarks (add --smoke for a tiny run)
    python3 tasks.py installs # every documented install, each in a fresh venv from one wheel

Each creates (or reuses) a virtual environment in .venv and installs the
project into it with the extras the task needs.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
PACKAGES = ["common", "intervals_async", "ridewithgps_async"]
COVERAGE_FLOORS = {"common/*": 90, "intervals_async/*": 85, "ridewithgps_async/*": 85}


def _command_line(args: Sequence[str | Path]) -> str:
    """``+ command args`` as the tasks print a command they run (each argument cut)."""
    return "+ " + " ".join(str(a)[:120] for a in args)


def run(*args: str | Path, cwd: str | Path = ROOT, **env: str) -> None:
    print(_command_line(args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=cwd, env={**os.environ, **env})
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
    lint = [*PACKAGES, "tests", "benchmarks", "docs/_ext", "tasks.py"]
    run(PY, "-m", "ruff", "check", *lint)
    run(PY, "-m", "ruff", "format", "--check", *lint)
    # an outside provider, and what users write (tests/typing: a type gone loose fails)
    run(PY, "-m", "mypy", "--strict", *PACKAGES, "tests/third_provider", "tests/typing")
    run(PY, "-m", "coverage", "erase")
    # The suite is CPU-bound (coverage tracing, hypothesis, the simulator): one pytest
    # worker per core, up to four, each test file whole on one worker (its module-scoped
    # fixtures, such as the simulator's matrix or a Celery fleet, built once).
    workers = min(4, os.cpu_count() or 1)
    if workers > 1 and not any(a.startswith(("-n", "--numprocesses")) for a in args):
        args = ["-n", str(workers), "--dist", "loadfile", *args]
    # Property tests on the examples their code fixes (tests/conftest.py; a run is repeatable):
    # HYPOTHESIS_PROFILE=default explores new ones, as plain pytest does.
    env = {"PYTHONDEVMODE": "1", "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci")}
    run(PY, "-m", "coverage", "run", "-m", "pytest", *args, **env)
    run(PY, "-m", "coverage", "combine", "--quiet")  # this process's data and its subprocesses'
    # What combine could not read stays behind (a process a test killed while it wrote its
    # data: SQLITE_CORRUPT), and every report after would warn of it again.
    for leftover in sorted(ROOT.glob(".coverage.*")):
        print(f"coverage: {leftover.name} could not be combined; removed", flush=True)
        leftover.unlink()
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


def docs(args: list[str]) -> None:
    """Build the site into site/; --strict makes a broken link, reference or docstring fail."""
    venv("docs")
    # Material's notice about its successor is not a problem with our pages.
    run(BIN / "mkdocs", "build", "--strict", *args, NO_MKDOCS_2_WARNING="1")


def bench(args: list[str]) -> None:
    """Run the benchmarks, keep the results as JSON and draw them (benchmarks/plots.py).

    A full run's results go to benchmarks/results/figures.json and its charts to docs/img/
    (the benchmarks page embeds them); a smoke run's to build/bench/, leaving the docs alone.
    """
    venv("dev,bench")
    smoke = "--smoke" in args
    out = ROOT / "build" / "bench" if smoke else ROOT / "benchmarks" / "results"
    results = out / ("smoke.json" if smoke else "figures.json")
    if "--json" in args:
        results = Path(args[args.index("--json") + 1]).resolve()
    else:
        args = [*args, "--json", str(results)]
    results.parent.mkdir(parents=True, exist_ok=True)
    run(PY, "-m", "benchmarks", *args)
    images = out / "img" if smoke else ROOT / "docs" / "img"
    table = results.with_suffix(".md")  # the benchmarks page includes the full run's
    run(PY, "-m", "benchmarks.plots", results, "--out", images, "--table", table)


#: How an install runs pip: quietly, and leaving bytecode to the first import.
QUIET = ("--quiet", "--no-compile")
#: Extras that are tooling for this repository, not installs a user is told about.
TOOLING_EXTRAS = {"dev", "bench"}
#: The project URLs the wheel's metadata must carry (pyproject's [project.urls]).
PROJECT_URLS = ("Documentation", "Source", "Issues", "Changelog")


def _doc_sample(page: str, marker: str) -> str:
    """The first python sample of ``page`` that contains ``marker`` (the docs are the promise)."""
    samples = re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), re.S)
    return next(sample for sample in samples if marker in sample)


def _checks(extras: set[str], bin_dir: Path, scratch: Path) -> list[list[str | Path]]:
    """What the docs (getting started) say an install with ``extras`` can do, as commands."""
    py, eventsync = bin_dir / "python", bin_dir / "eventsync"
    checks: list[list[str | Path]] = [
        [py, "-c", "import common, intervals_async, ridewithgps_async"],
        [py, "-c", "from common.provider import Registry; r = Registry.discover();"
         " assert [p.name for p in r] == ['intervals', 'ridewithgps'] and not r.broken, r"],
    ]  # fmt: skip
    if "cli" in extras:
        checks += [
            [eventsync, "--help"],
            [eventsync, "--version"],
            [eventsync, "--no-progress", "demo", "--out", scratch / "events.jsonl"],
        ]
        if "redis" not in extras:  # --rate-store says which extra it needs
            script = (
                "import subprocess, sys; r = subprocess.run([sys.argv[1], '--rate-store',"
                " 'redis://127.0.0.1:1/0', 'providers'], capture_output=True, text=True);"
                ' assert r.returncode == 2 and "eventsync[redis]" in r.stderr, r'
            )
            checks.append([py, "-c", script, eventsync])
    else:  # the command is there, and says which extra it needs instead of a traceback
        script = (
            "import subprocess, sys; r = subprocess.run([sys.argv[1], 'demo'],"
            " capture_output=True, text=True); assert r.returncode == 2"
            " and \"pip install 'eventsync[cli]'\" in r.stderr"
            " and 'Traceback' not in r.stderr, r"
        )
        checks.append([py, "-c", script, eventsync])
    if "testing" in extras:  # the guide's pytest module: pytest and anyio's plugin come with it
        module = scratch / "test_my_sync.py"
        module.write_text(_doc_sample("docs/guides/testing.md", "import pytest"))
        checks.append([py, module])
    if "docs" in extras:
        checks.append([bin_dir / "mkdocs", "--version"])
    if "redis" in extras:
        checks.append([py, "-c", "import redis.asyncio, common; common.RedisRateStore"])
    if "celery" in extras:  # the tasks register on an app (nothing connects before a task runs)
        script = (
            "from celery import Celery; from common.celery import EventsyncTasks;"
            " t = EventsyncTasks(Celery('c', broker='redis://127.0.0.1:1/0'));"
            " assert t.get_event.name == 'eventsync.get_event', t.get_event.name"
        )
        checks.append([py, "-c", script])
    else:  # without it, the import says which extra it needs
        script = (
            "try:\n import common.celery\nexcept ImportError as e:\n"
            " assert \"eventsync[celery]\" in str(e), e\nelse:\n raise SystemExit('imported')"
        )
        checks.append([py, "-c", script])
    return checks


def installs(args: list[str]) -> None:
    """Build the wheel once; install it into a fresh venv per documented combination of
    extras (none, each extra alone, all) and run what the docs say that install can do.

    Runs outside the repository so nothing is imported from the source tree. Extras are
    read from the wheel, so a new one (e.g. ``redis``) joins the matrix by itself. The
    installs run side by side (``--jobs N``, default 4: mostly waiting on pip's files and
    the checks' processes), each one's output printed whole when it ends.

    Each venv is made without a pip of its own, and the project's pip (``.venv``'s, up to
    date) installs into it (``pip --python``): the same resolution and files as ``pip
    install`` run inside it, without bootstrapping eight copies of pip or compiling every
    dependency's bytecode up front (Python compiles what a check imports): 77 s became 44 s
    on a 2-CPU machine, with the longest installs started first.
    """
    venv("dev")  # the project's own pip (tasks.py test made it already in CI)
    jobs = 4
    for at, arg in enumerate(args):
        if arg.startswith("--jobs"):  # --jobs N or --jobs=N
            given = arg.partition("=")[2] or args[at + 1]
            jobs, args = int(given), args[:at] + args[at + (1 if "=" in arg else 2) :]
            break
    work = ROOT / "build" / "installs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", work, ROOT)
    wheel = next(work.glob("eventsync-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode()
    for field in ("License-File: LICENSE", *(f"Project-URL: {u}," for u in PROJECT_URLS)):
        if field not in text:
            sys.exit(f"installs: the wheel's metadata has no {field!r}")
    extras = sorted(set(re.findall(r"^Provides-Extra: (\S+)$", text, re.M)) - TOOLING_EXTRAS)
    matrix = {"none": set(), **{extra: {extra} for extra in extras}, "all": set(extras)}
    unknown = sorted(set(args) - set(matrix))
    if unknown:
        sys.exit(
            f"installs: no install named {', '.join(unknown)} (there are: {', '.join(matrix)})"
        )
    # The longest first ("all", then "docs": mkdocs-material is thousands of files), so
    # the short ones fill the other jobs beside them rather than leave one running alone.
    longest_first = sorted(matrix, key=lambda name: (name != "all", name != "docs"))
    chosen_names = [name for name in longest_first if not args or name in args]

    def one(name: str) -> tuple[str, int]:
        """Create the venv, install, run the checks; (everything printed, exit status)."""
        began = time.monotonic()
        chosen = matrix[name]
        log = [f"== install: {name} ({', '.join(sorted(chosen)) or 'no extras'})"]
        env_dir = work / f"venv-{name}"
        bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
        spec = f"{wheel}[{','.join(sorted(chosen))}]" if chosen else str(wheel)
        with tempfile.TemporaryDirectory() as scratch:
            steps: list[list[str | Path]] = [
                [sys.executable, "-m", "venv", "--without-pip", env_dir],
                [PY, "-m", "pip", "--python", bin_dir / "python", "install", *QUIET, spec],
                *_checks(chosen, bin_dir, Path(scratch)),
            ]
            for step in steps:
                log.append(_command_line(step))
                try:
                    done = subprocess.run(
                        [str(a) for a in step],
                        cwd=scratch,
                        env={**os.environ, "PYTHONPATH": ""},
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                except OSError as exc:  # e.g. a console script the install did not make
                    log.append(f"{type(exc).__name__}: {exc}")
                    return "\n".join(log), 127
                if done.stdout.strip():
                    log.append(done.stdout.rstrip())
                if done.returncode:
                    return "\n".join(log), done.returncode
        shutil.rmtree(env_dir)
        log[0] += f" ok in {time.monotonic() - began:.1f}s"
        return "\n".join(log), 0

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for text, status in pool.map(one, chosen_names):
            print(text, flush=True)
            failed = failed or status
    if failed:
        sys.exit(f"installs: failed (exit status {failed}; its output above)")
    print(f"installs: {', '.join(chosen_names)} ok", flush=True)


TASKS = {"demo": demo, "test": test, "docs": docs, "bench": bench, "installs": installs}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        sys.exit(f"usage: python3 tasks.py {{{'|'.join(TASKS)}}} [args...]")
    TASKS[sys.argv[1]](sys.argv[2:])
