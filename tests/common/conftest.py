"""A scriptable loopback HTTP server (the shared fake machinery's ScriptedServer) for testing
the core over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from common.testing import ScriptedServer
from common.testing import ScriptHandler as Handler

__all__ = ["Handler", "ScriptedServer", "json_reply", "raw_reply"]


def json_reply(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status, headers=headers)

    return handler


def raw_reply(
    body: bytes,
    status: int = 200,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, content_type=content_type, headers=headers)

    return handler


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as started:
        yield started
