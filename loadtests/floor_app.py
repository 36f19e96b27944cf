"""The floor for bench_http: a Litestar handler returning a fixed JSON page from memory."""

from __future__ import annotations

import os
from pathlib import Path

from litestar import Litestar, Response, get

BODY = Path(os.environ["FLOOR_BODY_FILE"]).read_bytes()


@get("/api/v1/contacts")
async def contacts() -> Response[bytes]:
    return Response(content=BODY, media_type="application/json")


app = Litestar(route_handlers=[contacts])
