"""The exact page cache: a page is answered from memory while nothing it depends on changed. Never a TTL.

A route opts in with `opt={"page_cache": PageCaching(views=...)}`. Its page is kept per (tenant, path,
query string), with its headers and ETag, until:
- a write to the tenant's rows (contacts, contact keys, conversations, messages, mentions): a trigger
  announces `rows` for the tenant at commit, whoever wrote (migration 0013); the process that wrote
  also forgets the tenant's pages as its own commit returns (`forget_tenant`), so it never serves its
  own stale page; every other process forgets them when the message arrives (the channel's delay);
- a refresh of a slice of a read model the route reads (`readmodel`, when the slice's `as_of` moves),
  for the tenants that slice may hold;
- the page's own clock (`PageCaching.expires`: e.g. a contact's `overdue` flag turns at its
  follow-up time);
- a lost channel (everything), or the byte bound (least recently used first, KITH_PAGE_CACHE_BYTES).
A page read while a message about its tenant arrived is not kept (kith.caching). A hit runs no
statement; `If-None-Match` with the kept ETag is a 304 without running the page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Request, Response
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from kith.caching import KeptUntilNotified, Stamp
from kith.readmodels.models import UnknownReadModelError, slice_named

PAGE_CACHE_STATE_KEY = "kith_page_cache"
_PENDING = "kith_page_pending"  # request.state: what etag_response needs to keep the page
ENTRY_OVERHEAD = 512  # bytes an entry costs beside its body (key, headers, bookkeeping), roughly

PageKey = tuple[int, str, bytes]  # tenant, path, query string


@dataclass(frozen=True, slots=True)
class PageCaching:
    """A route's pages may be kept: `views` are the read models they read; `expires`, given the page,
    says when (epoch seconds) it would change by the clock alone (None: never)."""

    views: tuple[str, ...]
    expires: Callable[[Any], float | None] | None = None


@dataclass(frozen=True, slots=True)
class CachedPage:
    body: bytes
    headers: dict[str, str]
    etag: str
    views: tuple[str, ...]
    expires_at: float | None


class PageCache:
    def __init__(self, listening: Callable[[], bool], max_bytes: int) -> None:
        self._pages: KeptUntilNotified[PageKey, CachedPage] = KeptUntilNotified(
            "pages", listening, max_bytes, partition_of=lambda key: key[0]
        )

    @property
    def enabled(self) -> bool:
        return self._pages.max_size > 0

    def stamp(self, key: PageKey) -> Stamp:
        return self._pages.stamp(key)

    def get(self, key: PageKey) -> CachedPage | None:
        page = self._pages.get(key)
        if page is not None and page.expires_at is not None and page.expires_at <= time.time():
            self._pages.discard(key)
            return None
        return page

    def keep(self, key: PageKey, page: CachedPage, stamp: Stamp) -> None:
        self._pages.keep(key, page, stamp, size=len(page.body) + ENTRY_OVERHEAD)

    def forget_tenant(self, tenant_id: Hashable) -> None:
        self._pages.forget_partition(tenant_id)

    def on_message(self, message: dict[str, Any]) -> None:
        if message["kind"] == "rows":
            self.forget_tenant(message.get("tenant_id"))
        elif message["kind"] == "readmodel":
            self._forget_refreshed(message.get("view"))

    def _forget_refreshed(self, relation: Any) -> None:
        """A slice was refreshed: forget the pages of its read model of the tenants it may hold (a slice's
        relation names its read model; one not known is taken as any slice of any read model)."""
        try:
            refreshed = slice_named(str(relation))
        except UnknownReadModelError:
            self._pages.forget_where(lambda _key, page: bool(page.views))
            return
        name = refreshed.model.name
        self._pages.forget_where(lambda key, page: name in page.views and refreshed.may_hold(key[0]))

    def reset(self) -> None:
        self._pages.reset()

    @property
    def size(self) -> int:
        return self._pages.size

    def __len__(self) -> int:
        return len(self._pages)


def page_cache(app: Litestar) -> PageCache:
    return app.state[PAGE_CACHE_STATE_KEY]


def not_modified(request: Request, etag: str) -> bool:
    """Whether If-None-Match names `etag`: weak comparison (RFC 9110 13.1.2), so `W/"x"` (as a compressing
    proxy may rewrite it) matches `"x"`; `*` matches any."""
    opaque = etag.removeprefix("W/")
    tags = (t.strip() for t in request.headers.get("if-none-match", "").split(","))
    return any(tag == "*" or tag.removeprefix("W/") == opaque for tag in tags)


async def serve_cached_page(request: Request) -> Response | None:
    """Before a GET handler that opted in: its kept page (or a 304), else note what keeping it needs."""
    caching = request.route_handler.opt.get("page_cache")
    if caching is None or request.method != "GET":
        return None
    cache = page_cache(request.app)
    if not cache.enabled:
        return None
    scope = request.scope
    key = (request.user.tenant_id, scope["path"], scope["query_string"])
    if (page := cache.get(key)) is not None:
        if not_modified(request, page.etag):
            return Response(content=b"", status_code=HTTP_304_NOT_MODIFIED, headers=page.headers)
        return Response(content=page.body, media_type="application/json", headers=page.headers)
    request.state[_PENDING] = (key, cache.stamp(key), caching)
    return None


def keep_page(request: Request, value: Any, body: bytes, headers: dict[str, str], etag: str) -> None:
    """Called with every page answered: kept when its route opted in and the cache let it be read."""
    if (pending := request.state.get(_PENDING)) is None:
        return
    key, stamp, caching = pending
    expires_at = caching.expires(value) if caching.expires else None
    page_cache(request.app).keep(key, CachedPage(body, headers, etag, caching.views, expires_at), stamp)
