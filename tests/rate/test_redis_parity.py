"""rate.lua and the Python rules answer alike: the same random story told to a
:class:`MemoryStore` and to a :class:`RedisRateStore` on a real ``redis-server``
(the script takes ``now`` as an argument here) gives the same turns, the same
report answers and the same stored budget, float for float."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.ratelimit import MemoryStore, RateStore, Report, Turn, _local, _store
from common.ratelimit._redis import KEY_TTL, RedisRateStore

from .conftest import RedisServer, free_port, redis_binary


@pytest.fixture(scope="module")
def redis_module_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(redis_binary(), free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


RATES = st.sampled_from([None, 0.5, 4.0, 40.0, 1000.0])
WAITS = st.sampled_from([0.0, 0.01, 0.25, 1.0, 2.0, 30.0, 1e9])

acquire = st.tuples(
    st.just("acquire"),
    RATES,
    st.integers(1, 40),  # burst
    st.sampled_from([0.0, 0.5, 30.0]),  # lease
    st.sampled_from([0.0, 1.0, 60.0]),  # max_wait
    st.sampled_from([0.0, 0.0, 2.5]),  # seed
)
#: Which turn: mostly one of the last three (a refusal after the episode began starts
#: the next one), else any (a refusal from before it joins it).
WHICH = st.one_of(st.integers(0, 2), st.integers(0, 2), st.integers(3, 50))
release = st.tuples(st.just("release"), WHICH, st.booleans())
report = st.tuples(
    st.just("report"),
    WHICH,
    RATES,
    st.sampled_from(["accepted", "accepted", "accepted", "no_answer", "refused", "refused"]),
    WAITS,  # the server's wait
    st.sampled_from([0.0, 1.0, 60.0]),  # the cap (max_retry_wait)
    st.booleans(),  # precise
)
step = st.tuples(st.just("step"), st.sampled_from([0.0, 0.001, 0.02, 0.3, 1.0, 2.5, 40.0]))
#: n requests taken and accepted in a row (a count the estimate may come from).
crowd = st.tuples(st.just("crowd"), st.integers(1, 8), RATES)
EVENTS = st.lists(
    st.one_of(acquire, acquire, release, report, report, crowd, step, step),
    min_size=10,
    max_size=60,
)


def pick(turns: list[Turn], which: int) -> Turn:
    return turns[-1 - which] if which < min(3, len(turns)) else turns[which % len(turns)]


async def tell(store: RateStore, key: str, events: list[tuple[Any, ...]]) -> list[object]:
    """Tell ``store`` the story; what it answered, and its budget at the end."""
    now, turns, answers = 1000.0, list[Turn](), list[object]()
    for event in events:
        if event[0] == "step":
            now += event[1]
        elif event[0] == "acquire":
            _, rate, burst, lease, max_wait, seed = event
            turn = await store.acquire(
                key,
                rate_limit=rate,
                burst=burst,
                lease=lease,
                max_wait=max_wait,
                seed=seed,
                now=now,
            )
            answers.append(turn)
            if turn.kind == "go":
                turns.append(turn)
        elif event[0] == "crowd":
            _, count, rate = event
            for _ in range(count):
                turn = await store.acquire(
                    key, rate_limit=rate, burst=1, lease=1.0, max_wait=60.0, now=now
                )
                answers.append(turn)
                if turn.kind == "go":
                    turns.append(turn)
                    answers.append(
                        await store.report(
                            key,
                            Report.accepted(),
                            rate_limit=rate,
                            sent_at=turn.sent_at,
                            probe=turn.probe,
                            now=now,
                        )
                    )
        elif turns and event[0] == "release":
            turn = pick(turns, event[1])
            await store.release(
                key,
                interval=turn.interval if event[2] else 0.0,
                episode=turn.episode,
                probe=turn.probe,
                now=now,
            )
        elif turns and event[0] == "report":
            _, which, rate, kind, wait, cap, precise = event
            turn = pick(turns, which)
            if kind == "refused":
                outcome = Report.refused_for(min(wait, cap), wait, precise=precise)
            else:
                outcome = getattr(Report, kind)()
            answers.append(
                await store.report(
                    key, outcome, rate_limit=rate, sent_at=turn.sent_at, probe=turn.probe, now=now
                )
            )
    answers.append(await store.read(key))
    return answers


def told_both(
    url: str, story: list[tuple[Any, ...]], *, debug: bool | None = None
) -> tuple[list[object], list[object]]:
    """The story told to a :class:`MemoryStore` and to ``rate.lua`` on the Redis at
    ``url`` (a key of its own): what each answered, and its budget at the end."""

    async def both() -> tuple[list[object], list[object]]:
        key = uuid.uuid4().hex
        memory = await tell(MemoryStore(), key, story)
        redis = RedisRateStore(url)
        try:
            return memory, await tell(redis, key, story)
        finally:
            await redis.aclose()

    options = {} if debug is None else {"debug": debug}
    return anyio.run(both, backend_options=options)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=EVENTS)
def test_the_lua_script_and_the_python_rules_answer_alike(
    redis_module_url: str, events: list[tuple[Any, ...]]
) -> None:
    # asyncio's debug mode (on under PYTHONDEVMODE) off, as the simulator has it: it
    # records a stack per callback, half of these 200 stories' time (the answers compared
    # are the same; nothing here runs in another thread for its checks to catch).
    memory, redis = told_both(redis_module_url, events, debug=False)
    assert redis == memory


def test_a_refusal_sent_as_the_episode_began_is_part_of_it_in_both(redis_module_url: str) -> None:
    """Two requests sent at once, refused at the same time with no usable wait: one
    episode in the script as in Python (``sent_at`` equal to the episode's start)."""
    story: list[tuple[Any, ...]] = [
        ("crowd", 4, None),
        ("acquire", None, 1, 1.0, 60.0, 0.0),
        ("acquire", None, 1, 1.0, 60.0, 0.0),
        ("report", 0, None, "refused", 0.0, 0.0, False),
        ("report", 1, None, "refused", 0.0, 0.0, False),
    ]

    memory, redis = told_both(redis_module_url, story)
    assert redis == memory
    assert [a for a in memory if a in ("new", "same")] == ["new", "same"]


def test_a_probe_that_finds_the_same_limit_again_holds_the_next_one_back_in_both(
    redis_module_url: str,
) -> None:
    """Refused again and again probing beyond a measured estimate (whole-second waits):
    a new estimate out of HOLD_GAIN of the old one holds nothing, one within it holds the
    next probe back HOLD_AFTER x the cool-down, then twice that; a refusal within the hold
    keeps it. In the script as in Python."""
    refused = ("report", 0, None, "refused", 1.0, 60.0, False)

    def probe(after: float, crowd: int) -> list[tuple[Any, ...]]:
        return [
            ("step", after),
            ("crowd", crowd, None),
            ("acquire", None, 1, 1.0, 60.0, 0.0),
            refused,
        ]

    story: list[tuple[Any, ...]] = [
        ("crowd", 4, None),
        ("acquire", None, 1, 1.0, 60.0, 0.0),
        refused,  # a first guess
        ("step", 1.5),
        ("crowd", 8, None),
        ("acquire", None, 1, 1.0, 60.0, 0.0),
        refused,  # measured: 3.2/s
        *probe(2.5, 8),  # beyond CLIMB, 2.3/s: out of HOLD_GAIN, no hold
        *probe(4.5, 12),  # 2.2/s: held HOLD_AFTER s
        *probe(4.5, 12),  # beyond CLIMB + that, 2.1/s: held twice as long
        *probe(4.5, 12),  # within the hold (at the floor): kept as it is
    ]

    memory, redis = told_both(redis_module_url, story)
    assert redis == memory
    budget = memory[-1]
    assert isinstance(budget, _store.Budget)
    assert budget.state.hold == 2 * _local.HOLD_AFTER * 1.0


def test_the_script_ships_in_the_package_and_shares_the_python_constants() -> None:
    script = resources.files("common.ratelimit").joinpath("rate.lua").read_text()
    values: dict[str, float] = {}
    for names, numbers in re.findall(r"^local ([A-Z_, ]+) = ([-0-9., ]+)$", script, re.M):
        for name, number in zip(names.split(","), numbers.split(","), strict=True):
            values[name.strip()] = float(number)
    expected = {
        name: float(value)
        for name, value in vars(_local).items()
        if name.isupper() and isinstance(value, (int, float))
    }
    expected |= {name: float(getattr(_store, name)) for name in ("MAX_LEASE", "SKEW")}
    expected |= {"QUEUE_LIMIT": _store.QUEUE_LIMIT, "KEY_TTL": KEY_TTL}
    expected.pop("FIRST_ROUND_WAIT")  # the limiter's, not the store's
    assert values == expected
    assert Path(str(resources.files("common.ratelimit"))).joinpath("rate.lua").is_file()
