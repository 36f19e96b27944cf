from __future__ import annotations

from time import time

import msgspec
from litestar import Litestar
from litestar.stores.base import Store

AUTH_FAILURES_STATE_KEY = "kith_auth_failures"


class _Window(msgspec.Struct):
    failures: int
    reset: int


class AuthFailureBudget:
    """At most `max_failures` failed authentications per address in a fixed window.

    An address over budget is answered 429 before its token is looked up, so a
    flood of bad tokens stops costing database queries.
    """

    def __init__(self, store: Store, max_failures: int, window_seconds: int) -> None:
        self._store = store
        self.max_failures = max_failures
        self.window_seconds = window_seconds

    async def _window(self, address: str) -> _Window | None:
        raw = await self._store.get(f"authfail:{address}")
        if raw is None:
            return None
        window = msgspec.json.decode(raw, type=_Window)
        return window if window.reset > int(time()) else None

    async def retry_after(self, address: str) -> int | None:
        """Seconds until the address may try again, or None while it is within budget."""
        window = await self._window(address)
        if window is None or window.failures < self.max_failures:
            return None
        return max(1, window.reset - int(time()))

    async def record_failure(self, address: str) -> None:
        now = int(time())
        window = await self._window(address) or _Window(failures=0, reset=now + self.window_seconds)
        window.failures += 1
        await self._store.set(f"authfail:{address}", msgspec.json.encode(window), expires_in=window.reset - now)


def auth_failure_budget(app: Litestar) -> AuthFailureBudget:
    return app.state[AUTH_FAILURES_STATE_KEY]
