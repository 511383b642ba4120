"""A page of a paginated listing, and the bookkeeping of paginating iterators."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import attrs

from ._errors import APIError

__all__ = ["Page", "resume_from"]

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page: its ``items``, the listing's ``total`` if known, and the ``next_page`` number.

    ``next_page`` is None on the last page.
    """

    items: list[T]
    total: int | None = None
    next_page: int | None = None


@contextmanager
def resume_from(page: int | str | None) -> Iterator[None]:
    """Tag any library error raised inside with the page to resume from.

    Each page request is retried on its own by the transport; only when it
    gives up does the error leave the iterator, naming where to pick up.
    """
    try:
        yield
    except APIError as exc:
        if exc.resume_page is None:
            exc.resume_page = page
        raise
