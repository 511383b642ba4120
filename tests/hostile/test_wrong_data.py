"""Wrong data: what is not valid text or not JSON is refused, going out and coming in."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import attrs
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import common
from common import provider

from .conftest import AUTH_FORMS, RawServer, respond

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("event_id", ["ev001\udcff", "\ud800"])
async def test_lone_surrogate_in_a_query_is_refused_before_sending(
    raw: RawServer, event_id: str
) -> None:
    raw.answer(respond(200, {"data": []}))
    async with AUTH_FORMS["intervals-bearer"](raw.url) as client:
        with pytest.raises(common.InvalidRequestError):
            await client.list_registrations(event_id)  # today: sent as eventId=ev001 / eventId=
    assert raw.requests == []


@pytest.mark.parametrize("event_id", ["ev001\udcff", "\ud800"])
async def test_lone_surrogate_in_a_path_is_refused_before_sending(
    raw: RawServer, event_id: str
) -> None:
    async with AUTH_FORMS["intervals-bearer"](raw.url) as client:
        with pytest.raises(common.InvalidRequestError):
            await client.get_event(event_id)  # today: a bare UnicodeEncodeError
    assert raw.requests == []


async def test_lone_surrogate_in_a_body_is_refused_before_sending(raw: RawServer) -> None:
    async with AUTH_FORMS["rwgps-basic"](raw.url) as rw:
        with pytest.raises(common.InvalidRequestError):
            # once: a bare TypeError from the JSON encoder
            await rw.create_event(name="Ride \udcff", start_date=dt.date(2026, 5, 2))
    assert raw.requests == []


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
async def test_a_number_that_is_not_json_is_refused_before_sending(
    raw: RawServer, number: float
) -> None:
    async with provider.Transport(raw.url) as transport:
        with pytest.raises(common.InvalidRequestError):
            # today: sent as null
            await transport.request("POST", "/readings", json={"values": [1.5, number]})
    assert raw.requests == []


@attrs.frozen
class Reading:
    name: str
    value: float


DECODER = provider.Decoder(provider.make_converter())


async def _decode(raw: RawServer, body: bytes) -> Reading:
    raw.answer(respond(200, raw=body))
    async with provider.Transport(raw.url) as transport:
        response = await transport.request("GET", "/reading")
    return DECODER.decode(response.body, Reading)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
async def test_numbers_that_are_not_json_are_a_decode_error(raw: RawServer, number: str) -> None:
    body = b'{"name": "a\\ud83d\\ude00", "value": %s}' % number.encode()
    with pytest.raises(common.DecodeError):
        await _decode(raw, body)  # today: value=nan / inf


@pytest.mark.parametrize("escape", ["\\ud800", "\\udcff", "x\\ude00y", "\\ud83d"])
async def test_lone_surrogates_in_a_response_are_a_decode_error(
    raw: RawServer, escape: str
) -> None:
    body = b'{"name": "%s", "value": 1}' % escape.encode()
    with pytest.raises(common.DecodeError):
        await _decode(raw, body)  # today: a str that no UTF-8 encoder accepts


async def test_valid_json_some_parsers_refuse_still_decodes(raw: RawServer) -> None:
    # A surrogate *pair* and a huge integer are valid JSON: kept exact.
    body = b'{"name": "\\ud83d\\ude00", "value": 1, "big": %d}' % (10**30)
    reading = await _decode(raw, body)
    assert reading.name == "\U0001f600"
    assert common._json.loads(body)["big"] == 10**30  # exact: never a float


def _decoded_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_decoded_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _decoded_strings(v)]
    return []


def test_every_decoded_string_encodes_again() -> None:
    # The one rule: what decodes can always be written out again (the CLI's jsonl).
    for body in [b'{"\\ud800": 1}', b'["a", ["\\udfff"]]', b'{"k": {"x": "\\ud83d"}}']:
        with pytest.raises(ValueError, match=r"surrogate|encode"):
            common._json.loads(body)
    ok = common._json.loads(b'{"k": ["\\ud83d\\ude00", "plain"]}')
    msgspec.json.encode(ok)
    assert all(s.encode() for s in _decoded_strings(ok))


def _finite_and_encodable(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        value.encode()  # UnicodeEncodeError for a lone surrogate
        return True
    if isinstance(value, dict):
        return all(_finite_and_encodable(k) and _finite_and_encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_finite_and_encodable(v) for v in value)
    return True


_PIECES = st.sampled_from(
    [
        '"\\ud800"',
        '"\\ud83d\\ude00"',
        "NaN",
        "-Infinity",
        "1e400",
        "1e308",
        "12345678901234567890123",
        '"a"',
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "null",
        "true",
        '"\\udfff x"',
        "0",
        "-0.5e-400",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_whatever_parses_is_finite_and_encodable(text: str) -> None:
    try:
        value = common._json.loads(text.encode())
    except ValueError:
        return
    assert _finite_and_encodable(value)
