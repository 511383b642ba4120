"""The client options, declared once: one frozen class, validated in one place.

Both provider clients take these as typed keywords (``**options:
Unpack[ClientOptions]``, so a type checker catches a misspelled ``deadline=``)
and :meth:`common.provider.BaseClient.with_options` takes the per-call subset
(:class:`CallOptions`). :func:`resolve_options` is the only place that turns
keywords into an :class:`Options` and checks them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import aiohttp
import attrs

from ._errors import InvalidRequestError
from ._retry import RetryPolicy
from .ratelimit._redis import check_rate_key, check_store_url, redact_url
from .ratelimit._store import RateStore

if TYPE_CHECKING:
    from .ratelimit._redis import RedisRateStore

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "CallOptions",
    "ClientOptions",
    "Options",
    "resolve_options",
]

#: Default overall deadline across all attempts and waits of one call, in seconds.
DEFAULT_DEADLINE = 120.0
#: Default cap on a response body, in bytes.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024


#: The largest finite float.
_LARGEST = sys.float_info.max


def _positive(name: str, *, optional: bool = False) -> Any:
    def check(_: object, __: object, value: float | None) -> None:
        if value is None and optional:
            return
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (0 < value < math.inf)
            or value > _LARGEST  # an integer no float holds: every use of it would overflow
        ):
            what = "a positive number or None" if optional else "a positive number"
            raise InvalidRequestError(f"{name} must be {what} (finite)", field=name)

    return check


def _at_least(name: str, low: int) -> Any:
    def check(_: object, __: object, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidRequestError(f"{name} must be an integer >= {low}", field=name)

    return check


def _traces(value: Sequence[aiohttp.TraceConfig]) -> tuple[aiohttp.TraceConfig, ...]:
    # (typed as the option is, for the signature; checked as anything a caller may pass)
    configs: tuple[Any, ...]
    try:
        configs = tuple(value)
    except TypeError:
        configs = (value,)
    if not all(isinstance(config, aiohttp.TraceConfig) for config in configs):
        raise InvalidRequestError(
            "trace_configs must be a sequence of aiohttp.TraceConfig", field="trace_configs"
        )
    return configs


def _store(_: object, __: object, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, str):
        check_store_url(value)
        return
    if not isinstance(value, RateStore):  # a store of one's own is one: all of it
        raise InvalidRequestError(
            "rate_store must be a Redis URL or a common.RedisRateStore", field="rate_store"
        )


def _store_repr(value: object) -> str:
    """A Redis URL's password never shows (``repr(options)``, logs, tracebacks)."""
    return repr(redact_url(value)) if isinstance(value, str) else repr(value)


def _key(_: object, __: object, value: str | None) -> None:
    if value is not None:
        check_rate_key(value)


@attrs.frozen(kw_only=True)
class Options:
    """Every option of a client, with its default. Frozen: derive a changed copy with
    ``attrs.evolve(options, timeout=5)`` (or a client's ``with_options(...)``).

    ``retry_policy`` carries ``max_retries`` and ``max_retry_wait``; the two
    properties of the same names read them from it.
    """

    #: Seconds per attempt (connect, send, whole body).
    timeout: float = attrs.field(default=30.0, validator=_positive("timeout"))
    #: Seconds for a whole call: every attempt and every wait (None: unbounded).
    deadline: float | None = attrs.field(
        default=DEFAULT_DEADLINE, validator=_positive("deadline", optional=True)
    )
    #: When and how long to retry; holds ``max_retries`` and ``max_retry_wait``.
    retry_policy: RetryPolicy = attrs.field(factory=RetryPolicy)
    #: Requests per second to pace to; None learns the pace from 429s.
    rate_limit: float | None = attrs.field(
        default=None, validator=_positive("rate_limit", optional=True)
    )
    #: The server's burst (with ``rate_limit``): ``rate_burst - 1`` requests go at once
    #: before pacing applies (one slot spare, for the network's jitter), at least one.
    rate_burst: int = attrs.field(default=1, validator=_at_least("rate_burst", 1))
    #: A Redis URL or a :class:`common.RedisRateStore` sharing the budget (None: local).
    rate_store: str | RedisRateStore | None = attrs.field(
        default=None, validator=_store, repr=_store_repr
    )
    #: The shared budget's name (None: provider + origin + a hash of the credential).
    rate_key: str | None = attrs.field(default=None, validator=_key)
    #: Requests in flight at once (aiohttp's connector default).
    max_concurrency: int = attrs.field(default=100, validator=_at_least("max_concurrency", 1))
    #: Cap on one response body, in bytes.
    max_response_bytes: int = attrs.field(
        default=DEFAULT_MAX_RESPONSE_BYTES, validator=_at_least("max_response_bytes", 1)
    )
    #: aiohttp trace configs for an owned session.
    trace_configs: Sequence[aiohttp.TraceConfig] = attrs.field(default=(), converter=_traces)

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
        return self.retry_policy.max_retries

    @property
    def max_retry_wait(self) -> float:
        """The longest server-named wait honoured; longer ones fail the call at once."""
        return self.retry_policy.max_retry_wait


