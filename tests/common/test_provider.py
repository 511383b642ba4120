"""The provider registry: built-ins found by entry point, the core never importing a provider."""

from __future__ import annotations

from pathlib import Path

import pytest

import common
from common.provider import ENTRY_POINT_GROUP, ProviderPlugin, Registry, SourceOptions


def test_the_built_ins_are_found_by_their_entry_points() -> None:
    registry = Registry.discover()
    assert registry.broken == []
    assert [p.name for p in registry] == ["intervals", "ridewithgps"]
    assert {p.name for p in registry} == {p.value for p in common.Provider}
    assert registry.get("rwgps") is registry.get("ridewithgps")
    for plugin in registry:
        assert plugin.environment and plugin.fake is not None
        assert all(v.name.isupper() and v.help for v in plugin.environment)


def test_names_are_unique_and_unknown_names_say_what_is_installed() -> None:
    registry = Registry.discover()
    plugin = registry.get("intervals")
    with pytest.raises(ValueError, match="already registered"):
        registry.add(plugin)
    with pytest.raises(LookupError, match="installed: intervals, ridewithgps"):
        registry.get("strava")
    assert len(Registry([plugin])) == 1


def test_a_broken_entry_point_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "broken_provider-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-provider\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nbroken = no_such_module:PLUGIN\nnotaplugin = json:dumps\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry.discover()
    assert [p.name for p in registry] == ["intervals", "ridewithgps"]
    assert sorted(name for name, _ in registry.broken) == ["broken", "notaplugin"]
    assert "ModuleNotFoundError" in dict(registry.broken)["broken"]
    assert "not a common.provider.ProviderPlugin" in dict(registry.broken)["notaplugin"]


def test_client_options_pass_only_what_is_set() -> None:
    assert SourceOptions().keywords() == {}
    options = SourceOptions(rate_limit=2.0, rate_store="redis://127.0.0.1:6379/0")
    assert options.keywords() == {"rate_limit": 2.0, "rate_store": "redis://127.0.0.1:6379/0"}


@pytest.mark.anyio
async def test_a_plugin_without_a_fake_says_so() -> None:
    plugin = ProviderPlugin(
        name="x", title="X", client=lambda o: None, source=lambda c: c, credentials="X_KEY"
    )
    with pytest.raises(common.InvalidRequestError, match="ships no fake"):
        async with plugin.open_fake_source():
            pass
