"""Fixed-window counts, each hit counted and read in one atomic step.

In Redis (REDIS_URL set, KITH_LIMITS_STORE=redis) a hit is one INCR, so every API process shares the
counts and a burst spread over several processes cannot pass a limit (a read-then-write, as Litestar's
RateLimitMiddleware does with a Store, can). In memory (one process) a hit takes no await.
"""

from __future__ import annotations

import math
from time import time
from typing import NamedTuple, Protocol

from litestar import Litestar
from redis.asyncio import Redis

WINDOW_COUNTS_STATE_KEY = "kith_window_counts"

# KEYS[1] the window's key, ARGV[1] its length (s), ARGV[2] the hits: the count with them, and the ms left.
_HIT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1]) * 1000
end
return {count, ttl}
"""
# KEYS[1] the window's key: its count and ms left, or nothing.
_PEEK = """
local count = redis.call('GET', KEYS[1])
if not count then return nil end
return {tonumber(count), redis.call('PTTL', KEYS[1])}
"""


class Window(NamedTuple):
    count: int  # hits in the window so far
    reset_in: int  # seconds until it ends (at least 1)
    ends_in: float = 0.0  # the same, exactly (where the store says it)


def _window(count: int, ms_left: float) -> Window:
    return Window(count, max(1, math.ceil(ms_left / 1000)), ms_left / 1000)


class WindowCounts(Protocol):
    async def hit(self, key: str, seconds: int, hits: int = 1) -> Window:
        """Count `hits` in `key`'s window (opening one of `seconds` if none is open)."""
        ...

    async def peek(self, key: str) -> Window | None:
        """The open window of `key`, without counting a hit."""
        ...

    async def take(self, key: str, seconds: int, limit: int) -> Window:
        """Count a hit held to `limit` (a count above it: refused); see kith.limits.reserved."""
        ...

    async def close(self) -> None: ...


class MemoryWindowCounts:
    """One process's counts."""

    _PURGE_EVERY = 10_000

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}  # key → (count, when it ends)
        self._hits = 0

    async def hit(self, key: str, seconds: int, hits: int = 1) -> Window:
        now = time()
        self._hits += 1
        if self._hits % self._PURGE_EVERY == 0:
            self._windows = {k: w for k, w in self._windows.items() if w[1] > now}
        count, ends = self._windows.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + seconds
        self._windows[key] = (count + hits, ends)
        return _window(count + hits, (ends - now) * 1000)

    async def take(self, key: str, seconds: int, limit: int) -> Window:
        return await self.hit(key, seconds)

    async def peek(self, key: str) -> Window | None:
        now = time()
        count, ends = self._windows.get(key, (0, 0.0))
        return _window(count, (ends - now) * 1000) if ends > now else None

    async def close(self) -> None:
        self._windows.clear()


class RedisWindowCounts:
    """Counts every API process shares."""

    def __init__(self, url: str, namespace: str) -> None:
        # Bounded waits: a Redis that hangs must not hold requests (kith.limits.fallback counts without it).
        self._redis = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._namespace = namespace
        self._hit = self._redis.register_script(_HIT)
        self._peek = self._redis.register_script(_PEEK)
        self.calls = 0  # round trips made (tests count them)

    async def hit(self, key: str, seconds: int, hits: int = 1) -> Window:
        self.calls += 1
        count, ms_left = await self._hit(keys=[f"{self._namespace}:{key}"], args=[seconds, hits])
        return _window(int(count), int(ms_left))

    async def peek(self, key: str) -> Window | None:
        self.calls += 1
        found = await self._peek(keys=[f"{self._namespace}:{key}"])
        return _window(int(found[0]), int(found[1])) if found else None

    async def close(self) -> None:
        await self._redis.aclose()


def window_counts(app: Litestar) -> WindowCounts:
    return app.state[WINDOW_COUNTS_STATE_KEY]
