"""A deleted tenant's slices of its own go with it (`kith tenant delete`).

Plain asyncpg, no SQLAlchemy: the tenant commands of the CLI start in a fraction of a second.
"""

from __future__ import annotations

import asyncpg

from kith.readmodels.models import READ_MODELS

# The lock moves take (kith.readmodels.isolation): both rewrite the plain views over all slices.
ISOLATION_KEY = "kith.job.isolate_tenant"


async def drop_own_slices(conn: asyncpg.Connection, tenant_id: int) -> list[str]:
    """In the caller's transaction: take each read model's plain view off the tenant's own slice, drop the
    slice (and one an interrupted move left unrouted), its refresh record and its route; the slices dropped.

    Waits for a move under way (and for readers and a refresh of the slice); a refresh requested later
    for a dropped slice finds no record and does nothing (kith.readmodels.coalesced_refresh).
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", ISOLATION_KEY)
    dropped = []
    for model in READ_MODELS:
        own = model.own_slice(tenant_id)
        if await conn.fetchval("SELECT to_regclass($1)", own.relation) is None:
            continue
        others = await conn.fetch(
            "SELECT tenant_id FROM read_model_routes WHERE read_model = $1 AND tenant_id <> $2 ORDER BY tenant_id",
            model.name,
            tenant_id,
        )
        await conn.execute(model.union_sql(model.own_slice(row["tenant_id"]) for row in others))
        await conn.execute(f"DROP MATERIALIZED VIEW {own.relation}")  # a declared name, never input
        await conn.execute("DELETE FROM view_refreshes WHERE view_name = $1", own.relation)
        await conn.execute("DELETE FROM search_trigrams WHERE relation = $1", own.relation)
        await conn.execute(
            "DELETE FROM read_model_routes WHERE tenant_id = $1 AND read_model = $2", tenant_id, model.name
        )
        dropped.append(own.relation)
    return dropped
