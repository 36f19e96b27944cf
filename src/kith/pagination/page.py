"""The page envelope, its Link / ETag / X-Data-As-Of headers, and 304 on a matching If-None-Match."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar
from urllib.parse import quote, urlencode

import msgspec
from litestar import Request, Response
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from kith.config import get_settings
from kith.links import link_to
from kith.pagination.cache import keep_page, not_modified
from kith.pagination.cursor import Binding, CursorCodec, Direction, Position

T = TypeVar("T")

DEFAULT_LIMIT = 50
# What a URL may hold as it is (reserved characters and existing %-escapes); the rest is percent-encoded.
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
MAX_LIMIT = 200


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None
    prev_cursor: str | None
    as_of: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Freshness:
    """What a read was made from: the read model's `as_of` and `generation` for the tenant (the greatest of
    several read models'; both None for a base table). Read in the same statement as the rows."""

    as_of: dt.datetime | None
    generation: int | None
    turns_at: dt.datetime | None = None  # when what was read changes by the clock alone (None: never, or unknown)


class Listed(NamedTuple):
    page: Page
    freshness: Freshness


_codec: CursorCodec | None = None


def codec() -> CursorCodec:
    global _codec
    if _codec is None:
        _codec = CursorCodec(get_settings().secret_key)
    return _codec


def build_page(
    rows: Sequence[Any],
    *,
    limit: int,
    position: Position | None,
    binding: Binding,
    key_of: Callable[[Any], tuple],
    item_of: Callable[[Any], T],
    as_of: dt.datetime | None,
) -> Page[T]:
    """Turn `limit + 1` rows read in `position`'s direction into a page with both cursors."""
    direction: Direction = position.direction if position else "next"
    has_more = len(rows) > limit
    rows = list(rows[:limit])
    if direction == "prev":
        rows.reverse()
    next_cursor = prev_cursor = None
    if rows:
        first, last = key_of(rows[0]), key_of(rows[-1])
        more_after = has_more if direction == "next" else True
        more_before = has_more if direction == "prev" else position is not None
        if more_after:
            next_cursor = codec().encode(Position("next", last), binding)
        if more_before:
            prev_cursor = codec().encode(Position("prev", first), binding)
    return Page(items=[item_of(r) for r in rows], next_cursor=next_cursor, prev_cursor=prev_cursor, as_of=as_of)


def etag_response(
    request: Request,
    value: Any,
    as_of: dt.datetime | None,
    headers: dict[str, str] | None = None,
    expires_at: float | None = None,
) -> Response:
    """`value` as JSON with ETag (its body's hash) and X-Data-As-Of (and `headers`); 304 when the client
    already has it. A page its route lets be kept (kith.pagination.cache) is kept (`expires_at`: when it
    turns by the clock, if the route's own rule does not say)."""
    body = msgspec.json.encode(value)
    # SHA-256 (its first 128 bits): processors' SHA instructions make it twice BLAKE2b's speed here (19
    # against 38 µs for a 28 KB page), and every page answered is hashed.
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {**(headers or {}), "ETag": etag, "Cache-Control": "private, no-cache"}
    if as_of is not None:
        # The body's form exactly (RFC 3339, UTC written `Z`), as msgspec writes it.
        headers["X-Data-As-Of"] = msgspec.json.encode(as_of.astimezone(dt.UTC)).decode().strip('"')
    keep_page(request, value, body, headers, etag, expires_at)
    if not_modified(request, etag):
        return Response(content=b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


def page_response(request: Request, page: Page) -> Response:
    """The page as JSON with Link (rel=next/prev), ETag and X-Data-As-Of; 304 if the client has it."""
    links = []
    for rel, cursor in (("next", page.next_cursor), ("prev", page.prev_cursor)):
        if cursor:
            query = urlencode(
                [*((k, v) for k, v in request.query_params.multi_items() if k != "cursor"), ("cursor", cursor)]
            )
            # Percent-encoded: a header is ASCII, and a path may not be (/companies/Zürich Re/contacts).
            links.append(f'<{link_to(quote(f"{request.url.path}?{query}", safe=URL_SAFE))}>; rel="{rel}"')
    return etag_response(request, page, page.as_of, {"Link": ", ".join(links)} if links else None)
