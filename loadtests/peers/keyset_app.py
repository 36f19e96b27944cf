"""The hand-tuned peer for bench_http: Litestar + asyncpg + msgspec, one keyset statement, no auth.

What a careful engineer writes for "contacts by score, 50 a page" with nothing else to do: one
prepared statement on the (tenant, score, id) index of the tenant's slice of contact_cards (its own
slice if read_model_routes names one, else its hash slice; looked up once at start-up), rows turned into the same
msgspec Structs Kith returns, a cursor that is the last row's key in base64 (unsigned), the page
encoded straight to bytes. No auth, limits, fresh reads, ETag, metrics or request ids.

    PEER_DATABASE_URL=postgresql://… PEER_TENANT_ID=1 uvicorn keyset_app:app --app-dir loadtests/peers
"""

from __future__ import annotations

import base64
import os

import asyncpg
import msgspec
from litestar import Litestar, Response, get

from kith.contacts.listings import CONTACT_COLUMNS
from kith.contacts.schemas import Contact, ContactPage

FIELDS = Contact.__struct_fields__
# The card's columns, and what Kith computes against now (overdue, overdue_days) as Kith computes it.
COLUMNS = ", ".join(f"{CONTACT_COLUMNS[f]} AS {f}" if f in CONTACT_COLUMNS else f"r.{f}" for f in FIELDS)
FIRST = "SELECT {columns} FROM {slice} r WHERE tenant_id = $1 ORDER BY score DESC, id DESC LIMIT $2"
AFTER = (
    "SELECT {columns} FROM {slice} r WHERE tenant_id = $1 AND (score, id) < ($3, $4)"
    " ORDER BY score DESC, id DESC LIMIT $2"
)
TENANT_ID = int(os.environ.get("PEER_TENANT_ID", "1"))
HASH_SLICES = 8  # kith.readmodels.models.HASH_SLICES: contact_cards_h{tenant % 8} unless routed to its own
pool: asyncpg.Pool | None = None
statements: dict[str, str] = {}


async def open_pool(_app: Litestar) -> None:
    global pool
    dsn = os.environ["PEER_DATABASE_URL"]
    pool = await asyncpg.create_pool(
        dsn, min_size=4, max_size=20, server_settings={"jit": "off"}, init=decode_json_columns
    )
    own = await pool.fetchval(
        "SELECT relation FROM read_model_routes WHERE tenant_id = $1 AND read_model = 'contact_cards'", TENANT_ID
    )
    relation = own or f"contact_cards_h{TENANT_ID % HASH_SLICES}"
    statements["first"] = FIRST.format(columns=COLUMNS, slice=relation)
    statements["after"] = AFTER.format(columns=COLUMNS, slice=relation)


async def decode_json_columns(conn: asyncpg.Connection) -> None:
    """Addresses and related names are jsonb: lists in the item, as Kith returns them."""
    await conn.set_type_codec("jsonb", encoder=msgspec.json.encode, decoder=msgspec.json.decode, schema="pg_catalog")


def decode_cursor(cursor: str) -> tuple[float, int]:
    score, contact_id = msgspec.msgpack.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return float(score), int(contact_id)


@get("/api/v1/contacts")
async def contacts(limit: int = 50, cursor: str | None = None) -> Response:
    assert pool is not None
    async with pool.acquire() as conn:
        if cursor:
            rows = await conn.fetch(statements["after"], TENANT_ID, limit + 1, *decode_cursor(cursor))
        else:
            rows = await conn.fetch(statements["first"], TENANT_ID, limit + 1)
    items = [Contact(*(row[f] for f in FIELDS)) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = base64.urlsafe_b64encode(msgspec.msgpack.encode([last.score, last.id])).rstrip(b"=").decode()
    page = ContactPage(items=items, next_cursor=next_cursor, prev_cursor=None, as_of=None)
    return Response(content=msgspec.json.encode(page), media_type="application/json")


app = Litestar(route_handlers=[contacts], on_startup=[open_pool])
