"""Every Python sample in the README and on the documentation site runs as written.

Samples run against the shipped fake servers, each in its own interpreter with warnings
as errors. A sample that cannot run here (it needs a real API, say) is marked with an
HTML comment on the line before its fence, which the rendered page does not show:

    <!-- not-run: why this sample cannot run in the test suite -->

The reason is required; the marked samples are listed by ``test_not_run_samples_say_why``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not-run:((?:(?!-->).)*)-->\s*\Z", re.S)


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
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "a sample should show something"
