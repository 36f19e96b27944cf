"""Sessions and raw connections outside a request (CLI, jobs, scripts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import asyncpg

from kith.db.engine import database_url
from kith.db.urls import asyncpg_dsn, sqlalchemy_url

if TYPE_CHECKING:
    # Imported where used: `raw_connection` alone (the CLI's quick commands) must not pay for SQLAlchemy.
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


@asynccontextmanager
async def standalone_engine(url: str | None = None) -> AsyncIterator[AsyncEngine]:
    """An engine on the configured database (CLI commands, scripts), disposed afterwards."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(sqlalchemy_url(url or database_url()))
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def standalone_session(url: str | None = None) -> AsyncIterator[AsyncSession]:
    """A session on its own short-lived engine; commits on success."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    async with (
        standalone_engine(url) as engine,
        async_sessionmaker(engine, expire_on_commit=False)() as session,
        session.begin(),
    ):
        yield session


@asynccontextmanager
async def raw_connection(url: str | None = None) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection, for COPY and bulk SQL."""
    conn = await asyncpg.connect(asyncpg_dsn(url or database_url()))
    try:
        yield conn
    finally:
        await conn.close()
