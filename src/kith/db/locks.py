"""PostgreSQL advisory locks: the one place their SQL is written.

A lock is named by a text key (`kith.refresh.<view>`, `kith.job.<name>`,
`kith.sync.<tenant id>`, `kith.scheduler`) hashed to the lock's bigint.
Session-level locks are held on an idle connection of their own and released
with `release_session_lock`, so a pooled connection never carries one into
its next use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def lock_id(key_sql: str) -> str:
    """The SQL of the bigint lock id of a text key (a bind parameter or a literal)."""
    return f"hashtextextended({key_sql}, 0)"


TRY_LOCK = text(f"SELECT pg_try_advisory_lock({lock_id(':key')})")
TRY_XACT_LOCK = text(f"SELECT pg_try_advisory_xact_lock({lock_id(':key')})")
UNLOCK = text(f"SELECT pg_advisory_unlock({lock_id(':key')})")


def refresh_key(view_name: str) -> str:
    return f"kith.refresh.{view_name}"


def job_key(name: str) -> str:
    return f"kith.job.{name}"


def tenant_sync_key(tenant_id: int) -> str:
    return f"kith.sync.{tenant_id}"


SCHEDULER_KEY = "kith.scheduler"


async def release_session_lock(conn: AsyncConnection, key: str, *, reset: bool = False) -> None:
    """Release a session-level lock (and, with `reset`, the session's settings) before the
    connection goes back to the pool.

    Shielded from cancellation (a task timeout); if it cannot be done, the connection
    is closed instead, which releases everything: a pooled connection must never
    carry a lock into its next use.
    """
    with anyio.CancelScope(shield=True):
        try:
            if reset:
                await conn.execute(text("RESET ALL"))
            await conn.execute(UNLOCK, {"key": key})
            await conn.commit()
        except BaseException:
            await conn.invalidate()
            raise


@asynccontextmanager
async def held_exclusively(engine: AsyncEngine, key: str) -> AsyncIterator[bool]:
    """Hold a session-level lock on a connection of its own while the block runs.

    Yields False (and holds nothing) if another process holds it. The connection is
    idle (no open transaction) meanwhile, so it holds back neither vacuum nor `as_of`.
    The lock goes with the connection if the process dies.
    """
    async with engine.connect() as conn:
        got = bool(await conn.scalar(TRY_LOCK, {"key": key}))
        await conn.commit()
        try:
            yield got
        finally:
            if got:
                await release_session_lock(conn, key)
