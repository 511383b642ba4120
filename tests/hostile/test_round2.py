"""The second hostile round (issue 19), library side: nothing lost, nothing mixed up.

Each test names its item of the issue; the command-line items are in
``tests/cli/test_round2.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import attrs
import pytest

import common
from common.provider import Registry

from .conftest import SECRET, RawServer, respond

pytestmark = pytest.mark.anyio


# -- item 1: a CancelledError that is not the caller's own ----------------------------------


async def _raises(key: int) -> int:
    if key == 5:
        raise asyncio.CancelledError()
    await anyio.lowlevel.checkpoint()
    return key


async def _awaits_a_cancelled_future(key: int) -> int:
    if key == 5:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.cancel()  # someone else gave up on it
        return await future
    await anyio.lowlevel.checkpoint()
    return key


async def _awaits_a_task_cancelled_elsewhere(key: int) -> int:
    if key == 5:
        task = asyncio.ensure_future(asyncio.sleep(10, key))
        asyncio.get_running_loop().call_soon(task.cancel)  # not by this caller
        return await task
    await asyncio.sleep(0.01)
    return key


@pytest.mark.parametrize(
    "fn", [_raises, _awaits_a_cancelled_future, _awaits_a_task_cancelled_elsewhere]
)
async def test_item1_fetch_many_gives_every_key_a_result_despite_a_foreign_cancellation(
    fn: Callable[[int], Awaitable[int]],
) -> None:
    with anyio.fail_after(10):
        results = {r.key: r async for r in common.fetch_many(fn, range(10), concurrency=3)}
    assert sorted(results) == list(range(10))
    assert all(results[k].value == k for k in range(10) if k != 5)
    error = results[5].error
    assert isinstance(error, common.CancelledElsewhereError)
    assert isinstance(error, common.APIError)
    assert "cancelled" in str(error) and "not by this caller" in str(error)
    assert isinstance(error.__cause__, asyncio.CancelledError)


async def test_item1_the_callers_own_cancellation_still_ends_fetch_many_and_propagates() -> None:
    seen: list[int] = []

    async def slow(key: int) -> int:
        await asyncio.sleep(10)
        return key

    async def consume() -> None:
        async for result in common.fetch_many(slow, range(10), concurrency=3):
            seen.append(result.key)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == []
    with anyio.move_on_after(0.1) as scope:  # the outer scope's own cancellation also propagates
        await consume()
    assert scope.cancelled_caught


class _Source:
    """An in-memory EventSource whose listing meets a foreign CancelledError after ``cut``."""

    def __init__(self, provider: str, count: int, cut: int | None = None) -> None:
        self.provider = provider
        self.count = count
        self.cut = cut

    async def iter_events(
        self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> AsyncIterator[common.Event]:
        for i in range(self.count):
            if i == self.cut:
                future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                future.cancel()
                await future
            await anyio.lowlevel.checkpoint()
            yield common.Event(
                provider=self.provider,  # type: ignore[arg-type]
                id=f"{self.provider}-{i}",
                name=str(i),
                start_date=dt.date(2026, 1, 1),
            )

    async def get_event(self, event_id: str) -> common.Event:
        raise NotImplementedError

    async def list_participants(self, event_id: str) -> list[common.Participant]:
        raise NotImplementedError


async def test_item1_merge_events_raises_when_a_source_meets_a_foreign_cancellation() -> None:
    got: list[common.Event] = []

    async def consume() -> None:
        async for event in common.merge_events(
            _Source("intervals", 170), _Source("ridewithgps", 30, cut=20)
        ):
            got.append(event)

    with anyio.fail_after(10), pytest.raises(common.CancelledElsewhereError, match="ridewithgps"):
        await consume()
    assert len(got) < 200  # the stream did not end normally with events missing


# -- items 3 and 6: plug-ins that fail to load, or take a name that is not theirs -----------


def _install(where: Path, dist: str, entries: dict[str, str], modules: dict[str, str]) -> None:
    """What ``pip install <dist>`` leaves behind: its modules and a dist-info naming them."""
    info = where / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[eventsync.providers]\n{lines}")
    for module, text in modules.items():
        (where / f"{module}.py").write_text(text)


#: A plug-in module whose PLUGIN is a working copy of Intervals under another name.
def _copy_of_intervals(name: str, aliases: tuple[str, ...] = ()) -> str:
    return (
        "import attrs\n"
        "from intervals_async._provider import PLUGIN as _BUILT_IN\n"
        f"PLUGIN = attrs.evolve(_BUILT_IN, name={name!r}, title='Copy', aliases={aliases!r})\n"
    )


def test_item3_a_plugin_raising_systemexit_at_import_is_broken_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(
        tmp_path,
        "exiting-provider",
        {"exiting": "exiting_plugin:PLUGIN", "interrupting": "generator_plugin:PLUGIN"},
        {
            "exiting_plugin": "raise SystemExit(0)\n",
            "generator_plugin": "raise GeneratorExit()\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry.discover()
    assert [p.name for p in registry] == ["intervals", "ridewithgps"]
    broken = dict(registry.broken)
    assert "SystemExit" in broken["exiting"] and "exiting-provider" in broken["exiting"]
    assert "GeneratorExit" in broken["interrupting"]


def test_item3_ctrl_c_while_loading_a_plugin_is_still_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(tmp_path, "ctrlc-provider", {"ctrlc": "ctrlc_plugin:PLUGIN"}, {
        "ctrlc_plugin": "raise KeyboardInterrupt\n"
    })  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        Registry.discover()


def test_item6_all_is_refused_as_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(
        tmp_path,
        "greedy-provider",
        {"all": "greedy_all:PLUGIN", "greedy": "greedy_alias:PLUGIN"},
        {
            "greedy_all": _copy_of_intervals("all"),
            "greedy_alias": _copy_of_intervals("greedy", aliases=("all",)),
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry.discover()
    assert [p.name for p in registry] == ["intervals", "ridewithgps"]
    broken = dict(registry.broken)
    assert "reserved" in broken["all"] and "reserved" in broken["greedy"]
    with pytest.raises(ValueError, match="reserved"):
        Registry().add(attrs.evolve(registry.get("intervals"), name="all"))


def test_item6_a_clash_keeps_the_built_in_and_names_the_other_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "aaa" sorts before "intervals": load order by name alone would let it in first.
    _install(
        tmp_path,
        "impostor-provider",
        {"intervals": "impostor_one:PLUGIN", "aaa": "impostor_two:PLUGIN"},
        {
            "impostor_one": "raise RuntimeError('must not even be imported')\n",
            "impostor_two": _copy_of_intervals("intervals"),
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry.discover()
    from intervals_async._provider import PLUGIN as BUILT_IN

    assert registry.get("intervals") is BUILT_IN
    broken = dict(registry.broken)
    assert "must not even be imported" not in broken["intervals"]
    for name in ("intervals", "aaa"):
        assert "impostor-provider" in broken[name]
        assert "already registered" in broken[name] or "taken" in broken[name]


# -- item 5: hidden is not none -------------------------------------------------------------


async def test_item5_participants_hidden_are_none_and_an_empty_list_is_empty() -> None:
    from ridewithgps_async import RideWithGPSClient, RideWithGPSSource
    from ridewithgps_async.testing import FakeRideWithGPS

    async with (
        FakeRideWithGPS(validate=False) as server,
        RideWithGPSClient(access_token=server.access_token, base_url=server.url) as client,
    ):
        source = RideWithGPSSource(client)
        mine = await client.create_event(name="nobody yet", start_date=dt.date(2026, 7, 1))
        empty = await source.get_event(str(mine.id))
        hidden = await source.get_event("101")  # an organization's event: not the caller's
        assert empty.participants == ()
        assert hidden.participants is None
        with pytest.raises(common.PermissionDeniedError, match="only to its owner"):
            await source.list_participants("101")
        assert await source.list_participants(str(mine.id)) == []

        class Fixed(_Source):
            async def iter_events(
                self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
            ) -> AsyncIterator[common.Event]:
                for event in (empty, hidden):
                    yield event

        merged = {e.id: e async for e in common.merge_events(Fixed("ridewithgps", 0))}
        assert merged[empty.id].participants == () and merged["101"].participants is None


# -- item 7: DecodeError.attempts counts the attempt that was made ---------------------------


async def test_item7_a_decode_error_counts_its_attempts(raw: RawServer) -> None:
    from intervals_async import IntervalsClient

    async with IntervalsClient(api_key=SECRET, base_url=raw.url, max_retries=2) as client:
        raw.answer(respond(200, raw=b"not json"))
        with pytest.raises(common.DecodeError) as one:
            await client.get_organization()
        assert one.value.attempts == 1
        raw.requests.clear()
        raw.answer(respond(500, {"error": "busy"}), respond(200, {"unexpected": []}))
        with pytest.raises(common.DecodeError) as two:
            await client.get_organization()
        assert len(raw.requests) == 2 and two.value.attempts == 2
        assert "after 2 attempts" in str(two.value)
    async with common.provider.Transport(raw.url, max_response_bytes=10) as transport:
        raw.answer(respond(200, raw=b'{"name": "far too long for the limit"}'))
        with pytest.raises(common.DecodeError, match="limit") as big:
            await transport.request("GET", "/big")
        assert big.value.attempts == 1


# -- item 10: a client used from a second event loop -----------------------------------------


@pytest.fixture
def intervals_url() -> Iterator[str]:
    from intervals_async.testing import FakeIntervals

    from ..cli.conftest import Servers

    fake = FakeIntervals(validate=False, events=5)
    with Servers(fake):
        yield fake.url


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # the first loop's session is leaked
def test_item10_a_client_moved_to_a_second_event_loop_says_why(intervals_url: str) -> None:
    def use_in_two_loops() -> str:
        from intervals_async import IntervalsClient

        client = IntervalsClient(api_key="test-key", base_url=intervals_url, timeout=5)
        assert asyncio.run(client.get_organization())
        try:
            asyncio.run(client.get_organization())  # today: RuntimeError: Event loop is closed
        except common.InvalidRequestError as exc:
            return str(exc)
        raise AssertionError("a client in a second event loop went unnoticed")

    said = use_in_two_loops()
    assert "another event loop" in said and "asyncio.run" in said
    gc.collect()  # the session the first loop left open is collected here, warning ignored


def test_item10_the_first_loop_can_still_close_it(intervals_url: str) -> None:
    from intervals_async import IntervalsClient

    client = IntervalsClient(api_key="test-key", base_url=intervals_url, timeout=5)
    first = asyncio.new_event_loop()
    try:
        assert first.run_until_complete(client.get_organization())
        with pytest.raises(common.InvalidRequestError, match="another event loop"):
            asyncio.run(client.get_organization())
        assert first.run_until_complete(client.get_organization())  # its own loop: fine
        first.run_until_complete(client.aclose())
    finally:
        first.close()
