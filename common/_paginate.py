"""One paginator for every listing: de-duplication, a progress guard, truncation warnings.

A provider describes one request of its listing as ``fetch(cursor) -> Chunk`` (the
items, the next cursor or None, and optionally a warning that part of the listing
cannot be had); :func:`paginate` does the rest, the same way for cursors
(Intervals ``after``), page numbers (RideWithGPS) and date windows:

* each item is yielded once (by ``key``), as its page arrives;
* a request that finally fails names where to resume (``exc.resume_page``);
* **no endless loop**: a server that hands back a cursor already asked for, or
  ``patience`` requests in a row whose items (those filtered out too) were all seen before,
  ends the
  listing with a :class:`TruncationWarning` (the items so far are right, the rest
  cannot be had), after a bounded number of requests.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

import attrs

from ._errors import TruncationWarning, warn
from ._page import resume_from

__all__ = ["Chunk", "paginate"]

T = TypeVar("T")
C = TypeVar("C", bound=Hashable)


@attrs.frozen
class Chunk(Generic[T, C]):
    """What one request of a listing brought.

    ``next`` is the cursor of the following request (None: the listing ends
    here); ``warning`` says that part of the listing cannot be had (emitted as a
    :class:`TruncationWarning`; the listing goes on with ``next``). ``whole``: the
    request read its part of the listing whole (a date window short of a full
    page), so nothing new from it is no stall: a sub-window may re-read, all of it,
    what its parent brought. ``filtered``: what the server sent that the listing does
    not yield (a filter the server ignored, kept to here): never yielded, but new ones
    are progress (a server paging through other series' events is not stalling).
    """

    items: Sequence[T]
    next: C | None = None
    warning: str | None = None
    whole: bool = False
    filtered: Sequence[T] = ()


def _label(where: int | str | None) -> str:
    if where is None:
        return "the first page"
    return f"page {where}" if isinstance(where, int) else where


async def paginate(
    fetch: Callable[[C], Awaitable[Chunk[T, C]]],
    first: C,
    *,
    key: Callable[[T], Hashable],
    where: Callable[[C], int | str | None],
    what: str,
    patience: int = 1,
    shifts: bool = False,
) -> AsyncGenerator[T, None]:
    """Every item of a listing, each once, from ``fetch(first)`` on.

    ``where(cursor)`` names a request for errors (``resume_page``) and warnings
    (None for the first request of a listing: nothing to resume from);
    ``what`` names the listing in warnings (e.g. ``"GET /events"``). ``patience``
    is how many requests in a row may bring nothing new before the listing is
    given up (1 for a cursor or page numbers, where a correct server never does;
    more for strategies such as date windows, whose sub-windows legitimately
    re-read what their parent brought). ``shifts``: the listing is by position (page
    numbers), so an item seen again means it shifted while being read, and as many
    items may have moved past the pages read: one :class:`TruncationWarning` says so.
    """
    seen: set[Hashable] = set()
    asked: set[C] = set()  # one entry per request: bounded by the guard below
    stalls = 0
    cursor = first
    while True:
        asked.add(cursor)
        with resume_from(where(cursor)):
            chunk = await fetch(cursor)
        fresh = 0
        for item in chunk.items:
            identity = key(item)
            if identity not in seen:
                seen.add(identity)
                fresh += 1
                yield item
        following = chunk.next
        progress = fresh
        for item in chunk.filtered:
            identity = key(item)
            if identity not in seen:
                seen.add(identity)
                progress += 1
        # (a page of nothing new with more to come is the stall below, warned about there)
        if shifts and fresh < len(chunk.items) and (fresh or following is None):
            shifts = False  # once per listing
            warn(
                f"{what} at {_label(where(cursor))} brought again an item of an earlier page:"
                " the listing changed while it was read (an item updated meanwhile moves"
                " to a page already read), so some items may be missing; read it again",
                TruncationWarning,
            )
        if chunk.warning is not None:
            warn(chunk.warning, TruncationWarning)
        if following is None:
            return
        stalls = 0 if progress or chunk.whole else stalls + 1  # an empty page is no progress
        if following in asked:
            problem = f"sent a cursor already followed ({_label(where(following))})"
        elif stalls >= patience:
            problem = f"brought nothing new ({stalls} request(s) in a row)"
        else:
            cursor = following
            continue
        warn(
            f"{what} at {_label(where(cursor))} {problem}: the server is not making progress"
            " (the listing changed while paging, or the server ignores the paging"
            " parameters); stopping here, some items may be missing",
            TruncationWarning,
        )
        return
