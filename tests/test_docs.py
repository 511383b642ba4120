"""Every Python sample in the README and on the documentation site runs as written.

Samples run against the shipped fake servers, each in its own interpreter with warnings
as errors. A sample that cannot run here (it needs a real API, say) is marked with an
HTML comment on the line before its fence, which the rendered page does not show:

    <!-- not-run: why this sample cannot run in the test suite -->

The reason is required; the marked samples are listed by ``test_not_run_samples_say_why``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
#: A python fence, with or without attributes (```python title="jobs.py"```).
FENCE = re.compile(r"^```python(?:[ \t][^\n]*)?\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not-run:((?:(?!-->).)*)-->\s*\Z", re.S)


#: A sample's interpreter, without coverage's measurement of subprocesses (its variable):
#: a sample shows the docs run as written, and what it runs of the library the suite's own
#: tests cover (2026-12-05, the whole suite without it: one branch less, a listing without
#: ``record_count``, which tests/ridewithgps/test_pagination.py now covers itself). Measured,
#: each sample took about 1.6 times as long.
UNMEASURED = {k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"}


class Sample(NamedTuple):
    """One fenced Python block: where it is, its code, and why it is not run (if so)."""

    where: str
    code: str
    not_run: str | None


def samples() -> list[Sample]:
    """Every ```python block of every page, in page order."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            marker = NOT_RUN.search(text[: match.start()].rstrip() + "\n")
            found.append(
                Sample(
                    f"{page.relative_to(ROOT)}:{line}",
                    match.group(1),
                    marker.group(1).strip() if marker else None,
                )
            )
    return found


SAMPLES = samples()
RUN = [sample for sample in SAMPLES if sample.not_run is None]


def test_the_pages_have_samples() -> None:
    assert len(RUN) >= 10
    assert any(sample.where.startswith("README.md") for sample in RUN)


def test_not_run_samples_say_why() -> None:
    for sample in SAMPLES:
        if sample.not_run is not None:
            assert len(sample.not_run) >= 10, f"{sample.where}: say why it is not run"


def test_the_marker_is_found() -> None:
    page = "text\n\n<!-- not-run: needs a real API key -->\n```python\nx = 1\n```\n"
    match = FENCE.search(page)
    assert match is not None
    marker = NOT_RUN.search(page[: match.start()].rstrip() + "\n")
    assert marker is not None and marker.group(1).strip() == "needs a real API key"
    assert NOT_RUN.search("<!-- not-run: x -->\nprose\n") is None  # only right before
    assert NOT_RUN.search("<!-- not-run: x -->\n<!-- other -->\n") is None
    titled = FENCE.search('```python title="jobs.py"\nx = 1\n```\n')
    assert titled is not None and titled.group(1) == "x = 1\n"
    assert FENCE.search("```pythonic\nx = 1\n```\n") is None


@pytest.mark.parametrize("sample", RUN, ids=[sample.where for sample in RUN])
def test_sample_runs(sample: Sample, tmp_path: Path) -> None:
    script = tmp_path / "sample.py"
    script.write_text(sample.code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=UNMEASURED,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "a sample should show something"


def _rst_docstrings():  # docs/_ext is not a package: load the file the site build loads
    spec = importlib.util.spec_from_file_location(
        "rst_docstrings", ROOT / "docs/_ext/rst_docstrings.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstrings_read_as_markdown() -> None:
    to_markdown = _rst_docstrings().to_markdown
    assert (
        to_markdown("See :class:`common.Event` and :meth:`~a.B.c`.")
        == "See `common.Event` and `c`."
    )
    assert to_markdown(":func:`the helper <common.fetch_many>`") == "`the helper`"
    text = "Use it::\n\n    x = 1\n    if x:\n        y = 2\n\nAfter."
    assert to_markdown(text) == "Use it:\n\n```python\nx = 1\nif x:\n    y = 2\n```\n\nAfter."
    indented = "Args:\n    x: see::\n\n        f(x)\n    y: z"
    assert (
        to_markdown(indented) == "Args:\n    x: see:\n\n    ```python\n    f(x)\n    ```\n    y: z"
    )
    assert to_markdown("::\n\n    a\n") == "\n```python\na\n```\n"
    assert to_markdown("Plain, with ::1 inside.") == "Plain, with ::1 inside."
    toml = 'Declare it::\n\n    [project.entry-points."eventsync.providers"]\n    a = "b:C"\n'
    assert "```toml\n[project" in to_markdown(toml)


def test_the_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, "the README is the front door: the rest belongs in docs/"
    assert not any(line.startswith("pip install eventsync") for line in lines)  # no index


def test_the_readme_links_resolve() -> None:
    # mkdocs --strict checks the site's links; the README's own are checked here.
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t.split("#")[0] for t in targets if "://" not in t and not t.startswith("#")]
    assert local, "the README links into the site"
    missing = [target for target in local if not (ROOT / target).exists()]
    assert not missing, missing
