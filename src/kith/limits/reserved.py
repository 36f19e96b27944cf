"""Rate limits without a store round trip per request: each process takes hits from batches it reserved.

A process reserves `batch_for(limit)` hits of a key's window in one atomic INCRBY on the shared counts
and takes them one by one in memory; it reserves again when its batch is used up. A reservation that
would pass the limit is granted only up to it, so:

- **never over the limit**: the hits admitted in a window, over every process, are at most the limit
  (each was granted by the shared count within it);
- **refused early by a bounded amount**: a client spreading its requests over P processes may be refused
  while up to (P − 1) × (batch − 1) of its hits are still reserved, unused, by the other processes.
  batch is limit / 64 (1 to 256): a 600/min plan reserves 9 at a time, so with 4 processes a client
  may be refused at most 24 hits (4%) early; one process is exact.

Once a process saw a window full, it refuses that key locally until the window ends (a flood of 429s
costs no store calls either). `RateLimit-Remaining` is this process's view (the shared count when it
last reserved, plus its own hits since). The failed-auth budget (peek, record) goes to the shared
counts directly: it is only consulted for tokens no process verified, never in the common case.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import monotonic

from kith.limits.windows import Window, WindowCounts

MAX_BATCH = 256


def batch_for(limit: int) -> int:
    return max(1, min(limit // 64, MAX_BATCH))


@dataclass(slots=True)
class _Reserved:
    before: int  # the shared count before this batch
    taken: int  # hits taken from it
    granted: int  # hits the batch holds (less than asked when it reached the limit)
    ends: float  # monotonic time its window ends


class ReservedWindowCounts:
    """WindowCounts for rate limits: `take` admits from reserved batches; the rest goes to `shared`."""

    def __init__(self, shared: WindowCounts) -> None:
        self._shared = shared
        self._reserved: dict[str, _Reserved] = {}
        self._takes = 0

    async def take(self, key: str, seconds: int, limit: int) -> Window:
        """Count a hit against `limit` in `key`'s window: a count above `limit` means refused."""
        now = monotonic()
        reserved = self._reserved.get(key)
        if (
            reserved is None
            or reserved.ends <= now
            or (reserved.taken == reserved.granted and not self._full(reserved, limit))
        ):
            reserved = await self._reserve(key, seconds, limit, now)
        if reserved.taken < reserved.granted:
            reserved.taken += 1
            count = reserved.before + reserved.taken
        else:
            count = limit + 1
        left = max(0.0, reserved.ends - now)
        return Window(count, max(1, int(left + 0.999)), left)

    @staticmethod
    def _full(reserved: _Reserved, limit: int) -> bool:
        return reserved.before + reserved.granted >= limit

    async def _reserve(self, key: str, seconds: int, limit: int, now: float) -> _Reserved:
        self._takes += 1
        if self._takes % 10_000 == 0:  # forget ended windows now and then
            self._reserved = {k: r for k, r in self._reserved.items() if r.ends > now}
        batch = batch_for(limit)
        window = await self._shared.hit(key, seconds, batch)
        before = window.count - batch
        reserved = _Reserved(before, 0, max(0, min(batch, limit - before)), now + window.ends_in)
        self._reserved[key] = reserved
        return reserved

    async def hit(self, key: str, seconds: int, hits: int = 1) -> Window:
        return await self._shared.hit(key, seconds, hits)

    async def peek(self, key: str) -> Window | None:
        return await self._shared.peek(key)

    async def close(self) -> None:
        self._reserved.clear()
        await self._shared.close()
