"""Fixed-window counts, each hit counted and read in one atomic step.

In Redis (REDIS_URL set, KITH_LIMITS_STORE=redis) a hit is one INCR, so every API process shares the
counts and a burst spread over several processes cannot pass a limit (a read-then-write, as Litestar's
RateLimitMiddleware does with a Store, can). In memory (one process) a hit takes no await.
"""

from __future__ import annotations

from time import time
from typing import NamedTuple, Protocol

from litestar import Litestar
from redis.asyncio import Redis

WINDOW_COUNTS_STATE_KEY = "kith_window_counts"

# KEYS[1] the window's key, ARGV[1] its length (s): the count with this hit, and the seconds left.
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
# KEYS[1] the window's key: its count and seconds left, or nothing.
_PEEK = """
local count = redis.call('GET', KEYS[1])
if not count then return nil end
return {tonumber(count), redis.call('TTL', KEYS[1])}
"""


class Window(NamedTuple):
    count: int  # hits in the window so far
    reset_in: int  # seconds until it ends (at least 1)


class WindowCounts(Protocol):
    async def hit(self, key: str, seconds: int) -> Window:
        """Count a hit in `key`'s window (opening one of `seconds` if none is open)."""
        ...

    async def peek(self, key: str) -> Window | None:
        """The open window of `key`, without counting a hit."""
        ...

    async def close(self) -> None: ...


class MemoryWindowCounts:
    """One process's counts."""

    _PURGE_EVERY = 10_000

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}  # key → (count, when it ends)
        self._hits = 0

    async def hit(self, key: str, seconds: int) -> Window:
        now = time()
        self._hits += 1
        if self._hits % self._PURGE_EVERY == 0:
            self._windows = {k: w for k, w in self._windows.items() if w[1] > now}
        count, ends = self._windows.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + seconds
        self._windows[key] = (count + 1, ends)
        return Window(count + 1, max(1, round(ends - now)))

    async def peek(self, key: str) -> Window | None:
        now = time()
        count, ends = self._windows.get(key, (0, 0.0))
        return Window(count, max(1, round(ends - now))) if ends > now else None

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

    async def hit(self, key: str, seconds: int) -> Window:
        count, ttl = await self._hit(keys=[f"{self._namespace}:{key}"], args=[seconds])
        return Window(int(count), max(1, int(ttl)))

    async def peek(self, key: str) -> Window | None:
        found = await self._peek(keys=[f"{self._namespace}:{key}"])
        return Window(int(found[0]), max(1, int(found[1]))) if found else None

    async def close(self) -> None:
        await self._redis.aclose()


def window_counts(app: Litestar) -> WindowCounts:
    return app.state[WINDOW_COUNTS_STATE_KEY]
