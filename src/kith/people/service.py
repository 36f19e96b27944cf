"""Duplicates: found after each import by one statement per tenant, listed strongest first, dismissed for good."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kith.auth.principal import Principal
from kith.people import queries
from kith.problems import not_found

# Names at the same company at least this similar (pg_trgm) are candidates: "Jon Smith" ~ "John Smith"
# (0.62), "Siobhán O'Brien" ~ "Dr. Siobhán Máire O'Brien PhD" (0.55); "Ann Smith" ≁ "Bob Smith" (0.43).
NAME_SIMILARITY = 0.5
# Contacts sharing a name word at one company compared pairwise at most in blocks this large.
BLOCK_LIMIT = 200


async def find_duplicates(conn: Any, tenant_id: int) -> dict[str, int]:
    """Find and store the tenant's candidate groups (one statement): how many, stored anew, gone."""
    params = {"tenant_id": tenant_id, "name_similarity": NAME_SIMILARITY, "block_limit": BLOCK_LIMIT}
    return dict((await conn.execute(queries.FIND_DUPLICATES, params)).one()._mapping)


async def find_duplicates_after_run(engine: AsyncEngine, sync_run_id: int) -> dict[str, int]:
    async with engine.begin() as conn:
        tenant_id = (await conn.execute(queries.RUN_TENANT, {"id": sync_run_id})).scalar_one()
        return await find_duplicates(conn, tenant_id)


async def record_audit(session: AsyncSession, principal: Principal, action: str, subject: dict[str, Any]) -> None:
    await session.execute(
        queries.RECORD_AUDIT,
        {
            "tenant_id": principal.tenant_id,
            "action": action,
            "subject": msgspec.json.encode(subject).decode(),
            "token_id": principal.token_id,
            "user_id": principal.user_id,
        },
    )


async def dismiss_group(session: AsyncSession, principal: Principal, group_id: int) -> None:
    params = {"tenant_id": principal.tenant_id, "id": group_id, "token_id": principal.token_id}
    row = (await session.execute(queries.DISMISS_GROUP, params)).first()
    if row is None:
        raise not_found(f"No duplicate group {group_id}")
    await record_audit(session, principal, "dismiss_duplicates", {"group_id": row.id, "contact_ids": row.member_ids})
