"""The virtual clock of the test kit."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from common.testing import VirtualEventLoop, run_virtual


def test_the_virtual_clock_jumps_to_the_next_timer() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        start, wall = loop.time(), loop.wall_time()
        with anyio.move_on_after(3600):
            await anyio.sleep(7200)
        await asyncio.sleep(0.25)
        return loop.time() - start, loop.wall_time() - wall

    assert run_virtual(main) == (3600.25, 3600.25)


def test_a_deadlock_is_reported_not_waited_for_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("common.testing._virtual.IDLE_LIMIT", 0.01)

    async def main() -> None:
        await asyncio.Event().wait()

    with pytest.raises(RuntimeError, match="deadlock"):
        run_virtual(main)
