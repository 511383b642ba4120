"""The contender a user would generate: openapi-python-client run on the Intervals spec.

The client is generated at benchmark time into a temporary folder (never committed) and
imported from there through ``sys.path``; the folder lives as long as the ``with`` block.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.resources
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

__all__ = ["GeneratedClient", "generated_client"]

_PACKAGE = "intervals_generated"


class GeneratedClient:
    """The generated package's modules that the benchmarks use."""

    def __init__(self, package: ModuleType) -> None:
        def load(name: str) -> ModuleType:
            return importlib.import_module(f"{package.__name__}.{name}")

        self.package = package
        self.AuthenticatedClient: type = package.AuthenticatedClient
        self.get_event = load("api.events.get_event")
        self.list_events = load("api.events.list_events")
        self.list_registrations = load("api.registration.list_registrations")
        models = load("models")
        self.EventList: type = models.ListEventsResponse200
        self.RegistrationList: type = models.ListRegistrationsResponse200
        self.EventDetail: type = models.GetEventResponse200


def _generator_command() -> list[str]:
    script = Path(sys.executable).with_name("openapi-python-client")
    if script.exists():
        return [str(script)]
    found = shutil.which("openapi-python-client")
    if found is not None:
        return [found]
    return [sys.executable, "-m", "openapi_python_client"]


@contextlib.contextmanager
def generated_client() -> Iterator[GeneratedClient]:
    """Generate the client from ``intervals_async/openapi.json``; yield its modules."""
    spec = importlib.resources.files("intervals_async").joinpath("openapi.json")
    with tempfile.TemporaryDirectory(prefix="bench-generated-") as folder:
        root = Path(folder)
        spec_path = root / "openapi.json"
        spec_path.write_bytes(spec.read_bytes())
        config = root / "config.json"
        # no post hooks: they run ruff from PATH, which is not what we measure
        config.write_text(json.dumps({"post_hooks": []}))
        output = root / _PACKAGE
        command = [
            *_generator_command(),
            "generate",
            "--path",
            str(spec_path),
            "--output-path",
            str(output),
            "--meta",
            "none",
            "--config",
            str(config),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode or not (output / "__init__.py").exists():
            raise RuntimeError(
                f"openapi-python-client failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        sys.path.insert(0, str(root))
        try:
            importlib.invalidate_caches()
            yield GeneratedClient(importlib.import_module(_PACKAGE))
        finally:
            sys.path.remove(str(root))
            for name in [m for m in sys.modules if m.split(".")[0] == _PACKAGE]:
                del sys.modules[name]