class CallOptions(TypedDict, total=False):
    """The options :meth:`common.provider.BaseClient.with_options` may change (per-call ones)."""

    timeout: float
    deadline: float | None
    max_retries: int
    max_retry_wait: float
    retry_policy: RetryPolicy


class TaskOptions(CallOptions, total=False):
    """Every constructor option of both clients but ``rate_store`` (what
    :class:`common.celery.EventsyncTasks` passes on: its store is a URL of its own)."""

    rate_limit: float | None
    rate_burst: int
    rate_key: str | None
    max_concurrency: int
    max_response_bytes: int
    trace_configs: Sequence[aiohttp.TraceConfig]


class ClientOptions(TaskOptions, total=False):
    """Every constructor option of both clients (defaults: see :class:`Options`)."""

    rate_store: str | RedisRateStore | None


_POLICY_DEFAULTS = {
    "max_retries": RetryPolicy().max_retries,
    "max_retry_wait": RetryPolicy().max_retry_wait,
}
_CALL_OPTIONS = frozenset(CallOptions.__annotations__)
_ALL_OPTIONS = frozenset(ClientOptions.__annotations__) | _CALL_OPTIONS


def resolve_options(
    base: Options | None = None, *, per_call_only: bool = False, **given: Any
) -> Options:
    """``base`` (default: all defaults) with ``given`` applied and checked.

    ``max_retries``/``max_retry_wait`` given as keywords win over a
    ``retry_policy`` field left at its default; a policy field set to another
    value wins over the default keyword; both set to different values is an
    :class:`InvalidRequestError` (never a silent override).
    """
    allowed = _CALL_OPTIONS if per_call_only else _ALL_OPTIONS
    for name in given:
        if name not in allowed:
            where = "with_options()" if per_call_only else "the client"
            raise InvalidRequestError(f"{where} has no option {name!r}", field=name)
    base = base or Options()
    policy = given.pop("retry_policy", None)
    if policy is None:
        policy = base.retry_policy
    elif not isinstance(policy, RetryPolicy):
        raise InvalidRequestError("retry_policy must be a common.RetryPolicy", field="retry_policy")
    else:
        for name in ("max_retries", "max_retry_wait"):
            # A policy field left at its default never overrides nor contradicts a keyword.
            mine = getattr(policy, name)
            if name in given and given[name] != mine and mine != _POLICY_DEFAULTS[name]:
                raise InvalidRequestError(
                    f"{name}={given[name]!r} contradicts retry_policy.{name}="
                    f"{getattr(policy, name)!r}: pass one of them",
                    field=name,
                )
    changes = {name: given.pop(name) for name in ("max_retries", "max_retry_wait") if name in given}
    if changes:
        _at_least("max_retries", 0)(None, None, changes.get("max_retries", 0))
        wait = changes.get("max_retry_wait", 0)
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait >= 0:
            raise InvalidRequestError(
                "max_retry_wait must be a number >= 0", field="max_retry_wait"
            )
        policy = attrs.evolve(policy, **changes)
    return attrs.evolve(base, retry_policy=policy, **given)
