"""Shared fixtures: the anyio backend (asyncio: aiohttp needs it)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
