"""Error mapping, decoding, URLs and validation: pure pieces, no I/O."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import json
import re
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import common
from common import _decode, provider
from common._errormap import ErrorParser, build_status_error, parse_error_body
from common._url import validate_base_url
from intervals_async._client import parse_error as intervals_errors
from intervals_async._models import check_email
from ridewithgps_async._client import parse_error as ridewithgps_errors

# -- error mapping -------------------------------------------------------------


def _error(status: int, body: bytes, **kw: Any) -> common.APIStatusError:
    return build_status_error(
        status=status,
        body=body,
        retry_after=kw.get("retry_after"),
        request_id=kw.get("request_id"),
        method="GET",
        path="/x",
        now=1000.0,
        body_wait=kw.get("body_wait"),
        parse_error=kw.get("parse_error"),
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, common.BadRequestError),
        (401, common.AuthenticationError),
        (403, common.PermissionDeniedError),
        (404, common.NotFoundError),
        (409, common.ConflictError),
        (422, common.ValidationError),
        (429, common.RateLimitError),
        (500, common.ServerError),
        (503, common.ServerError),
        (418, common.APIStatusError),
        (302, common.APIStatusError),
        (599, common.ServerError),
        (600, common.APIStatusError),  # not HTTP (aiohttp takes any three digits): not a 5xx
        (999, common.APIStatusError),
    ],
)
def test_status_to_class(status: int, cls: type[common.APIStatusError]) -> None:
    err = _error(status, b"")
    assert type(err) is cls
    assert err.status_code == status
    assert isinstance(err, common.APIError)


def test_intervals_error_shape() -> None:
    body = (
        b'{"error": {"code": "VALIDATION_ERROR", "message": "Bad input",'
        b' "errors": {"email": ["is invalid", "is required"]}}}'
    )
    err = _error(422, body, request_id="req-1", parse_error=intervals_errors)
    assert (err.code, err.message) == ("VALIDATION_ERROR", "Bad input")
    assert err.field_errors == {"email": ["is invalid", "is required"]}
    assert err.request_id == "req-1"
    assert "email: is invalid, is required" in str(err)
    assert "req-1" in str(err)


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "Failed to authenticate the user"}',
        b'{"errors": ["Failed to authenticate the user"]}',
        b'{"message": "Failed to authenticate the user"}',
    ],
)
def test_ridewithgps_error_shapes(body: bytes) -> None:
    err = _error(401, body, parse_error=ridewithgps_errors)
    assert err.message == "Failed to authenticate the user"
    assert err.code is None


def test_several_errors_are_joined() -> None:
    assert _error(422, b'{"errors": ["a", "b"]}', parse_error=ridewithgps_errors).message == "a; b"
    # the documented string wins over the list, as before
    both = b'{"error": "main", "errors": ["x"]}'
    assert _error(422, both, parse_error=ridewithgps_errors).message == "main"


def test_the_generic_parser_knows_no_provider_shape() -> None:
    intervals = b'{"error": {"code": "NOT_FOUND", "message": "No such event"}}'
    assert _error(404, intervals).message == "Not Found"
    assert _error(404, intervals, parse_error=intervals_errors).message == "No such event"
    assert _error(400, b'{"errors": ["a"]}').message == "Bad Request"
    generic = b'{"message": "slow down", "code": "E1", "errors": {"f": "bad"}}'
    err = _error(429, generic)
    assert (err.message, err.code, err.field_errors) == ("slow down", "E1", {"f": ["bad"]})


def test_a_failing_provider_parser_falls_back_to_the_generic_one() -> None:
    def broken(body: bytes) -> provider.ErrorDetails:
        raise RuntimeError("bug")

    assert _error(400, b'{"message": "m"}', parse_error=broken).message == "m"


@pytest.mark.parametrize("parser", [parse_error_body, intervals_errors, ridewithgps_errors])
@given(body=st.binary(max_size=200))
def test_every_error_parser_never_raises(parser: ErrorParser, body: bytes) -> None:
    assert isinstance(parser(body), provider.ErrorDetails)


@pytest.mark.parametrize(
    "body",
    [b"<html><body>502 Bad Gateway</body></html>", b"", b"null", b"[1,2]", b'"text"', b"{"],
)
def test_non_json_or_odd_bodies_use_the_reason(body: bytes) -> None:
    err = _error(502, body)
    assert err.message == "Bad Gateway"
    assert err.code is None and err.field_errors == {}


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_error_mapper_never_raises_on_any_json(data: Any) -> None:
    body = json.dumps({"error": data, "errors": data, "message": data}).encode()
    for parser in (parse_error_body, intervals_errors, ridewithgps_errors):
        assert isinstance(_error(400, body, parse_error=parser).message, str)


def test_body_wait_and_header_the_longer_wins() -> None:
    def wait(data: Any, now: float) -> float:
        return float(data["error"]["retryAfter"]) / 1000 - now

    body = b'{"error": {"code": "RATE_LIMITED", "message": "slow", "retryAfter": 1003000}}'
    assert _error(429, body, body_wait=wait).retry_after == 3.0
    assert _error(429, body, body_wait=wait, retry_after=7.0).retry_after == 7.0
    # a shorter header (whole seconds, or another limit's) does not hide the body's wait
    assert _error(429, body, body_wait=wait, retry_after=1.0).retry_after == 3.0
    assert _error(429, body, body_wait=wait, retry_after=0.0).retry_after == 3.0

    def broken(data: Any, now: float) -> float:
        raise KeyError("nope")

    assert _error(429, b'{"x": 1}', body_wait=broken).retry_after is None


def test_long_messages_are_cut() -> None:
    err = _error(500, common._json.dumps({"error": "x" * 10_000}))
    assert len(err.message) < 600
    long = common._json.dumps({"error": {"message": "x" * 10_000}})
    assert len(_error(500, long, parse_error=intervals_errors).message) < 600


# -- decoding ------------------------------------------------------------------


class Color(str, enum.Enum):
    RED = "red"


@attrs.frozen
class Inner:
    value: int


@attrs.frozen
class Model:
    id: str = attrs.field(metadata={"json": "_id"})
    series_id: str
    color: Color | str
    day: dt.date
    loose_day: dt.date | str
    at: dt.datetime
    start: dt.time
    items: list[Inner]
    ratio: float | None = None
    flag: bool | None = None
    status: str | None = attrs.field(default=None, metadata={"json": "registrationStatus"})
    extra: dict[str, Any] = attrs.field(factory=dict)


DECODER = provider.Decoder(provider.make_converter(provider.camel_case))
GOOD = {
    "_id": "e1",
    "seriesId": "s1",
    "color": "red",
    "day": "2026-03-01",
    "looseDay": "2026-03-02",
    "at": "2026-03-01T10:00:00Z",
    "start": "08:30",
    "items": [{"value": 1}],
    "ratio": 3,
    "registrationStatus": "confirmed",
    "surprise": {"new": True},
}


def test_decodes_with_renames_enums_dates_and_extra() -> None:
    m = DECODER.decode(common._json.dumps({"data": GOOD}), Model, root="data")
    assert m.id == "e1" and m.series_id == "s1"
    assert m.color is Color.RED
    assert m.day == dt.date(2026, 3, 1) and m.loose_day == dt.date(2026, 3, 2)
    assert m.at == dt.datetime(2026, 3, 1, 10, tzinfo=dt.timezone.utc)
    assert m.start == dt.time(8, 30)
    assert m.items == [Inner(1)]
    assert m.ratio == 3.0 and isinstance(m.ratio, float)
    assert m.status == "confirmed"
    assert m.extra == {"surprise": {"new": True}}


def test_unknown_enum_value_and_odd_date_are_kept() -> None:
    m = DECODER.structure({**GOOD, "color": "ultraviolet", "looseDay": "someday"}, Model)
    assert m.color == "ultraviolet" and m.loose_day == "someday"


def test_naive_timestamps_are_utc() -> None:
    m = DECODER.structure({**GOOD, "at": "2026-03-01T10:00:00"}, Model)
    assert m.at.tzinfo is dt.timezone.utc


_UTC, _PLUS1 = dt.timezone.utc, dt.timezone(dt.timedelta(hours=1))


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-05-01T09:00:00.5Z", dt.datetime(2026, 5, 1, 9, 0, 0, 500000, _UTC)),
        ("2026-05-01T09:00:00.12Z", dt.datetime(2026, 5, 1, 9, 0, 0, 120000, _UTC)),
        ("2026-05-01T09:00:00.123456789+01:00", dt.datetime(2026, 5, 1, 9, 0, 0, 123456, _PLUS1)),
        ("2026-05-01T09:00:00,25z", dt.datetime(2026, 5, 1, 9, 0, 0, 250000, _UTC)),
        ("2026-05-01T09:00:00+0100", dt.datetime(2026, 5, 1, 9, tzinfo=_PLUS1)),
        ("2026-05-01T09:00:00+01", dt.datetime(2026, 5, 1, 9, tzinfo=_PLUS1)),
        ("2016-12-31T23:59:60Z", dt.datetime(2016, 12, 31, 23, 59, 59, 999999, _UTC)),
        ("2026-05-01T09:00+0100", dt.datetime(2026, 5, 1, 9, tzinfo=_PLUS1)),  # 3.11+ alone
        ("2026-09-12T24:00:00+01:00", dt.datetime(2026, 9, 13, tzinfo=_PLUS1)),  # end of day
        ("2026-12-31T24:00Z", dt.datetime(2027, 1, 1, tzinfo=_UTC)),
    ],
)
def test_a_timestamp_in_any_rfc3339_form_decodes_the_same_on_every_python(
    text: str, instant: dt.datetime
) -> None:
    # Found by an outside audit: on Python 3.10 (which the project supports) fromisoformat
    # takes 0, 3 or 6 fraction digits and only ``+HH:MM``: Go's nine digits or ``.12Z``
    # failed a whole get_event; a leap second failed on every Python. Each form is also
    # rewritten as the one form 3.10 reads, which this checks on any Python.
    m = DECODER.structure({**GOOD, "at": text}, Model)
    assert m.at == instant and m.at.utcoffset() == instant.utcoffset()
    compiled = DECODER.compiled_decode(json.dumps({**GOOD, "at": text}).encode(), Model)
    assert compiled == m  # the compiled path reads it too, not only the fallback
    normal = _decode._rfc3339(text)
    assert normal is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d{6}([+-]\d\d:\d\d)?", normal)
    assert dt.datetime.fromisoformat(normal) == instant


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-01T09:00:60Z",
        "2026-05-01T09:00:00+01:0",
        "noon",
        # forms only Python 3.11+ reads: refused on every Python, as on 3.10
        "20260501T090000Z",
        "2026-W18-5T09:00:00Z",
        "2026-05-01T0900Z",
        "2026-05-01T24:00:01Z",  # only 24:00 exactly ends a day
        "9999-12-31T24:00:00Z",
    ],
)
def test_a_timestamp_no_form_allows_is_still_refused(text: str) -> None:
    with pytest.raises(common.DecodeError, match=r"\$\.at"):
        DECODER.structure({**GOOD, "at": text}, Model)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"_id": 5}, "$.data._id"),
        ({"_id": None}, "$.data._id"),
        ({"seriesId": ["x"]}, "$.data.seriesId"),
        ({"color": 1}, "$.data.color"),
        ({"day": "2026-02-30"}, "$.data.day"),
        ({"day": "yesterday"}, "$.data.day"),
        ({"at": "nope"}, "$.data.at"),
        ({"start": "25:00"}, "$.data.start"),
        ({"items": "abc"}, "$.data.items"),
        ({"items": [{"value": "1"}]}, "$.data.items[0].value"),
        ({"items": [{"value": True}]}, "$.data.items[0].value"),
        ({"items": [None]}, "$.data.items[0]"),
        ({"ratio": "1.5"}, "$.data.ratio"),
        ({"flag": 1}, "$.data.flag"),
    ],
)
def test_wrong_types_name_the_path(change: dict[str, Any], path: str) -> None:
    body = common._json.dumps({"data": {**GOOD, **change}})
    with pytest.raises(common.DecodeError) as info:
        DECODER.decode(body, Model, root="data")
    assert path in str(info.value)


def test_missing_field_names_the_json_key() -> None:
    data = dict(GOOD)
    del data["seriesId"]
    with pytest.raises(common.DecodeError, match=r"required field missing @ \$\.data\.seriesId"):
        DECODER.decode(common._json.dumps({"data": data}), Model, root="data")


@pytest.mark.parametrize(
    "body", [b"", b"not json", b'{"data": {"_id": "e1"', b"<html></html>", b"\xff\xfe"]
)
def test_non_json_and_truncated_bodies(body: bytes) -> None:
    with pytest.raises(common.DecodeError):
        DECODER.decode(body, Model, root="data")


@pytest.mark.parametrize("body", [b"[]", b"null", b'{"other": 1}', b'{"data": 3}', b'{"data": []}'])
def test_wrong_envelopes(body: bytes) -> None:
    with pytest.raises(common.DecodeError):
        DECODER.decode(body, Model, root="data")


def test_big_integers_parse_and_lone_surrogates_are_refused() -> None:
    # A big integer is valid JSON, kept exact (issue 20: never a float). A lone
    # surrogate is refused (issue 12): no decoded string may fail to encode again.
    big = provider.Decoder.parse(b'{"n": 123456789012345678901234567890}')["n"]
    assert big == 123456789012345678901234567890 and type(big) is int
    with pytest.raises(common.DecodeError):
        provider.Decoder.parse(b'{"s": "\\ud800"}')


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=30,
    )
)
def test_any_json_either_decodes_or_raises_decode_error(data: Any) -> None:
    with contextlib.suppress(common.DecodeError):  # any other exception fails the test
        DECODER.structure(data, Model)


# -- URLs and paths ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.intervals.run",
        "https://api.intervals.run/",
        "http://127.0.0.1:8080",
        "http://127.5.6.7",
        "http://localhost:1234/base",
        "http://[::1]:9000",
    ],
)
def test_accepted_base_urls(url: str) -> None:
    assert not validate_base_url(url).endswith("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.intervals.run",
        "http://10.0.0.1",
        "http://192.168.1.1",
        "ftp://example.com",
        "api.intervals.run",
        "",
        "https://user:pw@example.com",
        "https://example.com/?key=1",
        "http://localhost.evil.com",
    ],
)
def test_refused_base_urls(url: str) -> None:
    with pytest.raises(common.InvalidRequestError):
        validate_base_url(url)


def test_path_parameters_are_one_segment() -> None:
    assert provider.build_path("/events/{id}", id="../organization") == "/events/..%2Forganization"
    assert provider.build_path("/events/{id}", id="a b?c#d") == "/events/a%20b%3Fc%23d"
    assert provider.build_path("/api/v1/events/{id}.json", id=42) == "/api/v1/events/42.json"


@pytest.mark.parametrize("bad", ["", " ", ".", "..", None, True, 1.5])
def test_bad_path_parameters_are_refused(bad: Any) -> None:
    with pytest.raises(common.InvalidRequestError):
        provider.build_path("/events/{id}", id=bad)


# -- validation ----------------------------------------------------------------


def test_validators_accept_good_values() -> None:
    assert provider.check_date("d", dt.date(2026, 2, 28)) == "2026-02-28"
    assert provider.check_date("d", "2028-02-29") == "2028-02-29"
    assert provider.check_time("t", "07:05") == "07:05"
    assert provider.check_time("t", "07:05:09") == "07:05:09"
    assert provider.check_time("t", dt.time(7, 5)) == "07:05"
    assert provider.check_number("lat", -90, -90, 90) == -90
    assert check_email("e", "a.b+c@example.co.uk") == "a.b+c@example.co.uk"
    assert provider.check_uri("u", "https://example.com/x?y=1") == "https://example.com/x?y=1"
    assert provider.check_country("c", "US") == "US"
    assert provider.check_enum("k", Color.RED, Color) == "red"
    assert provider.check_enum("k", "red", Color) == "red"
    assert provider.check_timezone("tz", "America/Godthab") == "America/Godthab"
    assert provider.check_int("limit", 100, 1, 100) == 100


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (lambda v: provider.check_date("when", v), "2026-02-30"),
        (lambda v: provider.check_date("when", v), "2026-2-3"),
        (lambda v: provider.check_date("when", v), dt.datetime(2026, 1, 1)),
        (lambda v: provider.check_date("when", v), 20260101),
        (lambda v: provider.check_time("when", v), "7:05"),
        (lambda v: provider.check_time("when", v), "24:00"),
        (lambda v: provider.check_time("when", v, seconds=False), "07:05:00"),
        (lambda v: provider.check_number("when", v, -90, 90), 90.0001),
        (lambda v: provider.check_number("when", v, -90, 90), float("nan")),
        (lambda v: provider.check_number("when", v, -90, 90), True),
        (lambda v: check_email("when", v), "a..b@example.com"),
        (lambda v: check_email("when", v), "nobody"),
        (lambda v: provider.check_uri("when", v), "/relative/path"),
        (lambda v: provider.check_uri("when", v), "https://exa mple.com"),
        (lambda v: provider.check_country("when", v), "USA"),
        (lambda v: provider.check_enum("when", v, Color), "blue"),
        (lambda v: provider.check_timezone("when", v), "Mars/Olympus"),
        (lambda v: provider.check_timezone("when", v), "../../etc/passwd"),
        (lambda v: provider.check_text("when", v), "   "),
        (lambda v: provider.check_int("when", v, 1, 100), 0),
        (lambda v: provider.check_int("when", v, 1, 100), 101),
    ],
)
def test_validators_refuse_and_name_the_field(check: Any, value: Any) -> None:
    with pytest.raises(common.InvalidRequestError, match="when") as info:
        check(value)
    assert info.value.field == "when"
    assert isinstance(info.value, ValueError)


# -- write-request classes -------------------------------------------------------


@attrs.frozen(kw_only=True)
class Body:
    series_id: str = attrs.field(**provider.required(provider.check_text))
    day: dt.date | str | None = provider.optional(provider.check_date, json="when")
    at: dt.time | str | None = provider.optional(provider.check_time)
    color: Color | str | None = provider.optional(provider.one_of(Color))
    note: str | None = provider.nullable(provider.any_text)
    key: str | None = provider.not_sent(provider.check_text)
    inner: Inner | None = provider.optional(lambda field, value: value)


CONVERTER = provider.make_converter(provider.camel_case)


def test_a_request_serialises_with_the_converters_keys() -> None:
    body = provider.build_request(
        Body,
        series_id="s",
        day=dt.date(2026, 5, 1),
        at=dt.time(9, 30),
        color=Color.RED,
        key="not in the body",
        inner=Inner(3),
    )
    assert CONVERTER.unstructure(body) == {
        "seriesId": "s",
        "when": "2026-05-01",
        "at": "09:30",
        "color": "red",
        "inner": {"value": 3},
    }
    cleared = provider.build_request(Body, series_id="s", note=None, day=None)
    assert CONVERTER.unstructure(cleared) == {"seriesId": "s", "note": None}


def test_a_required_field_written_without_attrs_field_is_refused_at_once() -> None:
    # provider.required(...) gives attrs.field's arguments (so that type checkers see a
    # required argument): assigned alone, it would be the field's default, silently.
    @attrs.frozen(kw_only=True)
    class Misused:
        name: str = provider.required(provider.check_text)  # type: ignore[assignment]

    with pytest.raises(TypeError, match=r"Misused\.name: write attrs\.field\(\*\*provider"):
        provider.request_method(Misused)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "series_id"),
        ({"series_id": None}, "series_id"),
        ({"series_id": ""}, "series_id"),
        ({"series_id": "s", "day": "2026-02-30"}, "day"),
        ({"series_id": "s", "color": "blue"}, "color"),
        ({"series_id": "s", "colour": "red"}, "colour"),
        ({"series_id": "s", "key": 5}, "key"),
    ],
)
def test_a_request_refuses_bad_fields_by_name(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(common.InvalidRequestError) as caught:
        provider.build_request(Body, **fields)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_camel_case_has_no_provider_rule() -> None:
    assert provider.camel_case("id") == "id"
    assert provider.camel_case("series_id") == "seriesId"


@pytest.mark.parametrize(
    "text",
    [
        "https://example.org/a?b=c#d/?",
        "https://[::1]:8080/x",
        "http://[v1.fe]/",
        "mailto:someone@example.org",
        "urn:isbn:0451450523",
        "https://user:pw@host.org:443/p;x=1/@a",
        "file:///etc/hosts",
        "https://example.org/%20?q=%2F",
    ],
)
def test_an_absolute_uri_of_any_rfc_3986_shape_is_taken(text: str) -> None:
    assert provider.check_uri("u", text) == text


@pytest.mark.parametrize(
    "text",
    [
        # each of RFC 3986's characters, but not in its grammar (they were sent, found by
        # an outside review validating the bodies against the description's format: uri)
        "https://[::1",
        "https://example.org/#a#b",
        "http://a:b:c",
        "https://example.org:port/",
        "http://exa@mp@le",
        "http://a/[x]",
        "https://[zz::1]/",
        "http://%zz",
    ],
)
def test_a_uri_outside_rfc_3986_s_grammar_is_refused(text: str) -> None:
    with pytest.raises(common.InvalidRequestError, match="not an absolute URI"):
        provider.check_uri("u", text)
