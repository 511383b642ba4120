"""A raw loopback HTTP/1.1 server that can misbehave as aiohttp's own server cannot.

Each request is read in full (head, then a ``Content-Length`` body), recorded,
and answered by the next action of a script (the last one repeats): well-formed
responses, raw bytes, a connection dropped or reset after the request was read,
a long wait. ``requests`` counts what really reached the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import attrs
import msgspec
import pytest

from intervals_async import IntervalsClient
from ridewithgps_async import RideWithGPSClient

#: An action writes to the connection and says whether to keep it open.
Action = Callable[[asyncio.StreamWriter, "Seen"], Awaitable[bool]]

SECRET = "s3cret-credential-Zq9"
SECRET2 = "s3cret-partner-Wx7"


@attrs.define
class Seen:
    """One request as it reached the server."""

    method: str
    target: str
    headers: dict[str, str]
    head: bytes
    body: bytes


class RawServer:
    """Answers each request with the next action of its script (the last one repeats)."""

    def __init__(self) -> None:
        self.script: list[Action] = [respond(200, {})]
        self.requests: list[Seen] = []
        self.connections = 0
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._first = 0
        #: Set once the first request has been read.
        self.reached = asyncio.Event()

    def answer(self, *actions: Action) -> None:
        """Answer the next requests with these actions, in order (the last one repeats)."""
        self.script = list(actions)
        self._first = len(self.requests)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(method, target, headers, head, body)
                self.requests.append(seen)
                self.reached.set()
                index = min(len(self.requests) - self._first, len(self.script)) - 1
                action = self.script[index]
                if not await action(writer, seen):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @property
    def methods(self) -> list[str]:
        return [seen.method for seen in self.requests]


def _head(status: int, headers: dict[str, str], length: int) -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{k}: {v}" for k, v in {"Content-Length": str(length), **headers}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(
    status: int, body: Any = None, headers: dict[str, str] | None = None, *, raw: bytes = b""
) -> Action:
    """A well-formed response (JSON ``body``, or ``raw`` bytes); the connection stays open."""

    async def action(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        payload = raw or (msgspec.json.encode(body) if body is not None else b"")
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        writer.write(_head(status, hdrs, len(payload)) + payload)
        await writer.drain()
        return True

    return action


def send_raw(data: bytes, *, keep_open: bool = False) -> Action:
    """These bytes, then the connection is closed (unless ``keep_open``)."""

    async def action(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        writer.write(data)
        await writer.drain()
        return keep_open

    return action


def echo(status: int, make: Callable[[str], Any]) -> Action:
    """An error whose body repeats the request's head (headers, credentials and all)."""

    async def action(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        return await respond(status, make(seen.head.decode("latin-1")))(writer, seen)

    return action


async def drop(writer: asyncio.StreamWriter, seen: Seen) -> bool:
    """The request was read (and, say, processed); the connection closes with no answer."""
    return False


async def reset(writer: asyncio.StreamWriter, seen: Seen) -> bool:
    """The request was read; the connection is reset (RST) with no answer."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return False


def hang(seconds: float) -> Action:
    """Answer nothing for a while, then close."""

    async def action(writer: asyncio.StreamWriter, seen: Seen) -> bool:
        await asyncio.sleep(seconds)
        return False

    return action


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    server = RawServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


#: The four auth forms: how to build a client of each, and the secrets it holds.
AUTH_FORMS: dict[str, Callable[..., Any]] = {
    "intervals-bearer": lambda url, **kw: IntervalsClient(api_key=SECRET, base_url=url, **kw),
    "rwgps-basic": lambda url, **kw: RideWithGPSClient(
        api_key=SECRET2, auth_token=SECRET, auth_style="basic", base_url=url, **kw
    ),
    "rwgps-headers": lambda url, **kw: RideWithGPSClient(
        api_key=SECRET2, auth_token=SECRET, auth_style="headers", base_url=url, **kw
    ),
    "oauth-bearer": lambda url, **kw: RideWithGPSClient(access_token=SECRET, base_url=url, **kw),
}


def chain(exc: BaseException) -> Iterator[BaseException]:
    """Every exception reachable from ``exc``: causes, contexts, group members."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack += [e for e in (item.__cause__, item.__context__) if e is not None]
        stack += list(getattr(item, "exceptions", None) or ())
        stack += list(getattr(item, "errors", None) or ())
