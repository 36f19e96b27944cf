"""One resource as JSON with an ETag (and X-Data-As-Of); 304 when the client already has it."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.status_codes import HTTP_304_NOT_MODIFIED


def etag_response(request: Request, value: Any, as_of: dt.datetime | None) -> Response:
    body = msgspec.json.encode(value)
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if as_of is not None:
        headers["X-Data-As-Of"] = as_of.isoformat()
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(content=b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
