"""What holds today and must keep holding (issue 12, "keep what holds"): cheap guards."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

import common

from .conftest import AUTH_FORMS, Action, RawServer, Seen, respond

pytestmark = pytest.mark.anyio


def _drip(seconds: float) -> Action:
    async def action(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.05)
        return False

    return action


async def test_a_dripped_body_is_bounded_by_the_attempt_timeout(raw: RawServer) -> None:
    raw.answer(_drip(5))
    async with AUTH_FORMS["oauth-bearer"](raw.url, timeout=0.4, max_retries=0) as rw:
        started = time.monotonic()
        with pytest.raises(common.APITimeoutError):
            await rw.get_event(1)
    assert time.monotonic() - started < 2


async def test_deeply_nested_json_is_a_decode_error(raw: RawServer) -> None:
    raw.answer(respond(200, raw=b"[" * 100_000 + b"]" * 100_000))
    async with AUTH_FORMS["rwgps-basic"](raw.url) as rw:
        with pytest.raises(common.DecodeError):
            await rw.get_event(1)


async def test_a_model_mismatch_names_the_json_path(raw: RawServer) -> None:
    raw.answer(respond(200, {"event": {"id": 1, "name": ["not", "text"]}}))
    async with AUTH_FORMS["rwgps-basic"](raw.url) as rw:
        with pytest.raises(common.DecodeError, match=r"\$\.event\.name"):
            await rw.get_event(1)


async def test_many_requests_reuse_one_connection_and_keep_fds_flat(raw: RawServer) -> None:
    raw.answer(respond(200, {"data": {"id": "o", "name": "Org"}}))
    async with AUTH_FORMS["intervals-bearer"](raw.url) as client:
        await client.transport.request("GET", "/organization")
        fds = _open_fds()
        for _ in range(500):
            await client.transport.request("GET", "/organization")
        after = _open_fds()
    assert raw.connections == 1
    assert after <= fds + 2


def _open_fds() -> int:
    """Open file descriptors of this process (0 where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0
