"""Kept pages, right after authentication: a hit is answered here; a write forgets its tenant's pages.

A GET whose page is kept (kith.pagination.cache) is answered by this pass, as soon as the token, its
limits and its scope have passed: the route's handler machinery (its request object, the before-request
hook, the response object) and the compression pass are not run for it. What they would have added is
added here: the page's headers (ETag, Link, X-Data-As-Of, Cache-Control), and the 304 on a matching
If-None-Match; the outer passes add the rest as for any response (request id, security headers, rate
limits, metrics). A kept body the client would get compressed (it accepts br or gzip and the body is
at least KITH_COMPRESSION_MIN_BYTES) goes the usual way, through the compression pass.

The process that wrote never serves its own stale page: it forgets the tenant's kept pages as its
commit returns. The trigger's notification reaches this process too, but a few milliseconds later: the
writer's client may ask again before that. advanced-alchemy commits while the response starts (its
before_send handler, outside every middleware), so once that send returns the write is committed, and
the response's body, which the client waits for, is not sent yet.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from kith.auth.scopes import READ_METHODS
from kith.config import get_settings
from kith.pagination.cache import CachedPage, kept_page, not_modified_header, page_cache

_JSON = (b"content-type", b"application/json")


class KeptPagesMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        self._compress_from = get_settings().http.compression_min_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        method = scope["method"]
        if method == "GET":
            principal = scope.get("user")
            page = kept_page(scope, scope["route_handler"], principal) if principal is not None else None
            if page is not None and not self._compressed(scope, page):
                await _send_page(scope, send, page)
                return
        if method in READ_METHODS:
            await next_app(scope, receive, send)
            return

        async def send_then_forget(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.start" and (user := scope.get("user")) is not None:
                page_cache(scope["litestar_app"]).forget_tenant(user.tenant_id)

        await next_app(scope, receive, send_then_forget)

    def _compressed(self, scope: Scope, page: CachedPage) -> bool:
        """Whether the compression pass would compress this answer (a 304 has no body to compress)."""
        if len(page.body) < self._compress_from or not_modified_header(scope, page.etag):
            return False
        accepted = next((v for k, v in scope["headers"] if k == b"accept-encoding"), b"")
        return b"br" in accepted or b"gzip" in accepted


async def _send_page(scope: Scope, send: Send, page: CachedPage) -> None:
    if not_modified_header(scope, page.etag):
        await send({"type": "http.response.start", "status": 304, "headers": page.raw_headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    headers = [*page.raw_headers, _JSON, (b"content-length", str(len(page.body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": page.body, "more_body": False})
