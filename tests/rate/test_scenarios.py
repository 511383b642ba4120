"""The scenarios of issue 11 over real loopback HTTP, smaller and with looser bounds than
the benchmark (``python3 tasks.py bench``): every key succeeds, close to the ideal time,
few refusals, and no cost where there is no limit."""

from __future__ import annotations

import pytest

from benchmarks.rate import bulk, limited_fake

pytestmark = pytest.mark.anyio

KEYS = 160


async def run(rps: float | None, burst: int, style: str, **options: object) -> tuple[float, float]:
    async with limited_fake(rps, burst, style) as fake:
        ids = list(fake.db.events)[:KEYS]
        result = await bulk(fake.url, ids, 50, **options)
    assert result.failed == 0
    return (result.efficiency(rps) if rps else result.seconds), result.refused_share


async def test_a_right_rate_limit_is_never_refused() -> None:
    efficiency, refused = await run(40, 40, "header", rate_limit=40)
    assert efficiency >= 0.85 and refused <= 0.01


@pytest.mark.parametrize("style", ["header", "body"])
async def test_an_unknown_limit_is_learned_in_one_episode(style: str) -> None:
    efficiency, refused = await run(40, 40, style)
    # 160 keys at 40/s: ideal 4 s (the bug: ~20x that). The first crowd of 50
    # in flight is refused together (one episode), then few refusals.
    assert efficiency >= 0.6 and refused <= 0.35


async def test_a_small_burst_and_whole_second_waits_still_finish_in_reason() -> None:
    efficiency, refused = await run(100, 10, "header")
    assert efficiency >= 0.1 and refused <= 0.4  # (the bug: 0.01)


async def test_a_rate_limit_set_too_high_is_corrected() -> None:
    efficiency, refused = await run(40, 40, "header", rate_limit=80)
    assert efficiency >= 0.7 and refused <= 0.05


async def test_no_limit_means_no_pacing() -> None:
    seconds, refused = await run(None, 1, "header")
    assert seconds < 2.0 and refused == 0
