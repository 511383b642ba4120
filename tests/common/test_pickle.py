"""Every library error crosses a process boundary whole: pickled and loaded again (a
process pool, multiprocessing, Celery's pickle serializer), it is the same class with the
same attributes and text. APIStatusError (keyword-only ``status_code``), MergeError and
ClientErrorCause failed to load: a process pool whose worker raised NotFoundError broke."""

from __future__ import annotations

import pickle

import pytest

import common
from common._errors import error_class_for


def _status_errors() -> list[common.APIStatusError]:
    made = []
    for status in (400, 401, 403, 404, 409, 422, 429, 500, 503, 418):
        error = error_class_for(status)(
            "no such event",
            status_code=status,
            code="NOT_FOUND",
            field_errors={"name": ["is required"]},
            retry_after=2.5,
            request_id="req-1",
            method="GET",
            path="/events/e1",
            attempts=3,
        )
        error.hint = "check the id"
        error.resume_page = "ev00042"
        made.append(error)
    return made


def _others() -> list[Exception]:
    cause = common.ClientErrorCause("aiohttp.ClientOSError", "Connection reset by peer")
    timeout = common.APITimeoutError("GET /events: timed out after 2s", attempts=2)
    timeout.__cause__ = cause
    return [
        cause,
        common.ClientErrorCause("asyncio.TimeoutError", ""),
        timeout,
        common.APIConnectionError("GET /events: could not connect"),
        common.ClientClosedError("the client is closed; not sent"),
        common.CancelledElsewhereError("the call for key 'a' was cancelled elsewhere"),
        common.DecodeError("$.data.date: not a date"),
        common.InvalidRequestError("limit: must be 1..100", field="limit"),
        common.MissingCredentialsError("no API key", field="api_key"),
        common.MergeError("2 sources failed", (common.DecodeError("x"), _status_errors()[3])),
    ]


@pytest.mark.parametrize("error", [*_status_errors(), *_others()], ids=lambda e: type(e).__name__)
def test_an_error_pickles_whole(error: Exception) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert back.args == error.args
    if isinstance(error, common.MergeError):
        assert isinstance(back, common.MergeError)
        assert [str(e) for e in back.errors] == [str(e) for e in error.errors]
        assert [type(e) for e in back.errors] == [type(e) for e in error.errors]
    else:
        assert vars(back) == vars(error)
