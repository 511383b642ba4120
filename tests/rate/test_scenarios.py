"""Loopback smoke scenarios: the rate control over real HTTP, with generous bounds.

Efficiency and refusal figures are asserted on the simulator's virtual clock
(``test_simulator.py``), where the machine's load cannot move them; real sockets keep
only what a loaded machine cannot break: every key fetched, a right limit never
refused, an unknown one learned, no limit no wait. The full figures are benchmarks
(``python3 tasks.py bench``, figure 7).
"""

from __future__ import annotations

import pytest

from benchmarks.rate import bulk, limited_fake

pytestmark = pytest.mark.anyio

KEYS = 80


async def test_a_right_rate_limit_is_never_refused() -> None:
    async with limited_fake(40, 40, "header") as fake:
        result = await bulk(fake.url, list(fake.db.events)[:KEYS], 50, rate_limit=40)
    assert result.failed == 0 and result.refused <= 1


@pytest.mark.parametrize("style", ["header", "body-rounded"])
async def test_an_unknown_limit_is_learned(style: str) -> None:
    async with limited_fake(40, 40, style) as fake:
        result = await bulk(fake.url, list(fake.db.events)[:KEYS], 50)
    assert result.failed == 0
    # Ideal 2 s. The rounded body wait pinned the pace at 1/s: 80 s.
    assert result.seconds < 20.0 and result.refused_share <= 0.5


async def test_no_limit_means_no_pacing() -> None:
    async with limited_fake(None) as fake:
        result = await bulk(fake.url, list(fake.db.events)[:KEYS], 50)
    assert result.failed == 0 and result.refused == 0 and result.seconds < 5.0
