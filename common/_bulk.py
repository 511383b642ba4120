"""Bulk concurrent work: :func:`fetch_many` and :func:`merge_events`.

Both are async generators fed by a driver task that runs an anyio task group.
The task group lives entirely inside the driver, never across a ``yield``, so
breaking out of the loop (which closes the generator, perhaps from another
task) or cancelling the caller simply cancels the driver: in-flight work is
cancelled and awaited, and nothing is left behind.

A ``CancelledError`` is the caller's own only when the task group was
cancelled (the caller cancelled, or broke out of the loop). Any other one (the
function raised it, or awaited a future or task that something else
cancelled) is not allowed to end a worker silently, which would end the
stream normally with keys missing: it becomes a
:class:`common.CancelledElsewhereError`, a key's ``Result.error`` in
:func:`fetch_many` and the stream's error in :func:`merge_events`.

Memory stays bounded however many keys: keys are drawn lazily, a new call
starts only when one of the ``concurrency`` slots is free, and finished
results wait in a buffer of ``concurrency`` items for the consumer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sized,
)
from contextlib import aclosing
from typing import Any, Generic, TypeVar

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream as ObjectSendStream

from ._errors import CancelledElsewhereError, InvalidRequestError, MergeError
from ._types import Event, EventSource
from ._validate import date_window

__all__ = ["Result", "fetch_many", "merge_events"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


@attrs.frozen
class Result(Generic[K, V]):
    """The outcome for one key: ``value`` on success, else ``error`` (the exception raised)."""

    key: K
    value: V | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.error is None

    def unwrap(self) -> V:
        """The value, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


async def _drain(
    run: Callable[[TaskGroup, ObjectSendStream[T]], Awaitable[None]], buffer: int
) -> AsyncGenerator[T, None]:
    """Yield what ``run`` sends, ``run`` executing in its own driver task."""
    send, receive = anyio.create_memory_object_stream[T](max(buffer, 1))

    async def driver() -> None:
        try:
            async with send, anyio.create_task_group() as group:
                await run(group, send)
        except BaseException as exc:
            raise _unwrap(exc) from None

    task = asyncio.ensure_future(driver())
    try:
        async with receive:
            while True:
                try:
                    # Take what is ready without a trip through the event loop.
                    item = receive.receive_nowait()
                except anyio.WouldBlock:
                    try:
                        item = await receive.receive()
                    except anyio.EndOfStream:
                        break
                except anyio.EndOfStream:
                    break
                yield item
        if not task.done():
            await asyncio.wait({task})  # the caller's own cancellation is raised here
        if task.cancelled():  # not by us: we cancel it only in the finally below
            raise CancelledElsewhereError(
                "the bulk work was cancelled, not by this caller: something else"
                " cancelled its task; results may be missing"
            )
        task.result()  # re-raise a failure of the driver itself (e.g. the key iterator)
    finally:
        if not task.done():
            task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.gather(task, return_exceptions=True)


#: The consumer closed its end: it broke out of its loop, and the program may be ending
#: before the work is cancelled (``asyncio.run`` returning right after a ``break``).
_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError)


async def _put(send: ObjectSendStream[T], item: T) -> bool:
    """Send, without yielding to the event loop when the buffer has room; False when the
    consumer is gone (nobody wants the rest: the work ends quietly, not with an error)."""
    try:
        try:
            send.send_nowait(item)
        except anyio.WouldBlock:
            await send.send(item)
    except _GONE:
        return False
    return True


def _foreign(scope: anyio.CancelScope, what: str) -> CancelledElsewhereError | None:
    """For a ``CancelledError`` just caught: None when it is the caller's own (the task
    group was cancelled: re-raise it), else the error that says so about ``what``."""
    if scope.cancel_called:
        return None
    return CancelledElsewhereError(
        f"{what} was cancelled, not by this caller: something else cancelled"
        " what it awaited, so it did not finish"
    )


def _draw_failed(exc: BaseException, scope: anyio.CancelScope) -> Exception:
    """The error that ends a job whose key source raised ``exc`` (the calls in flight
    keep their results); re-raises ``exc`` when it is the caller's own cancellation or
    not an error (KeyboardInterrupt). A plain iterator may raise ``CancelledError`` too:
    ``(f.result() for f in futures)`` over a future something else cancelled."""
    if isinstance(exc, asyncio.CancelledError):
        error = _foreign(scope, "reading the next key")
        if error is not None:
            error.__cause__ = exc
            return error
    if not isinstance(exc, Exception):
        raise exc
    return exc


