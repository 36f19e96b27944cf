"""Refreshing the read models: coalesced, never blocking readers, failures leave the old contents.

At most one refresh of a view runs at a time (a transaction-level advisory lock,
across all processes). A request made while one runs is recorded
(`requested_at`) and the running refresher does exactly one more pass after
it, however many requests arrived.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kith.readmodels import queries
from kith.readmodels.views import VIEWS

logger = logging.getLogger(__name__)

LOCK_TIMEOUT = "5s"
STATEMENT_TIMEOUT = "30min"


class UnknownViewError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    view_name: str
    refreshes: int  # passes this call ran (0: another process holds the lock and will do it)


async def request_refresh(engine: AsyncEngine, view_name: str) -> RefreshOutcome:
    """Record a request, then refresh until no request is left uncovered (or someone else is on it)."""
    if view_name not in VIEWS:
        raise UnknownViewError(f"no view named {view_name!r}; views: {', '.join(VIEWS)}")
    async with engine.begin() as conn:
        await conn.execute(queries.MARK_REQUESTED, {"view_name": view_name})
    passes = 0
    while await _refresh_once(engine, view_name):
        passes += 1
    return RefreshOutcome(view_name, passes)


async def _refresh_once(engine: AsyncEngine, view_name: str) -> bool:
    """One pass, if the lock is free and a request is not yet covered by a refresh. True if it ran."""
    params = {"view_name": view_name}
    started_at: dt.datetime | None = None
    try:
        async with engine.begin() as conn:
            if not await conn.scalar(queries.TRY_LOCK, params):
                return False
            state = (await conn.execute(queries.REFRESH_STATE, params)).one()
            if state.started_at is not None and (state.requested_at is None or state.requested_at <= state.started_at):
                return False
            started_at = await conn.scalar(text("SELECT clock_timestamp()"))
            await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            await conn.execute(text(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"))
            as_of = await conn.scalar(queries.SNAPSHOT_AS_OF)
            await conn.execute(queries.refresh_statement(view_name))
            await conn.execute(queries.RECORD_SUCCESS, {**params, "started_at": started_at, "as_of": as_of})
    except Exception as exc:
        if started_at is not None:
            async with engine.begin() as conn:
                await conn.execute(queries.RECORD_FAILURE, {**params, "started_at": started_at, "error": str(exc)[:2000]})
        logger.exception("refresh of %s failed; the previous contents stay served", view_name)
        raise
    logger.info("refreshed %s", view_name)
    return True


async def refresh_all(database_url: str | None = None) -> list[RefreshOutcome]:
    """Refresh every view now (CLI, after a seed)."""
    from kith.db.engine import database_url as configured_url
    from kith.db.urls import sqlalchemy_url

    engine = create_async_engine(sqlalchemy_url(database_url or configured_url()))
    try:
        return [await request_refresh(engine, name) for name in VIEWS]
    finally:
        await engine.dispose()
