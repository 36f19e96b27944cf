"""The floor for bench_http: a Litestar handler returning the same page from memory.

The page is decoded once into the same msgspec Structs Kith returns, and encoded
per request as Kith's is: the floor is everything but the database.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
from litestar import Litestar, get

from kith.contacts.schemas import ContactPage

PAGE = msgspec.json.decode(Path(os.environ["FLOOR_BODY_FILE"]).read_bytes(), type=ContactPage)


@get("/api/v1/contacts")
async def contacts() -> ContactPage:
    return PAGE


app = Litestar(route_handlers=[contacts])
