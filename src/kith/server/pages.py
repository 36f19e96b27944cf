"""The process that wrote never serves its own stale page: it forgets the tenant's kept pages as its commit returns.

The trigger's notification (kith.pagination.cache) reaches this process too, but a few milliseconds
later: the writer's client may ask again before that. advanced-alchemy commits while the response
starts (its before_send handler, outside every middleware), so once that send returns the write is
committed, and the response's body, which the client waits for, is not sent yet.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from kith.auth.scopes import READ_METHODS
from kith.pagination.cache import page_cache


class WriterForgetsItsPagesMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["method"] in READ_METHODS:
            await next_app(scope, receive, send)
            return

        async def send_then_forget(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.start" and (user := scope.get("user")) is not None:
                page_cache(scope["litestar_app"]).forget_tenant(user.tenant_id)

        await next_app(scope, receive, send_then_forget)
