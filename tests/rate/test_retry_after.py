"""``Retry-After`` as an HTTP-date in each of RFC 9110's three forms (issue 19, item 8)."""

from __future__ import annotations

import calendar
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common._retry import parse_retry_after

WHEN = calendar.timegm((2026, 12, 2, 16, 33, 11))  # Wed Dec  2 16:33:11 2026 UTC


@pytest.mark.parametrize(
    "header",
    [
        "Wed, 02 Dec 2026 16:33:11 GMT",  # IMF-fixdate
        "Wednesday, 02-Dec-26 16:33:11 GMT",  # obsolete RFC 850
        "Wed Dec  2 16:33:11 2026",  # asctime: no zone, always UTC
    ],
)
def test_every_http_date_form_is_the_same_wait(header: str) -> None:
    assert parse_retry_after(header, WHEN - 4.0) == 4.0  # the case: 4 s asked
    assert parse_retry_after(header, WHEN + 10.0) == 0.0  # past: no wait


@given(st.integers(min_value=0, max_value=2**31 - 1), st.integers(min_value=0, max_value=3600))
def test_asctime_and_imf_fixdate_agree(epoch: int, ahead: int) -> None:
    moment = time.gmtime(epoch)
    asctime = (
        time.strftime("%a %b ", moment)
        + f"{moment.tm_mday:2d}"
        + time.strftime(" %H:%M:%S %Y", moment)
    )
    fixdate = time.strftime("%a, %d %b %Y %H:%M:%S GMT", moment)
    now = float(epoch - ahead)
    assert parse_retry_after(asctime, now) == parse_retry_after(fixdate, now) == float(ahead)
