"""provider.paginate: de-duplication, the progress guard, warnings and resume tags (no I/O)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import common
from common import provider

pytestmark = pytest.mark.anyio


async def run(
    pages: Callable[[int], provider.Chunk[str, int]], *, patience: int = 1
) -> tuple[list[str], list[int]]:
    asked: list[int] = []

    async def fetch(page: int) -> provider.Chunk[str, int]:
        asked.append(page)
        assert len(asked) < 1000, "the guard did not stop the listing"
        return pages(page)

    items = provider.paginate(
        fetch, 1, key=str.lower, where=lambda page: page, what="GET /x", patience=patience
    )
    return [item async for item in items], asked


async def test_every_item_once_until_the_last_page() -> None:
    data = {1: ["a", "b"], 2: ["B", "c"], 3: ["d"]}
    items, asked = await run(lambda n: provider.Chunk(data[n], n + 1 if n < 3 else None))
    assert items == ["a", "b", "c", "d"]  # "B" is "b" by key
    assert asked == [1, 2, 3]


async def test_a_repeated_cursor_stops_at_once() -> None:
    data = {1: ["a"], 2: ["b"]}
    with pytest.warns(common.TruncationWarning, match=r"page 2 sent a cursor already followed"):
        items, asked = await run(lambda n: provider.Chunk(data[n], 2 if n == 1 else 1))
    assert (items, asked) == (["a", "b"], [1, 2])


@pytest.mark.parametrize("patience", [1, 3])
async def test_pages_of_nothing_new_stop_after_patience(patience: int) -> None:
    with pytest.warns(common.TruncationWarning, match="brought nothing new"):
        items, asked = await run(lambda n: provider.Chunk(["a"], n + 1), patience=patience)
    assert items == ["a"]
    assert len(asked) == 1 + patience


async def test_endless_empty_pages_stop_too() -> None:
    with pytest.warns(common.TruncationWarning):
        items, asked = await run(lambda n: provider.Chunk([], n + 1), patience=2)
    assert (items, len(asked)) == ([], 2)


async def test_progress_resets_the_count() -> None:
    # new, old, new, old, ...: never two stalls in a row, so patience 2 lets it run
    def pages(n: int) -> provider.Chunk[str, int]:
        return provider.Chunk([f"i{n}" if n % 2 else "i1"], n + 1 if n < 9 else None)

    items, asked = await run(pages, patience=2)
    assert items == ["i1", "i3", "i5", "i7", "i9"]
    assert len(asked) == 9


async def test_a_chunk_warning_is_emitted_and_the_listing_goes_on() -> None:
    def pages(n: int) -> provider.Chunk[str, int]:
        return provider.Chunk([f"i{n}"], n + 1 if n < 2 else None, "day 1 is cut short")

    with pytest.warns(common.TruncationWarning, match="day 1 is cut short"):
        items, _ = await run(pages)
    assert items == ["i1", "i2"]


async def test_a_failure_names_the_page_to_resume_from() -> None:
    def pages(n: int) -> provider.Chunk[str, int]:
        if n == 2:
            raise common.ServerError("down", status_code=503)
        return provider.Chunk(["a"], 2)

    with pytest.raises(common.ServerError) as caught:
        await run(pages)
    assert caught.value.resume_page == 2
