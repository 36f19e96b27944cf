from __future__ import annotations

import msgspec
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.db.migrations import head_revision
from kith.jobqueue.broker import queue_status
from kith.system.schemas import Readiness


async def readiness(engine: AsyncEngine) -> Readiness:
    """Every dependency the API needs: the database reachable and migrated to head (one statement),
    and the job queue's Redis when jobs go to one (without it the API is degraded, not down)."""
    expected = head_revision()
    queue = await queue_status()
    redis = msgspec.UNSET if queue is None else queue
    try:
        async with engine.connect() as conn:
            try:
                current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            except ProgrammingError:  # no alembic_version table: never migrated
                current = None
    except (DBAPIError, OSError) as exc:
        return Readiness(
            status="unavailable",
            database=f"unreachable: {type(exc).__name__}",
            migration=None,
            expected_migration=expected,
            redis=redis,
        )
    if current != expected:
        status = "migrations pending"
    elif queue not in (None, "ok"):
        # Requests are still served (limits count per process, uploads wait in the outbox): keep routing here.
        status = "degraded"
    else:
        status = "ready"
    return Readiness(
        status=status,
        database="ok",
        migration=current,
        expected_migration=expected,
        redis=redis,
    )
