"""Rate control: the pacing rules, the stores that keep a budget, and the limiter.

* :mod:`._local`: the pacing rules, pure (:class:`Pacer` over a :class:`PaceState`).
* :mod:`._store`: the :class:`RateStore` protocol and :class:`MemoryStore`.
* :mod:`._redis`: :class:`~._redis.RedisRateStore`, the same budget in Redis
  (``rate.lua``); imports redis-py only when a store is built.
* :mod:`._limiter`: the one waiting loop (:class:`PacedLimiter`, :class:`LocalLimiter`).
"""

from ._limiter import Limiter, LocalLimiter, PacedLimiter, Slot
from ._local import Pacer, PaceState, Report, rate_at
from ._store import Budget, MemoryStore, RateStore, StoreError, Turn

__all__ = [
    "Budget",
    "Limiter",
    "LocalLimiter",
    "MemoryStore",
    "PaceState",
    "PacedLimiter",
    "Pacer",
    "RateStore",
    "Report",
    "Slot",
    "StoreError",
    "Turn",
    "rate_at",
]
