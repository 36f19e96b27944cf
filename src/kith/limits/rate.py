from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection, Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import DURATION_VALUES, RateLimitConfig, RateLimitMiddleware, get_remote_address
from litestar.types import Receive, Scope, Send

from kith.db.config import app_reader
from kith.limits.windows import Window, window_counts
from kith.observability.requests import response_headers
from kith.plans.cache import plan_cache

MINUTE = DURATION_VALUES["minute"]


def rate_limit_headers(window: Window, limit: int, seconds: int) -> dict[str, str]:
    return {
        "RateLimit-Policy": f"{limit};w={seconds}",
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(max(0, limit - window.count)),
        "RateLimit-Reset": str(window.reset_in),
    }


async def count_against(app: Litestar, key: str, limit: int, seconds: int, unit: str) -> dict[str, str]:
    """Count a request of `key` (kith.limits.reserved); its RateLimit headers, or a 429 beyond `limit`."""
    window = await window_counts(app).take(key, seconds, limit)
    headers = rate_limit_headers(window, limit, seconds)
    if window.count > limit:
        headers["Retry-After"] = str(window.reset_in)
        raise TooManyRequestsException(
            f"More than {limit} requests per {unit}: retry in {window.reset_in} s", headers=headers
        )
    return headers


async def hold_to_plan(app: Litestar, token_hash: bytes, tenant_id: int) -> dict[str, str]:
    """Per token, at the rate of the tenant's plan: counted in the authentication's own pass.

    The key is (a part of) the token's hash, so the store never holds a usable token."""
    plan = await plan_cache(app).get(app_reader(app), tenant_id)
    return await count_against(app, "token:" + token_hash.hex()[:32], plan.requests_per_minute, MINUTE, "minute")


class KithRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's rate limiting (its config, keys and exclusions), counted in a fixed window shared by
    every API process with Redis (kith.limits.windows, kith.limits.reserved), `Retry-After` on a 429."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["litestar_app"]
        request: Request[Any, Any, Any] = app.request_class(scope)
        key = self.cache_key_from_request(request)
        response_headers(scope).update(
            await count_against(app, key, self.max_requests, DURATION_VALUES[self.unit], self.unit)
        )
        await self.app(scope, receive, send)


def address_key(connection: ASGIConnection) -> str:
    return "address:" + get_remote_address(connection)  # type: ignore[arg-type]


def address_rate_limit(per_minute: int, exclude: list[str]) -> DefineMiddleware:
    return RateLimitConfig(
        rate_limit=("minute", per_minute),
        identifier_for_request=address_key,
        exclude=exclude,
        middleware_class=KithRateLimitMiddleware,
    ).middleware