def _leaves(exc: BaseException) -> list[BaseException]:
    """The errors inside (nested) exception groups, in order; ``[exc]`` for a plain one."""
    inner = getattr(exc, "exceptions", None)
    if not isinstance(inner, tuple):
        return [exc]
    return [leaf for item in inner for leaf in _leaves(item)]


def _unwrap(exc: BaseException) -> BaseException:
    """What a task group's failure means to the caller, never an exception group.

    One error is raised as itself; several (two sources failing together)
    become one :class:`MergeError` listing each. A group holding a
    ``KeyboardInterrupt`` or the like is left alone.
    """
    leaves = _leaves(exc)
    if len(leaves) == 1:
        return leaves[0]
    errors = tuple(leaf for leaf in leaves if isinstance(leaf, Exception))
    if len(errors) < len(leaves):
        return exc
    shown = "; ".join(f"{type(e).__name__}: {e}" for e in errors[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    return MergeError(f"{len(errors)} sources failed: {shown}{more}", errors)


#: fetch_many starts its workers this many at a time (see ``run`` there).
_SPAWN_BATCH = 1024


async def fetch_many(
    fn: Callable[[K], Awaitable[V]],
    keys: Iterable[K] | AsyncIterable[K],
    *,
    concurrency: int,
    on_progress: Callable[[int, int | None], Any] | None = None,
) -> AsyncGenerator[Result[K, V], None]:
    """Call ``await fn(key)`` for every key, at most ``concurrency`` at once.

    Yields a :class:`Result` per key as each finishes; one key's failure never
    stops the others (an ``Exception`` becomes ``Result.error``). A
    ``CancelledError`` that is not the caller's own (the function raised it, or
    awaited something another task cancelled) becomes a
    :class:`common.CancelledElsewhereError` in that key's ``Result.error``, so
    every key gets a result; the caller's own cancellation (or breaking out of
    the loop) ends the loop and propagates. Retries and
    rate limits are the client's: a client shared by all calls paces them and
    cools them down together. ``on_progress(done, total)`` is called after each
    key (``total`` is None when ``keys`` has no length; an ``async def`` one is awaited
    there, before the result is yielded); if it raises, it is not called
    again and its error is raised once every key has its result. A key iterator that
    raises stops the drawing of keys: the calls in flight finish and yield their
    results, then its error is raised.

    Example::

        async for result in fetch_many(client.get_event, ids, concurrency=32):
            if result.ok:
                print(result.key, result.unwrap().event.name)
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidRequestError(
            f"concurrency must be a positive integer, got {concurrency!r}", field="concurrency"
        )
    if not callable(fn):
        raise InvalidRequestError(
            f"fn must be an async function, got {type(fn).__name__}", field="fn"
        )
    if not isinstance(keys, (Iterable, AsyncIterable)):
        raise InvalidRequestError(
            f"keys must be an iterable or an async iterable, got {type(keys).__name__}",
            field="keys",
        )
    if on_progress is not None and not callable(on_progress):
        raise InvalidRequestError(
            f"on_progress must be a function or None, got {type(on_progress).__name__}",
            field="on_progress",
        )
    try:
        total = len(keys) if isinstance(keys, Sized) else None
    except OverflowError:  # range(10**20): sized, but no len() can say it
        total = None

    # A pool of ``concurrency`` workers sharing one key iterator: no task or
    # semaphore per key, and keys are drawn only as a worker frees up. A key iterator
    # that fails ends the drawing: the keys in flight still finish and get their results,
    # then the last worker out raises the iterator's error as the stream's.
    failed: list[Exception] = []
    running = started = drawn = 0  # workers started and not finished; ever started; keys
    exhausted = False  # the key iterator is used up
    # Workers start a batch at a time (see ``run``): the next once as many keys were drawn
    # as workers started, or the drawing ended.
    enough = anyio.Event()

    def drew() -> None:
        nonlocal drawn
        drawn += 1
        if drawn == started:
            enough.set()

    def finished() -> None:
        nonlocal running
        running -= 1
        enough.set()  # a worker ends only when the drawing did
        if running == 0 and failed:
            raise failed[0]

    iterator: Iterator[K] | None = None
    if isinstance(keys, AsyncIterable):
        shared = aiter(keys)
        lock = anyio.Lock()
    else:
        iterator = iter(keys)

    async def worker(send: ObjectSendStream[Result[K, V]], scope: anyio.CancelScope) -> None:
        # (one coroutine, the call's handling in line: each await layer under the call
        # costs every request up to a microsecond in bulk)
        nonlocal exhausted
        while not failed:  # every worker advances the same iterator
            try:
                if iterator is not None:
                    key = next(iterator)
                else:
                    async with lock:  # an async generator cannot be advanced by two at once
                        key = await anext(shared)
            except (StopIteration, StopAsyncIteration):
                exhausted = True
                break
            except BaseException as exc:
                failed.append(_draw_failed(exc, scope))
                break
            drew()
            try:
                result: Result[K, V] = Result(key, value=await fn(key))
            except asyncio.CancelledError as exc:
                error = _foreign(scope, f"the call for key {key!r:.80}")
                if error is None:
                    raise
                error.__cause__ = exc
                result = Result(key, error=error)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # any other: that key's error (GeneratorExit, a custom)
                result = Result(key, error=exc)
            if not await _put(send, result):
                break  # the consumer is gone
        finished()

    async def run(group: TaskGroup, send: ObjectSendStream[Result[K, V]]) -> None:
        # A batch at a time, the next once as many keys were drawn as workers started: at
        # most a batch more workers than keys (three keys at a concurrency of a million started
        # a million, for 65 s and 3 GB, past any cancellation); up to a batch, all at once.
        nonlocal running, started, enough
        while True:
            batch = min(concurrency - started, _SPAWN_BATCH)
            started += batch
            running += batch
            enough = anyio.Event()
            for _ in range(batch):
                group.start_soon(worker, send, group.cancel_scope)
            if started >= concurrency:
                return
            if drawn < started:
                await enough.wait()
            if exhausted or failed:
                return

    done = 0
    progress_failed: Exception | None = None
    async with aclosing(_drain(run, concurrency)) as results:
        async for result in results:
            done += 1
            if on_progress is not None and progress_failed is None:
                try:
                    shown = on_progress(done, total)
                    if inspect.isawaitable(shown):  # an async def: awaited (it never ran)
                        await shown
                except Exception as exc:  # raised once every key has its result
                    progress_failed = exc
            yield result
    if progress_failed is not None:
        raise progress_failed


async def merge_events(
    *sources: EventSource,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> AsyncGenerator[Event, None]:
    """Every event of every source, read concurrently, in one stream.

    A source that fails stops the whole stream with its error (the others
    are cancelled); when several fail together, one :class:`common.MergeError`
    whose ``errors`` lists each. A source that meets a ``CancelledError`` not
    caused by the caller raises :class:`common.CancelledElsewhereError`: the
    stream never ends normally with a source's events missing. Events are
    passed on as the sources made them (``participants`` None, "not shown",
    stays None). Use :func:`fetch_many` when partial results
    are wanted.
    """

    date_window(date_from, date_to)  # one error of the caller's, not one per source
    for source in sources:
        if not callable(getattr(source, "iter_events", None)):
            raise InvalidRequestError(
                f"merge_events takes event sources, got {type(source).__name__}", field="sources"
            )

    async def pump(
        source: EventSource, send: ObjectSendStream[Event], scope: anyio.CancelScope
    ) -> None:
        events: AsyncIterator[Event] | None = None
        try:
            # Called inside: a plain ``def iter_events`` may raise before its iterator.
            events = source.iter_events(date_from=date_from, date_to=date_to)
            async for event in events:
                if not await _put(send, event):
                    return
        except asyncio.CancelledError as exc:
            if not scope.cancel_called:
                # asyncio.run ending (just after the caller's break) cancels every task at
                # once: the group's own task, cancelled too, cancels the group on its next
                # step. One turn of the loop tells that from a cancellation of what the
                # source awaited (which cancels nothing else).
                await asyncio.sleep(0)
            error = _foreign(scope, f"the {source.provider} source's listing")
            if error is None:
                raise
            raise error from exc
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()

    async def run(group: TaskGroup, send: ObjectSendStream[Event]) -> None:
        for source in sources:
            group.start_soon(pump, source, send, group.cancel_scope)

    async with aclosing(_drain(run, 64)) as events:
        async for event in events:
            yield event
