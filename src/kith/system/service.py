from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.db.migrations import head_revision
from kith.system.schemas import Readiness


async def readiness(engine: AsyncEngine) -> Readiness:
    """Database reachable and migrated to head (one statement)."""
    expected = head_revision()
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
        )
    status = "ready" if current == expected else "migrations pending"
    return Readiness(status=status, database="ok", migration=current, expected_migration=expected)
