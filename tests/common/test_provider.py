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


def test_an_outside_provider_s_warning_names_its_user_s_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `provider.warn` names the first frame outside the library; an outside provider's own
    # layers (here a generator over a helper) were not "the library", so its warnings
    # named its own line instead of the code that iterated it.
    package = tmp_path / "outside_provider_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import common\n"
        "from common import provider\n\n"
        "def _skip(item):\n"
        "    provider.warn(common.SkippedEventWarning(f'left out: {item}'))\n\n"
        "def listing():\n"
        "    for item in ('a', 'b'):\n"
        "        _skip(item)\n"
        "        yield item\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import outside_provider_pkg

    with pytest.warns(common.SkippedEventWarning) as caught:
        items = list(outside_provider_pkg.listing())  # this line
    assert items == ["a", "b"]
    assert {Path(w.filename) for w in caught} == {Path(__file__)}
