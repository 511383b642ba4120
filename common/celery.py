"""Bulk jobs on many machines: the library's calls as Celery tasks (extra ``celery``).

::

    from celery import Celery
    from common.celery import EventsyncTasks

    app = Celery("jobs", broker="redis://localhost:6379/0", backend="redis://localhost:6379/1")
    tasks = EventsyncTasks(app, rate_store="redis://localhost:6379/2")
    event = tasks.get_event.delay("intervals", "abc").get()  # the CLI's JSON object

Celery's own ``rate_limit`` is per worker; the budget in ``rate_store`` is one for
every worker process on every machine (see ``docs/RATE_CONTROL.md``). The guide,
``docs/guides/celery.md``, has the worker command, the Redis layout and the numbers.

**Per worker process** (prefork child, or the solo pool's one process): one event
loop, run by one thread, and one client per provider, built on first use by the
provider's plug-in from the environment (the CLI's variables: ``INTERVALS_API_KEY``,
``RWGPS_ACCESS_TOKEN``, ``*_BASE_URL``...). They are closed when the process ends
(``worker_process_shutdown``, ``worker_shutdown``, else at exit). Each task hands
its coroutine to that loop and waits, so the connection pool and the learned pace
outlive the task. Both are made by the process that runs the task (its pid is
checked), so nothing is inherited across a fork and no ``worker_process_init`` hook
is needed.

**Delivery.** Tasks are acknowledged late (after they ran) and rejected back to
the queue when the worker process running them dies (``acks_late``,
``reject_on_worker_lost``): a killed worker loses no key, at the price of a key
possibly fetched twice (at least once, never zero times). With a Redis broker a
message taken by a worker that died returns to the queue only once it has been
unacknowledged for the transport's ``visibility_timeout``, found by a scan that
by default runs every 10 x 10 s. The defaults set here (see :data:`BROKER_OPTIONS`):

* a scan every 5 s (``unacked_restore_interval`` 5, ``unacked_restore_throttle`` 1);
* ``visibility_timeout`` 80 s, so a dead worker's keys are queued again at most
  80 + 5 s after they were taken, and answered well within two minutes;
* which must stay above the longest a *live* worker keeps a message unacknowledged,
  or the scan hands it to a second worker and it runs twice: a countdown
  (:data:`MAX_COUNTDOWN`, 20 s), then waiting for a busy pool process (one task's
  run) and its own run, each bounded by the hard time limit
  (:data:`TIME_LIMIT`, 25 s): 20 + 25 + 25 = 70 s < 80 s (many countdowns ending
  together on a worker with few processes can queue longer: the guide says when);
* ``unacked_mutex_expire`` 10 s (default 300): a worker killed while it scans holds the
  scan's lock no longer than that, not five minutes;
* ``worker_prefetch_multiplier`` 1, so a worker reserves no more than it runs (over the
  worker's own ``--prefetch-multiplier`` too).

One window is kombu's Redis transport's own: it takes a message off the queue
(``BRPOP``) and then records it as unacknowledged; a worker killed between the two
(a fraction of a millisecond, while it fetches its next task) loses that one message.
A producer waits for results with a timeout and sends again the ids that timed out.

A ``visibility_timeout`` you set yourself is kept when it is above that bound, and
refused (:class:`common.InvalidRequestError`) below it.

**Failures.** A :class:`common.RateLimitError` that outlasts the call's own retries
re-queues the task with ``countdown`` = the server's wait (at most
:data:`MAX_COUNTDOWN`; the shared budget keeps every client back for the rest);
connection errors, timeouts and 5xx are re-queued with a backoff. After
:data:`MAX_TASK_RETRIES` re-queues, or for an error retrying cannot fix (404, 401,
403, validation, a bad id, missing credentials), the task fails with an error of
the library's type and message (a subclass that the result backend's JSON can
carry; ``except common.NotFoundError`` works on the producer), no credential in it
and no cause chain.

**Pools.** ``prefork`` (the default), ``solo`` and ``threads`` are tested (the
threads share the process's loop and clients and take turns; Celery enforces time
limits in prefork only). gevent and eventlet are not supported: under gevent the
loop's thread becomes a greenlet (tried: it answers, six times slower); use prefork.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import math
import os
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

try:
    from celery import bootsteps, signals
    from celery.exceptions import SoftTimeLimitExceeded
except ImportError as error:  # pragma: no cover - the extra is installed in the tests
    raise ImportError(
        f"common.celery needs Celery: pip install 'eventsync[celery]' ({error})"
    ) from None

from . import _errors
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    InvalidRequestError,
    MergeError,
    MissingCredentialsError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TruncationWarning,
)
from ._json import dumps
from ._options import TaskOptions, resolve_options
from ._records import event_record, participant_record
from ._types import Event
from ._url import id_text
from .provider import ProviderPlugin, Registry, SourceOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "BROKER_OPTIONS",
    "MAX_COUNTDOWN",
    "MAX_TASK_RETRIES",
    "SOFT_TIME_LIMIT",
    "TIME_LIMIT",
    "EventsyncTasks",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The longest ``countdown`` a task is re-queued with (a longer server wait is cut to it).
MAX_COUNTDOWN = 20.0
#: A task's soft time limit: it is then re-queued (prefork pool only).
SOFT_TIME_LIMIT = 20.0
#: A task's hard time limit: its process is killed and the task failed (prefork only).
TIME_LIMIT = 25.0
#: Re-queues of one task (429s, connection errors, 5xx, soft time limit) before it fails.
MAX_TASK_RETRIES = 20
#: A call's own deadline in the workers (unless given): under the soft time limit.
CALL_DEADLINE = 15.0
#: The longest a live worker keeps a message unacknowledged (see the module docstring).
LONGEST_HOLD = MAX_COUNTDOWN + 2 * TIME_LIMIT
#: Redis transport options set on the app unless set already (see the module docstring).
BROKER_OPTIONS: Mapping[str, float] = {
    "visibility_timeout": LONGEST_HOLD + 10,
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
    "unacked_mutex_expire": 10,
}
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "sentinel://", "redis+socket://")
_RATE_STORE_VARIABLE = "EVENTSYNC_RATE_STORE"


# -- errors a failed task raises ---------------------------------------------------------------


def _carried(cls: type[APIError]) -> type[APIError]:
    """``cls`` rebuilt from ``(message, status_code)``: what Celery's JSON result keeps of it."""

    def __init__(self: Any, message: str, status_code: int | None = None) -> None:
        if issubclass(cls, APIStatusError):
            cls.__init__(self, message, status_code=status_code or 0)
        elif issubclass(cls, MergeError):
            cls.__init__(self, message, ())
        else:
            cls.__init__(self, message)
        self.args = (message, status_code)

    def __str__(self: APIError) -> str:
        return self.message

    return type(
        cls.__name__,
        (cls,),
        {
            "__init__": __init__,
            "__str__": __str__,
            "__module__": __name__,
            "__qualname__": f"_Carried.{cls.__name__}",
            "__doc__": f"A failed task's :class:`common.{cls.__name__}` (message and status).",
        },
    )


