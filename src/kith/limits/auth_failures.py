from __future__ import annotations

from litestar import Litestar

from kith.limits.windows import WindowCounts

AUTH_FAILURES_STATE_KEY = "kith_auth_failures"


class AuthFailureBudget:
    """At most `max_failures` failed authentications per address in a fixed window.

    An address over budget is answered 429 before its token is looked up, so a
    flood of bad tokens stops costing database queries.
    """

    def __init__(self, counts: WindowCounts, max_failures: int, window_seconds: int) -> None:
        self._counts = counts
        self.max_failures = max_failures
        self.window_seconds = window_seconds

    async def retry_after(self, address: str) -> int | None:
        """Seconds until the address may try again, or None while it is within budget."""
        window = await self._counts.peek(f"authfail:{address}")
        if window is None or window.count < self.max_failures:
            return None
        return window.reset_in

    async def record_failure(self, address: str) -> None:
        await self._counts.hit(f"authfail:{address}", self.window_seconds)


def auth_failure_budget(app: Litestar) -> AuthFailureBudget:
    return app.state[AUTH_FAILURES_STATE_KEY]
