"""The exact page cache: a page is answered from memory while nothing it depends on changed. Never a TTL.

A route opts in with `opt={"page_cache": PageCaching(...)}` (`PageCaching.of(listing)` for a listing).
Its page is kept per (tenant, path, query string), with its headers and ETag, under the state it was
read in:
- the tenant's write count: a write to the tenant's rows (contacts, contact keys, conversations,
  messages, mentions, sync runs) is announced (`rows`) by a trigger at commit, whoever wrote (migrations
  0013, 0022); the process that wrote also counts it as its own commit returns (`forget_tenant`), so it
  never serves its own stale page; every other process when the message arrives (the channel's delay,
  milliseconds);
- the generation of each slice the page reads (the tenant's slice of each read model it names): a
  refresh announces its slice's new generation (`readmodel`), so a refresh of a tenant's slice drops
  that tenant's pages (and those of the tenants sharing the slice), no other's;
- the route's clock (`PageCaching.clock`, known before reading: e.g. the tenant-local day of a birthday
  window) and the page's own (`PageCaching.expires`, from the page: e.g. a contact's `overdue` flag
  turns at its follow-up time).
A page read while its state moved is not kept (kith.caching's stamp, and the slices' generations taken
before the read). A lost channel drops everything; the byte bound (KITH_PAGE_CACHE_BYTES) drops the
least recently used first.

A kept page answers `If-None-Match` with a 304 without running anything. Its ETag is its body's hash,
computed once when it is read: the write count is this process's, so an ETag derived from the state
would be recognised only by the process that issued it (measured with 4 workers: 15 of 40
revalidations a 304, against 40 of 40 with the body's hash, which every process computes alike).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Request, Response
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from kith.caching import KeptUntilNotified, Stamp
from kith.readmodels.models import ReadModel, UnknownReadModelError, slice_named

if TYPE_CHECKING:
    from kith.pagination.listing import Listing

PAGE_CACHE_STATE_KEY = "kith_page_cache"
ENTRY_OVERHEAD = 512  # bytes an entry costs beside its body (key, headers, bookkeeping), roughly

PageKey = tuple[int, str, bytes]  # tenant, path, query string
# The state a page is read in: the tenant's writes (kith.caching's stamp), the generations of its slices
# as this process heard them (None: no refresh heard since the channel opened), the route's clock.
PageState = tuple[Stamp, tuple[Hashable, ...], Hashable]


@dataclass(frozen=True, slots=True)
class PageCaching:
    """A route's pages may be kept. `reads`: the read models whose tenant slices they read (none: base
    tables only, changed by writes alone). `clock`, given the principal, what the page depends on by the
    clock that is known before reading (e.g. the tenant-local day); `expires`, given the page, when
    (epoch seconds) it would change by the clock alone (None: never; in the past: not kept)."""

    reads: tuple[ReadModel, ...] = ()
    clock: Callable[[Any], Hashable] | None = None
    expires: Callable[[Any], float | None] | None = None

    @classmethod
    def of(
        cls,
        listing: Listing,
        clock: Callable[[Any], Hashable] | None = None,
        expires: Callable[[Any], float | None] | None = None,
    ) -> PageCaching:
        """A listing's pages: the read models it reads are its spec's (its rows' and its guard's)."""
        models = (listing.read_model,) if listing.read_model else ()
        return cls((*models, *listing.guard_reads), clock, expires)

    def relations(self, tenant_id: int) -> tuple[str, ...]:
        return tuple(model.slice_of(tenant_id).relation for model in self.reads)


@dataclass(frozen=True, slots=True)
class CachedPage:
    body: bytes
    headers: dict[str, str]
    etag: str
    state: PageState
    expires_at: float | None
    raw_headers: list[tuple[bytes, bytes]]  # `headers` as an ASGI response start carries them


def raw_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


class PageCache:
    def __init__(self, listening: Callable[[], bool], max_bytes: int) -> None:
        self._pages: KeptUntilNotified[PageKey, CachedPage] = KeptUntilNotified(
            "pages", listening, max_bytes, partition_of=lambda key: key[0]
        )
        self._listening = listening
        # slice relation → (its generation as last announced, refreshes heard): moves on every announcement.
        self._generations: dict[str, tuple[int | None, int]] = {}

    @property
    def enabled(self) -> bool:
        """On, and the channel heard (else nothing is kept)."""
        return self._pages.max_size > 0 and self._listening()

    def state(self, key: PageKey, relations: tuple[str, ...], clock: Hashable) -> PageState:
        """The state a page is (to be) read in; take it before reading."""
        generations = self._generations
        return self._pages.stamp(key), tuple(generations.get(r) for r in relations), clock

    def get(self, key: PageKey, state: PageState) -> CachedPage | None:
        """The page kept under `key` if it was read in `state` and its own clock has not turned."""
        page = self._pages.get(key)
        if page is None:
            return None
        if page.state != state or (page.expires_at is not None and page.expires_at <= time.time()):
            self._pages.discard(key)
            return None
        return page

    def keep(self, key: PageKey, page: CachedPage, relations: tuple[str, ...]) -> None:
        """Kept only if nothing moved since its state was taken (a refresh heard meanwhile, a write)."""
        stamp, generations, _clock = page.state
        if tuple(self._generations.get(r) for r in relations) != generations:
            return
        self._pages.keep(key, page, stamp, size=len(page.body) + ENTRY_OVERHEAD)

    def forget_tenant(self, tenant_id: Hashable) -> None:
        """The tenant's rows changed: its write count moves (and its pages are dropped)."""
        self._pages.forget_partition(tenant_id)

    def on_message(self, message: dict[str, Any]) -> None:
        if message["kind"] == "rows":
            self.forget_tenant(message.get("tenant_id"))
        elif message["kind"] == "readmodel":
            self._refreshed(str(message.get("view")), message.get("generation"))

    def _refreshed(self, relation: str, generation: Any) -> None:
        """A slice was refreshed: its generation moves (pages read before it no longer match their state).
        A tenant's own slice built by a move is a change of the tenant's route: its pages are dropped."""
        _, heard = self._generations.get(relation, (None, 0))
        self._generations[relation] = (generation if isinstance(generation, int) else None, heard + 1)
        try:
            refreshed = slice_named(relation)
        except UnknownReadModelError:
            return
        if refreshed.tenant_id is not None:
            self.forget_tenant(refreshed.tenant_id)

    def reset(self) -> None:
        self._pages.reset()
        self._generations.clear()

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
    return not_modified_header(request.scope, etag)


