"""The transport over real loopback HTTP: retries, waits, cool-down, timeouts, errors, safety."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import Any

import aiohttp
import anyio
import attrs
import pytest
from aiohttp import web

import common
from common import provider
from intervals_async._client import parse_error as intervals_errors
from ridewithgps_async._client import parse_error as ridewithgps_errors

from .conftest import ScriptedServer, json_reply, raw_reply

pytestmark = pytest.mark.anyio

SECRET = "s3cret-token-value"
FAST = common.RetryPolicy(backoff_base=0)


def transport(server: ScriptedServer, **kw: Any) -> provider.Transport:
    kw.setdefault("retry_policy", FAST)
    return provider.Transport(server.url, auth=provider.BearerAuth(SECRET), **kw)


OK = json_reply({"ok": True})


def status(code: int, body: object = None, headers: dict[str, str] | None = None) -> Any:
    return json_reply(
        body if body is not None else {"error": {"code": "X", "message": "m"}},
        status=code,
        headers=headers,
    )


async def drop(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(0.05)
    return web.Response()


async def test_get_retried_on_transient_statuses_then_succeeds(server: ScriptedServer) -> None:
    server.answer(status(500), status(503), OK)
    async with transport(server) as t:
        response = await t.request("GET", "/x")
    assert response.status == 200 and response.body == b'{"ok": true}'
    assert len(server.requests) == 3


async def test_retries_are_counted_and_capped(server: ScriptedServer) -> None:
    server.answer(status(502))
    async with transport(server, max_retries=3) as t:
        with pytest.raises(common.ServerError) as info:
            await t.request("GET", "/x")
    assert len(server.requests) == 4
    assert info.value.attempts == 4
    assert "after 4 attempts" in str(info.value)


async def test_max_retries_zero_means_one_attempt(server: ScriptedServer) -> None:
    server.answer(status(500))
    async with transport(server, max_retries=0) as t:
        with pytest.raises(common.ServerError):
            await t.request("GET", "/x")
    assert len(server.requests) == 1


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422])
async def test_permanent_statuses_are_not_retried(server: ScriptedServer, code: int) -> None:
    server.answer(status(code), OK)
    async with transport(server) as t:
        with pytest.raises(common.APIStatusError) as info:
            await t.request("GET", "/x")
    assert info.value.status_code == code
    assert len(server.requests) == 1


async def test_path_parameters_cannot_escape_their_endpoint(server: ScriptedServer) -> None:
    server.answer(OK)
    async with transport(server) as t:
        await t.request("GET", provider.build_path("/events/{id}", id="../organization"))
        await t.request("GET", provider.build_path("/events/{id}", id="a/../../b?c=d#e"))
    assert server.requests[0].path == "/events/..%2Forganization"
    assert server.requests[1].path == "/events/a%2F..%2F..%2Fb%3Fc%3Dd%23e"


async def test_credentials_never_leak(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.answer(status(401, {"error": {"code": "UNAUTHORIZED", "message": "bad key"}}))
    t = transport(server)
    async with t:
        with pytest.raises(common.AuthenticationError) as info:
            await t.request("GET", "/x")
    assert server.requests[0].headers["Authorization"] == f"Bearer {SECRET}"
    texts = [
        repr(t),
        str(t),
        repr(provider.BearerAuth(SECRET)),
        str(provider.BasicAuth("user", SECRET)),
        repr(provider.HeaderAuth({"x-key": SECRET})),
        str(info.value),
        repr(info.value),
        "".join(traceback.format_exception(info.value)),
        caplog.text,
    ]
    assert caplog.text  # the DEBUG line per attempt was written
    for text in texts:
        assert SECRET not in text


async def test_one_debug_line_per_attempt(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="common")
    server.answer(status(500), OK)
    async with transport(server) as t:
        await t.request("GET", "/things")
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "common._transport" and "->" in r.getMessage()
    ]
    assert len(lines) == 2
    assert lines[0].startswith("GET /things -> 500 (attempt 1")
    assert lines[1].startswith("GET /things -> 200 (attempt 2")


async def test_attempt_timeout_becomes_api_timeout_error(server: ScriptedServer) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return web.json_response({})

    server.answer(slow)
    async with transport(server, timeout=0.2, max_retries=1) as t:
        started = time.monotonic()
        with pytest.raises(common.APITimeoutError) as info:
            await t.request("GET", "/x")
        assert time.monotonic() - started < 2
    assert info.value.attempts == 2
    # The cause is a clean description, not aiohttp's exception (issue 12: its
    # request_info holds the credentials).
    assert info.value.__cause__.type_name.endswith("TimeoutError")  # type: ignore[union-attr]
    assert isinstance(info.value, common.APIConnectionError)


def test_timeouts_are_never_unlimited() -> None:
    t = provider.Transport("https://example.com")
    assert t.timeout == 30.0 and t.deadline == common.DEFAULT_DEADLINE
    with pytest.raises(common.InvalidRequestError):
        provider.Transport("https://example.com", timeout=0)


async def test_connection_refused(free_tcp_port: int) -> None:
    async with provider.Transport(f"http://127.0.0.1:{free_tcp_port}", retry_policy=FAST) as t:
        with pytest.raises(common.APIConnectionError) as info:
            await t.request("GET", "/x")
    assert not isinstance(info.value, common.APITimeoutError)
    assert info.value.attempts == 3
    cause = info.value.__cause__
    assert isinstance(cause, common.ClientErrorCause)
    assert cause.type_name == "aiohttp.client_exceptions.ClientConnectorError"


async def test_write_refused_connection_is_retried(free_tcp_port: int) -> None:
    async with provider.Transport(f"http://127.0.0.1:{free_tcp_port}", retry_policy=FAST) as t:
        with pytest.raises(common.APIConnectionError) as info:
            await t.request("POST", "/x", json={"a": 1})
    assert info.value.attempts == 3  # never reached a server: safe to retry


async def test_write_without_key_is_sent_once_on_5xx_and_drop(server: ScriptedServer) -> None:
    server.answer(status(500), OK)
    async with transport(server) as t:
        with pytest.raises(common.ServerError):
            await t.request("POST", "/x", json={"a": 1})
        assert len(server.requests) == 1
        server.requests.clear()
        server.answer(drop, OK)
        with pytest.raises(common.APIConnectionError):
            await t.request("POST", "/x", json={"a": 1})
        assert len(server.requests) == 1


async def test_write_without_key_is_retried_after_429(server: ScriptedServer) -> None:
    server.answer(status(429, headers={"Retry-After": "0"}), OK)
    async with transport(server) as t:
        await t.request("POST", "/x", json={"a": 1})
    assert len(server.requests) == 2


async def test_write_with_key_is_retried_with_the_same_key(server: ScriptedServer) -> None:
    server.answer(drop, status(503), OK)
    async with transport(server) as t:
        await t.request("POST", "/x", json={"a": 1}, idempotency_key="key-1")
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["key-1"] * 3
    assert server.bodies == [b'{"a":1}'] * 3
    assert server.requests[0].headers["Content-Type"] == "application/json"


async def test_409_is_never_retried(server: ScriptedServer) -> None:
    server.answer(status(409, {"code": "CONFLICT", "message": "Idempotency key already used"}), OK)
    async with transport(server) as t:
        with pytest.raises(common.ConflictError, match="Idempotency key already used"):
            await t.request("POST", "/x", json={}, idempotency_key="k")
    assert len(server.requests) == 1


async def test_error_bodies_of_every_shape(server: ScriptedServer) -> None:
    # each provider's own shapes, through the parser it hands the transport
    async with transport(server, max_retries=0, parse_error=intervals_errors) as t:
        server.answer(
            status(
                404,
                {"error": {"code": "NOT_FOUND", "message": "Event not found"}},
                headers={"x-request-id": "abc-123"},
            )
        )
        with pytest.raises(common.NotFoundError) as info:
            await t.request("GET", "/events/1")
        assert (info.value.code, info.value.message, info.value.request_id) == (
            "NOT_FOUND",
            "Event not found",
            "abc-123",
        )
    async with transport(server, max_retries=0, parse_error=ridewithgps_errors) as t:
        for body in ({"error": "Nope"}, {"errors": ["Nope"]}, {"message": "Nope"}):
            server.answer(status(403, body))
            with pytest.raises(common.PermissionDeniedError) as denied:
                await t.request("GET", "/x")
            assert denied.value.message == "Nope"
        server.answer(raw_reply(b"<html>Bad gateway</html>", 502, "text/html"))
        with pytest.raises(common.ServerError) as bad:
            await t.request("GET", "/x")
        assert bad.value.message == "Bad Gateway"


async def test_redirects_are_not_followed(server: ScriptedServer) -> None:
    other = ScriptedServer()
    await other.start()
    try:
        other.answer(OK)
        server.answer(json_reply({}, 302, headers={"Location": other.url + "/steal"}))
        async with transport(server, max_retries=0) as t:
            with pytest.raises(common.APIStatusError) as info:
                await t.request("GET", "/x")
        assert info.value.status_code == 302
        assert other.requests == []
    finally:
        await other.aclose()


@attrs.frozen
class Thing:
    name: str


class ThingClient(provider.BaseClient):
    def __init__(self, base_url: str, **kw: Any) -> None:
        super().__init__(
            base_url=base_url,
            auth=provider.BearerAuth(SECRET),
            decoder=provider.Decoder(provider.make_converter()),
            retry_policy=FAST,
            **kw,
        )

    async def thing(self) -> Thing:
        return await self._call("GET", "/thing", Thing, root="data")


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (raw_reply(b"<html>hi</html>", content_type="text/html"), "not valid JSON"),
        (raw_reply(b'{"data": {"name": "x"'), "not valid JSON"),
        (raw_reply(b""), "empty"),
        (json_reply({"data": {"name": 5}}), r"expected a string, got int @ \$\.data\.name"),
        (json_reply({"data": {}}), r"required field missing @ \$\.data\.name"),
        (json_reply({"nodata": {}}), r"required field missing @ \$\.data"),
        (json_reply([1, 2]), r"\$\.data"),
    ],
)
async def test_decode_errors_name_the_problem(
    server: ScriptedServer, reply: Any, match: str
) -> None:
    server.answer(reply)
    async with ThingClient(server.url) as client:
        with pytest.raises(common.DecodeError, match=match):
            await client.thing()


async def test_response_size_is_capped(server: ScriptedServer) -> None:
    big = b'{"data": {"name": "' + b"x" * 5000 + b'"}}'
    server.answer(raw_reply(big))
    async with ThingClient(server.url, max_response_bytes=1000) as client:
        with pytest.raises(common.DecodeError, match="limit"):
            await client.thing()

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"x" * 500)
        await response.write_eof()
        return response

    server.answer(chunked)
    async with ThingClient(server.url, max_response_bytes=1000) as client:
        with pytest.raises(common.DecodeError, match="limit"):
            await client.thing()


async def test_borrowed_session_is_left_open(server: ScriptedServer) -> None:
    server.answer(json_reply({"data": {"name": "x"}}))
    async with aiohttp.ClientSession() as session:
        async with ThingClient(server.url, session=session) as client:
            assert (await client.thing()).name == "x"
        assert server.requests[-1].headers["Authorization"] == f"Bearer {SECRET}"
        assert "Authorization" not in session.headers  # added per request, not to their session
        assert not session.closed
        await client.aclose()  # twice is fine
        assert not session.closed


async def test_owned_session_is_closed_and_client_refuses_use(server: ScriptedServer) -> None:
    server.answer(json_reply({"data": {"name": "x"}}))
    client = ThingClient(server.url)
    await client.thing()
    session = client.transport.session
    await client.aclose()
    assert session.closed
    with pytest.raises(common.APIError, match="closed"):
        await client.thing()


async def test_cancellation_mid_request_leaves_nothing_behind(server: ScriptedServer) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response({})

    server.answer(slow)
    before = asyncio.all_tasks()
    async with transport(server) as t:
        with anyio.move_on_after(0.2) as scope:
            await t.request("GET", "/x")
        assert scope.cancelled_caught
    await asyncio.sleep(0)
    ours = [
        task
        for task in asyncio.all_tasks() - before
        if "RequestHandler" not in repr(task)  # the server's own handler, still sleeping
    ]
    assert ours == []


async def test_trace_configs_are_passed_through(server: ScriptedServer) -> None:
    seen: list[str] = []

    async def on_start(session: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        seen.append(params.method)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    server.answer(OK)
    async with transport(server, trace_configs=[trace]) as t:
        await t.request("GET", "/x")
    assert seen == ["GET"]


@pytest.mark.parametrize("bad", ["", "tok en", "tok\r\nX-Evil: 1", "tök", None])
def test_credentials_that_would_break_headers_are_refused(bad: Any) -> None:
    for make in (
        lambda: provider.BearerAuth(bad),
        lambda: provider.BasicAuth("user", bad),
        lambda: provider.HeaderAuth({"x-key": bad}),
    ):
        with pytest.raises(common.InvalidRequestError) as info:
            make()
        assert bad is None or not bad.strip() or bad not in str(info.value)


async def test_compressed_bodies_are_capped_after_decompression(server: ScriptedServer) -> None:
    import gzip

    bomb = gzip.compress(b'{"data": {"name": "' + b"x" * 200_000 + b'"}}')

    async def gzipped(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    server.answer(gzipped)
    assert len(bomb) < 10_000
    async with ThingClient(server.url, max_response_bytes=50_000) as client:
        with pytest.raises(common.DecodeError, match="limit"):
            await client.thing()
