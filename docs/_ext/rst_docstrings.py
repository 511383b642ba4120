"""A griffe extension: the library's reST-flavoured docstrings, read as Markdown.

The docstrings use Sphinx roles (``:class:`common.Event```) and ``::`` literal blocks,
which Markdown would show as written. mkdocstrings loads this file (``mkdocs.yml``) and
rewrites each docstring before it is parsed: a role becomes its name in code, and a
``::`` block a fenced Python block. The sources stay as they are (``help()`` and editors
read them well).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

try:
    from griffe import Extension, Module, Object
except ImportError:  # the test suite imports to_markdown without the docs extra
    Extension = object

#: ``:class:`~a.b.C``` and friends; ``~`` keeps the last name, ``text <target>`` the text.
ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`<]*?)\s*(?:<[^`>]*>)?`")


#: A literal block that opens with a TOML table header (``[project.entry-points."..."]``).
TOML_TABLE = re.compile(r"\[[\w.\-\"]+\]\s*$", re.M)


def _role(match: re.Match[str]) -> str:
    name = match.group(2).strip()
    if match.group(1):
        name = name.rsplit(".", 1)[-1]
    return f"`{name}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def to_markdown(text: str) -> str:
    """The docstring ``text`` with Sphinx roles and ``::`` blocks made Markdown."""
    lines = ROLE.sub(_role, text).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.rstrip().endswith("::"):
            out.append(line)
            continue
        head = line.rstrip()[:-2].rstrip()
        margin = " " * _indent(line)
        if head.strip():
            out.append(head + ":")
        block: list[str] = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(margin)):
            block.append(lines[i])
            i += 1
        trailing = 0
        while block and not block[-1].strip():
            block.pop()
            trailing += 1
        if not block:  # a "::" with nothing under it: just the colon
            out.extend([""] * trailing)
            continue
        code = textwrap.dedent("\n".join(block)).strip("\n")
        language = "toml" if TOML_TABLE.match(code) else "python"
        out += ["", margin + "```" + language]
        out += [margin + row if row else "" for row in code.split("\n")]
        out += [margin + "```"] + [""] * trailing
    return "\n".join(out)


class RstDocstrings(Extension):  # type: ignore[misc,valid-type]
    """Rewrite every docstring with :func:`to_markdown` once the tree is loaded."""

    def on_object(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        # The top-level package is not among the objects on_object sees.
        self.on_object(obj=pkg)
