"""Secrets: no credential in any exception reachable from a library error.

Error trackers (Sentry, ``logging`` with ``exc_info``) print the whole chain:
``__cause__``, ``__context__``, group members, and the locals of their frames.
"""

from __future__ import annotations

import base64
import traceback
from typing import Any

import pytest

import common
from intervals_async import IntervalsSource

from .conftest import AUTH_FORMS, SECRET, SECRET2, RawServer, chain, echo, hang, respond, send_raw

pytestmark = pytest.mark.anyio

FAST = common.RetryPolicy(backoff_base=0)
SECRETS = (SECRET, SECRET2, base64.b64encode(f"{SECRET2}:{SECRET}".encode()).decode())


def texts(error: BaseException) -> list[str]:
    """Everything an error tracker could print from ``error`` and what it reaches."""
    out = ["".join(traceback.format_exception(error))]
    for exc in chain(error):
        out += [repr(exc), str(exc), repr(getattr(exc, "__dict__", {}))]
        out += [repr(getattr(exc, "request_info", None)), repr(getattr(exc, "args", ()))]
        if exc is not error:  # the frames of everything chained (ours hold our own headers)
            tb = exc.__traceback__
            while tb is not None:
                out.append(repr(tb.tb_frame.f_locals))
                tb = tb.tb_next
    return out


def assert_clean(error: BaseException) -> None:
    for text in texts(error):
        for secret in SECRETS:
            assert secret not in text


HUGE_HEADER = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20_000 + b"\r\nContent-Length: 2\r\n\r\n{}"
BAD_STATUS_LINE = b"HTTP/1.1 OK-ish\r\nContent-Length: 2\r\n\r\n{}"
NOT_HTTP = b"SSH-2.0-OpenSSH_9.6\r\n\r\n"


@pytest.mark.parametrize(
    "reply", [HUGE_HEADER, BAD_STATUS_LINE, NOT_HTTP], ids=["huge-header", "bad-status", "not-http"]
)
@pytest.mark.parametrize("form", sorted(AUTH_FORMS))
async def test_malformed_response_chains_no_credential(
    raw: RawServer, form: str, reply: bytes
) -> None:
    raw.answer(send_raw(reply))
    async with AUTH_FORMS[form](raw.url, retry_policy=FAST, max_retries=0) as client:
        with pytest.raises(common.APIConnectionError) as info:
            await client.transport.request("GET", "/x")
    sent = raw.requests[0].head.decode()
    assert SECRET in sent or "Basic" in sent
    assert_clean(info.value)  # today: the cause's request_info holds the Authorization header
    assert isinstance(info.value.__cause__, common.ClientErrorCause)
    assert info.value.__context__ is None


def _intervals_echo(head: str) -> Any:
    return {"error": {"code": head, "message": f"bad request: {head}", "errors": {"h": [head]}}}


def _rwgps_echo(head: str) -> Any:
    return {"errors": [f"bad request: {head}"]}


@pytest.mark.parametrize("form", sorted(AUTH_FORMS))
async def test_server_text_echoing_the_credentials_is_redacted(raw: RawServer, form: str) -> None:
    make = _intervals_echo if form.startswith("intervals") else _rwgps_echo
    raw.answer(echo(400, make))
    async with AUTH_FORMS[form](raw.url, retry_policy=FAST) as client:
        with pytest.raises(common.BadRequestError) as info:
            await client.transport.request("GET", "/x")
    assert "<redacted>" in str(info.value)  # today: the secret verbatim
    assert_clean(info.value)


async def test_an_event_the_source_cannot_map_chains_no_credential(raw: RawServer) -> None:
    # The server echoes the key into the event's date; the client's own decoding accepts
    # any string there, the common Event does not, and its error names the value.
    event = {"_id": "e1", "name": "E", "slug": "e", "type": "race", "organizationId": "o"}
    raw.answer(
        respond(200, {"data": {"event": {**event, "date": f"bad {SECRET}"}, "runs": []}}),
        respond(200, {"data": []}),  # its registrations
    )
    async with AUTH_FORMS["intervals-bearer"](raw.url, retry_policy=FAST) as client:
        with pytest.raises(common.DecodeError, match="<redacted>") as info:
            await IntervalsSource(client).get_event("e1")
    assert_clean(info.value)  # before: the unredacted error stayed its __context__


@pytest.mark.parametrize("answer", ["404", "timeout"])
async def test_a_credential_given_as_an_id_is_not_in_the_error(raw: RawServer, answer: str) -> None:
    # The log line redacted it; the error's text and path named it as sent.
    raw.answer(
        respond(404, {"error": {"message": "no such event"}}) if answer == "404" else hang(5)
    )
    client = AUTH_FORMS["intervals-bearer"](raw.url, retry_policy=FAST, max_retries=0, timeout=0.3)
    async with client:
        with pytest.raises(common.APIError) as info:
            await client.get_event(SECRET)
    assert "<redacted>" in str(info.value)
    assert_clean(info.value)


async def test_a_cut_message_does_not_keep_half_a_credential(raw: RawServer) -> None:
    # The message is cut at 500 characters, ten characters into the token.
    raw.answer(echo(400, lambda head: {"error": "x" * (500 - 17) + f"Bearer {SECRET}"}))
    async with AUTH_FORMS["oauth-bearer"](raw.url, retry_policy=FAST) as client:
        with pytest.raises(common.BadRequestError) as info:
            await client.transport.request("GET", "/x")
    assert SECRET[:10] not in str(info.value)  # today: the first ten characters


@pytest.mark.parametrize(
    "url", ["http://evil.localhost:1", "http://a.b.localhost", "http://localhost.:1"]
)
def test_only_literal_loopback_may_use_plain_http(url: str) -> None:
    with pytest.raises(common.InvalidRequestError):
        AUTH_FORMS["intervals-bearer"](url)  # today: accepted, the key sent in clear


async def test_localhost_itself_is_still_loopback(raw: RawServer) -> None:
    url = raw.url.replace("127.0.0.1", "localhost")
    async with AUTH_FORMS["oauth-bearer"](url) as client:
        await client.transport.request("GET", "/x")
    assert len(raw.requests) == 1
