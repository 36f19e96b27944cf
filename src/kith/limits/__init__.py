"""Request limits: per client address (before auth), per token (the plan's rate), failed-auth budgets.

Built on Litestar's RateLimitMiddleware (its configuration, keys and exclusions), counted in atomic fixed
windows (kith.limits.windows): in Redis when REDIS_URL is set (every API process shares the counts), in
memory otherwise; while Redis is unreachable, in memory too (kith.limits.fallback).
"""

from kith.limits.auth_failures import AUTH_FAILURES_STATE_KEY, AuthFailureBudget, auth_failure_budget
from kith.limits.fallback import window_counts_for
from kith.limits.rate import address_rate_limit, hold_to_plan
from kith.limits.windows import WINDOW_COUNTS_STATE_KEY, window_counts

__all__ = [
    "AUTH_FAILURES_STATE_KEY",
    "WINDOW_COUNTS_STATE_KEY",
    "AuthFailureBudget",
    "address_rate_limit",
    "auth_failure_budget",
    "hold_to_plan",
    "window_counts",
    "window_counts_for",
]