def not_modified_header(scope: Any, etag: str) -> bool:
    """`not_modified` on the raw ASGI scope: every If-None-Match header (several are one list, RFC 9110 5.3)."""
    values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"if-none-match"]
    return bool(values) and _matches(",".join(values), etag)


def _matches(if_none_match: str, etag: str) -> bool:
    opaque = etag.removeprefix("W/")
    tags = (t.strip() for t in if_none_match.split(","))
    return any(tag == "*" or tag.removeprefix("W/") == opaque for tag in tags)


_LOOKED_UP = "kith_page_looked_up"  # scope: a lookup made before routing's handler (kept_page), reused after


def kept_page(scope: Any, route_handler: Any, principal: Any) -> CachedPage | None:
    """The kept page of this GET (or None), looked up once per request: what `serve_cached_page` and
    `keep_page` then need is noted in the scope. Called by the first pass that knows the principal
    (kith.server.pages answers a hit there), else by `serve_cached_page`."""
    if (looked_up := scope.get(_LOOKED_UP)) is not None:
        return looked_up[0]
    caching: PageCaching | None = route_handler.opt.get("page_cache")
    if caching is None or scope["method"] != "GET":
        scope[_LOOKED_UP] = (None, None)
        return None
    cache = page_cache(scope["litestar_app"])
    if not cache.enabled:
        scope[_LOOKED_UP] = (None, None)
        return None
    key = (principal.tenant_id, scope["path"], scope["query_string"])
    relations = caching.relations(principal.tenant_id)
    state = cache.state(key, relations, caching.clock(principal) if caching.clock else None)
    page = cache.get(key, state)
    scope[_LOOKED_UP] = (page, None if page is not None else (key, relations, state, caching))
    return page


async def serve_cached_page(request: Request) -> Response | None:
    """Before a GET handler that opted in: its kept page (or a 304), else note what keeping it needs."""
    if request.method != "GET" or "page_cache" not in request.route_handler.opt:  # (OPTIONS has no user)
        return None
    if (page := kept_page(request.scope, request.route_handler, request.user)) is None:
        return None
    if not_modified(request, page.etag):
        return Response(content=b"", status_code=HTTP_304_NOT_MODIFIED, headers=page.headers)
    return Response(content=page.body, media_type="application/json", headers=page.headers)


def keep_page(
    request: Request, value: Any, body: bytes, headers: dict[str, str], etag: str, expires_at: float | None
) -> None:
    """Called with every page answered: kept when its route opted in, the cache let it be read, its state
    still holds and it does not turn by the clock at once (`expires_at`, or the route's `expires`)."""
    looked_up = request.scope.get(_LOOKED_UP)
    if looked_up is None or (pending := looked_up[1]) is None:
        return
    key, relations, state, caching = pending
    if expires_at is None and caching.expires is not None:
        expires_at = caching.expires(value)
    if expires_at is not None and expires_at <= time.time():
        return
    page = CachedPage(body, headers, etag, state, expires_at, raw_headers(headers))
    page_cache(request.app).keep(key, page, relations)