class _Carried:
    """The library's errors as a failed task raises them; found by Celery by qualname."""


for _name in _errors.__all__:
    _cls = getattr(_errors, _name)
    if isinstance(_cls, type) and issubclass(_cls, APIError):
        setattr(_Carried, _name, _carried(_cls))


def _redis_broker(conf: Any) -> bool:
    """Whether the app's broker is Redis: its transport named so (kombu's Redis and
    Sentinel transports, by alias or module path), or any of its URLs, the read and write
    ones too (a list, or ``;``-separated for fail-over; the scheme in any case)."""
    name = str(conf.broker_transport or "").lower()
    if name in ("redis", "rediss", "sentinel") or name.startswith("kombu.transport.redis"):
        return True
    listed: list[Any] = []
    for urls in (conf.broker_url, conf.broker_read_url, conf.broker_write_url):
        listed += urls.split(";") if isinstance(urls, str) else list(urls or ())
    return any(str(url).strip().lower().startswith(_REDIS_SCHEMES) for url in listed)


def _strict(task: Any, /, provider: str, event_id: str) -> None:
    """The tasks' signature (see :class:`EventsyncTasks`)."""


_SIGNATURE = inspect.signature(_strict)


def _arguments(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``(provider, event_id)`` of a message, or the library's error naming the task."""
    try:
        bound = _SIGNATURE.bind(None, *args, **kwargs)
    except TypeError as exc:
        why = str(exc)
        if len(why) > 200:  # it may hold a keyword of the message's choosing, of any length
            why = why[:200] + "…"
        error = InvalidRequestError(f"eventsync.{name}(provider, event_id): {why}")
        raise _carry(error) from None
    return bound.arguments["provider"], bound.arguments["event_id"]


def _carry(exc: APIError) -> APIError:
    """``exc`` as a failed task raises it: the nearest library type, the same text."""
    for base in type(exc).__mro__:
        carried: Any = getattr(_Carried, base.__name__, None)
        if carried is not None and getattr(_errors, base.__name__, None) is base:
            text = " ".join(str(exc).split()) or base.__name__  # one line, as the CLI says it
            error: APIError = carried(text, getattr(exc, "status_code", None))
            return error
    raise TypeError(f"not a library error: {type(exc).__name__}")  # pragma: no cover


# -- one worker process's loop and clients ---------------------------------------------------


@attrs.frozen(kw_only=True)
class _WorkerOptions(SourceOptions):
    """The CLI's options plus any other client option (plug-ins pass ``keywords()`` on)."""

    extra: Mapping[str, Any] = attrs.field(factory=dict)

    def keywords(self) -> dict[str, Any]:
        given = {k: v for k, v in super().keywords().items() if k != "extra"}
        return {**given, **self.extra}


class _Loop:
    """One process's event loop, run by a thread, and the sources opened on it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.sources: dict[str, Any] = {}
        self.opening: asyncio.Lock | None = None
        # Warnings are caught per call (process-wide state): one call at a time records them.
        self.recording: asyncio.Lock | None = None
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="eventsync-celery-loop", daemon=True
        )
        self.thread.start()

    def run(self, coroutine: Callable[[], Awaitable[T]]) -> T:
        """Run ``coroutine()`` on the loop and wait; an exception here (a time limit) cancels it."""

        async def call() -> T:
            return await coroutine()

        future = asyncio.run_coroutine_threadsafe(call(), self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    async def source(self, plugin: ProviderPlugin, options: SourceOptions) -> Any:
        """The provider's source, opened on first use."""
        if self.opening is None:
            self.opening = asyncio.Lock()
        async with self.opening:
            if plugin.name not in self.sources:
                try:
                    opened = plugin.open_source(options)
                    self.sources[plugin.name] = await self.stack.enter_async_context(opened)
                except MissingCredentialsError:
                    raise MissingCredentialsError(
                        f"no {plugin.title} credentials in the worker's environment:"
                        f" set {plugin.credentials}"
                    ) from None
        return self.sources[plugin.name]

    def close(self) -> None:
        """Close the clients, then the loop; only in the process that opened them."""
        if self.pid != os.getpid() or self.loop.is_closed():
            return
        count = len(self.sources)
        try:
            self.run(self._aclose)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            if not self.thread.is_alive():
                self.loop.close()
        logger.info("closed %d eventsync client(s) of worker process %d", count, self.pid)

    async def _aclose(self) -> None:
        self.sources.clear()
        await self.stack.aclose()
        await self.loop.shutdown_asyncgens()


class _Holder:
    """The current process's :class:`_Loop`; what the shutdown hooks close."""

    def __init__(self) -> None:
        self.current: _Loop | None = None
        self.lock = threading.Lock()

    def get(self) -> _Loop:
        with self.lock:
            if self.current is None or self.current.pid != os.getpid():
                # Built in a parent before a fork: that loop is the parent's, left alone.
                self.current = _Loop()
            return self.current

    def close(self, *_: Any, **__: Any) -> None:
        with self.lock:
            current, self.current = self.current, None
        if current is not None:
            current.close()


# -- the tasks ---------------------------------------------------------------------------------


def _json(data: Any) -> Any:
    """What the CLI writes, read back: plain JSON types only (what a result backend stores)."""
    return json.loads(dumps(data))


class _OnePrefetch(bootsteps.Step):  # type: ignore[misc]  # (celery has no type hints)
    """A worker bootstep: the worker reserves no more tasks than it has processes to run
    them, whatever its command line says. A task prefetched behind others waits past the
    longest hold and the broker's visibility timeout hands it out again: it runs twice
    (a worker started with ``--prefetch-multiplier 14`` fetched 5 of 14 events twice).
    Every step is built before any starts: the consumer then reads this value."""

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        if worker.prefetch_multiplier != 1:
            logger.warning(
                "worker_prefetch_multiplier %s replaced by 1: eventsync's tasks must not wait"
                " behind others a worker reserved (they would run twice)",
                worker.prefetch_multiplier,
            )
            worker.prefetch_multiplier = 1
        super().__init__(worker, **kwargs)


#: The attribute that marks an app given eventsync's tasks (one :class:`EventsyncTasks` each).
_ON_APP = "_eventsync_tasks"


class EventsyncTasks:
    """The library's reads as Celery tasks on ``app``: :attr:`get_event` and
    :attr:`list_participants`, both taking ``(provider, event_id)``.

    Args:
        app: the Celery app; configure it first. Its Redis transport options get
            :data:`BROKER_OPTIONS` where unset, and ``worker_prefetch_multiplier`` 1.
        rate_store: Redis URL of the rate budget every worker shares (a database
            apart from the broker's); None reads ``$EVENTSYNC_RATE_STORE`` in the
            worker, and without it each process paces alone.
        client_options: any client option (``rate_limit``, ``max_retries``,
            ``timeout``...), for every provider; ``deadline`` defaults to
            :data:`CALL_DEADLINE`. Credentials and base URLs come from the
            environment, read by each provider's plug-in as the CLI does.

    The producer needs the same instance (same app, same module) to call
    ``tasks.get_event.delay(...)``; nothing is opened until a task runs. One per app:
    a second on the same app is an :class:`common.InvalidRequestError`, and the tasks
    are this app's only (not added to other apps of the process, as Celery's shared
    tasks are).
    """

    def __init__(
        self, app: Any, *, rate_store: str | None = None, **client_options: Unpack[TaskOptions]
    ) -> None:
        if rate_store is not None and not (
            isinstance(rate_store, str)
            and rate_store.startswith(("redis://", "rediss://", "unix://"))
        ):
            # A RedisRateStore object would be shared by forked processes and bound to one loop.
            raise InvalidRequestError(
                "rate_store must be a Redis URL (each worker process opens its own connection)",
                field="rate_store",
            )
        for name in ("base_url", "session"):
            if name in client_options:  # (not options of the type: refused at run time too)
                raise InvalidRequestError(
                    f"{name} is not an option here: each provider's comes from its environment"
                    " variables (as for the CLI)",
                    field=name,
                )
        client_options.setdefault("deadline", CALL_DEADLINE)
        resolve_options(**client_options)  # a wrong name or value fails here, not in a worker
        self.app = app
        self._rate_store = rate_store
        self._client_options: dict[str, Any] = dict(client_options)
        self._registry: Registry | None = None
        self._holder = _Holder()
        if getattr(app, _ON_APP, False):
            # Celery would hand a second registration the first one's tasks, unsaid: this
            # instance's options would never apply.
            raise InvalidRequestError(
                "this Celery app has eventsync's tasks already (another EventsyncTasks):"
                " build one per app and import it wherever the tasks are called",
                field="app",
            )
        self._configure(app)
        setattr(app, _ON_APP, True)
        # Close the process's clients when it ends: a prefork child, the solo pool's process,
        # else at exit (weakref.finalize runs then too).
        signals.worker_process_shutdown.connect(self._holder.close, weak=True)
        signals.worker_shutdown.connect(self._holder.close, weak=True)
        weakref.finalize(self, self._holder.close)
        options = {
            # On this app only: a shared task (Celery's default) is added to every app the
            # process creates, each then running eventsync's messages with these options.
            "shared": False,
            "bind": True,
            "acks_late": True,
            "reject_on_worker_lost": True,
            "max_retries": MAX_TASK_RETRIES,
            "soft_time_limit": SOFT_TIME_LIMIT,
            "time_limit": TIME_LIMIT,
        }

        # Plain functions (Celery binds the task as their first argument), taking any
        # arguments: a message's are anyone's JSON (``send_task`` skips Celery's own check),
        # and too few or too many must fail with the library's error, not a TypeError.
        # Their signature stays the strict one, which Celery checks when a producer calls.
        def get_event(task: Any, /, *args: Any, **kwargs: Any) -> Any:
            return self._get_event(task, *_arguments("get_event", args, kwargs))

        def list_participants(task: Any, /, *args: Any, **kwargs: Any) -> Any:
            return self._list_participants(task, *_arguments("list_participants", args, kwargs))

        for body in (get_event, list_participants):
            body.__dict__["__signature__"] = _SIGNATURE

        self.get_event = app.task(name="eventsync.get_event", **options)(get_event)
        """Task ``(provider, event_id) -> dict``: the event as ``eventsync event`` writes it."""
        self.list_participants = app.task(name="eventsync.list_participants", **options)(
            list_participants
        )
        """Task ``(provider, event_id) -> list[dict]``: one object per participant, as
        ``eventsync participants`` writes them."""

    def __repr__(self) -> str:
        return f"EventsyncTasks(app={self.app.main!r})"

    @staticmethod
    def _configure(app: Any) -> None:
        conf = app.conf
        conf.worker_prefetch_multiplier = 1
        # ... and in the worker, over its command line (``--prefetch-multiplier``,
        # ``$CELERY_WORKER_PREFETCH_MULTIPLIER``), which comes after the configuration.
        app.steps["worker"].add(_OnePrefetch)
        if not _redis_broker(conf):
            return
        transport = dict(conf.broker_transport_options or {})
        for key, value in BROKER_OPTIONS.items():
            transport.setdefault(key, value)
        timeout = transport["visibility_timeout"]
        number = isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
        if not number or not math.isfinite(timeout) or timeout <= LONGEST_HOLD:
            raise InvalidRequestError(
                f"visibility_timeout {timeout!r:.40} is not a number of seconds above"
                f" {LONGEST_HOLD:g}, the longest a live worker holds a task: tasks would"
                " run twice (leave it unset for the default)",
                field="visibility_timeout",
            )
        conf.broker_transport_options = transport

    # -- inside a worker -----------------------------------------------------------------------

    def _plugin(self, provider: str) -> ProviderPlugin:
        if self._registry is None:
            self._registry = Registry.discover()
        try:
            return self._registry.get(provider)
        except LookupError as exc:
            raise InvalidRequestError(str(exc), field="provider") from None

    def _options(self) -> SourceOptions:
        store = self._rate_store or os.environ.get(_RATE_STORE_VARIABLE) or None
        extra = {k: v for k, v in self._client_options.items() if k not in ("rate_limit",)}
        return _WorkerOptions(
            rate_limit=self._client_options.get("rate_limit"), rate_store=store, extra=extra
        )

    def _call(self, task: Any, provider: str, event_id: str) -> tuple[ProviderPlugin, _Details]:
        """One event in full, as the CLI's ``event`` command fetches it; failures sorted out."""
        try:
            # a message's arguments are anyone's JSON: a string (or an id's whole number)
            if not isinstance(provider, str):
                raise InvalidRequestError(
                    f"provider must be a string, got {type(provider).__name__}", field="provider"
                )
            if isinstance(event_id, bool) or not isinstance(event_id, (str, int)):
                raise InvalidRequestError(
                    f"event_id must be a string, got {type(event_id).__name__}",
                    field="event_id",
                )
            plugin = self._plugin(provider)
            checked = plugin.check_id(id_text(event_id, "event_id"))
            loop = self._holder.get()
            return plugin, loop.run(lambda: _details(loop, plugin, self._options(), checked))
        except (RateLimitError, APIConnectionError, ServerError, SoftTimeLimitExceeded) as exc:
            transient: BaseException = exc
        except APIError as exc:
            raise _carry(exc) from None
        # Out of the except block: no cause chain goes into the stored traceback.
        wait = transient.retry_after if isinstance(transient, RateLimitError) else None
        if wait is None:
            wait = 2.0 ** min(task.request.retries, 5)
        countdown = max(0.0, min(float(wait), MAX_COUNTDOWN))
        error = _carry(_as_api_error(transient))
        if task.request.retries < (task.max_retries or 0):  # else retry() raises ``error``
            logger.info("re-queued in %.1f s: %s", countdown, error)
        # Raises celery's Retry (the worker re-queues), or ``error`` once out of retries.
        raise task.retry(countdown=countdown, exc=error)

    def _get_event(self, task: Any, provider: str, event_id: str) -> Any:
        _, got = self._call(task, provider, event_id)
        record = event_record(got.event, complete=got.visible and got.complete)
        if not got.visible:  # unknown, not none (as the CLI writes it)
            record["participants"] = None
        return _json(record)

    def _list_participants(self, task: Any, provider: str, event_id: str) -> Any:
        plugin, got = self._call(task, provider, event_id)
        if not got.visible:  # as ``eventsync participants`` says it
            error = PermissionDeniedError(
                f"{plugin.title} does not show the participants of event {got.event.id} to"
                " you (only to its owner, or to an API key allowed to read them)",
                status_code=403,
            )
            raise _carry(error) from None
        return _json([participant_record(p) for p in got.event.participants or ()])


@attrs.frozen
class _Details:
    """One event fetched in full: shown its participants or not, and all of them or not."""

    event: Event
    visible: bool
    complete: bool


async def _details(
    loop: _Loop, plugin: ProviderPlugin, options: SourceOptions, event_id: str
) -> _Details:
    """The CLI's ``_details``: the event, with a truncation of its participants noted."""
    source = await loop.source(plugin, options)
    if loop.recording is None:
        loop.recording = asyncio.Lock()
    async with loop.recording:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TruncationWarning)
            event = await source.get_event(event_id)
    notes = []
    for warning in caught:
        if issubclass(warning.category, TruncationWarning):
            notes.append(str(warning.message))
        else:  # not ours to swallow
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    for note in notes:
        logger.warning("%s event %s: participants: %s", plugin.name, event.id, note)
    visible = event.participants is not None and plugin.participants_visible(event)
    return _Details(event, visible, not notes)


def _as_api_error(exc: BaseException) -> APIError:
    if isinstance(exc, APIError):
        return exc
    return APIConnectionError(f"the task ran past its soft time limit ({SOFT_TIME_LIMIT:g} s)")
