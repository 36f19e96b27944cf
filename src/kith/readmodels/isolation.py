"""A tenant moves into slices of its own, online (`kith tenant isolate`, the `isolate` job).

Per read model: build the tenant's own slice (its rows, WITH DATA, with its own
refresh record); then, in one transaction, route the tenant to it
(read_model_routes) and add it to the plain view over all slices; then refresh
the shared slice it left. Each statement reading the tenant's rows sees either
the old route and the old slice, which holds the tenant's rows until that last
refresh, or the new route and the new slice (and a reader that still names the
old slice reads again, see kith.readmodels.models): a listing never sees its
rows twice or not at all. Change marks are cleared by the refreshes of the
slice the tenant is routed to, so none it still needs is lost on the way.

Idempotent: a read model the tenant is routed in already is skipped; the slice
of an interrupted move is built again. One move at a time (they rewrite the
plain views).
"""

from __future__ import annotations

import logging

import anyio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kith.db import locks
from kith.readmodels import queries
from kith.readmodels.coalesced_refresh import keep_statistics, request_refresh
from kith.readmodels.models import HASH_SLICES, READ_MODELS, ReadModel
from kith.readmodels.removal import ISOLATION_KEY
from kith.readmodels.routes import slices_of

logger = logging.getLogger(__name__)


async def needs_own_slices(engine: AsyncEngine, tenant_id: int, threshold: int) -> bool:
    """The tenant has more than `threshold` live contacts and is not in slices of its own yet."""
    async with engine.connect() as conn:
        if await conn.scalar(queries.IS_ROUTED, {"tenant_id": tenant_id, "read_model": READ_MODELS[-1].name}):
            return False
        return bool(await conn.scalar(queries.CONTACTS_OVER, {"tenant_id": tenant_id, "limit": threshold}))


async def isolate_tenant(engine: AsyncEngine, tenant_id: int) -> list[str]:
    """Give the tenant a slice of its own in every read model; the slices created (none: it had them)."""
    while True:
        async with locks.held_exclusively(engine, ISOLATION_KEY) as got:
            if got:
                return [
                    model.own_slice(tenant_id).relation
                    for model in READ_MODELS
                    if await _move(engine, model, tenant_id)
                ]
        await anyio.sleep(1)  # another move is under way


async def _move(engine: AsyncEngine, model: ReadModel, tenant_id: int) -> bool:
    params = {"tenant_id": tenant_id, "read_model": model.name}
    async with engine.connect() as conn:
        if await conn.scalar(queries.IS_ROUTED, params):
            return False
    own = model.own_slice(tenant_id)
    async with engine.begin() as conn:
        started_at = await conn.scalar(text("SELECT clock_timestamp()"))
        as_of = await conn.scalar(queries.SNAPSHOT_AS_OF)
        await _script(conn, f"DROP MATERIALIZED VIEW IF EXISTS {own.relation};\n{own.create_sql()}")
        await conn.execute(queries.RECORD_BUILT, {"view_name": own.relation, "started_at": started_at, "as_of": as_of})
    async with engine.begin() as conn:
        await conn.execute(queries.ROUTE, {**params, "relation": own.relation})
        await _script(conn, model.union_sql(s for s in await slices_of(conn, model) if s.tenant_id is not None))
    logger.info("tenant %s now reads %s from %s", tenant_id, model.name, own.relation)
    await keep_statistics(engine, own)  # built, not refreshed: what a refresh keeps beside
    await request_refresh(engine, model.hash_slices()[tenant_id % HASH_SLICES])  # the slice it left
    return True


async def _script(conn: AsyncConnection, sql: str) -> None:
    """Several DDL statements in the connection's transaction (asyncpg's simple protocol takes them at once)."""
    raw = await conn.get_raw_connection()
    await raw.driver_connection.execute(sql)
