from __future__ import annotations

import hashlib
from time import time
from typing import Any

from litestar.connection import ASGIConnection, Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import (
    DURATION_VALUES,
    CacheObject,
    RateLimitConfig,
    RateLimitMiddleware,
    get_remote_address,
)
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.types import Receive, Scope, Send

from kith.config import Settings
from kith.db.config import app_reader
from kith.plans.cache import plan_cache

LIMITS_STORE = "kith_limits"


def limits_stores(settings: Settings) -> dict[str, Store]:
    """Shared by every API process through Redis when configured; per process otherwise."""
    limits = settings.limits
    if limits.store == "redis" and settings.jobs.redis_url:
        return {LIMITS_STORE: RedisStore.with_client(settings.jobs.redis_url, namespace=limits.namespace)}
    return {LIMITS_STORE: MemoryStore()}


def retry_after(cache_object: CacheObject) -> str:
    return str(max(1, cache_object.reset - int(time())))


class KithRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's fixed-window limiter, with the limit chosen per request and `Retry-After` on a 429."""

    async def limit_for(self, request: Request) -> int | None:
        """Requests allowed per window for this request's key; None: not limited here."""
        return self.max_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["litestar_app"]
        request: Request[Any, Any, Any] = app.request_class(scope)
        store = self.config.get_store_from_app(app)
        limit = await self.limit_for(request)
        if limit is None:
            await self.app(scope, receive, send)
            return
        key = self.cache_key_from_request(request)
        async with self._lock:
            cache_object = await self.retrieve_cached_history(key, store)
            if len(cache_object.history) >= limit:
                headers = self.rate_limit_headers(cache_object, limit)
                headers["Retry-After"] = retry_after(cache_object)
                raise TooManyRequestsException(
                    f"More than {limit} requests per {self.unit}: retry in {headers['Retry-After']} s", headers=headers
                )
            await self.set_cached_history(key=key, cache_object=cache_object, store=store)
        send = self._with_headers(send, self.rate_limit_headers(cache_object, limit))
        await self.app(scope, receive, send)

    def rate_limit_headers(self, cache_object: CacheObject, limit: int) -> dict[str, str]:
        remaining = max(0, limit - len(cache_object.history))
        return {
            "RateLimit-Policy": f"{limit};w={DURATION_VALUES[self.unit]}",
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": retry_after(cache_object) if cache_object.history else str(DURATION_VALUES[self.unit]),
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
        store=LIMITS_STORE,
    ).middleware


def token_rate_limit(exclude: list[str]) -> DefineMiddleware:
    # The configured rate is a placeholder: each request is held to its tenant's plan.
    return RateLimitConfig(
        rate_limit=("minute", 1),
        identifier_for_request=token_key,
        exclude=exclude,
        middleware_class=PlanRateLimitMiddleware,
        store=LIMITS_STORE,
    ).middleware
