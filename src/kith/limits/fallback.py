"""Limits outlive Redis: while it is unreachable, counts fall back to this process's memory.

A Redis outage must not take the API down with it (every request is counted). On the first failed
hit the counts move to memory (each API process then holds a client to the limit on its own, so a
client spreading a burst over N processes gets up to N times the limit), the switch is logged once
and `kith_limits_shared` drops to 0. Redis is tried again every RETRY_SECONDS (one request pays the
attempt, the others count in memory meanwhile); once it answers, counts are shared again.
"""

from __future__ import annotations

import logging
from time import monotonic

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kith.config import Settings
from kith.limits.reserved import ReservedWindowCounts
from kith.limits.windows import MemoryWindowCounts, RedisWindowCounts, Window, WindowCounts
from kith.observability.metrics import LIMITS_FALLBACKS, LIMITS_SHARED

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class SharedCountsWithFallback:
    """RedisWindowCounts while Redis answers, MemoryWindowCounts while it does not."""

    def __init__(self, shared: RedisWindowCounts) -> None:
        self._shared = shared
        self._local = MemoryWindowCounts()
        self._retry_at: float | None = None  # None: Redis is in use
        LIMITS_SHARED.set(1)

    @property
    def shared(self) -> bool:
        return self._retry_at is None

    async def hit(self, key: str, seconds: int, hits: int = 1) -> Window:
        if self._should_try_shared():
            try:
                window = await self._shared.hit(key, seconds, hits)
            except UNREACHABLE as exc:
                self._lost(exc)
            else:
                self._back()
                return window
        return await self._local.hit(key, seconds, hits)

    async def peek(self, key: str) -> Window | None:
        if self._should_try_shared():
            try:
                window = await self._shared.peek(key)
            except UNREACHABLE as exc:
                self._lost(exc)
            else:
                self._back()
                return window
        return await self._local.peek(key)

    async def close(self) -> None:
        await self._local.close()
        await self._shared.close()

    def _should_try_shared(self) -> bool:
        if self._retry_at is None:
            return True
        if monotonic() < self._retry_at:
            return False
        self._retry_at = monotonic() + RETRY_SECONDS  # this request tries; the others wait for its answer
        return True

    def _lost(self, exc: BaseException) -> None:
        if self._retry_at is None:
            logger.warning(
                "limits: Redis unreachable (%s: %s); counting per process until it answers again",
                type(exc).__name__,
                exc,
            )
            LIMITS_SHARED.set(0)
            LIMITS_FALLBACKS.inc()
        self._retry_at = monotonic() + RETRY_SECONDS

    def _back(self) -> None:
        if self._retry_at is not None:
            logger.warning("limits: Redis answers again; counts are shared by every API process again")
            LIMITS_SHARED.set(1)
            self._retry_at = None


def window_counts_for(settings: Settings) -> WindowCounts:
    """Shared counts (Redis, with the fallback; rate limits taken from reserved batches) when REDIS_URL is set and KITH_LIMITS_STORE=redis, else memory."""
    limits = settings.limits
    if limits.store == "redis" and settings.jobs.redis_url:
        return ReservedWindowCounts(
            SharedCountsWithFallback(RedisWindowCounts(settings.jobs.redis_url, limits.namespace))
        )
    return MemoryWindowCounts()
