"""Request limits: per client address (before auth), per token (the plan's rate), failed-auth budgets.

Built on Litestar's RateLimitMiddleware and its stores: a RedisStore when
REDIS_URL is set (every API process shares the counts), a MemoryStore otherwise.
"""

from kith.limits.auth_failures import AUTH_FAILURES_STATE_KEY, AuthFailureBudget, auth_failure_budget
from kith.limits.rate import LIMITS_STORE, address_rate_limit, limits_stores, token_rate_limit

__all__ = [
    "AUTH_FAILURES_STATE_KEY",
    "LIMITS_STORE",
    "AuthFailureBudget",
    "address_rate_limit",
    "auth_failure_budget",
    "limits_stores",
    "token_rate_limit",
]
