"""Make hypothesis-jsonschema's object strategy work with current Hypothesis.

hypothesis-jsonschema 0.23.1 (the newest release) drives Hypothesis' private
``many`` helper through its old ``more()`` method, which newer Hypothesis
replaced by a context manager iterated with ``for``: every object schema then
fails with ``AttributeError: 'many' object has no attribute 'more'``. This
adapter offers the old interface on top of the new one.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any

import hypothesis_jsonschema._from_schema as from_schema_module
import pytest
from hypothesis.internal.conjecture import utils as conjecture_utils

__all__ = ["legacy_many_patched"]


class _LegacyMany:
    """``more()``/``reject()`` over the new ``with many(...) as e: for _ in e:`` form."""

    def __init__(self, data: Any, **sizes: Any) -> None:
        self._many = conjecture_utils.many(data, **sizes)
        self._many.__enter__()
        self._elements: Iterator[None] = iter(self._many)

    def more(self) -> bool:
        try:
            next(self._elements)
        except StopIteration:
            self._many.__exit__(None, None, None)
            return False
        return True

    def reject(self, why: str | None = None) -> None:
        self._many.reject(why)


@contextlib.contextmanager
def legacy_many_patched() -> Iterator[None]:
    """Within the block, hypothesis-jsonschema uses :class:`_LegacyMany` (if it needs to)."""
    if hasattr(conjecture_utils.many, "more"):
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(from_schema_module, "cu", types.SimpleNamespace(many=_LegacyMany))
        yield
