"""Relationship scores: one set-based statement per pass, never a query per contact.

A contact's score (0–100, two decimals) comes from its messages:

    score = 100 × (0.5 × recency + 0.3 × frequency + 0.2 × reciprocity)

    recency     = 0.5 ^ (days since the last message / 30)
                  (a half-life of 30 days: 1 today, 0.5 a month ago; 0 with no message)
    frequency   = min(1, ln(1 + messages in the last 90 days) / ln(31))
                  (log-scaled, 30 or more messages in 90 days count as 1)
    reciprocity = 2 × min(in, out) / (in + out), over the last 365 days
                  (1 when the conversation goes both ways equally, 0 when one-way or none)

So someone you wrote to and heard from today scores at least 70 (recency
50 + reciprocity 20) plus up to 30 for how often. `contacts.last_interaction_at`
is set to the time of the last message in the same pass. Scores decay with
time, so a nightly `rescore_all` keeps them current; after each sync run
`score_sync_run` rescores just the contacts the run touched. None of these set
`contacts.changed_at`: batch results appear with the next view refresh. An API
write that changes a contact's messages (a message sent) rescores that contact
in its own transaction with `rescore_contact`, which does mark it changed.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kith.scoring import queries

logger = logging.getLogger(__name__)


async def score_sync_run(engine: AsyncEngine, sync_run_id: int) -> int:
    """Rescore the contacts a run touched; record `stages["score"]`. Returns how many changed."""
    try:
        async with engine.begin() as conn:
            changed = (await conn.exec_driver_sql(queries.SCORE_RUN, (sync_run_id,))).scalar() or 0
    except Exception as exc:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(queries.RECORD_FAILURE, (sync_run_id, str(exc)[:2000]))
        raise
    logger.info("scored sync_run=%s contacts_changed=%s", sync_run_id, changed)
    return changed


async def rescore_tenant(engine: AsyncEngine, tenant_id: int) -> int:
    """Rescore every contact of a tenant. Returns how many changed."""
    async with engine.begin() as conn:
        return (await conn.exec_driver_sql(queries.RESCORE_TENANT, (tenant_id,))).scalar_one()


async def rescore_all(engine: AsyncEngine) -> int:
    """Rescore every contact of every tenant (the nightly pass). Returns how many changed."""
    async with engine.begin() as conn:
        return (await conn.exec_driver_sql(queries.RESCORE_ALL, ())).scalar_one()


async def rescore_contact(session: AsyncSession, tenant_id: int, contact_id: int) -> None:
    """Rescore one contact inside the caller's transaction and mark it changed (an API write)."""
    connection = await session.connection()
    await connection.exec_driver_sql(queries.RESCORE_CONTACT, (tenant_id, contact_id))
