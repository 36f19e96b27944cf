from __future__ import annotations

import hashlib
from typing import Any

from litestar.connection import ASGIConnection, Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import DURATION_VALUES, RateLimitConfig, RateLimitMiddleware, get_remote_address
from litestar.types import Receive, Scope, Send

from kith.db.config import app_reader
from kith.limits.windows import Window, window_counts
from kith.plans.cache import plan_cache


class KithRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's rate limiting (its config, keys and exclusions), counted in an atomic fixed window
    (kith.limits.windows) shared by every API process with Redis, with the limit chosen per request
    and `Retry-After` on a 429."""

    async def limit_for(self, request: Request) -> int | None:
        """Requests allowed per window for this request's key; None: not limited here."""
        return self.max_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["litestar_app"]
        request: Request[Any, Any, Any] = app.request_class(scope)
        limit = await self.limit_for(request)
        if limit is None:
            await self.app(scope, receive, send)
            return
        window = await window_counts(app).take(self.cache_key_from_request(request), DURATION_VALUES[self.unit], limit)
        headers = self.rate_limit_headers(window, limit)
        if window.count > limit:
            headers["Retry-After"] = str(window.reset_in)
            raise TooManyRequestsException(
                f"More than {limit} requests per {self.unit}: retry in {window.reset_in} s", headers=headers
            )
        await self.app(scope, receive, self._with_headers(send, headers))

    def rate_limit_headers(self, window: Window, limit: int) -> dict[str, str]:
        return {
            "RateLimit-Policy": f"{limit};w={DURATION_VALUES[self.unit]}",
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(max(0, limit - window.count)),
            "RateLimit-Reset": str(window.reset_in),
        }

    def _with_headers(self, send: Send, headers: dict[str, str]) -> Send:
        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                existing = {name.lower() for name, _ in message["headers"]}
                for name, value in headers.items():
                    if name.lower().encode() not in existing:
                        message["headers"].append((name.lower().encode(), value.encode()))
            await send(message)

        return send_wrapper


class PlanRateLimitMiddleware(KithRateLimitMiddleware):
    """Per token, at the rate of the tenant's plan (runs after authentication)."""

    async def limit_for(self, request: Request) -> int | None:
        if request.scope.get("user") is None:  # OPTIONS (CORS preflight) is not authenticated
            return None
        plan = await plan_cache(request.app).get(app_reader(request.app), request.user.tenant_id)
        return plan.requests_per_minute


def address_key(connection: ASGIConnection) -> str:
    return "address:" + get_remote_address(connection)  # type: ignore[arg-type]


def token_key(request: Request) -> str:
    # The token's hash, so the store never holds a usable token.
    return "token:" + hashlib.sha256(str(request.auth).encode()).hexdigest()[:32]


def address_rate_limit(per_minute: int, exclude: list[str]) -> DefineMiddleware:
    return RateLimitConfig(
        rate_limit=("minute", per_minute),
        identifier_for_request=address_key,
        exclude=exclude,
        middleware_class=KithRateLimitMiddleware,
    ).middleware


def token_rate_limit(exclude: list[str]) -> DefineMiddleware:
    # The configured rate is a placeholder: each request is held to its tenant's plan.
    return RateLimitConfig(
        rate_limit=("minute", 1),
        identifier_for_request=token_key,
        exclude=exclude,
        middleware_class=PlanRateLimitMiddleware,
    ).middleware
