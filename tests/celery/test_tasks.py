"""``common.celery`` in this process: the app's settings, the errors a failed task carries
through Celery's own JSON result encoding, and a task run eagerly against the fake."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import warnings
from typing import Any

import pytest
from celery import Celery

import common
from benchmarks.celery_fleet import KEY, ThreadedFake
from common._cli import main as cli
from common.celery import (
    BROKER_OPTIONS,
    LONGEST_HOLD,
    MAX_COUNTDOWN,
    TIME_LIMIT,
    EventsyncTasks,
    _carry,  # the conversion under test
)
from ridewithgps_async.testing import FakeRideWithGPS


def test_common_imports_without_celery() -> None:
    script = (
        "import sys; sys.modules['celery'] = None; import common, common.provider\n"
        "try:\n    import common.celery\n"
        "except ImportError as e: assert \"pip install 'eventsync[celery]'\" in str(e), e\n"
        "else: raise SystemExit('common.celery imported without celery')"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_redis_app_gets_the_delivery_settings() -> None:
    app = Celery("t", broker="redis://127.0.0.1:1/0")
    tasks = EventsyncTasks(app)
    assert app.conf.broker_transport_options == dict(BROKER_OPTIONS)
    assert app.conf.worker_prefetch_multiplier == 1
    # Above the longest a live worker holds a task, and answered within two minutes.
    assert LONGEST_HOLD == MAX_COUNTDOWN + 2 * TIME_LIMIT < BROKER_OPTIONS["visibility_timeout"]
    restore = (
        BROKER_OPTIONS["unacked_restore_interval"] * BROKER_OPTIONS["unacked_restore_throttle"]
    )
    assert BROKER_OPTIONS["visibility_timeout"] + restore + TIME_LIMIT < 120
    for task in (tasks.get_event, tasks.list_participants):
        assert task.acks_late and task.reject_on_worker_lost
        assert task.time_limit == TIME_LIMIT and task.max_retries is not None
    assert "EventsyncTasks" in repr(tasks)


def test_own_visibility_timeout_kept_above_the_bound_refused_below() -> None:
    app = Celery("t", broker="redis://127.0.0.1:1/0")
    app.conf.broker_transport_options = {"visibility_timeout": 600}
    EventsyncTasks(app)
    assert app.conf.broker_transport_options["visibility_timeout"] == 600
    app = Celery("t", broker="redis://127.0.0.1:1/0")
    app.conf.broker_transport_options = {"visibility_timeout": 60}
    with pytest.raises(common.InvalidRequestError, match="run twice"):
        EventsyncTasks(app)


@pytest.mark.parametrize(
    "conf",
    [
        {"broker_transport": "sentinel"},
        {"broker_transport": "kombu.transport.redis:Transport"},
        {"broker_url": "amqp://127.0.0.1:1//", "broker_read_url": "redis://127.0.0.1:1/0"},
    ],
)
def test_every_redis_transport_gets_the_delivery_settings(conf: dict[str, str]) -> None:
    # kombu's Sentinel transport (the same unacknowledged-task restore as Redis's), a
    # module path, a Redis read URL: left at kombu's one-hour visibility timeout.
    app = Celery("t")
    app.conf.update(conf)
    EventsyncTasks(app)
    assert app.conf.broker_transport_options == dict(BROKER_OPTIONS)


def test_other_brokers_keep_their_transport_options() -> None:
    app = Celery("t", broker="amqp://guest@127.0.0.1:1//")
    EventsyncTasks(app)
    assert not app.conf.broker_transport_options


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rate_store": object()}, "rate_store"),
        ({"rate_store": "http://x"}, "rate_store"),
        ({"base_url": "http://x"}, "base_url"),
        ({"max_retriez": 1}, "max_retriez"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_options_that_cannot_work_in_a_worker_are_refused(kwargs: Any, field: str) -> None:
    with pytest.raises(common.InvalidRequestError) as caught:
        EventsyncTasks(Celery("t"), **kwargs)
    assert caught.value.field == field


ERRORS = [
    common.NotFoundError("Event not found", status_code=404, method="GET", path="/events/x"),
    common.AuthenticationError("bad key", status_code=401, attempts=1),
    common.ValidationError("no", status_code=422, field_errors={"id": ["must be short"]}),
    common.RateLimitError("slow down", status_code=429, retry_after=3.0, attempts=3),
    common.InvalidRequestError("not an Intervals event id: '\\x00'", field="id"),
    common.MissingCredentialsError("no Intervals credentials: set INTERVALS_API_KEY"),
    common.APITimeoutError("GET /events/x timed out", attempts=3),
    common.DecodeError("events[0].date: not a date"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_failed_task_error_survives_the_json_result_backend(error: common.APIError) -> None:
    backend = Celery("t", backend="redis://127.0.0.1:1/0").backend
    carried = _carry(error)
    stored = json.loads(json.dumps(backend.prepare_exception(carried, "json")))
    back = backend.exception_to_python(stored)
    assert isinstance(back, type(error))
    assert type(back).__name__ == type(error).__name__
    assert str(back) == str(error) == " ".join(str(error).split())
    assert getattr(back, "status_code", None) == getattr(error, "status_code", None)
    again = pickle.loads(pickle.dumps(carried))  # a pickle serializer carries it too
    assert type(again) is type(carried) and str(again) == str(error)


def test_task_in_process_returns_what_the_cli_writes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with ThreadedFake(5, None) as fake:
        monkeypatch.setenv("INTERVALS_API_KEY", KEY)
        monkeypatch.setenv("INTERVALS_BASE_URL", fake.url)
        event_id = fake.ids[0]
        tasks = EventsyncTasks(Celery("t", broker="memory://"), max_retries=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", common.TruncationWarning)
            assert cli(["--no-progress", "event", "intervals", event_id]) in (0, 6)
        expected = json.loads(capsys.readouterr().out)
        try:
            got = tasks.get_event.apply(args=("intervals", event_id)).get()
            people = tasks.list_participants.apply(args=("intervals", event_id)).get()
            missing = tasks.get_event.apply(args=("intervals", "nope"))
            unknown = tasks.get_event.apply(args=("nowhere", event_id))
        finally:
            tasks._holder.close()
    assert got == expected
    assert people == expected["participants"] and isinstance(people, list)
    assert missing.failed() and isinstance(missing.result, common.NotFoundError)
    assert "404" in str(missing.result) and missing.result.__cause__ is None
    assert isinstance(unknown.result, common.InvalidRequestError)
    assert "no provider 'nowhere'" in str(unknown.result)


@pytest.mark.parametrize(
    ("args", "field"),
    [(("intervals", None), "event_id"), ((None, "x"), "provider"), (("rwgps", [1]), "event_id")],
)
def test_a_message_with_arguments_of_the_wrong_type_fails_with_the_library_s_error(
    args: tuple[Any, Any], field: str
) -> None:
    tasks = EventsyncTasks(Celery("t", broker="memory://"))
    try:
        failed = tasks.get_event.apply(args=args)
    finally:
        tasks._holder.close()
    assert isinstance(failed.result, common.InvalidRequestError), failed.result
    assert str(failed.result).startswith(f"{field} must be a string")  # no AttributeError


def test_hidden_participants_are_unknown_as_the_cli_writes_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # RideWithGPS event 101 belongs to an organisation: its participants are not shown.
    with ThreadedFake(server=FakeRideWithGPS(validate=False)) as fake:
        monkeypatch.setenv("RWGPS_ACCESS_TOKEN", "test-access-token")
        monkeypatch.setenv("RWGPS_BASE_URL", fake.url)
        assert cli(["--no-progress", "event", "rwgps", "101"]) in (0, 6)
        expected = json.loads(capsys.readouterr().out)
        tasks = EventsyncTasks(Celery("t", broker="memory://"))
        try:
            got = tasks.get_event.apply(args=("rwgps", "101")).get()
            people = tasks.list_participants.apply(args=("ridewithgps", "101"))
        finally:
            tasks._holder.close()
    assert got == expected
    assert got["participants"] is None and got["participants_complete"] is False
    assert isinstance(people.result, common.PermissionDeniedError)
    assert "only to its owner" in str(people.result)


# -- the fourth hostile round ----------------------------------------------------------------


@pytest.mark.parametrize(
    "broker",
    [
        {"broker": ["redis://127.0.0.1:1/0", "redis://127.0.0.1:2/0"]},
        {"broker": "REDIS://127.0.0.1:1/0"},
        {"broker": "amqp://127.0.0.1:1//;Redis://127.0.0.1:1/0"},
    ],
    ids=["a list", "upper case", "fail-over string"],
)
def test_a_redis_broker_however_named_gets_the_defaults_and_the_check(
    broker: dict[str, Any],
) -> None:
    # Not seen as Redis, the fleet kept kombu's one-hour visibility timeout: a dead
    # worker's keys came back after an hour; and a value of 60 s passed unchecked.
    app = Celery("t", **broker)
    EventsyncTasks(app)
    assert app.conf.broker_transport_options["visibility_timeout"] == 80
    app = Celery("t", **broker)
    app.conf.broker_transport_options = {"visibility_timeout": 60}
    with pytest.raises(common.InvalidRequestError, match="run twice"):
        EventsyncTasks(app)


def test_a_redis_transport_named_without_a_url_gets_the_defaults() -> None:
    app = Celery("t")
    app.conf.broker_transport = "redis"
    EventsyncTasks(app)
    assert app.conf.broker_transport_options["visibility_timeout"] == 80


@pytest.mark.parametrize("value", ["60", None, float("nan"), True])
def test_a_visibility_timeout_that_is_no_number_is_refused(value: object) -> None:
    # "60" and None raised a raw TypeError; nan passed and the worker died at start-up.
    app = Celery("t", broker="redis://127.0.0.1:1/0")
    app.conf.broker_transport_options = {"visibility_timeout": value}
    with pytest.raises(common.InvalidRequestError) as caught:
        EventsyncTasks(app)
    assert caught.value.field == "visibility_timeout"


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("intervals",), {}),
        ((), {}),
        (("intervals", "a", "b"), {}),
        (("a", "b"), {"deadline": 1}),
        ((), {"task": 1, "provider": "intervals", "event_id": "e1"}),
        ((), {"provider": "intervals", "event_id": "e1", "k" * 1_000_000: 1}),
    ],
    ids=["one", "none", "three", "an unknown keyword", "task as a keyword", "a huge keyword"],
)
def test_a_message_with_the_wrong_arguments_fails_with_the_library_s_error(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    # send_task skips Celery's own check: a raw TypeError naming a closure came back.
    tasks = EventsyncTasks(Celery("t", broker="memory://"))
    try:
        failed = tasks.get_event.apply(args=args, kwargs=kwargs)
        listed = tasks.list_participants.apply(args=args, kwargs=kwargs)
    finally:
        tasks._holder.close()
    for result in (failed.result, listed.result):
        assert isinstance(result, common.InvalidRequestError), result
        assert "(provider, event_id)" in str(result)
        assert len(str(result)) < 400
    with pytest.raises(TypeError):  # a producer's own call is still checked at once
        tasks.get_event.delay("intervals")


def test_a_huge_provider_name_or_id_is_not_echoed_whole() -> None:
    tasks = EventsyncTasks(Celery("t", broker="memory://"))
    try:
        unknown = tasks.get_event.apply(args=("x" * 1_000_000, "1")).result
        too_long = tasks.get_event.apply(args=("intervals", "e" * 1_000_000)).result
    finally:
        tasks._holder.close()
    for error in (unknown, too_long):
        assert isinstance(error, common.InvalidRequestError), error
        assert len(str(error)) < 300


def test_the_tasks_are_this_apps_only_and_one_set_per_app() -> None:
    # Found by an audit: Celery's shared tasks were added to every app the process then
    # created (run there with this instance's options), and a second EventsyncTasks on the
    # same app was handed the first one's tasks, its own options silently unused.
    first = Celery("first", broker="memory://")
    tasks = EventsyncTasks(first, max_retries=1)
    other = Celery("other", broker="memory://")
    try:
        assert "eventsync.get_event" in first.tasks
        assert "eventsync.get_event" not in other.tasks
        assert "eventsync.list_participants" not in other.tasks
        with pytest.raises(common.InvalidRequestError) as refused:
            EventsyncTasks(first, max_retries=9)
        assert refused.value.field == "app"
        EventsyncTasks(other)._holder.close()  # another app takes its own
    finally:
        tasks._holder.close()


def test_a_whole_number_too_long_to_write_is_no_id() -> None:
    # A pickled message can carry an int of any size: str() raised a bare ValueError past
    # Python's 4,300 digits, not the library's error (an audit found it).
    tasks = EventsyncTasks(Celery("t", broker="memory://"))
    try:
        failed = tasks.get_event.apply(args=("intervals", 10**5000)).result
    finally:
        tasks._holder.close()
    assert isinstance(failed, common.InvalidRequestError), failed
    assert "too long to be an id" in str(failed)
