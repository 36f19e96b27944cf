from __future__ import annotations

from litestar import Litestar

from kith.limits.windows import WindowCounts

AUTH_FAILURES_STATE_KEY = "kith_auth_failures"


class AuthFailureBudget:
    """At most `max_failures` failed authentications per address in a fixed window, exactly.

    A look-up is counted as a failure before it runs (one atomic hit), and given back when the token
    turns out good: concurrent look-ups cannot all see room in the budget and all fail, so a burst gets
    exactly `max_failures` 401s (per store: per process in memory, per deployment in Redis). An
    address over budget is answered 429 before its token is looked up, so a flood of bad tokens stops
    costing database queries.
    """

    def __init__(self, counts: WindowCounts, max_failures: int, window_seconds: int) -> None:
        self._counts = counts
        self.max_failures = max_failures
        self.window_seconds = window_seconds

    async def admit(self, address: str) -> int | None:
        """Take one failure of the address's budget for a look-up about to run: None when it may run,
        else the seconds until the address may try again. A look-up that succeeds calls `give_back`."""
        key = f"authfail:{address}"
        window = await self._counts.hit(key, self.window_seconds)
        if window.count <= self.max_failures:
            return None
        # A refused request looks nothing up: it is no failure, so the count stays failures plus look-ups
        # under way, and room comes back as soon as those turn out good (a burst of new good tokens from
        # one address was locked out for the rest of the window by its own refusals).
        await self._counts.give_back(key)
        return window.reset_in

    async def give_back(self, address: str) -> None:
        """The look-up admitted found a good token: it was no failure."""
        await self._counts.give_back(f"authfail:{address}")


def auth_failure_budget(app: Litestar) -> AuthFailureBudget:
    return app.state[AUTH_FAILURES_STATE_KEY]
